"""Choosing how the stroke model's reading joins the image models' (``decision.FusionParams``).

The fusion is chosen on hands that neither the image models nor the stroke model trained on
(``train_strokes.fusion_drawings``: a UNIPEN institution and five pendigits writers, their
digits and their letters and signs), never on the held-out rows that ``digitlib evaluate``
reports. Each drawing is drawn on a random canvas in the styles of ``styles.STYLES`` in turn;
half of them are read with their strokes in another order and direction than they were drawn
(the image is the same): a new writer's odd habits must not be read worse than the picture
alone reads them, and a fusion fitted only on tidy pen data over-trusts the strokes.

The rule, written before looking at the figures: among the candidates whose worst writer (or
institution) is read no worse than with the image alone, the one with the best mean accuracy
over digits and non-digits; the image alone (weight 0) when none is.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from digitlib.config import OTHER
from digitlib.drawings import strokes as pen
from digitlib.recognize.decision import FusionParams, fuse

#: The candidates tried: every combination of these.
WEIGHTS = (0.3, 0.5, 0.7, 1.0)
KEEP_IMAGE = (0.9, 0.95, 0.97, 0.99, 1.01)
STROKE_SURE = (0.8, 0.9, 0.95, 0.99, 1.01)
#: (other_veto, veto_image_below) pairs; (1.01, 0.0) is no veto.
VETOES = ((1.01, 0.0), (0.8, 0.97), (0.9, 0.97), (0.9, 0.99), (0.95, 0.99), (0.95, 0.999))


@dataclass(frozen=True)
class FusionReadings:
    """One-segment readings of the fusion drawings: ``images`` and ``strokes`` float32 (N, 11)
    (the image ensemble's probabilities and the stroke model's), ``labels`` int64 (N,) 0-10,
    ``groups`` (N,) the writer of each digit or "other"."""

    images: np.ndarray
    strokes: np.ndarray
    labels: np.ndarray
    groups: list[str]


@dataclass(frozen=True)
class FusionChoice:
    """The chosen ``params``, its mean ``accuracy`` and worst group's ``worst`` accuracy, and
    the image alone's (``image_accuracy``, ``image_worst``); ``candidates`` tried."""

    params: FusionParams
    accuracy: float
    worst: float
    image_accuracy: float
    image_worst: float
    candidates: int
    drawings: int

    def to_json(self) -> dict:
        return {**asdict(self), "params": asdict(self.params)}


def read_for_fusion(recognizer, stroke_set, rng: np.random.Generator | int | None = 0):
    """Draw each of ``stroke_set`` (``train_strokes.StrokeSet``) on a canvas and read it with
    ``recognizer`` (which must hold a stroke model) with its strokes, half of them reordered
    and reversed. Drawings that do not read as one segment are left out (the fusion works per
    segment). Returns ``FusionReadings``."""
    from digitlib.drawings.styles import STYLES, render_in_style

    rng = np.random.default_rng(rng)
    if recognizer.stroke_model is None:
        raise ValueError("read_for_fusion needs a recognizer with a stroke model")
    canvases, paths = [], []
    for index, strokes in enumerate(stroke_set.drawings):
        canvas, path = render_in_style(strokes, STYLES[index % len(STYLES)], rng, traced=True)
        if rng.random() < 0.5:
            path = pen.reorder(pen.reverse_some(list(path), rng, 0.5), rng)
        canvases.append(canvas)
        paths.append(pen.clip_to_image(path, canvas.shape))
    images, strokes, labels, groups = [], [], [], []
    for start in range(0, len(canvases), 100):
        results = recognizer.recognize_many(
            canvases[start : start + 100], strokes=paths[start : start + 100]
        )
        for offset, result in enumerate(results):
            if len(result.segments) != 1 or "images" not in result.segments[0].probabilities:
                continue
            probabilities = result.segments[0].probabilities
            index = start + offset
            images.append(probabilities["images"])
            strokes.append(probabilities["strokes"])
            labels.append(int(stroke_set.labels[index]))
            groups.append(
                stroke_set.groups[index] if stroke_set.labels[index] != OTHER else "other"
            )
    return FusionReadings(
        np.asarray(images, np.float32),
        np.asarray(strokes, np.float32),
        np.asarray(labels, np.int64),
        groups,
    )


def reading_accuracy(
    probabilities: np.ndarray, labels: np.ndarray, min_confidence: float = 0.6
) -> np.ndarray:
    """Whether each row reads right: bool (N,). A row's best class, made "other" when it is a
    digit less likely than ``min_confidence`` (the decision's bar)."""
    best = probabilities.argmax(axis=1)
    sure = probabilities[np.arange(len(best)), best] >= min_confidence
    read = np.where((best != OTHER) & ~sure, OTHER, best)
    return read == labels


def _score(right: np.ndarray, labels: np.ndarray, groups: list[str]) -> tuple[float, float]:
    """(mean of the digits' and the non-digits' accuracy, worst group's accuracy)."""
    digits = labels != OTHER
    mean = (right[digits].mean() + right[~digits].mean()) / 2
    names = np.asarray(groups)
    worst = min(right[names == g].mean() for g in np.unique(names))
    return float(mean), float(worst)


def choose_fusion(readings: FusionReadings, min_confidence: float = 0.6) -> FusionChoice:
    """The fusion chosen by the rule of the module docstring."""
    labels, groups = readings.labels, readings.groups
    if not len(labels) or (labels == OTHER).all() or (labels != OTHER).all():
        raise ValueError("choose_fusion needs readings of digits and of non-digits")
    image_right = reading_accuracy(readings.images, labels, min_confidence)
    image_mean, image_worst = _score(image_right, labels, groups)
    names = np.asarray(groups)
    image_by_group = {g: image_right[names == g].mean() for g in np.unique(names)}
    best = None
    candidates = 0
    for weight, keep, sure, (veto, below) in itertools.product(
        WEIGHTS, KEEP_IMAGE, STROKE_SURE, VETOES
    ):
        candidates += 1
        params = FusionParams(weight, keep, sure, other_veto=veto, veto_image_below=below)
        right = reading_accuracy(fuse(readings.images, readings.strokes, params), labels)
        if any(right[names == g].mean() < image_by_group[g] for g in image_by_group):
            continue
        mean, worst = _score(right, labels, groups)
        if best is None or mean > best[1]:
            best = (params, mean, worst)
    if best is None:
        best = (FusionParams(weight=0.0), image_mean, image_worst)
    return FusionChoice(
        best[0], best[1], best[2], image_mean, image_worst, candidates, len(labels)
    )
