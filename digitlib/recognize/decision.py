"""How model probabilities become a reading: the fusion of the image models with the stroke model,
and the decision rules that turn a drawing's probabilities into labels.

Pure functions over small arrays; the ``Recognizer`` (``digitlib.recognize``) calls them.

- ``fuse``: one segment's image-ensemble probabilities and its stroke model's, combined as a
  weighted product (``FusionParams``), gated so that an unsure stroke reading never overrides a
  confident image reading;
- ``decide`` / ``decide_segments`` / ``decide_whole``: labels per segment, numbers, doodles in
  pieces and digits drawn in pieces (``DecisionParams``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digitlib.config import OTHER
from digitlib.image.segment import Box, union_box  # noqa: F401  (read from here too)
from digitlib.recognize.digit_gate import DigitGate


@dataclass(frozen=True)
class FusionParams:
    """How the stroke model's probabilities join the image ensemble's.

    ``fused = normalize(image * strokes ** weight)`` per segment, with two guards: where the
    image models read a digit with at least ``keep_image`` and the stroke model's own best
    class has less than ``stroke_sure``, the image reading stands (a new writer's odd stroke
    order must not undo a clear picture); ``floor`` keeps a near-zero stroke probability from
    vetoing a class outright. Chosen on hands neither model family trained on
    (``digitlib.training.tune_fusion``, written to ``models/fusion.json`` by ``make train``); these
    defaults apply when a models folder has no ``fusion.json``.
    """

    weight: float = 0.7
    keep_image: float = 0.97
    stroke_sure: float = 0.9
    floor: float = 1e-4
    #: "Not a digit" from the strokes: where the stroke model reads "other" with at least
    #: ``other_veto`` and the image models' best class has less than ``veto_image_below``, the
    #: stroke reading stands (a letter's or a doodle's path looks nothing like a digit's even
    #: where its picture does). Above 1: never.
    other_veto: float = 1.01
    veto_image_below: float = 0.99


def fuse(
    image: np.ndarray, strokes: np.ndarray, params: FusionParams = FusionParams()
) -> np.ndarray:
    """Fused class probabilities: float (N, 11) ``image`` and ``strokes`` rows -> float32
    (N, 11), rows summing to 1 (see ``FusionParams``)."""
    image = np.asarray(image, np.float64)
    strokes = np.asarray(strokes, np.float64)
    if image.shape != strokes.shape or image.ndim != 2:
        raise ValueError(
            f"fuse needs image and stroke probabilities of one shape (N, 11), got {image.shape} "
            f"and {strokes.shape}"
        )
    product = np.log(np.maximum(image, 1e-12)) + params.weight * np.log(
        np.maximum(strokes, params.floor)
    )
    product -= product.max(axis=1, keepdims=True)
    fused = np.exp(product)
    fused /= fused.sum(axis=1, keepdims=True)
    best = image.argmax(axis=1)
    keep = (
        (best != OTHER)
        & (image[np.arange(len(image)), best] >= params.keep_image)
        & (strokes.max(axis=1) < params.stroke_sure)
    )
    fused[keep] = image[keep]
    veto = (strokes[:, OTHER] >= params.other_veto) & (image.max(axis=1) < params.veto_image_below)
    fused[veto] = strokes[veto]
    return fused.astype(np.float32)


@dataclass(frozen=True)
class DecisionParams:
    """How model probabilities become labels. The defaults are chosen on training writers and
    kinds only, never the held-out rows; the measurements behind them are in docs/experiments.md.

    ``min_confidence``: a segment whose best digit has a lower probability is "other". 0.6 is
    the highest bar that keeps training writers' digits read as "other" at <= 0.5%.
    ``whole_other``: when a drawing has several segments and the whole drawing, classified as one
    input, is "other" with at least this probability, the drawing is one "other" segment if its
    segments do not look like a number (see below) or any of them reads as "other".
    ``height_ratio``: the digits of a number have similar heights: every segment is at least this
    fraction of the tallest one's height.
    ``line_offset``: ... and sit on one line: each segment's vertical center is within this many
    median segment heights of the median center.
    ``max_aspect``: ... and are not much wider than tall (width / height at most this). 1.8,
    because people draw 0s up to 1.6-1.8 times as wide as tall, and a lower bound makes such a
    zero's number "not a number".
    ``max_holes``: a segment with more holes (``digitlib.image.segment.Region``) than any digit
    has is "other" whatever the models say: digits have at most two, doodles often more.
    ``max_nested``: a segment with more pieces of ink inside its holes (``Region.nested``: a
    clock's hands, a sign's letters, a face's eyes; a slashed zero's slash does not count) is
    "other": no digit has any. Of the shape rules it helps the most on data it was not tuned on.
    ``max_digit_aspect``: a segment more than this many times wider than tall is "other" (no
    training writer's digit is wider than 1.96 times its height).
    ``number_confidence`` and ``number_share``: when the segments sit as the digits of a number
    (``looks_like_number``) and at least ``number_share`` of them read as digits with
    ``min_confidence``, a segment whose best class is a digit needs only ``number_confidence``:
    among digits on a line, an unsure shape is most likely a digit too, and dropping it (or the
    whole drawing, see ``whole_other``) loses the number.
    ``second_look``: a drawing of one segment read as a digit with less than
    ``second_look_below`` is read again from slight variants of its input
    (``augment.second_look_variants``: rotated, scaled, thickened, thinned) and its
    probabilities become their mean; its best digit then needs ``second_look_confidence``
    instead of ``min_confidence``. It costs one more model call, for drawings not read clearly,
    and nine views tell a digit from a doodle better than one. ``second_look_below`` is 0.9,
    above ``min_confidence``, because looking again at fairly sure readings too rejects more
    doodles at no cost in digits; ``second_look_confidence`` is 0.5, a majority of the
    probability over the nine views.
    ``whole_digit`` and ``whole_digit_aspect``: when a segment of a drawing reads as "other" but
    the whole drawing, no wider than ``whole_digit_aspect`` times its height, reads as a digit
    with at least ``whole_digit`` probability, the drawing is that one digit drawn in pieces.
    """

    min_confidence: float = 0.6
    whole_other: float = 0.5
    height_ratio: float = 0.55
    line_offset: float = 0.5
    max_aspect: float = 1.8
    whole_digit: float = 0.9
    whole_digit_aspect: float = 1.0
    max_holes: int = 2
    max_nested: int = 0
    max_digit_aspect: float = 2.0
    number_confidence: float = 0.3
    number_share: float = 0.5
    second_look: bool = True
    second_look_below: float = 0.9
    second_look_confidence: float = 0.5
    #: A learned "digit or not" decision for one-segment drawings read by the ensemble
    #: (``digitlib.recognize.digit_gate``); it replaces ``min_confidence``, ``second_look_confidence`` and the
    #: shape rules there. None: the hand-set rules decide.
    gate: DigitGate | None = None


def looks_like_number(boxes: Sequence[Box], params: DecisionParams) -> bool:
    """Whether segment boxes sit as the digits of one number do.

    Similar heights (each at least ``params.height_ratio`` of the tallest), on one line (vertical
    centers within ``params.line_offset`` median heights of the median center), none much wider
    than tall (``params.max_aspect``).
    """
    # A handful of boxes: plain Python (statistics.median is np.median's value, 10x quicker here).
    heights = [float(box[3]) for box in boxes]
    centers = [box[1] + box[3] / 2 for box in boxes]
    if min(heights) < params.height_ratio * max(heights):
        return False
    middle = statistics.median(centers)
    if max(abs(center - middle) for center in centers) > params.line_offset * statistics.median(
        heights
    ):
        return False
    return all(box[2] <= params.max_aspect * box[3] for box in boxes)


def decide(
    segment_probabilities: np.ndarray,
    whole_probabilities: np.ndarray | None,
    boxes: Sequence[Box],
    params: DecisionParams,
    shapes: Sequence[tuple[int, float, int]] | None = None,
) -> tuple[list[tuple[int, float]], int | None]:
    """Labels and confidences of a drawing's segments, and whether to read the drawing as a whole.

    ``segment_probabilities``: float (S, 11), one row per segment; ``whole_probabilities``:
    float (11,) for the whole drawing, or None for a single segment. Returns ``(labels, whole)``:
    ``labels`` a list of ``(label, confidence)`` per segment (``decide_segments``); ``whole``
    None to report the segments, or the label (``OTHER`` for a doodle, or a digit drawn in
    pieces) of the single segment the whole drawing should be reported as (``decide_whole``).
    ``shapes``: ``(holes, length, nested)`` per segment (``digitlib.image.segment.Region``; ``(holes,
    length)`` is read as no nested pieces), or None to judge by the probabilities alone.
    """
    labels = decide_segments(segment_probabilities, boxes, params, shapes)
    if whole_probabilities is None or not whole_matters(labels, boxes, params):
        return labels, None
    return labels, decide_whole(labels, whole_probabilities, boxes, params)


def has_digit_shape(
    shape: tuple[int, float, int] | tuple[int, float], box: Box, params: DecisionParams
) -> bool:
    """Whether a segment of ``shape`` (``(holes, length, nested)``; ``(holes, length)`` is read
    as no nested pieces) and ``box`` is shaped as digits are: no more holes and nested pieces
    than ``params`` allows, and not too wide (``max_digit_aspect``). The stroke length is not
    judged (it changed no reading; ``DecisionParams``)."""
    holes, _length, *rest = shape
    nested = rest[0] if rest else 0
    return (
        holes <= params.max_holes
        and nested <= params.max_nested
        and box[2] <= params.max_digit_aspect * box[3]
    )


def decide_segments(
    segment_probabilities: np.ndarray,
    boxes: Sequence[Box],
    params: DecisionParams,
    shapes: Sequence[tuple[int, float, int]] | None = None,
) -> list[tuple[int, float]]:
    """``(label, confidence)`` of each segment (arguments as ``decide`` takes them).

    A segment whose best class is a digit keeps it when the digit is likely enough
    (``params.min_confidence``) and the segment's shape is one digits have; otherwise it is
    "other". In a number (segments that ``looks_like_number`` and of which at least
    ``params.number_share`` read as digits that way), the bar for the others is
    ``params.number_confidence``: a shape on the line among digits is most likely a digit too.
    """
    rows = np.asarray(segment_probabilities, np.float64)
    shapes = list(shapes) if shapes is not None else [(0, 0.0, 0)] * len(rows)
    best = rows.argmax(axis=1) if len(rows) else np.zeros(0, np.int64)
    like_digit = [
        has_digit_shape(shape, box, params) for shape, box in zip(shapes, boxes, strict=True)
    ]
    sure = [
        int(label) != OTHER and shaped and row[label] >= params.min_confidence
        for row, label, shaped in zip(rows, best, like_digit, strict=True)
    ]
    threshold = params.min_confidence
    if (
        len(rows) >= 2
        and sum(sure) >= params.number_share * len(rows)
        and looks_like_number(boxes, params)
    ):
        threshold = min(threshold, params.number_confidence)
    labels = []
    for row, label, shaped in zip(rows, best, like_digit, strict=True):
        label, confidence = int(label), float(row[label])
        if label != OTHER and (confidence < threshold or not shaped):
            label, confidence = OTHER, 1.0 - confidence
        labels.append((label, confidence))
    return labels


def whole_matters(
    labels: Sequence[tuple[int, float]], boxes: Sequence[Box], params: DecisionParams
) -> bool:
    """Whether the whole drawing's probabilities can change the reading of segments with
    these ``labels``: with two or more segments, when one reads as "other" or they do not
    look like a number. (A number of digits is read as its digits, whatever the whole.)"""
    if len(labels) < 2:
        return False
    return any(label == OTHER for label, _ in labels) or not looks_like_number(boxes, params)


def decide_whole(
    labels: Sequence[tuple[int, float]],
    whole_probabilities: np.ndarray,
    boxes: Sequence[Box],
    params: DecisionParams,
) -> int | None:
    """What the whole drawing is read as, for segments with ``labels`` where ``whole_matters``:
    ``OTHER`` when the whole reads as "other" with at least ``params.whole_other`` (a doodle
    of several pieces), a digit when a segment reads as "other" but the whole, no wider than
    ``params.whole_digit_aspect`` times its height, reads as that digit with at least
    ``params.whole_digit`` (a digit drawn in pieces, e.g. a 0 drawn as "(" and ")"), else None
    (report the segments)."""
    whole_row = np.asarray(whole_probabilities, np.float64)
    if whole_row[OTHER] >= params.whole_other:
        return OTHER
    whole_label = int(np.argmax(whole_row))
    _, _, width, height = union_box(boxes)
    if (
        any(label == OTHER for label, _ in labels)
        and whole_label != OTHER
        and whole_row[whole_label] >= params.whole_digit
        and width <= params.whole_digit_aspect * height
    ):
        return whole_label
    return None
