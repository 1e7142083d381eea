"""The learned "digit or not" gate (``digitlib.recognize.digit_gate``) on small inputs."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.config import OTHER
from digitlib.recognize import digit_gate as gate


def _probabilities(digit: int, sure: float, other: float = 0.0) -> dict[str, np.ndarray]:
    row = np.full(11, (1 - sure - other) / 9)
    row[digit], row[OTHER] = sure, other
    return {name: row for name in ("numpy_fnn", "fnn", "cnn", "ensemble")}


def test_gate_features_of_a_sure_digit():
    features = gate.gate_features(_probabilities(7, 0.9, 0.01), (0, 2.0, 0), (0, 0, 20, 40), True)
    assert features.shape == (len(gate.FEATURE_NAMES),)
    named = dict(zip(gate.FEATURE_NAMES, features, strict=True))
    assert named["log_best_digit"] == pytest.approx(np.log(0.9))
    assert named["models_agree"] == 1.0 and named["cnn_best_digit"] == pytest.approx(0.9)
    assert named["aspect"] == 0.5 and named["looked_again"] == 1.0
    with pytest.raises(ValueError, match="11 ensemble probabilities"):
        gate.gate_features({"ensemble": np.ones(10)}, (0, 0.0, 0), (0, 0, 1, 1), False)


def test_models_that_disagree_lower_the_agreement():
    probabilities = _probabilities(3, 0.6)
    probabilities["cnn"] = np.eye(11)[5]
    features = gate.gate_features(probabilities, (0, 1.0, 0), (0, 0, 10, 10), False)
    assert dict(zip(gate.FEATURE_NAMES, features, strict=True))["models_agree"] == pytest.approx(
        2 / 3
    )


def _toy(rng, count):
    # Digits: sure and agreeing; non-digits: unsure, with much "other".
    features, is_digit = [], []
    for _ in range(count):
        digit = rng.uniform() < 0.5
        sure = rng.uniform(0.7, 1.0) if digit else rng.uniform(0.1, 0.6)
        other = rng.uniform(0.0, 0.05) if digit else rng.uniform(0.2, 0.4)
        features.append(
            gate.gate_features(
                _probabilities(int(rng.integers(10)), sure, min(other, 1 - sure)),
                (int(rng.integers(0, 2 if digit else 4)), rng.uniform(1, 4), 0),
                (0, 0, 30, 40),
                False,
            )
        )
        is_digit.append(digit)
    return np.array(features), np.array(is_digit)


def test_fit_gate_separates_a_toy_problem_and_is_calibrated_on_it():
    rng = np.random.default_rng(0)
    features, is_digit = _toy(rng, 400)
    fitted = gate.fit_gate(features, is_digit)
    test_features, test_digit = _toy(rng, 400)
    probability = fitted.probability(test_features)
    assert ((probability >= 0.5) == test_digit).mean() > 0.95
    assert 0.35 < probability.mean() < 0.65  # about half are digits


def test_fit_gate_checks_its_inputs():
    with pytest.raises(ValueError, match="features must be"):
        gate.fit_gate(np.zeros((4, 3)), np.array([True, False, True, False]))
    with pytest.raises(ValueError, match="both digits and non-digits"):
        gate.fit_gate(np.zeros((4, len(gate.FEATURE_NAMES))), np.ones(4, bool))
    with pytest.raises(ValueError, match="needs 15 weights"):
        gate.DigitGate((1.0,), 0.0, (0.0,), (1.0,))


def test_decide_one_follows_the_threshold():
    features = len(gate.FEATURE_NAMES)
    # A gate that only looks at the best digit's log probability.
    weights = [0.0] * features
    weights[0] = 10.0
    sure_gate = gate.DigitGate(
        tuple(weights), 0.0, (np.log(0.5),) + (0.0,) * (features - 1), (1.0,) * features, 0.5
    )
    label, confidence = gate.decide_one(
        sure_gate, _probabilities(4, 0.9), (0, 1.0, 0), (0, 0, 9, 9), False
    )
    assert label == 4 and 0.5 < confidence <= 1.0
    label, confidence = gate.decide_one(
        sure_gate, _probabilities(4, 0.2), (0, 1.0, 0), (0, 0, 9, 9), False
    )
    assert label == OTHER and confidence > 0.9


def test_a_recognizer_with_the_fitted_gate_reads_a_digit_and_rejects_a_scribble():
    from dataclasses import replace

    from digitlib.config import HELD_OUT
    from digitlib.drawings import data
    from digitlib.recognize import load_recognizer

    recognizer = load_recognizer()
    recognizer.decision = replace(recognizer.decision, gate=gate.FITTED_GATE)
    seven = next(
        d for d in data.load_pendigits() if d.writer in HELD_OUT.pendigits_writers and d.label == 7
    )
    result = recognizer.recognize(data.render_strokes(seven.strokes))
    assert result.text == "7" and 0 < result.segments[0].confidence <= 1
    t = np.linspace(0, 6 * np.pi, 200)
    spiral = [np.stack([t * np.cos(t), t * np.sin(t)], 1).astype(np.float32)]
    scribble = recognizer.recognize(data.render_strokes(spiral))
    assert scribble.text == "" and scribble.segments[0].label == OTHER
