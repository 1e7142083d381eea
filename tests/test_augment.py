"""Augmentation is pure, seeded, and keeps shapes and value ranges."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.image import augment


def _digits() -> np.ndarray:
    images = np.zeros((6, 28, 28), np.float32)
    images[:, 6:22, 12:16] = 1.0  # a bar, a "1"
    images[3:, 6:10, 8:20] = 1.0  # with a top bar, a "7"
    return images


@pytest.mark.parametrize(
    "function", [augment.random_affine, augment.random_stroke_width, augment.augment_batch]
)
def test_augmentation_is_pure_and_seeded(function):
    images = _digits()
    original = images.copy()
    first = function(images, np.random.default_rng(3))
    second = function(images, np.random.default_rng(3))
    np.testing.assert_array_equal(images, original)
    np.testing.assert_array_equal(first, second)
    assert first.shape == images.shape and first.dtype == np.float32
    assert first.min() >= 0 and first.max() <= 1


def test_random_affine_changes_images_but_keeps_the_ink():
    images = _digits()
    moved = augment.random_affine(images, 0)
    assert not np.array_equal(moved, images)
    ratio = moved.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    assert np.all((ratio > 0.6) & (ratio < 1.5))


def test_random_affine_with_zero_ranges_is_identity():
    config = augment.AffineConfig(rotation=0, scale=(1, 1), aspect=0, shift=0, shear=0)
    np.testing.assert_allclose(augment.random_affine(_digits(), 0, config), _digits(), atol=1e-5)


def test_augment_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        augment.random_affine(np.zeros((28, 28), np.float32), 0)


def test_variants24_gives_24_model_inputs_and_is_seeded():
    ink = np.zeros((120, 80), np.float32)
    ink[10:110, 35:45] = 1.0
    ink[10:20, 10:70] = 1.0
    variants = augment.variants24(ink, 0)
    assert variants.shape == (24, 28, 28) and variants.dtype == np.float32
    np.testing.assert_array_equal(variants, augment.variants24(ink, 0))
    assert len({v.tobytes() for v in variants}) == 24
    assert variants.max() <= 1 and variants.min() >= 0


def test_variants24_accepts_a_model_input():
    assert augment.variants24(_digits()[4], 1).shape == (24, 28, 28)


def test_variants24_rejects_a_batch():
    with pytest.raises(ValueError, match="2-D"):
        augment.variants24(_digits(), 0)


def test_augment_strokes_is_pure_seeded_and_changes_the_shape():
    from digitlib.image.augment import StrokeConfig, augment_strokes

    strokes = [
        np.array([[0, 0], [10, 0], [10, 20]], np.float32),
        np.array([[5, 5], [6, 9]], np.float32),
    ]
    before = [s.copy() for s in strokes]
    first = augment_strokes(strokes, 3)
    assert [s.shape for s in first] == [s.shape for s in strokes]
    assert all(s.dtype == np.float32 for s in first)
    np.testing.assert_array_equal(first[0], augment_strokes(strokes, 3)[0])
    assert not np.allclose(first[0], strokes[0])
    for a, b in zip(strokes, before, strict=True):
        np.testing.assert_array_equal(a, b)
    still = StrokeConfig(rotation=0, shear=0, aspect=(1, 1), jitter=0)
    np.testing.assert_allclose(augment_strokes(strokes, 3, still)[1], strokes[1], atol=1e-5)
