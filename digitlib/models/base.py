"""The ``Classifier`` protocol every model follows, and the error raised for bad checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from digitlib.config import NUM_CLASSES


class CheckpointError(ValueError):
    """A checkpoint file cannot be loaded safely: missing, corrupt, of an unknown kind, or holding
    code (a Keras ``Lambda`` layer, a pickled NumPy object) that digitlib refuses to run."""


@runtime_checkable
class Classifier(Protocol):
    """A digit classifier over MNIST-style 28x28 inputs and 11 classes (0-9 and 10 = "other")."""

    name: str

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities.

        ``images``: float32 of shape (N, 28, 28), values in [0, 1], white ink on black.
        Returns float32 of shape (N, 11), rows summing to 1.
        """
        ...

    def fine_tune(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        learning_rate: float,
        epochs: int,
        batch_size: int,
        rng: np.random.Generator | int | None,
    ) -> None:
        """Train further in place on ``images`` (N, 28, 28) float32 and ``labels`` (N,) int."""
        ...

    def copy(self) -> Classifier:
        """An independent clone: fine-tuning the copy leaves this model unchanged."""
        ...

    def save(self, path: Path) -> None:
        """Write the model to one file at ``path``."""
        ...


def check_images(images: np.ndarray) -> np.ndarray:
    """Validate a batch of model inputs and return it as a C-contiguous float32 (N, 28, 28).

    A single image of shape (28, 28) is accepted and returned as a batch of one.
    """
    array = np.asarray(images)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(
            f"images must have shape (N, 28, 28) (MNIST-style model inputs), got {array.shape}; "
            "use digitlib.image.preprocess.to_model_input to make them from a drawing"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"images must be float in [0, 1], got dtype {array.dtype}; divide uint8 pixels by 255"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def check_inputs(inputs: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Validate a batch of model inputs of one input ``shape`` and return it as a C-contiguous
    float32 (N, *shape): images (28, 28) go through ``check_images``; the stroke model's
    sequences are (``digitlib.drawings.strokes.POINTS``, ``CHANNELS``), made by ``digitlib.drawings.strokes.encode``."""
    shape = tuple(shape)
    if shape == (28, 28):
        return check_images(inputs)
    array = np.asarray(inputs)
    if array.ndim == len(shape):
        array = array[None]
    if array.shape[1:] != shape or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"inputs must be float of shape (N, {', '.join(map(str, shape))}), got {array.dtype} "
            f"{array.shape}; use digitlib.drawings.strokes.encode to make them from strokes"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def check_labels(labels: np.ndarray, count: int) -> np.ndarray:
    """Validate class labels (N,) with values 0..10 and return them as int64."""
    array = np.asarray(labels)
    if array.shape != (count,):
        raise ValueError(
            f"labels must have shape ({count},) to match the images, got {array.shape}"
        )
    if array.size and (array.min() < 0 or array.max() >= NUM_CLASSES):
        raise ValueError(
            f"labels must be class indices 0..{NUM_CLASSES - 1}, got {array.min()}..{array.max()}"
        )
    return array.astype(np.int64)


def check_training_arguments(learning_rate: float, epochs: int, batch_size: int) -> None:
    """Raise ``ValueError`` for a non-positive learning rate, epoch count or batch size."""
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
