"""The pipeline room (``notebooks/02_pipeline.ipynb``): one drawn number followed step by step.

It draws the canvas, its ink map, the pieces of ink and the merged segments with their boxes,
using the same functions as recognition, then each segment's 28x28 model input with each model's
probabilities, and the 24 augmentation variants of one digit, so every step between a drawing
and a reading can be seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from digitlib.config import CLASS_NAMES, NUM_CLASSES
from digitlib.explore.figures import (
    check_images,
    check_probabilities,
    hide_ticks,
    image_grid,
    new_figure,
    on_white,
    palette_colors,
)


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

    from digitlib.image.preprocess import check_image, ink_from_image, to_model_input
    from digitlib.image.segment import DEFAULT_PARAMS, find_segments, region_ink

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
    figure = new_figure(2 * panel_width + 0.5, 2 * panel_width / aspect + 1.6)
    grid = figure.subplots(2, 2)
    panels = grid.flat
    axes = next(panels)
    axes.imshow(on_white(steps.image))
    axes.set_title("1. canvas as drawn")
    axes = next(panels)
    axes.imshow(steps.ink, cmap="gray_r", vmin=0, vmax=1)
    axes.set_title("2. ink map, 0 (paper) to 1 (full ink)")
    axes = next(panels)
    axes.imshow(steps.binary, cmap="gray_r", vmin=0, vmax=3)
    colors = palette_colors(len(steps.contours))
    for contour, color in zip(steps.contours, colors, strict=True):
        closed = np.vstack([contour, contour[:1]])
        axes.plot(closed[:, 0], closed[:, 1], color=color, linewidth=1.5)
    axes.set_title(f"3. {len(steps.contours)} pieces of ink (outer contours)")
    axes = next(panels)
    axes.imshow(steps.ink, cmap="gray_r", vmin=0, vmax=1.5)
    for number, (region, color) in enumerate(
        zip(steps.regions, palette_colors(len(steps.regions)), strict=True), start=1
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


def plot_inputs_and_probabilities(
    inputs: np.ndarray, probabilities: Mapping[str, np.ndarray], *, title: str
):
    """One row per segment: its 28x28 model input, then each model's 11 probabilities as bars.

    ``inputs``: float32 (S, 28, 28); ``probabilities``: model name -> (S, 11). Returns a Figure.
    """
    inputs = check_images(inputs, "inputs")
    if len(inputs) == 0:
        raise ValueError("no segments to show: the drawing has no ink")
    names = list(probabilities)
    for name in names:
        check_probabilities(probabilities[name], len(inputs))
    rows = len(inputs)
    figure = new_figure(2 + 3.2 * len(names), 1.9 * rows + 1)
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
        hide_ticks(axes)
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
    from digitlib.image.augment import VARIANT_RESIZES

    variants = check_images(variants, "variants")
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
    from digitlib.image.segment import region_ink

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


def result_inputs(result) -> np.ndarray:
    """The model inputs of a ``recognize.Result``'s segments: float32 (S, 28, 28)."""
    if not result.segments:
        raise ValueError("the result has no segments: nothing was drawn")
    return np.stack([np.asarray(segment.image, np.float32) for segment in result.segments])
