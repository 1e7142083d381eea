"""digitlib.explore: the numbers behind the notebooks' pictures, on small inputs written here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlib import explore
from digitlib.config import NUM_CLASSES, OTHER


def _bar_image() -> np.ndarray:
    """A 28x28 input with a vertical bar 4 columns wide and 20 rows tall, centered."""
    image = np.zeros((28, 28), np.float32)
    image[4:24, 12:16] = 1.0
    return image


def _probabilities(rows: list[dict[int, float]]) -> np.ndarray:
    """(N, 11) probabilities from {class: probability}; the rest spread evenly."""
    output = np.zeros((len(rows), NUM_CLASSES), np.float32)
    for index, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (NUM_CLASSES - len(row))
        output[index] = rest
        for label, value in row.items():
            output[index, label] = value
    return output


def _texts(figure) -> tuple[str, list[str], list[str]]:
    title = figure._suptitle.get_text() if figure._suptitle else ""
    xlabels = [axes.get_xlabel() for axes in figure.get_axes()]
    ylabels = [axes.get_ylabel() for axes in figure.get_axes()]
    if figure._supxlabel is not None:
        xlabels.append(figure._supxlabel.get_text())
    if figure._supylabel is not None:
        ylabels.append(figure._supylabel.get_text())
    return title, xlabels, ylabels


@pytest.mark.parametrize(
    ("value", "small"), [(None, False), ("", False), ("0", False), ("1", True), ("yes", True)]
)
def test_sizes_follow_the_small_switch(value, small):
    environ = {} if value is None else {explore.SMALL_ENVIRONMENT_VARIABLE: value}
    sizes = explore.sizes(environ)
    assert sizes.small is small
    assert (sizes == explore.SMALL_SIZES) is small


def test_small_sizes_are_smaller_everywhere():
    full, small = explore.Sizes(), explore.SMALL_SIZES
    for name in full.__dataclass_fields__:
        if name != "small":
            assert getattr(small, name) <= getattr(full, name), name


def test_pick_per_class_groups_by_label_and_caps_at_what_is_there():
    labels = np.array([0, 1, 1, 2, 2, 2, 0, 1])
    picked = explore.pick_per_class(labels, 2, rng=0)
    assert list(labels[picked]) == [0, 0, 1, 1, 2, 2]
    assert len(set(picked)) == len(picked)
    few = np.array([3, 3, 5])
    assert list(few[explore.pick_per_class(few, 4, rng=0)]) == [3, 3, 5]
    with pytest.raises(ValueError, match="per_class must be at least 1"):
        explore.pick_per_class(labels, 0)


def test_pixel_statistics_of_a_centered_bar():
    images = np.stack([_bar_image(), _bar_image()])
    original = images.copy()
    statistics = explore.pixel_statistics(images)
    np.testing.assert_array_equal(images, original)  # pure: input untouched
    np.testing.assert_allclose(statistics.ink_share, 80 / 784)
    np.testing.assert_allclose(statistics.height, 20)
    np.testing.assert_allclose(statistics.center_offset, 0, atol=1e-5)
    assert 3 < statistics.stroke_width[0] < 4.5  # 2 * area / outline of a 4x20 bar: 3.3-3.6
    assert statistics.mean_image.shape == (28, 28)
    assert statistics.intensity_histogram[-1] == pytest.approx(1.0)


def test_pixel_statistics_read_uint8_and_see_off_center_ink():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 0:4, 0:4] = 255
    statistics = explore.pixel_statistics(image)
    assert statistics.center_offset[0] == pytest.approx(np.hypot(12, 12), abs=1e-4)
    assert statistics.height[0] == 4


@pytest.mark.parametrize("bad", [np.zeros((28, 28)), np.zeros((2, 20, 20))])
def test_pixel_statistics_reject_other_shapes(bad):
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\)"):
        explore.pixel_statistics(bad)


def test_naive_inputs_keep_position_while_model_inputs_center():
    canvas = np.full((100, 100), 255, np.uint8)
    canvas[5:35, 8:14] = 0  # a short bar in the top-left corner
    naive = explore.naive_inputs([canvas])[0]
    prepared = explore.model_inputs([canvas])[0]
    assert naive[:14, :14].sum() > 0.9 * naive.sum()
    rows, columns = np.nonzero(prepared > 0.5)
    assert abs(rows.mean() - 13.5) < 1.5 and abs(columns.mean() - 13.5) < 1.5


def test_follow_pipeline_finds_each_digit_and_makes_its_input():
    canvas = np.full((60, 120), 255, np.uint8)
    canvas[10:50, 20:26] = 0  # a "1"
    canvas[10:50, 80:86] = 0  # another "1"
    canvas[10:14, 70:96] = 0  # with a bar touching it: one piece of ink
    steps = explore.follow_pipeline(canvas)
    assert steps.ink.shape == (60, 120) and steps.binary.dtype == bool
    assert len(steps.contours) == 2
    assert [region.box[0] for region in steps.regions] == [20, 70]
    assert steps.inputs.shape == (2, 28, 28)
    assert explore.segment_ink(steps, 1).shape == (40, 26)
    with pytest.raises(ValueError, match="segment 2 does not exist"):
        explore.segment_ink(steps, 2)


def test_confusion_matrix_counts_true_rows_and_reported_columns():
    matrix = explore.confusion_matrix(np.array([1, 1, 2, OTHER]), np.array([1, 7, 2, 3]))
    assert matrix.shape == (NUM_CLASSES, NUM_CLASSES) and matrix.sum() == 4
    assert matrix[1, 1] == 1 and matrix[1, 7] == 1 and matrix[2, 2] == 1 and matrix[OTHER, 3] == 1
    with pytest.raises(ValueError, match="same length"):
        explore.confusion_matrix(np.array([1]), np.array([1, 2]))
    with pytest.raises(ValueError, match="classes must be in 0..10"):
        explore.confusion_matrix(np.array([11]), np.array([1]))


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_decide_labels_agrees_with_the_recognizer(threshold):
    from digitlib.recognize import DecisionParams, decide

    probabilities = np.random.default_rng(3).dirichlet(np.full(NUM_CLASSES, 0.3), 400)
    square_boxes = [(0, 0, 20, 20)] * len(probabilities)  # shape checks pass: probabilities decide
    decided, _ = decide(
        probabilities, None, square_boxes, DecisionParams(min_confidence=threshold)
    )
    expected = [label for label, _ in decided]
    np.testing.assert_array_equal(explore.decide_labels(probabilities, threshold), expected)


def test_decide_labels_uses_the_recognizers_threshold_by_default():
    from digitlib.recognize import DecisionParams

    assert explore.operating_threshold() == DecisionParams().min_confidence
    unsure = _probabilities([{3: DecisionParams().min_confidence - 0.01}])
    assert explore.decide_labels(unsure)[0] == OTHER
    with pytest.raises(ValueError, match=r"shape \(N, 11\)"):
        explore.decide_labels(np.zeros((2, 10)))


def test_worst_misreads_rank_wrong_readings_by_the_true_class_probability():
    labels = np.array([1, 2, 3, 4])
    probabilities = _probabilities([{1: 0.9}, {5: 0.7, 2: 0.2}, {6: 0.95, 3: 0.01}, {4: 0.3}])
    # 0 is right; 1 and 2 read as other digits; 3 is unsure (read as other).
    assert list(explore.worst_misreads(labels, probabilities, count=25)) == [2, 1, 3]
    assert list(explore.worst_misreads(labels, probabilities, count=1)) == [2]


def test_threshold_curve_trades_rejected_digits_against_accepted_doodles():
    labels = np.array([1, 2, OTHER, OTHER])
    probabilities = _probabilities([{1: 0.95}, {2: 0.6}, {7: 0.55}, {OTHER: 0.8}])
    curve = explore.threshold_curve(labels, probabilities, np.array([0.0, 0.58, 0.7, 1.0]))
    np.testing.assert_allclose(curve.digits_rejected, [0, 0, 0.5, 1])
    np.testing.assert_allclose(curve.doodles_accepted, [0.5, 0, 0, 0])
    np.testing.assert_allclose(curve.digits_misread, 0)
    with pytest.raises(ValueError, match="both digits and doodles"):
        explore.threshold_curve(labels[:2], probabilities[:2], np.array([0.5]))
    table = explore.threshold_table({"m": curve}, 0.6)
    assert table.rows == (("m", 0.58, 0.0, 0.0, 0.0),)


def test_training_history_is_read_when_recorded_and_empty_otherwise(tmp_path):
    assert explore.load_training_history(tmp_path) == {}
    history = [{"epoch": 1, "loss": 0.5, "val_accuracy": 0.9, "learning_rate": 1e-3}]
    card = {"models": {"cnn": {"history": history}, "fnn": {"seconds": 3}}}
    (tmp_path / "training.json").write_text(json.dumps(card))
    assert explore.load_training_history(tmp_path) == {"cnn": history}
    with pytest.raises(ValueError, match="no training history"):
        explore.plot_training_curves({}, title="t")


def test_table_prints_and_renders_html():
    table = explore.Table(("name", "value"), (("a<b", 0.12345), ("c", 2)), "Title")
    assert str(table).splitlines() == ["Title", "name  value", "a<b   0.123", "c     2    "]
    assert (
        "<td>a&lt;b</td>" in table._repr_html_()
        and "<caption>Title</caption>" in table._repr_html_()
    )


def test_wrong_labels_call_every_digit_the_next_one():
    np.testing.assert_array_equal(explore.wrong_labels(np.array([0, 5, 9])), [1, 6, 0])


def test_text_accuracy_compares_readings_with_labels():
    assert explore.text_accuracy(["1", "", "33"], np.array([1, 2, 3])) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="2 readings for 3 labels"):
        explore.text_accuracy(["1", "2"], np.array([1, 2, 3]))


def _assert_titled_and_labeled(figure):
    from matplotlib.figure import Figure

    assert isinstance(figure, Figure)
    title, xlabels, ylabels = _texts(figure)
    assert title
    assert any(xlabels) and any(ylabels)


def _drawn(figure) -> dict[str, int]:
    """What a figure's visible axes hold: images shown, lines plotted, patches (bars and
    histogram outlines)."""
    axes = [axes for axes in figure.get_axes() if axes.get_visible()]
    return {
        "images": sum(len(each.images) for each in axes),
        "lines": sum(len(each.lines) for each in axes),
        "patches": sum(len(each.patches) for each in axes),
    }


def _assert_draws(figure, **expected: int):
    """A titled, labeled figure that draws exactly the ``expected`` images, lines, patches."""
    _assert_titled_and_labeled(figure)
    drawn = _drawn(figure)
    assert {key: drawn[key] for key in expected} == expected, drawn


def test_every_figure_has_a_title_and_axis_labels_and_draws_its_data():
    images = np.stack([_bar_image()] * 6)
    labels = np.array([0, 0, 1, 1, 2, OTHER])
    probabilities = _probabilities(
        [{0: 0.9}, {3: 0.8}, {1: 0.6}, {1: 0.4}, {7: 0.9}, {OTHER: 0.9}]
    )
    curve = explore.threshold_curve(labels, probabilities, np.linspace(0, 1, 5))
    history = [
        {"epoch": e, "loss": 1 / e, "val_accuracy": 0.9, "learning_rate": 1e-3} for e in (1, 2)
    ]
    misreads = explore.worst_misreads(labels, probabilities)
    assert len(misreads) == 3  # read 3 for a 0, 1 at 0.4 (below the bar), 7 for a 2
    # Each figure with the images, lines and patches its inputs call for.
    drawn = [
        # six inputs, at most two per class: every one shown
        (explore.class_gallery(images, labels, per_class=2, title="gallery", rng=0), 6, 0, 0),
        (
            explore.image_grid(list(images), columns=3, title="grid", xlabel="x", ylabel="y"),
            6,
            0,
            0,
        ),
        # one group: its mean image, four histograms (one outline each), one ink-level curve
        (
            explore.plot_pixel_statistics({"bars": explore.pixel_statistics(images)}, title="s"),
            1,
            1,
            4,
        ),
        # two inputs, each beside one model's 11 probability bars
        (
            explore.plot_inputs_and_probabilities(images[:2], {"m": probabilities[:2]}, title="p"),
            2,
            0,
            22,
        ),
        (explore.plot_variants(np.stack([_bar_image()] * 24), title="variants"), 24, 0, 0),
        # one model: one matrix
        (
            explore.plot_confusion_matrices(
                explore.confusion_matrices(labels, {"m": probabilities}), title="confusion"
            ),
            1,
            0,
            0,
        ),
        (explore.plot_misreads(images, labels, probabilities, misreads, title="worst"), 3, 0, 0),
        # no misreads: a note, no image
        (
            explore.plot_misreads(images, labels, probabilities, np.zeros(0, np.int64), title="n"),
            0,
            0,
            0,
        ),
        # one curve: three lines of the trade-off, three against the threshold and its marker
        (explore.plot_threshold_curves({"m": curve}, 0.5, title="threshold"), 0, 7, 0),
        # one model: loss, accuracy and learning rate, one line each
        (explore.plot_training_curves({"cnn": history}, title="training"), 0, 3, 0),
    ]
    for figure, images_shown, lines, patches in drawn:
        _assert_draws(figure, images=images_shown, lines=lines, patches=patches)
    training = drawn[-1][0]
    loss_line = training.get_axes()[0].lines[0]
    np.testing.assert_allclose(loss_line.get_ydata(), [1.0, 0.5])  # the history's losses


def test_style_gallery_and_canvas_figures_show_real_drawings():
    from digitlib.drawings.data import PenDigit

    strokes = [np.array([[0, 0], [0, 10]], np.float32), np.array([[-3, 2], [0, 0]], np.float32)]
    digit = PenDigit(strokes, 1, 7, 0)
    assert explore.drawing_name(digit) == "digit 1\nwriter 7"
    # one drawing in two styles
    styles = explore.style_gallery([digit], explore.gallery_styles()[:2], title="styles")
    _assert_draws(styles, images=2)
    canvases = explore.render_canvases([digit, strokes], rng=0)
    assert all(canvas.dtype == np.uint8 and canvas.ndim == 3 for canvas in canvases)
    # two canvases, each as drawn, as naively shrunk and as the model input
    _assert_draws(explore.plot_canvas_to_input(canvases, title="canvas"), images=6)
    drawings = explore.WriterDrawings(7, canvases, np.array([1, 1]))
    _assert_draws(
        explore.plot_before_after(drawings, ["7", "1"], ["1", "1"], title="before and after"),
        images=2,
    )


class _Reader:
    """A stand-in recognizer: reads each canvas as the text it was given for it."""

    def __init__(self, texts: dict[int, str]):
        self.texts = texts

    def recognize_many(self, canvases):
        from digitlib.recognize import Result

        return [Result(self.texts[id(canvas)]) for canvas in canvases]


def test_worst_digit_is_the_digit_read_right_least_often():
    canvases = [np.zeros((4, 4), np.uint8) for _ in range(6)]
    labels = np.array([1, 1, 7, 7, 9, 9])
    readings = ["1", "7", "7", "7", "7", "7"]  # 1: half right, 7: all, 9: none
    reader = _Reader({id(c): t for c, t in zip(canvases, readings, strict=True)})
    drawings = explore.WriterDrawings(28, canvases, labels)
    assert explore.worst_digit(reader, drawings) == 9
    readings[4] = "9"  # 1 and 9 both half right: the smaller digit
    reader = _Reader({id(c): t for c, t in zip(canvases, readings, strict=True)})
    assert explore.worst_digit(reader, drawings) == 1
    with pytest.raises(ValueError, match="no drawings"):
        explore.worst_digit(reader, explore.WriterDrawings(28, [], np.zeros(0, np.int64)))


def test_digit_drawings_keep_taught_drawings_out_of_the_measured_ones():
    from digitlib.drawings import data

    mine = [d for d in data.load_pendigits() if d.writer == 28 and d.label == 1]
    corrected, unseen = explore.digit_drawings(28, 1, 3, renderings=2, rng=0)
    assert len(corrected) == 3 and len(unseen) == 2 * (len(mine) - 3)
    assert set(corrected.labels) == set(unseen.labels) == {1}
    assert all(canvas.ndim == 3 and canvas.dtype == np.uint8 for canvas in corrected.canvases)
    with pytest.raises(ValueError, match="need more than"):
        explore.digit_drawings(28, 1, len(mine), rng=0)
