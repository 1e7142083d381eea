"""``Ensemble``: weighted average of the probabilities of several classifiers."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
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
        self._together: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
        self._together_lock = threading.Lock()

    @property
    def runs_keras_together(self) -> bool:
        """Whether ``predict_all`` runs the Keras members in one compiled call (two or more)."""
        return self._keras_together() is not None

    def _keras_together(self) -> Callable[[np.ndarray], dict[str, np.ndarray]] | None:
        """``keras_models.predict_together`` over the Keras members when there are two or more
        (built on first use), else None. Without a Keras model loaded, TensorFlow stays
        unimported."""
        keras_models = sys.modules.get("digitlib.models.keras_models")
        if keras_models is None:
            return None
        with self._together_lock:
            if self._together is None:
                members = {
                    name: model
                    for name, model in self.models.items()
                    if isinstance(model, keras_models.KerasClassifier)
                }
                if len(members) < 2:
                    return None
                self._together = keras_models.predict_together(members)
            return self._together

    def predict_all(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Probabilities of every model and of the ensemble: name -> (N, 11) float32.

        ``images``: float32 (N, 28, 28) in [0, 1]. The result holds each model's name and
        ``"ensemble"``.
        """
        images = check_images(images)
        together = self._keras_together()
        shared = together(images) if together is not None else {}
        outputs = {
            name: shared[name] if name in shared else model.predict_proba(images)
            for name, model in self.models.items()
        }
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
