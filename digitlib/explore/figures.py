"""What every room's pictures are built with: figures made without pyplot, images as the user
sees them, checks of the arrays a picture is given, a color per line, and a grid of images.

A figure is a ``matplotlib.figure.Figure`` built without pyplot, so nothing global is touched and
a notebook shows it by leaving it as a cell's last expression. matplotlib is imported inside the
functions, so ``import digitlib`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from digitlib.config import NUM_CLASSES

#: Resolution of the PNG figures the notebooks embed: readable, and keeps the files small.
FIGURE_DPI = 72


def new_figure(width: float, height: float, *, layout: str | None = "constrained"):
    """An empty ``Figure`` of ``width`` x ``height`` inches at ``FIGURE_DPI``, made without pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=FIGURE_DPI, layout=layout)


def hide_ticks(axes) -> None:
    """No ticks on either axis: for panels that show an image."""
    axes.set_xticks([])
    axes.set_yticks([])


def on_white(image: np.ndarray) -> np.ndarray:
    """A canvas image as the user sees it: RGBA composited over white paper, RGB or gray as is."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        rgb = image[..., :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)
        return np.round(rgb).astype(np.uint8)
    return image


def check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """``images`` as float32 (N, 28, 28): uint8 divided by 255, floats as they are; ValueError
    on another shape."""
    array = np.asarray(images)
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"{name} must have shape (N, 28, 28), got {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32, copy=False)


def check_probabilities(probabilities: np.ndarray, count: int | None = None) -> np.ndarray:
    """``probabilities`` as float32 (N, 11), ``count`` rows when given; ValueError otherwise."""
    array = np.asarray(probabilities, np.float32)
    if array.ndim != 2 or array.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"probabilities must have shape (N, {NUM_CLASSES}), got {array.shape}; "
            "pass a model's predict_proba output"
        )
    if count is not None and len(array) != count:
        raise ValueError(f"probabilities hold {len(array)} rows for {count} images")
    return array


def palette_colors(count: int) -> list:
    """``count`` colors of the tab10 palette, in order, starting over after ten."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(index % 10) for index in range(count)]


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
    figure = new_figure(columns * cell + 0.6, rows * (cell + caption_room) + 0.8)
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, axes in enumerate(grid.flat):
        hide_ticks(axes)
        for spine in axes.spines.values():
            spine.set_visible(index < count)
        if index >= count:
            continue
        image = on_white(images[index])
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
