"""Drawing styles and digit variants (``digitlib.drawings.styles``) on small hand-made strokes."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.drawings import styles


def _seven():
    return [np.array([[0, 0], [60, 0], [25, 100]], np.float32)]


def _nine():
    t = np.linspace(0.2 * np.pi, 2.2 * np.pi, 40)
    loop = np.stack([30 + 20 * np.cos(t), 25 + 20 * np.sin(t)], 1)
    stem = np.stack([np.full(20, 50.0), np.linspace(25, 100, 20)], 1)
    return [np.concatenate([loop, stem]).astype(np.float32)]


def test_resample_spaces_points_evenly_and_keeps_the_ends():
    line = np.array([[0, 0], [10, 0]], np.float64)
    points = styles.resample(line, 2.5)
    np.testing.assert_allclose(points[:, 0], [0, 2.5, 5, 7.5, 10])
    np.testing.assert_allclose(styles.resample(line, 20), line)
    with pytest.raises(ValueError, match="spacing must be > 0"):
        styles.resample(line, 0)


def test_simplify_keeps_only_the_corners():
    corner = np.array([[0, 0], [5, 0.1], [10, 0], [10, 5], [10, 10]], np.float64)
    np.testing.assert_array_equal(styles.simplify(corner, 0.5), [[0, 0], [10, 0], [10, 10]])


def test_smooth_keeps_the_ends_and_rounds_a_corner():
    corner = styles.resample(np.array([[0, 0], [10, 0], [10, 10]], np.float64), 0.5)
    rounded = styles.smooth(corner, 4.0)
    np.testing.assert_array_equal(rounded[[0, -1]], corner[[0, -1]])
    nearest = np.linalg.norm(rounded - [10, 0], axis=1).min()
    assert nearest > 1.0  # the path no longer passes through the corner


@pytest.mark.parametrize("style", styles.STYLES)
def test_restyle_is_seeded_keeps_the_input_and_stays_near_it(style):
    strokes = _nine()
    copy = [s.copy() for s in strokes]
    first = styles.restyle(strokes, style, 3)
    np.testing.assert_array_equal(strokes[0], copy[0])
    assert all(s.dtype == np.float32 and s.shape[1] == 2 for s in first)
    for a, b in zip(first, styles.restyle(strokes, style, 3), strict=True):
        np.testing.assert_array_equal(a, b)
    points = np.concatenate(first)
    assert np.abs(points.min(axis=0) - [10, 5]).max() < 15
    assert np.abs(points.max(axis=0) - [50, 100]).max() < 15


def test_mouse_strokes_are_straighter_and_finger_strokes_sparser():
    stroke = _nine()[0]
    mouse = styles.restyle([stroke], "mouse", 0)[0]
    finger = styles.restyle([stroke], "finger", 0)[0]
    assert len(finger) < len(styles.resample(stroke, 1.0)) / 4
    assert np.isfinite(mouse).all() and np.isfinite(finger).all()


def test_unknown_style_says_which_exist():
    with pytest.raises(ValueError, match="choose one of pen, finger"):
        styles.restyle(_seven(), "crayon", 0)


@pytest.mark.parametrize("style", styles.STYLES)
def test_render_in_style_draws_the_whole_drawing_on_the_canvas(style):
    canvas = styles.render_in_style(_nine(), style, np.random.default_rng(1))
    assert canvas.dtype == np.uint8 and canvas.ndim == 3
    ink = canvas[..., 3] > 0 if canvas.shape[2] == 4 else canvas[..., 0] < 255
    rows, columns = np.nonzero(ink)
    assert ink.sum() > 50
    assert rows.min() > 0 and columns.min() > 0
    assert rows.max() < ink.shape[0] - 1 and columns.max() < ink.shape[1] - 1


def test_style_widths_follow_the_style():
    rng = np.random.default_rng(0)
    thin = [styles.style_width("thin", 200, rng) for _ in range(20)]
    thick = [styles.style_width("thick", 200, rng) for _ in range(20)]
    assert max(thin) <= 6 < 22 <= min(thick)


def test_flag_one_adds_a_flag_from_the_top_down_to_the_left():
    one = [np.array([[20, 0], [20, 100]], np.float32)]
    flagged = styles.flag_one(one, 0)
    flag = flagged[0]
    np.testing.assert_allclose(flag[-1], [20, 0])
    assert flag[0][0] < 20 and flag[0][1] > 0
    np.testing.assert_array_equal(flagged[1], one[0])


def test_cross_seven_puts_a_bar_across_the_stem():
    crossed = styles.cross_seven(_seven(), 0)
    assert len(crossed) == 2
    bar = crossed[1]
    middle = bar.mean(axis=0)
    assert 40 <= middle[1] <= 70
    stem_x = 60 - 35 * middle[1] / 100  # where the stem is at that height
    assert bar[:, 0].min() < stem_x < bar[:, 0].max()


def test_open_loop_cuts_the_start_of_the_first_stroke():
    nine = _nine()
    opened = styles.open_loop(nine, 0)
    total = np.linalg.norm(np.diff(nine[0], axis=0), axis=1).sum()
    kept = np.linalg.norm(np.diff(opened[0], axis=0), axis=1).sum()
    assert 0.8 * total <= kept <= 0.93 * total
    np.testing.assert_allclose(opened[0][-1], nine[0][-1])


def test_digit_variants_cover_the_digits_people_write_differently():
    assert set(styles.DIGIT_VARIANTS) == {0, 1, 4, 7, 9}


def test_slash_zero_adds_one_straight_stroke_inside_the_zero():
    from digitlib.drawings import data
    from digitlib.image.preprocess import ink_levels
    from digitlib.image.segment import find_segments

    t = np.linspace(0, 2 * np.pi, 40)
    zero = [np.stack([50 + 30 * np.cos(t), 60 + 45 * np.sin(t)], 1).astype(np.float32)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        slashed = styles.slash_zero(zero, rng)
        assert len(slashed) == 2 and slashed[0] is not zero[0]
        np.testing.assert_array_equal(slashed[0], zero[0])  # the 0 itself is unchanged
        slash = slashed[1]
        direction = slash[-1] - slash[0]
        along = slash - slash[0]
        offsets = (direction[0] * along[:, 1] - direction[1] * along[:, 0]) / np.linalg.norm(
            direction
        )
        assert np.abs(offsets).max() < 1e-3  # straight
        assert np.linalg.norm(direction) > 0.4 * np.hypot(60, 90)  # long
        assert np.all((slash >= (20 - 8, 15 - 8)) & (slash <= (80 + 8, 105 + 8)))
    canvas = data.render_strokes(
        styles.slash_zero(zero, rng), data.RenderStyle((200, 200), 6.0, 140.0, (100.0, 100.0))
    )
    (region,) = find_segments(ink_levels(canvas))
    assert region.nested == 0 and region.holes >= 1  # still reads as a 0's shape


def test_slash_zero_through_crosses_the_loop_and_runs_out_past_it():
    t = np.linspace(0, 2 * np.pi, 40)
    zero = [np.stack([50 + 20 * np.cos(t), 60 + 45 * np.sin(t)], 1).astype(np.float32)]
    rng = np.random.default_rng(1)
    mirrored = 0
    for _ in range(40):
        slashed = styles.slash_zero(zero, rng, through=1.0)
        assert len(slashed) == 2
        np.testing.assert_array_equal(slashed[0], zero[0])
        slash = slashed[1]
        start, end = slash[0], slash[-1]
        # Both ends lie outside the loop: the slash runs through it and out.
        for point in (start, end):
            assert ((point[0] - 50) / 20) ** 2 + ((point[1] - 60) / 45) ** 2 > 1.1
        rise = abs(end[1] - start[1]) / max(abs(end[0] - start[0]), 1e-6)
        assert np.tan(np.deg2rad(44)) <= rise <= np.tan(np.deg2rad(76))  # 45-75 degrees
        assert end[1] < start[1]  # drawn upwards
        mirrored += end[0] < start[0]
    assert 0 < mirrored < 20  # "/" mostly, "\\" sometimes
    # The default keeps the slash inside, drawing the same random numbers as before.
    inside = styles.slash_zero(zero, 5)
    assert np.all((inside[1] >= (30 - 8, 15 - 8)) & (inside[1] <= (70 + 8, 105 + 8)))
