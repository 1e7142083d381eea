"""Choosing the decision's thresholds by cross-validation over training writers and categories.

The held-out writers, categories, letters and signs of ``digitlib.config.HELD_OUT`` measure
(``digitlib.evaluation.evaluate``); they never choose. Thresholds are chosen here, on fresh renderings of
what training uses: the training writers' digits, the training categories' doodles, the
training letters and signs of the stroke fonts and the training hand-made sign kinds, each
drawn in a random style of ``styles.STYLES``. Every drawing belongs to one of ``folds`` folds by
its writer, category, character or sign kind, so a fold holds writers and kinds the other folds
do not. For each fold, the candidate that does best on the other folds is scored on it: the
mean of those scores is the cross-validated estimate of how the chosen rule does on writers and
kinds it was not chosen on. The shipped choice is the candidate that does best on all folds.

The score of a candidate is a weighted accuracy of the reading: the share of digits read
exactly, weighing ``DIGIT_WEIGHT`` (3/4), plus the share of non-digits read as nothing,
weighing 1/4. The weights come from the targets (``evaluate.TARGETS_14``), not from any measurement: they
allow a digit about a quarter of the errors a non-digit may make (0.8% of held-out digits
against 2.5-4% of doodles, letters and signs).

A candidate is chosen only among those that read at least as many digits right as the current
decision (``DecisionParams()``) on the folds it is chosen on (``best_keeping_digits``): the
weights alone chose trades of digits for non-digits that did not carry over to new people.
MNIST training digits on canvases (``data.mnist_canvas``) are among the digits, as MNIST's
hands are unlike the pendigits writers'.

The models themselves were trained on these writers and categories (other renderings), so the
estimate flatters them; the gap between it and the held-out figures of ``digitlib evaluate`` is
reported in docs/experiments.md.

    digitlib tune --models models          (or python -m digitlib.cli.tune)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from digitlib.config import HELD_OUT, SHIPPED_MODELS_DIR

#: Thresholds that switch a shape rule of ``recognize.DecisionParams`` off.
RULES_OFF = {"max_holes": 99, "max_nested": 99, "max_digit_aspect": 99.0}


@dataclass(frozen=True)
class TuningSet:
    """Drawings to choose thresholds on: ``canvases`` (uint8 images), ``expected`` text (the
    digit, or "" for a non-digit), ``folds`` int64 (N,) and ``kinds`` (N,) str ("digit",
    "doodle", "glyph", "sign")."""

    canvases: list[np.ndarray]
    expected: list[str]
    folds: np.ndarray
    kinds: np.ndarray

    @property
    def is_digit(self) -> np.ndarray:
        return np.array([text != "" for text in self.expected])


def tuning_set(
    digit_count: int = 2000,
    doodle_count: int = 1500,
    glyph_count: int = 600,
    sign_count: int = 300,
    mnist_count: int = 2000,
    *,
    folds: int = 5,
    rng: np.random.Generator | int | None = 0,
) -> TuningSet:
    """Fresh renderings of training writers' digits and training categories' doodles, letters,
    signs (never ``HELD_OUT``), ``count`` of each at random, in random styles; folds by writer,
    category, character and sign kind. Plus ``mnist_count`` MNIST training digits placed on
    canvases (``data.mnist_canvas``, kind ``"mnist"``; never the MNIST test set), in folds by
    their index in the training set (MNIST names no writers): the pendigits writers draw thin
    uniform strokes, and a decision chosen on them alone lost MNIST-like digits (a felt pen's
    varying strokes), most of them read as nothing (docs/experiments.md)."""
    from digitlib.drawings import data, synthetic
    from digitlib.drawings.styles import STYLES, render_in_style
    from digitlib.image.augment import augment_strokes
    from digitlib.training.train import training_categories, training_digits

    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    rng = np.random.default_rng(rng)
    drawings, expected, fold, kinds = [], [], [], []
    digits = training_digits()
    writers = sorted({d.writer for d in digits})
    for index in rng.permutation(len(digits))[:digit_count]:
        digit = digits[index]
        drawings.append(digit.strokes)
        expected.append(str(digit.label))
        fold.append(writers.index(digit.writer) % folds)
        kinds.append("digit")
    categories = training_categories()
    doodles = data.load_quickdraw_strokes(categories)
    for index in rng.permutation(len(doodles))[:doodle_count]:
        drawings.append(doodles[index].strokes)
        # A doodle names its category with spaces, the category list with underscores.
        name = doodles[index].category.replace(" ", "_")
        fold.append(categories.index(name) % folds)
        kinds.append("doodle")
    held_out = set(HELD_OUT.glyphs(synthetic.glyph_characters()))
    characters = [c for c in synthetic.glyph_characters() if c not in held_out]
    for _ in range(glyph_count):
        character = characters[int(rng.integers(len(characters)))]
        font = synthetic.GLYPH_FONTS[int(rng.integers(len(synthetic.GLYPH_FONTS)))]
        drawings.append(augment_strokes(synthetic.glyph_strokes(character, font), rng))
        fold.append(characters.index(character) % folds)
        kinds.append("glyph")
    kinds_of_signs = [k for k in synthetic.SIGN_KINDS if k not in HELD_OUT.sign_kinds]
    for _ in range(sign_count):
        kind = kinds_of_signs[int(rng.integers(len(kinds_of_signs)))]
        drawings.append(synthetic.sign_strokes(kind, rng))
        fold.append(kinds_of_signs.index(kind) % folds)
        kinds.append("sign")
    expected += [""] * (len(drawings) - len(expected))
    canvases = [
        render_in_style(strokes, STYLES[int(rng.integers(len(STYLES)))], rng)
        for strokes in drawings
    ]
    if mnist_count:
        images, labels = data.load_mnist("train")
        for index in np.sort(rng.permutation(len(images))[:mnist_count]):
            canvases.append(data.mnist_canvas(images[index], rng))
            expected.append(str(int(labels[index])))
            fold.append(int(index) % folds)
            kinds.append("mnist")
    return TuningSet(canvases, expected, np.array(fold, np.int64), np.array(kinds))


def read_with(recognizer, canvases: Sequence, candidates: Sequence) -> list[list[str]]:
    """The text ``recognizer`` reads from every canvas under every candidate
    ``DecisionParams``: a list (one per candidate) of lists of str. The models run once per
    value of ``second_look_below`` (which decides what is looked at again), not per candidate."""
    from digitlib.recognize import prepare_all, read_wholes, second_look

    ensemble = recognizer.ensemble
    prepared = prepare_all(canvases, recognizer.segmentation)
    inputs = np.stack([array for item in prepared for array in item.inputs])
    outputs = ensemble.predict_all(inputs)
    # Whether a drawing's whole matters depends on the candidate: read every one that has one.
    several = [index for index, item in enumerate(prepared) if item.whole_input is not None]
    wholes = dict(zip(several, read_wholes(ensemble, [prepared[i] for i in several]), strict=True))
    looked_by: dict[tuple, tuple] = {}
    texts = []
    for params in candidates:
        key = (params.second_look, params.second_look_below)
        if key not in looked_by:
            looked_by[key] = (
                second_look(ensemble, inputs, outputs, prepared, "ensemble", params)
                if params.second_look
                else (outputs, np.zeros(0, np.int64))
            )
        looked_outputs, rows = looked_by[key]
        results = recognizer.decide_many(prepared, looked_outputs, rows, params, wholes=wholes)
        texts.append([result.text for result in results])
    return texts


#: The weight of digits read right in ``weighted_accuracy`` (non-digits: one less it).
DIGIT_WEIGHT = 0.75


def weighted_accuracy(
    correct: np.ndarray, is_digit: np.ndarray, digit_weight: float = DIGIT_WEIGHT
) -> float:
    """``digit_weight`` times the share of digits read right plus ``1 - digit_weight`` times
    the share of non-digits read as nothing (0.5: balanced accuracy)."""
    correct, is_digit = np.asarray(correct, bool), np.asarray(is_digit, bool)
    if not is_digit.any() or is_digit.all():
        raise ValueError("a weighted accuracy needs both digits and non-digits")
    return float(
        digit_weight * correct[is_digit].mean() + (1 - digit_weight) * correct[~is_digit].mean()
    )


@dataclass(frozen=True)
class CrossValidation:
    """``chosen``: the index of the candidate best on all folds; ``fold_choices``: per fold,
    the index chosen on the other folds; ``cv_score``: the mean over folds of the fold-chosen
    candidate's score on its fold; ``scores``: (candidates, folds) float."""

    chosen: int
    fold_choices: list[int]
    cv_score: float
    scores: np.ndarray


def best_keeping_digits(
    correct: np.ndarray,
    is_digit: np.ndarray,
    keep_digits_of: int | None = None,
    digit_weight: float = DIGIT_WEIGHT,
) -> int:
    """The candidate with the highest ``weighted_accuracy``, among those that read at least as
    many digits right as candidate ``keep_digits_of`` (all candidates when None).

    ``correct`` bool (C, N), ``is_digit`` bool (N,). The weights alone let a candidate trade
    digits for non-digits; the held-out rows showed such trades do not carry over to new
    people (their digits are read less surely than the tuning writers', docs/experiments.md), so
    a new decision may only add non-digits read as nothing, or digits, never lose digits.
    """
    correct = np.asarray(correct, bool)
    scores = np.array([weighted_accuracy(row, is_digit, digit_weight) for row in correct])
    if keep_digits_of is not None:
        digits = correct[:, is_digit].sum(axis=1)
        scores[digits < digits[keep_digits_of]] = -np.inf
    return int(np.argmax(scores))


def cross_validate(
    correct: np.ndarray,
    is_digit: np.ndarray,
    folds: np.ndarray,
    keep_digits_of: int | None = None,
) -> CrossValidation:
    """Choose among candidates by cross-validation. ``correct`` bool (C, N): whether candidate
    c reads drawing n right; ``is_digit`` bool (N,); ``folds`` int (N,). ``keep_digits_of``:
    the index of the current decision; a choice must read at least as many digits right as it
    on the folds it is chosen on (``best_keeping_digits``)."""
    correct = np.asarray(correct, bool)
    fold_ids = sorted(set(np.asarray(folds).tolist()))
    if len(fold_ids) < 2:
        raise ValueError("cross-validation needs drawings in at least 2 folds")
    scores = np.array(
        [
            [weighted_accuracy(row[folds == f], is_digit[folds == f]) for f in fold_ids]
            for row in correct
        ]
    )
    choices, held_scores = [], []
    for index, fold in enumerate(fold_ids):
        others = folds != fold
        best = best_keeping_digits(correct[:, others], is_digit[others], keep_digits_of)
        choices.append(best)
        held_scores.append(scores[best, index])
    chosen = best_keeping_digits(correct, is_digit, keep_digits_of)
    return CrossValidation(chosen, choices, float(np.mean(held_scores)), scores)


def gate_inputs(recognizer, canvases: Sequence, params) -> tuple[np.ndarray, np.ndarray, list]:
    """What the gate sees of each drawing under ``params``' second look: ``features`` float
    (N, 15) (``gate.gate_features``; NaN for drawings of several segments, which the gate does
    not decide), ``single`` bool (N,) and ``best`` (N,) str, the ensemble's best digit."""
    from digitlib.config import OTHER
    from digitlib.recognize import prepare_all, second_look
    from digitlib.recognize.digit_gate import FEATURE_NAMES, gate_features

    ensemble = recognizer.ensemble
    prepared = prepare_all(canvases, recognizer.segmentation)
    inputs = np.stack([array for item in prepared for array in item.inputs])
    outputs = ensemble.predict_all(inputs)
    outputs, rows = second_look(ensemble, inputs, outputs, prepared, "ensemble", params)
    looked = set(rows.tolist())
    features = np.full((len(prepared), len(FEATURE_NAMES)), np.nan)
    single = np.zeros(len(prepared), bool)
    best, start = [], 0
    for index, item in enumerate(prepared):
        if len(item.boxes) == 1:
            probabilities = {name: values[start] for name, values in outputs.items()}
            shape = item.shapes[0] if item.shapes else (0, 0.0, 0)
            features[index] = gate_features(probabilities, shape, item.boxes[0], start in looked)
            single[index] = True
            best.append(str(int(outputs["ensemble"][start][:OTHER].argmax())))
        else:
            best.append("")
        start += len(item.inputs)
    return features, single, best


def cross_validate_gate(
    features: np.ndarray,
    single: np.ndarray,
    best: Sequence[str],
    expected: Sequence[str],
    rule_correct: np.ndarray,
    folds: np.ndarray,
    thresholds: Sequence[float] = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2)),
):
    """Fit the gate and choose its threshold on all folds but one, score the reading on that
    one (drawings of several segments keep ``rule_correct``, the rule's verdict); returns
    ``(gate fitted on all folds with the threshold best on all folds, cv score, per-fold
    thresholds)``. A threshold is chosen only if it reads at least as many digits right as
    the rule on the folds it is chosen on (``best_keeping_digits``); when none does, the
    lowest threshold is taken."""
    from dataclasses import replace as replace_field

    from digitlib.recognize.digit_gate import fit_gate

    is_digit = np.array([text != "" for text in expected])
    right_digit = np.array([b == e for b, e in zip(best, expected, strict=True)])

    def correct_with(probability: np.ndarray, threshold: float, rows: np.ndarray) -> np.ndarray:
        says_digit = probability >= threshold
        gated = np.where(is_digit[rows], says_digit & right_digit[rows], ~says_digit)
        return np.where(single[rows], gated, rule_correct[rows])

    def choose(rows: np.ndarray):
        gate = fit_gate(features[rows & single], is_digit[rows & single])
        probability = np.where(single, gate.probability(np.nan_to_num(features)), 0.0)
        read = np.array([correct_with(probability[rows], t, rows) for t in thresholds])
        digits = is_digit[rows]
        # The rule's verdict is the last row: only thresholds keeping its digits are eligible.
        index = best_keeping_digits(
            np.vstack([read, rule_correct[rows]]), digits, keep_digits_of=len(thresholds)
        )
        if index == len(thresholds):  # the rule itself won: no threshold keeps its digits
            index = 0
        return replace_field(gate, threshold=float(thresholds[index])), probability

    held_scores, chosen_thresholds = [], []
    for fold in sorted(set(folds.tolist())):
        gate, probability = choose(folds != fold)
        rows = folds == fold
        correct = correct_with(probability[rows], gate.threshold, rows)
        held_scores.append(weighted_accuracy(correct, is_digit[rows]))
        chosen_thresholds.append(gate.threshold)
    gate, _ = choose(np.ones(len(folds), bool))
    return gate, float(np.mean(held_scores)), chosen_thresholds


def candidates(base) -> list:
    """The decisions compared: ``min_confidence`` 0.5-0.8 times ``second_look_confidence``
    0.4-0.8 times ``second_look_below`` 0.9 or 0.97, each with the shape rules on and off."""
    result = []
    for minimum, after, below, rules in itertools.product(
        (0.5, 0.6, 0.7, 0.8), (0.4, 0.5, 0.6, 0.7, 0.8), (0.9, 0.97), (True, False)
    ):
        params = replace(
            base, min_confidence=minimum, second_look_confidence=after, second_look_below=below
        )
        result.append(params if rules else replace(params, **RULES_OFF))
    return result


def tune(models_dir: Path = SHIPPED_MODELS_DIR, rng: int = 0) -> dict:
    """Cross-validate ``candidates`` on a ``tuning_set`` with the models of ``models_dir``;
    returns a report (candidates with their per-fold scores, the choice, the CV estimate, and
    what each shape rule alone changes at the chosen thresholds)."""
    from digitlib.recognize import DecisionParams, load_recognizer

    recognizer = load_recognizer(models_dir)
    tuning = tuning_set(rng=rng)
    is_digit = tuning.is_digit
    compared = candidates(DecisionParams())
    current = compared.index(DecisionParams())
    texts = read_with(recognizer, tuning.canvases, compared)
    correct = np.array(
        [[t == e for t, e in zip(row, tuning.expected, strict=True)] for row in texts]
    )
    result = cross_validate(correct, is_digit, tuning.folds, keep_digits_of=current)
    chosen_base = compared[result.chosen]
    ablations = {"all rules": chosen_base}
    for rule, off in RULES_OFF.items():
        ablations[f"without {rule}"] = replace(chosen_base, **{rule: off})
    ablation_texts = read_with(recognizer, tuning.canvases, list(ablations.values()))
    ablation_scores = {}
    for name, row in zip(ablations, ablation_texts, strict=True):
        right = np.array([t == e for t, e in zip(row, tuning.expected, strict=True)])
        ablation_scores[name] = {
            "weighted_accuracy": weighted_accuracy(right, is_digit),
            "digits_exact": float(right[is_digit].mean()),
            "non_digits_empty": float(right[~is_digit].mean()),
        }
    features, single, best = gate_inputs(recognizer, tuning.canvases, chosen_base)
    gate, gate_cv, gate_thresholds = cross_validate_gate(
        features, single, best, tuning.expected, correct[result.chosen], tuning.folds
    )
    gated = read_with(recognizer, tuning.canvases, [replace(chosen_base, gate=gate)])[0]
    gated_right = np.array([t == e for t, e in zip(gated, tuning.expected, strict=True)])
    rows = []
    for params, row, fold_scores in zip(compared, correct, result.scores, strict=True):
        rows.append(
            {
                "min_confidence": params.min_confidence,
                "second_look_confidence": params.second_look_confidence,
                "second_look_below": params.second_look_below,
                "rules": params.max_holes != RULES_OFF["max_holes"],
                "weighted_accuracy": weighted_accuracy(row, is_digit),
                "digits_exact": float(row[is_digit].mean()),
                "non_digits_empty": float(row[~is_digit].mean()),
                "fold_scores": [round(float(s), 4) for s in fold_scores],
            }
        )

    def by_kind(right: np.ndarray) -> dict:
        return {
            kind: f"{int(right[tuning.kinds == kind].sum())}/{int((tuning.kinds == kind).sum())}"
            for kind in sorted(set(tuning.kinds.tolist()))
        }

    return {
        "right_by_kind": {
            "current": by_kind(correct[current]),
            "chosen": by_kind(correct[result.chosen]),
            "gate": by_kind(gated_right),
        },
        "current": rows[current],
        "drawings": {
            k: int(v) for k, v in zip(*np.unique(tuning.kinds, return_counts=True), strict=True)
        },
        "candidates": rows,
        "chosen": rows[result.chosen],
        "chosen_params": asdict(chosen_base),
        "fold_choices": [rows[i] | {"fold_scores": None} for i in result.fold_choices],
        "cv_weighted_accuracy": result.cv_score,
        "ablations": ablation_scores,
        "gate": {
            "cv_weighted_accuracy": gate_cv,
            "fold_thresholds": gate_thresholds,
            "weighted_accuracy": weighted_accuracy(gated_right, is_digit),
            "digits_exact": float(gated_right[is_digit].mean()),
            "non_digits_empty": float(gated_right[~is_digit].mean()),
            "params": asdict(gate),
        },
    }
