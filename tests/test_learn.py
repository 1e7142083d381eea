"""Online learning (``digitlib.learn``): label parsing, screening, the validation gate,
promotion into the store, restarts and concurrent learners.

The target tests (poisoning, a writer's style, restart, review queue, two learners) use the
shipped models and are skipped until ``models/`` holds them. MNIST figures are measured on the
5,000 odd rows of MNIST test (``learn.mnist_evaluation_set``), which the gate never sees (it
validates on even rows).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from digitlib import data
from digitlib.config import HELD_OUT, OTHER, SHIPPED_MODELS_DIR
from digitlib.learn import (
    LearnConfig,
    OnlineLearner,
    ValidationSpec,
    label_text,
    mnist_evaluation_set,
    parse_labels,
    validation_set,
)
from digitlib.store import DrawingStore, LocalStore, ModelRegistry

SHIPPED = all(
    (SHIPPED_MODELS_DIR / name).is_file() for name in ("cnn.keras", "fnn.keras", "numpy_fnn.npz")
)
needs_models = pytest.mark.skipif(not SHIPPED, reason="the shipped models are not trained yet")

#: A smaller validation set than the default, to keep the suite inside its CI budget.
SMALL = ValidationSpec(mnist=1000, canvas=500, other=250)


# --- helpers ---------------------------------------------------------------------------------


class Constant:
    """A stand-in classifier that always reads ``label`` with probability ``confidence``."""

    def __init__(self, name: str, label: int, confidence: float = 0.9999) -> None:
        self.name, self.label, self.confidence = name, label, confidence

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        probabilities = np.full((len(images), 11), (1 - self.confidence) / 10, np.float32)
        probabilities[:, self.label] = self.confidence
        return probabilities

    def fine_tune(self, images, labels, *, learning_rate, epochs, batch_size, rng) -> None:
        raise AssertionError("a suspicious drawing must not be trained")

    def copy(self) -> Constant:
        return Constant(self.name, self.label, self.confidence)

    def save(self, path: Path) -> None:
        raise AssertionError("a suspicious drawing must not be saved")


def canvas(strokes, seed: int = 0) -> np.ndarray:
    """A drawing as the dashboard's canvas returns it (RGBA, 280x280, black ink)."""
    style = data.RenderStyle(canvas_size=(280, 280), line_width=16.0, height=190.0)
    if seed:
        style = data.random_style(seed, canvas_range=(240, 400), rgba=True)
    return data.render_strokes(strokes, style)


def seven() -> list[np.ndarray]:
    return [np.array([[10, 10], [90, 10], [40, 150]], np.float32)]


def mnist_accuracy(recognizer, count: int | None = None) -> float:
    images, labels = mnist_evaluation_set()
    if count is not None:
        images, labels = images[:count], labels[:count]
    models = recognizer.models
    weights = recognizer.weights
    probabilities = sum(weights[name] * models[name].predict_proba(images) for name in models)
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


@pytest.fixture(scope="module")
def shipped_models():
    from digitlib.models import load_model

    if not SHIPPED:
        pytest.skip("the shipped models are not trained yet")
    return {
        name: load_model(SHIPPED_MODELS_DIR / f"{name}{suffix}", name)
        for name, suffix in (("numpy_fnn", ".npz"), ("fnn", ".keras"), ("cnn", ".keras"))
    }


def fresh_recognizer(shipped_models):
    """A recognizer on copies of the shipped models (the module's models stay untouched)."""
    from digitlib.recognize import Recognizer

    return Recognizer(
        {name: model.copy() for name, model in shipped_models.items()},
        versions={name: "shipped" for name in shipped_models},
    )


@pytest.fixture()
def store(tmp_path):
    return LocalStore(tmp_path / "store")


# --- labels and configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    "labels, expected",
    [
        ("42", [4, 2]),
        ("4?2", [4, OTHER, 2]),
        (" 7 ", [7]),
        ([4, "2", "?", "other", 10], [4, 2, OTHER, OTHER, OTHER]),
        ("4x", [4, None]),
        ([11, -1, True, "12"], [None, None, None, None]),
        ("", []),
    ],
)
def test_parse_labels(labels, expected):
    assert parse_labels(labels) == expected


def test_parse_labels_refuses_other_types():
    with pytest.raises(TypeError, match="one character per segment"):
        parse_labels(42)


def test_label_text():
    assert label_text([4, OTHER, 2]) == "4?2"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"learning_rate": 0}, "learning rates must be > 0"),
        ({"epochs": 0}, "epochs and batch_size"),
        ({"replay_size": -1}, "replay_size"),
        ({"tolerance": 1.5}, "fractions"),
        ({"suspicion_confidence": 0.3}, "suspicion_confidence"),
        ({"correction_share": 2}, "correction_share"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_config_is_checked(fields, message):
    with pytest.raises(ValueError, match=message):
        LearnConfig(**fields)


def test_validation_spec_is_checked():
    with pytest.raises(ValueError, match="at most 5000"):
        ValidationSpec(mnist=6000)
    with pytest.raises(ValueError, match="must not be empty"):
        ValidationSpec(mnist=0, canvas=0, other=0)


def test_validation_set_is_fixed_and_never_uses_the_evaluation_rows(tmp_path):
    spec = ValidationSpec(mnist=200, canvas=30, other=20, seed=3)
    first = validation_set(spec, tmp_path)  # built, then written to the cache folder
    validation_set.cache_clear()
    second = validation_set(spec, tmp_path)  # read back from the cache folder
    assert len(list(tmp_path.glob("validation-*.npz"))) == 1
    assert first.images.shape == (250, 28, 28) and first.images.dtype == np.float32
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert sorted(set(first.sources)) == ["canvas", "mnist", "other"]
    assert set(first.labels[first.sources == "other"]) == {OTHER}
    # The gate's MNIST images are even test rows; the odd rows measure forgetting.
    images, _ = data.load_mnist("test")
    evaluation, _ = mnist_evaluation_set()
    mnist_rows = first.images[first.sources == "mnist"]
    even = images[0::2].reshape(len(images[0::2]), -1).astype(np.float32) / 255
    assert all((np.abs(even - row.reshape(1, -1)).sum(1) == 0).any() for row in mnist_rows[:20])
    assert len(evaluation) == 5000


# --- screening: suspicious drawings go to the review queue ---------------------------------------


def constant_recognizer(label: int, confidence: float = 0.9999):
    from digitlib.recognize import Recognizer

    models = {name: Constant(name, label, confidence) for name in ("numpy_fnn", "fnn", "cnn")}
    return Recognizer(models, versions={name: "shipped" for name in models})


@pytest.mark.parametrize(
    "image, labels, reason",
    [
        (canvas(seven()), "1", "disagrees with every model, which read '7'"),
        (canvas(seven()), "x", "label 1 is no digit or '?'"),
        (canvas(seven()), "77", "2 labels for 1 segments"),
        (np.zeros((280, 280, 4), np.uint8), "7", "the drawing has no ink"),
    ],
)
def test_suspicious_drawings_are_held_not_trained(store, image, labels, reason):
    learner = OnlineLearner(constant_recognizer(7), store, LearnConfig(validation=SMALL))
    update = learner.learn(image, labels, session_id="session-1")
    assert not update.promoted
    assert reason in update.reason and update.reason.endswith("held for review")
    drawings = DrawingStore(store)
    held = drawings.list_held()
    assert [record.id for record in held] == update.held
    assert held[0].session_id == "session-1" and reason in held[0].reason
    log = drawings.updates()
    assert len(log) == 1 and log[0]["held"] == update.held and not log[0]["promoted"]
    assert ModelRegistry(store, SHIPPED_MODELS_DIR).names() == []  # nothing saved


def test_unsure_models_do_not_make_a_label_suspicious(store):
    learner = OnlineLearner(constant_recognizer(7, confidence=0.9), store)
    with pytest.raises(AssertionError, match="must not be trained"):
        learner.learn(canvas(seven()), "1")


def test_learn_checks_the_session_id(store):
    learner = OnlineLearner(constant_recognizer(7), store)
    with pytest.raises(ValueError, match="session_id must be 1-64 letters"):
        learner.learn(canvas(seven()), "7", session_id="has spaces")


def test_config_must_name_known_models(store):
    with pytest.raises(ValueError, match="does not have"):
        OnlineLearner(constant_recognizer(7), store, LearnConfig(models=("resnet",)))
