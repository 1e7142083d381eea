"""Pictures and numbers for the exploratory notebooks (``notebooks/01_data.ipynb`` ...).

The notebooks only wire: every picture and every number they show is computed here. Functions
either compute arrays (pure: inputs are never changed, randomness comes from ``rng``) or draw
them, returning a ``matplotlib.figure.Figure`` built without pyplot, so nothing global is touched
and a notebook shows the figure by leaving it as a cell's last expression.

matplotlib and OpenCV are imported inside the functions, so ``import digitlib`` stays light.

``DIGITLIB_NOTEBOOK_SMALL=1`` in the environment shrinks every sample count (``sizes()``), so
the tests run all the notebooks headless in well under a few minutes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from digitlib.config import CLASS_NAMES, NUM_CLASSES, OTHER

#: Environment variable that switches the notebooks to small samples (any value but "", "0").
SMALL_ENVIRONMENT_VARIABLE = "DIGITLIB_NOTEBOOK_SMALL"

#: Resolution of the PNG figures the notebooks embed: readable, and keeps the files small.
FIGURE_DPI = 72


@dataclass(frozen=True)
class Sizes:
    """How many samples the notebooks draw. ``sizes()`` picks the full or the small set."""

    small: bool = False
    #: Examples per class in the galleries.
    gallery_per_class: int = 8
    #: Drawings (rows) in the canvas-style galleries: digits and doodles.
    gallery_digits: int = 10
    gallery_doodles: int = 6
    #: Images per group in the pixel statistics.
    statistics_samples: int = 2000
    #: MNIST test images scored in the model notebook.
    mnist_test: int = 10_000
    #: Held-out canvas renderings of digits (pendigits' held-out writers) and of doodles.
    heldout_digits: int = 2000
    heldout_doodles: int = 1000
    #: Points on the "other" threshold curve.
    threshold_points: int = 101
    #: Digits of the misread writer shown before and after learning.
    writer_digits: int = 40
    #: Corrections taught to the learner, and wrong labels in the burst.
    corrections: int = 5
    wrong_labels: int = 5


SMALL_SIZES = Sizes(
    small=True,
    gallery_per_class=3,
    gallery_digits=3,
    gallery_doodles=2,
    statistics_samples=200,
    mnist_test=500,
    heldout_digits=200,
    heldout_doodles=150,
    threshold_points=21,
    writer_digits=20,
    corrections=2,
    wrong_labels=2,
)


def sizes(environ: Mapping[str, str] | None = None) -> Sizes:
    """``SMALL_SIZES`` when ``DIGITLIB_NOTEBOOK_SMALL`` is set (and not "0"), else ``Sizes()``."""
    environ = os.environ if environ is None else environ
    flag = environ.get(SMALL_ENVIRONMENT_VARIABLE, "").strip().lower()
    return SMALL_SIZES if flag not in ("", "0", "false", "no") else Sizes()


# --- figure helpers -----------------------------------------------------------------------------


def _figure(width: float, height: float, *, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=FIGURE_DPI, layout=layout)


def _hide_ticks(axes) -> None:
    axes.set_xticks([])
    axes.set_yticks([])


def _on_white(image: np.ndarray) -> np.ndarray:
    """A canvas image as the user sees it: RGBA composited over white paper, RGB or gray as is."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        rgb = image[..., :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)
        return np.round(rgb).astype(np.uint8)
    return image


def _check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    array = np.asarray(images)
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"{name} must have shape (N, 28, 28), got {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32, copy=False)


def _check_probabilities(probabilities: np.ndarray, count: int | None = None) -> np.ndarray:
    array = np.asarray(probabilities, np.float32)
    if array.ndim != 2 or array.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"probabilities must have shape (N, {NUM_CLASSES}), got {array.shape}; "
            "pass a model's predict_proba output"
        )
    if count is not None and len(array) != count:
        raise ValueError(f"probabilities hold {len(array)} rows for {count} images")
    return array


# --- notebook 1: data ---------------------------------------------------------------------------


def pick_per_class(
    labels: np.ndarray, per_class: int, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """Indices of ``per_class`` random examples of each label present, grouped by label
    (label 0's first). ``labels``: int (N,). Labels with fewer examples give all they have."""
    labels = np.asarray(labels)
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    rng = np.random.default_rng(rng)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        picked.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.concatenate(picked) if picked else np.zeros(0, np.int64)


def image_grid(
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    columns: int,
    title: str,
    captions: Sequence[str] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    row_labels: Sequence[str] | None = None,
    cell: float = 0.9,
    cmap: str = "gray",
):
    """A grid of images (28x28 model inputs or canvas images), row by row.

    ``images``: sequence of 2-D float/uint8 arrays or canvas RGB(A) uint8 images; model inputs
    (white on black) are drawn with ``cmap``. Returns a Figure.
    """
    count = len(images)
    if count == 0:
        raise ValueError("image_grid needs at least one image")
    if captions is not None and len(captions) != count:
        raise ValueError(f"{len(captions)} captions for {count} images")
    rows = int(np.ceil(count / columns))
    caption_room = 0.25 if captions is not None else 0.0
    figure = _figure(columns * cell + 0.6, rows * (cell + caption_room) + 0.8)
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, axes in enumerate(grid.flat):
        _hide_ticks(axes)
        for spine in axes.spines.values():
            spine.set_visible(index < count)
        if index >= count:
            continue
        image = _on_white(images[index])
        if image.ndim == 2:
            axes.imshow(image, cmap=cmap, vmin=0, vmax=1 if image.dtype != np.uint8 else 255)
        else:
            axes.imshow(image)
        if captions is not None:
            axes.set_title(captions[index], fontsize=8)
    if row_labels is not None:
        for row, label in enumerate(row_labels[:rows]):
            grid[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    figure.suptitle(title)
    if xlabel:
        figure.supxlabel(xlabel, fontsize=10)
    if ylabel:
        figure.supylabel(ylabel, fontsize=10)
    return figure


def class_gallery(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    per_class: int,
    title: str,
    rng: np.random.Generator | int | None = None,
):
    """``per_class`` random examples of each class, one row per class.

    ``images``: (N, 28, 28) uint8 or float32 white on black, or a list of canvas images;
    ``labels``: int (N,). Returns a Figure.
    """
    labels = np.asarray(labels)
    chosen = pick_per_class(labels, per_class, rng)
    classes = np.unique(labels)
    return image_grid(
        [images[i] for i in chosen],
        columns=per_class,
        title=title,
        xlabel="random examples",
        ylabel="class",
        row_labels=[CLASS_NAMES[int(c)] if int(c) < NUM_CLASSES else str(c) for c in classes],
    )


def gallery_styles() -> list:
    """Canvas renderings that span what people draw: small and large canvases, thin and thick
    strokes, small, large and off-center drawings. Returns a list of ``data.RenderStyle``."""
    from digitlib.data import RenderStyle

    return [
        RenderStyle(canvas_size=(280, 280), line_width=4, height=200, center=(140, 140)),
        RenderStyle(canvas_size=(280, 280), line_width=14, height=200, center=(140, 140)),
        RenderStyle(canvas_size=(280, 280), line_width=28, height=180, center=(140, 140)),
        RenderStyle(canvas_size=(280, 280), line_width=8, height=70, center=(70, 200)),
        RenderStyle(canvas_size=(200, 400), line_width=10, height=120, center=(300, 90)),
        RenderStyle(canvas_size=(560, 560), line_width=20, height=480, center=(280, 280)),
    ]


def style_caption(style) -> str:
    """A short caption for a ``data.RenderStyle``: canvas size, stroke width, drawing height."""
    height, width = style.canvas_size
    return f"{width}x{height} px\nline {style.line_width:g}, height {style.height:g}"


def drawing_name(drawing) -> str:
    """A row label for a ``data.PenDigit`` ("digit 3 / writer 12") or ``data.Doodle`` ("cat")."""
    if hasattr(drawing, "label"):
        return f"digit {drawing.label}\nwriter {drawing.writer}"
    if hasattr(drawing, "category"):
        return drawing.category
    raise TypeError(f"expected a data.PenDigit or data.Doodle, got {type(drawing).__name__}")


def drawing_key(drawing) -> str:
    """What a drawing shows: the digit of a ``PenDigit``, the category of a ``Doodle``."""
    return str(drawing.label) if hasattr(drawing, "label") else str(drawing.category)


def one_of_each(
    drawings: Sequence, count: int, rng: np.random.Generator | int | None = None
) -> list:
    """Up to ``count`` drawings, each of a different digit or category (sorted by it), picked at
    random among the drawings of that digit or category."""
    rng = np.random.default_rng(rng)
    keys = sorted({drawing_key(d) for d in drawings})
    keys = [keys[i] for i in sorted(rng.choice(len(keys), min(count, len(keys)), replace=False))]
    chosen = []
    for key in keys:
        members = [d for d in drawings if drawing_key(d) == key]
        chosen.append(members[int(rng.integers(len(members)))])
    return chosen


def random_sample(
    items: Sequence, count: int, rng: np.random.Generator | int | None = None
) -> list:
    """``count`` items drawn at random without replacement (all of them when fewer)."""
    rng = np.random.default_rng(rng)
    picked = rng.choice(len(items), size=min(count, len(items)), replace=False)
    return [items[int(i)] for i in picked]


def style_gallery(drawings: Sequence, styles: Sequence, *, title: str):
    """Each drawing (row) rendered in each canvas style (column), as the canvas shows it.

    ``drawings``: ``data.PenDigit`` or ``data.Doodle`` records; ``styles``: ``data.RenderStyle``
    per column. Returns a Figure.
    """
    from digitlib.data import render_strokes

    names = [drawing_name(d) for d in drawings]
    drawings = [d.strokes for d in drawings]
    columns = len(styles)
    figure = _figure(columns * 1.6 + 0.8, len(drawings) * 1.5 + 1.2)
    grid = figure.subplots(len(drawings), columns, squeeze=False)
    for row, strokes in enumerate(drawings):
        for column, style in enumerate(styles):
            axes = grid[row, column]
            axes.imshow(_on_white(render_strokes(strokes, style)))
            _hide_ticks(axes)
            if row == 0:
                axes.set_title(style_caption(style), fontsize=8)
        grid[row, 0].set_ylabel(names[row], rotation=0, ha="right", va="center")
    figure.suptitle(title)
    figure.supxlabel("canvas size, stroke width and drawing height (pixels)", fontsize=10)
    figure.supylabel("drawing", fontsize=10)
    return figure


def render_canvases(
    drawings: Sequence, rng: np.random.Generator | int | None = None
) -> list[np.ndarray]:
    """Each drawing (``PenDigit``, ``Doodle`` or a list of strokes) on its own random canvas
    (``data.random_style``), as the evaluation protocol draws them. Returns a list of uint8
    RGBA/RGB canvas images."""
    from digitlib.data import random_style, render_strokes

    rng = np.random.default_rng(rng)
    return [
        render_strokes(getattr(drawing, "strokes", drawing), random_style(rng))
        for drawing in drawings
    ]


def plot_canvas_to_input(canvases: Sequence[np.ndarray], *, title: str):
    """Per canvas (column): the canvas as drawn, the whole canvas shrunk to 28x28 (what a model
    trained on MNIST alone would be given) and digitlib's model input. Returns a Figure."""
    naive = naive_inputs(canvases)
    prepared = model_inputs(canvases)
    columns = len(canvases)
    figure = _figure(columns * 1.5 + 1.6, 5.2)
    grid = figure.subplots(3, columns, squeeze=False)
    for column, canvas in enumerate(canvases):
        grid[0, column].imshow(_on_white(canvas))
        grid[0, column].set_title(f"{canvas.shape[1]}x{canvas.shape[0]}", fontsize=8)
        grid[1, column].imshow(naive[column], cmap="gray", vmin=0, vmax=1)
        grid[2, column].imshow(prepared[column], cmap="gray", vmin=0, vmax=1)
        for row in range(3):
            _hide_ticks(grid[row, column])
    for row, label in enumerate(["canvas", "shrunk\nto 28x28", "digitlib\ninput"]):
        grid[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    figure.suptitle(title)
    figure.supxlabel("random canvas renderings (canvas width x height in pixels)", fontsize=10)
    figure.supylabel("step", fontsize=10)
    return figure


def naive_inputs(canvases: Sequence[np.ndarray]) -> np.ndarray:
    """What a model trained on MNIST alone would see without digitlib's preprocessing: the
    whole canvas's ink shrunk to 28x28 (area interpolation), stroke width and position as drawn.

    Returns float32 (N, 28, 28) in [0, 1], white on black.
    """
    import cv2

    from digitlib.preprocess import ink_from_image

    outputs = np.zeros((len(canvases), 28, 28), np.float32)
    for index, canvas in enumerate(canvases):
        outputs[index] = cv2.resize(ink_from_image(canvas), (28, 28), interpolation=cv2.INTER_AREA)
    return np.clip(outputs, 0.0, 1.0)


def model_inputs(canvases: Sequence[np.ndarray]) -> np.ndarray:
    """Canvas images -> model inputs the way recognition makes them, one drawing per canvas
    (``to_model_input(ink_from_image(canvas))``). Returns float32 (N, 28, 28)."""
    from digitlib.preprocess import ink_from_image, to_model_input

    outputs = np.zeros((len(canvases), 28, 28), np.float32)
    for index, canvas in enumerate(canvases):
        outputs[index] = to_model_input(ink_from_image(canvas))
    return outputs


@dataclass(frozen=True)
class PixelStatistics:
    """Per-image measurements of a batch of 28x28 images (all arrays (N,) float64 but
    ``mean_image``, float32 (28, 28) and ``intensity_histogram``, the share of ink pixels per
    level bin, (10,))."""

    mean_image: np.ndarray
    ink_share: np.ndarray
    stroke_width: np.ndarray
    center_offset: np.ndarray
    height: np.ndarray
    intensity_histogram: np.ndarray = field(repr=False)


def pixel_statistics(images: np.ndarray) -> PixelStatistics:
    """Measure what distinguishes one kind of 28x28 image from another.

    ``images``: (N, 28, 28), uint8 0-255 or float32 0-1, white ink on black.
    ``ink_share``: share of the 784 pixels with ink (> 0.5); ``stroke_width``: mean stroke
    width in pixels (twice the area over the outline, ``preprocess.stroke_width``);
    ``center_offset``: distance in pixels of the center of mass from the image center;
    ``height``: rows between the first and last row with ink; ``intensity_histogram``: how ink
    pixels (> 0.05) spread over ten levels (many middle levels = soft, antialiased strokes).
    """
    from digitlib.preprocess import stroke_width

    images = _check_images(images)
    if len(images) == 0:
        raise ValueError("pixel_statistics needs at least one image")
    binary = images > 0.5
    ink_share = binary.mean(axis=(1, 2)).astype(np.float64)
    widths = np.array([stroke_width(mask) for mask in binary], np.float64)
    totals = images.sum(axis=(1, 2))
    rows, columns = np.indices((28, 28), dtype=np.float32)
    safe = np.maximum(totals, 1e-6)
    center_row = (images * rows).sum(axis=(1, 2)) / safe
    center_column = (images * columns).sum(axis=(1, 2)) / safe
    offset = np.hypot(center_row - 13.5, center_column - 13.5).astype(np.float64)
    offset[totals <= 0] = np.nan
    inked_rows = binary.any(axis=2)
    first = np.argmax(inked_rows, axis=1)
    last = 27 - np.argmax(inked_rows[:, ::-1], axis=1)
    height = np.where(inked_rows.any(axis=1), last - first + 1, 0).astype(np.float64)
    levels = images[images > 0.05]
    histogram, _ = np.histogram(levels, bins=10, range=(0.05, 1.0))
    return PixelStatistics(
        mean_image=images.mean(axis=0),
        ink_share=ink_share,
        stroke_width=widths,
        center_offset=offset,
        height=height,
        intensity_histogram=histogram / max(histogram.sum(), 1),
    )


def plot_pixel_statistics(groups: Mapping[str, PixelStatistics], *, title: str):
    """Compare kinds of 28x28 images: the mean image of each group (top row), then histograms
    of ink share, stroke width, center-of-mass offset and ink height, and the ink levels.

    ``groups``: name -> ``pixel_statistics(...)``. Returns a Figure.
    """
    if not groups:
        raise ValueError("plot_pixel_statistics needs at least one group")
    names = list(groups)
    figure = _figure(max(len(names), 5) * 2.6, 6.2)
    top, bottom = figure.subfigures(2, 1, height_ratios=[1, 1.15])
    mean_axes = top.subplots(1, len(names), squeeze=False)[0]
    for axes, name in zip(mean_axes, names, strict=True):
        shown = axes.imshow(groups[name].mean_image, cmap="magma", vmin=0, vmax=0.6)
        axes.set_title(name, fontsize=9)
        axes.set_xlabel("column")
        axes.set_ylabel("row")
    top.colorbar(shown, ax=list(mean_axes), label="mean ink", shrink=0.8)
    top.suptitle("Mean image: where the ink falls", fontsize=10)
    measures = [
        ("ink_share", "share of pixels with ink", np.linspace(0, 0.5, 26)),
        ("stroke_width", "stroke width (pixels)", np.linspace(0, 6, 25)),
        ("center_offset", "center of mass off center (pixels)", np.linspace(0, 10, 21)),
        ("height", "ink height (rows)", np.arange(0, 30, 1.0)),
    ]
    hist_axes = bottom.subplots(1, len(measures) + 1)
    for axes, (attribute, label, bins) in zip(hist_axes, measures, strict=False):
        for name in names:
            values = getattr(groups[name], attribute)
            values = values[np.isfinite(values)]
            axes.hist(
                np.clip(values, bins[0], bins[-1]),
                bins=bins,
                histtype="step",
                density=True,
                label=name,
                linewidth=1.5,
            )
        axes.set_xlabel(label)
        axes.set_ylabel("density")
        axes.set_title(label.split(" (")[0], fontsize=9)
    levels = np.linspace(0.05, 1.0, 11)
    centers = (levels[:-1] + levels[1:]) / 2
    axes = hist_axes[-1]
    for name in names:
        axes.plot(centers, groups[name].intensity_histogram, marker="o", label=name)
    axes.set_xlabel("ink level of an ink pixel")
    axes.set_ylabel("share of ink pixels")
    axes.set_title("ink levels", fontsize=9)
    axes.legend(fontsize=7)
    figure.suptitle(title)
    return figure


# --- notebook 2: pipeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineSteps:
    """Everything that happens to one canvas image on its way to the models.

    ``image``: the canvas (H, W[, 3|4]) uint8; ``ink``: float32 (H, W) in [0, 1];
    ``binary``: bool (H, W) ink above the segmenter's threshold; ``contours``: list of int
    (P, 2) (x, y) outlines of the pieces of ink; ``regions``: ``segment.Region`` per digit, left
    to right; ``inputs``: float32 (S, 28, 28), one model input per region.
    """

    image: np.ndarray
    ink: np.ndarray
    binary: np.ndarray
    contours: list[np.ndarray]
    regions: list
    inputs: np.ndarray


def follow_pipeline(image: np.ndarray | bytes) -> PipelineSteps:
    """Run preprocessing and segmentation on a canvas image, keeping each intermediate step.

    Uses the same functions as ``segment.extract`` (and so as recognition).
    """
    import cv2

    from digitlib.preprocess import check_image, ink_from_image, to_model_input
    from digitlib.segment import DEFAULT_PARAMS, find_segments, region_ink

    image = check_image(image)
    ink = ink_from_image(image)
    binary = ink >= DEFAULT_PARAMS.ink_threshold
    found, _ = cv2.findContours(binary.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contours = [contour.reshape(-1, 2) for contour in found]
    regions = find_segments(ink)
    inputs = np.stack(
        [to_model_input(region_ink(ink, region)) for region in regions]
        or [np.zeros((28, 28), np.float32)]
    )[: len(regions)]
    return PipelineSteps(image, ink, binary, contours, regions, inputs)


def plot_pipeline(steps: PipelineSteps, *, title: str):
    """Four panels: the canvas as drawn, its ink map, the outlines of the pieces of ink, and the
    merged segments with their boxes (numbered left to right). Returns a Figure."""
    from matplotlib.patches import Rectangle

    height, width = steps.ink.shape
    aspect = width / height
    panel_width = 6.5 if aspect > 1.5 else 4.5
    figure = _figure(2 * panel_width + 0.5, 2 * panel_width / aspect + 1.6)
    grid = figure.subplots(2, 2)
    panels = grid.flat
    axes = next(panels)
    axes.imshow(_on_white(steps.image))
    axes.set_title("1. canvas as drawn")
    axes = next(panels)
    axes.imshow(steps.ink, cmap="gray_r", vmin=0, vmax=1)
    axes.set_title("2. ink map, 0 (paper) to 1 (full ink)")
    axes = next(panels)
    axes.imshow(steps.binary, cmap="gray_r", vmin=0, vmax=3)
    colors = _colors(len(steps.contours))
    for contour, color in zip(steps.contours, colors, strict=True):
        closed = np.vstack([contour, contour[:1]])
        axes.plot(closed[:, 0], closed[:, 1], color=color, linewidth=1.5)
    axes.set_title(f"3. {len(steps.contours)} pieces of ink (outer contours)")
    axes = next(panels)
    axes.imshow(steps.ink, cmap="gray_r", vmin=0, vmax=1.5)
    for number, (region, color) in enumerate(
        zip(steps.regions, _colors(len(steps.regions)), strict=True), start=1
    ):
        x, y, box_width, box_height = region.box
        overlay = np.zeros((box_height, box_width, 4), np.float32)
        overlay[region.mask] = (*color[:3], 0.8)
        axes.imshow(overlay, extent=(x - 0.5, x + box_width - 0.5, y + box_height - 0.5, y - 0.5))
        axes.add_patch(
            Rectangle(
                (x - 0.5, y - 0.5), box_width, box_height, fill=False, edgecolor=color, linewidth=2
            )
        )
        axes.text(x, y - 4, str(number), color=color, fontsize=12, fontweight="bold", va="bottom")
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_ylim(height - 0.5, -0.5)
    axes.set_title(f"4. {len(steps.regions)} segments after merging strokes, with boxes")
    for axes in grid.flat:
        axes.set_xlabel("column (pixels)")
        axes.set_ylabel("row (pixels)")
    figure.suptitle(title)
    return figure


def _colors(count: int) -> list:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(index % 10) for index in range(count)]


def plot_inputs_and_probabilities(
    inputs: np.ndarray, probabilities: Mapping[str, np.ndarray], *, title: str
):
    """One row per segment: its 28x28 model input, then each model's 11 probabilities as bars.

    ``inputs``: float32 (S, 28, 28); ``probabilities``: model name -> (S, 11). Returns a Figure.
    """
    inputs = _check_images(inputs, "inputs")
    if len(inputs) == 0:
        raise ValueError("no segments to show: the drawing has no ink")
    names = list(probabilities)
    for name in names:
        _check_probabilities(probabilities[name], len(inputs))
    rows = len(inputs)
    figure = _figure(2 + 3.2 * len(names), 1.9 * rows + 1)
    grid = figure.subplots(
        rows,
        1 + len(names),
        squeeze=False,
        gridspec_kw={"width_ratios": [0.6] + [1.6] * len(names)},
    )
    positions = np.arange(NUM_CLASSES)
    for row in range(rows):
        axes = grid[row, 0]
        axes.imshow(inputs[row], cmap="gray", vmin=0, vmax=1)
        _hide_ticks(axes)
        axes.set_ylabel(f"segment {row + 1}")
        if row == 0:
            axes.set_title("28x28 input", fontsize=9)
        for column, name in enumerate(names, start=1):
            axes = grid[row, column]
            values = np.asarray(probabilities[name][row])
            best = int(values.argmax())
            colors = ["tab:orange" if c == best else "tab:blue" for c in range(NUM_CLASSES)]
            axes.bar(positions, values, color=colors)
            axes.set_ylim(0, 1)
            axes.set_xticks(positions, [name[:2] for name in CLASS_NAMES], fontsize=7)
            axes.set_title(f"{name}: {CLASS_NAMES[best]} ({values[best]:.2f})", fontsize=9)
            axes.set_ylabel("probability", fontsize=8)
            if row == rows - 1:
                axes.set_xlabel("class (ot = other)", fontsize=8)
    figure.suptitle(title)
    return figure


def plot_variants(variants: np.ndarray, *, title: str):
    """The 24 variants of ``augment.variants24`` as a 4x6 grid: one row per size change, one
    column per rotation. ``variants``: float32 (24, 28, 28). Returns a Figure."""
    from digitlib.augment import VARIANT_RESIZES

    variants = _check_images(variants, "variants")
    if len(variants) != 4 * 6:
        raise ValueError(f"expected the 24 variants of augment.variants24, got {len(variants)}")
    return image_grid(
        list(variants),
        columns=6,
        title=title,
        xlabel="rotation (6 angles drawn from -30..30 degrees)",
        ylabel="size change",
        row_labels=[f"width x{w:g}\nheight x{h:g}" for w, h in VARIANT_RESIZES],
        cell=1.0,
    )


def segment_ink(steps: PipelineSteps, index: int) -> np.ndarray:
    """The ink of segment ``index`` alone (float32 (h, w), other segments' ink removed), as
    ``augment.variants24`` and ``preprocess.to_model_input`` take it."""
    from digitlib.segment import region_ink

    if not 0 <= index < len(steps.regions):
        raise ValueError(f"segment {index} does not exist; the drawing has {len(steps.regions)}")
    return region_ink(steps.ink, steps.regions[index])


def segment_probabilities(result) -> dict[str, np.ndarray]:
    """A ``recognize.Result``'s probabilities by model: name -> float32 (S, 11), one row per
    segment, in the order the segments' ``probabilities`` list the models."""
    segments = list(result.segments)
    if not segments:
        raise ValueError("the result has no segments: nothing was drawn")
    names = list(segments[0].probabilities)
    return {
        name: np.stack([np.asarray(s.probabilities[name], np.float32) for s in segments])
        for name in names
    }


# --- tables -------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Table:
    """Rows of numbers that print as text and render as an HTML table in a notebook."""

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    title: str = ""

    @staticmethod
    def _format(value) -> str:
        if isinstance(value, float | np.floating):
            return f"{value:.3f}"
        return str(value)

    def __str__(self) -> str:
        cells = [list(self.columns)] + [[self._format(v) for v in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join(([self.title] if self.title else []) + lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(self._format(v))}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def statistics_table(groups: Mapping[str, PixelStatistics]) -> Table:
    """Medians of each group's pixel statistics, one row per group."""
    rows = []
    for name, statistics in groups.items():
        rows.append(
            (
                name,
                float(np.nanmedian(statistics.ink_share)),
                float(np.nanmedian(statistics.stroke_width)),
                float(np.nanmedian(statistics.center_offset)),
                float(np.nanmedian(statistics.height)),
            )
        )
    return Table(
        ("group", "ink share", "stroke width (px)", "center offset (px)", "ink height (rows)"),
        tuple(rows),
        "Median per image",
    )
