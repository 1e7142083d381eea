"""A learned "digit or not" decision for a drawing of one segment: the ``DigitGate``.

The hand-set rule it replaces read a one-segment drawing as its best digit when that digit's
ensemble probability cleared a bar (``DecisionParams.min_confidence``, or
``second_look_confidence`` after a second look) and the segment had a digit's shape (holes,
stroke length, nested ink, width). The gate instead weighs the same evidence, and more, with a
logistic regression fitted on drawings of the training writers and training kinds
(``digitlib.training.tune``; never the held-out ones), so its output is a calibrated probability that
the drawing is a digit:

- how sure the ensemble is: the log of its best digit's probability and of "other", its
  entropy;
- whether the models agree: the share of the three models whose best class is the ensemble's
  best digit, and each model's best digit probability and "other" probability (ensemble
  disagreement is a signal of a drawing unlike the training data);
- the segment's shape (``digitlib.image.segment.Region``): holes, stroke length in box sides, nested
  pieces, width over height;
- whether the drawing was read again from nine views (``recognize.second_look``).

A drawing is a digit when the probability reaches ``threshold``, chosen with the weights by
cross-validation over folds of training writers and kinds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from digitlib.config import OTHER

#: The names of ``gate_features``' columns, in order.
FEATURE_NAMES = (
    "log_best_digit",
    "log_other",
    "entropy",
    "models_agree",
    "numpy_fnn_best_digit",
    "fnn_best_digit",
    "cnn_best_digit",
    "numpy_fnn_other",
    "fnn_other",
    "cnn_other",
    "holes",
    "length",
    "nested",
    "aspect",
    "looked_again",
)

MEMBERS = ("numpy_fnn", "fnn", "cnn")


def gate_features(
    probabilities: Mapping[str, np.ndarray],
    shape: tuple[int, float, int],
    box: tuple[int, int, int, int],
    looked_again: bool,
) -> np.ndarray:
    """The features (``FEATURE_NAMES``) of one segment, float64 (15,).

    ``probabilities``: model name -> 11 probabilities, with ``"ensemble"`` and each of
    ``MEMBERS`` (a missing member counts as agreeing with the ensemble); ``shape``: (holes,
    length, nested); ``box``: (x, y, width, height); ``looked_again``: whether the
    probabilities are a second look's mean."""
    ensemble = np.asarray(probabilities["ensemble"], np.float64)
    if ensemble.shape != (11,):
        raise ValueError(f"expected 11 ensemble probabilities, got shape {ensemble.shape}")
    digit = int(ensemble[:OTHER].argmax())
    members = [np.asarray(probabilities.get(name, ensemble), np.float64) for name in MEMBERS]
    holes, length, nested = shape
    _, _, width, height = box
    clipped = np.clip(ensemble, 1e-6, 1.0)
    return np.array(
        [
            np.log(clipped[digit]),
            np.log(clipped[OTHER]),
            float(-(clipped * np.log(clipped)).sum()),
            float(np.mean([m.argmax() == digit for m in members])),
            *[float(m[:OTHER].max()) for m in members],
            *[float(m[OTHER]) for m in members],
            min(float(holes), 3.0),
            min(float(length), 8.0),
            min(float(nested), 3.0),
            min(width / max(height, 1), 4.0),
            float(looked_again),
        ]
    )


@dataclass(frozen=True)
class DigitGate:
    """A fitted logistic regression on standardized ``gate_features``: P(digit) =
    sigmoid(sum(weights * (features - means) / scales) + bias). A segment is a digit when
    P(digit) >= ``threshold``."""

    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    threshold: float = 0.5

    def __post_init__(self) -> None:
        sizes = {len(self.weights), len(self.means), len(self.scales)}
        if sizes != {len(FEATURE_NAMES)}:
            raise ValueError(
                f"a DigitGate needs {len(FEATURE_NAMES)} weights, means and scales (one per "
                f"FEATURE_NAMES); got {sorted(sizes)}. Fit one with digitlib.recognize.digit_gate.fit_gate."
            )

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(digit) of features (..., 15) -> (...)."""
        features = np.asarray(features, np.float64)
        z = (features - np.asarray(self.means)) / np.asarray(self.scales)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))


#: The gate fitted for an earlier set of shipped models (cnn 99.56%) by
#: ``digitlib tune --models models`` (seed 0) on 4,400 fresh drawings of training
#: writers, categories, letters and signs, its threshold chosen by 5-fold cross-validation over
#: them; not refitted for the current models (``tune`` now chooses a threshold that keeps the
#: rule's digits, and then the gate reads fewer non-digits as nothing). Not used by default
#: (``DecisionParams.gate`` is None): on the held-out rows it read fewer digits than the
#: hand-set rule (docs/experiments.md). ``DecisionParams(gate=FITTED_GATE)`` switches it on.
FITTED_GATE = DigitGate(
    weights=(
        0.32553347757517515,
        -0.7571414463360434,
        -0.5145708035418766,
        0.46659188433279497,
        0.4272468016084051,
        0.38035434812485175,
        0.7236331915222673,
        -0.4970343371772474,
        -0.46279905261624577,
        -0.7601428348821385,
        -0.1241390714668815,
        -0.061368780855687234,
        -0.42695386248751216,
        -0.1656182682966519,
        -0.06801949463588211,
    ),
    bias=-0.8476567992503944,
    means=(
        -2.6022900960965436,
        -4.644340239358379,
        0.1312545584562268,
        0.4945989427717784,
        0.5009820842508361,
        0.5149561025016542,
        0.49113309514596887,
        0.4895782913585264,
        0.47261947524661657,
        0.5033922101869597,
        0.44311652493679615,
        2.4857176033093724,
        0.021604228912893587,
        0.9162786408210339,
        0.04734543783038382,
    ),
    scales=(
        3.0544098432584743,
        5.2829487981901755,
        0.2440330450779074,
        0.48561649317299843,
        0.4717888654581601,
        0.46564193282848176,
        0.48144257895176773,
        0.47105929836358396,
        0.46405300296873,
        0.48168234687215505,
        0.7582642573422131,
        0.8027598541166461,
        0.2022450428046264,
        0.45119947509243813,
        0.2123766638475917,
    ),
    threshold=0.3,
)


def fit_gate(
    features: np.ndarray,
    is_digit: np.ndarray,
    *,
    threshold: float = 0.5,
    l2: float = 1e-2,
    iterations: int = 50,
) -> DigitGate:
    """Fit a ``DigitGate`` by Newton's method on the L2-regularized logistic loss.
    ``features`` float (N, 15) (``gate_features``), ``is_digit`` bool (N,), both classes
    present."""
    features = np.asarray(features, np.float64)
    target = np.asarray(is_digit, np.float64)
    if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"features must be (N, {len(FEATURE_NAMES)}), got {features.shape}")
    if len(target) != len(features) or target.min() == target.max():
        raise ValueError("fit_gate needs one is_digit per row, with both digits and non-digits")
    means = features.mean(axis=0)
    scales = features.std(axis=0)
    scales[scales < 1e-9] = 1.0
    z = np.column_stack([(features - means) / scales, np.ones(len(features))])
    weights = np.zeros(z.shape[1])
    penalty = l2 * np.eye(len(weights))
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        predicted = 1.0 / (1.0 + np.exp(-(z @ weights)))
        gradient = z.T @ (predicted - target) / len(target) + penalty @ weights
        hessian = (z.T * (predicted * (1 - predicted))) @ z / len(target) + penalty
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return DigitGate(
        tuple(float(w) for w in weights[:-1]),
        float(weights[-1]),
        tuple(float(m) for m in means),
        tuple(float(s) for s in scales),
        threshold,
    )


def decide_one(
    gate: DigitGate,
    probabilities: Mapping[str, Sequence[float]],
    shape: tuple[int, float, int],
    box: tuple[int, int, int, int],
    looked_again: bool,
) -> tuple[int, float]:
    """Label and confidence of a one-segment drawing: its best digit, with confidence P(digit)
    times that digit's share of the ensemble's digit probability, when the gate's P(digit)
    reaches ``gate.threshold``; else ``OTHER`` with confidence 1 - P(digit)."""
    ensemble = np.asarray(probabilities["ensemble"], np.float64)
    chance = float(gate.probability(gate_features(probabilities, shape, box, looked_again)))
    digit = int(ensemble[:OTHER].argmax())
    if chance >= gate.threshold:
        share = ensemble[digit] / max(float(ensemble[:OTHER].sum()), 1e-12)
        return digit, chance * float(share)
    return OTHER, 1.0 - chance
