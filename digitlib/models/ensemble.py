"""``Ensemble``: weighted average of the probabilities of several classifiers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from digitlib.models.base import Classifier, check_images

#: Default weights: the CNN is the strongest model, the NumPy network the weakest.
DEFAULT_WEIGHTS = {"cnn": 2.0, "fnn": 1.0, "numpy_fnn": 1.0}


class Ensemble:
    """Combine classifiers by a weighted mean of their probabilities.

    ``models``: name -> ``Classifier``. ``weights``: name -> non-negative weight (missing names
    get 1.0 unless listed in ``DEFAULT_WEIGHTS``); they are normalized to sum to 1.
    """

    name = "ensemble"

    def __init__(
        self, models: Mapping[str, Classifier], weights: Mapping[str, float] | None = None
    ) -> None:
        if not models:
            raise ValueError("an Ensemble needs at least one model")
        weights = dict(weights or {})
        unknown = set(weights) - set(models)
        if unknown:
            raise ValueError(
                f"weights name models that are not in the ensemble: {sorted(unknown)}"
            )
        raw = {name: float(weights.get(name, DEFAULT_WEIGHTS.get(name, 1.0))) for name in models}
        if min(raw.values()) < 0 or sum(raw.values()) <= 0:
            raise ValueError(f"weights must be >= 0 and not all zero, got {raw}")
        total = sum(raw.values())
        self.models = dict(models)
        self.weights = {name: value / total for name, value in raw.items()}

    def predict_all(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Probabilities of every model and of the ensemble: name -> (N, 11) float32.

        ``images``: float32 (N, 28, 28) in [0, 1]. The result holds each model's name and
        ``"ensemble"``.
        """
        images = check_images(images)
        outputs = {name: model.predict_proba(images) for name, model in self.models.items()}
        combined = sum(self.weights[name] * outputs[name] for name in self.models)
        outputs["ensemble"] = np.asarray(combined, np.float32)
        return outputs

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """The ensemble's probabilities (N, 11) float32."""
        return self.predict_all(images)["ensemble"]

    def fine_tune(self, images, labels, *, learning_rate, epochs, batch_size, rng) -> None:
        """Fine-tune every member in place (each with its own generator drawn from ``rng``)."""
        rng = np.random.default_rng(rng)
        for model in self.models.values():
            model.fine_tune(
                images,
                labels,
                learning_rate=learning_rate,
                epochs=epochs,
                batch_size=batch_size,
                rng=rng.spawn(1)[0],
            )

    def copy(self) -> Ensemble:
        return Ensemble({name: model.copy() for name, model in self.models.items()}, self.weights)

    def save(self, path: Path) -> None:
        raise NotImplementedError(
            "an Ensemble is saved as its members: call save() on each of ensemble.models"
        )
