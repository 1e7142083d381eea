"""Choosing the decision's thresholds by cross-validation (``digitlib.training.tune``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from digitlib.training import tune


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


def test_best_keeping_digits_never_trades_digits_away():
    is_digit = np.array([True, True, True, True, False, False, False, False])
    correct = np.array(
        [
            [True, True, True, False, True, False, False, False],  # current: 3 digits, 1 other
            [True, True, False, False, True, True, True, True],  # 2 digits, every other
            [True, True, True, False, True, True, False, False],  # 3 digits, 2 others
            [True, True, True, True, False, False, False, False],  # 4 digits, no other
        ]
    )
    # Weighing digits 1/4, candidate 1 is best (0.25 * 2/4 + 0.75 * 4/4 = 0.875); it reads a
    # digit fewer than candidate 0, so keeping candidate 0's digits leaves candidates 2
    # (0.5625) and 3 (0.25). Weighing digits 3/4, candidate 3 (0.75) beats 2 (0.6875).
    assert tune.best_keeping_digits(correct, is_digit, digit_weight=0.25) == 1
    assert tune.best_keeping_digits(correct, is_digit, keep_digits_of=0, digit_weight=0.25) == 2
    assert tune.best_keeping_digits(correct, is_digit, keep_digits_of=0) == 3
    assert tune.best_keeping_digits(correct[:1], is_digit, keep_digits_of=0) == 0


def test_cross_validation_keeping_digits_chooses_among_those_that_keep_them():
    is_digit = np.array([True, True, False] * 3)
    folds = np.repeat([0, 1, 2], 3)
    correct = np.array(
        [
            [True, True, False] * 3,  # reads everything as a digit
            [False, True, True] + [True, True, True] * 2,  # loses a digit of fold 0
        ]
    )
    # Weighted alone candidate 1 wins (0.75 * 5/6 + 0.25 = 0.875 against 0.75).
    assert tune.cross_validate(correct, is_digit, folds).chosen == 1
    kept = tune.cross_validate(correct, is_digit, folds, keep_digits_of=0)
    assert kept.chosen == 0
    # Held out fold 0, candidate 1 keeps every digit of folds 1 and 2, so it is chosen there;
    # chosen on folds that include fold 0 it reads a digit fewer.
    assert kept.fold_choices == [1, 0, 0]
    assert kept.cv_score == pytest.approx((0.75 * 1 / 2 + 0.25 + 0.75 + 0.75) / 3)


def test_candidates_cover_thresholds_with_and_without_the_shape_rules():
    from digitlib.recognize import DecisionParams

    compared = tune.candidates(DecisionParams())
    assert len(compared) == 4 * 5 * 2 * 2
    assert {c.min_confidence for c in compared} == {0.5, 0.6, 0.7, 0.8}
    assert {c.second_look_below for c in compared} == {0.9, 0.97}
    assert sum(c.max_holes == 99 for c in compared) == len(compared) // 2


def test_tuning_set_counts_kinds_and_folds():
    small = tune.tuning_set(20, 10, 10, 10, 6, folds=3, rng=1)
    assert len(small.canvases) == len(small.expected) == 56
    assert set(small.folds.tolist()) <= {0, 1, 2}
    assert small.is_digit.sum() == 26
    assert list(np.unique(small.kinds)) == ["digit", "doodle", "glyph", "mnist", "sign"]
    mnist = small.kinds == "mnist"
    assert all(
        canvas.ndim == 2 and min(canvas.shape) >= 280
        for canvas, m in zip(small.canvases, mnist, strict=True)
        if m
    )
    assert all(
        text in "0123456789" and text for text, m in zip(small.expected, mnist, strict=True) if m
    )
    without = tune.tuning_set(20, 10, 10, 10, 0, folds=3, rng=1)
    assert "mnist" not in without.kinds


def test_read_with_the_recognizers_own_decision_reads_as_recognize():
    from digitlib.recognize import load_recognizer

    recognizer = load_recognizer()
    small = tune.tuning_set(12, 6, 4, 4, 4, folds=2, rng=2)
    other = replace(recognizer.decision, min_confidence=0.99, second_look_confidence=0.99)
    own, strict = tune.read_with(recognizer, small.canvases, [recognizer.decision, other])
    assert own == [result.text for result in recognizer.recognize_many(small.canvases)]
    assert sum(text != "" for text in strict) <= sum(text != "" for text in own)


def test_the_gate_threshold_keeps_the_digits_the_rule_reads():
    from digitlib.recognize.digit_gate import FEATURE_NAMES

    rng = np.random.default_rng(3)
    is_digit = np.array([True] * 30 + [False] * 30)
    features = rng.normal(size=(60, len(FEATURE_NAMES)))
    features[:, 0] += np.where(is_digit, 2.0, -2.0)
    # Two digits, one in each fold, look exactly like five non-digits each: keeping a digit
    # costs five non-digits read as digits, which the weights alone (3:1) would not pay.
    features[30:35] = features[0]
    features[45:50] = features[15]
    folds = np.arange(60) % 2
    single = np.ones(60, bool)
    expected = ["7" if digit else "" for digit in is_digit]
    best = ["7"] * 60
    rule_correct = is_digit.copy()  # the rule reads every digit and no non-digit as nothing
    gate, _, thresholds = tune.cross_validate_gate(
        features, single, best, expected, rule_correct, folds
    )
    probability = gate.probability(features)
    assert (probability[is_digit] >= gate.threshold).all()
    assert len(thresholds) == 2
    assert (probability[30:35] >= gate.threshold).all()
    weighted_alone = tune.cross_validate_gate(
        features, single, best, expected, np.zeros(60, bool), folds
    )[0]
    assert (weighted_alone.probability(features)[[0, 15]] < weighted_alone.threshold).all()


def test_tune_is_a_verb_of_the_digitlib_command(tmp_path):
    import subprocess
    import sys

    from digitlib.cli import build_parser
    from digitlib.cli import tune as tune_command

    args = build_parser().parse_args(["tune", "--seed", "3", "--write", str(tmp_path / "r.json")])
    assert args.handler is tune_command.run and args.seed == 3
    done = subprocess.run(
        [sys.executable, "-m", "digitlib.cli.tune", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--write" in done.stdout
