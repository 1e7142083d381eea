"""Occlusion saliency (``digitlib.recognize.explain``) on small inputs and a stand-in model."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.recognize.explain import occlusion_map, saliency_rgb


def top_left_model(images: np.ndarray) -> np.ndarray:
    """Reads class 1 as sure as the ink in the top-left 4x4 corner is bright, else class 0."""
    corner = images[:, :4, :4].mean(axis=(1, 2))
    probabilities = np.zeros((len(images), 11), np.float32)
    probabilities[:, 1] = corner
    probabilities[:, 0] = 1 - corner
    return probabilities


def test_covering_the_ink_that_decides_lowers_its_class():
    image = np.zeros((28, 28), np.float32)
    image[:4, :4] = 1.0  # the ink the model reads
    image[20:24, 20:24] = 1.0  # ink it ignores
    before = image.copy()
    saliency = occlusion_map(top_left_model, image, label=1)
    assert saliency.shape == (28, 28) and saliency.dtype == np.float32
    assert saliency[:4, :4] == pytest.approx(-np.log(1e-7), rel=1e-4)  # p 1 -> 0
    assert np.abs(saliency[4:, :]).max() == 0 and np.abs(saliency[:, 4:]).max() == 0
    np.testing.assert_array_equal(image, before)  # the input is not changed
    against = occlusion_map(top_left_model, image, label=0)
    assert (against[:4, :4] < 0).all()  # that ink speaks against class 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image": np.zeros((27, 28), np.float32), "label": 1}, "shape \\(28, 28\\)"),
        ({"image": np.zeros((28, 28), np.float32), "label": 1, "patch": 5}, "must divide 28"),
        ({"image": np.zeros((28, 28), np.float32), "label": 11}, "class 0..10"),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        occlusion_map(top_left_model, **kwargs)


def test_the_picture_shows_support_in_orange_and_opposition_in_blue():
    image = np.zeros((28, 28), np.float32)
    saliency = np.zeros((28, 28), np.float32)
    saliency[0, 0], saliency[0, 1] = 1.0, -1.0
    picture = saliency_rgb(image, saliency)
    assert picture.shape == (28, 28, 3) and picture.dtype == np.uint8
    assert picture[0, 0, 0] > picture[0, 0, 2] and picture[0, 1, 2] > picture[0, 1, 0]
    assert picture[5, 5].tolist() == [0, 0, 0]


def test_the_recognizer_explains_each_segment_with_its_ensemble():
    import digitlib
    from digitlib.drawings import data

    recognizer = digitlib.load_recognizer()
    digit = next(d for d in data.load_pendigits() if d.writer == 27 and d.label == 7)
    result = recognizer.recognize(data.render_strokes(digit.strokes, data.random_style(3)))
    (segment,) = result.segments
    saliency = recognizer.explain(segment)
    assert saliency.shape == (28, 28)
    ink = segment.image > 0.5
    # Covering the ink lowers the reading's probability more than covering the paper does.
    assert saliency[ink].mean() > saliency[~ink].mean()
