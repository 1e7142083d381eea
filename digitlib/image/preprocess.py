"""Canvas image -> ink map -> MNIST-style 28x28 model input.

Pure functions over arrays: they never change their input and keep no state.

A canvas drawing is a thin, uniform-width polyline at any size and position; an MNIST digit is a
pen stroke about an eighth of the digit's size thick, fitted in a 20x20 box and centered by its
center of mass in 28x28. ``to_model_input`` closes that gap: it re-draws the stroke at MNIST's
relative width before it applies MNIST's own recipe.
"""

from __future__ import annotations

import functools

import numpy as np

#: Smallest and largest accepted image side, in pixels, and the largest pixel count.
MIN_SIDE = 8
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000

#: Stroke width of an MNIST digit relative to the longer side of its bounding box.
MNIST_STROKE_RATIO = 0.115

#: Side of the box the digit is fitted in, and of the model input (MNIST's recipe).
FIT_SIDE = 20
INPUT_SIDE = 28

#: Resolution (longer side, pixels) at which strokes are re-drawn before the final downscale.
WORK_SIDE = 80

#: Ink below this level (0-1) is paper: antialiasing fringes and JPEG noise.
INK_FLOOR = 0.08


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG or JPEG header without decoding; None when the bytes are
    neither (the decoder then says what is wrong)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        # Start-of-frame markers (baseline, progressive, ...) carry the image size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return width, height
        position += 2 + length
    return None


def check_size(width: int, height: int) -> None:
    """Raise ``ValueError`` for an image size out of the accepted range."""
    if min(height, width) < MIN_SIDE or max(height, width) > MAX_SIDE:
        raise ValueError(
            f"image of {width}x{height} pixels is out of range; each side must be between "
            f"{MIN_SIDE} and {MAX_SIDE} pixels"
        )
    if height * width > MAX_PIXELS:
        raise ValueError(
            f"image of {width}x{height} pixels is too large; at most {MAX_PIXELS:,} pixels"
        )


def decode_image(data: bytes) -> np.ndarray:
    """PNG or JPEG bytes -> uint8 array of shape (H, W), (H, W, 3) RGB or (H, W, 4) RGBA."""
    import cv2

    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise ValueError("image bytes are empty; expected the bytes of a PNG or JPEG file")
    size = header_size(bytes(data))
    if size is not None:  # refuse a decompression bomb before decoding a single pixel
        check_size(*size)
    buffer = np.frombuffer(bytes(data), dtype=np.uint8)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ValueError(
            f"could not decode {len(buffer)} bytes as an image; expected a PNG or JPEG file"
        )
    if decoded.dtype != np.uint8:
        decoded = (decoded / 257).astype(np.uint8) if decoded.dtype == np.uint16 else decoded
    if decoded.ndim == 3 and decoded.shape[2] == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    elif decoded.ndim == 3 and decoded.shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA)
    return decoded


def encode_png(image: np.ndarray | bytes) -> bytes:
    """An image as PNG bytes: the one PNG encoder of stored drawings, queues and pages.

    ``image``: uint8 (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, or float of those shapes in
    [0, 1] (rounded to 0-255); or PNG/JPEG bytes: PNG bytes are returned as they are, JPEG
    bytes decoded (``decode_image``) and encoded. Raises ``ValueError`` naming the shape when
    OpenCV cannot encode it.
    """
    import cv2

    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return data
        image = decode_image(data)
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    elif array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(
            f"could not encode an image of shape {array.shape} as PNG; expected (H, W), "
            "(H, W, 3) RGB or (H, W, 4) RGBA"
        )
    return encoded.tobytes()


def check_image(image: object) -> np.ndarray:
    """Validate a canvas image and return it as a uint8 ndarray (PNG/JPEG bytes are decoded).

    Accepted: uint8 arrays of shape (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA with
    ``MIN_SIDE <= H, W <= MAX_SIDE``; or the bytes of a PNG or JPEG file of such an image.
    Raises ``ValueError`` saying what was expected otherwise.
    """
    if isinstance(image, bytes | bytearray | memoryview):
        image = decode_image(bytes(image))
    if not isinstance(image, np.ndarray):
        raise ValueError(
            f"image must be a NumPy uint8 array or PNG/JPEG bytes, got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise ValueError(
            f"image dtype must be uint8 (0-255, as a canvas returns it), got {image.dtype}; "
            "convert with (image * 255).astype(np.uint8) if it holds floats in [0, 1]"
        )
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(
            f"image shape must be (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA, got {image.shape}"
        )
    height, width = image.shape[:2]
    check_size(width, height)
    return image


def ink_levels(image: np.ndarray | bytes) -> np.ndarray:
    """How much ink each pixel holds, as 0-255 levels (the fast form of ``ink_from_image``).

    Parameters
    ----------
    image : ndarray of shape (H, W), (H, W, 3) or (H, W, 4), uint8; or PNG/JPEG bytes
        Dark ink on light paper; in RGBA, transparent pixels are paper. Light ink on dark paper
        (most pixels dark) is read too: the majority of the pixels is taken as the paper.

    Returns
    -------
    levels : ndarray of shape (H, W), uint8; 255 is full ink, 0 is paper.
    """
    import cv2

    image = check_image(image)
    # uint8 all the way through OpenCV: a large RGBA canvas converts in about a millisecond.
    image = np.ascontiguousarray(image)
    if image.ndim == 3:
        code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        gray = cv2.cvtColor(image, code)
    else:
        gray = image
    height, width = gray.shape
    step = (max(1, height // 64), max(1, width // 64))
    if image.ndim == 3 and image.shape[2] == 4:  # composite over white paper: transparent = paper
        alpha = cv2.extractChannel(image, 3)
        darkness = cv2.multiply(cv2.bitwise_not(gray), alpha, scale=1 / 255)
        if median_level(darkness[:: step[0], :: step[1]]) > 127:  # light ink on opaque dark paper
            darkness = cv2.multiply(gray, alpha, scale=1 / 255)
        lightness = None
    else:  # darkness is 255 - gray: folded into the table below, one pass fewer
        if median_level(gray[:: step[0], :: step[1]]) < 128:
            # Most pixels dark: light ink on dark paper (an MNIST image, a chalkboard). A
            # drawing covers far less than half its canvas, so the majority is the paper.
            gray = cv2.bitwise_not(gray)
        darkness, lightness = None, gray
    # Paper is whatever most pixels are: subtract it, so gray paper or a JPEG tint reads as no ink.
    source = darkness if darkness is not None else lightness
    sample = source[:: step[0], :: step[1]]
    paper = median_level(sample) / 255.0
    low, high = cv2.minMaxLoc(source)[:2]
    darkest = high / 255.0
    if darkness is None:
        paper, darkest = 1.0 - paper, 1.0 - low / 255.0
    span = max(darkest - paper, 0.25)
    # One table maps each level to ink, so the full-size image is touched once.
    table = np.clip((np.arange(256, dtype=np.float32) / 255.0 - paper) / span, 0.0, 1.0)
    table[table < INK_FLOOR] = 0.0  # antialiasing fringes and JPEG noise are paper
    if darkness is None:
        table = table[::-1]  # indexed by lightness = 255 - darkness
        darkness = lightness
    return cv2.LUT(darkness, np.round(table * 255.0).astype(np.uint8))


def median_level(levels: np.ndarray) -> float:
    """``np.median`` of uint8 ``levels`` (any shape, at least one value), from their histogram:
    the same value, at a fraction of the cost on the few hundred values a reading samples."""
    counts = np.bincount(np.asarray(levels, np.uint8).ravel(), minlength=256).cumsum()
    total = int(counts[-1])
    low = int(np.searchsorted(counts, (total - 1) // 2, side="right"))
    high = int(np.searchsorted(counts, total // 2, side="right"))
    return (low + high) / 2


def _darkness(sample: np.ndarray) -> np.ndarray:
    """255 - gray of uint8 (h, w[, 3 or 4]) pixels; transparent pixels count as paper (0)."""
    import cv2

    if sample.ndim == 2:
        return cv2.bitwise_not(np.ascontiguousarray(sample))
    code = cv2.COLOR_RGB2GRAY if sample.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
    darkness = cv2.bitwise_not(cv2.cvtColor(np.ascontiguousarray(sample), code))
    if sample.shape[2] == 4:
        alpha = np.ascontiguousarray(sample[..., 3])
        darkness = cv2.multiply(darkness, alpha, scale=1.0 / 255.0)
    return darkness


@functools.lru_cache(maxsize=16)
def _sample_lines(
    height: int, width: int, channels: int, lines: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``estimate_stroke_width``'s evenly spaced rows and columns of an image of this size, and
    the byte offsets of the columns in a row of ``width * channels`` bytes; int64 arrays, made
    once per canvas size (a dashboard's canvas keeps its size: this was a tenth of the estimate).
    """
    rows = _evenly_spaced(height, lines)
    columns = _evenly_spaced(width, lines)
    picks = np.array(
        [column * channels + channel for column in columns for channel in range(channels)]
    )
    rows, columns = np.array(rows), np.array(columns)
    for array in (rows, columns, picks):
        array.flags.writeable = False  # shared by every call: never changed in place
    return rows, columns, picks


def _evenly_spaced(size: int, lines: int) -> list[int]:
    """``np.linspace(0, size - 1, min(lines, size)).astype(int)`` as a list, computed as NumPy
    does it (index times step, the last one exact) at a fifth of its cost on so few values."""
    count = min(lines, size)
    if count < 2:
        return [0] * count
    step = (size - 1) / (count - 1)
    return [int(index * step) for index in range(count - 1)] + [size - 1]


def estimate_stroke_width(image: np.ndarray | bytes, lines: int = 16) -> float:
    """A quick estimate of the stroke width, in pixels, from a few rows and columns of an image.

    Evenly spaced rows and columns cut the strokes into runs of ink; a row crossing a vertical
    stroke cuts a run as long as the stroke is wide. The mean run length of the rows and that of
    the columns are computed and the smaller taken (a horizontal bar makes long runs in rows
    only). 0.0 when those lines meet no ink. ``image`` as ``ink_from_image`` accepts it.
    """
    image = check_image(image)
    height, width = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    rows, columns, picks = _sample_lines(height, width, channels, lines)
    # The columns as an (H, lines[, C]) array, gathered from the image seen as (H, W * C) rows
    # of bytes (a transposed copy costs more than the rest of this function): runs go down.
    down = image.reshape(height, width * channels)[:, picks]
    down = down.reshape(height, len(columns), *image.shape[2:])
    estimates = []
    for darkness, across in ((_darkness(image[rows]), True), (_darkness(down), False)):
        low = int(median_level(darkness[:, ::4] if across else darkness[::4]))
        high = int(darkness.max())
        if high - low < 25:
            continue
        ink = darkness > (low + high) // 2
        if across:
            starts = np.count_nonzero(ink[:, 1:] & ~ink[:, :-1]) + np.count_nonzero(ink[:, 0])
        else:
            starts = np.count_nonzero(ink[1:] & ~ink[:-1]) + np.count_nonzero(ink[0])
        estimates.append(np.count_nonzero(ink) / max(starts, 1))
    return float(min(estimates)) if estimates else 0.0


def reading_scale(image: np.ndarray | bytes, min_stroke: float = 6.0, min_side: int = 96) -> int:
    """Factor (1, 2, 4, ...) by which a canvas can be shrunk before reading it, keeping strokes.

    Every later step (segmentation, re-drawing at 80 px) costs in proportion to the pixels, and a
    digit needs far fewer than a large canvas has. The factor keeps strokes at least
    ``min_stroke`` pixels wide (``estimate_stroke_width``) and the shorter side at least
    ``min_side`` pixels; 1 when the image is small or its strokes thin.
    """
    image = check_image(image)
    stroke = estimate_stroke_width(image)
    if stroke <= 0:
        return 1
    largest = min(stroke / min_stroke, min(image.shape[:2]) / min_side)
    factor = 1
    while factor * 2 <= largest:  # powers of two: OpenCV halves an image fastest
        factor *= 2
    return factor


def ink_from_image(image: np.ndarray | bytes) -> np.ndarray:
    """How much ink each pixel holds.

    Parameters
    ----------
    image : ndarray of shape (H, W), (H, W, 3) or (H, W, 4), uint8; or PNG/JPEG bytes
        Dark ink on light paper; in RGBA, transparent pixels are paper.

    Returns
    -------
    ink : ndarray of shape (H, W), float32, in [0, 1]; 1 is full ink, 0 is paper.
    """
    import cv2

    levels = ink_levels(image)
    return cv2.LUT(levels, np.arange(256, dtype=np.float32) / np.float32(255.0))


def ink_box(ink: np.ndarray, floor: float = 0.0) -> tuple[int, int, int, int] | None:
    """Bounding box ``(x, y, width, height)`` of the pixels above ``floor``; None when there are none.

    ``ink``: (h, w) array of any real dtype.
    """
    import cv2

    ink = np.asarray(ink)
    if ink.dtype == np.uint8 and floor == 0:  # OpenCV bounds the nonzero pixels as they are
        above = np.ascontiguousarray(ink)
    else:
        above = np.ascontiguousarray(ink > floor).view(np.uint8)
    x, y, width, height = cv2.boundingRect(above)
    if width == 0 or height == 0:
        return None
    return (int(x), int(y), int(width), int(height))


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width, in pixels, of a binary drawing: twice its area over its outline length.

    ``mask``: bool or uint8 (h, w). For a long stroke of width w and length L the area is w*L and
    the outline about 2L.
    """
    import cv2

    mask = np.asarray(mask)
    binary = mask if mask.dtype == np.uint8 else (mask > 0).astype(np.uint8)
    # OpenCV counts and traces nonzero pixels as they are: a 0/255 mask needs no 0/1 copy.
    area = float(cv2.countNonZero(binary))
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(contour, True) for contour in contours)
    return 2.0 * area / max(outline, 1.0)


@functools.lru_cache(maxsize=64)
def _disk(radius: int) -> np.ndarray:
    """OpenCV's elliptic structuring element of ``2 * radius + 1`` pixels a side, uint8; made once
    per radius (a reading re-draws every segment's strokes) and never changed in place."""
    import cv2

    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    disk.flags.writeable = False
    return disk


def normalize_stroke_width(
    mask: np.ndarray, target_width: float, current_width: float | None = None
) -> np.ndarray:
    """Erode or dilate a binary drawing so its strokes are ``target_width`` pixels wide.

    ``mask``: uint8 (h, w), 0 or 255, with enough margin around the drawing for dilation.
    Returns a new uint8 mask. Strokes are never eroded away: the change is capped so at least
    a one-pixel-wide trace survives.
    """
    import cv2

    width = stroke_width(mask) if current_width is None else current_width
    if width <= 0:
        return mask.copy()
    change = target_width - width
    radius = int(round(abs(change) / 2))
    if radius == 0:
        return mask.copy()
    if change < 0:
        radius = min(radius, max(int((width - 1.5) / 2), 0))
        if radius == 0:
            return mask.copy()
    kernel = _disk(radius)
    operation = cv2.dilate if change > 0 else cv2.erode
    return operation(mask, kernel)


def center_by_mass(image: np.ndarray, side: int = INPUT_SIDE) -> np.ndarray:
    """Place a small image in a ``side`` x ``side`` frame with its center of mass at the center.

    ``image``: float32 (h, w) with h, w <= side. Returns float32 (side, side).
    """
    import cv2

    height, width = image.shape
    padded = np.zeros((side, side), np.float32)
    padded[:height, :width] = image
    # Moments of the padded frame: cv2.moments would read an (N, 2) image as N points.
    moments = cv2.moments(padded)
    total = moments["m00"]
    if total <= 0:
        return padded * 0.0
    center_row = moments["m01"] / total
    center_column = moments["m10"] / total
    shift = np.float32(
        [[1, 0, side / 2 - 0.5 - center_column], [0, 1, side / 2 - 0.5 - center_row]]
    )
    return cv2.warpAffine(padded, shift, (side, side), flags=cv2.INTER_LINEAR, borderValue=0.0)


def to_model_input(ink: np.ndarray, stroke_ratio: float = MNIST_STROKE_RATIO) -> np.ndarray:
    """One drawing's ink -> MNIST-style model input.

    Crops to the ink, scales the longer side to ``WORK_SIDE`` pixels, re-draws the strokes at
    ``stroke_ratio`` times that side, fits the result in a 20x20 box keeping the aspect ratio
    (area interpolation, as MNIST's antialiasing) and centers it by center of mass in 28x28.

    Parameters
    ----------
    ink : ndarray of shape (h, w), float32 in [0, 1], or uint8 0-255 ink levels
        One digit (or one non-digit); ink of other segments already removed. uint8 levels (as
        ``ink_levels`` returns them) take a faster path with the same result up to rounding.

    Returns
    -------
    ndarray of shape (28, 28), float32 in [0, 1], white ink on black. Zeros if ``ink`` is empty.
    """
    import cv2

    ink = np.asarray(ink)
    if ink.ndim != 2:
        raise ValueError(f"ink must be a 2-D array (h, w), got shape {ink.shape}")
    full = 255.0 if ink.dtype == np.uint8 else 1.0
    if full == 1.0:
        ink = ink.astype(np.float32, copy=False)
    box = ink_box(ink, floor=INK_FLOOR * full)
    if box is None:
        return np.zeros((INPUT_SIDE, INPUT_SIDE), np.float32)
    x, y, width, height = box
    crop = ink[y : y + height, x : x + width]
    scale = WORK_SIDE / max(width, height)
    work_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    factor = int(1.0 / scale)
    if factor >= 2:  # OpenCV's fast path for an integer shrink first, then the exact size
        crop = cv2.resize(
            crop, None, fx=1.0 / factor, fy=1.0 / factor, interpolation=cv2.INTER_AREA
        )
    work = cv2.resize(crop, work_size, interpolation=interpolation)
    if full == 255.0:  # levels: >= 127.5 is > 127, in one OpenCV pass
        strokes = cv2.threshold(work, 127, 255, cv2.THRESH_BINARY)[1]
    else:
        strokes = np.where(work >= 0.5, 255, 0).astype(np.uint8)
    if not cv2.countNonZero(strokes):  # faint ink: keep whatever there is
        strokes = np.where(work > 0, 255, 0).astype(np.uint8)
    margin = WORK_SIDE // 4
    mask = cv2.copyMakeBorder(
        strokes, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=0
    )
    redrawn_mask = normalize_stroke_width(mask, stroke_ratio * WORK_SIDE)
    box = ink_box(redrawn_mask)
    if box is None:  # thinning took every pixel of speckled ink (noise): keep it as it was
        redrawn_mask, box = mask, ink_box(mask)
    mask = redrawn_mask
    x, y, width, height = box
    redrawn = np.divide(mask[y : y + height, x : x + width], np.float32(255.0), dtype=np.float32)
    fit = FIT_SIDE / max(width, height)
    fit_size = (max(1, round(width * fit)), max(1, round(height * fit)))
    small = cv2.resize(redrawn, fit_size, interpolation=cv2.INTER_AREA)
    centered = center_by_mass(small)  # float32: clipped in place (np.clip's wrapper costs more)
    np.minimum(centered, 1.0, out=centered)
    return np.maximum(centered, 0.0, out=centered)


def canvas_input(image: np.ndarray | bytes) -> np.ndarray:
    """The one model input of a drawing of one digit or shape: ``to_model_input`` of all the
    ink of ``image`` (``ink_from_image``), float32 (28, 28) in [0, 1]. The one recipe training,
    evaluation and exploration use to turn a rendered canvas into a model input; recognition
    cuts a drawing into segments first (``digitlib.image.segment.prepare``), which gives nearly the
    same input for a drawing of one segment."""
    return to_model_input(ink_from_image(image))
