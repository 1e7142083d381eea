"""digitlib.image.preprocess: canvas image -> ink -> MNIST-style 28x28, on small arrays written here."""

import cv2
import numpy as np
import pytest

from digitlib.image.preprocess import (
    FIT_SIDE,
    check_image,
    estimate_stroke_width,
    ink_box,
    ink_from_image,
    ink_levels,
    median_level,
    stroke_width,
    to_model_input,
)

# A 12x16 drawing: a dark vertical bar (columns 5-7, rows 2-9) on light paper.
INK_ROWS, INK_COLUMNS = slice(2, 10), slice(5, 8)


def gray_drawing() -> np.ndarray:
    image = np.full((12, 16), 255, np.uint8)
    image[INK_ROWS, INK_COLUMNS] = 0
    return image


def expected_ink() -> np.ndarray:
    ink = np.zeros((12, 16), np.float32)
    ink[INK_ROWS, INK_COLUMNS] = 1.0
    return ink


def rgb_drawing() -> np.ndarray:
    return np.repeat(gray_drawing()[..., None], 3, axis=2)


def rgba_drawing() -> np.ndarray:
    """As a canvas returns it: black ink, transparent paper (RGBA all zero)."""
    image = np.zeros((12, 16, 4), np.uint8)
    image[INK_ROWS, INK_COLUMNS, 3] = 255
    return image


def encoded(image: np.ndarray, extension: str) -> bytes:
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    ok, buffer = cv2.imencode(extension, image)
    assert ok
    return buffer.tobytes()


@pytest.mark.parametrize(
    "image",
    [
        gray_drawing(),
        rgb_drawing(),
        rgba_drawing(),
        encoded(gray_drawing(), ".png"),
        encoded(rgb_drawing(), ".png"),
        encoded(rgba_drawing(), ".png"),
        bytearray(encoded(rgba_drawing(), ".png")),
    ],
    ids=["gray", "rgb", "rgba", "png-gray", "png-rgb", "png-rgba", "png-bytearray"],
)
def test_ink_from_image_finds_the_ink_of_every_input_kind(image):
    ink = ink_from_image(image)
    assert ink.dtype == np.float32 and ink.shape == (12, 16)
    np.testing.assert_array_equal(ink, expected_ink())


def test_jpeg_bytes_read_with_noise_removed():
    image = np.full((32, 32, 3), 255, np.uint8)
    image[8:24, 12:20] = 0
    ink = ink_from_image(encoded(image, ".jpg"))
    assert ink.shape == (32, 32)
    assert ink[10:22, 14:18].min() > 0.9  # the bar
    assert ink[:, :8].max() == 0.0 and ink[:, 26:].max() == 0.0  # paper, JPEG ringing gone


def test_rgba_ink_of_any_color_and_partial_alpha():
    image = np.zeros((10, 10, 4), np.uint8)
    image[2:8, 4:6] = (200, 30, 30, 255)  # red ink
    image[5, 8] = (0, 0, 0, 128)  # half-transparent black
    ink = ink_from_image(image)
    assert ink[2:8, 4:6].min() == pytest.approx(1.0)  # the darkest ink is full ink
    assert 0.5 < ink[5, 8] < 0.9  # darkness 0.5 over the red's 0.68
    assert ink[0].max() == 0.0


def test_gray_paper_and_gray_ink_are_stretched():
    image = np.full((10, 10), 200, np.uint8)  # gray paper
    image[3:7, 3:7] = 60  # dark gray ink
    ink = ink_from_image(image)
    assert ink[0, 0] == 0.0 and ink[4, 4] == pytest.approx(1.0)


def test_ink_levels_matches_ink_from_image():
    image = rgba_drawing()
    image[1, 1, 3] = 100  # a fringe pixel
    levels = ink_levels(image)
    assert levels.dtype == np.uint8
    np.testing.assert_allclose(levels / 255.0, ink_from_image(image), atol=1e-6)


def test_input_is_not_changed():
    image = rgba_drawing()
    before = image.copy()
    ink_from_image(image)
    to_model_input(ink_from_image(image))
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize(
    "make", [lambda: np.zeros((9, 9, 4), np.uint8), lambda: np.full((9, 9), 255, np.uint8)]
)
def test_empty_canvas_has_no_ink(make):
    ink = ink_from_image(make())
    assert ink.shape == (9, 9) and ink.max() == 0.0
    assert to_model_input(ink).max() == 0.0


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((12, 16), np.float32), "dtype must be uint8"),
        (np.zeros((12, 16), np.int64), "dtype must be uint8"),
        (np.zeros((12, 16, 2), np.uint8), r"shape must be \(H, W\) gray"),
        (np.zeros((2, 12, 16, 4), np.uint8), r"shape must be \(H, W\) gray"),
        (np.zeros(16, np.uint8), r"shape must be \(H, W\) gray"),
        (np.zeros((1, 1), np.uint8), "out of range"),
        (np.zeros((1, 1, 4), np.uint8), "out of range"),
        (np.zeros((4, 300), np.uint8), "out of range"),
        (np.broadcast_to(np.uint8(255), (20000, 20000)), "out of range"),  # no 400 MB allocated
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "could not decode"),
        (b"not an image at all", "could not decode"),
        ([[0, 255], [255, 0]], "NumPy uint8 array or PNG/JPEG bytes"),
        (None, "NumPy uint8 array or PNG/JPEG bytes"),
        ("drawing.png", "NumPy uint8 array or PNG/JPEG bytes"),
    ],
    ids=[
        "float32",
        "int64",
        "two-channels",
        "4d",
        "1d",
        "1x1",
        "1x1-rgba",
        "too-thin",
        "20000x20000",
        "empty-bytes",
        "corrupt-png",
        "garbage-bytes",
        "list",
        "none",
        "path-string",
    ],
)
def test_bad_images_raise_value_error_saying_what_was_expected(image, message):
    with pytest.raises(ValueError, match=message):
        ink_from_image(image)
    with pytest.raises(ValueError, match=message):
        check_image(image)


def test_truncated_png_is_rejected():
    data = encoded(gray_drawing(), ".png")
    with pytest.raises(ValueError, match="could not decode"):
        ink_from_image(data[: len(data) // 2])


def test_ink_box():
    assert ink_box(expected_ink()) == (5, 2, 3, 8)
    assert ink_box(np.zeros((4, 4), np.float32)) is None
    levels = np.zeros((5, 5), np.uint8)
    levels[1, 3] = 10
    assert ink_box(levels, floor=20) is None and ink_box(levels) == (3, 1, 1, 1)


def test_to_model_input_follows_the_mnist_recipe():
    ink = np.zeros((60, 40), np.float32)
    cv2.circle(ink, (20, 30), 15, 1.0, 3)  # a ring off the center of the canvas
    result = to_model_input(ink)
    assert result.shape == (28, 28) and result.dtype == np.float32
    assert 0.0 <= result.min() and result.max() <= 1.0
    box = ink_box(result, floor=0.05)
    assert max(box[2], box[3]) <= FIT_SIDE + 2  # fitted in 20x20 (antialiasing spills a pixel)
    moments = cv2.moments(result)
    center = (moments["m10"] / moments["m00"], moments["m01"] / moments["m00"])
    np.testing.assert_allclose(center, (13.5, 13.5), atol=0.6)  # centered by mass


def test_to_model_input_keeps_aspect_ratio_and_normalizes_stroke_width():
    thin = np.zeros((100, 100), np.float32)
    thick = np.zeros((100, 100), np.float32)
    cv2.line(thin, (50, 10), (50, 90), 1.0, 2)
    cv2.line(thick, (50, 10), (50, 90), 1.0, 12)
    thin_input, thick_input = to_model_input(thin), to_model_input(thick)
    for result in (thin_input, thick_input):
        x, _, width, height = ink_box(result, floor=0.3)
        assert height >= 18 and width <= 5  # a tall narrow bar stays tall and narrow
    # Both are re-drawn at MNIST's stroke width: about the same amount of ink.
    assert thin_input.sum() == pytest.approx(thick_input.sum(), rel=0.35)


def test_to_model_input_accepts_uint8_levels_with_the_same_result():
    ink = np.zeros((70, 50), np.float32)
    cv2.ellipse(ink, (25, 35), (15, 28), 0, 0, 360, 1.0, 5)
    levels = np.round(ink * 255).astype(np.uint8)
    np.testing.assert_allclose(to_model_input(levels), to_model_input(ink), atol=1e-5)


def test_to_model_input_rejects_non_2d_ink():
    with pytest.raises(ValueError, match="2-D array"):
        to_model_input(np.zeros((4, 4, 3), np.float32))


def _png_claiming(width: int, height: int) -> bytes:
    """A real small PNG whose header is rewritten to claim ``width`` x ``height`` pixels."""
    import struct
    import zlib

    import cv2

    ok, encoded = cv2.imencode(".png", np.full((10, 10), 255, np.uint8))
    data = bytearray(encoded.tobytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # a valid IHDR checksum
    return bytes(data)


@pytest.mark.parametrize("size", [(40000, 40000), (9000, 10), (4, 100)])
def test_a_png_header_out_of_range_is_refused_before_decoding(size):
    from digitlib.image.preprocess import check_image, header_size

    data = _png_claiming(*size)
    assert header_size(data) == size
    with pytest.raises(ValueError, match=f"image of {size[0]}x{size[1]} pixels"):
        check_image(data)


def test_a_jpeg_header_gives_its_size():
    import cv2

    from digitlib.image.preprocess import header_size

    ok, encoded = cv2.imencode(".jpg", np.zeros((30, 50, 3), np.uint8))
    assert header_size(encoded.tobytes()) == (50, 30)
    assert header_size(b"GIF89a....") is None


def test_the_drawing_store_refuses_a_png_bomb(tmp_path):
    from digitlib.store import DrawingStore, LocalStore

    with pytest.raises(ValueError, match="40000x40000 pixels"):
        DrawingStore(LocalStore(tmp_path)).save(_png_claiming(40000, 40000), "1")


def test_white_ink_on_black_reads_like_black_ink_on_white():
    from digitlib.image.preprocess import ink_levels

    dark_on_light = np.full((40, 40), 255, np.uint8)
    dark_on_light[10:30, 18:22] = 0
    light_on_dark = 255 - dark_on_light
    np.testing.assert_array_equal(ink_levels(light_on_dark), ink_levels(dark_on_light))
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 3] = 255  # opaque black paper
    rgba[10:30, 18:22, :3] = 255
    np.testing.assert_array_equal(ink_levels(rgba), ink_levels(dark_on_light))


@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (8, 9), (3, 4, 5)])
def test_median_level_is_numpy_median(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        levels = rng.integers(0, 256, shape, dtype=np.uint8)
        assert median_level(levels) == float(np.median(levels))


def bars(width: int, channels: int, vertical: bool = True) -> np.ndarray:
    """Dark bars ``width`` pixels wide, 40 apart, on a 200x240 white (or transparent) canvas."""
    image = np.full((200, 240), 255, np.uint8)
    for start in range(20, 200, 40):
        if vertical:
            image[10:190, start : start + width] = 0
        else:
            image[start : start + width, 10:230] = 0
    if channels == 1:
        return image
    color = np.dstack([image] * 3)
    if channels == 3:
        return color
    alpha = np.where(image == 0, 255, 0).astype(np.uint8)  # ink opaque, paper transparent
    return np.dstack([np.zeros_like(color), alpha])


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("vertical", [True, False])
@pytest.mark.parametrize("width", [3, 9, 17])
def test_estimate_stroke_width_measures_bars_across_their_length(width, vertical, channels):
    # Rows cut vertical bars, columns cut horizontal ones: the smaller mean run is the width.
    assert estimate_stroke_width(bars(width, channels, vertical)) == pytest.approx(width, abs=0.5)


@pytest.mark.parametrize("width", [2, 5, 8])
def test_stroke_width_is_the_same_for_every_form_of_a_mask(width):
    # A bar 60 long: twice its area over its outline is about its width. A bool mask, a 0/1 and
    # a 0/255 uint8 mask of the same bar are the same drawing.
    mask = np.zeros((40, 80), bool)
    mask[10 : 10 + width, 10:70] = True
    widths = [stroke_width(form) for form in (mask, mask.astype(np.uint8), mask * np.uint8(255))]
    assert widths[0] == pytest.approx(width, rel=0.15)
    assert widths[1] == widths[0] and widths[2] == widths[0]
    assert stroke_width(np.zeros((5, 5), np.uint8)) == 0.0


def test_estimate_stroke_width_of_a_blank_canvas_is_zero():
    assert estimate_stroke_width(np.full((50, 60, 3), 255, np.uint8)) == 0.0


def test_speckled_ink_gives_a_model_input_rather_than_an_error():
    # Specks far apart (a noisy photo cut into a thin segment): thinning the strokes to MNIST's
    # width used to erase every one of them, and reading failed with a TypeError.
    ink = np.zeros((60, 2), np.uint8)
    ink[0:60:10, 0] = 200
    ink[5:60:20, 1] = 150
    result = to_model_input(ink)
    assert result.shape == (28, 28) and result.dtype == np.float32
    assert result.max() > 0.0 and result.min() >= 0.0 and result.max() <= 1.0
