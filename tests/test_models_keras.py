"""Keras models: factories, the fast predict path, save/load, Lambda refusal, copy, fine-tune."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from digitlib.models import (
    CheckpointError,
    Ensemble,
    KerasClassifier,
    NumpyFNN,
    build_cnn,
    build_fnn,
    load_model,
)


def _images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, 28, 28)).astype(np.float32)


@pytest.mark.parametrize("factory", [build_fnn, build_cnn])
def test_factories_map_28x28_to_11_probabilities(factory):
    model = KerasClassifier(factory())
    probabilities = model.predict_proba(_images(3))
    assert probabilities.shape == (3, 11) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert model.predict_proba(np.zeros((0, 28, 28), np.float32)).shape == (0, 11)


def test_keras_save_load_round_trip_without_optimizer_state(tmp_path):
    model = KerasClassifier(build_cnn(), "cnn")
    model.fine_tune(_images(8), np.arange(8), learning_rate=1e-3, epochs=1, batch_size=4, rng=0)
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = load_model(path)
    assert loaded.name == "cnn"
    np.testing.assert_allclose(
        loaded.predict_proba(_images(4)), model.predict_proba(_images(4)), atol=1e-6
    )
    assert path.stat().st_size < 1.3 * 4 * model.model.count_params() + 100_000


def test_load_model_refuses_a_lambda_layer(tmp_path):
    inputs = keras.Input((28, 28))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    outputs = keras.layers.Dense(11, activation="softmax")(x)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(CheckpointError, match="Lambda"):
        load_model(path)


def test_keras_classifier_rejects_wrong_shapes():
    inputs = keras.Input((28, 28))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(inputs))
    with pytest.raises(ValueError, match="maps"):
        KerasClassifier(keras.Model(inputs, outputs))


def test_copy_is_independent_and_fine_tune_changes_only_the_copy():
    model = KerasClassifier(build_fnn(), "fnn")
    before = model.predict_proba(_images(2))
    clone = model.copy()
    clone.fine_tune(_images(16), np.full(16, 3), learning_rate=1e-2, epochs=2, batch_size=8, rng=0)
    np.testing.assert_array_equal(model.predict_proba(_images(2)), before)
    assert clone.predict_proba(_images(2))[:, 3].mean() > before[:, 3].mean()


def test_predict_proba_is_fast_for_one_input():
    model = KerasClassifier(build_cnn())
    image = _images(1)
    model.predict_proba(image)
    samples = []
    for _ in range(30):
        started = time.perf_counter()
        model.predict_proba(image)
        samples.append(time.perf_counter() - started)
    assert np.median(samples) < 0.010  # model.predict takes ~34 ms; the tf.function ~1 ms


def test_an_ensemble_runs_its_keras_models_in_one_call_with_the_same_answers():
    models = {
        "cnn": KerasClassifier(build_cnn(), "cnn"),
        "fnn": KerasClassifier(build_fnn(), "fnn"),
        "numpy_fnn": NumpyFNN(rng=0),
    }
    ensemble = Ensemble(models)
    assert ensemble.runs_keras_together
    images = _images(5)
    outputs = ensemble.predict_all(images)
    for name, model in models.items():
        np.testing.assert_allclose(outputs[name], model.predict_proba(images), atol=1e-6)
    # the shared function reads the models' current weights: it follows in-place fine-tuning
    models["fnn"].fine_tune(
        _images(16), np.full(16, 3), learning_rate=1e-2, epochs=2, batch_size=8, rng=0
    )
    after = ensemble.predict_all(images)["fnn"]
    np.testing.assert_allclose(after, models["fnn"].predict_proba(images), atol=1e-6)
    assert not np.allclose(after, outputs["fnn"])
    empty = ensemble.predict_all(np.zeros((0, 28, 28), np.float32))
    assert {name: values.shape for name, values in empty.items()} == {
        name: (0, 11) for name in [*models, "ensemble"]
    }


def test_an_ensemble_with_one_keras_model_calls_it_on_its_own():
    ensemble = Ensemble({"fnn": KerasClassifier(build_fnn(), "fnn"), "numpy_fnn": NumpyFNN(rng=0)})
    assert not ensemble.runs_keras_together
    images = _images(3)
    np.testing.assert_allclose(
        ensemble.predict_all(images)["fnn"], ensemble.models["fnn"].predict_proba(images)
    )


def test_fine_tune_runs_the_attached_trainer_and_a_copy_has_none():
    from digitlib.models.keras_tuning import KerasHeadTrainer, KerasTrainer

    model = KerasClassifier(build_fnn(), "fnn")
    before = model.model.get_weights()
    model.fine_tune(_images(8), np.arange(8), learning_rate=1e-3, epochs=1, batch_size=4, rng=0)
    assert isinstance(model.trainer, KerasTrainer)  # the default: every layer
    after = model.model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    assert model.copy().trainer is None
    # A head trainer attached: fine_tune moves the head alone, the features stay.
    head = KerasHeadTrainer.build(model, "sgd", 1.0)
    model.trainer = head
    features = [w.copy() for w in head.backbone.get_weights()]
    top = [w.copy() for w in head.top.get_weights()]
    model.fine_tune(_images(8), np.arange(8), learning_rate=1e-2, epochs=2, batch_size=4, rng=0)
    for old, new in zip(features, head.backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert any(not np.allclose(a, b) for a, b in zip(top, head.top.get_weights(), strict=True))
