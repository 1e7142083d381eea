"""The shipped checkpoints meet the MNIST targets on the full 10,000-image test set."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib import data
from digitlib.config import SHIPPED_MODELS_DIR
from digitlib.evaluate import TARGETS, evaluate_mnist, load_models
from digitlib.models import Ensemble


@pytest.fixture(scope="module")
def mnist_accuracy():
    return evaluate_mnist(Ensemble(load_models(SHIPPED_MODELS_DIR)))


@pytest.mark.parametrize("name", ["cnn", "ensemble", "fnn", "numpy_fnn"])
def test_shipped_models_meet_the_mnist_targets(mnist_accuracy, name):
    threshold, _ = TARGETS[f"mnist.{name}"]
    assert mnist_accuracy[name] >= threshold, f"{name}: {mnist_accuracy[name]:.4f} < {threshold}"


def test_shipped_files_are_small_and_load_safely():
    for name in ("cnn.keras", "fnn.keras", "numpy_fnn.npz"):
        assert (SHIPPED_MODELS_DIR / name).stat().st_size < 10_000_000


def test_shipped_models_answer_other_for_a_scribble():
    models = load_models(SHIPPED_MODELS_DIR)
    images, _ = data.load_quickdraw_bitmaps(["bicycle"])
    inputs = images[:200].astype(np.float32) / 255
    for model in models.values():
        assert (model.predict_proba(inputs).argmax(1) == 10).mean() > 0.9
