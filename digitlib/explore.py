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
    #: Digits of each held-out writer read to find the one the models misread most.
    writer_digits: int = 120
    #: Corrections taught to the learner, and wrong labels in the burst.
    corrections: int = 10
    wrong_labels: int = 5


SMALL_SIZES = Sizes(
    small=True,
    gallery_per_class=3,
    gallery_digits=3,
    gallery_doodles=2,
    statistics_samples=120,
    mnist_test=300,
    heldout_digits=120,
    heldout_doodles=80,
    threshold_points=21,
    writer_digits=8,
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
    (``preprocess.canvas_input``). Returns float32 (N, 28, 28)."""
    from digitlib.preprocess import canvas_input

    outputs = np.zeros((len(canvases), 28, 28), np.float32)
    for index, canvas in enumerate(canvases):
        outputs[index] = canvas_input(canvas)
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

    Uses the segmentation and model-input functions of recognition, on the canvas at its
    full size (``segment.prepare`` shrinks a large canvas with wide strokes first, so its inputs
    can differ slightly from the ones shown here).
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
            # Log scale: the runners-up of a confident reading are still visible.
            axes.bar(positions, np.maximum(values, 1e-5), color=colors)
            axes.set_yscale("log")
            axes.set_ylim(1e-4, 1.5)
            axes.set_xticks(positions, [name[:2] for name in CLASS_NAMES], fontsize=7)
            axes.set_title(f"{name}: {CLASS_NAMES[best]} ({values[best]:.2f})", fontsize=9)
            axes.set_ylabel("probability (log)", fontsize=8)
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
            return "-" if np.isnan(value) else f"{value:.3f}"
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


# --- notebook 3: models -------------------------------------------------------------------------


def load_training_history(models_dir=None) -> dict[str, list[dict]]:
    """Per-epoch training logs that ``digitlib train`` records in ``models/training.json``:
    model name -> list of ``{"epoch", "loss", "val_accuracy", ...}``. Empty when the file is not
    there (the curves were not recorded)."""
    import json
    from pathlib import Path

    from digitlib.config import SHIPPED_MODELS_DIR

    path = Path(models_dir or SHIPPED_MODELS_DIR) / "training.json"
    if not path.exists():
        return {}
    card = json.loads(path.read_text())
    return {
        name: list(entry.get("history", []))
        for name, entry in card.get("models", {}).items()
        if entry.get("history")
    }


def plot_training_curves(histories: Mapping[str, Sequence[Mapping]], *, title: str):
    """Training loss and validation accuracy per epoch, one line per model.

    ``histories``: as ``load_training_history`` returns them. Returns a Figure.
    """
    if not histories:
        raise ValueError(
            "no training history: models/training.json is missing or holds no 'history' "
            "(retrain with `digitlib train` to record it)"
        )
    figure = _figure(11, 3.8)
    loss_axes, accuracy_axes, rate_axes = figure.subplots(1, 3)
    for name, history in histories.items():
        epochs = [entry["epoch"] for entry in history]
        loss_axes.plot(
            epochs,
            [entry.get("loss", np.nan) for entry in history],
            marker="o",
            markersize=3,
            label=name,
        )
        accuracy_axes.plot(
            epochs,
            [entry.get("val_accuracy", np.nan) for entry in history],
            marker="o",
            markersize=3,
            label=name,
        )
        rate_axes.plot(
            epochs,
            [entry.get("learning_rate", np.nan) for entry in history],
            marker="o",
            markersize=3,
            label=name,
        )
    loss_axes.set_title("training loss")
    loss_axes.set_ylabel("cross-entropy")
    loss_axes.set_yscale("log")
    accuracy_axes.set_title("validation accuracy (11 classes)")
    accuracy_axes.set_ylabel("accuracy")
    rate_axes.set_title("learning-rate schedule")
    rate_axes.set_ylabel("learning rate")
    rate_axes.set_yscale("log")
    for axes in (loss_axes, accuracy_axes, rate_axes):
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle(title)
    return figure


@dataclass(frozen=True)
class LabeledSet:
    """Model inputs with their true classes: ``images`` float32 (N, 28, 28), ``labels`` int64
    (N,) 0..10 (10 = other), ``kinds`` (N,) str: "digit" or "doodle"."""

    images: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def heldout_canvas_set(
    digit_count: int, doodle_count: int, rng: np.random.Generator | int | None = None
) -> LabeledSet:
    """Drawings no model trained on, as the evaluation protocol makes them (``evaluate``):
    digits of the held-out pendigits writers and doodles of the held-out Quick, Draw!
    categories (label ``OTHER``), each on a random canvas (``data.random_style``) and turned
    into a model input by ``preprocess.canvas_input(canvas)``.

    ``digit_count`` and ``doodle_count`` random drawings of each (all of them when fewer).
    """
    from digitlib import data
    from digitlib.config import HELD_OUT

    rng = np.random.default_rng(rng)
    writers = set(HELD_OUT.pendigits_writers)
    digits = random_sample(
        [d for d in data.load_pendigits() if d.writer in writers], digit_count, rng
    )
    categories = HELD_OUT.quickdraw_categories(data.quickdraw_categories())
    doodles = random_sample(data.load_quickdraw_strokes(categories), doodle_count, rng)
    images = model_inputs(render_canvases(digits + doodles, rng))
    labels = np.array([d.label for d in digits] + [OTHER] * len(doodles), np.int64)
    kinds = np.array(["digit"] * len(digits) + ["doodle"] * len(doodles))
    return LabeledSet(images.reshape(-1, 28, 28), labels, kinds)


def mnist_test_set(count: int, rng: np.random.Generator | int | None = None) -> LabeledSet:
    """``count`` random MNIST test digits as model inputs (float32 in [0, 1])."""
    from digitlib import data

    images, labels = data.load_mnist("test")
    rows = np.sort(
        np.random.default_rng(rng).choice(len(images), min(count, len(images)), replace=False)
    )
    return LabeledSet(
        images[rows].astype(np.float32) / 255,
        labels[rows].astype(np.int64),
        np.full(len(rows), "digit"),
    )


def decide_labels(probabilities: np.ndarray, min_confidence: float | None = None) -> np.ndarray:
    """The label the recognizer reports for each single-segment model input: what
    ``recognize.decide`` makes of its probabilities with ``recognize.DecisionParams()`` (its
    ``min_confidence`` replaced when given), for a digit-shaped segment: the recognizer's
    further checks of a segment's shape (holes, stroke length, width) need the drawing and are
    left out. Returns int64 (N,)."""
    from dataclasses import replace

    from digitlib.recognize import DecisionParams, decide

    probabilities = _check_probabilities(probabilities)
    params = DecisionParams()
    if min_confidence is not None:
        params = replace(params, min_confidence=min_confidence)
    square = [(0, 0, 1, 1)]
    return np.array(
        [decide(row[None], None, square, params)[0][0][0] for row in probabilities], np.int64
    )


def operating_threshold() -> float:
    """The recognizer's "other" threshold: ``recognize.DecisionParams().min_confidence``."""
    from digitlib.recognize import DecisionParams

    return float(DecisionParams().min_confidence)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts of (true class, reported class): int64 (11, 11), rows true, columns reported."""
    labels = np.asarray(labels, np.int64)
    predicted = np.asarray(predicted, np.int64)
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(
            f"labels and predicted must be 1-D of the same length, got {labels.shape} and "
            f"{predicted.shape}"
        )
    if len(labels) and (
        min(labels.min(), predicted.min()) < 0 or max(labels.max(), predicted.max()) >= NUM_CLASSES
    ):
        raise ValueError(f"classes must be in 0..{NUM_CLASSES - 1}")
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def plot_confusion_matrices(matrices: Mapping[str, np.ndarray], *, title: str):
    """One confusion matrix per model, side by side: colors are the share of each true class
    (row), numbers the counts; rows with no examples are left blank. Returns a Figure."""
    if not matrices:
        raise ValueError("plot_confusion_matrices needs at least one matrix")
    from matplotlib.colors import PowerNorm

    names = list(matrices)
    columns = min(len(names), 2)
    rows = int(np.ceil(len(names) / columns))
    figure = _figure(6.2 * columns, 5.6 * rows)
    grid = figure.subplots(rows, columns, squeeze=False)
    ticks = np.arange(NUM_CLASSES)
    for axes, name in zip(grid.flat, names, strict=False):
        matrix = np.asarray(matrices[name])
        totals = matrix.sum(axis=1, keepdims=True)
        shares = np.divide(matrix, totals, out=np.full(matrix.shape, np.nan), where=totals > 0)
        # A power scale keeps a handful of mistakes visible next to a full diagonal.
        shown = axes.imshow(shares, cmap="Blues", norm=PowerNorm(0.35, vmin=0, vmax=1))
        correct = np.trace(matrix) / max(matrix.sum(), 1)
        for row in range(NUM_CLASSES):
            for column in range(NUM_CLASSES):
                if matrix[row, column]:
                    dark = shares[row, column] > 0.3
                    axes.text(
                        column,
                        row,
                        str(matrix[row, column]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if dark else "black",
                    )
        axes.set_xticks(ticks, CLASS_NAMES, fontsize=8, rotation=90)
        axes.set_yticks(ticks, CLASS_NAMES, fontsize=8)
        axes.set_xlabel("reported class")
        axes.set_ylabel("true class")
        axes.set_title(f"{name}: {correct:.1%} correct")
    for axes in list(grid.flat)[len(names) :]:
        axes.set_visible(False)
    figure.colorbar(shown, ax=grid, label="share of the true class", shrink=0.6)
    figure.suptitle(title)
    return figure


def worst_misreads(labels: np.ndarray, probabilities: np.ndarray, count: int = 25) -> np.ndarray:
    """Indices of the ``count`` inputs the model gets most wrong: among those whose reported
    label (``decide_labels``) is wrong, the lowest probability of the true class first."""
    labels = np.asarray(labels, np.int64)
    probabilities = _check_probabilities(probabilities, len(labels))
    wrong = np.flatnonzero(decide_labels(probabilities) != labels)
    true_probability = probabilities[wrong, labels[wrong]]
    return wrong[np.argsort(true_probability, kind="stable")[:count]]


def plot_misreads(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    indices: np.ndarray,
    *,
    title: str,
    columns: int = 5,
):
    """The inputs at ``indices`` with what was drawn, what was read, and the model's two most
    likely classes with their probabilities. Returns a Figure."""
    images = _check_images(images)
    labels = np.asarray(labels, np.int64)
    probabilities = _check_probabilities(probabilities, len(images))
    indices = np.asarray(indices, np.int64)
    if len(indices) == 0:
        figure = _figure(5, 1.2)
        axes = figure.subplots()
        axes.text(0.5, 0.5, "no misreads in this sample", ha="center", va="center")
        _hide_ticks(axes)
        axes.set_xlabel("(nothing to show)")
        axes.set_ylabel("misreads")
        figure.suptitle(title)
        return figure
    reported = decide_labels(probabilities[indices])
    captions = []
    for index, label in zip(indices, reported, strict=True):
        row = probabilities[index]
        true = labels[index]
        best = int(np.argmax(row))
        if best == true:  # the right digit, but not likely enough: reported as "other"
            odds = f"p({CLASS_NAMES[true]}) {row[true]:.2f}, below threshold"
        else:
            odds = (
                f"p({CLASS_NAMES[best]}) {row[best]:.2f}, p({CLASS_NAMES[true]}) {row[true]:.2f}"
            )
        captions.append(f"drawn {CLASS_NAMES[true]}, read {CLASS_NAMES[label]}\n{odds}")
    return image_grid(
        list(images[indices]),
        columns=columns,
        title=title,
        captions=captions,
        xlabel="model input: drawn class, reported class, probability of the top class and of the true one",
        ylabel="worst first",
        cell=1.5,
    )


@dataclass(frozen=True)
class ThresholdCurve:
    """How the "other" threshold trades rejected digits against accepted doodles.

    ``thresholds`` (T,): values of ``DecisionParams.min_confidence``; ``digits_rejected`` (T,):
    share of digits reported as "other"; ``digits_misread`` (T,): share reported as another
    digit; ``doodles_accepted`` (T,): share of doodles reported as a digit.
    """

    thresholds: np.ndarray
    digits_rejected: np.ndarray
    digits_misread: np.ndarray
    doodles_accepted: np.ndarray


def threshold_curve(
    labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray
) -> ThresholdCurve:
    """Decide every input (``decide_labels``) at each threshold. ``labels``: int (N,) with
    digits and ``OTHER`` (doodles); ``probabilities``: (N, 11); ``thresholds``: (T,) in [0, 1]."""

    labels = np.asarray(labels, np.int64)
    probabilities = _check_probabilities(probabilities, len(labels))
    thresholds = np.asarray(thresholds, np.float64)
    digits, doodles = labels != OTHER, labels == OTHER
    if not digits.any() or not doodles.any():
        raise ValueError("threshold_curve needs both digits and doodles (label OTHER)")
    rejected, misread, accepted = [], [], []
    for threshold in thresholds:
        reported = decide_labels(probabilities, threshold)
        rejected.append(float((reported[digits] == OTHER).mean()))
        misread.append(float(((reported != labels) & (reported != OTHER))[digits].mean()))
        accepted.append(float((reported[doodles] != OTHER).mean()))
    return ThresholdCurve(thresholds, np.array(rejected), np.array(misread), np.array(accepted))


def plot_threshold_curves(
    curves: Mapping[str, ThresholdCurve], operating_threshold: float, *, title: str
):
    """Left: doodles accepted against digits rejected as the threshold moves, one curve per
    model, the operating point marked. Right: the ensemble's shares (digits rejected, digits
    misread, doodles accepted) against the threshold. Returns a Figure."""
    if not curves:
        raise ValueError("plot_threshold_curves needs at least one curve")
    figure = _figure(11.5, 4.6)
    trade_axes, threshold_axes = figure.subplots(1, 2)
    for (name, curve), color in zip(curves.items(), _colors(len(curves)), strict=True):
        trade_axes.plot(
            curve.digits_rejected * 100, curve.doodles_accepted * 100, color=color, label=name
        )
        at = int(np.argmin(np.abs(curve.thresholds - operating_threshold)))
        trade_axes.plot(
            curve.digits_rejected[at] * 100,
            curve.doodles_accepted[at] * 100,
            marker="o",
            markersize=9,
            color=color,
            markeredgecolor="black",
        )
    trade_axes.plot(
        [],
        [],
        marker="o",
        linestyle="",
        color="gray",
        markeredgecolor="black",
        label=f"operating point ({operating_threshold:g})",
    )
    trade_axes.set_xscale("symlog", linthresh=1.0)  # the interesting part is the first percent
    trade_axes.set_xlabel("held-out digits reported as 'other' (%, log scale above 1)")
    trade_axes.set_ylabel("held-out doodles reported as a digit (%)")
    trade_axes.set_title("trade-off as the threshold moves")
    trade_axes.grid(alpha=0.3)
    trade_axes.legend(fontsize=8)
    shown = "ensemble" if "ensemble" in curves else next(iter(curves))
    curve = curves[shown]
    threshold_axes.plot(curve.thresholds, curve.digits_rejected * 100, label="digits rejected")
    threshold_axes.plot(
        curve.thresholds, curve.digits_misread * 100, label="digits read as another digit"
    )
    threshold_axes.plot(curve.thresholds, curve.doodles_accepted * 100, label="doodles accepted")
    threshold_axes.axvline(operating_threshold, color="black", linewidth=1, linestyle=":")
    threshold_axes.text(
        operating_threshold,
        1.0,
        " operating point",
        fontsize=8,
        transform=threshold_axes.get_xaxis_transform(),
        va="top",
    )
    threshold_axes.set_xlabel("min_confidence: a digit below it is reported as 'other'")
    threshold_axes.set_ylabel("share (%)")
    threshold_axes.set_title(f"{shown}: each share against the threshold")
    threshold_axes.grid(alpha=0.3)
    threshold_axes.legend(fontsize=8)
    figure.suptitle(title)
    return figure


def threshold_table(curves: Mapping[str, ThresholdCurve], operating_threshold: float) -> Table:
    """Each model's shares at the operating threshold."""
    rows = []
    for name, curve in curves.items():
        at = int(np.argmin(np.abs(curve.thresholds - operating_threshold)))
        rows.append(
            (
                name,
                float(curve.thresholds[at]),
                float(curve.digits_rejected[at]),
                float(curve.digits_misread[at]),
                float(curve.doodles_accepted[at]),
            )
        )
    return Table(
        ("model", "threshold", "digits rejected", "digits misread", "doodles accepted"),
        tuple(rows),
        "At the operating point",
    )


def predict_all(recognizer, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every model's and the ensemble's probabilities for a batch of model inputs, with the
    recognizer's models and ensemble weights: name -> float32 (N, 11)."""
    from digitlib.models.ensemble import Ensemble

    images = _check_images(images)
    return Ensemble(recognizer.models, recognizer.weights).predict_all(images)


def result_inputs(result) -> np.ndarray:
    """The model inputs of a ``recognize.Result``'s segments: float32 (S, 28, 28)."""
    if not result.segments:
        raise ValueError("the result has no segments: nothing was drawn")
    return np.stack([np.asarray(segment.image, np.float32) for segment in result.segments])


def confusion_matrices(
    labels: np.ndarray, probabilities: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``confusion_matrix`` of the reported labels (``decide_labels``) of each model."""
    return {
        name: confusion_matrix(labels, decide_labels(values))
        for name, values in probabilities.items()
    }


# --- notebook 4: learning -----------------------------------------------------------------------


def scratch_store():
    """A ``LocalStore`` in a new temporary folder, so the notebook's learning never touches the
    project's store (``data/store``)."""
    import tempfile

    from digitlib.store import LocalStore

    return LocalStore(tempfile.mkdtemp(prefix="digitlib-notebook-store-"))


def learn_config(size: Sizes, *, gate: bool = True, seed: int = 0):
    """The ``LearnConfig`` of the learning notebook: the defaults (``gate=True``), or the gate
    switched off (``gate=False``): no accuracy tolerance, no drift limit, no suspicion check.
    Small runs use smaller validation and replay sets."""
    from digitlib.learn import LearnConfig, ReplaySpec, ValidationSpec

    settings: dict = {"seed": seed}
    if size.small:
        settings["validation"] = ValidationSpec(mnist=200, canvas=40, other=30)
        settings["replay"] = ReplaySpec(mnist=200, canvas=40, other=30)
    if not gate:
        settings.update(tolerance=0.999, max_drift=0.999, suspicion_confidence=1.0)
    return LearnConfig(**settings)


def copy_recognizer(recognizer):
    """A new ``Recognizer`` with independent copies of ``recognizer``'s models and its weights
    and thresholds: learning in the copy leaves the original alone."""
    from digitlib.recognize import Recognizer

    return Recognizer(
        {name: model.copy() for name, model in recognizer.models.items()},
        recognizer.weights,
        versions=recognizer.versions,
        decision=recognizer.decision,
        segmentation=recognizer.segmentation,
    )


@dataclass(frozen=True)
class WriterDrawings:
    """One writer's digits on random canvases: ``canvases`` (list of uint8 images), ``labels``
    int64 (N,), ``writer`` id."""

    writer: int
    canvases: list
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def writer_drawings(
    writers: Sequence[int], per_writer: int, rng: np.random.Generator | int | None = None
) -> list[WriterDrawings]:
    """``per_writer`` random pendigits digits of each writer, each on a random canvas."""
    from digitlib import data

    rng = np.random.default_rng(rng)
    pendigits = data.load_pendigits()
    drawings = []
    for writer in writers:
        digits = random_sample([d for d in pendigits if d.writer == writer], per_writer, rng)
        drawings.append(
            WriterDrawings(
                int(writer),
                render_canvases(digits, rng),
                np.array([d.label for d in digits], np.int64),
            )
        )
    return drawings


def read_texts(recognizer, canvases: Sequence[np.ndarray]) -> list[str]:
    """What the recognizer reads on each canvas (``Result.text``)."""
    return [result.text for result in recognizer.recognize_many(list(canvases))]


def text_accuracy(texts: Sequence[str], labels: np.ndarray) -> float:
    """Share of single-digit drawings read exactly as their label."""
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} readings for {len(labels)} labels")
    return float(np.mean([text == str(label) for text, label in zip(texts, labels, strict=True)]))


def writers_table(recognizer, writers: Sequence[WriterDrawings]) -> Table:
    """How well the recognizer reads each writer: one row per writer, worst first."""
    rows = []
    for drawings in writers:
        texts = read_texts(recognizer, drawings.canvases)
        rows.append((drawings.writer, len(drawings), text_accuracy(texts, drawings.labels)))
    rows.sort(key=lambda row: row[2])
    return Table(("writer", "digits", "read exactly"), tuple(rows), "Held-out writers")


def split_corrections(
    recognizer, drawings: WriterDrawings, count: int
) -> tuple[WriterDrawings, WriterDrawings]:
    """The first ``count`` of the writer's drawings the recognizer misreads (to correct), and
    all the others (to measure on: never taught)."""
    texts = read_texts(recognizer, drawings.canvases)
    wrong = [
        i
        for i, (t, label) in enumerate(zip(texts, drawings.labels, strict=True))
        if t != str(label)
    ]
    taught = wrong[:count]
    rest = [i for i in range(len(drawings)) if i not in taught]

    def part(rows: list[int]) -> WriterDrawings:
        return WriterDrawings(
            drawings.writer,
            [drawings.canvases[i] for i in rows],
            drawings.labels[rows] if rows else np.zeros(0, np.int64),
        )

    return part(taught), part(rest)


def worst_digit(recognizer, drawings: WriterDrawings) -> int:
    """The digit of ``drawings`` the recognizer reads right least often (the smaller digit on a
    tie)."""
    if not len(drawings):
        raise ValueError("no drawings given")
    texts = read_texts(recognizer, drawings.canvases)
    right: dict[int, list[bool]] = {}
    for text, label in zip(texts, drawings.labels, strict=True):
        right.setdefault(int(label), []).append(text == str(label))
    return min(right, key=lambda digit: (float(np.mean(right[digit])), digit))


def digit_drawings(
    writer: int,
    digit: int,
    taught: int,
    renderings: int = 2,
    rng: np.random.Generator | int | None = None,
) -> tuple[WriterDrawings, WriterDrawings]:
    """All of ``writer``'s pendigits drawings of ``digit``, split in two: the first ``taught``
    drawn once each on a random canvas (to correct), and the others drawn ``renderings`` times
    each (to measure on: never taught, not even in another rendering)."""
    from digitlib import data

    rng = np.random.default_rng(rng)
    mine = [d for d in data.load_pendigits() if d.writer == writer and d.label == digit]
    if len(mine) <= taught:
        raise ValueError(
            f"writer {writer} has {len(mine)} drawings of {digit}; need more than {taught}"
        )
    corrected, others = mine[:taught], [d for d in mine[taught:] for _ in range(renderings)]
    return (
        WriterDrawings(writer, render_canvases(corrected, rng), np.full(taught, digit)),
        WriterDrawings(writer, render_canvases(others, rng), np.full(len(others), digit)),
    )


def teach(learner, canvases: Sequence[np.ndarray], labels: Sequence) -> list:
    """Give the learner each canvas with its label (a digit, or a reading such as "42"), one
    update per drawing, in order. Returns the ``learn.Update`` of each."""
    if len(canvases) != len(labels):
        raise ValueError(f"{len(canvases)} drawings for {len(labels)} labels")
    return [
        learner.learn(canvas, str(label)) for canvas, label in zip(canvases, labels, strict=True)
    ]


def updates_table(updates: Sequence) -> Table:
    """The validation gate's numbers for each update: labels, promoted or not and why, the
    ensemble's validation accuracy before and after, the probability of the label on the
    drawing itself before and after, how much of the validation set was scored, seconds."""
    rows = []
    for number, update in enumerate(updates, start=1):
        metrics = update.metrics
        validation = metrics.validation.get("ensemble")
        segment = metrics.segments.get("ensemble")
        gate = metrics.gate
        nan = float("nan")
        rows.append(
            (
                number,
                metrics.labels or "".join(CLASS_NAMES[label][0] for label in update.labels),
                "yes" if update.promoted else ("held" if update.held else "no"),
                update.reason,
                validation.before if validation else nan,
                validation.after if validation else nan,
                segment.before if segment else nan,
                segment.after if segment else nan,
                f"{gate.scored}/{gate.of}" if gate else "-",
                float(update.seconds),
            )
        )
    return Table(
        (
            "update",
            "label",
            "promoted",
            "reason",
            "validation before",
            "validation after",
            "p(label) before",
            "p(label) after",
            "gate scored",
            "seconds",
        ),
        tuple(rows),
        "Each correction through the validation gate (ensemble)",
    )


def plot_before_after(
    drawings: WriterDrawings,
    before: Sequence[str],
    after: Sequence[str],
    *,
    title: str,
    columns: int = 10,
    limit: int = 30,
):
    """The writer's drawings with what was read before and after learning, those misread before
    or after first, at most ``limit``; captions of readings that changed are colored (green:
    now right, red: now wrong). Returns a Figure."""
    if not (len(drawings) == len(before) == len(after)):
        raise ValueError("drawings, before and after must have the same length")
    if len(drawings) == 0:
        figure = _figure(6, 1.4)
        axes = figure.subplots()
        axes.text(0.5, 0.5, "no drawings: every one was read right", ha="center", va="center")
        _hide_ticks(axes)
        axes.set_xlabel("drawing")
        axes.set_ylabel(f"writer {drawings.writer}")
        figure.suptitle(title)
        return figure
    # Drawings misread before or after come first; at most ``limit`` are shown.
    labels = [str(label) for label in drawings.labels]
    order = sorted(
        range(len(drawings)),
        key=lambda i: (before[i] == labels[i] and after[i] == labels[i], i),
    )[:limit]
    drawings = WriterDrawings(
        drawings.writer, [drawings.canvases[i] for i in order], drawings.labels[order]
    )
    before, after = [before[i] for i in order], [after[i] for i in order]
    columns = min(columns, len(drawings))
    rows = int(np.ceil(len(drawings) / columns))
    figure = _figure(columns * 1.3 + 0.6, rows * 1.65 + 1.0)
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, axes in enumerate(grid.flat):
        _hide_ticks(axes)
        if index >= len(drawings):
            axes.set_visible(False)
            continue
        axes.imshow(_on_white(drawings.canvases[index]))
        label = str(drawings.labels[index])
        old, new = before[index] or "-", after[index] or "-"
        color = "black"
        if old != new:
            color = "green" if new == label else "red"
        axes.set_title(f"drawn {label}\n{old} -> {new}", fontsize=8, color=color)
    figure.suptitle(title)
    figure.supxlabel("drawing (caption: reading before -> after learning)", fontsize=10)
    figure.supylabel(f"writer {drawings.writer}", fontsize=10)
    return figure


@dataclass(frozen=True)
class BurstTrace:
    """What a burst of updates did: accuracy before the first update and after each
    (``mnist_accuracy``, ``canvas_accuracy``: (U+1,) float64), and each update's ``Update``."""

    mnist_accuracy: np.ndarray
    canvas_accuracy: np.ndarray
    updates: list


def measure_set(size: Sizes, rng: np.random.Generator | int | None = None) -> LabeledSet:
    """What learning is measured on: MNIST test digits the gate never sees (the odd rows,
    ``learn.mnist_evaluation_set``) and held-out canvas digits and doodles."""
    from digitlib.learn import mnist_evaluation_set

    rng = np.random.default_rng(rng)
    images, labels = mnist_evaluation_set()
    rows = np.sort(rng.choice(len(images), min(size.mnist_test // 4, len(images)), replace=False))
    canvas = heldout_canvas_set(size.heldout_digits // 4, size.heldout_doodles // 4, rng)
    return LabeledSet(
        np.concatenate([images[rows], canvas.images]),
        np.concatenate([labels[rows], canvas.labels]),
        np.concatenate([np.full(len(rows), "mnist"), canvas.kinds]),
    )


def _accuracies(recognizer, measured: LabeledSet) -> tuple[float, float]:
    reported = decide_labels(predict_all(recognizer, measured.images)["ensemble"])
    right = reported == measured.labels
    mnist = measured.kinds == "mnist"
    return float(right[mnist].mean()), float(right[~mnist].mean())


def burst(
    learner, canvases: Sequence[np.ndarray], labels: Sequence, measured: LabeledSet
) -> BurstTrace:
    """Teach ``labels`` one drawing at a time and measure the learner's recognizer (ensemble)
    on ``measured`` before and after each update: MNIST accuracy and canvas accuracy."""
    mnist, canvas = _accuracies(learner.recognizer, measured)
    mnist_trace, canvas_trace, updates = [mnist], [canvas], []
    for image, label in zip(canvases, labels, strict=True):
        updates.append(learner.learn(image, str(label)))
        mnist, canvas = _accuracies(learner.recognizer, measured)
        mnist_trace.append(mnist)
        canvas_trace.append(canvas)
    return BurstTrace(np.array(mnist_trace), np.array(canvas_trace), updates)


def plot_bursts(traces: Mapping[str, BurstTrace], *, title: str):
    """Accuracy after each wrongly labeled update, one line per learner (with and without the
    gate): MNIST digits the gate never sees, and held-out canvas drawings. Promoted updates are
    filled dots, rejected or held ones open. Returns a Figure."""
    if not traces:
        raise ValueError("plot_bursts needs at least one trace")
    figure = _figure(11, 4.2)
    mnist_axes, canvas_axes = figure.subplots(1, 2)
    for (name, trace), color in zip(traces.items(), _colors(len(traces)), strict=True):
        steps = np.arange(len(trace.mnist_accuracy))
        promoted = np.array([True] + [u.promoted for u in trace.updates])
        for axes, values in (
            (mnist_axes, trace.mnist_accuracy),
            (canvas_axes, trace.canvas_accuracy),
        ):
            axes.plot(steps, values * 100, color=color, label=name)
            axes.scatter(steps[promoted], values[promoted] * 100, color=color, zorder=3)
            axes.scatter(
                steps[~promoted],
                values[~promoted] * 100,
                facecolors="white",
                edgecolors=color,
                zorder=3,
            )
    for axes, what in (
        (mnist_axes, "MNIST test digits (never seen by the gate)"),
        (canvas_axes, "held-out canvas digits and doodles"),
    ):
        axes.set_title(what, fontsize=10)
        axes.set_xlabel("wrongly labeled drawings taught")
        axes.set_ylabel("ensemble accuracy (%)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, title="filled: promoted, open: not", title_fontsize=7)
    figure.suptitle(title)
    return figure


def wrong_labels(labels: np.ndarray) -> np.ndarray:
    """A plausible vandal's labels: every digit called the next one ((d + 1) mod 10)."""
    return (np.asarray(labels, np.int64) + 1) % 10


def worst_writer(recognizer, writers: Sequence[WriterDrawings]) -> WriterDrawings:
    """The writer whose drawings the recognizer reads right least often."""
    if not writers:
        raise ValueError("no writers given")
    accuracies = [
        text_accuracy(read_texts(recognizer, drawings.canvases), drawings.labels)
        for drawings in writers
    ]
    return writers[int(np.argmin(accuracies))]


def vandalism(drawings: WriterDrawings, count: int) -> tuple[list, np.ndarray]:
    """The first ``count`` drawings with wrong labels (``wrong_labels``): (canvases, labels)."""
    return list(drawings.canvases[:count]), wrong_labels(drawings.labels[:count])
