"""DrawingStore: drawings, export, review queue and update log, on a local folder and on S3."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from digitlib.drawings.data import read_idx
from digitlib.store import DrawingStore, KeyNotFound
from digitlib.store.drawings import (
    OTHER,
    check_strokes,
    finite_strokes,
    labels_text,
    normalize_labels,
)

PNG = cv2.imencode(".png", np.full((12, 10), 255, np.uint8))[1].tobytes()  # a real 10x12 PNG


def segment_images(count: int, offset: float = 0.0) -> np.ndarray:
    """``count`` distinguishable 28x28 float32 inputs: image i is filled with (i + 1) / 20."""
    return np.stack([np.full((28, 28), (i + 1) / 20 + offset, np.float32) for i in range(count)])


@pytest.fixture
def drawings(store):
    return DrawingStore(store)


def test_save_get_round_trip(drawings, store):
    segments = segment_images(2)
    record = drawings.save(
        PNG,
        "42",
        predictions={"ensemble": "47", "cnn": [[0.1] * 11]},
        session_id="s-1",
        segments=segments,
    )
    assert record.labels == (4, 2) and record.text == "42"
    assert record.has_segments and record.png_size == len(PNG)
    assert sorted(store.list("drawings/")) == [
        f"drawings/{record.id}.{suffix}" for suffix in ("json", "npy", "png")
    ]
    drawing = drawings.get(record.id)
    assert drawing.png == PNG and drawing.record == record
    np.testing.assert_array_equal(drawing.segments, segments)
    assert drawing.segments.dtype == np.float32
    assert drawing.record.predictions == {"ensemble": "47", "cnn": [[0.1] * 11]}
    assert drawing.record.session_id == "s-1"


def test_list_is_oldest_first_and_complete_only(drawings, store):
    ids = [drawings.save(PNG, label).id for label in ("1", "22", "?3")]
    store.put("drawings/20990101T000000000000Z-00000000.png", PNG)  # no metadata: incomplete
    listed = drawings.list()
    assert [r.id for r in listed] == ids
    assert [r.labels for r in listed] == [(1,), (2, 2), (OTHER, 3)]


def test_relabel_keeps_history(drawings):
    record = drawings.save(PNG, "17", segments=segment_images(2))
    relabeled = drawings.relabel(record.id, [1, 7][::-1])
    assert relabeled.labels == (7, 1)
    assert [h["labels"] for h in relabeled.label_history] == [[1, 7]]
    assert drawings.get(record.id).record.labels == (7, 1)
    with pytest.raises(ValueError, match="has 2 segments; give 2 labels, got 3"):
        drawings.relabel(record.id, "123")


def test_delete(drawings, store):
    keep = drawings.save(PNG, "1")
    gone = drawings.save(PNG, "2", segments=segment_images(1))
    drawings.delete(gone.id)
    assert [r.id for r in drawings.list()] == [keep.id]
    assert all(gone.id not in key for key in store.list())
    with pytest.raises(KeyNotFound, match=gone.id):
        drawings.get(gone.id)
    with pytest.raises(KeyNotFound):
        drawings.delete(gone.id)


def test_export_npz_and_idx(drawings, tmp_path):
    first = drawings.save(PNG, "12", segments=segment_images(2))
    second = drawings.save(PNG, "?", segments=segment_images(1, offset=0.5))
    drawings.save(PNG, "7")  # no segments and no extract: skipped, reported

    result = drawings.export(tmp_path / "out" / "set.npz", "npz")
    assert result.count == 3 and result.paths == [tmp_path / "out" / "set.npz"]
    assert len(result.skipped) == 1 and "no stored segments" in result.skipped[0][1]
    with np.load(result.paths[0], allow_pickle=False) as data:
        assert data["images"].shape == (3, 28, 28) and data["images"].dtype == np.float32
        np.testing.assert_array_equal(data["labels"], [1, 2, OTHER])
        assert list(data["drawing_ids"]) == [first.id, first.id, second.id]
        np.testing.assert_allclose(data["images"][:, 0, 0], [0.05, 0.10, 0.55])

    result = drawings.export(tmp_path / "idx", "idx")
    images = read_idx((tmp_path / "idx" / "images-idx3-ubyte").read_bytes())
    labels = read_idx((tmp_path / "idx" / "labels-idx1-ubyte").read_bytes())
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 0, 0], [13, 26, 140])  # round(255 * value)
    np.testing.assert_array_equal(labels, [1, 2, OTHER])


def test_export_with_extract_for_drawings_without_segments(drawings, tmp_path):
    drawings.save(PNG, "35")
    drawings.save(PNG, "8")
    calls = []

    def extract(png):  # like digitlib.image.segment.extract: (box, 28x28) pairs
        calls.append(png)
        return [((0, 0, 1, 1), image) for image in segment_images(2)]

    result = drawings.export(tmp_path / "set.npz", extract=extract)
    assert len(calls) == 2 and calls[0] == PNG
    assert result.count == 2
    assert [reason for _, reason in result.skipped] == ["2 segments for 1 labels"]


def test_size_limit(store):
    drawings = DrawingStore(store, max_png_bytes=100)
    drawings.save(PNG + bytes(100 - len(PNG)), "1")
    with pytest.raises(ValueError, match="drawing is 101 bytes, over the limit of 100"):
        drawings.save(PNG + bytes(101 - len(PNG)), "1")
    assert len(drawings.list()) == 1


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"png": b"GIF89a"}, ValueError, "PNG signature"),
        ({"png": "text"}, TypeError, "png must be PNG bytes"),
        ({"labels": ""}, ValueError, "labels are empty"),
        ({"labels": "4a"}, ValueError, "label 'a' at position 1 is not a digit"),
        ({"labels": [3, 11]}, ValueError, "label 11 at position 1"),
        ({"labels": "1" * 65}, ValueError, "more than the limit of 64"),
        ({"session_id": "has space"}, ValueError, "session_id must be 1-64 letters"),
        ({"segments": np.zeros((2, 28, 28))}, ValueError, "2 segments but 1 labels"),
        ({"segments": np.zeros((1, 20, 20))}, ValueError, r"shape \(K, 28, 28\)"),
        ({"predictions": {"x": object()}}, TypeError, "must be JSON-serializable"),
    ],
)
def test_bad_drawings_are_refused_and_nothing_is_written(drawings, store, kwargs, error, message):
    arguments = {"png": PNG, "labels": "1", **kwargs}
    with pytest.raises(error, match=message):
        drawings.save(arguments.pop("png"), arguments.pop("labels"), **arguments)
    assert store.list() == []


def test_bad_ids_and_formats(drawings, tmp_path):
    with pytest.raises(ValueError, match="is not a drawing id"):
        drawings.get("../../etc/passwd")
    with pytest.raises(ValueError, match="export format must be 'npz' or 'idx'"):
        drawings.export(tmp_path / "x", "csv")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ValueError, match="writes two files into a folder"):
        drawings.export(tmp_path / "file", "idx")


def test_review_queue(drawings):
    held = drawings.hold(
        PNG,
        "7",
        reason="label disagrees with every model",
        segments=segment_images(1),
        session_id="abc",
    )
    other = drawings.hold(PNG, "1")
    assert [r.id for r in drawings.list_held()] == [held.id, other.id]
    assert drawings.list_held()[0].reason == "label disagrees with every model"
    assert drawings.list() == []  # held drawings are not part of the data set yet

    accepted = drawings.accept(held.id, labels="1")
    assert accepted.labels == (1,) and accepted.record.label_history[0]["labels"] == [7]
    np.testing.assert_array_equal(accepted.segments, segment_images(1))
    assert [r.id for r in drawings.list()] == [held.id]
    assert drawings.get(held.id).record.labels == (1,)

    drawings.reject(other.id)
    assert drawings.list_held() == []
    with pytest.raises(KeyNotFound, match="held for review"):
        drawings.accept(other.id)
    with pytest.raises(KeyNotFound):
        drawings.reject(other.id)


def test_update_log(drawings):
    assert drawings.updates() == []
    ids = [
        drawings.record_update(
            {
                "promoted": i % 2 == 0,
                "metrics": {"accuracy": 0.9 + i / 100},
                "versions": {"cnn": i},
            }
        )
        for i in range(3)
    ]
    updates = drawings.updates()
    assert [u["id"] for u in updates] == ids
    assert [u["versions"]["cnn"] for u in updates] == [0, 1, 2]
    assert all("recorded_at" in u for u in updates)
    assert [u["id"] for u in drawings.updates(limit=2)] == ids[1:]
    assert drawings.updates(limit=0) == []
    with pytest.raises(TypeError, match="an update is a dict"):
        drawings.record_update(["not", "a", "dict"])
    with pytest.raises(TypeError, match="JSON-serializable"):
        drawings.record_update({"model": object()})


@pytest.mark.parametrize(
    "labels, expected",
    [
        ("42", [4, 2]),
        ("4?", [4, OTHER]),
        ([1, "2", "other", 10], [1, 2, OTHER, OTHER]),
        (np.array([3, 4]), [3, 4]),
    ],
)
def test_normalize_labels(labels, expected):
    assert normalize_labels(labels) == expected
    assert normalize_labels(labels_text(expected)) == expected


STROKES = {
    "canvas_size": [240, 340],
    "strokes": [
        {"points": [[10, 10], [12, 40], [13, 80]], "times_ms": [0, 16, 33], "width": 12},
        {"points": [[50, 10], [50, 80]], "width": 8},
    ],
}


def test_strokes_are_kept_with_the_drawing_and_exported(store, tmp_path):
    store = DrawingStore(store)
    kept = store.save(PNG, "1", segments=np.zeros((1, 28, 28), np.float32), strokes=STROKES)
    store.save(PNG, "7", segments=np.zeros((1, 28, 28), np.float32))  # saved without them
    assert store.get(kept.id).record.strokes["strokes"][0]["times_ms"] == [0, 16, 33]
    result = store.export(tmp_path / "set.npz")
    (line,) = (tmp_path / "set.npz.strokes.jsonl").read_text().splitlines()
    exported = json.loads(line)
    assert exported["id"] == kept.id and exported["labels"] == [1]
    assert exported["canvas_size"] == [240, 340] and len(exported["strokes"]) == 2
    assert tmp_path / "set.npz.strokes.jsonl" in result.paths


@pytest.mark.parametrize(
    "strokes, message",
    [
        ({"strokes": []}, "canvas_size"),
        ({"canvas_size": [240, 340], "strokes": [{"points": [], "width": 3}]}, "points"),
        ({"canvas_size": [240, 340], "strokes": [{"points": [[1, 2]], "width": 0}]}, "width"),
        (
            {
                "canvas_size": [240, 340],
                "strokes": [{"points": [[1, 2], [3, 4]], "times_ms": [5, 1], "width": 2}],
            },
            "times_ms must rise",
        ),
    ],
)
def test_bad_strokes_are_refused_and_nothing_is_saved(store, strokes, message):
    store = DrawingStore(store)
    with pytest.raises(ValueError, match=message):
        store.save(PNG, "1", strokes=strokes)
    assert store.list() == []


def _with_point(point, field="points"):
    """STROKES with one number replaced: the second point of the first stroke, or its width."""
    strokes = json.loads(json.dumps(STROKES))
    if field == "points":
        strokes["strokes"][0]["points"][1] = point
    else:
        strokes["strokes"][0][field] = point
    return strokes


@pytest.mark.parametrize(
    "strokes, message",
    [
        (_with_point([float("inf"), 20]), r"stroke 0: points must be finite .* point 1 is \[inf"),
        (_with_point([3, float("-inf")]), r"stroke 0: points must be finite .* point 1 is"),
        (_with_point([float("nan"), 20]), r"stroke 0: points must be finite .* point 1 is \[nan"),
        (_with_point(float("inf"), "width"), "width must be a finite number > 0"),
        (_with_point([0, float("nan"), 33], "times_ms"), "times_ms must be finite numbers"),
        ({"canvas_size": [float("inf"), 340], "strokes": []}, "finite numbers of pixels"),
    ],
)
def test_non_finite_strokes_are_refused_with_what_was_expected(store, strokes, message):
    drawings = DrawingStore(store)
    with pytest.raises(ValueError, match=message):
        drawings.save(PNG, "1", strokes=strokes)
    with pytest.raises(ValueError, match=message):
        drawings.hold(PNG, "1", strokes=strokes)
    assert store.list() == []


def test_drawing_metadata_is_strict_json(store):
    drawings = DrawingStore(store)
    with pytest.raises(ValueError, match="holds NaN or Infinity, which strict JSON cannot hold"):
        drawings.save(PNG, "1", predictions={"confidence": float("nan")})
    assert store.list() == []
    far = _with_point([1e308, -1e308])  # finite, though no canvas is that large
    record = drawings.save(PNG, "1", strokes=far, predictions={"confidence": 1e308})

    def strict(constant):
        raise ValueError(f"{constant} is not JSON")

    stored = json.loads(store.get(f"drawings/{record.id}.json"), parse_constant=strict)
    assert stored["strokes"]["strokes"][0]["points"][1] == [1e308, -1e308]


@pytest.mark.parametrize("label", ["²", "٣", "12", "a", "", "-1"])
def test_labels_are_ascii_digits_or_other(label):
    with pytest.raises(ValueError, match=f"label {label!r} at position 0 is not a digit 0-9"):
        normalize_labels([label])
    if len(label) == 1:
        with pytest.raises(ValueError, match=f"label {label!r} at position 0 is not a digit"):
            normalize_labels(label)


# What a tampered page got stored before the finiteness check: Python's json writes bare
# Infinity and NaN. Written by hand, as such a store holds them.
ONE_BAD_POINT = (
    '{"id": "%s", "labels": [1], "created_at": "2025-01-01T12:00:00+00:00", "png_size": 10, '
    '"strokes": {"canvas_size": [240, 340], "strokes": [{"points": [[10, 10], [Infinity, 20], '
    '[10, 60]], "times_ms": [0, 16, 33], "width": 12.0}, {"points": [[50, 10]], "width": 8.0}]}}'
)
NO_FINITE_POINT = (
    '{"id": "%s", "labels": [7], "created_at": "2025-01-01T12:00:01+00:00", "png_size": 10, '
    '"reason": "held", "strokes": {"canvas_size": [240, 340], "strokes": [{"points": '
    '[[NaN, 10], [-Infinity, 20]], "width": 12.0}]}}'
)
BAD_PREDICTIONS = (
    '{"id": "%s", "labels": [3], "created_at": "2025-01-01T12:00:02+00:00", "png_size": 10, '
    '"predictions": {"confidence": NaN}}'
)
IDS = [f"20250101T12000{i}000000Z-0000000{i}" for i in range(4)]


@pytest.fixture
def old_store(store):
    """A store with drawings saved before the finiteness check, and one saved today."""
    for folder, drawing_id, text in (
        ("drawings", IDS[0], ONE_BAD_POINT),
        ("review/held", IDS[1], NO_FINITE_POINT),
        ("drawings", IDS[2], BAD_PREDICTIONS),
    ):
        store.put(f"{folder}/{drawing_id}.png", PNG)
        store.put(f"{folder}/{drawing_id}.json", (text % drawing_id).encode())
    DrawingStore(store).save(PNG, "4", strokes=STROKES, segments=np.zeros((1, 28, 28)))
    return store


def _strict_json(data: bytes):
    def refuse(constant):
        raise ValueError(f"{constant} is not strict JSON")

    return json.loads(data, parse_constant=refuse)


def test_an_old_store_with_infinity_still_lists_and_exports(old_store, tmp_path):
    drawings = DrawingStore(old_store)
    assert [r.id for r in drawings.list()][:2] == IDS[0:3:2]
    assert [r.id for r in drawings.list_held()] == [IDS[1]]
    result = drawings.export(tmp_path / "set.npz")
    assert (
        IDS[0],
        "strokes not exported: they hold NaN or Infinity; see 'digitlib drawings verify --repair'",
    ) in result.skipped
    (line,) = (tmp_path / "set.npz.strokes.jsonl").read_text().splitlines()  # today's drawing
    assert _strict_json(line.encode())["labels"] == [4]
    with pytest.raises(ValueError, match="drawings verify --repair"):
        drawings.relabel(IDS[0], "7")


def test_verify_reports_exactly_what_repair_changes_and_changes_nothing(old_store):
    before = {key: old_store.get(key) for key in old_store.list()}
    report = DrawingStore(old_store).verify()
    assert report.checked == 4 and not report.ok
    one, bad_predictions, held = report.problems
    assert one.key == f"drawings/{IDS[0]}.json" and not one.repaired
    assert (
        "stroke 0: points must be finite" in one.problem
        and "point 1 is [inf, 20.0]" in one.problem
    )
    assert one.changes == ("dropped 1 of the 3 points of stroke 0: point 1 [inf, 20.0]",)
    assert bad_predictions.key == f"drawings/{IDS[2]}.json" and not bad_predictions.repairable
    assert (
        "NaN or Infinity" in bad_predictions.problem and "left as it is" in bad_predictions.problem
    )
    assert held.key == f"review/held/{IDS[1]}.json"
    assert held.changes == (
        "dropped stroke 0: none of its 2 points is finite ([[nan, 10.0], [-inf, 20.0]])",
        "removed the strokes: no stroke with a finite point is left",
    )
    assert {key: old_store.get(key) for key in old_store.list()} == before
    as_json = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert as_json["checked"] == 4 and as_json["ok"] is False
    assert as_json["problems"][0]["changes"] == list(one.changes)


def test_repair_drops_only_the_non_finite_points_and_keeps_the_originals(old_store):
    drawings = DrawingStore(old_store)
    report = drawings.verify(repair=True)
    assert [p.repaired for p in report.problems] == [True, False, True] and not report.ok
    repaired = _strict_json(old_store.get(f"drawings/{IDS[0]}.json"))
    first, second = repaired["strokes"]["strokes"]
    assert first == {"points": [[10, 10], [10, 60]], "width": 12.0, "times_ms": [0, 33]}
    assert second == {"points": [[50, 10]], "width": 8.0}
    assert repaired["labels"] == [1] and repaired["id"] == IDS[0]
    held = _strict_json(old_store.get(f"review/held/{IDS[1]}.json"))
    assert held["strokes"] is None and held["labels"] == [7] and held["reason"] == "held"
    assert drawings.get_held(IDS[1]).png == PNG
    originals = {key: old_store.get(key) for key in old_store.list("repaired/")}
    assert originals == {
        f"repaired/drawings/{IDS[0]}.json": (ONE_BAD_POINT % IDS[0]).encode(),
        f"repaired/review/held/{IDS[1]}.json": (NO_FINITE_POINT % IDS[1]).encode(),
    }
    again = drawings.verify(repair=True)  # what could be repaired was; the rest stays reported
    assert [p.key for p in again.problems] == [f"drawings/{IDS[2]}.json"]
    assert [r.id for r in drawings.list()][:2] == IDS[0:3:2]


def test_finite_strokes_of_good_strokes_change_nothing():
    assert finite_strokes(STROKES) == (check_strokes(STROKES), ())
    strokes, changes = finite_strokes({"canvas_size": [float("inf"), 340], "strokes": []})
    assert strokes is None and changes == (
        "removed the strokes: the canvas size [inf, 340] is not finite",
    )
    strokes, changes = finite_strokes(_with_point(float("inf"), "width"))
    assert changes == ("dropped stroke 0 (3 points): its width inf is not finite",)
    assert strokes["strokes"] == [{"points": [[50.0, 10.0], [50.0, 80.0]], "width": 8.0}]
