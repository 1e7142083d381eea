"""Canvas image -> one region per digit, left to right -> one 28x28 model input per region.

``prepare`` is the one recipe that cuts a drawing into model inputs: recognition reads its
inputs and training from saved drawings (``extract``) learns from the same ones.

A number written on one line is a row of digits side by side; the strokes of one digit sit above
and below each other (a 5's detached top bar, the two strokes of a 4 or a 7, the pieces of a fast
8). So pieces of ink are grouped by how much their horizontal extents overlap, not by distance:
two digits written close together stay apart however small the gap, as long as they do not touch.

Pure functions over arrays: they never change their input and keep no state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from digitlib.image.preprocess import check_image, ink_levels, reading_scale, to_model_input

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class SegmentParams:
    """Thresholds of ``find_segments``; defaults tuned on drawings of training writers.

    ``ink_threshold``: ink level (0-1) above which a pixel is part of a stroke.
    ``merge_overlap``: two pieces belong to one digit when the overlap of their horizontal
    extents is at least this fraction of the narrower one's width.
    ``stack_overlap``: pieces whose horizontal extents overlap at all also merge when their
    vertical extents overlap by less than this fraction of the shorter one's height (one sits
    above the other: a 5's top bar, a 7's crossbar).
    ``piece_fraction`` and ``piece_gap``: a group shorter than ``piece_fraction`` times the
    tallest group is a piece of a digit, not a digit of the number (digits of one number have
    similar heights): it joins the nearest group beside it when the horizontal gap between them
    is below ``piece_gap`` times the tallest group's height and the two together are at most
    ``piece_width`` times that height wide (a 4's second stroke, a 5's bar drawn off to the
    right, a 7's crossbar; not a flat 0 beside a 7).
    ``speck_fraction`` and ``speck_strokes``: a group of ink is a speck, dropped, when its longer
    side is below ``speck_fraction`` times the tallest group's height and below ``speck_strokes``
    stroke widths.
    ``hole_area``: an enclosed paper area counts as a hole (``Region.holes``) when it is larger
    than this many stroke widths squared (the small loops where a stroke crosses itself do not).
    ``slash_ratio``: a single piece of ink inside a hole of another (``Region.nested``) at least
    this many times longer than wide is the slash of a slashed zero, not a doodle's inner part.
    ``max_pieces``: at most this many pieces of ink are considered (the largest ones); a canvas
    full of noise stays fast.
    """

    ink_threshold: float = 0.5
    merge_overlap: float = 0.5
    stack_overlap: float = 0.25
    piece_fraction: float = 0.8
    piece_gap: float = 0.15
    piece_width: float = 1.0
    speck_fraction: float = 0.2
    speck_strokes: float = 2.5
    hole_area: float = 4.0
    slash_ratio: float = 3.0
    max_pieces: int = 200


DEFAULT_PARAMS = SegmentParams()


@dataclass(frozen=True)
class Region:
    """One segment of a drawing.

    ``box``: (x, y, width, height) in image pixels (column, row of the top-left corner).
    ``mask``: bool array of shape (height, width), True on the ink of this segment inside ``box``
    (ink of other segments that reaches into the box is False).
    ``holes``: how many enclosed paper areas larger than a few stroke widths squared the
    segment has (a 0 has one, an 8 two). ``length``: the length of its strokes (ink area over
    stroke width) in units of the box's longer side: about 1 for a 1, at most about 3.7 for
    digits, often more for a doodle.
    """

    box: Box
    mask: np.ndarray
    holes: int = 0
    length: float = 0.0
    nested: int = 0


def _binary(ink: np.ndarray, threshold: float) -> np.ndarray:
    import cv2

    ink = np.asarray(ink)
    if ink.ndim != 2:
        raise ValueError(f"ink must be a 2-D array (H, W), got shape {ink.shape}")
    if ink.dtype == np.uint8:  # 0-255 ink levels
        level = int(np.ceil(threshold * 255.0)) - 1  # THRESH_BINARY keeps values > level
        _, binary = cv2.threshold(np.ascontiguousarray(ink), level, 1, cv2.THRESH_BINARY)
        return binary
    source = np.ascontiguousarray(ink, dtype=np.float32)
    _, binary = cv2.threshold(source, threshold - 1e-6, 1.0, cv2.THRESH_BINARY)
    return binary.astype(np.uint8)


def _group_pieces(boxes: np.ndarray, params: SegmentParams) -> list[list[int]]:
    """Indices of the pieces of each digit, by horizontal overlap (union until nothing changes).

    ``boxes``: int (P, 4) of (x, y, width, height). Groups keep growing: a group's extent is the
    union of its pieces', so a piece that overlaps the merged extent joins it too.
    """
    groups = [[index] for index in range(len(boxes))]
    extents = [
        (int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in boxes
    ]  # left, top, right, bottom
    changed = True
    while changed:
        changed = False
        order = sorted(range(len(groups)), key=lambda g: extents[g][0])
        groups = [groups[g] for g in order]
        extents = [extents[g] for g in order]
        index = 0
        while index < len(groups):
            other = index + 1
            while other < len(groups):
                a, b = extents[index], extents[other]
                if b[0] >= a[2]:  # sorted by left edge: nothing further right overlaps
                    break
                overlap = min(a[2], b[2]) - max(a[0], b[0])
                narrower = min(a[2] - a[0], b[2] - b[0])
                vertical = min(a[3], b[3]) - max(a[1], b[1])
                shorter = min(a[3] - a[1], b[3] - b[1])
                if overlap >= params.merge_overlap * narrower or (
                    overlap > 0 and vertical < params.stack_overlap * shorter
                ):
                    groups[index] += groups.pop(other)
                    extents.pop(other)
                    extents[index] = (
                        min(a[0], b[0]),
                        min(a[1], b[1]),
                        max(a[2], b[2]),
                        max(a[3], b[3]),
                    )
                    changed = True
                    other = index + 1
                else:
                    other += 1
            index += 1
    return groups


def union_box(boxes: Sequence[Box] | np.ndarray) -> Box:
    """The smallest (x, y, width, height) box holding every one of ``boxes``.

    ``boxes``: a non-empty sequence of (x, y, width, height) boxes, or an int array of shape
    (P, 4) of them. Returns a tuple of Python ints.
    """
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    if not len(boxes):
        raise ValueError("union_box needs at least one (x, y, width, height) box, got none")
    left, top = (int(value) for value in boxes[:, :2].min(axis=0))
    right, bottom = (int(value) for value in (boxes[:, :2] + boxes[:, 2:]).max(axis=0))
    return (left, top, right - left, bottom - top)


def _attach_small_pieces(
    groups: list[list[int]], group_boxes: list[Box], stroke: float, params: SegmentParams
) -> tuple[list[list[int]], list[Box]]:
    """Join groups much shorter than the tallest one to the nearest group beside them."""
    groups, group_boxes = list(groups), list(group_boxes)
    while len(groups) > 1:
        tallest = max(box[3] for box in group_boxes)
        speck_size = min(params.speck_fraction * tallest, params.speck_strokes * stroke)
        best = None  # (gap, piece index, neighbour index)
        for index, (x, _, width, height) in enumerate(group_boxes):
            if height >= params.piece_fraction * tallest or max(width, height) < speck_size:
                continue
            for other, (other_x, _, other_width, _) in enumerate(group_boxes):
                if other == index:
                    continue
                gap = max(other_x - (x + width), x - (other_x + other_width))
                union = max(x + width, other_x + other_width) - min(x, other_x)
                if (
                    gap < params.piece_gap * tallest
                    and union <= params.piece_width * tallest  # the joined digit is not too wide
                    and (best is None or gap < best[0])
                ):
                    best = (gap, index, other)
        if best is None:
            break
        _, index, other = best
        x0, y0, w0, h0 = group_boxes[index]
        x1, y1, w1, h1 = group_boxes[other]
        left, top = min(x0, x1), min(y0, y1)
        merged_box = (left, top, max(x0 + w0, x1 + w1) - left, max(y0 + h0, y1 + h1) - top)
        merged = groups[index] + groups[other]
        for position in sorted((index, other), reverse=True):
            groups.pop(position)
            group_boxes.pop(position)
        groups.append(merged)
        group_boxes.append(merged_box)
    return groups, group_boxes


def _nested_pieces(members, outer, contours, holes, boxes, stroke, params) -> int:
    """How many pieces of a group lie inside a hole of another piece of the group.

    ``members``: indices into ``outer`` (top-level contour indices) and ``boxes`` (their
    (x, y, width, height)); ``holes``: ``(member, hole contour)`` for the group's holes larger
    than ``params.hole_area`` stroke widths squared. A piece counts when its longer side is at
    least ``params.speck_strokes`` stroke widths (a stray dot inside a 0 does not) and a point
    of its outline is inside a hole of another member.
    """
    import cv2

    if len(members) < 2 or not holes:
        return 0
    inside = []
    for member in members:
        if max(boxes[member][2], boxes[member][3]) < params.speck_strokes * stroke:
            continue
        x, y = (float(v) for v in contours[outer[member]][0][0])
        if any(
            owner != member and cv2.pointPolygonTest(hole, (x, y), False) > 0
            for owner, hole in holes
        ):
            inside.append(member)
    if len(inside) == 1:  # a slashed zero's slash is one straight stroke
        (_, _), sides, _ = cv2.minAreaRect(contours[outer[inside[0]]])
        if max(sides) >= params.slash_ratio * max(min(sides), stroke):
            return 0
    return len(inside)


def find_segments(ink: np.ndarray, params: SegmentParams = DEFAULT_PARAMS) -> list[Region]:
    """The digits (or other drawings) on a canvas, left to right.

    Pieces of ink (outer contours of the binarized ink) are grouped into one segment when their
    horizontal extents overlap a lot or one sits above the other; groups much smaller than the
    drawing and than a few stroke widths (specks) are dropped.

    Parameters
    ----------
    ink : ndarray of shape (H, W), float32 in [0, 1] (1 = ink), or uint8 0-255
        As ``digitlib.image.preprocess.ink_from_image`` returns it.
    params : SegmentParams
        Thresholds.

    Returns
    -------
    list of Region, left to right (by the center of the box). Empty when there is no ink.
    """
    import cv2

    binary = _binary(ink, params.ink_threshold)
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    # RETR_CCOMP: top-level contours (no parent) are the pieces' outlines, the others holes.
    outer = [i for i in range(len(contours)) if hierarchy[0][i][3] < 0]
    children: dict[int, list[int]] = {}
    for index, parent in enumerate(hierarchy[0][:, 3]):
        if parent >= 0:
            children.setdefault(int(parent), []).append(index)
    outline = sum(cv2.arcLength(contour, True) for contour in contours)
    stroke = 2.0 * cv2.countNonZero(binary) / max(outline, 1.0)
    boxes = np.array([cv2.boundingRect(contours[i]) for i in outer], np.int64).reshape(-1, 4)
    if len(outer) > params.max_pieces:
        keep = np.argsort(-(boxes[:, 2] * boxes[:, 3]))[: params.max_pieces]
        outer = [outer[i] for i in sorted(keep)]
        boxes = boxes[sorted(keep)]
    groups = _group_pieces(boxes, params)
    group_boxes = [union_box(boxes[members]) for members in groups]
    groups, group_boxes = _attach_small_pieces(groups, group_boxes, stroke, params)
    tallest = max(box[3] for box in group_boxes)
    speck_size = min(params.speck_fraction * tallest, params.speck_strokes * stroke)
    regions = []
    for members, box in zip(groups, group_boxes, strict=True):
        x, y, width, height = box
        if max(width, height) < speck_size:
            continue
        mask = np.zeros((height, width), np.uint8)
        cv2.drawContours(mask, [contours[outer[i]] for i in members], -1, 1, -1, offset=(-x, -y))
        mask &= binary[y : y + height, x : x + width]  # holes are not ink
        holes = [
            (i, contours[hole])
            for i in members
            for hole in children.get(outer[i], ())
            if cv2.contourArea(contours[hole]) > params.hole_area * stroke * stroke
        ]
        length = cv2.countNonZero(mask) / max(stroke, 1.0) / max(width, height)
        nested = _nested_pieces(members, outer, contours, holes, boxes, stroke, params)
        regions.append(Region(box, mask.astype(bool), len(holes), float(length), nested))
    regions.sort(key=lambda region: (region.box[0] + region.box[2] / 2, region.box[1]))
    return regions


def region_ink(ink: np.ndarray, region: Region) -> np.ndarray:
    """The ink of one region alone: float32 (height, width), other segments' ink removed."""
    x, y, width, height = region.box
    crop = np.asarray(ink[y : y + height, x : x + width], np.float32)
    if np.asarray(ink).dtype == np.uint8:
        crop = crop / 255.0
    return np.where(region.mask, crop, np.float32(0.0)).astype(np.float32)


@dataclass(frozen=True)
class Prepared:
    """A drawing cut into model inputs, one per segment: what training and reading both use.

    ``boxes``: (x, y, width, height) of each segment, left to right, in the original image's
    pixels. ``inputs``: float32 (28, 28) in [0, 1] per segment, white ink on black.
    With several segments, ``whole_box`` bounds them all and ``whole_input()`` makes the whole
    drawing's input, float32 (28, 28): only when a reading needs it, which a number of sure
    digits does not (``digitlib.recognize.decision.whole_matters``).
    """

    boxes: list[Box]
    inputs: list[np.ndarray]
    whole_box: Box | None
    #: (holes, length, nested) per segment (``Region``).
    shapes: list[tuple[int, float, int]] = field(default_factory=list)
    #: float32 (28, 28) of all the drawing's ink; None for fewer than two segments.
    whole_input: Callable[[], np.ndarray] | None = None
    #: The image's (height, width) in pixels: the frame strokes are checked against.
    size: tuple[int, int] = (0, 0)
    #: The drawing's checked strokes (float64 (n, 2) arrays of x, y), or None without strokes
    #: (set by ``digitlib.recognize`` when a drawing is read with its strokes).
    strokes: list[np.ndarray] | None = None
    #: Per segment, the indices of its strokes (``digitlib.drawings.strokes.assign``).
    stroke_indices: list[list[int]] | None = None

    def owned(self, index: int | None) -> tuple[int, ...]:
        """The strokes of segment ``index`` (None: of the whole drawing, every stroke that
        belongs to a segment), in drawing order; () without strokes."""
        if self.stroke_indices is None:
            return ()
        if index is None:
            return tuple(sorted(i for indices in self.stroke_indices for i in indices))
        return tuple(self.stroke_indices[index])


def _region_input(levels: np.ndarray, region: Region) -> np.ndarray:
    """The model input of one region: float32 (28, 28) of its own ink in uint8 ``levels``
    (H, W), other segments' ink masked out."""
    import cv2

    x, y, width, height = region.box
    crop = levels[y : y + height, x : x + width]
    return to_model_input(cv2.bitwise_and(crop, crop, mask=region.mask.view(np.uint8)))


def _whole_input(levels: np.ndarray, box: Box) -> np.ndarray:
    """The whole drawing's model input: float32 (28, 28) of all ink of uint8 ``levels`` (H, W)
    in the union ``box`` of the segments' boxes; a speck inside it is too small to matter."""
    x, y, width, height = box
    return to_model_input(levels[y : y + height, x : x + width])


def _scale_box(box: Box, factor: int, shape: tuple[int, ...]) -> Box:
    """``box`` of an image shrunk ``factor`` times, in the pixels of the original of ``shape``
    (clipped to it: the shrink drops an odd last row or column)."""
    x, y, width, height = (value * factor for value in box)
    return (x, y, min(width, shape[1] - x), min(height, shape[0] - y))


def prepare(image: np.ndarray | bytes, params: SegmentParams = DEFAULT_PARAMS) -> Prepared:
    """Check and cut a canvas image into model inputs: the one recipe of training and reading.

    ``image``: uint8 (H, W), (H, W, 3) or (H, W, 4), or PNG/JPEG bytes
    (``digitlib.image.preprocess.check_image``; ``ValueError`` saying what was expected otherwise).

    A large canvas with wide strokes is shrunk first by a power of two
    (``digitlib.image.preprocess.reading_scale``): every step after it costs in proportion to the
    pixels, and the model inputs come out nearly the same. Boxes are given in the original's
    pixels. Training from saved drawings (``extract``) and recognition
    (``digitlib.recognize``) both call this, so a model learns from exactly the inputs it reads.
    """
    import cv2

    image = check_image(image)
    factor = reading_scale(image)
    small = image
    for _ in range(factor.bit_length() - 1):  # halve: OpenCV's fastest exact shrink
        height, width = small.shape[:2]
        small = cv2.resize(
            small[: height - height % 2, : width - width % 2],
            (width // 2, height // 2),
            interpolation=cv2.INTER_AREA,
        )
    levels = ink_levels(small)
    regions = find_segments(levels, params)
    inputs = [_region_input(levels, region) for region in regions]
    boxes = [region.box for region in regions]
    whole_box = whole_input = None
    if len(regions) > 1:
        whole_box = union_box(boxes)
        whole_input = functools.partial(_whole_input, levels, whole_box)
    if factor > 1:
        boxes = [_scale_box(box, factor, image.shape) for box in boxes]
        whole_box = _scale_box(whole_box, factor, image.shape) if whole_box else None
    shapes = [(region.holes, region.length, region.nested) for region in regions]
    return Prepared(boxes, inputs, whole_box, shapes, whole_input, image.shape[:2])


def extract(
    image: np.ndarray | bytes, params: SegmentParams = DEFAULT_PARAMS
) -> list[tuple[Box, np.ndarray]]:
    """Canvas image -> ``[(box, model_input), ...]`` left to right.

    ``image`` as ``prepare`` accepts it; each ``box`` is (x, y, width, height) in the image's
    pixels and each ``model_input`` float32 (28, 28) in [0, 1]: exactly ``prepare``'s boxes and
    inputs, the ones recognition reads. Empty list for an empty canvas.
    """
    prepared = prepare(image, params)
    return list(zip(prepared.boxes, prepared.inputs, strict=True))
