"""The stroke model learning from corrections (``digitlib.learn``'s stroke track): its training
batch, its gate set, and an update that trains, gates, promotes and installs it beside the image
models, through the same candidates and registry."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.config import HELD_OUT, OTHER, SHIPPED_MODELS_DIR, STROKE_MODEL
from digitlib.drawings import data
from digitlib.drawings.strokes import encode_many
from digitlib.learn import LearnConfig, OnlineLearner, StrokeSpec, ValidationSpec
from digitlib.learn.candidates import stroke_training_batch
from digitlib.learn.datasets import stroke_validation_set
from digitlib.store import DrawingStore, LocalStore, ModelRegistry

SHIPPED = all(
    (SHIPPED_MODELS_DIR / name).is_file()
    for name in ("cnn.keras", "fnn.keras", "numpy_fnn.npz", "strokes.keras", "strokes.infer.npz")
)
needs_models = pytest.mark.skipif(not SHIPPED, reason="the shipped models are not trained yet")

#: Small gate sets, to keep the suite inside its CI budget.
SMALL = ValidationSpec(mnist=500, canvas=250, other=150)
SMALL_STROKES = StrokeSpec(validation=300, replay=100)


def two_digits() -> tuple[np.ndarray, list[np.ndarray], str]:
    """A 1 drawn with one stroke and a 4 drawn with two, side by side on a 400x240 canvas:
    (RGBA image, strokes in drawing order, their reading)."""
    strokes = [
        np.array([[80.0, 40.0], [80.0, 200.0]]),
        np.array([[240.0, 40.0], [200.0, 140.0], [320.0, 140.0]]),
        np.array([[290.0, 60.0], [290.0, 210.0]]),
    ]
    return data.draw_polylines(strokes, (240, 400), 14.0, rgba=True), strokes, "14"


def test_the_stroke_batch_holds_each_segment_its_variants_and_the_replay():
    _, strokes, _ = two_digits()
    drawn = [[strokes[0]], [strokes[1], strokes[2]]]
    labels = np.array([1, 4])
    config = LearnConfig(replay_size=10, strokes=StrokeSpec(replay=30, variants=3))
    inputs, targets, replayed = stroke_training_batch(
        drawn, labels, config, [], np.random.default_rng(0)
    )
    assert inputs.shape == (2 * (1 + 3) + 10, 64, 6) and inputs.dtype == np.float32
    assert replayed == 10
    np.testing.assert_array_equal(inputs[:2], encode_many(drawn))
    assert targets[:8].tolist() == [1, 4, 1, 1, 1, 4, 4, 4]
    # The variants are other paths of the same segment, not copies of it.
    assert not np.allclose(inputs[2], inputs[0])
    assert set(targets[8:].tolist()) <= set(range(11))


def test_the_stroke_batch_replays_earlier_corrections():
    _, strokes, _ = two_digits()
    earlier = [(np.full((64, 6), 7.0, np.float32), 9)] * 4
    config = LearnConfig(
        replay_size=8, correction_share=0.5, strokes=StrokeSpec(replay=30, variants=0)
    )
    inputs, targets, _ = stroke_training_batch(
        [[strokes[0]]], np.array([1]), config, earlier, np.random.default_rng(0)
    )
    assert inputs.shape == (1 + 8, 64, 6)
    assert int((inputs == 7.0).all(axis=(1, 2)).sum()) == 4
    assert int((targets == 9).sum()) >= 4


def test_the_stroke_gate_set_holds_only_hands_the_stroke_model_never_trained_on():
    validation = stroke_validation_set(SMALL_STROKES)
    assert validation.images.shape[1:] == (64, 6)
    assert set(validation.sources.tolist()) == {"pendigits", "unipen", "other"}
    assert all((validation.sources == part).sum() <= 300 for part in ("pendigits", "unipen"))
    assert set(validation.labels[validation.sources == "other"].tolist()) == {OTHER}
    from digitlib.training.train_strokes import fusion_drawings

    held = fusion_drawings()
    writers = {group.split("/")[1] for group in held.groups if group.startswith("pendigits/")}
    assert writers == {str(w) for w in HELD_OUT.fusion_pendigits_writers}
    assert not writers & {str(w) for w in HELD_OUT.pendigits_writers}
    # Fixed: the same set on every call of the process and every build.
    stroke_validation_set.cache_clear()
    again = stroke_validation_set(SMALL_STROKES)
    np.testing.assert_array_equal(again.images, validation.images)


@pytest.fixture(scope="module")
def shipped():
    if not SHIPPED:
        pytest.skip("the shipped models are not trained yet")
    from digitlib import load_recognizer

    return load_recognizer(SHIPPED_MODELS_DIR)


def stroke_learner(store, shipped, **fields) -> OnlineLearner:
    """A learner on a fresh recognizer of the shipped models (the stroke model included)."""
    from digitlib import load_recognizer

    recognizer = load_recognizer(SHIPPED_MODELS_DIR)
    fields.setdefault("validation", SMALL)
    fields.setdefault("strokes", SMALL_STROKES)
    return OnlineLearner(recognizer, store, LearnConfig(**fields))


@needs_models
def test_a_correction_with_strokes_teaches_the_stroke_model_through_the_gate(tmp_path, shipped):
    store = LocalStore(tmp_path / "store")
    # Wide bounds: this test is about the way through (train, gate, promote, install); the
    # gate's bounds are tested on the image models and in the gate's own tests.
    learner = stroke_learner(
        store, shipped, models=(STROKE_MODEL,), tolerance=0.2, max_drift=0.2, model_drift=0.2
    )
    image, strokes, reading = two_digits()
    live = learner.recognizer.stroke_model
    update = learner.learn(image, reading, session_id="test", strokes=strokes)
    assert update.promoted, update.reason
    assert update.promoted_models == [STROKE_MODEL]
    version = update.versions[STROKE_MODEL]
    registry = ModelRegistry(store, SHIPPED_MODELS_DIR)
    assert registry.current(STROKE_MODEL) == version
    manifest = registry.manifest(STROKE_MODEL, version)
    assert manifest.produced_by == "online update" and manifest.inference
    assert learner.recognizer.stroke_version == version
    assert learner.recognizer.stroke_model is not live
    # The gate's figures are the stroke model's own, on its own set.
    figures = update.stroke_metrics
    assert figures.train.segments == 2 and figures.labels == reading
    assert set(figures.validation[STROKE_MODEL].groups) == {"pendigits", "unipen", "other"}
    assert figures.segments[STROKE_MODEL].reading_after == reading
    # The image models were not asked to learn, and the update log says what happened.
    assert set(update.kept) == set()
    (logged,) = DrawingStore(store).updates()
    assert logged["promoted_models"] == [STROKE_MODEL]
    assert logged["stroke_metrics"]["segments"][STROKE_MODEL]["reading_after"] == reading
    # A fresh reader of the store reads with the promoted stroke model.
    from digitlib import load_recognizer

    reader = load_recognizer(SHIPPED_MODELS_DIR, store=store)
    assert reader.stroke_version == version
    result = reader.recognize(image, strokes=strokes)
    assert result.text == reading


@needs_models
def test_a_stroke_candidate_that_forgets_keeps_the_live_stroke_model(tmp_path, shipped):
    store = LocalStore(tmp_path / "store")
    # Trained hard on one wrong label, the candidate forgets: the gate must refuse it.
    learner = stroke_learner(
        store,
        shipped,
        models=(STROKE_MODEL,),
        learning_rates={STROKE_MODEL: 0.5},
        epochs=8,
        replay_size=0,
        suspicion_confidence=1.0,
    )
    image, strokes, _ = two_digits()
    live = learner.recognizer.stroke_model
    update = learner.learn(image, "77", session_id="test", strokes=strokes)
    assert not update.promoted
    assert STROKE_MODEL in update.kept and "accuracy" in update.kept[STROKE_MODEL]
    assert learner.recognizer.stroke_model is live
    history = ModelRegistry(store, SHIPPED_MODELS_DIR).history(STROKE_MODEL)
    assert [m for m in history if m.produced_by == "online update"] == []


@needs_models
def test_without_strokes_the_stroke_model_is_left_alone(tmp_path, shipped):
    store = LocalStore(tmp_path / "store")
    learner = stroke_learner(store, shipped, models=(STROKE_MODEL,))
    image, _, reading = two_digits()
    live = learner.recognizer.stroke_model
    update = learner.learn(image, reading, session_id="test")
    assert update.stroke_metrics is None and not update.promoted
    assert learner.recognizer.stroke_model is live


@needs_models
@pytest.mark.parametrize(
    "strokes, message",
    [
        ([np.array([[10.0, 10.0], [900.0, 10.0]])], "leaves the image"),
        ([np.array([[np.nan, 1.0]])], "NaN or infinite"),
        ("14", "must be a list of strokes"),
    ],
)
def test_bad_strokes_are_refused_before_anything_is_learned(tmp_path, shipped, strokes, message):
    store = LocalStore(tmp_path / "store")
    learner = stroke_learner(store, shipped, models=(STROKE_MODEL,))
    image, _, reading = two_digits()
    with pytest.raises(ValueError, match=message):
        learner.learn(image, reading, session_id="test", strokes=strokes)
    assert DrawingStore(store).updates() == []
