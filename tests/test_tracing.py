"""Strokes from bitmaps (``digitlib.tracing``): thinning and tracing on small drawn masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitlib import tracing


def _drawn(draw, size: int = 40) -> np.ndarray:
    image = np.zeros((size, size), np.uint8)
    draw(image)
    return image


def _degrees(skeleton: np.ndarray) -> np.ndarray:
    padded = np.pad(skeleton.astype(np.int16), 1)
    count = sum(
        np.roll(np.roll(padded, dy, 0), dx, 1)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    )[1:-1, 1:-1]
    return count[skeleton]


def test_thin_leaves_a_one_pixel_line_inside_a_thick_one():
    bar = _drawn(lambda im: cv2.line(im, (5, 20), (34, 20), 255, 7)) > 0
    skeleton = tracing.thin(bar)
    assert skeleton.sum() >= 20  # the line's length, not a dot
    assert not (skeleton & ~bar).any()
    rows = np.nonzero(skeleton.any(axis=1))[0]
    assert len(rows) == 1 and abs(int(rows[0]) - 20) <= 1


def test_thin_keeps_a_ring_closed():
    ring = _drawn(lambda im: cv2.circle(im, (20, 20), 12, 255, 4)) > 0
    skeleton = tracing.thin(ring)
    degrees = _degrees(skeleton)
    assert skeleton.sum() > 50
    assert (degrees >= 2).all()  # no free end: the ring did not break


def test_thin_refuses_what_is_not_a_2d_mask():
    with pytest.raises(ValueError, match="2-D mask"):
        tracing.thin(np.zeros((2, 3, 4), bool))


def test_trace_walks_a_corner_as_one_stroke_and_a_cross_as_two_straight_ones():
    corner = tracing.thin(
        _drawn(
            lambda im: cv2.polylines(im, [np.array([[5, 5], [5, 34], [34, 34]])], False, 255, 3)
        )
        > 0
    )
    strokes = tracing.trace(corner)
    assert len(strokes) == 1
    ends = strokes[0][[0, -1]]  # the corner's two free ends, at (5, 5) and (34, 34)
    assert np.linalg.norm(ends[0] - ends[1]) > 35

    def cross(im):
        cv2.line(im, (5, 20), (34, 20), 255, 3)
        cv2.line(im, (20, 5), (20, 34), 255, 3)

    strokes = tracing.trace(tracing.thin(_drawn(cross) > 0))
    long_ones = [s for s in strokes if len(s) > 10]
    assert len(long_ones) == 2
    for stroke in long_ones:  # each goes straight through the crossing
        extent = np.ptp(stroke, axis=0)
        assert extent.max() > 24 and extent.min() <= 3


def test_trace_walks_every_pixel_step_once():
    eight = _drawn(
        lambda im: (cv2.circle(im, (20, 12), 7, 255, 2), cv2.circle(im, (20, 27), 8, 255, 2))
    )
    skeleton = tracing.thin(eight > 0)
    strokes = tracing.trace(skeleton)
    points = {tuple(p) for s in strokes for p in np.round(s).astype(int)}
    pixels = {(int(c), int(r)) for r, c in zip(*np.nonzero(skeleton), strict=True)}
    assert points == pixels


def test_image_strokes_of_a_drawn_digit_lie_on_its_ink():
    seven = _drawn(
        lambda im: cv2.polylines(im, [np.array([[6, 5], [22, 5], [11, 24]])], False, 255, 3), 28
    )
    strokes = tracing.image_strokes(seven)
    assert 1 <= len(strokes) <= 2
    points = np.concatenate(strokes)
    assert points.dtype == np.float32 and points.shape[1] == 2
    ink = cv2.dilate((seven > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    columns, rows = np.clip(np.round(points).astype(int), 0, 27).T
    assert ink[rows, columns].mean() > 0.95
    # The whole 7, not a part (thinning shortens each end by about half the line width).
    assert np.ptp(points[:, 0]) > 10 and np.ptp(points[:, 1]) > 15


def test_image_strokes_of_an_empty_image_is_no_stroke():
    assert tracing.image_strokes(np.zeros((28, 28), np.uint8)) == []
    with pytest.raises(ValueError, match="2-D ink image"):
        tracing.image_strokes(np.zeros((28, 28, 3), np.uint8))
