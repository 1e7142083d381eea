"""The data room (``notebooks/01_data.ipynb``): what the models learn from and what people draw.

It draws galleries of MNIST digits, of pendigits strokes and Quick, Draw! doodles rendered on
canvases of several sizes and stroke widths, each canvas next to the model input made from it,
and pixel statistics (ink share, stroke width, position, height, ink levels) that show why a
model trained on MNIST alone struggles with canvas drawings. The canvas renderings and model
inputs made here are also what the model and learning rooms measure on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from digitlib.config import CLASS_NAMES, NUM_CLASSES
from digitlib.explore.figures import check_images, hide_ticks, image_grid, new_figure, on_white
from digitlib.explore.tables import Table


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
    from digitlib.drawings.data import RenderStyle

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


def style_gallery(drawings: Sequence, styles: Sequence, *, title: str):
    """Each drawing (row) rendered in each canvas style (column), as the canvas shows it.

    ``drawings``: ``data.PenDigit`` or ``data.Doodle`` records; ``styles``: ``data.RenderStyle``
    per column. Returns a Figure.
    """
    from digitlib.drawings.data import render_strokes

    names = [drawing_name(d) for d in drawings]
    drawings = [d.strokes for d in drawings]
    columns = len(styles)
    figure = new_figure(columns * 1.6 + 0.8, len(drawings) * 1.5 + 1.2)
    grid = figure.subplots(len(drawings), columns, squeeze=False)
    for row, strokes in enumerate(drawings):
        for column, style in enumerate(styles):
            axes = grid[row, column]
            axes.imshow(on_white(render_strokes(strokes, style)))
            hide_ticks(axes)
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
    from digitlib.drawings.data import random_style, render_strokes

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
    figure = new_figure(columns * 1.5 + 1.6, 5.2)
    grid = figure.subplots(3, columns, squeeze=False)
    for column, canvas in enumerate(canvases):
        grid[0, column].imshow(on_white(canvas))
        grid[0, column].set_title(f"{canvas.shape[1]}x{canvas.shape[0]}", fontsize=8)
        grid[1, column].imshow(naive[column], cmap="gray", vmin=0, vmax=1)
        grid[2, column].imshow(prepared[column], cmap="gray", vmin=0, vmax=1)
        for row in range(3):
            hide_ticks(grid[row, column])
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

    from digitlib.image.preprocess import ink_from_image

    outputs = np.zeros((len(canvases), 28, 28), np.float32)
    for index, canvas in enumerate(canvases):
        outputs[index] = cv2.resize(ink_from_image(canvas), (28, 28), interpolation=cv2.INTER_AREA)
    return np.clip(outputs, 0.0, 1.0)


def model_inputs(canvases: Sequence[np.ndarray]) -> np.ndarray:
    """Canvas images -> model inputs the way recognition makes them, one drawing per canvas
    (``preprocess.canvas_input``). Returns float32 (N, 28, 28)."""
    from digitlib.image.preprocess import canvas_input

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
    from digitlib.image.preprocess import stroke_width

    images = check_images(images)
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
    figure = new_figure(max(len(names), 5) * 2.6, 6.2)
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
