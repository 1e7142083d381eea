"""digitlib.drawings.data: loaders on the real files and on small broken ones; the canvas renderer."""

import gzip
import struct

import numpy as np
import pytest

from digitlib import config
from digitlib.drawings import data


def _write_gz(path, payload: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(payload)


def _idx_images(count, rows=28, cols=28, body=None):
    header = struct.pack(">IIII", 2051, count, rows, cols)
    return header + (bytes(count * rows * cols) if body is None else body)


def _idx_labels(labels):
    return struct.pack(">II", 2049, len(labels)) + bytes(labels)


# --- MNIST -----------------------------------------------------------------------------------


def test_mnist_train_on_the_real_files():
    images, labels = data.load_mnist("train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert int((labels == 0).sum()) == 5923
    assert set(np.unique(labels)) == set(range(10))


def test_mnist_test_on_the_real_files():
    images, labels = data.load_mnist("test")
    assert images.shape == (10000, 28, 28)
    assert labels.shape == (10000,)
    # white ink on black: the border is background
    assert images[:, 0, :].max() == 0 and images.max() == 255


def test_read_idx_decodes_images_and_labels():
    images = data.read_idx(_idx_images(2, 3, 4, body=bytes(range(24))))
    assert images.shape == (2, 3, 4) and images[1, 2, 3] == 23
    labels = data.read_idx(_idx_labels([7, 1, 0]))
    assert labels.tolist() == [7, 1, 0]


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x00\x00", "too short"),
        (struct.pack(">II", 1234, 1) + b"\x00", "bad IDX magic number 1234"),
        (_idx_images(2, body=bytes(100)), "truncated or corrupt"),
        (_idx_labels([1, 2, 3])[:-1], "truncated or corrupt"),
        (struct.pack(">II", 2051, 1), "truncated IDX image header"),
    ],
)
def test_read_idx_rejects_broken_data(payload, message):
    with pytest.raises(ValueError, match=message):
        data.read_idx(payload)


def test_load_mnist_reports_a_truncated_file_by_name(tmp_path):
    _write_gz(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", _idx_images(5)[:-10])
    _write_gz(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", _idx_labels([1] * 5))
    with pytest.raises(ValueError, match="t10k-images.*truncated"):
        data.load_mnist("test", search_path=[tmp_path])


def test_load_mnist_rejects_a_file_that_is_not_gzip(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    _write_gz(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", _idx_labels([1]))
    with pytest.raises(ValueError, match="not a readable gzip file"):
        data.load_mnist("test", search_path=[tmp_path])


def test_load_mnist_rejects_images_and_labels_that_disagree(tmp_path):
    _write_gz(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", _idx_images(3))
    _write_gz(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", _idx_labels([1, 2]))
    with pytest.raises(ValueError, match="do not match"):
        data.load_mnist("test", search_path=[tmp_path])


def test_missing_data_names_every_place_searched_and_the_fix(tmp_path):
    places = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(data.DataNotFoundError) as caught:
        data.load_mnist("train", search_path=places)
    message = str(caught.value)
    assert str(places[0] / "mnist") in message and str(places[1] / "mnist") in message
    assert "DIGITLIB_DATA_DIR" in message and "digitlib data fetch" in message


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_mnist("validation")


def test_data_dir_from_the_environment_comes_first(tmp_path):
    path = config.data_search_path({"DIGITLIB_DATA_DIR": str(tmp_path)})
    assert path[0] == tmp_path
    assert path[-1] == config.PROJECT_ROOT.parent / "shared" / "data"


def test_fetch_from_a_local_folder_checks_sums(tmp_path):
    source = config.PROJECT_ROOT.parent / "shared" / "data"
    written = data.fetch_mnist(tmp_path, source=source)
    assert len(written) == 4
    images, labels = data.load_mnist("test", search_path=[tmp_path])
    assert images.shape == (10000, 28, 28)
    # A file with the wrong content is refused and does not replace a good one.
    bad_source = tmp_path / "bad"
    (bad_source / "mnist").mkdir(parents=True)
    for name in data.MNIST_SHA256:
        (bad_source / "mnist" / name).write_bytes(b"wrong")
    with pytest.raises(ValueError, match="not a gzip file"):
        data.fetch_mnist(tmp_path, source=bad_source)
    for name in data.MNIST_SHA256:
        (bad_source / "mnist" / name).write_bytes(gzip.compress(b"wrong content"))
    with pytest.raises(ValueError, match="does not match the canonical"):
        data.fetch_mnist(tmp_path, source=bad_source)
    assert data.load_mnist("test", search_path=[tmp_path])[0].shape == (10000, 28, 28)


# --- pendigits -------------------------------------------------------------------------------


def test_pendigits_on_the_real_file():
    digits = data.load_pendigits()
    assert len(digits) == 7494
    assert {d.writer for d in digits} == set(range(1, 31))
    assert {d.label for d in digits} == set(range(10))
    multi_stroke = [d for d in digits if len(d.strokes) > 1]
    assert multi_stroke, "pendigits has digits written in several strokes"
    for digit in digits[:50]:
        for stroke in digit.strokes:
            assert stroke.dtype == np.float32 and stroke.ndim == 2 and stroke.shape[1] == 2


def test_pendigits_y_points_down():
    # A 7 starts with its top bar: its first point is near the top (small y) of its box.
    seven = next(d for d in data.load_pendigits() if d.label == 7)
    points = np.concatenate(seven.strokes)
    first_y = seven.strokes[0][0, 1]
    assert first_y - points[:, 1].min() < 0.3 * np.ptp(points[:, 1])


UNIPEN = """.SEGMENT DIGIT 0 ? "3"
.COMMENT 3 4 17
.PEN_DOWN
 10 20
 30 40
.PEN_UP
.DT 100
.SEGMENT DIGIT 1-2 ? "4"
.COMMENT 4 4 18
.PEN_DOWN
 0 0
.PEN_UP
.PEN_DOWN
 5 5
 6 6
.PEN_UP
"""


def test_parse_unipen_reads_digits_writers_and_strokes():
    digits = data.parse_unipen(UNIPEN)
    assert [(d.label, d.writer, d.sample, len(d.strokes)) for d in digits] == [
        (3, 4, 17, 1),
        (4, 4, 18, 2),
    ]
    np.testing.assert_array_equal(digits[0].strokes[0], [[10, 480], [30, 460]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("nothing here\n", "no .SEGMENT DIGIT records"),
        ('.SEGMENT DIGIT 0 ? "3"\n.PEN_DOWN\n 1 2\n', "ends inside a stroke"),
        ('.SEGMENT DIGIT 0 ? "3"\n.PEN_DOWN\n 1 two\n.PEN_UP\n', "expected numbers"),
        ('.SEGMENT DIGIT 0 ? "3"\n.PEN_DOWN\n 1 2 3\n.PEN_UP\n', "expected 'x y'"),
        ('.SEGMENT DIGIT 0 ? "3"\n.PEN_UP\n', "without .PEN_DOWN"),
        ('.SEGMENT DIGIT 0 ? "3"\n 1 2\n', "outside a stroke"),
        (".SEGMENT DIGIT\n", "malformed .SEGMENT"),
        (
            '.SEGMENT DIGIT 0 ? "3"\n.COMMENT 3 x y\n.PEN_DOWN\n 1 2\n.PEN_UP\n',
            "malformed .COMMENT",
        ),
        ('.SEGMENT DIGIT 0 ? "3"\n', "has no strokes"),
    ],
)
def test_parse_unipen_rejects_malformed_text(text, message):
    with pytest.raises(ValueError, match=message):
        data.parse_unipen(text)


# --- Quick, Draw! ------------------------------------------------------------------------------


def test_quickdraw_strokes_on_the_real_files():
    categories = data.quickdraw_categories()
    assert len(categories) == 154 and "apple" in categories
    doodles = data.load_quickdraw_strokes(["apple", "cat"])
    assert len(doodles) > 20 and {d.category for d in doodles} == {"apple", "cat"}
    assert all(s.dtype == np.float32 and s.shape[1] == 2 for d in doodles for s in d.strokes)


def test_quickdraw_bitmaps_on_the_real_files():
    images, categories = data.load_quickdraw_bitmaps(["eye", "fish"])
    assert images.shape == (6000, 28, 28) and images.dtype == np.uint8
    assert categories[0] == "eye" and categories[-1] == "fish"


def test_quickdraw_bad_line_and_missing_category():
    with pytest.raises(ValueError, match="not a Quick, Draw! record"):
        data.parse_quickdraw_line('{"word": "cat"}')
    with pytest.raises(data.DataNotFoundError, match="no_such_thing"):
        data.load_quickdraw_strokes(["no_such_thing"])


def test_held_out_categories_are_a_quarter_and_never_bitmap_ones():
    categories = data.quickdraw_categories()
    held = config.HELD_OUT.quickdraw_categories(categories)
    assert 0.2 < len(held) / len(categories) < 0.3
    assert not set(held) & {"apple", "bicycle", "cat", "diamond", "eye", "fish"}


# --- rendering ---------------------------------------------------------------------------------


SQUARE = [np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], np.float32)]


def test_render_rgba_is_ink_on_transparent_paper():
    style = data.RenderStyle(canvas_size=(60, 80), line_width=4, height=40, center=(40, 30))
    image = data.render_strokes(SQUARE, style)
    assert image.shape == (60, 80, 4) and image.dtype == np.uint8
    assert image[0, 0, 3] == 0  # paper is transparent
    assert image[10, 40, 3] == 255  # on the top edge of the square: y = 30 - 20
    assert image[30, 40, 3] == 0  # the square's inside is empty
    rows, columns = np.nonzero(image[..., 3])
    assert rows.min() >= 10 - 3 and rows.max() <= 50 + 3 and columns.min() >= 20 - 3


def test_render_rgb_is_dark_ink_on_white():
    style = data.RenderStyle(
        canvas_size=(50, 50), line_width=3, height=30, center=(25, 25), rgba=False
    )
    image = data.render_strokes(SQUARE, style)
    assert image.shape == (50, 50, 3)
    assert image[0, 0].tolist() == [255, 255, 255] and image[10, 25].tolist() == [0, 0, 0]


def test_render_does_not_change_its_input():
    strokes = [s.copy() for s in SQUARE]
    data.render_strokes(strokes, data.RenderStyle())
    np.testing.assert_array_equal(strokes[0], SQUARE[0])


def test_a_single_point_stroke_is_a_dot():
    image = data.draw_polylines([np.array([[20, 20]], np.float32)], (40, 40), 6)
    assert image[20, 20, 3] == 255 and image[20, 26, 3] == 0


def test_random_style_keeps_the_protocol_ranges():
    for seed in range(50):
        style = data.random_style(seed)
        height, width = style.canvas_size
        assert 200 <= height <= 600
        assert 0.03 * min(height, width) <= style.line_width <= 0.07 * min(height, width)
        assert 0.30 * height <= style.height <= 0.85 * height


def test_render_number_puts_digits_left_to_right():
    digits = [SQUARE, [np.array([[0, 0], [0, 10]], np.float32)]]
    image = data.render_number(digits, 0, gap_range=(0.5, 0.5), rgba=True)
    ink_columns = np.flatnonzero(image[..., 3].max(axis=0) > 0)
    gaps = np.flatnonzero(np.diff(ink_columns) > 1)
    assert len(gaps) == 1, "two digits with a gap between them"


def test_compose_number_checks_its_arguments():
    with pytest.raises(ValueError, match="at least one digit"):
        data.compose_number([], [])
    with pytest.raises(ValueError, match="need 1 gaps"):
        data.compose_number([SQUARE, SQUARE], [0.1, 0.2])


def test_unipen_on_the_real_files():
    from digitlib.config import HELD_OUT

    digits = data.load_unipen("digits")
    others = data.load_unipen("others")
    assert len(digits) > 8000 and len(others) > 30000
    assert {c.label for c in digits} == set(range(10))
    assert all(c.label == -1 for c in others[:500])
    first = digits[0]
    assert first.source.startswith("unipen/") and first.writer and first.strokes
    assert all(s.dtype == np.float32 and s.shape[1] == 2 for s in first.strokes)
    sources = {c.source for c in digits}
    # The held-out and fusion institutions are real ones, with digits to measure.
    assert {"unipen/aga", "unipen/gmd"} <= sources and set(HELD_OUT.fusion_sources) <= sources


def test_unipen_bad_kind_and_bad_line(tmp_path):
    import gzip

    with pytest.raises(ValueError, match=r"kind must be one of \['digits', 'others'\]"):
        data.load_unipen("letters")
    (tmp_path / "unipen").mkdir()
    with gzip.open(tmp_path / "unipen" / "digits.jsonl.gz", "wt") as file:
        file.write(
            '{"label": "3", "char": "3", "writer": "w", "source": "unipen/x", "strokes": [[[1, 2]]]}\n'
        )
        file.write('{"label": "3", "strokes": []}\n')
    with pytest.raises(ValueError, match="digits.jsonl.gz:2: not a UNIPEN character record"):
        data.load_unipen("digits", [tmp_path])
