"""Where canvas readings lose digits (``digitlib.evaluation.diagnose``)."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.evaluation import diagnose


def probabilities(best: int, confidence: float = 0.9) -> np.ndarray:
    row = np.full(11, (1.0 - confidence) / 10, np.float64)
    row[best] = confidence
    return row


@pytest.mark.parametrize(
    ("segments", "first", "final", "shaped", "direct", "cause"),
    [
        (2, None, None, True, 3, "segmentation"),
        (0, None, None, True, 3, "segmentation"),
        (1, 3, 3, True, 3, "decision: below the bar"),
        (1, 10, 3, True, 3, "decision: below the bar"),  # the second look found it, unsure
        (1, 3, 3, False, 3, "decision: shape rule"),
        (1, 3, 10, True, 3, "decision: second look"),
        (1, 3, 8, True, 8, "decision: second look"),
        (1, 10, 10, True, 3, "canvas recipe"),
        (1, 8, 8, True, 3, "canvas recipe"),
        (1, 10, 10, True, 8, "models"),
    ],
)
def test_miss_cause_names_the_first_step_that_lost_the_digit(
    segments, first, final, shaped, direct, cause
):
    first_row = None if first is None else probabilities(first)
    final_row = None if final is None else probabilities(final, 0.45)
    got = diagnose.miss_cause(3, segments, first_row, final_row, shaped, probabilities(direct))
    assert got == cause
    assert got in diagnose.CAUSES


def test_mnist_canvas_misses_counts_every_miss_once():
    from digitlib.config import SHIPPED_MODELS_DIR
    from digitlib.drawings import data
    from digitlib.recognize import load_recognizer

    # 200 digits of seed 1 hold misses of three causes, two of them read as nothing.
    report = diagnose.mnist_canvas_misses(count=200, rng=1)
    misses = report["count"] - report["read_right"]
    assert misses > 0 and report["read_as_nothing"] > 0, report
    assert sum(report["misses_by_cause"].values()) == misses
    assert sum(report["read_as_nothing_by_cause"].values()) == report["read_as_nothing"]

    # The same 200 digits, read here: fed directly to each model and weighed as the ensemble
    # weighs them, and placed on canvases and read by the recognizer.
    images, labels = data.load_mnist("train")
    rng = np.random.default_rng(1)
    pick = np.sort(rng.permutation(len(images))[:200])
    images, labels = images[pick], labels[pick]
    canvases = [data.mnist_canvas(image, rng) for image in images]
    recognizer = load_recognizer(SHIPPED_MODELS_DIR)
    inputs = images.astype(np.float32) / 255.0
    weighed = sum(
        recognizer.weights[name] * model.predict_proba(inputs)
        for name, model in recognizer.models.items()
    )
    assert report["direct_right"] == int((weighed.argmax(axis=1) == labels).sum())
    texts = [result.text for result in recognizer.recognize_many(canvases)]
    assert report["read_right"] == sum(
        text == str(label) for text, label in zip(texts, labels, strict=True)
    )
    assert report["read_as_nothing"] == texts.count("")
    assert report["count"] == 200


def test_diagnose_is_a_verb_of_the_digitlib_command(capsys):
    import subprocess
    import sys

    from digitlib.cli import build_parser, main
    from digitlib.cli import diagnose as diagnose_command

    args = build_parser().parse_args(["diagnose", "--count", "5", "--seed", "2"])
    assert args.handler is diagnose_command.run and (args.count, args.seed) == (5, 2)
    assert main(["diagnose", "--count", "0"]) == 1
    assert "--count must be at least 1" in capsys.readouterr().err
    done = subprocess.run(
        [sys.executable, "-m", "digitlib.cli.diagnose", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--count" in done.stdout
