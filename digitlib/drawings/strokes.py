"""The pen's path as a model input: checking, resampling, encoding and augmenting strokes.

A drawing's strokes are a sequence, in drawing order, of (n, 2) or (n, 3) arrays of x (column)
and y (row) in the image's pixels, optionally a time in ms (ignored: pens, fingers and mice
sample at different rates, so only the path counts). ``encode`` turns the strokes of one segment
into what the stroke model reads, float32 (POINTS, CHANNELS):

- the path is moved so that its bounding box is centred on 0 and scaled so that its longer side
  spans [-1, 1] (aspect kept): size and position on the canvas do not matter;
- ``POINTS`` points are spread along the ink by arc length, each stroke getting a share of them
  in proportion to its length (at least one): a mouse's few points and a pen's many give the
  same input;
- per point: x, y; dx, dy to the next point (times ``STEP_SCALE``; the jump to the next stroke
  included, so the order of strokes is visible); 1 where the pen lifts after the point (and at
  the last point); 1 where a stroke starts.

``augment`` makes variants that people write for the same shape: strokes reversed (a 0 drawn
either way), strokes in another order (a 5's bar first or last), a stroke split where the pen
lifted or two strokes joined, a slight rotation, shear and stretch, and sparse or jittered
points. All functions are pure: inputs are never changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate

import numpy as np

#: Points per encoded segment.
POINTS = 64
#: Channels per point: x, y, dx, dy, pen lifts after, stroke starts.
CHANNELS = 6
#: dx, dy are multiplied by this: at 64 points a step is ~1/20 of the box, brought to ~1.
STEP_SCALE = 8.0
#: At most this many points in one drawing's strokes (a 100,000-point stroke is refused).
MAX_POINTS = 20_000
#: At most this many strokes in one drawing.
MAX_STROKES = 500

Strokes = list[np.ndarray]


def check_strokes(
    strokes: object,
    image_shape: tuple[int, ...] | None = None,
    *,
    max_points: int = MAX_POINTS,
    max_strokes: int = MAX_STROKES,
    margin: float = 2.0,
) -> Strokes:
    """Validate strokes and return them as float64 (n, 2) arrays of (x, y), time dropped.

    ``strokes``: a sequence of strokes in drawing order, each array-like of shape (n, 2) or
    (n, 3) with n >= 1: x (column), y (row), optionally a time in ms. ``image_shape``: when
    given, every point must lie within the image ((H, W[, C]); up to ``margin`` pixels outside
    is allowed, for a brush's edge). Raises ``ValueError`` saying what was expected.
    """
    if isinstance(strokes, str | bytes | np.ndarray) or not isinstance(strokes, Sequence):
        raise ValueError(
            "strokes must be a list of strokes, each an array of shape (n, 2) or (n, 3) of "
            f"x, y[, t] points; got {type(strokes).__name__}"
        )
    if len(strokes) > max_strokes:
        raise ValueError(f"a drawing may have at most {max_strokes} strokes, got {len(strokes)}")
    arrays, total = [], 0
    for index, stroke in enumerate(strokes):
        # Shapes are checked stroke by stroke, values (finite, inside the image) for all strokes
        # at once; before a shape error the strokes before it have their values checked, so
        # the error is about the first wrong stroke in drawing order.
        try:
            array = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            _check_values(arrays, image_shape, margin)
            raise ValueError(
                f"stroke {index} is not an array of numbers; expected shape (n, 2) or (n, 3) "
                "of x, y[, t] points"
            ) from None
        if array.ndim != 2 or array.shape[1] not in (2, 3) or len(array) == 0:
            _check_values(arrays, image_shape, margin)
            raise ValueError(
                f"stroke {index} has shape {array.shape}; expected (n, 2) or (n, 3) with n >= 1 "
                "(x, y[, t] per point)"
            )
        total += len(array)
        if total > max_points:
            _check_values(arrays, image_shape, margin)
            raise ValueError(
                f"the strokes have more than {max_points} points; a drawing has at most that many"
            )
        arrays.append(array)
    if not arrays:
        return []
    points = _check_values(arrays, image_shape, margin)
    # Views of one new array: one copy for all strokes, none shared with the caller's.
    if len(arrays) == 1:
        return [points]
    starts = accumulate([len(array) for array in arrays], initial=0)
    return [
        points[start : start + len(array)] for start, array in zip(starts, arrays, strict=False)
    ]


def _check_values(
    arrays: list[np.ndarray], image_shape: tuple[int, ...] | None, margin: float
) -> np.ndarray | None:
    """The (x, y) points of ``arrays`` (float64 strokes of shape (n, 2) or (n, 3)) in one new
    float64 (P, 2) array; None for no strokes. Raises ``ValueError`` about the first stroke
    with a NaN or infinite coordinate or, given ``image_shape``, a point outside the image."""
    if not arrays:
        return None
    points = (
        np.concatenate([array[:, :2] for array in arrays])
        if len(arrays) > 1
        else arrays[0][:, :2].copy()
    )
    low_x, low_y = points.min(axis=0).tolist()
    high_x, high_y = points.max(axis=0).tolist()
    # A NaN makes the minimum and maximum NaN, an infinity is one of them.
    good = all(math.isfinite(value) for value in (low_x, low_y, high_x, high_y))
    times = [array[:, 2] for array in arrays if array.shape[1] == 3]
    if good and times:
        good = bool(np.isfinite(np.concatenate(times)).all())
    if good and image_shape is not None:
        height, width = image_shape[:2]
        good = min(low_x, low_y) >= -margin and high_x <= width + margin
        good = good and high_y <= height + margin
    if good:
        return points
    for index, array in enumerate(arrays):  # something is wrong: find the stroke, name it
        if not np.isfinite(array).all():
            raise ValueError(f"stroke {index} has a NaN or infinite coordinate; expected numbers")
        if image_shape is not None:
            height, width = image_shape[:2]
            low, high = array[:, :2].min(axis=0), array[:, :2].max(axis=0)
            if (low < -margin).any() or high[0] > width + margin or high[1] > height + margin:
                raise ValueError(
                    f"stroke {index} leaves the image: its points span x {low[0]:g}..{high[0]:g}"
                    f", y {low[1]:g}..{high[1]:g}, the image is {width}x{height} pixels "
                    "(x is the column, y the row)"
                )
    return points


def clip_to_image(strokes: Sequence[np.ndarray], shape: tuple[int, ...]) -> Strokes:
    """Strokes with every point moved inside an image of ``shape`` ((H, W[, C])), as a canvas
    records a pen that leaves it at its edge: float64 (n, 2) arrays, the input unchanged."""
    height, width = shape[:2]
    limit = np.array([width - 1, height - 1], np.float64)
    return [np.clip(np.asarray(s, np.float64)[:, :2], 0, limit) for s in strokes]


def normalize(strokes: Strokes) -> Strokes:
    """Strokes moved so their bounding box is centred on 0 and scaled so its longer side spans
    [-1, 1] (aspect ratio kept). A single point stays at 0."""
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    middle = (low + high) / 2
    half = float((high - low).max()) / 2
    scale = 1.0 / half if half > 1e-9 else 1.0
    return [(stroke - middle) * scale for stroke in strokes]


def _lengths(stroke: np.ndarray) -> np.ndarray:
    return np.hypot(*np.diff(stroke, axis=0).T) if len(stroke) > 1 else np.zeros(0)


def along(stroke: np.ndarray, count: int) -> np.ndarray:
    """``count`` points spread evenly by arc length along ``stroke`` (n, 2), both ends included
    (one point: the stroke's middle by length). Returns float64 (count, 2)."""
    steps = _lengths(stroke)
    total = float(steps.sum())
    if total <= 1e-12 or len(stroke) == 1:
        return np.repeat(stroke[:1], count, axis=0)
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    targets = np.linspace(0.0, total, count) if count > 1 else np.array([total / 2])
    return np.stack([np.interp(targets, cumulative, stroke[:, axis]) for axis in range(2)], axis=1)


def shares(lengths: Sequence[float], points: int) -> np.ndarray:
    """How many of ``points`` each stroke gets: in proportion to its length, at least one each
    (strokes beyond ``points`` get none). Returns int64 of len(lengths), summing to
    min(points, ...) exactly ``points`` when there is at least one stroke."""
    lengths = np.asarray(lengths, np.float64)
    count = len(lengths)
    result = np.zeros(count, np.int64)
    if count == 0:
        return result
    if count >= points:
        result[:points] = 1
        return result
    result[:] = 1
    spare = points - count
    total = lengths.sum()
    weights = lengths / total if total > 1e-12 else np.full(count, 1.0 / count)
    ideal = weights * spare
    extra = np.floor(ideal).astype(np.int64)
    left = spare - int(extra.sum())
    if left:
        order = np.argsort(-(ideal - extra), kind="stable")
        extra[order[:left]] += 1
    return result + extra


#: Between strokes in ``_resample_all``'s joined arc length: any gap > 0 keeps them apart.
_GAP = 1.0


def _resample_all(
    points: np.ndarray, sizes: list[int], stroke_counts: list[int], count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``resample`` of several drawings at once, in one ``np.interp`` per axis over the arc
    length of all their strokes joined (each stroke ``_GAP`` after the one before).

    ``points``: float64 (P, 2), every stroke of every drawing in order; ``sizes``: the points
    of each stroke (each >= 1); ``stroke_counts``: the strokes of each drawing (each >= 1).
    Returns ``(positions, counts, starts)``: float64 (D, count, 2); how many points each
    stroke got (``shares``); bool (D, count), True where a stroke starts.
    """
    starts = list(accumulate(sizes, initial=0))[:-1]
    steps = np.empty(len(points))
    difference = points[1:] - points[:-1]
    steps[1:] = np.hypot(difference[:, 0], difference[:, 1])
    # Each stroke's length is the sum of its own steps, as ``along`` and ``shares`` always took
    # it (the same numbers summed in the same order): the shares come out the same, to the bit.
    lengths = [
        float(steps[start + 1 : start + size].sum())
        for start, size in zip(starts, sizes, strict=True)
    ]
    steps[starts] = _GAP
    distance = steps.cumsum()
    if len(stroke_counts) == 1:
        counts = shares(lengths, count).tolist()
    else:
        firsts = accumulate(stroke_counts, initial=0)
        counts = [
            n
            for first, strokes in zip(firsts, stroke_counts, strict=False)
            for n in shares(lengths[first : first + strokes], count).tolist()
        ]
    # ``along`` per stroke, as the start and step of its points on the joined arc length: both
    # ends included; one point the middle by length; a dot (no length) its first point.
    bases, spacings = [], []
    for size, length, offset, n in zip(
        sizes, lengths, distance[starts].tolist(), counts, strict=True
    ):
        if length <= 1e-12 or size == 1:
            bases.append(offset)
            spacings.append(0.0)
        elif n == 1:
            bases.append(offset + length / 2)
            spacings.append(0.0)
        else:
            bases.append(offset)
            spacings.append(length / (n - 1))
    firsts = list(accumulate(counts, initial=0))[:-1]
    # One ``repeat`` of the strokes' numbers to their points (``np.repeat`` of lists costs more).
    base, spacing, first = np.array([bases, spacings, firsts]).repeat(counts, axis=1)
    rank = np.arange(count * len(stroke_counts)) - first
    targets = base + rank * spacing
    positions = np.empty((len(targets), 2))
    positions[:, 0] = np.interp(targets, distance, points[:, 0])
    positions[:, 1] = np.interp(targets, distance, points[:, 1])
    shape = (len(stroke_counts), count)
    return positions.reshape(*shape, 2), counts, (rank == 0).reshape(shape)


def _joined(drawings: Sequence[Strokes]) -> tuple[np.ndarray, list[int], list[int]]:
    """Every stroke of ``drawings`` in one float64 (P, 2) array, with the points of each stroke
    and the strokes of each drawing."""
    stroke_counts = [len(strokes) for strokes in drawings]
    if 0 in stroke_counts:
        raise ValueError("encode needs at least one stroke")
    strokes = [stroke for drawing in drawings for stroke in drawing]
    sizes = [len(stroke) for stroke in strokes]
    if 0 in sizes:
        raise ValueError("encode needs strokes of at least one point")
    return np.concatenate(strokes).astype(np.float64, copy=False), sizes, stroke_counts


def resample(strokes: Strokes, points: int = POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The path resampled to ``points`` points (``shares`` of them per stroke, ``along`` each).

    Returns ``(positions, stroke_of)``: float64 (points, 2) and int64 (points,), the index of
    the stroke each point lies on, in drawing order.
    """
    positions, counts, _ = _resample_all(*_joined([strokes]), points)
    return positions[0], np.arange(len(strokes)).repeat(counts)


def encode(strokes: Strokes, points: int = POINTS) -> np.ndarray:
    """One segment's strokes (float (n, 2) arrays, any pixel scale, in drawing order) as the
    stroke model's input: float32 (points, CHANNELS) (see the module docstring)."""
    return encode_many([strokes], points)[0]


def encode_many(drawings: Sequence[Strokes], points: int = POINTS) -> np.ndarray:
    """``encode`` each drawing: float32 (N, points, CHANNELS). All drawings are resampled
    together (``_resample_all``): a reading's segments cost about one."""
    encoded = np.zeros((len(drawings), points, CHANNELS), np.float32)
    if not len(drawings):
        return encoded
    joined, sizes, stroke_counts = _joined(drawings)
    # ``normalize`` of each drawing: its bounding box centred on 0, the longer side [-1, 1].
    if len(drawings) == 1:
        point_counts = [len(joined)]
        lows, highs = [joined.min(axis=0).tolist()], [joined.max(axis=0).tolist()]
    else:
        ends = list(accumulate(sizes))
        point_starts = [0, *(ends[at - 1] for at in accumulate(stroke_counts[:-1]))]
        point_counts = [
            b - a for a, b in zip(point_starts, [*point_starts[1:], len(joined)], strict=True)
        ]
        lows = np.minimum.reduceat(joined, point_starts, axis=0).tolist()
        highs = np.maximum.reduceat(joined, point_starts, axis=0).tolist()
    middles, scales = [], []
    for (low_x, low_y), (high_x, high_y) in zip(lows, highs, strict=True):
        middles.append(((low_x + high_x) / 2, (low_y + high_y) / 2))
        half = max(high_x - low_x, high_y - low_y) / 2
        scales.append(1.0 / half if half > 1e-9 else 1.0)
    if len(drawings) == 1:
        normalized = (joined - np.array(middles[0])) * scales[0]
    else:
        # Each point's drawing's middle and scale, (P, 3), in one ``repeat``.
        frames = [[*middle, scale] for middle, scale in zip(middles, scales, strict=True)]
        centring = np.array(frames).repeat(point_counts, axis=0)
        normalized = (joined - centring[:, :2]) * centring[:, 2:]
    positions, _, starts = _resample_all(normalized, sizes, stroke_counts, points)
    encoded[:, :, :2] = positions
    encoded[:, :-1, 2:4] = (positions[:, 1:] - positions[:, :-1]) * STEP_SCALE
    encoded[:, :-1, 4] = starts[:, 1:]
    encoded[:, -1, 4] = 1.0
    encoded[:, :, 5] = starts
    return encoded


# --- augmentation -----------------------------------------------------------------------------


def reverse_some(strokes: Strokes, rng: np.random.Generator, chance: float) -> Strokes:
    """Each stroke drawn the other way round with probability ``chance``."""
    return [s[::-1].copy() if rng.random() < chance else s for s in strokes]


def reorder(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """The strokes in a random order."""
    return [strokes[int(i)] for i in rng.permutation(len(strokes))]


def split_one(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """One stroke of at least 6 points cut in two at a random point (the pen lifted there)."""
    long_ones = [i for i, s in enumerate(strokes) if len(s) >= 6]
    if not long_ones:
        return list(strokes)
    index = long_ones[int(rng.integers(len(long_ones)))]
    stroke = strokes[index]
    cut = int(rng.integers(2, len(stroke) - 2))
    return [*strokes[:index], stroke[: cut + 1], stroke[cut:], *strokes[index + 1 :]]


def join_two(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """Two strokes in a row joined into one (the pen not lifted between them)."""
    if len(strokes) < 2:
        return list(strokes)
    index = int(rng.integers(len(strokes) - 1))
    joined = np.concatenate([strokes[index], strokes[index + 1]])
    return [*strokes[:index], joined, *strokes[index + 2 :]]


def distort(strokes: Strokes, rng: np.random.Generator, amount: float = 1.0) -> Strokes:
    """A random small rotation (up to 12 degrees), shear (0.25) and stretch (20%), scaled by
    ``amount``."""
    angle = np.deg2rad(rng.uniform(-12, 12) * amount)
    shear = rng.uniform(-0.25, 0.25) * amount
    stretch = np.exp(rng.uniform(-0.2, 0.2) * amount)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.array([[stretch, shear], [0.0, 1.0 / stretch]])
    return [s @ matrix.T for s in strokes]


def jitter(strokes: Strokes, rng: np.random.Generator, amount: float) -> Strokes:
    """Gaussian noise of ``amount`` times the drawing's size on every point."""
    size = float(np.ptp(np.concatenate(strokes), axis=0).max()) or 1.0
    return [s + rng.normal(0, amount * size, s.shape) for s in strokes]


def thin_out(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """Every stroke keeps every k-th point (k of 2-5) and its ends, as a mouse samples."""
    step = int(rng.integers(2, 6))
    kept = []
    for stroke in strokes:
        picked = stroke[::step]
        if len(stroke) > 1 and not np.array_equal(picked[-1], stroke[-1]):
            picked = np.concatenate([picked, stroke[-1:]])
        kept.append(picked)
    return kept


def augment(
    strokes: Strokes,
    rng: np.random.Generator | int | None = None,
    *,
    reverse: float = 0.5,
    order: float = 0.5,
    split: float = 0.1,
    join: float = 0.1,
) -> Strokes:
    """A variant of ``strokes`` as another person may write the same shape (see the module
    docstring): each stroke reversed with probability ``reverse``, the strokes reordered with
    probability ``order``, a stroke split or two joined with ``split`` / ``join``, always a
    slight distortion, and sometimes sparse or jittered points. Returns float64 arrays."""
    rng = np.random.default_rng(rng)
    strokes = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes]
    if rng.random() < split:
        strokes = split_one(strokes, rng)
    if rng.random() < join:
        strokes = join_two(strokes, rng)
    if reverse:
        strokes = reverse_some(strokes, rng, reverse)
    if rng.random() < order:
        strokes = reorder(strokes, rng)
    strokes = distort(strokes, rng)
    if rng.random() < 0.3:
        strokes = thin_out(strokes, rng)
    if rng.random() < 0.3:
        strokes = jitter(strokes, rng, rng.uniform(0.003, 0.015))
    return strokes


# --- strokes and segments ---------------------------------------------------------------------


def assign(
    strokes: Strokes, boxes: Sequence[tuple[int, int, int, int]], margin: float = 0.08
) -> list[list[int]]:
    """Which strokes belong to which segment: for each of ``boxes`` ((x, y, width, height) in
    the strokes' pixels), the indices of the strokes, in drawing order, whose points fall into
    it most often (each box widened by ``margin`` of its longer side and 2 pixels, for the
    brush's edge). A stroke in no box (a speck segmentation dropped) belongs to none; a stroke
    in two is given to the one holding more of its points, on a tie the nearer centre."""
    assigned: list[list[int]] = [[] for _ in boxes]
    if not len(boxes):
        return assigned
    frames = np.asarray(boxes, np.float64)
    pad = margin * frames[:, 2:].max(axis=1) + 2.0
    low = frames[:, :2] - pad[:, None]
    high = frames[:, :2] + frames[:, 2:] + pad[:, None]
    centres = frames[:, :2] + frames[:, 2:] / 2
    if not len(strokes):
        return assigned
    arrays = [np.asarray(stroke, np.float64)[:, :2] for stroke in strokes]
    points = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    inside = ((points[None] >= low[:, None]) & (points[None] <= high[:, None])).all(axis=2)
    sizes = [len(array) for array in arrays]
    if len(arrays) == 1:
        counts = inside.sum(axis=1)[:, None]
    elif 0 in sizes:  # a stroke without points is in no box (``reduceat`` would count one)
        counts = np.zeros((len(frames), len(arrays)), np.int64)
        drawn = np.array(sizes) > 0
        first = np.cumsum(sizes) - sizes
        counts[:, drawn] = np.add.reduceat(inside, first[drawn], axis=1, dtype=np.int64)
    else:
        first = list(accumulate(sizes, initial=0))[:-1]
        counts = np.add.reduceat(inside, first, axis=1, dtype=np.int64)
    for index, column in enumerate(counts.T.tolist()):  # per stroke: its points in each box
        most = max(column)
        if most == 0:
            continue
        best = [box for box, count in enumerate(column) if count == most]
        if len(best) > 1:
            distance = np.hypot(*(centres[best] - arrays[index].mean(axis=0)).T)
            best = [best[int(np.argmin(distance))]]
        assigned[best[0]].append(index)
    return assigned
