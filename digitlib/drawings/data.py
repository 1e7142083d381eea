"""The data sets (MNIST, pendigits, UNIPEN, Quick, Draw!) and canvas-style rendering of pen strokes.

Loaders return NumPy arrays or plain stroke lists with fixed shapes and dtypes; nothing here
imports TensorFlow. Rendering uses OpenCV (imported when first used).

Strokes everywhere in digitlib are a list of strokes, each an ``ndarray`` of shape (P, 2),
float32, holding (x, y) points in screen orientation (y grows downwards), in any units.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.config import data_search_path

Strokes = list[np.ndarray]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
#: sha256 of the canonical files' IDX content (after gunzip, so any gzip level matches),
#: checked by ``fetch_mnist``.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"

PENDIGITS_FILE = "pendigits/pendigits-orig.tra.gz"
QUICKDRAW_STROKES_DIR = "quickdraw/strokes"
UNIPEN_FILES = {"digits": "unipen/digits.jsonl.gz", "others": "unipen/others.jsonl.gz"}
QUICKDRAW_BITMAPS_DIR = "quickdraw/bitmaps"


class DataNotFoundError(FileNotFoundError):
    """A data set is in none of the folders searched."""


def find_data_file(relative: str, search_path: Sequence[Path] | None = None) -> Path:
    """The first existing ``folder / relative`` on the search path.

    Raises ``DataNotFoundError`` naming every place searched and how to fix it.
    """
    folders = list(search_path) if search_path is not None else data_search_path()
    for folder in folders:
        candidate = Path(folder) / relative
        if candidate.exists():
            return candidate
    searched = "\n  ".join(str(Path(folder) / relative) for folder in folders)
    raise DataNotFoundError(
        f"data file {relative!r} not found. Searched:\n  {searched}\n"
        "Fix: set DIGITLIB_DATA_DIR to the folder that holds it, or run "
        "`digitlib data fetch` (MNIST, needs internet) / `digitlib data fetch --from DIR`."
    )


# --- MNIST (IDX) -------------------------------------------------------------------------------


def read_idx(data: bytes, *, name: str = "IDX data") -> np.ndarray:
    """Decode an IDX file (already un-gzipped) into a uint8 array.

    Images (magic 2051) come back as shape (N, rows, cols), labels (magic 2049) as shape (N,).
    Raises ``ValueError`` on a bad magic number or a truncated body.
    """
    if len(data) < 8:
        raise ValueError(f"{name}: {len(data)} bytes is too short for an IDX header (8+ bytes)")
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2049:
        shape, offset = (count,), 8
    elif magic == 2051:
        if len(data) < 16:
            raise ValueError(f"{name}: truncated IDX image header (16 bytes expected)")
        rows, cols = struct.unpack(">II", data[8:16])
        shape, offset = (count, rows, cols), 16
    else:
        raise ValueError(
            f"{name}: bad IDX magic number {magic}; expected 2051 (images) or 2049 (labels). "
            "Is this an MNIST file?"
        )
    expected = int(np.prod(shape))
    body = np.frombuffer(data, dtype=np.uint8, offset=offset)
    if body.size != expected:
        raise ValueError(
            f"{name}: IDX body has {body.size} bytes but the header promises {expected}; "
            "the file is truncated or corrupt, fetch it again"
        )
    return body.reshape(shape)


def _read_gz(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable gzip file ({error}); fetch it again") from error


def load_mnist(
    split: str = "train", search_path: Sequence[Path] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images and labels.

    Returns ``images`` of shape (N, 28, 28) uint8 (white ink on black, 0-255) and ``labels`` of
    shape (N,) uint8; N is 60,000 for ``"train"`` and 10,000 for ``"test"``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    image_file, label_file = MNIST_FILES[split]
    image_path = find_data_file(f"mnist/{image_file}", search_path)
    label_path = find_data_file(f"mnist/{label_file}", search_path)
    images = read_idx(_read_gz(image_path), name=str(image_path))
    labels = read_idx(_read_gz(label_path), name=str(label_path))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"MNIST {split}: images {images.shape} and labels {labels.shape} do not match; "
            "expected (N, 28, 28) and (N,)"
        )
    return images, labels


def fetch_mnist(
    destination: Path, *, source: Path | None = None, mirror: str = MNIST_MIRROR
) -> list[Path]:
    """Put the four MNIST files into ``destination/mnist``, checking their sha256.

    With ``source`` (a folder holding the files, directly or in ``mnist/``) they are copied;
    otherwise downloaded from ``mirror``. Returns the paths written.
    """
    target = Path(destination) / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, expected_sha in MNIST_SHA256.items():
        path = target / filename
        if source is not None:
            candidates = [Path(source) / filename, Path(source) / "mnist" / filename]
            found = next((c for c in candidates if c.exists()), None)
            if found is None:
                raise DataNotFoundError(
                    f"{filename} not found in {source} or {Path(source) / 'mnist'}"
                )
            payload = found.read_bytes()
        else:
            import urllib.request  # here: it costs every importer of this module 14 ms

            with urllib.request.urlopen(mirror + filename, timeout=60) as response:
                payload = response.read()
        try:
            content = gzip.decompress(payload)
        except (OSError, EOFError) as error:
            raise ValueError(f"{filename}: not a gzip file ({error})") from error
        actual_sha = hashlib.sha256(content).hexdigest()
        if actual_sha != expected_sha:
            raise ValueError(
                f"{filename}: sha256 {actual_sha} of its content does not match the canonical "
                f"{expected_sha}; the file is corrupt or not MNIST"
            )
        temporary = path.with_suffix(".part")
        temporary.write_bytes(payload)
        os.replace(temporary, path)
        written.append(path)
    return written


def copy_data_tree(source: Path, destination: Path) -> list[Path]:
    """Copy pendigits and Quick, Draw! folders from ``source`` into ``destination`` if present."""
    copied = []
    for relative in ("pendigits", "quickdraw"):
        if (Path(source) / relative).exists():
            shutil.copytree(
                Path(source) / relative, Path(destination) / relative, dirs_exist_ok=True
            )
            copied.append(Path(destination) / relative)
    return copied


# --- pendigits (UNIPEN) ------------------------------------------------------------------------


@dataclass(frozen=True)
class PenDigit:
    """One digit written with a stylus.

    ``strokes``: list of (P, 2) float32 arrays of (x, y) in screen orientation (y down), in the
    tablet's units (0-500). ``label``: 0-9. ``writer``: writer id (1-30 in pendigits-orig.tra).
    """

    strokes: Strokes
    label: int
    writer: int
    sample: int


_SEGMENT = re.compile(r'^\.SEGMENT\s+DIGIT\s+\S+\s+\S+\s+"(\d)"')


def parse_unipen(text: str, *, name: str = "UNIPEN data") -> list[PenDigit]:
    """Parse pendigits' UNIPEN text into ``PenDigit`` records (y flipped to point down).

    Raises ``ValueError`` naming the line on malformed input.
    """
    digits: list[PenDigit] = []
    label = writer = sample = None
    strokes: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] | None = None

    def finish() -> None:
        if label is None:
            return
        if current is not None:
            raise ValueError(f"{name}: digit {label!r} ends inside a stroke (.PEN_UP missing)")
        if not strokes:
            raise ValueError(f"{name}: digit {label!r} (writer {writer}) has no strokes")
        arrays = [np.array(s, dtype=np.float32) for s in strokes if s]
        for array in arrays:
            array[:, 1] = 500.0 - array[:, 1]
        digits.append(PenDigit(arrays, label, writer if writer is not None else -1, sample or 0))

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(".SEGMENT"):
            match = _SEGMENT.match(line)
            if not match:
                raise ValueError(f"{name} line {number}: malformed .SEGMENT line: {line!r}")
            finish()
            label, writer, sample, strokes, current = int(match.group(1)), None, None, [], None
        elif line.startswith(".COMMENT"):
            parts = line.split()
            if label is not None and len(parts) >= 4:
                try:
                    writer, sample = int(parts[2]), int(parts[3])
                except ValueError as error:
                    raise ValueError(
                        f"{name} line {number}: malformed .COMMENT: {line!r}"
                    ) from error
        elif line.startswith(".PEN_DOWN"):
            if label is None:
                raise ValueError(f"{name} line {number}: .PEN_DOWN before any .SEGMENT")
            if current is not None:
                raise ValueError(f"{name} line {number}: .PEN_DOWN inside a stroke")
            current = []
        elif line.startswith(".PEN_UP"):
            if current is None:
                raise ValueError(f"{name} line {number}: .PEN_UP without .PEN_DOWN")
            strokes.append(current)
            current = None
        elif line.startswith("."):
            continue
        else:
            if current is None:
                if label is None:
                    continue  # header text before the first digit
                raise ValueError(f"{name} line {number}: coordinates outside a stroke: {line!r}")
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{name} line {number}: expected 'x y', got {line!r}")
            try:
                current.append((float(parts[0]), float(parts[1])))
            except ValueError as error:
                raise ValueError(
                    f"{name} line {number}: expected numbers, got {line!r}"
                ) from error
    finish()
    if not digits:
        raise ValueError(f"{name}: no .SEGMENT DIGIT records found; is this a UNIPEN file?")
    return digits


def load_pendigits(search_path: Sequence[Path] | None = None) -> list[PenDigit]:
    """All 7,494 digits of pendigits-orig.tra (30 writers), strokes in screen orientation."""
    path = find_data_file(PENDIGITS_FILE, search_path)
    return parse_unipen(_read_gz(path).decode("ascii", errors="replace"), name=str(path))


# --- UNIPEN train_r01_v07 -----------------------------------------------------------------------

#: Characters of UNIPEN's "others" that a reader may fairly take for a digit (O for 0, l for 1,
#: Z for 2, S for 5, b for 6, B for 8, g and q for 9, T for 7, bare dashes, dots, brackets and
#: slashes): they are not used as "not a digit", neither to train nor to measure.
DIGIT_LIKE_CHARACTERS = frozenset("OoQDIilJj|!ZzSs$bGBgqTt-_.,'`\"()[]{}/\\:;")


@dataclass(frozen=True)
class PenCharacter:
    """One UNIPEN character: ``strokes`` (P, 2) float32 arrays, y down, in the tablet's units;
    ``label`` the digit 0-9, or -1 for a letter or sign; ``char`` the character written;
    ``writer`` and ``source`` (``unipen/<institution>``) say whose hand it is."""

    strokes: Strokes
    label: int
    char: str
    writer: str
    source: str


def load_unipen(
    kind: str = "digits", search_path: Sequence[Path] | None = None
) -> list[PenCharacter]:
    """UNIPEN's isolated ``"digits"`` (8,078) or ``"others"`` (31,604 letters and signs), in
    file order. Records with no points are left out. Raises ``ValueError`` for a malformed line."""
    if kind not in UNIPEN_FILES:
        raise ValueError(f"kind must be one of {sorted(UNIPEN_FILES)}, got {kind!r}")
    path = find_data_file(UNIPEN_FILES[kind], search_path)
    characters = []
    for number, line in enumerate(_read_gz(path).decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            strokes = [np.asarray(s, np.float32).reshape(-1, 2) for s in record["strokes"] if s]
            label = int(record["label"]) if record["label"] != "" else -1
            character = PenCharacter(
                strokes, label, str(record["char"]), str(record["writer"]), str(record["source"])
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a UNIPEN character record ({error})") from None
        if strokes:
            characters.append(character)
    return characters


# --- Quick, Draw! -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Doodle:
    """One Quick, Draw! drawing: ``strokes`` as (P, 2) float32 (x, y) arrays, y down."""

    strokes: Strokes
    category: str
    recognized: bool


def quickdraw_categories(search_path: Sequence[Path] | None = None) -> list[str]:
    """Names of the categories with stroke files, sorted."""
    folder = find_data_file(QUICKDRAW_STROKES_DIR, search_path)
    return sorted(p.stem for p in folder.glob("*.ndjson"))


def parse_quickdraw_line(line: str, *, name: str = "ndjson") -> Doodle:
    """One ndjson line -> ``Doodle``; ``ValueError`` when it is not a Quick, Draw! record."""
    try:
        record = json.loads(line)
        strokes = [
            np.stack([np.asarray(s[0], np.float32), np.asarray(s[1], np.float32)], axis=1)
            for s in record["drawing"]
        ]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ValueError(f"{name}: not a Quick, Draw! record ({error})") from error
    return Doodle(strokes, str(record.get("word", "")), bool(record.get("recognized", False)))


def load_quickdraw_strokes(
    categories: Iterable[str] | None = None, search_path: Sequence[Path] | None = None
) -> list[Doodle]:
    """Doodles of the given categories (all when None), in file order."""
    folder = find_data_file(QUICKDRAW_STROKES_DIR, search_path)
    names = quickdraw_categories(search_path) if categories is None else list(categories)
    doodles = []
    for category in names:
        path = folder / f"{category}.ndjson"
        if not path.exists():
            raise DataNotFoundError(f"Quick, Draw! category {category!r}: {path} does not exist")
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                doodles.append(parse_quickdraw_line(line, name=f"{path}:{number}"))
    return doodles


def load_quickdraw_bitmaps(
    categories: Iterable[str] | None = None, search_path: Sequence[Path] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Quick, Draw! 28x28 bitmaps: images (N, 28, 28) uint8 white on black, and their categories."""
    folder = find_data_file(QUICKDRAW_BITMAPS_DIR, search_path)
    names = (
        sorted(p.stem for p in folder.glob("*.npy")) if categories is None else list(categories)
    )
    arrays, labels = [], []
    for category in names:
        array = np.load(folder / f"{category}.npy", allow_pickle=False)
        arrays.append(array.reshape(-1, 28, 28).astype(np.uint8))
        labels += [category] * len(array)
    return np.concatenate(arrays), labels


# --- canvas-style rendering ----------------------------------------------------------------------


@dataclass(frozen=True)
class RenderStyle:
    """How a drawing is placed on a canvas.

    ``canvas_size``: (height, width) in pixels. ``line_width``: stroke width in pixels.
    ``height``: the drawing's height in pixels (aspect ratio kept; capped by the canvas width).
    ``center``: (x, y) pixel position of the drawing's bounding-box center.
    ``rgba``: RGBA on transparent paper (as ipycanvas returns it) or RGB on white.
    """

    canvas_size: tuple[int, int] = (280, 280)
    line_width: float = 12.0
    height: float = 180.0
    center: tuple[float, float] = (140.0, 140.0)
    rgba: bool = True
    ink: tuple[int, int, int] = (0, 0, 0)


def fit_strokes(strokes: Strokes, height: float, center: tuple[float, float]) -> Strokes:
    """Scale strokes, keeping the aspect ratio, so that the longer side of their bounding box is
    ``height`` pixels (the height, for a digit), and move the box center to ``center``."""
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    extent = np.maximum(high - low, 1e-6)
    scale = height / max(extent[1], extent[0])
    middle = (low + high) / 2
    return [
        ((s - middle) * scale + np.asarray(center, np.float32)).astype(np.float32) for s in strokes
    ]


def render_strokes(
    strokes: Strokes, style: RenderStyle = RenderStyle(), *, traced: bool = False
) -> np.ndarray | tuple[np.ndarray, Strokes]:
    """Draw strokes on a canvas as a browser canvas would (round caps and joins, antialiased).

    ``strokes`` are fitted to ``style.height`` and ``style.center`` first. Returns shape
    (H, W, 4) uint8 RGBA on transparent paper, or (H, W, 3) uint8 RGB on white paper; with
    ``traced``, ``(canvas, strokes)``: also the strokes as drawn, float32 (P, 2) x, y in the
    canvas's pixels (what a canvas records of the pen).
    """
    fitted = fit_strokes(strokes, style.height, style.center)
    canvas = draw_polylines(
        fitted, style.canvas_size, style.line_width, rgba=style.rgba, ink=style.ink
    )
    return (canvas, fitted) if traced else canvas


def draw_polylines(
    strokes: Strokes,
    canvas_size: tuple[int, int],
    line_width: float,
    *,
    rgba: bool = True,
    ink: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """Draw strokes, already in canvas pixels, as round-capped antialiased polylines.

    Returns (H, W, 4) uint8 RGBA on transparent paper or (H, W, 3) uint8 RGB on white.
    """
    import cv2

    height, width = canvas_size
    shift = 4  # sub-pixel precision for cv2 drawing
    coverage = np.zeros((height, width), np.uint8)
    thickness = max(1, int(round(line_width)))
    for stroke in strokes:
        points = np.round(np.asarray(stroke, np.float64) * (1 << shift)).astype(np.int32)
        if len(points) == 1:
            points = np.concatenate([points, points])
        cv2.polylines(
            coverage, [points.reshape(-1, 1, 2)], False, 255, thickness, cv2.LINE_AA, shift
        )
        for point in points[[0, -1]]:  # round caps
            cv2.circle(
                coverage,
                tuple(int(v) for v in point),
                int(thickness * (1 << shift) / 2),
                255,
                -1,
                cv2.LINE_AA,
                shift,
            )
    alpha = coverage.astype(np.float32) / 255.0
    if rgba:
        image = np.zeros((height, width, 4), np.uint8)
        image[..., :3] = np.asarray(ink, np.uint8)
        image[..., 3] = coverage
        return image
    paper = np.full((height, width, 3), 255.0, np.float32)
    ink_color = np.asarray(ink, np.float32)
    image = paper * (1 - alpha[..., None]) + ink_color * alpha[..., None]
    return np.round(image).astype(np.uint8)


def random_style(
    rng: np.random.Generator | int | None = None,
    *,
    canvas_range: tuple[int, int] = (200, 600),
    width_fraction: tuple[float, float] = (0.03, 0.07),
    height_fraction: tuple[float, float] = (0.30, 0.85),
    rgba: bool | None = None,
) -> RenderStyle:
    """A random canvas rendering as the evaluation protocol draws them.

    Canvas side in ``canvas_range`` (each side drawn separately, aspect up to 1.5), stroke width a
    fraction of the canvas's shorter side, drawing height a fraction of the canvas height, at a
    random position that keeps the drawing on the canvas.
    """
    rng = np.random.default_rng(rng)
    canvas_height = int(rng.integers(canvas_range[0], canvas_range[1] + 1))
    canvas_width = int(
        np.clip(canvas_height * rng.uniform(0.75, 1.5), canvas_range[0], canvas_range[1] * 1.5)
    )
    shorter = min(canvas_height, canvas_width)
    line_width = float(rng.uniform(*width_fraction) * shorter)
    height = float(rng.uniform(*height_fraction) * canvas_height)
    margin = height / 2 + line_width
    center_y = rng.uniform(
        min(margin, canvas_height / 2), max(canvas_height / 2, canvas_height - margin)
    )
    center_x = rng.uniform(
        min(margin, canvas_width / 2), max(canvas_width / 2, canvas_width - margin)
    )
    return RenderStyle(
        canvas_size=(canvas_height, canvas_width),
        line_width=line_width,
        height=height,
        center=(float(center_x), float(center_y)),
        rgba=bool(rng.integers(2)) if rgba is None else rgba,
    )


def mnist_canvas(image: np.ndarray, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """One MNIST image (uint8 (28, 28), white ink on black) as a canvas would hold it: inverted
    to dark ink on white, upscaled with bilinear interpolation to a square of 40-100% of the
    shorter side of a canvas of 280-600 px a side (aspect up to 1.5), at a random position.
    Returns uint8 (H, W) gray."""
    import cv2

    image = np.asarray(image)
    if image.shape != (28, 28) or image.dtype != np.uint8:
        raise ValueError(
            f"expected one MNIST image, uint8 (28, 28); got {image.dtype} {image.shape}"
        )
    rng = np.random.default_rng(rng)
    height = int(rng.integers(280, 601))
    width = int(np.clip(height * rng.uniform(0.75, 1.5), 280, 900))
    side = int(rng.uniform(0.4, 1.0) * min(height, width))
    big = cv2.resize(255 - image, (side, side), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((height, width), 255, np.uint8)
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    canvas[top : top + side, left : left + side] = big
    return canvas


def compose_number(
    digits: Sequence[Strokes],
    gaps: Sequence[float],
    rng: np.random.Generator | int | None = None,
    *,
    baseline_jitter: float = 0.05,
) -> Strokes:
    """Write several digits in a row, as one person writes a number on one line.

    Each digit is scaled to height 1.0 (keeping its aspect ratio; a narrow digit such as a 1 keeps
    its narrow width), and placed ``gaps[i]`` digit heights to the right of the previous one, its
    vertical center jittered by up to ``baseline_jitter``. Returns strokes in those units
    (digit height 1.0), the first digit's box starting at x = 0.
    """
    if len(digits) == 0:
        raise ValueError("compose_number needs at least one digit")
    if len(gaps) != len(digits) - 1:
        raise ValueError(f"{len(digits)} digits need {len(digits) - 1} gaps, got {len(gaps)}")
    rng = np.random.default_rng(rng)
    composed: Strokes = []
    left = 0.0
    for index, strokes in enumerate(digits):
        points = np.concatenate(strokes)
        low, high = points.min(axis=0), points.max(axis=0)
        scale = 1.0 / max(float(high[1] - low[1]), 1e-6)
        if (high[0] - low[0]) * scale > 1.2:  # a sideways scrawl: cap its width
            scale = 1.2 / float(high[0] - low[0])
        offset_y = float(rng.uniform(-baseline_jitter, baseline_jitter))
        placed = [
            ((s - low) * scale + np.array([left, offset_y], np.float32)).astype(np.float32)
            for s in strokes
        ]
        composed.extend(placed)
        width = float(high[0] - low[0]) * scale
        left += width + (gaps[index] if index < len(gaps) else 0.0)
    return composed


def render_number(
    digits: Sequence[Strokes],
    rng: np.random.Generator | int | None = None,
    *,
    gap_range: tuple[float, float] = (0.2, 0.6),
    canvas_range: tuple[int, int] = (200, 600),
    width_fraction: tuple[float, float] = (0.03, 0.07),
    height_fraction: tuple[float, float] = (0.30, 0.85),
    rgba: bool | None = None,
    traced: bool = False,
) -> np.ndarray | tuple[np.ndarray, Strokes]:
    """A canvas with a number: ``digits`` written in a row with random gaps, random canvas.

    The canvas is wide enough for the number (aspect up to 4:1); the digit height is a random
    fraction of the canvas height, reduced when the number would not fit; the stroke width a
    fraction of the canvas's shorter side. Returns RGBA (H, W, 4) or RGB (H, W, 3) uint8; with
    ``traced``, ``(canvas, strokes)`` as ``render_strokes`` does.
    """
    rng = np.random.default_rng(rng)
    gaps = rng.uniform(*gap_range, size=len(digits) - 1)
    strokes = compose_number(digits, gaps, rng)
    points = np.concatenate(strokes)
    number_width = float(points[:, 0].max() - points[:, 0].min())  # in digit heights
    canvas_height = int(rng.integers(canvas_range[0], canvas_range[1] + 1))
    digit_height = float(rng.uniform(*height_fraction) * canvas_height)
    canvas_width = int(
        min(max(canvas_height, digit_height * number_width * 1.15), 4 * canvas_height)
    )
    line_width = float(rng.uniform(*width_fraction) * min(canvas_height, canvas_width))
    digit_height = min(
        digit_height, (canvas_width - 2 * line_width) / max(number_width, 1e-6) * 0.95
    )
    low, high = points.min(axis=0), points.max(axis=0)
    size = (high - low) * digit_height
    room = np.array([canvas_width, canvas_height], np.float32) - size - 2 * line_width
    origin = np.array([line_width, line_width], np.float32) + rng.uniform(0, 1, 2) * np.maximum(
        room, 0
    )
    placed = [((s - low) * digit_height + origin).astype(np.float32) for s in strokes]
    use_rgba = bool(rng.integers(2)) if rgba is None else rgba
    canvas = draw_polylines(placed, (canvas_height, canvas_width), line_width, rgba=use_rgba)
    return (canvas, placed) if traced else canvas
