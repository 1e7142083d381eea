"""digitlib.recognize: the public Recognizer API with stand-in models, and (when the shipped
checkpoints exist) how well it reads held-out writers' digits and numbers and rejects doodles."""

import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest

from digitlib.config import HELD_OUT, OTHER
from digitlib.image.augment import second_look_variants
from digitlib.models import NumpyFNN
from digitlib.recognize import (
    DecisionParams,
    Recognizer,
    Result,
    decide,
    has_digit_shape,
    load_recognizer,
    looks_like_number,
    whole_matters,
)

# --- stand-in models --------------------------------------------------------------------------


class FixedModel:
    """A stand-in Classifier: the same probabilities for every input; counts its calls."""

    def __init__(self, name: str, label: int, confidence: float = 0.9):
        self.name = name
        self.row = np.full(11, (1.0 - confidence) / 10, np.float32)
        self.row[label] = confidence
        self.calls: list[int] = []

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        assert images.dtype == np.float32 and images.shape[1:] == (28, 28)
        self.calls.append(len(images))
        return np.tile(self.row, (len(images), 1))


class RatioModel:
    """A stand-in Classifier that reads a tall narrow input as 1 and anything else as 0."""

    name = "ratio"

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        rows = np.zeros((len(images), 11), np.float32)
        for index, image in enumerate(images):
            columns = np.flatnonzero(image.max(axis=0) > 0.3)
            narrow = columns.size and columns[-1] - columns[0] < 9
            rows[index, 1 if narrow else 0] = 1.0
        return rows


def drawing(kind: str = "rgba") -> np.ndarray:
    """A canvas with a ring (left) and a bar (right): reads "01" with RatioModel."""
    ink = np.zeros((80, 160), np.uint8)
    cv2.circle(ink, (40, 40), 25, 255, 6)
    cv2.line(ink, (110, 12), (110, 68), 255, 6)
    if kind == "gray":
        return 255 - ink
    if kind == "rgb":
        return np.repeat((255 - ink)[..., None], 3, axis=2)
    rgba = np.zeros((80, 160, 4), np.uint8)
    rgba[..., 3] = ink
    return rgba


def encoded(image: np.ndarray, extension: str) -> bytes:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(extension, image)
    assert ok
    return buffer.tobytes()


@pytest.fixture
def recognizer():
    return Recognizer(
        {"ratio": RatioModel(), "fixed": FixedModel("fixed", 7, 0.2)}, {"ratio": 4.0}
    )


INPUT_KINDS = {
    "gray": lambda: drawing("gray"),
    "rgb": lambda: drawing("rgb"),
    "rgba": lambda: drawing("rgba"),
    "png": lambda: encoded(drawing("rgb"), ".png"),
    "jpeg": lambda: encoded(drawing("rgb"), ".jpg"),
}


@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_every_input_kind_reads_the_same(recognizer, kind):
    result = recognizer.recognize(INPUT_KINDS[kind]())
    assert isinstance(result, Result)
    assert result.text == "01"
    assert [segment.label for segment in result.segments] == [0, 1]
    ring, bar = result.segments
    assert ring.box[0] < bar.box[0]  # left to right
    assert abs(ring.box[0] - 12) <= 2 and abs(ring.box[2] - 57) <= 3  # image pixels
    for segment in result.segments:
        assert segment.image.shape == (28, 28) and segment.image.dtype == np.float32
        assert set(segment.probabilities) == {"ratio", "fixed", "ensemble"}
        assert all(len(values) == 11 for values in segment.probabilities.values())
        assert sum(segment.probabilities["ensemble"]) == pytest.approx(1.0, abs=1e-5)
        assert 0.0 <= segment.confidence <= 1.0


# The strokes of drawing(): the ring (drawn as a polygon, counter-clockwise from the right) and
# the bar (top to bottom), in drawing order bar first.
RING = [(40 + 25 * np.cos(a), 40 - 25 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40)]
BAR = [(110, 12, 0.0), (110, 40, 120.0), (110, 68, 250.0)]


def test_strokes_go_to_the_segments_that_hold_them(recognizer):
    result = recognizer.recognize(drawing(), strokes=[BAR, RING])
    ring, bar = result.segments
    assert ring.strokes == (1,) and bar.strokes == (0,)


def test_strokes_do_not_change_the_reading(recognizer):
    plain = recognizer.recognize(drawing())
    with_strokes = recognizer.recognize(drawing(), strokes=[RING, BAR])
    assert with_strokes.text == plain.text == "01"
    for a, b in zip(plain.segments, with_strokes.segments, strict=True):
        assert (a.label, a.confidence, a.box, a.probabilities) == (
            b.label,
            b.confidence,
            b.box,
            b.probabilities,
        )
        assert a.strokes == ()


def test_a_drawing_read_as_a_whole_owns_all_its_strokes():
    result = Recognizer({"doodle": FixedModel("doodle", OTHER)}).recognize(
        drawing(), strokes=[RING, BAR]
    )
    (whole,) = result.segments
    assert whole.strokes == (0, 1)


@pytest.mark.parametrize(
    ("strokes", "message"),
    [
        ([[(500, 10), (510, 10)]], "leaves the image"),
        ([[(10, float("nan"))]], "NaN or infinite"),
        ([[1, 2, 3]], r"expected \(n, 2\) or \(n, 3\)"),
        ("ratio", r"pass it by name: recognize\(image, model=...\)"),
        ([np.zeros((30_000, 2))], "more than 20000 points"),
    ],
)
def test_bad_strokes_are_refused_saying_what_was_expected(recognizer, strokes, message):
    with pytest.raises(ValueError, match=message):
        recognizer.recognize(drawing(), strokes=strokes)


def test_recognize_many_takes_one_stroke_list_per_image(recognizer):
    results = recognizer.recognize_many([drawing(), drawing()], strokes=[[RING, BAR], None])
    assert [s.strokes for s in results[0].segments] == [(0,), (1,)]
    assert [s.strokes for s in results[1].segments] == [(), ()]
    with pytest.raises(ValueError, match="one entry .* per image: got 1 for 2 images"):
        recognizer.recognize_many([drawing(), drawing()], strokes=[None])


class StrokeCounter:
    """A stand-in stroke model: reads a segment as the digit of its number of strokes (1 for
    one stroke, 2 for two...), sure; records the inputs it was given."""

    def __init__(self):
        self.calls: list[np.ndarray] = []

    def predict_proba(self, inputs: np.ndarray) -> np.ndarray:
        inputs = np.asarray(inputs)
        assert inputs.dtype == np.float32 and inputs.shape[1:] == (64, 6)
        self.calls.append(inputs)
        rows = np.zeros((len(inputs), 11), np.float32)
        rows[np.arange(len(inputs)), inputs[:, :, 5].sum(axis=1).astype(int)] = 1.0
        return rows


def test_the_stroke_model_reads_each_segment_with_strokes_in_one_batch(recognizer):
    counter = StrokeCounter()
    recognizer.set_stroke_model(counter, 3)
    split_bar = [BAR[:2], BAR[1:]]
    result = recognizer.recognize(drawing(), strokes=[RING, *split_bar])
    ring, bar = result.segments
    assert len(counter.calls) == 1 and len(counter.calls[0]) == 2
    assert np.argmax(ring.probabilities["strokes"]) == 1
    assert np.argmax(bar.probabilities["strokes"]) == 2
    assert recognizer.stroke_model is counter and recognizer.stroke_version == 3


def test_a_sure_stroke_reading_settles_what_the_picture_leaves_open():
    recognizer = Recognizer({"fixed": FixedModel("fixed", 7, 0.5)}, stroke_model=StrokeCounter())
    assert recognizer.recognize(drawing()).text == ""  # 50% sure of a 7: not enough
    result = recognizer.recognize(drawing(), strokes=[RING, BAR])
    assert result.text == "11"  # one stroke each
    for segment in result.segments:
        assert np.argmax(segment.probabilities["images"]) == 7
        assert np.argmax(segment.probabilities["ensemble"]) == 1
        assert segment.confidence == pytest.approx(max(segment.probabilities["ensemble"]))


def test_the_fusion_is_chosen_by_the_recognizer():
    from digitlib.recognize.decision import FusionParams

    images_only = FusionParams(weight=0.0)
    recognizer = Recognizer(
        {"fixed": FixedModel("fixed", 7, 0.5)}, stroke_model=StrokeCounter(), fusion=images_only
    )
    assert recognizer.recognize(drawing(), strokes=[RING, BAR]).text == ""


def test_without_strokes_the_stroke_model_is_not_asked(recognizer):
    counter = StrokeCounter()
    recognizer.set_stroke_model(counter)
    result = recognizer.recognize(drawing())
    assert counter.calls == [] and all("strokes" not in s.probabilities for s in result.segments)


def test_a_segment_no_stroke_belongs_to_has_no_stroke_reading(recognizer):
    recognizer.set_stroke_model(StrokeCounter())
    ring, bar = recognizer.recognize(drawing(), strokes=[RING]).segments
    assert "strokes" in ring.probabilities and "strokes" not in bar.probabilities


def test_a_stroke_model_must_read():
    with pytest.raises(ValueError, match=r"no predict_proba\(inputs\) method"):
        Recognizer({"fixed": FixedModel("fixed", 1)}, stroke_model=object())


def test_segments_go_through_each_model_in_one_batch():
    fixed = FixedModel("fixed", 3)
    recognizer = Recognizer({"fixed": fixed})
    result = recognizer.recognize(drawing())
    assert result.text == "33"
    # Two segments, one call; a number of sure digits is read as its digits, whatever the
    # whole drawing would be, so the whole drawing is not read at all.
    assert fixed.calls == [2]


def test_the_whole_drawing_is_read_when_the_decision_needs_it():
    # Two segments read as "other": the whole drawing decides (a doodle of several pieces).
    doodle = FixedModel("doodle", OTHER)
    result = Recognizer({"doodle": doodle}).recognize(drawing())
    assert doodle.calls == [2, 1]
    (whole,) = result.segments
    assert result.text == "" and whole.label == OTHER
    assert whole.image.shape == (28, 28) and whole.image.max() > 0
    left, top, width, height = whole.box  # the union of the two segments' boxes
    assert width > 57 and set(whole.probabilities) == {"doodle", "ensemble"}


def test_recognize_many_batches_every_drawing(recognizer):
    fixed = FixedModel("fixed", 3)
    many = Recognizer({"fixed": fixed})
    empty = np.zeros((40, 40, 4), np.uint8)
    results = many.recognize_many([drawing(), empty, drawing("gray")])
    assert [result.text for result in results] == ["33", "", "33"]
    assert fixed.calls == [4]  # every segment of every drawing in one call
    single = [recognizer.recognize(image) for image in (drawing(), empty)]
    assert [r.text for r in recognizer.recognize_many([drawing(), empty])] == [
        r.text for r in single
    ]


def test_model_argument_chooses_whose_probabilities_decide(recognizer):
    assert recognizer.recognize(drawing(), model="ratio").text == "01"
    # "fixed" is 20% sure of a 7: below min_confidence, every segment is "other".
    result = recognizer.recognize(drawing(), model="fixed")
    assert result.text == "" and all(s.label == OTHER for s in result.segments)
    with pytest.raises(ValueError, match="unknown model 'cnn'; choose one of"):
        recognizer.recognize(drawing(), model="cnn")


@pytest.mark.parametrize(
    "make", [lambda: np.zeros((50, 70, 4), np.uint8), lambda: np.full((50, 70, 3), 255, np.uint8)]
)
def test_empty_canvas_gives_an_empty_result(recognizer, make):
    result = recognizer.recognize(make())
    assert result.text == "" and result.segments == []


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((50, 50), np.float64), "dtype must be uint8"),
        (np.zeros((50, 50, 2), np.uint8), "shape must be"),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "could not decode"),
        (np.zeros((1, 1), np.uint8), "out of range"),
        (np.broadcast_to(np.uint8(255), (20000, 20000)), "out of range"),
        ("drawing.png", "NumPy uint8 array or PNG/JPEG bytes"),
    ],
    ids=["float", "shape", "empty-bytes", "corrupt-png", "1x1", "20000x20000", "str"],
)
def test_bad_images_raise_value_error(recognizer, image, message):
    with pytest.raises(ValueError, match=message):
        recognizer.recognize(image)


def test_set_models_swaps_at_once_and_keeps_versions():
    recognizer = Recognizer(
        {"a": FixedModel("a", 2), "b": FixedModel("b", 2)},
        versions={"a": 3, "b": "shipped"},
        decision=DecisionParams(min_confidence=0.4),
    )
    assert recognizer.versions == {"a": 3, "b": "shipped"}
    assert recognizer.recognize(drawing()).text == "22"
    recognizer.set_models({"a": FixedModel("a", 5, 0.99)}, versions={"a": 4})
    assert recognizer.versions == {"a": 4, "b": "shipped"}
    assert sorted(recognizer.models) == ["a", "b"]
    # weights kept: a and b weigh the same, a is sure of 5, b of 2
    assert recognizer.recognize(drawing()).text == "55"
    with pytest.raises(ValueError, match="non-empty dict"):
        Recognizer({})
    with pytest.raises(ValueError, match="predict_proba"):
        Recognizer({"a": object()})


class PausingModel(FixedModel):
    """A FixedModel whose first call waits until told to go on: a ``set_models`` can then run
    while a ``recognize`` is between its models' calls."""

    def __init__(self, name: str, label: int, confidence: float = 0.9):
        super().__init__(name, label, confidence)
        self.inside, self.go_on = threading.Event(), threading.Event()

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        if not self.inside.is_set():
            self.inside.set()
            assert self.go_on.wait(30), "the test never let the model go on"
        return super().predict_proba(images)


def test_recognize_during_set_models_sees_one_set_or_the_other():
    # Two models that read differently, so a reading made of both sets shows in its segments.
    old = {"a": PausingModel("a", 2, 0.9), "b": FixedModel("b", 3, 0.6)}
    new = {"a": FixedModel("a", 8, 0.9), "b": FixedModel("b", 5, 0.6)}
    recognizer = Recognizer(old, decision=DecisionParams(min_confidence=0.4))
    readings = []
    reader = threading.Thread(target=lambda: readings.append(recognizer.recognize(drawing())))
    reader.start()
    assert old["a"].inside.wait(30), "the recognize never reached the old set's first model"
    recognizer.set_models(new)  # while that recognize has read model a and not yet model b
    old["a"].go_on.set()
    reader.join(timeout=30)
    assert not reader.is_alive()
    readings.append(recognizer.recognize(drawing()))

    def labels_by_model(result):
        return {
            (
                int(np.argmax(segment.probabilities["a"])),
                int(np.argmax(segment.probabilities["b"])),
            )
            for segment in result.segments
        }

    during, after = readings
    assert during.text == "22" and labels_by_model(during) == {(2, 3)}  # wholly the old set
    assert after.text == "88" and labels_by_model(after) == {(8, 5)}  # wholly the new set


# --- the decision: doodles versus numbers -------------------------------------------------------


def probabilities(*labels_and_confidences):
    rows = []
    for label, confidence in labels_and_confidences:
        row = np.full(11, (1.0 - confidence) / 10)
        row[label] = confidence
        rows.append(row)
    return np.array(rows)


NUMBER_BOXES = [(0, 10, 30, 50), (45, 12, 25, 48), (80, 8, 32, 52)]
DOODLE_BOXES = [(0, 0, 30, 100), (40, 60, 20, 15), (70, 10, 80, 40)]


def test_looks_like_number():
    params = DecisionParams()
    assert looks_like_number(NUMBER_BOXES, params)
    assert not looks_like_number(DOODLE_BOXES, params)
    assert not looks_like_number([(0, 0, 30, 50), (40, 60, 30, 50)], params)  # not on one line
    assert not looks_like_number([(0, 0, 30, 50), (40, 0, 120, 50)], params)  # far too wide
    # A zero drawn wide (1.7 times as wide as tall) still belongs to its number.
    assert looks_like_number([(0, 0, 30, 50), (40, 5, 68, 40), (120, 0, 30, 50)], params)


def test_decide_reports_a_doodle_as_one_other_segment():
    params = DecisionParams()
    pieces = probabilities((1, 0.9), (7, 0.8), (4, 0.7))
    whole_other = probabilities((OTHER, 0.9))[0]
    whole_digit = probabilities((8, 0.9))[0]
    assert decide(pieces, whole_other, DOODLE_BOXES, params)[1] == OTHER
    assert decide(pieces, whole_other, NUMBER_BOXES, params)[1] is None
    assert decide(pieces, whole_digit, DOODLE_BOXES, params)[1] is None
    unsure = probabilities((1, 0.9), (7, 0.2), (4, 0.9))  # below even number_confidence
    labels, whole = decide(unsure, whole_other, NUMBER_BOXES, params)
    assert whole == OTHER
    assert labels[1][0] == OTHER and labels[1][1] == pytest.approx(0.8)


def test_decide_an_unsure_digit_among_digits_on_a_line_keeps_its_reading():
    params = DecisionParams(min_confidence=0.6, number_confidence=0.3, number_share=0.5)
    whole_other = probabilities((OTHER, 0.9))[0]  # a whole number is no single digit
    unsure = probabilities((1, 0.9), (8, 0.4), (4, 0.9))
    labels, whole = decide(unsure, whole_other, NUMBER_BOXES, params)
    assert whole is None and [label for label, _ in labels] == [1, 8, 4]
    # ... not when the pieces do not sit like a number, nor when most of them are unsure
    assert decide(unsure, whole_other, DOODLE_BOXES, params)[1] == OTHER
    mostly_unsure = probabilities((1, 0.9), (8, 0.4), (4, 0.5))
    labels, whole = decide(mostly_unsure, whole_other, NUMBER_BOXES, params)
    assert whole == OTHER and [label for label, _ in labels] == [1, OTHER, OTHER]
    # ... nor for a piece whose best class is "other", or whose shape no digit has
    labels, _ = decide(probabilities((1, 0.9), (OTHER, 0.5), (4, 0.9)), None, NUMBER_BOXES, params)
    assert [label for label, _ in labels] == [1, OTHER, 4]
    labels, _ = decide(unsure, None, NUMBER_BOXES, params, [(0, 1.0, 0), (3, 3.0, 0), (1, 2, 0)])
    assert [label for label, _ in labels] == [1, OTHER, 4]


def test_decide_reads_a_digit_drawn_in_pieces_as_one_digit():
    params = DecisionParams()
    halves = probabilities((OTHER, 0.8), (1, 0.6))  # a 0 drawn as "(" and ")"
    boxes = [(0, 0, 15, 50), (18, 0, 15, 50)]
    assert decide(halves, probabilities((0, 0.97))[0], boxes, params)[1] == 0
    assert decide(halves, probabilities((0, 0.6))[0], boxes, params)[1] is None  # unsure
    wide = [(0, 0, 40, 50), (45, 0, 40, 50)]
    assert decide(halves, probabilities((0, 0.97))[0], wide, params)[1] is None


def test_decide_shapes_no_digit_has_are_other():
    params = DecisionParams(max_holes=2)
    sure = probabilities((8, 0.99), (8, 0.99), (8, 0.99))
    labels, _ = decide(sure, None, NUMBER_BOXES[:1] * 3, params, [(2, 3.0), (3, 3.0), (1, 5.0)])
    # more holes than any digit: "other"; long strokes alone are no longer judged
    assert [label for label, _ in labels] == [8, OTHER, 8]
    wide = [(0, 0, 100, 40)]  # 2.5 times wider than tall
    assert decide(sure[:1], None, wide, params)[0][0][0] == OTHER
    # a piece of ink inside a hole (a clock's hands, a face's eyes) is no digit's
    labels, _ = decide(sure[:2], None, NUMBER_BOXES[:2], params, [(1, 3.0, 0), (1, 3.0, 1)])
    assert [label for label, _ in labels] == [8, OTHER]


def test_has_digit_shape_applies_each_rule():
    params = DecisionParams(max_holes=2, max_nested=0, max_digit_aspect=2.0)
    box = (0, 0, 40, 50)
    assert has_digit_shape((2, 4.5, 0), box, params)
    assert has_digit_shape((2, 4.5), box, params)  # no nested count: none
    assert not has_digit_shape((3, 3.0, 0), box, params)
    assert has_digit_shape((1, 9.0, 0), box, params)  # stroke length is not judged
    assert not has_digit_shape((1, 3.0, 1), box, params)
    assert not has_digit_shape((1, 3.0, 0), (0, 0, 101, 50), params)


def test_decide_single_segment_threshold():
    params = DecisionParams(min_confidence=0.6)
    labels, whole = decide(probabilities((3, 0.55)), None, [(0, 0, 10, 10)], params)
    assert labels == [(OTHER, pytest.approx(0.45))] and whole is None
    labels, _ = decide(probabilities((3, 0.65)), None, [(0, 0, 10, 10)], params)
    assert labels == [(3, pytest.approx(0.65))]


def test_whole_drawing_other_result_has_one_segment():
    # Pieces read as digits, the whole as "other" (a stand-in keyed on the input's shape), and
    # the pieces sit nothing like a number: one "other" segment covering the drawing.
    class DoodleModel:
        name = "doodle"

        def predict_proba(self, images):
            rows = np.zeros((len(images), 11), np.float32)
            rows[:, 1] = 1.0
            rows[-1] = 0.0
            rows[-1, OTHER] = 1.0  # the last input of a drawing is the whole drawing
            return rows

    image = np.full((120, 200), 255, np.uint8)
    cv2.line(image, (20, 10), (20, 110), 0, 5)
    cv2.line(image, (60, 90), (70, 95), 0, 5)
    cv2.rectangle(image, (100, 10), (190, 40), 0, 5)
    result = Recognizer({"doodle": DoodleModel()}).recognize(image)
    assert result.text == ""
    assert len(result.segments) == 1 and result.segments[0].label == OTHER
    x, y, width, height = result.segments[0].box
    assert x <= 20 and x + width >= 190 and y <= 10 and y + height >= 110


class SquintModel:
    """Reads a 7 with ``first`` (0.4, unsure) from the inputs of its first call and with
    ``clearer`` (0.95) from anything else: a drawing that reads differently when looked at
    again slightly changed."""

    name = "squint"

    def __init__(self, first: float = 0.4, clearer: float = 0.95):
        self.first_confidence, self.clearer = first, clearer
        self.first: np.ndarray | None = None
        self.calls: list[int] = []

    def predict_proba(self, images):
        images = np.asarray(images)
        self.calls.append(len(images))
        if self.first is None:
            self.first = images.copy()
        rows = np.empty((len(images), 11), np.float32)
        for index, image in enumerate(images):
            seen = any(np.array_equal(image, first) for first in self.first)
            confidence = self.first_confidence if seen else self.clearer
            rows[index] = (1.0 - confidence) / 10  # the rest spread over the other classes
            rows[index, 7] = confidence
        return rows


def one_stroke() -> np.ndarray:
    image = np.full((100, 100), 255, np.uint8)
    cv2.line(image, (30, 20), (70, 20), 0, 6)
    cv2.line(image, (70, 20), (40, 85), 0, 6)
    return image


VARIANT_COUNT = second_look_variants(np.zeros((1, 28, 28), np.float32)).shape[1]


def test_an_unsure_digit_gets_a_second_look():
    model = SquintModel()
    result = Recognizer({"squint": model}).recognize(one_stroke())
    assert result.text == "7"
    assert model.calls == [1, VARIANT_COUNT]
    # every model's probabilities of the segment are the mean over the variants
    assert result.segments[0].probabilities["squint"][7] == pytest.approx((0.4 + 8 * 0.95) / 9)


def test_a_fairly_sure_digit_gets_a_second_look_too_and_can_lose_it():
    # 0.8 clears min_confidence but not second_look_below; the variants read 0.3
    params = DecisionParams(min_confidence=0.6, second_look_below=0.9)
    model = SquintModel(first=0.8, clearer=0.3)
    result = Recognizer({"squint": model}, decision=params).recognize(one_stroke())
    assert model.calls == [1, VARIANT_COUNT]
    assert result.text == "" and result.segments[0].label == OTHER
    # with the old trigger (look again only below min_confidence) the 0.8 stands
    model = SquintModel(first=0.8, clearer=0.3)
    params = DecisionParams(min_confidence=0.6, second_look_below=0.6)
    assert Recognizer({"squint": model}, decision=params).recognize(one_stroke()).text == "7"
    assert model.calls == [1]


def test_a_second_look_has_its_own_confidence_bar():
    # the variants read 0.55, so the mean is (0.4 + 8 * 0.55) / 9 = 0.53: below min_confidence
    lenient = DecisionParams(min_confidence=0.6, second_look_confidence=0.5)
    strict = DecisionParams(min_confidence=0.6, second_look_confidence=0.6)
    squint = SquintModel(clearer=0.55)
    assert Recognizer({"squint": squint}, decision=lenient).recognize(one_stroke()).text == "7"
    result = Recognizer({"squint": SquintModel(clearer=0.55)}, decision=strict).recognize(
        one_stroke()
    )
    assert result.text == "" and result.segments[0].label == OTHER
    # the lenient bar is for second looks only: one look at 0.53 is not enough
    one_look = replace(lenient, second_look=False)
    fixed = FixedModel("fixed", 7, 0.53)
    assert Recognizer({"fixed": fixed}, decision=one_look).recognize(one_stroke()).text == ""


def test_the_second_look_can_be_turned_off_and_skips_sure_readings():
    model = SquintModel()
    params = DecisionParams(second_look=False)
    result = Recognizer({"squint": model}, decision=params).recognize(one_stroke())
    assert result.text == "" and model.calls == [1]
    sure = FixedModel("sure", 7, 0.95)
    assert Recognizer({"sure": sure}).recognize(one_stroke()).text == "7"
    assert sure.calls == [1]  # a sure reading costs no second call


def test_second_look_variants_are_fixed_and_keep_the_input_first():
    image = np.zeros((2, 28, 28), np.float32)
    image[:, 6:22, 12:16] = 1.0
    variants = second_look_variants(image)
    assert variants.shape == (2, 9, 28, 28) and variants.dtype == np.float32
    np.testing.assert_array_equal(variants[:, 0], image)
    np.testing.assert_array_equal(variants, second_look_variants(image))
    assert all(not np.array_equal(variants[0, 0], variant) for variant in variants[0, 1:])
    with pytest.raises(ValueError, match="28, 28"):
        second_look_variants(np.zeros((28, 28), np.float32))


# --- loading ----------------------------------------------------------------------------------


def test_load_recognizer_skips_corrupt_and_missing_checkpoints(tmp_path):
    NumpyFNN((784, 16, 11), rng=0).save(tmp_path / "numpy_fnn.npz")
    (tmp_path / "fnn.keras").write_bytes(b"this is not a zip file")
    recognizer = load_recognizer(tmp_path)
    assert list(recognizer.models) == ["numpy_fnn"]
    assert recognizer.versions == {"numpy_fnn": "shipped"}
    assert any("fnn" in warning and "skipped" in warning for warning in recognizer.warnings)
    assert any("cnn" in warning and "no checkpoint" in warning for warning in recognizer.warnings)
    result = recognizer.recognize(drawing())
    assert len(result.segments) in (1, 2)
    assert set(result.segments[0].probabilities) == {"numpy_fnn", "ensemble"}


def test_load_recognizer_without_any_model_says_how_to_fix(tmp_path):
    with pytest.raises(ValueError, match="digitlib train"):
        load_recognizer(tmp_path)


def test_load_recognizer_from_an_empty_store_falls_back_to_the_folder(tmp_path):
    import digitlib.store as store_module

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    NumpyFNN((784, 16, 11), rng=0).save(shipped / "numpy_fnn.npz")
    store = store_module.LocalStore(tmp_path / "store")
    recognizer = load_recognizer(shipped, store=store)
    assert list(recognizer.models) == ["numpy_fnn"]
    assert recognizer.versions == {"numpy_fnn": "shipped"}
    assert recognizer.recognize(drawing()).segments


# --- the shipped models on held-out writers and categories ---------------------------------------


@pytest.fixture(scope="module")
def shipped_recognizer():
    return load_recognizer()


@pytest.fixture(scope="module")
def held_out_digits():
    from digitlib.drawings.data import load_pendigits

    return [d for d in load_pendigits() if d.writer in HELD_OUT.pendigits_writers]


@pytest.mark.slow
def test_shipped_models_read_held_out_canvas_digits(shipped_recognizer, held_out_digits):
    from digitlib.drawings.data import random_style, render_strokes

    rng = np.random.default_rng(0)
    chosen = rng.choice(len(held_out_digits), 300, replace=False)
    images = [render_strokes(held_out_digits[i].strokes, random_style(rng)) for i in chosen]
    results = shipped_recognizer.recognize_many(images)
    labels = [str(held_out_digits[i].label) for i in chosen]
    exact = np.mean([r.text == label for r, label in zip(results, labels, strict=True)])
    as_other = np.mean([r.text == "" for r in results])
    assert exact >= 0.97
    assert as_other <= 0.02


@pytest.mark.slow
def test_shipped_models_read_held_out_numbers(shipped_recognizer, held_out_digits):
    from digitlib.drawings.data import render_number

    rng = np.random.default_rng(1)
    by_writer = {}
    for digit in held_out_digits:
        by_writer.setdefault(digit.writer, []).append(digit)
    right = 0
    for _ in range(100):
        pool = by_writer[int(rng.choice(list(by_writer)))]
        chosen = [pool[int(i)] for i in rng.integers(len(pool), size=int(rng.integers(2, 7)))]
        result = shipped_recognizer.recognize(render_number([d.strokes for d in chosen], rng))
        right += result.text == "".join(str(d.label) for d in chosen)
    assert right >= 88


@pytest.mark.slow
def test_shipped_models_reject_held_out_doodles(shipped_recognizer):
    from digitlib.drawings.data import (
        load_quickdraw_strokes,
        quickdraw_categories,
        random_style,
        render_strokes,
    )

    categories = HELD_OUT.quickdraw_categories(quickdraw_categories())
    doodles = load_quickdraw_strokes(categories)
    rng = np.random.default_rng(2)
    chosen = rng.choice(len(doodles), 300, replace=False)
    images = [render_strokes(doodles[i].strokes, random_style(rng)) for i in chosen]
    empty = np.mean([r.text == "" for r in shipped_recognizer.recognize_many(images)])
    assert empty >= 0.92


def test_the_whole_drawing_matters_only_beside_an_other_or_off_a_number():
    params = DecisionParams()
    digits = [(1, 0.9), (4, 0.95), (7, 0.8)]
    assert not whole_matters(digits, NUMBER_BOXES, params)
    assert whole_matters(digits, DOODLE_BOXES, params)  # not on one line
    assert whole_matters([(1, 0.9), (OTHER, 0.7), (7, 0.8)], NUMBER_BOXES, params)
    assert not whole_matters([(OTHER, 0.9)], NUMBER_BOXES[:1], params)  # one segment
