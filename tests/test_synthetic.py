"""Synthetic non-digits as strokes (``digitlib.drawings.synthetic``)."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.config import HELD_OUT
from digitlib.drawings import synthetic


def _valid(strokes):
    return bool(strokes) and all(
        s.ndim == 2 and s.shape[1] == 2 and s.dtype == np.float32 and np.isfinite(s).all()
        for s in strokes
    )


@pytest.mark.parametrize("kind", synthetic.SYNTHETIC_KINDS)
def test_synthetic_strokes(kind):
    assert _valid(synthetic.synthetic_strokes(kind, np.random.default_rng(0)))


def test_synthetic_strokes_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown synthetic kind"):
        synthetic.synthetic_strokes("circle", np.random.default_rng(0))


@pytest.mark.parametrize("kind", synthetic.SHAPE_KINDS)
def test_shape_strokes(kind):
    strokes = synthetic.shape_strokes(kind, np.random.default_rng(0))
    assert len(strokes) >= 2  # always inner strokes: a bare outline may be a digit
    assert _valid(strokes)


def test_shape_strokes_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown shape kind"):
        synthetic.shape_strokes("circle", np.random.default_rng(0))


@pytest.mark.parametrize("kind", synthetic.SIGN_KINDS)
def test_sign_strokes(kind):
    first = synthetic.sign_strokes(kind, 4)
    assert _valid(first)
    for a, b in zip(first, synthetic.sign_strokes(kind, 4), strict=True):
        np.testing.assert_array_equal(a, b)


def test_sign_strokes_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown sign kind 'moon'"):
        synthetic.sign_strokes("moon", 0)


def test_glyph_characters_leave_out_digit_like_ones():
    characters = synthetic.glyph_characters()
    for like_a_digit in "0OoIl1|/SZzgq-.":
        assert like_a_digit not in characters
    for letter in "AEKMWaekmw+=#?@":
        assert letter in characters


@pytest.mark.parametrize("font", synthetic.GLYPH_FONTS)
def test_every_glyph_character_has_strokes_in_every_font(font):
    for character in synthetic.glyph_characters():
        strokes = synthetic.glyph_strokes(character, font)
        assert _valid(strokes), (character, font)
        points = np.concatenate(strokes)
        assert np.ptp(points, axis=0).max() > 3  # not a speck


def test_glyph_strokes_are_y_down():
    strokes = synthetic.glyph_strokes("A", "futural")
    points = np.concatenate(strokes)
    apex = points[np.argmin(points[:, 1])]
    assert abs(apex[0] - points[:, 0].mean()) < 3  # the apex of an A is on top, centered


def test_glyph_strokes_reject_unknown_fonts_and_characters():
    with pytest.raises(ValueError, match="unknown glyph font"):
        synthetic.glyph_strokes("A", "comic")
    with pytest.raises(ValueError, match="no glyph for"):
        synthetic.glyph_strokes("é", "futural")


def test_held_out_glyphs_are_a_quarter_and_disjoint_from_training():
    characters = synthetic.glyph_characters()
    held_out = HELD_OUT.glyphs(characters)
    assert len(characters) // 4 <= len(held_out) <= len(characters) // 4 + 1
    assert set(held_out) < set(characters)
    assert set(HELD_OUT.sign_kinds) < set(synthetic.SIGN_KINDS)


def test_glyph_drawings_count_and_vary():
    drawings = synthetic.glyph_drawings(["A", "k"], 3, 0)
    assert len(drawings) == 2 * len(synthetic.GLYPH_FONTS) * 3
    assert not np.array_equal(drawings[0][0], drawings[1][0])


def test_run_together_overlaps_the_two_digits():
    one = [np.array([[0, 0], [0, 50]], np.float32)]
    zero = [np.stack([np.cos(np.linspace(0, 6.3, 30)), np.sin(np.linspace(0, 6.3, 30))], 1)]
    strokes = synthetic.run_together(one, zero, np.random.default_rng(0))
    assert len(strokes) == 2
    first_right = strokes[0][:, 0].max()
    second_left = strokes[1][:, 0].min()
    assert second_left < first_right - 0.05  # overlapping, in digit heights
    assert np.ptp(np.concatenate(strokes)[:, 1]) == pytest.approx(1.0, abs=1e-5)
