"""recognize() against the baseline: latency, throughput and accuracy on the same held-out canvases.

Every canvas is read by every pipeline in turn (baseline, ensemble, cnn, fnn, numpy_fnn on the
lean runtime, and ``ensemble_keras``: the same ensemble read through TensorFlow, the
``runtime="keras"`` path), each call timed on its own, so that load from other processes falls
on all pipelines alike and the ratios to the baseline and to the TensorFlow path stay meaningful
on a busy machine. The readings of those same calls give the accuracy figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from benchmarks import canvases
from benchmarks.baseline import baseline_read, load_baseline_model
from benchmarks.harness import Context, Missing, summarize, value, with_ratio

#: digitlib's ways to read a canvas: the default (lean) ensemble, each model alone, and the
#: ensemble on the TensorFlow path.
DIGITLIB_MODELS = ("ensemble", "cnn", "fnn", "numpy_fnn")
KERAS_ENSEMBLE = "ensemble_keras"
BASELINE = "baseline"
WARM_UP = 3


def recognizer(context: Context, runtime: str = "lean"):
    """The shipped recognizer on ``runtime`` ("lean" or "keras"), loaded once per run."""

    def load():
        try:
            import digitlib

            load_recognizer = digitlib.load_recognizer
        except (ImportError, AttributeError) as error:
            raise Missing(f"digitlib.load_recognizer is not available yet ({error})") from error
        missing = [
            name
            for name in ("cnn.keras", "fnn.keras", "numpy_fnn.npz")
            if not (context.models_dir / name).exists()
        ]
        if missing:
            raise Missing(f"shipped models missing in {context.models_dir}: {', '.join(missing)}")
        return load_recognizer(context.models_dir, runtime=runtime)

    return context.cached("recognizer" if runtime == "lean" else f"recognizer.{runtime}", load)


def baseline_model(context: Context):
    return context.cached("baseline_model", lambda: load_baseline_model(context.models_dir))


def pipelines(context: Context) -> dict[str, Callable[[np.ndarray], tuple[str, bool]]]:
    """Name -> function reading one canvas into (text, any mark read as "other").

    For the baseline, "other" is its one answer being class 10 (its text is then "").
    """
    from digitlib.config import OTHER

    model = baseline_model(context)
    reader = recognizer(context)
    keras_reader = recognizer(context, "keras")

    def read_baseline(image: np.ndarray) -> tuple[str, bool]:
        text = baseline_read(model, image)
        return text, text == ""

    def read_with(name: str, with_reader=reader) -> Callable[[np.ndarray], tuple[str, bool]]:
        def read(image: np.ndarray) -> tuple[str, bool]:
            result = with_reader.recognize(image, model=name)
            return result.text, any(segment.label == OTHER for segment in result.segments)

        return read

    return (
        {BASELINE: read_baseline}
        | {name: read_with(name) for name in DIGITLIB_MODELS}
        | {KERAS_ENSEMBLE: read_with("ensemble", keras_reader)}
    )


def read_set(
    context: Context, canvas_set: canvases.CanvasSet, names: tuple[str, ...] | None = None
) -> dict[str, dict]:
    """Read every canvas with every pipeline (or those in ``names``), interleaved:
    name -> seconds, texts, others."""
    readers = pipelines(context)
    if names is not None:
        readers = {name: readers[name] for name in names}
    for image in canvas_set.images[:WARM_UP]:  # first calls trace graphs and fill caches
        for read in readers.values():
            read(image)
    found = {name: {"seconds": [], "texts": [], "others": []} for name in readers}
    order = list(readers)
    for index, image in enumerate(
        context.progress.track(canvas_set.images, f"reading {canvas_set.name}")
    ):
        # Rotate who goes first so that no pipeline always follows the same one.
        shift = index % len(order)
        for name in order[shift:] + order[:shift]:
            started = time.perf_counter()
            text, other = readers[name](image)
            found[name]["seconds"].append(time.perf_counter() - started)
            found[name]["texts"].append(text)
            found[name]["others"].append(other)
    return found


def accuracy(texts: list[str], expected: list[str]) -> float:
    """Percentage of readings that equal the expected text exactly."""
    return 100.0 * float(np.mean([t == e for t, e in zip(texts, expected, strict=True)]))


def latency_and_accuracy(
    context: Context,
    canvas_set: canvases.CanvasSet,
    models: tuple[str, ...] = (*DIGITLIB_MODELS, KERAS_ENSEMBLE),
) -> dict[str, dict]:
    """Latency and accuracy figures of the baseline and of digitlib with each of ``models``.

    When both ``ensemble`` and ``ensemble_keras`` are read, the lean ensemble's latency also
    has ``ratio_to_keras`` (TensorFlow path median / lean median: > 1 is faster than it).
    """
    found = read_set(context, canvas_set, (BASELINE, *models))
    base = summarize(found[BASELINE]["seconds"])
    figures: dict[str, dict] = {f"latency.{BASELINE}": base}
    for name in models:
        figures[f"latency.{name}"] = with_ratio(summarize(found[name]["seconds"]), base)
    if "ensemble" in models and KERAS_ENSEMBLE in models:
        figures["latency.ensemble"] |= ratios_to_keras(
            figures["latency.ensemble"], figures[f"latency.{KERAS_ENSEMBLE}"]
        )
    for name in (*models, BASELINE):
        figures[f"accuracy.{name}"] = value(
            accuracy(found[name]["texts"], canvas_set.expected), "%", n=len(canvas_set)
        )
    context.cache[f"readings.{canvas_set.name}"] = found
    return figures


def ratios_to_keras(lean: dict, keras: dict) -> dict:
    """How many times faster the lean figure is than the TensorFlow path's (median and p95)."""
    return {
        "ratio_to_keras": keras["median"] / lean["median"],
        "ratio_p95_to_keras": keras["p95"] / lean["p95"],
    }


# --- the benchmarks ------------------------------------------------------------------------------


def bench_one_digit(context: Context) -> dict[str, dict]:
    """Latency and accuracy on one-digit canvases by held-out writers; digits read as "other"
    (a canvas with any mark read as "other", as ``digitlib evaluate`` counts them)."""
    digit_set = context.cached(
        "digits", lambda: canvases.digit_canvases(context.sizes["one_digit"])
    )
    figures = latency_and_accuracy(context, digit_set)
    found = context.cache[f"readings.{digit_set.name}"]
    for name in (*DIGITLIB_MODELS, KERAS_ENSEMBLE, BASELINE):
        figures[f"read_as_other.{name}"] = value(
            100.0 * float(np.mean(found[name]["others"])), "%"
        )
    return figures


def bench_five_digits(context: Context) -> dict[str, dict]:
    """Latency and accuracy on 5-digit numbers (the baseline reads one class per canvas)."""
    number_set = canvases.number_canvases(context.sizes["five_digits"], seed=17, lengths=(5, 5))
    return latency_and_accuracy(context, number_set)


def bench_numbers(context: Context) -> dict[str, dict]:
    """Accuracy (exact text) of the ensemble and the baseline on numbers of 2-6 digits, each
    written by one held-out writer."""
    number_set = canvases.number_canvases(context.sizes["numbers"])
    figures = latency_and_accuracy(context, number_set, ("ensemble",))
    return {key: figure for key, figure in figures.items() if key.startswith("accuracy.")}


def bench_doodles(context: Context) -> dict[str, dict]:
    """Accuracy on doodles of held-out categories: the right reading is "" (nothing read)."""
    doodle_set = canvases.doodle_canvases(context.sizes["doodles"])
    figures = latency_and_accuracy(context, doodle_set, ("ensemble",))
    return {key: figure for key, figure in figures.items() if key.startswith("accuracy.")}


#: Drawings per turn when two readers' throughputs are measured turn about.
THROUGHPUT_CHUNK = 50


def _rates(readers: dict, images: list[np.ndarray]) -> dict[str, dict]:
    """Each reader's drawings per second over ``images``, measured turn about in chunks of
    ``THROUGHPUT_CHUNK`` drawings (so that a burst of load from another process falls on all
    of them alike): name -> {rate, seconds, method, texts}."""
    found = {
        name: {
            "seconds": 0.0,
            "texts": [],
            "method": "recognize_many"
            if callable(getattr(reader, "recognize_many", None))
            else "loop of recognize",
        }
        for name, reader in readers.items()
    }
    order = list(readers)
    for turn, start in enumerate(range(0, len(images), THROUGHPUT_CHUNK)):
        chunk = images[start : start + THROUGHPUT_CHUNK]
        shift = turn % len(order)
        for name in order[shift:] + order[:shift]:
            reader = readers[name]
            started = time.perf_counter()
            if found[name]["method"] == "recognize_many":
                texts = [result.text for result in reader.recognize_many(chunk)]
            else:
                texts = [reader.recognize(image).text for image in chunk]
            found[name]["seconds"] += time.perf_counter() - started
            found[name]["texts"] += texts
    for entry in found.values():
        entry["rate"] = len(images) / entry["seconds"]
    return found


def bench_throughput(context: Context) -> dict[str, dict]:
    """Drawings per second over ``sizes["throughput"]`` one-digit canvases, ensemble, on the
    lean runtime (``ensemble``) and on the TensorFlow path (``ensemble_keras``).

    Uses ``Recognizer.recognize_many`` when the recognizer has it, else a loop of
    ``recognize``; the figure says which. The two runtimes read the same canvases turn about,
    ``THROUGHPUT_CHUNK`` at a time. The canvases are ``sizes["throughput_unique"]``
    distinct held-out drawings, repeated (a thousand rendered canvases would take ~1 GB). The
    baseline's rate is measured on the first ``sizes["throughput_baseline"]`` of them.
    """
    reader = recognizer(context)
    keras_reader = recognizer(context, "keras")
    model = baseline_model(context)
    total = context.sizes["throughput"]
    unique = canvases.digit_canvases(min(total, context.sizes["throughput_unique"]), seed=19)
    images = [unique.images[i % len(unique)] for i in range(total)]
    expected = [unique.expected[i % len(unique)] for i in range(total)]
    for image in images[:WARM_UP]:
        reader.recognize(image)
        keras_reader.recognize(image)
        baseline_read(model, image)

    context.progress.say(f"{total} canvases, lean runtime and TensorFlow path turn about")
    found = _rates({"lean": reader, "keras": keras_reader}, images)
    lean, keras = found["lean"], found["keras"]

    count = min(total, context.sizes["throughput_baseline"])
    base_started = time.perf_counter()
    for image in context.progress.track(images[:count], "baseline"):
        baseline_read(model, image)
    base_rate = count / (time.perf_counter() - base_started)
    return {
        "ensemble": value(
            lean["rate"],
            "drawings/s",
            n=total,
            seconds=lean["seconds"],
            method=lean["method"],
            ratio_to_baseline=lean["rate"] / base_rate,
            ratio_to_keras=lean["rate"] / keras["rate"],
            accuracy=accuracy(lean["texts"], expected),
        ),
        KERAS_ENSEMBLE: value(
            keras["rate"],
            "drawings/s",
            n=total,
            seconds=keras["seconds"],
            method=keras["method"],
            ratio_to_baseline=keras["rate"] / base_rate,
            accuracy=accuracy(keras["texts"], expected),
        ),
        BASELINE: value(base_rate, "drawings/s", n=count, method="loop of model.predict"),
    }
