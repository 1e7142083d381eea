"""The evaluation protocol of issue 3's targets table.

Every figure is measured on data no model was trained on, drawn with fixed seeds so the numbers
reproduce:

- ``mnist``: the 10,000 MNIST test digits, argmax over the digit classes 0-9, per model and for
  the ensemble;
- ``canvas_digits``: every pendigits digit of the held-out writers (``HELD_OUT``) drawn on a
  random canvas (``data.random_style``) and read by the full recognizer: ``result.text`` exactly
  the digit, and the share of digits read as "other";
- ``doodles``: every Quick, Draw! doodle of the held-out categories drawn the same way:
  ``result.text == ""``;
- ``numbers``: numbers of 2-6 held-out digits of one writer in a row, gaps 0.2-0.6 of the digit
  height (``data.render_number``): ``result.text`` exact.

The canvas figures also report, per model, the accuracy on the single model input that
``preprocess.to_model_input(preprocess.ink_from_image(canvas))`` makes of each drawing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.config import HELD_OUT, MODEL_NAMES, OTHER, SHIPPED_MODELS_DIR

#: The targets table of issue 3: measure -> (threshold, "min" or "max").
TARGETS = {
    "mnist.cnn": (0.995, "min"),
    "mnist.ensemble": (0.995, "min"),
    "mnist.fnn": (0.985, "min"),
    "mnist.numpy_fnn": (0.980, "min"),
    "canvas_digits.text_exact": (0.985, "min"),
    "doodles.empty_text": (0.95, "min"),
    "canvas_digits.read_as_other": (0.01, "max"),
    "numbers.text_exact": (0.93, "min"),
}

MODEL_FILES = {"cnn": "cnn.keras", "fnn": "fnn.keras", "numpy_fnn": "numpy_fnn.npz"}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvalConfig:
    """``seed`` fixes the evaluation drawings; ``limit`` caps every set (quick runs);
    ``number_count`` numbers are composed."""

    seed: int = 2024
    limit: int | None = None
    number_count: int = 500


def load_models(models_dir: Path = SHIPPED_MODELS_DIR, runtime: str = "lean") -> dict:
    """The three shipped models of ``models_dir``: name -> ``Classifier``.

    ``runtime="lean"`` reads the Keras models through their inference files (no TensorFlow),
    ``"keras"`` loads the ``.keras`` checkpoints (see ``digitlib.recognize.load_recognizer``).
    """
    from digitlib.recognize import RUNTIMES, _load_checkpoint

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    models_dir = Path(models_dir)
    missing = [f for f in MODEL_FILES.values() if not (models_dir / f).exists()]
    if missing:
        raise FileNotFoundError(
            f"{models_dir} lacks {', '.join(missing)}; train them with `digitlib train --out "
            f"{models_dir}` or point --models at the folder that holds them"
        )
    return {
        name: _load_checkpoint(models_dir / MODEL_FILES[name], name, runtime)[0]
        for name in MODEL_NAMES
    }


def _recognizer(models: dict):
    """The full pipeline's recognizer over ``models``."""
    from digitlib.recognize import Recognizer

    return Recognizer(models, versions={name: "shipped" for name in models})


def evaluate_mnist(ensemble, limit: int | None = None) -> dict[str, float]:
    """MNIST test accuracy (argmax over 0-9) per model and for the ensemble."""
    from digitlib import data

    images, labels = data.load_mnist("test")
    if limit:
        images, labels = images[:limit], labels[:limit]
    outputs = ensemble.predict_all(images.astype(np.float32) / 255)
    return {
        name: float((probabilities[:, :10].argmax(axis=1) == labels).mean())
        for name, probabilities in outputs.items()
    }


def _model_input(canvas: np.ndarray) -> np.ndarray:
    from digitlib import preprocess

    return preprocess.to_model_input(preprocess.ink_from_image(canvas))


def _per_model(ensemble, inputs: np.ndarray, expected: np.ndarray) -> dict[str, float]:
    outputs = ensemble.predict_all(np.asarray(inputs, np.float32))
    return {n: float((p.argmax(axis=1) == expected).mean()) for n, p in outputs.items()}


def evaluate_canvas_digits(
    ensemble, recognizer, config: EvalConfig, progress: Progress | None = None
) -> dict:
    """Held-out writers' digits on random canvases: text exact, read as "other", per model."""
    from digitlib import data

    writers = set(HELD_OUT.pendigits_writers)
    digits = [d for d in data.load_pendigits() if d.writer in writers]
    rng = np.random.default_rng([config.seed, 1])
    if config.limit:
        digits = [digits[i] for i in np.sort(rng.permutation(len(digits))[: config.limit])]
    inputs, exact, other, mistakes = [], 0, 0, {}
    for index, digit in enumerate(digits):
        canvas = data.render_strokes(digit.strokes, data.random_style(rng))
        inputs.append(_model_input(canvas))
        if recognizer is not None:
            result = recognizer.recognize(canvas)
            exact += result.text == str(digit.label)
            other += any(segment.label == OTHER for segment in result.segments)
            if result.text != str(digit.label):
                key = f"{digit.label}->{result.text or '(none)'}"
                mistakes[key] = mistakes.get(key, 0) + 1
        if progress is not None:
            progress("canvas digits", index + 1, len(digits))
    labels = np.array([d.label for d in digits])
    per_model = _per_model(ensemble, np.stack(inputs), labels)
    inputs_other = ensemble.predict_all(np.stack(inputs))["ensemble"].argmax(axis=1) == OTHER
    result = {
        "count": len(digits),
        "model_input_accuracy": per_model,
        "model_input_read_as_other": float(inputs_other.mean()),
    }
    if recognizer is not None:
        result["text_exact"] = exact / len(digits)
        result["read_as_other"] = other / len(digits)
        result["mistakes"] = dict(sorted(mistakes.items(), key=lambda kv: -kv[1])[:15])
    return result


def evaluate_doodles(
    ensemble, recognizer, config: EvalConfig, progress: Progress | None = None
) -> dict:
    """Held-out Quick, Draw! categories on random canvases: share read as no digit at all."""
    from digitlib import data

    categories = HELD_OUT.quickdraw_categories(data.quickdraw_categories())
    doodles = data.load_quickdraw_strokes(categories)
    rng = np.random.default_rng([config.seed, 2])
    if config.limit:
        doodles = [doodles[i] for i in np.sort(rng.permutation(len(doodles))[: config.limit])]
    inputs, empty, failures = [], 0, {}
    for index, doodle in enumerate(doodles):
        canvas = data.render_strokes(doodle.strokes, data.random_style(rng))
        inputs.append(_model_input(canvas))
        if recognizer is not None:
            text = recognizer.recognize(canvas).text
            empty += text == ""
            if text:
                failures[doodle.category] = failures.get(doodle.category, 0) + 1
        if progress is not None:
            progress("held-out doodles", index + 1, len(doodles))
    per_model = _per_model(ensemble, np.stack(inputs), np.full(len(inputs), OTHER))
    result = {"count": len(doodles), "categories": len(categories), "model_input_other": per_model}
    if recognizer is not None:
        result["empty_text"] = empty / len(doodles)
        result["read_as_digits_by_category"] = dict(
            sorted(failures.items(), key=lambda kv: -kv[1])[:15]
        )
    return result


def evaluate_numbers(recognizer, config: EvalConfig, progress: Progress | None = None) -> dict:
    """Numbers of 2-6 digits of one held-out writer (``data.render_number``): text exact."""
    from digitlib import data

    writers = sorted(HELD_OUT.pendigits_writers)
    by_writer = {w: [d for d in data.load_pendigits() if d.writer == w] for w in writers}
    rng = np.random.default_rng([config.seed, 3])
    count = min(config.number_count, config.limit or config.number_count)
    exact, failures = 0, []
    for index in range(count):
        digits = by_writer[writers[int(rng.integers(len(writers)))]]
        length = int(rng.integers(2, 7))
        picked = [digits[int(i)] for i in rng.integers(len(digits), size=length)]
        expected = "".join(str(d.label) for d in picked)
        canvas = data.render_number([d.strokes for d in picked], rng)
        text = recognizer.recognize(canvas).text
        exact += text == expected
        if text != expected and len(failures) < 15:
            failures.append(f"{expected}->{text}")
        if progress is not None:
            progress("numbers", index + 1, count)
    return {"count": count, "text_exact": exact / max(count, 1), "failures": failures}


def measure_latency(ensemble, repeats: int = 50) -> dict[str, float]:
    """Median milliseconds of ``predict_all`` on one model input, per model and the ensemble."""
    image = np.zeros((1, 28, 28), np.float32)
    image[0, 6:22, 12:16] = 1.0
    timings = {}
    for name, model in {**ensemble.models, "ensemble": ensemble}.items():
        call = model.predict_all if name == "ensemble" else model.predict_proba
        call(image)  # warm up (tracing)
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            call(image)
            samples.append(time.perf_counter() - started)
        timings[name] = round(float(np.median(samples)) * 1000, 3)
    return timings


def check_targets(metrics: dict) -> dict[str, dict]:
    """Each target of ``TARGETS`` with its measured value (None if not measured) and whether
    it is met."""
    checks = {}
    for key, (threshold, kind) in TARGETS.items():
        section, measure = key.split(".")
        value = metrics.get(section, {}).get(measure)
        met = (
            None
            if value is None
            else (value >= threshold if kind == "min" else value <= threshold)
        )
        checks[key] = {"value": value, "target": threshold, "kind": kind, "met": met}
    return checks


def evaluate(
    models_dir: Path = SHIPPED_MODELS_DIR,
    config: EvalConfig = EvalConfig(),
    progress: Progress | None = None,
    runtime: str = "lean",
) -> dict:
    """Run the whole protocol on the models in ``models_dir``; returns the metrics dict
    (what ``digitlib evaluate --write`` stores). ``runtime``: see ``load_models``."""
    from digitlib.models import Ensemble

    models = load_models(models_dir, runtime)
    ensemble = Ensemble(models)
    recognizer = _recognizer(models)
    started = time.monotonic()
    metrics: dict = {
        "seed": config.seed,
        "limit": config.limit,
        "pipeline": "recognize" if recognizer is not None else "model inputs only",
        "ensemble_weights": ensemble.weights,
    }
    metrics["mnist"] = evaluate_mnist(ensemble, config.limit)
    metrics["canvas_digits"] = evaluate_canvas_digits(ensemble, recognizer, config, progress)
    metrics["doodles"] = evaluate_doodles(ensemble, recognizer, config, progress)
    if recognizer is not None:
        metrics["numbers"] = evaluate_numbers(recognizer, config, progress)
    metrics["predict_latency_ms"] = measure_latency(ensemble)
    metrics["seconds"] = round(time.monotonic() - started, 1)
    metrics["targets"] = check_targets(metrics)
    return metrics


@dataclass(frozen=True)
class Confusion:
    """``matrix`` int64 (10, 11): rows the true digit, columns the class read (10 = other);
    ``accuracy``: the share read right."""

    matrix: np.ndarray
    accuracy: float


def confusion(truth: np.ndarray, probabilities: np.ndarray) -> Confusion:
    """The confusion of ``probabilities`` (N, 11) against digits ``truth`` (N,) int 0-9."""
    truth = np.asarray(truth, np.int64)
    predicted = np.asarray(probabilities).argmax(axis=1)
    if truth.shape != predicted.shape:
        raise ValueError(f"{len(truth)} labels for {len(predicted)} rows of probabilities")
    matrix = np.zeros((10, 11), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return Confusion(matrix, float(np.mean(predicted == truth)) if len(truth) else 0.0)


def live_confusion(recognizer, count: int = 2000) -> Confusion:
    """The confusion of ``recognizer``'s ensemble on ``count`` MNIST test digits of the odd rows
    (the rows the learning gate never validates on)."""
    from digitlib import data
    from digitlib.models import Ensemble

    images, labels = data.load_mnist("test")
    images = images[1::2][:count].astype(np.float32) / 255.0
    ensemble = Ensemble(recognizer.models, recognizer.weights)
    return confusion(labels[1::2][:count], ensemble.predict_proba(images))
