"""digitlib.drawings.strokes: checking, resampling, encoding and augmenting hand-written point lists."""

import numpy as np
import pytest

from digitlib.drawings import strokes as pen

# An "L": down 10 pixels, then right 5; and a separate dot.
L_SHAPE = [[(0.0, 0.0), (0.0, 10.0), (5.0, 10.0)]]
TWO_STROKES = [[(0, 0), (0, 10)], [(5, 0), (5, 10), (5, 20)]]


# --- check_strokes ----------------------------------------------------------------------------


def test_check_strokes_drops_time_and_copies():
    given = [np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 16.0]])]
    checked = pen.check_strokes(given, (10, 10))
    assert len(checked) == 1 and checked[0].shape == (2, 2) and checked[0].dtype == np.float64
    checked[0][0, 0] = 99
    assert given[0][0, 0] == 1.0


@pytest.mark.parametrize(
    ("strokes", "message"),
    [
        ("12", "list of strokes"),
        (np.zeros((3, 2)), "list of strokes"),
        ([[1, 2, 3, 4]], r"stroke 0 has shape \(4,\)"),
        ([[(1, 2)], []], r"stroke 1 has shape \(0,\)"),
        ([[(1, 2, 3, 4)]], r"expected \(n, 2\) or \(n, 3\)"),
        ([[(1, float("nan"))]], "NaN or infinite"),
        ([[(1, float("inf"))]], "NaN or infinite"),
        ([[("a", "b")]], "not an array of numbers"),
        ([[(50, 5)]], "leaves the image"),
        ([[(5, -9)]], "leaves the image"),
    ],
)
def test_check_strokes_refuses_bad_strokes_saying_what_was_expected(strokes, message):
    with pytest.raises(ValueError, match=message):
        pen.check_strokes(strokes, (20, 20))


def test_check_strokes_limits_points_and_strokes():
    with pytest.raises(ValueError, match="more than 10 points"):
        pen.check_strokes([np.zeros((11, 2))], max_points=10)
    with pytest.raises(ValueError, match="at most 3 strokes"):
        pen.check_strokes([[(0, 0)]] * 4, max_strokes=3)


# --- resampling and encoding ------------------------------------------------------------------


def test_along_spreads_points_evenly_by_length():
    points = pen.along(np.array(L_SHAPE[0]), 4)
    # Path length 15: points at 0, 5, 10 and 15 along it.
    np.testing.assert_allclose(points, [[0, 0], [0, 5], [0, 10], [5, 10]])


def test_along_one_point_and_a_dot():
    np.testing.assert_allclose(pen.along(np.array([[0.0, 0.0], [0.0, 10.0]]), 1), [[0, 5]])
    np.testing.assert_allclose(pen.along(np.array([[3.0, 4.0]]), 3), [[3, 4]] * 3)


def test_shares_follow_length_with_at_least_one_each():
    assert pen.shares([10.0, 30.0], 10).tolist() == [3, 7]
    assert pen.shares([100.0, 0.0], 10).tolist() == [9, 1]
    assert pen.shares([1.0, 1.0, 1.0], 2).tolist() == [1, 1, 0]
    assert pen.shares([1.0, 2.0, 3.0], 64).sum() == 64


def test_normalize_centres_and_scales_the_longer_side():
    normalized = pen.normalize([np.array(L_SHAPE[0])])
    points = np.concatenate(normalized)
    np.testing.assert_allclose(points.min(axis=0), [-0.5, -1.0])
    np.testing.assert_allclose(points.max(axis=0), [0.5, 1.0])


def test_encode_channels_mark_direction_lifts_and_starts():
    encoded = pen.encode([np.array(s, float) for s in TWO_STROKES], points=8)
    assert encoded.shape == (8, pen.CHANNELS) and encoded.dtype == np.float32
    # Lengths 10 and 20 share 8 points as 3 and 5.
    assert encoded[:, 5].tolist() == [1, 0, 0, 1, 0, 0, 0, 0]  # stroke starts
    assert encoded[:, 4].tolist() == [0, 0, 1, 0, 0, 0, 0, 1]  # pen lifts after
    assert (encoded[:2, 3] > 0).all()  # the first stroke goes down (y grows)
    assert encoded[2, 2] > 0  # the jump to the second stroke goes right
    np.testing.assert_allclose(encoded[-1, 2:4], 0)


def test_encode_ignores_sampling_density_and_scale():
    sparse = [np.array([[0.0, 0.0], [0.0, 10.0], [8.0, 10.0]])]
    dense_path = np.concatenate(
        [np.stack([np.zeros(50), np.linspace(0, 10, 50)], 1), [[x, 10.0] for x in range(1, 9)]]
    )
    big = [dense_path * 7 + 300]
    np.testing.assert_allclose(pen.encode(sparse), pen.encode(big), atol=1e-6)


def test_encode_sees_direction_and_order():
    forward = [np.array(s, float) for s in TWO_STROKES]
    backward = [forward[0][::-1], forward[1]]
    swapped = [forward[1], forward[0]]
    base = pen.encode(forward)
    assert not np.allclose(base, pen.encode(backward))
    assert not np.allclose(base, pen.encode(swapped))


def test_encode_needs_a_stroke():
    with pytest.raises(ValueError, match="at least one stroke"):
        pen.encode([])


def _reference_along(stroke, count):
    # The per-stroke ``along`` that the shipped stroke model was trained with.
    steps = np.hypot(*np.diff(stroke, axis=0).T) if len(stroke) > 1 else np.zeros(0)
    total = float(steps.sum())
    if total <= 1e-12 or len(stroke) == 1:
        return np.repeat(stroke[:1], count, axis=0)
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    targets = np.linspace(0.0, total, count) if count > 1 else np.array([total / 2])
    return np.stack([np.interp(targets, cumulative, stroke[:, axis]) for axis in range(2)], axis=1)


def _reference_encode(strokes, points=pen.POINTS):
    # The per-stroke ``encode`` that the shipped stroke model was trained with.
    every = np.concatenate(strokes)
    low, high = every.min(axis=0), every.max(axis=0)
    half = float((high - low).max()) / 2
    strokes = [(s - (low + high) / 2) * (1.0 / half if half > 1e-9 else 1.0) for s in strokes]
    lengths = [
        float(np.hypot(*np.diff(s, axis=0).T).sum()) if len(s) > 1 else 0.0 for s in strokes
    ]
    counts = pen.shares(lengths, points)
    positions = np.concatenate(
        [_reference_along(s, int(n)) for s, n in zip(strokes, counts, strict=True) if n]
    )
    stroke_of = np.repeat(np.arange(len(strokes)), counts)
    encoded = np.zeros((points, pen.CHANNELS), np.float32)
    encoded[:, :2] = positions
    encoded[:-1, 2:4] = np.diff(positions, axis=0) * pen.STEP_SCALE
    encoded[:, 4] = np.append(stroke_of[1:] != stroke_of[:-1], True)
    encoded[:, 5] = np.insert(stroke_of[1:] != stroke_of[:-1], 0, True)
    return encoded


def _random_drawing(rng):
    strokes = []
    for _ in range(int(rng.integers(1, 9))):
        size = int(rng.integers(1, 61))
        kind = rng.random()
        if kind < 0.15:  # a dot: one point, or one point repeated (no length)
            stroke = np.repeat(rng.uniform(0, 300, (1, 2)), size, axis=0)
        elif kind < 0.25:  # a stroke with points drawn twice (steps of no length)
            stroke = np.repeat(rng.uniform(0, 300, (max(size // 2, 1), 2)), 2, axis=0)
        else:
            stroke = rng.uniform(0, 300, (1, 2)) + np.cumsum(rng.normal(0, 5, (size, 2)), axis=0)
        strokes.append(stroke)
    return strokes


@pytest.mark.parametrize("seed", range(4))
def test_encode_gives_what_the_per_stroke_reference_gives(seed):
    rng = np.random.default_rng(seed)
    drawings = [_random_drawing(rng) for _ in range(250)]
    drawings.append([np.array([[3.0, 4.0]])] * 3)  # dots only, all in one place
    drawings.append([np.full((5, 2), 7.0), np.array([[0.0, 0.0], [0.0, 10.0]])])
    expected = np.stack([_reference_encode(strokes) for strokes in drawings])
    np.testing.assert_allclose(pen.encode_many(drawings), expected, rtol=0, atol=1e-5)
    for strokes, wanted in zip(drawings[:20], expected, strict=False):
        np.testing.assert_allclose(pen.encode(strokes), wanted, rtol=0, atol=1e-5)
    # float32 strokes (as the datasets hold them) are encoded in float64: the reference's
    # float32 arithmetic strays from it by up to ~5e-5, so compare with the same points in float64
    as_float32 = [[s.astype(np.float32) for s in strokes] for strokes in drawings[:50]]
    expected = np.stack(
        [_reference_encode([s.astype(np.float64) for s in strokes]) for strokes in as_float32]
    )
    np.testing.assert_allclose(pen.encode_many(as_float32), expected, rtol=0, atol=1e-5)
    for strokes in drawings[:50]:
        np.testing.assert_allclose(
            pen.encode(strokes, points=5), _reference_encode(strokes, 5), rtol=0, atol=1e-5
        )


# --- augmentation -----------------------------------------------------------------------------


def test_reverse_some_reverses_each_stroke_or_keeps_it():
    strokes = [np.array(s, float) for s in TWO_STROKES]
    always = pen.reverse_some(strokes, np.random.default_rng(0), 1.0)
    never = pen.reverse_some(strokes, np.random.default_rng(0), 0.0)
    for original, reversed_, kept in zip(strokes, always, never, strict=True):
        np.testing.assert_array_equal(reversed_, original[::-1])
        np.testing.assert_array_equal(kept, original)


def test_reorder_keeps_every_stroke_once():
    strokes = [np.full((2, 2), float(i)) for i in range(6)]
    shuffled = pen.reorder(strokes, np.random.default_rng(3))
    assert sorted(float(s[0, 0]) for s in shuffled) == list(range(6))
    assert [float(s[0, 0]) for s in shuffled] != list(range(6))


def test_split_and_join_keep_the_points():
    stroke = np.stack([np.arange(10.0), np.zeros(10)], 1)
    split = pen.split_one([stroke], np.random.default_rng(1))
    assert len(split) == 2
    np.testing.assert_array_equal(split[0][-1], split[1][0])  # cut where the pen lifted
    joined = pen.join_two(split, np.random.default_rng(1))
    assert len(joined) == 1 and len(joined[0]) == 11


def test_augment_keeps_the_shape_and_leaves_the_input_alone():
    strokes = [np.array(s, float) for s in TWO_STROKES]
    before = [s.copy() for s in strokes]
    variant = pen.augment(strokes, 0, reverse=0.0, order=0.0, split=0.0, join=0.0)
    assert len(variant) == 2
    for original, changed in zip(before, strokes, strict=True):
        np.testing.assert_array_equal(original, changed)
    # A slight distortion only: no point moves by more than 30% of the normalized box (2 wide).
    moved = np.abs(pen.encode(variant) - pen.encode(before))[:, :2].max()
    assert 0 < moved < 0.6


def test_augment_is_seeded():
    strokes = [np.array(s, float) for s in TWO_STROKES]
    first = pen.encode(pen.augment(strokes, 7))
    np.testing.assert_array_equal(first, pen.encode(pen.augment(strokes, 7)))
    assert not np.array_equal(first, pen.encode(pen.augment(strokes, 8)))


# --- strokes and segments ---------------------------------------------------------------------


def test_assign_gives_each_stroke_to_the_box_holding_it():
    boxes = [(0, 0, 40, 40), (60, 0, 40, 40)]
    strokes = [
        np.array([[70, 5], [70, 35]], float),  # in the right box
        np.array([[10, 10], [30, 30]], float),  # in the left box
        np.array([[65, 20], [95, 20]], float),  # right again
        np.array([[200, 200], [210, 210]], float),  # in none: dropped ink
    ]
    assert pen.assign(strokes, boxes) == [[1], [0, 2]]


def test_assign_a_stroke_in_two_boxes_goes_where_most_of_its_points_are():
    boxes = [(0, 0, 40, 40), (45, 0, 40, 40)]
    stroke = np.array([[38, 10], [50, 10], [60, 10], [70, 10]], float)
    assert pen.assign([stroke], boxes) == [[], [0]]
    assert pen.assign([stroke], []) == []


def test_clip_to_image_moves_points_onto_the_image_and_leaves_the_input_alone():
    given = [np.array([[-3.0, 5.0], [12.0, 30.0]]), np.array([[4.0, 4.0, 100.0]])]
    clipped = pen.clip_to_image(given, (20, 10, 4))
    np.testing.assert_array_equal(clipped[0], [[0, 5], [9, 19]])
    np.testing.assert_array_equal(clipped[1], [[4, 4]])
    assert given[0][0, 0] == -3.0
