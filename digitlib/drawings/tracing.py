"""Strokes from a bitmap: thin an image's ink to a one-pixel skeleton and trace it as strokes.

MNIST's 60,000 training digits, by several hundred writers, exist only as 28x28 bitmaps, while
the drawing styles of ``digitlib.drawings.styles`` (finger, mouse, thick and thin pens) and the stroke
augmentation of ``digitlib.image.augment`` change strokes. Tracing an MNIST digit's skeleton gives
strokes those can change, so that many more hands than the 25 training writers of pendigits can
be drawn the ways people draw on a canvas.

- ``thin``: Zhang and Suen's parallel thinning (Comm. ACM 27(3), 1984) of a boolean mask;
- ``trace``: the skeleton's pixels walked into strokes, going straight through crossings;
- ``image_strokes``: an ink image (white ink on black, MNIST's form) to strokes, y down.

The strokes follow the pen's path only where the skeleton shows it: stroke order and direction
are not recoverable from a bitmap, so the traced strokes start at the top-most free end.
"""

from __future__ import annotations

import numpy as np

#: Offsets of a pixel's 8 neighbours, clockwise from the one above (Zhang-Suen's P2..P9).
_RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def thin(mask: np.ndarray) -> np.ndarray:
    """The one-pixel-wide skeleton of ``mask`` (bool (H, W)): bool (H, W), a subset of it."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise ValueError(f"thin() needs a 2-D mask, got shape {mask.shape}")
    image = np.pad(mask, 1).astype(np.uint8)
    height, width = mask.shape
    while True:
        changed = False
        for step in (0, 1):
            ring = [image[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in _RING]
            p2, p3, p4, p5, p6, p7, p8, p9 = ring
            count = sum(p.astype(np.int16) for p in ring)
            closed = ring + [p2]
            transitions = sum(
                ((closed[i] == 0) & (closed[i + 1] == 1)).astype(np.int16) for i in range(8)
            )
            if step == 0:
                side = ((p2 & p4 & p6) == 0) & ((p4 & p6 & p8) == 0)
            else:
                side = ((p2 & p4 & p8) == 0) & ((p2 & p6 & p8) == 0)
            core = image[1:-1, 1:-1]
            remove = (core == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                core[remove] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def _neighbours(skeleton: np.ndarray) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Each skeleton pixel's neighbours; a diagonal step is left out where a pixel beside both
    ends joins them already (so a staircase is one path, not a ring of triangles)."""
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeleton), strict=True)}
    graph: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for r, c in pixels:
        near = []
        for dr, dc in _RING:
            other = (r + dr, c + dc)
            if other not in pixels:
                continue
            if dr and dc and ((r + dr, c) in pixels or (r, c + dc) in pixels):
                continue
            near.append(other)
        graph[(r, c)] = near
    return graph


def _direction(path: list[tuple[int, int]], back: int = 3) -> np.ndarray:
    start = np.asarray(path[max(0, len(path) - 1 - back)], float)
    vector = np.asarray(path[-1], float) - start
    norm = np.hypot(*vector)
    return vector / norm if norm else vector


def trace(skeleton: np.ndarray, max_turn_degrees: float = 60.0) -> list[np.ndarray]:
    """The skeleton (bool (H, W), one pixel wide) walked into strokes: float32 (P, 2) arrays of
    (x, y) pixel centres, y down.

    Walks start at free ends (top-most first), then at crossings, then anywhere on a closed
    loop; every step between neighbouring pixels is walked once. At a crossing a walk goes on
    along the straightest untaken step when it turns less than ``max_turn_degrees``, as a pen
    draws through the middle of a 4 or an 8.
    """
    graph = _neighbours(np.asarray(skeleton, bool))
    walked: set[frozenset] = set()

    def free(pixel):
        return [q for q in graph[pixel] if frozenset((pixel, q)) not in walked]

    def order(pixels):
        return sorted(pixels)

    ends = order(p for p, near in graph.items() if len(near) == 1)
    crossings = order(p for p, near in graph.items() if len(near) >= 3)
    cos_limit = np.cos(np.radians(max_turn_degrees))
    strokes: list[np.ndarray] = []
    for start in [*ends, *crossings, *order(graph)]:
        while free(start):
            path = [start, min(free(start))]
            walked.add(frozenset(path))
            while True:
                options = free(path[-1])
                if not options:
                    break
                if len(options) > 1 or len(graph[path[-1]]) > 2:
                    heading = _direction(path)
                    scored = []
                    for q in options:
                        step = np.asarray(q, float) - np.asarray(path[-1], float)
                        scored.append((float(heading @ (step / np.hypot(*step))), q))
                    best_cos, best = max(scored)
                    if best_cos < cos_limit:
                        break
                else:
                    best = options[0]
                walked.add(frozenset((path[-1], best)))
                path.append(best)
            points = np.asarray(path, np.float32)[:, ::-1]  # (row, col) -> (x, y)
            strokes.append(points)
    return strokes


def image_strokes(
    image: np.ndarray, *, scale: int = 2, level: float = 0.35, min_length: float = 0.12
) -> list[np.ndarray]:
    """An ink image's strokes: float32 (P, 2) arrays of (x, y), y down, in the image's own
    pixels (upscaled by ``scale`` before thinning; coordinates are divided back).

    ``image``: (H, W) ink, white on black (uint8 0-255 or float in [0, 1]), as MNIST's.
    ``level``: the share of the brightest ink above which a pixel is ink. Strokes shorter than
    ``min_length`` times the drawing's larger side are dropped (a thinned blot leaves such
    spurs) unless nothing longer is left. Returns [] for an image without ink.
    """
    import cv2

    image = np.asarray(image, np.float32)
    if image.ndim != 2:
        raise ValueError(f"image_strokes() needs a 2-D ink image, got shape {image.shape}")
    peak = float(image.max()) if image.size else 0.0
    if peak <= 0:
        return []
    large = cv2.resize(image / peak, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    skeleton = thin(large > level)
    from digitlib.drawings.styles import smooth

    # A skeleton's pixel steps are a staircase: smoothing over ~2 pixels makes them a line.
    strokes = [((smooth(s, 1.5) + 0.5) / scale - 0.5).astype(np.float32) for s in trace(skeleton)]
    if not strokes:
        return []
    points = np.concatenate(strokes)
    size = float(np.ptp(points, axis=0).max()) or 1.0
    lengths = [float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) for s in strokes]
    kept = [s for s, n in zip(strokes, lengths, strict=True) if n >= min_length * size]
    return kept or [strokes[int(np.argmax(lengths))]]


__all__ = ["image_strokes", "thin", "trace"]
