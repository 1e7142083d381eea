"""Digit classifiers: the ``Classifier`` protocol, the three models and their ensemble.

``load_model(path)`` reads any shipped checkpoint safely: ``.keras`` files with Keras safe mode
(a ``Lambda`` layer is refused) and ``.npz`` files without pickles. TensorFlow is imported only
when a Keras model is built or loaded.
"""

from __future__ import annotations

from pathlib import Path

from digitlib.models.base import CheckpointError, Classifier
from digitlib.models.ensemble import Ensemble
from digitlib.models.inference import InferenceModel
from digitlib.models.numpy_fnn import NumpyFNN

__all__ = [
    "Classifier",
    "CheckpointError",
    "Ensemble",
    "InferenceModel",
    "KerasClassifier",
    "NumpyFNN",
    "build_cnn",
    "build_fnn",
    "load_model",
]


def load_model(path: Path | str, name: str | None = None) -> Classifier:
    """Load a checkpoint as a ``Classifier`` named ``name`` (default: the file's stem).

    ``.keras`` -> ``KerasClassifier`` (``safe_mode=True``, ``compile=False``); ``.npz`` ->
    ``NumpyFNN`` (``allow_pickle=False``); ``.infer.npz`` -> ``InferenceModel`` (reads only, no
    TensorFlow). Raises ``CheckpointError`` for a missing, corrupt or
    unsafe file or an unknown suffix.
    """
    path = Path(path)
    if path.name.endswith(".infer.npz"):
        return InferenceModel.load(path, name)
    if path.suffix == ".keras":
        from digitlib.models.keras_models import KerasClassifier

        return KerasClassifier.load(path, name)
    if path.suffix == ".npz":
        model = NumpyFNN.load(path, name)
        if name is None:
            model.name = path.stem
        return model
    raise CheckpointError(
        f"{path}: unknown checkpoint kind {path.suffix!r}; expected a .keras or .npz file"
    )


def __getattr__(name: str):
    if name in {"KerasClassifier", "build_cnn", "build_fnn"}:
        from digitlib.models import keras_models

        return getattr(keras_models, name)
    raise AttributeError(f"module 'digitlib.models' has no attribute {name!r}")
