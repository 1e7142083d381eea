"""digitlib.recognize.decision: the fusion of image and stroke probabilities on small hand-made rows
(the decision rules are tested through the Recognizer in test_recognize.py)."""

import numpy as np
import pytest

from digitlib.config import OTHER
from digitlib.recognize.decision import FusionParams, fuse, union_box


def row(label: int, confidence: float) -> np.ndarray:
    values = np.full(11, (1.0 - confidence) / 10)
    values[label] = confidence
    return values


def test_fuse_agreeing_models_grow_surer():
    fused = fuse([row(4, 0.8)], [row(4, 0.8)])
    assert fused.dtype == np.float32 and fused.shape == (1, 11)
    assert fused[0].argmax() == 4 and fused[0, 4] > 0.8
    assert fused.sum() == pytest.approx(1.0, abs=1e-6)


def test_fuse_a_sure_stroke_reading_settles_an_unsure_picture():
    image = row(9, 0.5)
    image[4] = 0.45
    image /= image.sum()
    fused = fuse([image], [row(4, 0.99)])
    assert fused[0].argmax() == 4


def test_fuse_an_unsure_stroke_reading_never_overrides_a_confident_picture():
    params = FusionParams(keep_image=0.97, stroke_sure=0.9)
    image = row(1, 0.98)
    fused = fuse([image], [row(7, 0.85)], params)
    np.testing.assert_allclose(fused[0], image, atol=1e-6)


def test_fuse_strokes_can_say_not_a_digit():
    fused = fuse([row(2, 0.7)], [row(OTHER, 0.99)])
    assert fused[0].argmax() == OTHER


def test_fuse_floor_keeps_a_zero_stroke_probability_from_vetoing():
    strokes = row(3, 0.9)
    strokes[5] = 0.0
    fused = fuse([row(5, 0.9)], [strokes], FusionParams(weight=0.5, keep_image=1.1))
    assert fused[0, 5] > 0


def test_fuse_weight_zero_is_the_image_alone():
    image = np.array([row(6, 0.6), row(OTHER, 0.7)])
    fused = fuse(image, [row(0, 0.99), row(8, 0.99)], FusionParams(weight=0.0))
    np.testing.assert_allclose(fused, image, atol=1e-6)


def test_fuse_refuses_rows_of_other_shapes():
    with pytest.raises(ValueError, match=r"one shape \(N, 11\)"):
        fuse([row(1, 0.9)], [row(1, 0.9), row(2, 0.9)])


def test_union_box_holds_every_box():
    assert union_box([(10, 5, 10, 10), (0, 8, 4, 20)]) == (0, 5, 20, 23)
