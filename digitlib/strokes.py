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

from collections.abc import Sequence

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
    checked, total = [], 0
    for index, stroke in enumerate(strokes):
        try:
            array = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"stroke {index} is not an array of numbers; expected shape (n, 2) or (n, 3) "
                "of x, y[, t] points"
            ) from None
        if array.ndim != 2 or array.shape[1] not in (2, 3) or len(array) == 0:
            raise ValueError(
                f"stroke {index} has shape {array.shape}; expected (n, 2) or (n, 3) with n >= 1 "
                "(x, y[, t] per point)"
            )
        total += len(array)
        if total > max_points:
            raise ValueError(
                f"the strokes have more than {max_points} points; a drawing has at most that many"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"stroke {index} has a NaN or infinite coordinate; expected numbers")
        points = array[:, :2]
        if image_shape is not None:
            height, width = image_shape[:2]
            low, high = points.min(axis=0), points.max(axis=0)
            if (low < -margin).any() or high[0] > width + margin or high[1] > height + margin:
                raise ValueError(
                    f"stroke {index} leaves the image: its points span x {low[0]:g}..{high[0]:g}"
                    f", y {low[1]:g}..{high[1]:g}, the image is {width}x{height} pixels "
                    "(x is the column, y the row)"
                )
        checked.append(points.copy())
    return checked


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


def resample(strokes: Strokes, points: int = POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The path resampled to ``points`` points (``shares`` of them per stroke, ``along`` each).

    Returns ``(positions, stroke_of)``: float64 (points, 2) and int64 (points,), the index of
    the stroke each point lies on, in drawing order.
    """
    counts = shares([float(_lengths(s).sum()) for s in strokes], points)
    positions = [along(stroke, int(n)) for stroke, n in zip(strokes, counts, strict=True) if n]
    stroke_of = np.repeat(np.arange(len(strokes)), counts)
    return np.concatenate(positions), stroke_of


def encode(strokes: Strokes, points: int = POINTS) -> np.ndarray:
    """One segment's strokes (float (n, 2) arrays, any pixel scale, in drawing order) as the
    stroke model's input: float32 (points, CHANNELS) (see the module docstring)."""
    if not len(strokes):
        raise ValueError("encode needs at least one stroke")
    positions, stroke_of = resample(normalize(strokes), points)
    encoded = np.zeros((points, CHANNELS), np.float32)
    encoded[:, :2] = positions
    encoded[:-1, 2:4] = np.diff(positions, axis=0) * STEP_SCALE
    lifts = np.ones(points, bool)
    lifts[:-1] = stroke_of[1:] != stroke_of[:-1]
    encoded[:, 4] = lifts
    starts = np.ones(points, bool)
    starts[1:] = stroke_of[1:] != stroke_of[:-1]
    encoded[:, 5] = starts
    return encoded


def encode_many(drawings: Sequence[Strokes], points: int = POINTS) -> np.ndarray:
    """``encode`` each drawing: float32 (N, points, CHANNELS)."""
    out = np.zeros((len(drawings), points, CHANNELS), np.float32)
    for index, strokes in enumerate(drawings):
        out[index] = encode(strokes, points)
    return out


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
    for index, stroke in enumerate(strokes):
        points = np.asarray(stroke, np.float64)[:, :2]
        inside = ((points[None] >= low[:, None]) & (points[None] <= high[:, None])).all(axis=2)
        counts = inside.sum(axis=1)
        if counts.max() == 0:
            continue
        best = np.flatnonzero(counts == counts.max())
        if len(best) > 1:
            distance = np.hypot(*(centres[best] - points.mean(axis=0)).T)
            best = best[[int(np.argmin(distance))]]
        assigned[int(best[0])].append(index)
    return assigned
