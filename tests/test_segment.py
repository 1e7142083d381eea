"""digitlib.image.segment: small drawn arrays, and numbers rendered from real pendigits strokes."""

import cv2
import numpy as np
import pytest

from digitlib.drawings.data import (
    RenderStyle,
    compose_number,
    draw_polylines,
    load_pendigits,
    render_number,
    render_strokes,
)
from digitlib.image.preprocess import ink_from_image, ink_levels
from digitlib.image.segment import Region, SegmentParams, extract, find_segments, region_ink
from digitlib.recognize import Recognizer
from digitlib.store import DrawingStore, open_store

TRAINING_WRITERS = range(1, 26)  # never the held-out ones (digitlib.config.HELD_OUT)


def canvas(height=60, width=120) -> np.ndarray:
    return np.zeros((height, width), np.float32)


def boxes(regions: list[Region]) -> list[tuple[int, int, int, int]]:
    return [region.box for region in regions]


def test_empty_ink_has_no_segments():
    assert find_segments(canvas()) == []
    assert extract(np.zeros((30, 30, 4), np.uint8)) == []


def test_two_digits_side_by_side_left_to_right():
    ink = canvas()
    cv2.line(ink, (80, 10), (80, 50), 1.0, 4)  # drawn first, but on the right
    cv2.circle(ink, (30, 30), 18, 1.0, 4)
    regions = find_segments(ink)
    assert len(regions) == 2
    assert regions[0].box[0] < regions[1].box[0]
    ring, bar = regions
    assert ring.mask.shape == (ring.box[3], ring.box[2]) and ring.mask.dtype == bool
    assert not ring.mask[ring.box[3] // 2, ring.box[2] // 2]  # the ring's hole is not ink
    assert bar.mask.all() or bar.mask.mean() > 0.8


def test_mask_holds_only_its_own_ink():
    ink = canvas()
    cv2.circle(ink, (30, 30), 18, 1.0, 4)
    cv2.line(ink, (49, 5), (70, 55), 1.0, 4)  # a slanted 1 reaching into the ring's box
    regions = find_segments(ink)
    assert len(regions) == 2
    x, y, width, height = regions[0].box
    in_box = ink[y : y + height, x : x + width] >= 0.5
    assert regions[0].mask.sum() < in_box.sum() or not in_box[~regions[0].mask].any()
    assert region_ink(ink, regions[1]).max() == 1.0


def test_bar_above_a_body_merges():  # a 5's detached top bar
    ink = canvas()
    cv2.line(ink, (20, 8), (45, 8), 1.0, 4)
    cv2.ellipse(ink, (30, 38), (14, 14), 0, -100, 180, 1.0, 4)
    cv2.line(ink, (20, 14), (18, 26), 1.0, 4)
    assert len(find_segments(ink)) == 1


def test_pieces_with_overlapping_extents_merge():  # a fast 8 drawn with gaps
    ink = canvas()
    cv2.ellipse(ink, (30, 18), (10, 10), 0, 10, 350, 1.0, 3)
    cv2.ellipse(ink, (30, 42), (12, 12), 0, 200, 520, 1.0, 3)
    regions = find_segments(ink)
    assert len(regions) == 1
    assert regions[0].mask.sum() == (ink >= 0.5).sum()


def test_specks_are_dropped_but_small_digits_kept():
    ink = canvas()
    cv2.line(ink, (30, 10), (30, 50), 1.0, 4)
    cv2.circle(ink, (90, 30), 1, 1.0, -1)  # a speck, away from the digit
    regions = find_segments(ink)
    assert boxes(regions) == boxes(find_segments(ink * (np.arange(120) < 60)))
    assert len(regions) == 1


def test_ink_may_be_uint8_levels_and_params_are_explicit():
    ink = canvas()
    cv2.line(ink, (30, 10), (30, 50), 1.0, 4)
    cv2.line(ink, (36, 10), (60, 50), 1.0, 4)
    levels = np.round(ink * 255).astype(np.uint8)
    assert boxes(find_segments(levels)) == boxes(find_segments(ink))
    strict = SegmentParams(merge_overlap=1.1, stack_overlap=0.0, piece_gap=0.0)
    loose = SegmentParams(piece_fraction=1.01, piece_gap=0.5)  # both are pieces of one digit
    assert len(find_segments(ink, strict)) == 2
    assert len(find_segments(ink, loose)) == 1


def test_rejects_non_2d_ink():
    with pytest.raises(ValueError, match="2-D array"):
        find_segments(np.zeros((4, 4, 3), np.float32))


def test_extract_gives_boxes_and_model_inputs():
    image = np.full((60, 120), 255, np.uint8)
    cv2.circle(image, (30, 30), 18, 0, 4)
    cv2.line(image, (80, 10), (80, 50), 0, 4)
    pieces = extract(image)
    assert [box for box, _ in pieces] == boxes(find_segments(ink_from_image(image)))
    for _, model_input in pieces:
        assert model_input.shape == (28, 28) and model_input.dtype == np.float32
        assert model_input.max() > 0.5


# --- numbers drawn from real pendigits strokes --------------------------------------------------


@pytest.fixture(scope="module")
def training_digits():
    digits = [d for d in load_pendigits() if d.writer in TRAINING_WRITERS]
    by_label = {label: [d for d in digits if d.label == label] for label in range(10)}
    return digits, by_label


def draw_number(strokes_list, gaps, rng, digit_height=120.0, line_width=8.0):
    """Render a number and return the image with each digit's expected x-range in pixels."""
    composed = compose_number(strokes_list, gaps, rng)
    counts = [len(strokes) for strokes in strokes_list]
    placed = [(s * digit_height + 2 * line_width).astype(np.float32) for s in composed]
    points = np.concatenate(placed)
    size = (
        int(points[:, 1].max() + 3 * line_width),
        int(points[:, 0].max() + 3 * line_width),
    )
    ranges, start = [], 0
    for count in counts:
        xs = np.concatenate(placed[start : start + count])[:, 0]
        ranges.append((xs.min() - line_width, xs.max() + line_width))
        start += count
    return draw_polylines(placed, size, line_width), ranges


def assert_reads_in_order(image, ranges):
    regions = find_segments(ink_levels(image))
    assert len(regions) == len(ranges)
    for region, (low, high) in zip(regions, ranges, strict=True):
        center = region.box[0] + region.box[2] / 2
        assert low <= center <= high


@pytest.mark.parametrize("label", [4, 5, 7])
def test_two_stroke_digits_are_one_segment(training_digits, label):
    _, by_label = training_digits
    two_stroke = [d for d in by_label[label] if len(d.strokes) == 2][:40]
    assert len(two_stroke) == 40
    rng = np.random.default_rng(label)
    single = sum(
        len(find_segments(ink_levels(render_number([d.strokes], rng)))) == 1 for d in two_stroke
    )
    assert single >= 39  # pendigits has the odd scrawl; allow one


@pytest.mark.parametrize("gap", [0.2, 0.4, 0.6])
def test_numbers_of_two_stroke_digits_split_in_order(training_digits, gap):
    _, by_label = training_digits
    rng = np.random.default_rng(int(gap * 10))
    for _ in range(8):
        labels = rng.choice([4, 5, 7], size=4)
        digits = [
            [d for d in by_label[label] if len(d.strokes) == 2][int(rng.integers(100))]
            for label in labels
        ]
        image, ranges = draw_number([d.strokes for d in digits], [gap] * 3, rng)
        assert_reads_in_order(image, ranges)


def test_digits_close_together_split_in_order(training_digits):
    digits, _ = training_digits
    rng = np.random.default_rng(0)
    for _ in range(25):
        chosen = [digits[int(index)] for index in rng.integers(len(digits), size=5)]
        image, ranges = draw_number([d.strokes for d in chosen], [0.2] * 4, rng)
        assert_reads_in_order(image, ranges)


def test_random_canvas_numbers_have_one_segment_per_digit(training_digits):
    digits, _ = training_digits
    rng = np.random.default_rng(1)
    right = 0
    for _ in range(60):
        count = int(rng.integers(2, 7))
        chosen = [digits[int(index)] for index in rng.integers(len(digits), size=count)]
        image = render_number([d.strokes for d in chosen], rng)
        right += len(find_segments(ink_levels(image))) == count
    assert right >= 58  # digits that touch (thick strokes, small gap) cannot be split


def test_holes_and_stroke_length_describe_the_shape():
    ink = canvas(110, 240)
    cv2.line(ink, (20, 10), (20, 100), 1.0, 5)  # a 1: no hole, length about one side
    cv2.ellipse(ink, (70, 32), (16, 20), 0, 0, 360, 1.0, 5)  # an 8: two holes
    cv2.ellipse(ink, (70, 76), (18, 22), 0, 0, 360, 1.0, 5)
    for column in (130, 160, 190, 220):  # a grid: nine holes, long strokes
        cv2.line(ink, (column, 10), (column, 100), 1.0, 5)
    for row in (10, 40, 70, 100):
        cv2.line(ink, (130, row), (220, row), 1.0, 5)
    one, eight, grid = find_segments(ink)
    assert (one.holes, eight.holes, grid.holes) == (0, 2, 9)
    assert 0.8 < one.length < 1.3
    assert 2.0 < eight.length < 3.7
    assert grid.length > 5


def test_pieces_inside_a_hole_are_counted_but_not_a_slashed_zeros_slash():
    ink = canvas(110, 480)
    cv2.circle(ink, (55, 55), 45, 1.0, 4)  # a clock: hands inside, apart from the rim
    cv2.line(ink, (55, 55), (55, 25), 1.0, 4)
    cv2.line(ink, (55, 55), (78, 66), 1.0, 4)
    cv2.circle(ink, (175, 55), 45, 1.0, 4)  # a face: two eyes and a mouth
    cv2.circle(ink, (160, 40), 6, 1.0, 4)
    cv2.circle(ink, (190, 40), 6, 1.0, 4)
    cv2.ellipse(ink, (175, 65), (20, 10), 0, 20, 160, 1.0, 4)
    cv2.ellipse(ink, (295, 55), (30, 45), 0, 0, 360, 1.0, 4)  # a slashed zero
    cv2.line(ink, (280, 80), (310, 30), 1.0, 4)
    cv2.ellipse(ink, (415, 55), (30, 45), 0, 0, 360, 1.0, 4)  # a 0 with a stray dot inside
    cv2.circle(ink, (415, 55), 2, 1.0, -1)
    clock, face, slashed, dotted = find_segments(ink)
    assert clock.nested == 1 and face.nested == 3
    assert slashed.nested == 0 and dotted.nested == 0


# --- one recipe for training and reading --------------------------------------------------------


class SureDigits:
    """A stand-in Classifier that reads every input as a sure 3: a number is read digit by digit,
    never looked at again nor read as a whole."""

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        rows = np.full((len(images), 11), 0.001, np.float32)
        rows[:, 3] = 1.0 - 0.01
        return rows


def test_training_from_saved_drawings_sees_the_inputs_reading_sees(training_digits, tmp_path):
    # A number as the dashboard's 480x680 canvas holds it, drawn with its 24 px pen: large
    # enough that reading shrinks it first (preprocess.reading_scale).
    _, by_label = training_digits
    digits = [by_label[label][0].strokes for label in (4, 7, 2)]
    strokes = compose_number(digits, [0.4, 0.4], np.random.default_rng(3))
    style = RenderStyle(canvas_size=(480, 680), line_width=24.0, height=260.0, center=(340, 240))
    canvas = render_strokes(strokes, style)
    png = cv2.imencode(".png", cv2.cvtColor(canvas, cv2.COLOR_RGBA2BGRA))[1].tobytes()

    # What `digitlib train --with-drawings` adds to the training set from a saved drawing.
    drawings = DrawingStore(open_store(str(tmp_path)))
    drawings.save(png, "472")
    trained, labels, _, skipped = drawings.examples(extract=extract)
    assert not skipped and labels.tolist() == [4, 7, 2]

    recognizer = Recognizer({"sure": SureDigits()})
    for image in (png, canvas):
        result = recognizer.recognize(image)
        assert result.text == "333"
        read = np.stack([segment.image for segment in result.segments])
        assert read.dtype == trained.dtype == np.float32
        assert np.array_equal(trained, read)
    assert [box for box, _ in extract(canvas)] == [s.box for s in result.segments]
