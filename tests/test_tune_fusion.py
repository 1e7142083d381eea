"""digitlib.training.tune_fusion: the rule that chooses the fusion, on small hand-made readings."""

import numpy as np
import pytest

from digitlib.config import OTHER
from digitlib.recognize.decision import fuse
from digitlib.training.tune_fusion import FusionReadings, choose_fusion, reading_accuracy


def row(label: int, confidence: float) -> list[float]:
    values = [(1.0 - confidence) / 10] * 11
    values[label] = confidence
    return values


def test_reading_accuracy_applies_the_decisions_bar():
    rows = np.array([row(3, 0.9), row(3, 0.5), row(OTHER, 0.9), row(4, 0.5)])
    labels = np.array([3, 3, OTHER, OTHER])
    assert reading_accuracy(rows, labels).tolist() == [True, False, True, True]


def readings(image_rows, stroke_rows, labels, groups):
    return FusionReadings(
        np.array(image_rows, np.float32),
        np.array(stroke_rows, np.float32),
        np.array(labels),
        groups,
    )


def test_strokes_that_help_every_writer_are_trusted():
    # The pictures are unsure; the strokes are sure and right, for both writers and letters.
    chosen = choose_fusion(
        readings(
            [row(7, 0.5), row(4, 0.5), row(2, 0.55), row(2, 0.7)],
            [row(1, 0.99), row(9, 0.99), row(OTHER, 0.99), row(2, 0.9)],
            [1, 9, OTHER, 2],
            ["a", "b", "other", "b"],
        )
    )
    assert chosen.accuracy == 1.0 and chosen.image_accuracy < 1.0
    assert chosen.params.weight > 0


def test_strokes_that_hurt_one_writer_are_not_allowed_to():
    # Writer "odd" draws in an order the stroke model misreads, surely: whatever helps writer
    # "a" must not read "odd" worse than the pictures do.
    chosen = choose_fusion(
        readings(
            [row(7, 0.5), row(4, 0.95), row(2, 0.55)],
            [row(1, 0.99), row(9, 0.999), row(OTHER, 0.99)],
            [1, 4, OTHER],
            ["a", "odd", "other"],
        )
    )
    fused_odd = reading_accuracy(
        fuse(np.array([row(4, 0.95)]), np.array([row(9, 0.999)]), chosen.params), np.array([4])
    )
    assert fused_odd.tolist() == [True]
    assert chosen.worst >= chosen.image_worst


def test_choose_fusion_needs_digits_and_non_digits():
    with pytest.raises(ValueError, match="digits and of non-digits"):
        choose_fusion(readings([row(1, 0.9)], [row(1, 0.9)], [1], ["a"]))
