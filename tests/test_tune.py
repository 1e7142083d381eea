"""Choosing the decision's thresholds by cross-validation (``digitlib.tune``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from digitlib import tune


def test_weighted_accuracy_weighs_digits_and_non_digits():
    correct = np.array([True, True, True, False, False, True])
    is_digit = np.array([True, True, True, True, False, False])
    assert tune.weighted_accuracy(correct, is_digit, 0.5) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert tune.weighted_accuracy(correct, is_digit) == pytest.approx(0.75 * 3 / 4 + 0.25 / 2)
    with pytest.raises(ValueError, match="both digits and non-digits"):
        tune.weighted_accuracy(correct, np.ones(6, bool))


def test_cross_validation_scores_each_fold_with_the_choice_of_the_others():
    is_digit = np.array([True, False] * 3)
    folds = np.array([0, 0, 1, 1, 2, 2])
    correct = np.array(
        [
            [True, True, True, True, False, False],  # best on folds 0 and 1
            [False, False, True, True, True, True],  # best on folds 1 and 2
            [True, False, True, False, True, False],  # reads everything as a digit
        ]
    )
    result = tune.cross_validate(correct, is_digit, folds)
    # Held out fold 0: on folds 1 and 2 candidate 1 reads all right (1.0), candidate 0 half
    # (0.5), candidate 2 every digit (0.75). Fold 1: candidates 0 and 1 score 0.5, candidate
    # 2 0.75. Fold 2: candidate 0 scores 1.0.
    assert result.fold_choices == [1, 2, 0]
    assert result.scores.shape == (3, 3)
    # Fold 0 scored by candidate 1 (0.0), fold 1 by candidate 2 (0.75), fold 2 by candidate 0.
    assert result.cv_score == pytest.approx((0.0 + 0.75 + 0.0) / 3)
    assert result.chosen == 2  # over all folds: 0.75 against 2/3 for the others
    with pytest.raises(ValueError, match="at least 2 folds"):
        tune.cross_validate(correct, is_digit, np.zeros(6, np.int64))


def test_candidates_cover_thresholds_with_and_without_the_shape_rules():
    from digitlib.recognize import DecisionParams

    compared = tune.candidates(DecisionParams())
    assert len(compared) == 4 * 5 * 2 * 2
    assert {c.min_confidence for c in compared} == {0.5, 0.6, 0.7, 0.8}
    assert {c.second_look_below for c in compared} == {0.9, 0.97}
    assert sum(c.max_holes == 99 for c in compared) == len(compared) // 2


def test_tuning_set_counts_kinds_and_folds():
    small = tune.tuning_set(20, 10, 10, 10, folds=3, rng=1)
    assert len(small.canvases) == len(small.expected) == 50
    assert set(small.folds.tolist()) <= {0, 1, 2}
    assert small.is_digit.sum() == 20
    assert list(np.unique(small.kinds)) == ["digit", "doodle", "glyph", "sign"]


def test_read_with_the_recognizers_own_decision_reads_as_recognize():
    from digitlib.recognize import load_recognizer

    recognizer = load_recognizer()
    small = tune.tuning_set(12, 6, 4, 4, folds=2, rng=2)
    other = replace(recognizer.decision, min_confidence=0.99, second_look_confidence=0.99)
    own, strict = tune.read_with(recognizer, small.canvases, [recognizer.decision, other])
    assert own == [result.text for result in recognizer.recognize_many(small.canvases)]
    assert sum(text != "" for text in strict) <= sum(text != "" for text in own)
