"""recognize() against the baseline: latency, throughput and accuracy on the same held-out canvases.

Every canvas is read by every pipeline (baseline, ensemble, cnn, fnn, numpy_fnn on the lean
runtime, and ``ensemble_keras``: the same ensemble read through TensorFlow, the
``runtime="keras"`` path), each call timed on its own. The lean pipelines read in a process of
their own, as they run in use (``benchmarks.lean_worker``: beside TensorFlow's thread pools
they took twice as long); the baseline and the TensorFlow path read in this process. The two
take turns a chunk of canvases at a time, so that load from other processes falls on all
pipelines alike and the ratios to the baseline and to the TensorFlow path stay meaningful on a
busy machine. The readings of those same calls give the accuracy figures.
"""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable

import numpy as np

from benchmarks import canvases
from benchmarks.baseline import baseline_read, load_baseline_model
from benchmarks.harness import Context, Missing, summarize, value, with_ratio
from benchmarks.lean_worker import (
    WARM_UP,
    WITH_STROKES,
    LeanWorker,
    read_chunk,
    read_many_timed,
    recognizer_readers,
)

#: digitlib's ways to read a canvas: the default (lean) ensemble, each model alone, and the
#: ensemble on the TensorFlow path.
DIGITLIB_MODELS = ("ensemble", "cnn", "fnn", "numpy_fnn")
KERAS_ENSEMBLE = "ensemble_keras"
BASELINE = "baseline"
#: Canvases per turn of the two processes.
CHUNK = 20


def _check_models(context: Context) -> None:
    missing = [
        name
        for name in ("cnn.keras", "fnn.keras", "numpy_fnn.npz")
        if not (context.models_dir / name).exists()
    ]
    if missing:
        raise Missing(f"shipped models missing in {context.models_dir}: {', '.join(missing)}")


def keras_recognizer(context: Context):
    """The shipped recognizer on the TensorFlow path (``runtime="keras"``), loaded once."""

    def load():
        import digitlib

        _check_models(context)
        return digitlib.load_recognizer(context.models_dir, runtime="keras")

    return context.cached("recognizer.keras", load)


def lean_worker(context: Context) -> LeanWorker:
    """The worker process reading with the shipped recognizer on the lean runtime, started
    once per run."""

    def start() -> LeanWorker:
        _check_models(context)
        try:
            worker = LeanWorker(context.models_dir)
        except RuntimeError as error:
            raise Missing(str(error)) from error
        atexit.register(worker.close)
        return worker

    return context.cached("lean_worker", start)


def baseline_model(context: Context):
    return context.cached("baseline_model", lambda: load_baseline_model(context.models_dir))


def local_pipelines(context: Context) -> dict[str, Callable[[np.ndarray], tuple[str, bool]]]:
    """The pipelines read in this process, name -> function reading one canvas into (text,
    any mark read as "other"): the baseline (its "other" is its one answer being class 10, its
    text then "") and the TensorFlow path."""
    model = baseline_model(context)

    def read_baseline(image: np.ndarray) -> tuple[str, bool]:
        text = baseline_read(model, image)
        return text, text == ""

    keras_read = recognizer_readers(keras_recognizer(context), ["ensemble"])["ensemble"]
    return {BASELINE: read_baseline, KERAS_ENSEMBLE: keras_read}


def read_set(
    context: Context, canvas_set: canvases.CanvasSet, names: tuple[str, ...]
) -> dict[str, dict]:
    """Read every canvas with every pipeline in ``names``: name -> seconds, texts, others.

    The lean pipelines read in the worker process, the others here, turn about ``CHUNK``
    canvases at a time (who goes first alternates).
    """
    local = {name: read for name, read in local_pipelines(context).items() if name in names}
    lean = [name for name in names if name in (*DIGITLIB_MODELS, WITH_STROKES)]
    worker = lean_worker(context) if lean else None
    for image in canvas_set.images[:WARM_UP]:  # first calls trace graphs and fill caches
        for read in local.values():
            read(image)
    found = {name: {"seconds": [], "texts": [], "others": []} for name in names}
    images = canvas_set.images
    for turn, start in enumerate(
        context.progress.track(range(0, len(images), CHUNK), f"reading {canvas_set.name}")
    ):
        chunk = images[start : start + CHUNK]
        sides = [side for side, used in (("here", local), ("worker", lean)) if used]
        for side in sides[turn % len(sides) :] + sides[: turn % len(sides)]:
            if side == "here":
                readings = read_chunk(local, chunk, start)
            else:
                drawn = canvas_set.strokes[start : start + CHUNK] if canvas_set.strokes else None
                readings = worker.read(
                    chunk, lean, start, warm_up=WARM_UP if turn == 0 else 0, strokes=drawn
                )
            for name, found_by in readings.items():
                for key, values in found_by.items():
                    found[name][key] += values
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
    figures = latency_and_accuracy(
        context, digit_set, (*DIGITLIB_MODELS, KERAS_ENSEMBLE, WITH_STROKES)
    )
    found = context.cache[f"readings.{digit_set.name}"]
    for name in (*DIGITLIB_MODELS, KERAS_ENSEMBLE, WITH_STROKES, BASELINE):
        figures[f"read_as_other.{name}"] = value(
            100.0 * float(np.mean(found[name]["others"])), "%"
        )
    heavy = lean_worker(context).heavy_modules()
    figures["lean_process_tensorflow"] = value(len(heavy), "modules", names=heavy[:5])
    return figures


def bench_five_digits(context: Context) -> dict[str, dict]:
    """Latency and accuracy on 5-digit numbers (the baseline reads one class per canvas)."""
    number_set = canvases.number_canvases(context.sizes["five_digits"], seed=17, lengths=(5, 5))
    return latency_and_accuracy(
        context, number_set, (*DIGITLIB_MODELS, KERAS_ENSEMBLE, WITH_STROKES)
    )


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


def _rates(
    readers: dict[str, Callable[[list[np.ndarray]], tuple[float, list[str]]]],
    images: list[np.ndarray],
) -> dict[str, dict]:
    """Each reader's drawings per second over ``images``, measured turn about in chunks of
    ``THROUGHPUT_CHUNK`` drawings (so that a burst of load from another process falls on all
    of them alike). ``readers``: name -> function reading a chunk with ``recognize_many``,
    returning (seconds, texts). Returns name -> {rate, seconds, method, texts}."""
    found = {name: {"seconds": 0.0, "texts": [], "method": "recognize_many"} for name in readers}
    order = list(readers)
    for turn, start in enumerate(range(0, len(images), THROUGHPUT_CHUNK)):
        chunk = images[start : start + THROUGHPUT_CHUNK]
        shift = turn % len(order)
        for name in order[shift:] + order[:shift]:
            seconds, texts = readers[name](chunk)
            found[name]["seconds"] += seconds
            found[name]["texts"] += texts
    for entry in found.values():
        entry["rate"] = len(images) / entry["seconds"]
    return found


def bench_throughput(context: Context) -> dict[str, dict]:
    """Drawings per second over ``sizes["throughput"]`` one-digit canvases, ensemble, on the
    lean runtime (``ensemble``, in its worker process) and on the TensorFlow path
    (``ensemble_keras``), each with ``Recognizer.recognize_many``.

    The two runtimes read the same canvases turn about, ``THROUGHPUT_CHUNK`` at a time. The
    canvases are ``sizes["throughput_unique"]`` distinct held-out drawings, repeated (a
    thousand rendered canvases would take ~1 GB). The baseline's rate is measured on the first
    ``sizes["throughput_baseline"]`` of them.
    """
    worker = lean_worker(context)
    keras_reader = keras_recognizer(context)
    model = baseline_model(context)
    total = context.sizes["throughput"]
    unique = canvases.digit_canvases(min(total, context.sizes["throughput_unique"]), seed=19)
    images = [unique.images[i % len(unique)] for i in range(total)]
    expected = [unique.expected[i % len(unique)] for i in range(total)]
    worker.read_many(images[:WARM_UP])
    for image in images[:WARM_UP]:
        keras_reader.recognize(image)
        baseline_read(model, image)

    context.progress.say(f"{total} canvases, lean runtime and TensorFlow path turn about")
    found = _rates(
        {
            "lean": worker.read_many,
            "keras": lambda chunk: read_many_timed(keras_reader, chunk),
        },
        images,
    )
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
