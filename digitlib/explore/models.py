"""The model room (``notebooks/03_models.ipynb``): how well each model reads, and where it fails.

It draws the training curves, confusion matrices on MNIST and on held-out canvas digits and
doodles ("other"), each model's worst misreads, and how the "other" threshold trades rejected
digits against accepted doodles with the operating point marked. Labels are decided as the
recognizer decides them (``recognize.decide``), so the numbers are the ones a user meets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from digitlib.config import CLASS_NAMES, NUM_CLASSES, OTHER
from digitlib.explore.data import model_inputs, render_canvases
from digitlib.explore.figures import (
    check_images,
    check_probabilities,
    hide_ticks,
    image_grid,
    new_figure,
    palette_colors,
)
from digitlib.explore.samples import random_sample
from digitlib.explore.tables import Table


def load_training_history(models_dir=None) -> dict[str, list[dict]]:
    """Per-epoch training logs that ``digitlib train`` records in ``models/training.json``:
    model name -> list of ``{"epoch", "loss", "val_accuracy", ...}``. Empty when the file is not
    there (the curves were not recorded)."""
    import json
    from pathlib import Path

    from digitlib.config import SHIPPED_MODELS_DIR

    path = Path(models_dir or SHIPPED_MODELS_DIR) / "training.json"
    if not path.exists():
        return {}
    card = json.loads(path.read_text())
    return {
        name: list(entry.get("history", []))
        for name, entry in card.get("models", {}).items()
        if entry.get("history")
    }


def plot_training_curves(histories: Mapping[str, Sequence[Mapping]], *, title: str):
    """Training loss and validation accuracy per epoch, one line per model.

    ``histories``: as ``load_training_history`` returns them. Returns a Figure.
    """
    if not histories:
        raise ValueError(
            "no training history: models/training.json is missing or holds no 'history' "
            "(retrain with `digitlib train` to record it)"
        )
    figure = new_figure(11, 3.8)
    loss_axes, accuracy_axes, rate_axes = figure.subplots(1, 3)
    for name, history in histories.items():
        epochs = [entry["epoch"] for entry in history]
        loss_axes.plot(
            epochs,
            [entry.get("loss", np.nan) for entry in history],
            marker="o",
            markersize=3,
            label=name,
        )
        accuracy_axes.plot(
            epochs,
            [entry.get("val_accuracy", np.nan) for entry in history],
            marker="o",
            markersize=3,
            label=name,
        )
        rate_axes.plot(
            epochs,
            [entry.get("learning_rate", np.nan) for entry in history],
            marker="o",
            markersize=3,
            label=name,
        )
    loss_axes.set_title("training loss")
    loss_axes.set_ylabel("cross-entropy")
    loss_axes.set_yscale("log")
    accuracy_axes.set_title("validation accuracy (11 classes)")
    accuracy_axes.set_ylabel("accuracy")
    rate_axes.set_title("learning-rate schedule")
    rate_axes.set_ylabel("learning rate")
    rate_axes.set_yscale("log")
    for axes in (loss_axes, accuracy_axes, rate_axes):
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle(title)
    return figure


@dataclass(frozen=True)
class LabeledSet:
    """Model inputs with their true classes: ``images`` float32 (N, 28, 28), ``labels`` int64
    (N,) 0..10 (10 = other), ``kinds`` (N,) str: "digit" or "doodle"."""

    images: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def heldout_canvas_set(
    digit_count: int, doodle_count: int, rng: np.random.Generator | int | None = None
) -> LabeledSet:
    """Drawings no model trained on, as the evaluation protocol makes them (``evaluate``):
    digits of the held-out pendigits writers and doodles of the held-out Quick, Draw!
    categories (label ``OTHER``), each on a random canvas (``data.random_style``) and turned
    into a model input by ``preprocess.canvas_input(canvas)``.

    ``digit_count`` and ``doodle_count`` random drawings of each (all of them when fewer).
    """
    from digitlib.config import HELD_OUT
    from digitlib.drawings import data

    rng = np.random.default_rng(rng)
    writers = set(HELD_OUT.pendigits_writers)
    digits = random_sample(
        [d for d in data.load_pendigits() if d.writer in writers], digit_count, rng
    )
    categories = HELD_OUT.quickdraw_categories(data.quickdraw_categories())
    doodles = random_sample(data.load_quickdraw_strokes(categories), doodle_count, rng)
    images = model_inputs(render_canvases(digits + doodles, rng))
    labels = np.array([d.label for d in digits] + [OTHER] * len(doodles), np.int64)
    kinds = np.array(["digit"] * len(digits) + ["doodle"] * len(doodles))
    return LabeledSet(images.reshape(-1, 28, 28), labels, kinds)


def mnist_test_set(count: int, rng: np.random.Generator | int | None = None) -> LabeledSet:
    """``count`` random MNIST test digits as model inputs (float32 in [0, 1])."""
    from digitlib.drawings import data

    images, labels = data.load_mnist("test")
    rows = np.sort(
        np.random.default_rng(rng).choice(len(images), min(count, len(images)), replace=False)
    )
    return LabeledSet(
        images[rows].astype(np.float32) / 255,
        labels[rows].astype(np.int64),
        np.full(len(rows), "digit"),
    )


def decide_labels(probabilities: np.ndarray, min_confidence: float | None = None) -> np.ndarray:
    """The label the recognizer reports for each single-segment model input: what
    ``recognize.decide`` makes of its probabilities with ``recognize.DecisionParams()`` (its
    ``min_confidence`` replaced when given), for a digit-shaped segment: the recognizer's
    further checks of a segment's shape (holes, stroke length, width) need the drawing and are
    left out. Returns int64 (N,)."""
    from dataclasses import replace

    from digitlib.recognize import DecisionParams, decide

    probabilities = check_probabilities(probabilities)
    params = DecisionParams()
    if min_confidence is not None:
        params = replace(params, min_confidence=min_confidence)
    square = [(0, 0, 1, 1)]
    return np.array(
        [decide(row[None], None, square, params)[0][0][0] for row in probabilities], np.int64
    )


def operating_threshold() -> float:
    """The recognizer's "other" threshold: ``recognize.DecisionParams().min_confidence``."""
    from digitlib.recognize import DecisionParams

    return float(DecisionParams().min_confidence)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts of (true class, reported class): int64 (11, 11), rows true, columns reported."""
    labels = np.asarray(labels, np.int64)
    predicted = np.asarray(predicted, np.int64)
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(
            f"labels and predicted must be 1-D of the same length, got {labels.shape} and "
            f"{predicted.shape}"
        )
    if len(labels) and (
        min(labels.min(), predicted.min()) < 0 or max(labels.max(), predicted.max()) >= NUM_CLASSES
    ):
        raise ValueError(f"classes must be in 0..{NUM_CLASSES - 1}")
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def plot_confusion_matrices(matrices: Mapping[str, np.ndarray], *, title: str):
    """One confusion matrix per model, side by side: colors are the share of each true class
    (row), numbers the counts; rows with no examples are left blank. Returns a Figure."""
    if not matrices:
        raise ValueError("plot_confusion_matrices needs at least one matrix")
    from matplotlib.colors import PowerNorm

    names = list(matrices)
    columns = min(len(names), 2)
    rows = int(np.ceil(len(names) / columns))
    figure = new_figure(6.2 * columns, 5.6 * rows)
    grid = figure.subplots(rows, columns, squeeze=False)
    ticks = np.arange(NUM_CLASSES)
    for axes, name in zip(grid.flat, names, strict=False):
        matrix = np.asarray(matrices[name])
        totals = matrix.sum(axis=1, keepdims=True)
        shares = np.divide(matrix, totals, out=np.full(matrix.shape, np.nan), where=totals > 0)
        # A power scale keeps a handful of mistakes visible next to a full diagonal.
        shown = axes.imshow(shares, cmap="Blues", norm=PowerNorm(0.35, vmin=0, vmax=1))
        correct = np.trace(matrix) / max(matrix.sum(), 1)
        for row in range(NUM_CLASSES):
            for column in range(NUM_CLASSES):
                if matrix[row, column]:
                    dark = shares[row, column] > 0.3
                    axes.text(
                        column,
                        row,
                        str(matrix[row, column]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if dark else "black",
                    )
        axes.set_xticks(ticks, CLASS_NAMES, fontsize=8, rotation=90)
        axes.set_yticks(ticks, CLASS_NAMES, fontsize=8)
        axes.set_xlabel("reported class")
        axes.set_ylabel("true class")
        axes.set_title(f"{name}: {correct:.1%} correct")
    for axes in list(grid.flat)[len(names) :]:
        axes.set_visible(False)
    figure.colorbar(shown, ax=grid, label="share of the true class", shrink=0.6)
    figure.suptitle(title)
    return figure


def worst_misreads(labels: np.ndarray, probabilities: np.ndarray, count: int = 25) -> np.ndarray:
    """Indices of the ``count`` inputs the model gets most wrong: among those whose reported
    label (``decide_labels``) is wrong, the lowest probability of the true class first."""
    labels = np.asarray(labels, np.int64)
    probabilities = check_probabilities(probabilities, len(labels))
    wrong = np.flatnonzero(decide_labels(probabilities) != labels)
    true_probability = probabilities[wrong, labels[wrong]]
    return wrong[np.argsort(true_probability, kind="stable")[:count]]


def plot_misreads(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    indices: np.ndarray,
    *,
    title: str,
    columns: int = 5,
):
    """The inputs at ``indices`` with what was drawn, what was read, and the model's two most
    likely classes with their probabilities. Returns a Figure."""
    images = check_images(images)
    labels = np.asarray(labels, np.int64)
    probabilities = check_probabilities(probabilities, len(images))
    indices = np.asarray(indices, np.int64)
    if len(indices) == 0:
        figure = new_figure(5, 1.2)
        axes = figure.subplots()
        axes.text(0.5, 0.5, "no misreads in this sample", ha="center", va="center")
        hide_ticks(axes)
        axes.set_xlabel("(nothing to show)")
        axes.set_ylabel("misreads")
        figure.suptitle(title)
        return figure
    reported = decide_labels(probabilities[indices])
    captions = []
    for index, label in zip(indices, reported, strict=True):
        row = probabilities[index]
        true = labels[index]
        best = int(np.argmax(row))
        if best == true:  # the right digit, but not likely enough: reported as "other"
            odds = f"p({CLASS_NAMES[true]}) {row[true]:.2f}, below threshold"
        else:
            odds = (
                f"p({CLASS_NAMES[best]}) {row[best]:.2f}, p({CLASS_NAMES[true]}) {row[true]:.2f}"
            )
        captions.append(f"drawn {CLASS_NAMES[true]}, read {CLASS_NAMES[label]}\n{odds}")
    return image_grid(
        list(images[indices]),
        columns=columns,
        title=title,
        captions=captions,
        xlabel="model input: drawn class, reported class, probability of the top class and of the true one",
        ylabel="worst first",
        cell=1.5,
    )


@dataclass(frozen=True)
class ThresholdCurve:
    """How the "other" threshold trades rejected digits against accepted doodles.

    ``thresholds`` (T,): values of ``DecisionParams.min_confidence``; ``digits_rejected`` (T,):
    share of digits reported as "other"; ``digits_misread`` (T,): share reported as another
    digit; ``doodles_accepted`` (T,): share of doodles reported as a digit.
    """

    thresholds: np.ndarray
    digits_rejected: np.ndarray
    digits_misread: np.ndarray
    doodles_accepted: np.ndarray


def threshold_curve(
    labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray
) -> ThresholdCurve:
    """Decide every input (``decide_labels``) at each threshold. ``labels``: int (N,) with
    digits and ``OTHER`` (doodles); ``probabilities``: (N, 11); ``thresholds``: (T,) in [0, 1]."""

    labels = np.asarray(labels, np.int64)
    probabilities = check_probabilities(probabilities, len(labels))
    thresholds = np.asarray(thresholds, np.float64)
    digits, doodles = labels != OTHER, labels == OTHER
    if not digits.any() or not doodles.any():
        raise ValueError("threshold_curve needs both digits and doodles (label OTHER)")
    rejected, misread, accepted = [], [], []
    for threshold in thresholds:
        reported = decide_labels(probabilities, threshold)
        rejected.append(float((reported[digits] == OTHER).mean()))
        misread.append(float(((reported != labels) & (reported != OTHER))[digits].mean()))
        accepted.append(float((reported[doodles] != OTHER).mean()))
    return ThresholdCurve(thresholds, np.array(rejected), np.array(misread), np.array(accepted))


def plot_threshold_curves(
    curves: Mapping[str, ThresholdCurve], operating_threshold: float, *, title: str
):
    """Left: doodles accepted against digits rejected as the threshold moves, one curve per
    model, the operating point marked. Right: the ensemble's shares (digits rejected, digits
    misread, doodles accepted) against the threshold. Returns a Figure."""
    if not curves:
        raise ValueError("plot_threshold_curves needs at least one curve")
    figure = new_figure(11.5, 4.6)
    trade_axes, threshold_axes = figure.subplots(1, 2)
    for (name, curve), color in zip(curves.items(), palette_colors(len(curves)), strict=True):
        trade_axes.plot(
            curve.digits_rejected * 100, curve.doodles_accepted * 100, color=color, label=name
        )
        at = int(np.argmin(np.abs(curve.thresholds - operating_threshold)))
        trade_axes.plot(
            curve.digits_rejected[at] * 100,
            curve.doodles_accepted[at] * 100,
            marker="o",
            markersize=9,
            color=color,
            markeredgecolor="black",
        )
    trade_axes.plot(
        [],
        [],
        marker="o",
        linestyle="",
        color="gray",
        markeredgecolor="black",
        label=f"operating point ({operating_threshold:g})",
    )
    trade_axes.set_xscale("symlog", linthresh=1.0)  # the interesting part is the first percent
    trade_axes.set_xlabel("held-out digits reported as 'other' (%, log scale above 1)")
    trade_axes.set_ylabel("held-out doodles reported as a digit (%)")
    trade_axes.set_title("trade-off as the threshold moves")
    trade_axes.grid(alpha=0.3)
    trade_axes.legend(fontsize=8)
    shown = "ensemble" if "ensemble" in curves else next(iter(curves))
    curve = curves[shown]
    threshold_axes.plot(curve.thresholds, curve.digits_rejected * 100, label="digits rejected")
    threshold_axes.plot(
        curve.thresholds, curve.digits_misread * 100, label="digits read as another digit"
    )
    threshold_axes.plot(curve.thresholds, curve.doodles_accepted * 100, label="doodles accepted")
    threshold_axes.axvline(operating_threshold, color="black", linewidth=1, linestyle=":")
    threshold_axes.text(
        operating_threshold,
        1.0,
        " operating point",
        fontsize=8,
        transform=threshold_axes.get_xaxis_transform(),
        va="top",
    )
    threshold_axes.set_xlabel("min_confidence: a digit below it is reported as 'other'")
    threshold_axes.set_ylabel("share (%)")
    threshold_axes.set_title(f"{shown}: each share against the threshold")
    threshold_axes.grid(alpha=0.3)
    threshold_axes.legend(fontsize=8)
    figure.suptitle(title)
    return figure


def threshold_table(curves: Mapping[str, ThresholdCurve], operating_threshold: float) -> Table:
    """Each model's shares at the operating threshold."""
    rows = []
    for name, curve in curves.items():
        at = int(np.argmin(np.abs(curve.thresholds - operating_threshold)))
        rows.append(
            (
                name,
                float(curve.thresholds[at]),
                float(curve.digits_rejected[at]),
                float(curve.digits_misread[at]),
                float(curve.doodles_accepted[at]),
            )
        )
    return Table(
        ("model", "threshold", "digits rejected", "digits misread", "doodles accepted"),
        tuple(rows),
        "At the operating point",
    )


def predict_all(recognizer, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every model's and the ensemble's probabilities for a batch of model inputs, with the
    recognizer's models and ensemble weights: name -> float32 (N, 11)."""
    from digitlib.models.ensemble import Ensemble

    images = check_images(images)
    return Ensemble(recognizer.models, recognizer.weights).predict_all(images)


def confusion_matrices(
    labels: np.ndarray, probabilities: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``confusion_matrix`` of the reported labels (``decide_labels``) of each model."""
    return {
        name: confusion_matrix(labels, decide_labels(values))
        for name, values in probabilities.items()
    }
