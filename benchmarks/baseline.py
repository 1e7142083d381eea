"""The baseline: the pipeline most tutorials and demo apps use to read a canvas.

The whole canvas is converted to gray, resized to 28x28 with ``cv2.resize``, inverted to white
ink on black, scaled to [0, 1] and passed to a Keras model with ``model.predict()``, one call per
drawing, no segmentation and no centering. The model is digitlib's own shipped CNN, so the
comparison is between pipelines, not between networks. Its reading is the argmax class: a digit,
or ``""`` when it says "other" (class 10). It can never read a number of several digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.harness import Missing


def load_baseline_model(models_dir: Path):
    """The shipped CNN loaded with plain ``keras.saving.load_model`` (the tutorial way)."""
    path = Path(models_dir) / "cnn.keras"
    if not path.exists():
        raise Missing(f"{path} does not exist yet (the shipped CNN is the baseline's model)")
    import keras

    return keras.saving.load_model(path)


def to_gray(image: np.ndarray) -> np.ndarray:
    """A canvas as uint8 (H, W) gray on white paper.

    RGBA canvases (as an HTML canvas returns them, transparent paper) are laid on white first:
    converting RGBA straight to gray would turn transparent black paper into black, which no
    tutorial that works at all does.
    """
    import cv2

    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        rgb = image[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def baseline_input(image: np.ndarray) -> np.ndarray:
    """float32 (1, 28, 28): the whole canvas resized to 28x28, white ink on black, in [0, 1]."""
    import cv2

    small = cv2.resize(to_gray(image), (28, 28), interpolation=cv2.INTER_AREA)
    return ((255 - small).astype(np.float32) / 255.0)[None]


def baseline_read(model, image: np.ndarray) -> str:
    """The baseline's reading of one canvas: one ``model.predict()`` call."""
    probabilities = model.predict(baseline_input(image), verbose=0)
    label = int(np.argmax(probabilities[0]))
    return str(label) if label < 10 else ""
