"""Which ink made the models decide: occlusion saliency over a model input.

Cover a small patch of the 28x28 input with paper and read it again: where covering the ink
lowers the (log-)probability of the class read, that ink spoke for it; where it raises it, the
ink spoke against it. One batch of readings per segment (49 covered copies for the default
4-pixel patches), so it is cheap enough for every reading of the page.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def occlusion_map(
    predict: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    label: int,
    *,
    patch: int = 4,
) -> np.ndarray:
    """How much each pixel's neighbourhood supports class ``label``.

    Parameters
    ----------
    predict : callable
        Model inputs float32 (N, 28, 28) -> probabilities (N, 11), e.g. an ensemble's
        ``predict_proba``.
    image : ndarray of shape (28, 28), float32 in [0, 1]
        One model input (white ink on black).
    label : int
        The class to explain, 0..10.
    patch : int
        Side of the square covered at a time; must divide 28.

    Returns
    -------
    ndarray of shape (28, 28), float32: the drop in the log-probability of ``label`` when the
    patch holding each pixel is covered (positive: this ink speaks for ``label``; negative:
    against it), so that a sure reading still shows which ink it rests on. The input is not
    changed.
    """
    image = np.asarray(image, np.float32)
    if image.shape != (28, 28):
        raise ValueError(f"image must be one model input of shape (28, 28), got {image.shape}")
    if patch < 1 or 28 % patch:
        raise ValueError(f"patch must divide 28 (1, 2, 4, 7, 14 or 28), got {patch}")
    if not 0 <= int(label) <= 10:
        raise ValueError(f"label must be a class 0..10, got {label}")
    cells = 28 // patch
    covered = np.repeat(image[None], cells * cells, axis=0)
    for index in range(cells * cells):
        row, column = divmod(index, cells)
        covered[index, row * patch : (row + 1) * patch, column * patch : (column + 1) * patch] = 0
    # Log-probabilities: a sure reading (0.9999) still shows which ink it rests on.
    base = float(np.log(max(float(predict(image[None])[0, label]), 1e-7)))
    covered_probabilities = np.asarray(predict(covered), np.float64)[:, label]
    drops = (base - np.log(np.maximum(covered_probabilities, 1e-7))).astype(np.float32)
    grid = drops.reshape(cells, cells)
    return np.kron(grid, np.ones((patch, patch), np.float32)).astype(np.float32)


def saliency_rgb(image: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """A picture of ``saliency`` over ``image`` (both (28, 28)): ink in gray, support in
    orange, opposition in blue. Returns uint8 (28, 28, 3)."""
    image = np.clip(np.asarray(image, np.float32), 0, 1)
    scale = float(np.max(np.abs(saliency))) or 1.0
    # A square root: the weaker patches stay visible beside the strongest one.
    support = np.sqrt(np.clip(saliency / scale, 0, 1))
    against = np.sqrt(np.clip(-saliency / scale, 0, 1))
    gray = 0.35 * image
    red = gray + 0.65 * support
    green = gray + 0.35 * support + 0.25 * against
    blue = gray + 0.65 * against
    return np.round(np.stack([red, green, blue], axis=-1).clip(0, 1) * 255).astype(np.uint8)
