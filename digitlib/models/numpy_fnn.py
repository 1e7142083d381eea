"""``NumpyFNN``: a feed-forward network written from scratch in NumPy.

Forward pass, back-propagation and mini-batch SGD with momentum and weight decay, nothing else:
the from-scratch model people compare with a framework model. ReLU hidden layers, a softmax
output and the cross-entropy loss. Saved as one ``.npz`` holding plain arrays only, so it loads
with ``allow_pickle=False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from digitlib.config import NUM_CLASSES
from digitlib.models.base import (
    CheckpointError,
    check_images,
    check_labels,
    check_training_arguments,
)

#: Bumped when the ``.npz`` layout changes.
FORMAT_VERSION = 1


class NumpyFNN:
    """A multilayer perceptron over flattened 28x28 inputs.

    ``layer_sizes``: e.g. ``(784, 256, 128, 11)``; the first is the input size (784), the last the
    number of classes. Weights are He-initialized from ``rng``. ``dtype`` is float32 for use and
    float64 for numerical gradient checks.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int] = (784, 256, 128, NUM_CLASSES),
        *,
        rng: np.random.Generator | int | None = None,
        name: str = "numpy_fnn",
        dtype: type = np.float32,
    ) -> None:
        sizes = [int(size) for size in layer_sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                f"layer_sizes needs at least an input and an output size, got {sizes}"
            )
        rng = np.random.default_rng(rng)
        self.name = name
        self.dtype = np.dtype(dtype)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            scale = np.sqrt(2.0 / fan_in)
            self.weights.append(
                (rng.standard_normal((fan_in, fan_out)) * scale).astype(self.dtype)
            )
            self.biases.append(np.zeros(fan_out, self.dtype))
        self._velocity: list[np.ndarray] | None = None

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[0],) + tuple(w.shape[1] for w in self.weights)

    @property
    def parameters(self) -> list[np.ndarray]:
        """Weights and biases interleaved: W0, b0, W1, b1, ... (the arrays themselves)."""
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    # --- forward and backward ---------------------------------------------------------------

    def _flatten(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(images, self.dtype).reshape(len(images), -1)

    def _forward(self, inputs: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Activations of every layer (input first) and the output probabilities."""
        activations = [inputs]
        hidden = inputs
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            hidden = hidden @ weight + bias
            if index < last:
                hidden = np.maximum(hidden, 0)
                activations.append(hidden)
        return activations, _softmax(hidden)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 11) float32 for ``images`` (N, 28, 28) float32 in [0, 1]."""
        images = check_images(images)
        outputs = []
        for start in range(0, len(images), 4096):
            _, probabilities = self._forward(self._flatten(images[start : start + 4096]))
            outputs.append(probabilities)
        if not outputs:
            return np.zeros((0, self.layer_sizes[-1]), np.float32)
        return np.concatenate(outputs).astype(np.float32)

    def loss_and_gradients(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        sample_weight: np.ndarray | None = None,
        weight_decay: float = 0.0,
    ) -> tuple[float, list[np.ndarray]]:
        """Weighted mean cross-entropy (+ L2 on weights) and its gradients.

        ``images`` (N, 28, 28) or (N, inputs); ``labels`` (N,) int. Gradients come in the order
        of ``parameters`` (W0, b0, W1, b1, ...).
        """
        inputs = self._flatten(images)
        count = len(inputs)
        weights = (
            np.ones(count, self.dtype)
            if sample_weight is None
            else np.asarray(sample_weight, self.dtype)
        )
        weights = weights / weights.sum()
        activations, probabilities = self._forward(inputs)
        picked = probabilities[np.arange(count), labels]
        loss = float(-(weights * np.log(np.maximum(picked, 1e-12))).sum())
        loss += 0.5 * weight_decay * float(sum((w * w).sum() for w in self.weights))
        delta = probabilities.copy()
        delta[np.arange(count), labels] -= 1
        delta *= weights[:, None]
        gradients: list[np.ndarray] = []
        for index in range(len(self.weights) - 1, -1, -1):
            grad_weight = activations[index].T @ delta + weight_decay * self.weights[index]
            grad_bias = delta.sum(axis=0)
            gradients = [grad_weight, grad_bias] + gradients
            if index > 0:
                delta = (delta @ self.weights[index].T) * (activations[index] > 0)
        return loss, gradients

    # --- training ------------------------------------------------------------------------------

    def train_batch(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        learning_rate: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        """One SGD-with-momentum step on a mini-batch; returns the batch loss before the step."""
        loss, gradients = self.loss_and_gradients(images, labels, sample_weight, weight_decay)
        if self._velocity is None:
            self._velocity = [np.zeros_like(p) for p in self.parameters]
        for parameter, velocity, gradient in zip(
            self.parameters, self._velocity, gradients, strict=True
        ):
            velocity *= momentum
            velocity -= learning_rate * gradient.astype(self.dtype)
            parameter += velocity
        return loss

    def fit_epoch(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        learning_rate: float,
        batch_size: int = 128,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        class_weight: np.ndarray | None = None,
        rng: np.random.Generator | int | None = None,
    ) -> float:
        """One pass over the data in shuffled mini-batches; returns the mean batch loss.

        ``class_weight``: optional (11,) weights per class, applied to the loss per sample.
        """
        rng = np.random.default_rng(rng)
        order = rng.permutation(len(images))
        losses = []
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            batch_labels = labels[batch]
            sample_weight = None if class_weight is None else class_weight[batch_labels]
            losses.append(
                self.train_batch(
                    images[batch],
                    batch_labels,
                    learning_rate=learning_rate,
                    momentum=momentum,
                    weight_decay=weight_decay,
                    sample_weight=sample_weight,
                )
            )
        return float(np.mean(losses)) if losses else 0.0

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
        """Train further in place (plain momentum SGD at ``learning_rate``)."""
        check_training_arguments(learning_rate, epochs, batch_size)
        images = check_images(images)
        labels = check_labels(labels, len(images))
        rng = np.random.default_rng(rng)
        self._velocity = None  # fresh momentum: old training's direction does not apply here
        for _ in range(int(epochs)):
            self.fit_epoch(
                images, labels, learning_rate=learning_rate, batch_size=int(batch_size), rng=rng
            )
        self._velocity = None

    def copy(self) -> NumpyFNN:
        clone = NumpyFNN.__new__(NumpyFNN)
        clone.name = self.name
        clone.dtype = self.dtype
        clone.weights = [w.copy() for w in self.weights]
        clone.biases = [b.copy() for b in self.biases]
        clone._velocity = None
        return clone

    # --- files ---------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write plain arrays (no pickles) to ``path`` (a ``.npz`` file)."""
        arrays = {"format_version": np.array(FORMAT_VERSION), "name": np.array(self.name)}
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"weight_{index}"] = weight.astype(np.float32)
            arrays[f"bias_{index}"] = bias.astype(np.float32)
        with open(path, "wb") as handle:  # np.savez would append ".npz" to other suffixes
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: Path, name: str | None = None) -> NumpyFNN:
        """Read a file written by ``save``; ``CheckpointError`` for anything else."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                contents = {key: archive[key] for key in archive.files}
        except FileNotFoundError as error:
            raise CheckpointError(f"{path}: no such checkpoint file") from error
        except ValueError as error:
            raise CheckpointError(
                f"{path}: refusing to load: the .npz holds pickled Python objects, which could run "
                f"code; a NumpyFNN checkpoint holds plain arrays only ({error})"
            ) from error
        except Exception as error:  # zipfile.BadZipFile, OSError, EOFError...
            raise CheckpointError(f"{path}: not a readable .npz checkpoint ({error})") from error
        version = contents.get("format_version")
        if version is None or int(version) != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: not a NumpyFNN checkpoint (format_version {version}, expected "
                f"{FORMAT_VERSION})"
            )
        count = sum(1 for key in contents if key.startswith("weight_"))
        try:
            weights = [np.asarray(contents[f"weight_{i}"], np.float32) for i in range(count)]
            biases = [np.asarray(contents[f"bias_{i}"], np.float32) for i in range(count)]
        except KeyError as error:
            raise CheckpointError(f"{path}: NumpyFNN checkpoint misses array {error}") from error
        for index, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
            previous = weights[index - 1].shape[1] if index else weight.shape[0]
            if weight.ndim != 2 or bias.shape != (weight.shape[1],) or weight.shape[0] != previous:
                raise CheckpointError(f"{path}: layer {index} has inconsistent shapes")
        if count == 0 or weights[0].shape[0] != 784 or weights[-1].shape[1] != NUM_CLASSES:
            raise CheckpointError(f"{path}: expected 784 inputs and {NUM_CLASSES} outputs")
        model = cls.__new__(cls)
        model.name = name or str(contents.get("name", "numpy_fnn"))
        model.dtype = np.dtype(np.float32)
        model.weights, model.biases, model._velocity = weights, biases, None
        return model


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)
