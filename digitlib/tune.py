"""Choosing the decision's thresholds by cross-validation over training writers and categories.

The held-out writers, categories, letters and signs of ``digitlib.config.HELD_OUT`` measure
(``digitlib.evaluate``); they never choose. Thresholds are chosen here, on fresh renderings of
what training uses: the training writers' digits, the training categories' doodles, the
training letters and signs of the stroke fonts and the training hand-made sign kinds, each
drawn in a random style of ``styles.STYLES``. Every drawing belongs to one of ``folds`` folds by
its writer, category, character or sign kind, so a fold holds writers and kinds the other folds
do not. For each fold, the candidate that does best on the other folds is scored on it: the
mean of those scores is the cross-validated estimate of how the chosen rule does on writers and
kinds it was not chosen on. The shipped choice is the candidate that does best on all folds.

The score of a candidate is the balanced accuracy of the reading: the mean of the share of
digits read exactly and the share of non-digits read as nothing.

The models themselves were trained on these writers and categories (other renderings), so the
estimate flatters them; the gap between it and the held-out figures of ``digitlib evaluate`` is
reported in models/README.md.

    python -m digitlib.tune --models models
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from digitlib.config import HELD_OUT, SHIPPED_MODELS_DIR

#: Thresholds that switch a shape rule of ``recognize.DecisionParams`` off.
RULES_OFF = {"max_holes": 99, "max_length": 99.0, "max_nested": 99, "max_digit_aspect": 99.0}


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
    *,
    folds: int = 5,
    rng: np.random.Generator | int | None = 0,
) -> TuningSet:
    """Fresh renderings of training writers' digits and training categories' doodles, letters,
    signs (never ``HELD_OUT``), ``count`` of each at random, in random styles; folds by writer,
    category, character and sign kind."""
    from digitlib import data, synthetic
    from digitlib.augment import augment_strokes
    from digitlib.styles import STYLES, render_in_style
    from digitlib.train import training_categories, training_digits

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
    return TuningSet(canvases, expected, np.array(fold, np.int64), np.array(kinds))


def read_with(recognizer, canvases: Sequence, candidates: Sequence) -> list[list[str]]:
    """The text ``recognizer`` reads from every canvas under every candidate
    ``DecisionParams``: a list (one per candidate) of lists of str. The models run once per
    value of ``second_look_below`` (which decides what is looked at again), not per candidate."""
    from digitlib.recognize import _prepare_all, _second_look

    ensemble, _ = recognizer._state
    prepared = _prepare_all(canvases, recognizer.segmentation)
    inputs = np.stack([array for item in prepared for array in item.inputs])
    outputs = ensemble.predict_all(inputs)
    looked_by: dict[tuple, tuple] = {}
    texts = []
    for params in candidates:
        key = (params.second_look, params.second_look_below)
        if key not in looked_by:
            looked_by[key] = (
                _second_look(ensemble, inputs, outputs, prepared, "ensemble", params)
                if params.second_look
                else (outputs, np.zeros(0, np.int64))
            )
        looked_outputs, rows = looked_by[key]
        looked = set(rows.tolist())
        after = replace(params, min_confidence=params.second_look_confidence)
        read, start = [], 0
        for item in prepared:
            count = len(item.inputs)
            rows_of = {
                name: values[start : start + count] for name, values in looked_outputs.items()
            }
            chosen = after if start in looked else params
            read.append(recognizer._read(item, rows_of, "ensemble", chosen).text)
            start += count
        texts.append(read)
    return texts


def balanced_accuracy(correct: np.ndarray, is_digit: np.ndarray) -> float:
    """Mean of the share of digits read right and of non-digits read as nothing."""
    correct, is_digit = np.asarray(correct, bool), np.asarray(is_digit, bool)
    if not is_digit.any() or is_digit.all():
        raise ValueError("balanced accuracy needs both digits and non-digits")
    return float((correct[is_digit].mean() + correct[~is_digit].mean()) / 2)


@dataclass(frozen=True)
class CrossValidation:
    """``chosen``: the index of the candidate best on all folds; ``fold_choices``: per fold,
    the index chosen on the other folds; ``cv_score``: the mean over folds of the fold-chosen
    candidate's score on its fold; ``scores``: (candidates, folds) float."""

    chosen: int
    fold_choices: list[int]
    cv_score: float
    scores: np.ndarray


def cross_validate(
    correct: np.ndarray, is_digit: np.ndarray, folds: np.ndarray
) -> CrossValidation:
    """Choose among candidates by cross-validation. ``correct`` bool (C, N): whether candidate
    c reads drawing n right; ``is_digit`` bool (N,); ``folds`` int (N,)."""
    correct = np.asarray(correct, bool)
    fold_ids = sorted(set(np.asarray(folds).tolist()))
    if len(fold_ids) < 2:
        raise ValueError("cross-validation needs drawings in at least 2 folds")
    scores = np.array(
        [
            [balanced_accuracy(row[folds == f], is_digit[folds == f]) for f in fold_ids]
            for row in correct
        ]
    )
    choices, held_scores = [], []
    for index, fold in enumerate(fold_ids):
        others = folds != fold
        inner = [balanced_accuracy(row[others], is_digit[others]) for row in correct]
        best = int(np.argmax(inner))
        choices.append(best)
        held_scores.append(scores[best, index])
    overall = [balanced_accuracy(row, is_digit) for row in correct]
    return CrossValidation(int(np.argmax(overall)), choices, float(np.mean(held_scores)), scores)


def candidates(base) -> list:
    """The decisions compared: ``min_confidence`` 0.4-0.7 times ``second_look_confidence``
    0.4-0.6, each with the shape rules on and off."""
    result = []
    for minimum, after, rules in itertools.product(
        (0.4, 0.5, 0.6, 0.7), (0.4, 0.5, 0.6), (True, False)
    ):
        params = replace(base, min_confidence=minimum, second_look_confidence=after)
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
    texts = read_with(recognizer, tuning.canvases, compared)
    correct = np.array(
        [[t == e for t, e in zip(row, tuning.expected, strict=True)] for row in texts]
    )
    result = cross_validate(correct, is_digit, tuning.folds)
    chosen_base = compared[result.chosen]
    ablations = {"all rules": chosen_base}
    for rule, off in RULES_OFF.items():
        ablations[f"without {rule}"] = replace(chosen_base, **{rule: off})
    ablation_texts = read_with(recognizer, tuning.canvases, list(ablations.values()))
    ablation_scores = {}
    for name, row in zip(ablations, ablation_texts, strict=True):
        right = np.array([t == e for t, e in zip(row, tuning.expected, strict=True)])
        ablation_scores[name] = {
            "balanced_accuracy": balanced_accuracy(right, is_digit),
            "digits_exact": float(right[is_digit].mean()),
            "non_digits_empty": float(right[~is_digit].mean()),
        }
    rows = []
    for params, row, fold_scores in zip(compared, correct, result.scores, strict=True):
        rows.append(
            {
                "min_confidence": params.min_confidence,
                "second_look_confidence": params.second_look_confidence,
                "rules": params.max_holes != RULES_OFF["max_holes"],
                "balanced_accuracy": balanced_accuracy(row, is_digit),
                "digits_exact": float(row[is_digit].mean()),
                "non_digits_empty": float(row[~is_digit].mean()),
                "fold_scores": [round(float(s), 4) for s in fold_scores],
            }
        )
    return {
        "drawings": {
            k: int(v) for k, v in zip(*np.unique(tuning.kinds, return_counts=True), strict=True)
        },
        "candidates": rows,
        "chosen": rows[result.chosen],
        "chosen_params": asdict(chosen_base),
        "fold_choices": [rows[i] | {"fold_scores": None} for i in result.fold_choices],
        "cv_balanced_accuracy": result.cv_score,
        "ablations": ablation_scores,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=SHIPPED_MODELS_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, default=None, help="also write the report as JSON")
    args = parser.parse_args(argv)
    report = tune(args.models, args.seed)
    text = json.dumps(report, indent=1)
    if args.write:
        args.write.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
