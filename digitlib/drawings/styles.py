"""How people draw: stroke-level drawing styles and the digit variants people write.

A drawing is a list of strokes, each a (P, 2) float32 array of (x, y) points, y down
(``digitlib.drawings.data``). The functions here return changed copies (inputs are never changed) and
take their randomness as an ``rng`` parameter. They are used by training (``digitlib.drawings.synthetic``
and ``digitlib.training.train``) and by the evaluation protocol (``digitlib.evaluation.evaluate``), which draws the
held-out writers' digits in every style of ``STYLES``.

Styles (``restyle`` changes the strokes, ``style_width`` picks a stroke width for the style):

- ``"pen"``: the strokes as recorded, any width (the protocol's ``data.random_style``);
- ``"finger"``: a finger on a phone: smooth (no small corners), few points joined by straight
  segments, a thick line, strokes that miss each other at their joins, a slight wobble;
- ``"mouse"``: a mouse: strokes reduced to a few straight segments, with hand jitter;
- ``"thick"``: a felt pen as MNIST's digits were written, 11-20% of the drawing's height wide;
- ``"thin"``: a fine pen, 1.5-3% of the drawing's height wide.

Variants of digits people write that the training writers and MNIST rarely do: ``flag_one``
(a 1 with a long flag and sometimes a foot), ``cross_seven`` (a 7 with a bar through its
stem), ``open_loop`` (a 9 or 4 whose loop is not closed) and ``slash_zero`` (a 0 with a slash).
"""

from __future__ import annotations

import numpy as np

Strokes = list[np.ndarray]

#: The drawing styles of ``restyle``, in the order the evaluation reports them.
STYLES = ("pen", "finger", "mouse", "thick", "thin")

#: Stroke width of each style as a fraction of the drawing's height (its longer side).
STYLE_WIDTHS = {
    "pen": (0.035, 0.16),
    "finger": (0.10, 0.18),
    "mouse": (0.045, 0.10),
    "thick": (0.11, 0.20),
    "thin": (0.015, 0.03),
}


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"unknown drawing style {style!r}; choose one of {', '.join(STYLES)}")


def _as_float(strokes: Strokes) -> list[np.ndarray]:
    if not len(strokes):
        raise ValueError("a drawing needs at least one stroke (a list of (P, 2) point arrays)")
    return [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes]


def _size(strokes: list[np.ndarray]) -> float:
    points = np.concatenate(strokes)
    return float(np.ptp(points, axis=0).max()) or 1.0


def resample(stroke: np.ndarray, spacing: float) -> np.ndarray:
    """Points along ``stroke`` (P, 2) every ``spacing`` units of arc length, ends kept; a stroke
    shorter than ``spacing`` keeps its two ends. Returns float64 (Q, 2)."""
    stroke = np.asarray(stroke, np.float64).reshape(-1, 2)
    if spacing <= 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    if len(stroke) < 2:
        return stroke.copy()
    steps = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    if arc[-1] <= spacing:
        return stroke[[0, -1]].copy()
    count = int(np.ceil(arc[-1] / spacing)) + 1
    at = np.linspace(0, arc[-1], count)
    return np.stack([np.interp(at, arc, stroke[:, 0]), np.interp(at, arc, stroke[:, 1])], 1)


def smooth(stroke: np.ndarray, sigma: float) -> np.ndarray:
    """``stroke`` (P, 2) smoothed by a Gaussian of ``sigma`` points along it, ends kept."""
    stroke = np.asarray(stroke, np.float64).reshape(-1, 2)
    if len(stroke) < 3 or sigma <= 0:
        return stroke.copy()
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(stroke, ((radius, radius), (0, 0)), mode="edge")
    result = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)], 1)
    result[0], result[-1] = stroke[0], stroke[-1]
    return result


def simplify(stroke: np.ndarray, tolerance: float) -> np.ndarray:
    """``stroke`` (P, 2) reduced to the corners of a polyline within ``tolerance`` of it
    (Douglas-Peucker), ends kept."""
    stroke = np.asarray(stroke, np.float64).reshape(-1, 2)
    if len(stroke) < 3:
        return stroke.copy()
    keep = np.zeros(len(stroke), bool)
    keep[[0, -1]] = True
    pending = [(0, len(stroke) - 1)]
    while pending:
        first, last = pending.pop()
        if last - first < 2:
            continue
        a, b = stroke[first], stroke[last]
        middle = stroke[first + 1 : last]
        direction = b - a
        length = float(np.hypot(*direction))
        if length < 1e-9:
            distances = np.linalg.norm(middle - a, axis=1)
        else:
            offsets = middle - a
            cross = direction[0] * offsets[:, 1] - direction[1] * offsets[:, 0]
            distances = np.abs(cross) / length
        farthest = int(np.argmax(distances))
        if distances[farthest] > tolerance:
            index = first + 1 + farthest
            keep[index] = True
            pending += [(first, index), (index, last)]
    return stroke[keep]


def restyle(strokes: Strokes, style: str, rng: np.random.Generator | int | None = None) -> Strokes:
    """A copy of ``strokes`` as drawn in ``style`` (see the module docstring).

    ``strokes``: list of (P, 2) arrays, y down, any scale. Returns a list of float32 (Q, 2)
    arrays at the same scale. ``"pen"``, ``"thick"`` and ``"thin"`` change only the width (see
    ``style_width``) and return the strokes unchanged.
    """
    _check_style(style)
    rng = np.random.default_rng(rng)
    strokes = _as_float(strokes)
    size = _size(strokes)
    if style == "finger":
        changed = []
        for stroke in strokes:
            dense = resample(stroke, size * 0.01)
            rounded = smooth(dense, rng.uniform(2.0, 5.0))  # ~2-5% of the size: no small corners
            sparse = resample(rounded, size * rng.uniform(0.07, 0.14))  # touch events are sparse
            wobble = rng.normal(0, size * 0.015, sparse.shape)
            wobble[[0, -1]] = 0
            shift = rng.normal(0, size * 0.03, 2)  # strokes miss each other where they join
            changed.append(sparse + smooth(wobble, 1.0) + shift)
        # A finger's start and end overshoot a little along the stroke.
        return [_overshoot(s, size * rng.uniform(0.0, 0.04)).astype(np.float32) for s in changed]
    if style == "mouse":
        changed = []
        for stroke in strokes:
            corners = simplify(resample(stroke, size * 0.01), size * rng.uniform(0.03, 0.07))
            dense = resample(corners, size * 0.012)
            jitter = rng.normal(0, size * rng.uniform(0.004, 0.01), dense.shape)
            changed.append((dense + jitter).astype(np.float32))
        return changed
    return [s.astype(np.float32) for s in strokes]


def _overshoot(stroke: np.ndarray, length: float) -> np.ndarray:
    if len(stroke) < 2 or length <= 0:
        return stroke
    start = stroke[0] - length * _unit(stroke[0] - stroke[1])
    end = stroke[-1] + length * _unit(stroke[-1] - stroke[-2])
    return np.concatenate([start[None], stroke, end[None]])


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.hypot(*vector))
    return vector / norm if norm > 1e-9 else np.zeros(2)


def style_width(style: str, drawing_height: float, rng: np.random.Generator | int | None = None):
    """A stroke width in pixels for a drawing ``drawing_height`` pixels tall in ``style``
    (``STYLE_WIDTHS``), at least 1."""
    _check_style(style)
    rng = np.random.default_rng(rng)
    return max(1.0, float(rng.uniform(*STYLE_WIDTHS[style]) * drawing_height))


def render_in_style(
    strokes: Strokes,
    style: str,
    rng: np.random.Generator | int | None = None,
    *,
    canvas_range: tuple[int, int] = (200, 600),
    traced: bool = False,
) -> np.ndarray | tuple[np.ndarray, Strokes]:
    """``strokes`` drawn in ``style`` on a random canvas (``data.random_style``: size, position,
    RGBA or RGB) with the style's stroke width. Returns uint8 (H, W, 4) or (H, W, 3); with
    ``traced``, ``(canvas, strokes)`` as ``data.render_strokes`` does."""
    from dataclasses import replace

    from digitlib.drawings import data

    _check_style(style)
    rng = np.random.default_rng(rng)
    drawn = restyle(strokes, style, rng)
    canvas = data.random_style(rng, canvas_range=canvas_range)
    width = style_width(style, canvas.height, rng)
    # Keep the whole drawing on the canvas when the style's line is wider than the canvas'.
    height = min(canvas.height, min(canvas.canvas_size) - 2.5 * width)
    canvas = replace(canvas, line_width=width, height=max(height, 8.0))
    canvas = replace(canvas, center=_keep_on_canvas(canvas))
    return data.render_strokes(drawn, canvas, traced=traced)


def _keep_on_canvas(style) -> tuple[float, float]:
    rows, columns = style.canvas_size
    margin = style.height / 2 + style.line_width
    x = float(
        np.clip(style.center[0], min(margin, columns / 2), max(columns / 2, columns - margin))
    )
    y = float(np.clip(style.center[1], min(margin, rows / 2), max(rows / 2, rows - margin)))
    return (x, y)


# --- digit variants ---------------------------------------------------------------------------


def _box(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    points = np.concatenate(strokes)
    return points.min(axis=0), points.max(axis=0)


def _segment(a, b, points: int = 8) -> np.ndarray:
    t = np.linspace(0, 1, points)[:, None]
    return np.asarray(a, np.float64) * (1 - t) + np.asarray(b, np.float64) * t


def flag_one(strokes: Strokes, rng: np.random.Generator | int | None = None) -> Strokes:
    """A 1's strokes with a flag drawn from its top down to the left (20-45% of its height,
    often as long as the stem is wide in many European hands) and, a third of the time, a
    foot across its base."""
    rng = np.random.default_rng(rng)
    strokes = _as_float(strokes)
    (left, top), (right, bottom) = _box(strokes)
    height = max(bottom - top, 1e-6)
    points = np.concatenate(strokes)
    top_point = points[np.argmin(points[:, 1])]
    bottom_point = points[np.argmax(points[:, 1])]
    drop = rng.uniform(0.2, 0.45) * height
    reach = rng.uniform(0.2, 0.45) * height
    flag = _segment(top_point + np.array([-reach, drop]), top_point)
    result = [flag, *strokes]
    if rng.uniform() < 0.33:
        half = rng.uniform(0.15, 0.3) * height
        result.append(_segment(bottom_point - [half, 0], bottom_point + [half, 0]))
    return [s.astype(np.float32) for s in result]


def cross_seven(strokes: Strokes, rng: np.random.Generator | int | None = None) -> Strokes:
    """A 7's strokes with a short bar across its stem at 45-65% of its height."""
    rng = np.random.default_rng(rng)
    strokes = _as_float(strokes)
    (left, top), (right, bottom) = _box(strokes)
    height = max(bottom - top, 1e-6)
    level = top + rng.uniform(0.45, 0.65) * height
    dense = np.concatenate([resample(s, height * 0.01) for s in strokes])
    lower = dense[dense[:, 1] > top + 0.2 * height]
    if not len(lower):
        lower = dense
    at = lower[np.argmin(np.abs(lower[:, 1] - level))]
    half = rng.uniform(0.15, 0.28) * height
    tilt = rng.normal(0, 0.04) * height
    bar = _segment((at[0] - half, at[1] + tilt), (at[0] + half, at[1] - tilt))
    return [s.astype(np.float32) for s in [*strokes, bar]]


def open_loop(strokes: Strokes, rng: np.random.Generator | int | None = None) -> Strokes:
    """A 9's or 4's strokes with the start of the first stroke cut off (8-18% of the drawing's
    stroke length), so that a loop drawn from the top is left open, as quick hands draw it."""
    rng = np.random.default_rng(rng)
    strokes = _as_float(strokes)
    first = resample(strokes[0], _size(strokes) * 0.01)
    total = sum(float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) for s in strokes)
    cut = rng.uniform(0.08, 0.18) * total
    steps = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(first, axis=0), axis=1))])
    keep = first[steps >= cut]
    if len(keep) < 2:
        return [s.astype(np.float32) for s in strokes]
    return [s.astype(np.float32) for s in [keep, *strokes[1:]]]


def slash_zero(
    strokes: Strokes, rng: np.random.Generator | int | None = None, through: float = 0.0
) -> Strokes:
    """A 0's strokes plus a slash through it, as people draw a slashed zero.

    Inside the 0 (the default): a straight stroke along a diagonal of its box ("/" mostly,
    sometimes "\\"), starting and ending at random points near or just past the loop. With
    probability ``through``: the way many hands write it (Ø), a stroke through the loop's
    middle at 45-75 degrees, "/" mostly, running out past the loop at both ends, most at the
    start (up to half the loop's half-diagonal), so that the drawing's box holds the tails.
    """
    rng = np.random.default_rng(rng)
    strokes = _as_float(strokes)
    (left, top), (right, bottom) = _box(strokes)
    if through and rng.uniform() < through:
        size = np.array([right - left, bottom - top])
        middle = (np.array([left, top]) + np.array([right, bottom])) / 2
        middle = middle + rng.normal(0, 0.05, 2) * size
        angle = np.deg2rad(rng.uniform(45, 75))
        # Up and to the right ("/") in the image's y-down frame; mirrored ("\\") sometimes.
        direction = np.array([np.cos(angle), -np.sin(angle)])
        if rng.uniform() < 0.15:
            direction[0] = -direction[0]
        reach = float(np.hypot(*size)) / 2
        start = middle - direction * reach * rng.uniform(1.0, 1.5)
        end = middle + direction * reach * rng.uniform(1.0, 1.3)
        return [s.astype(np.float32) for s in [*strokes, _segment(start, end)]]
    start, end = rng.uniform(0.05, 0.3), rng.uniform(0.7, 0.98)
    if rng.uniform() < 0.8:  # "/": from lower left to upper right
        a, b = np.array([left, bottom]), np.array([right, top])
    else:
        a, b = np.array([left, top]), np.array([right, bottom])
    offset = rng.normal(0, 0.04, 2) * (right - left, bottom - top)
    slash = _segment(a + (b - a) * start + offset, a + (b - a) * end + offset)
    return [s.astype(np.float32) for s in [*strokes, slash]]


#: Digit -> the variants of it (functions of ``(strokes, rng)``) that training adds.
DIGIT_VARIANTS = {
    0: (slash_zero,),
    1: (flag_one,),
    4: (open_loop,),
    7: (cross_seven,),
    9: (open_loop,),
}
