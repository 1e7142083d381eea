"""digitlib.drawings.tracing: bitmaps thinned and traced into strokes, on small drawn images."""

import cv2
import numpy as np
import pytest

from digitlib.drawings.tracing import image_strokes, thin


def test_thin_leaves_a_one_pixel_line_inside_the_ink():
    mask = np.zeros((20, 20), bool)
    mask[4:16, 8:12] = True  # a bar 4 pixels wide
    skeleton = thin(mask)
    assert skeleton.any() and not (skeleton & ~mask).any()
    assert skeleton.sum(axis=1).max() <= 2  # one pixel across, at most two at a step


def test_an_l_is_traced_as_strokes_covering_its_ink():
    image = np.zeros((28, 28), np.uint8)
    cv2.line(image, (8, 4), (8, 22), 255, 3)
    cv2.line(image, (8, 22), (20, 22), 255, 3)
    strokes = image_strokes(image)
    points = np.concatenate(strokes)
    assert 1 <= len(strokes) <= 2 and all(s.shape[1] == 2 for s in strokes)
    assert points[:, 1].min() < 7 and points[:, 1].max() > 19  # top to bottom (y down)
    assert points[:, 0].max() > 17  # and along the foot


def test_thin_needs_a_2d_mask():
    with pytest.raises(ValueError, match="2-D mask"):
        thin(np.zeros((2, 2, 2), bool))
