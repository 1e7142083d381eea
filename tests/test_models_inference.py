"""Inference files (``digitlib.models.inference``): the head on small arrays, the file format,
parity with the Keras checkpoints they are made from, and the store's handling of them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from digitlib.config import SHIPPED_MODELS_DIR
from digitlib.drawings import data
from digitlib.models import CheckpointError, InferenceModel, load_model
from digitlib.models import inference as lean
from digitlib.store import LocalStore, ModelRegistry

# --- the head, on small arrays -------------------------------------------------------------


def test_run_head_applies_affine_relu_and_softmax():
    head = [
        lean.HeadLayer("affine", np.array([[1.0, -1.0]], np.float32), np.zeros(2, np.float32)),
        lean.HeadLayer("relu"),
        lean.HeadLayer("affine", np.zeros((2, 11), np.float32), np.arange(11, dtype=np.float32)),
        lean.HeadLayer("softmax"),
    ]
    probabilities = lean.run_head(head, np.array([[2.0], [-3.0]], np.float32))
    expected = np.exp(np.arange(11)) / np.exp(np.arange(11)).sum()
    np.testing.assert_allclose(probabilities, [expected, expected], rtol=1e-6)
    assert probabilities.dtype == np.float32 and probabilities.shape == (2, 11)


def tiny_model(seed: int = 0):
    """A small Keras model with the factories' shape: features, then Dense-BN-ReLU-Dense."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(28, 28))
    x = layers.Flatten()(inputs)
    x = layers.Dense(6, activation="relu", name=lean.FEATURES_LAYER)(x)
    x = layers.Dense(5, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(11, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    batch_norm = model.layers[-4]
    rng = np.random.default_rng(seed)
    # Moving statistics far from the defaults, so that folding them is really tested.
    batch_norm.set_weights(
        [
            rng.uniform(0.5, 2, 5),
            rng.normal(size=5),
            rng.normal(size=5),
            rng.uniform(0.1, 3, 5),
        ]
    )
    return model


def test_batch_norm_is_folded_into_the_affine_before_it():
    model = tiny_model()
    feature, head = lean.split_layers(model)
    assert feature is model.get_layer(lean.FEATURES_LAYER).output
    layers = lean.head_layers(head)
    assert [layer.operation for layer in layers] == ["affine", "relu", "affine", "softmax"]
    assert layers[0].weight.shape == (6, 5)


def test_export_agrees_with_the_keras_model_and_reuses_an_unchanged_feature_part():
    model = tiny_model()
    made = lean.export_inference(model, name="tiny", source_sha256="abc")
    probe = np.random.default_rng(1).random((100, 28, 28), dtype=np.float32)
    assert lean.parity(made, model, probe) <= lean.PARITY_TOLERANCE
    # Fine-tune the head only: the flatbuffer is reused, the head follows.
    last = model.layers[-1]
    noise = np.random.default_rng(4)
    last.set_weights([w + noise.normal(0, 0.5, w.shape) for w in last.get_weights()])
    again = lean.export_inference(model, name="tiny", source_sha256="def", reuse=made)
    assert again.features_tflite is made.features_tflite
    assert lean.parity(again, model, probe) <= lean.PARITY_TOLERANCE
    assert lean.parity(made, model, probe) > lean.PARITY_TOLERANCE


def test_an_inference_file_round_trips_through_bytes():
    made = lean.export_inference(tiny_model(), name="tiny", source_sha256="abc")
    back = InferenceModel.from_bytes(made.to_bytes())
    probe = np.random.default_rng(2).random((10, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(back.predict_proba(probe), made.predict_proba(probe))
    assert (back.name, back.source_sha256) == ("tiny", "abc")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "not a readable inference file"),
        (lambda data: b"garbage", "not a readable inference file"),
    ],
)
def test_a_damaged_inference_file_is_refused_saying_what_is_wrong(damage, message):
    made = lean.export_inference(tiny_model(), name="tiny", source_sha256="abc")
    with pytest.raises(CheckpointError, match=message):
        InferenceModel.from_bytes(damage(made.to_bytes()))


def test_a_file_of_another_format_is_refused():
    import io

    buffer = io.BytesIO()
    np.savez(buffer, format=np.array("something-else"))
    with pytest.raises(CheckpointError, match="not a digitlib inference file"):
        InferenceModel.from_bytes(buffer.getvalue())


def test_inference_models_do_not_train():
    made = lean.export_inference(tiny_model(), name="tiny", source_sha256="abc")
    with pytest.raises(TypeError, match="fine-tune its .keras checkpoint"):
        made.fine_tune(np.zeros((1, 28, 28), np.float32), np.zeros(1))


# --- the shipped files ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_inputs() -> np.ndarray:
    images, _ = data.load_mnist("test")
    return images[:1000].astype(np.float32) / 255


@pytest.mark.parametrize("name", ["cnn", "fnn"])
def test_every_shipped_inference_file_agrees_with_its_checkpoint(name, mnist_inputs):
    checkpoint = SHIPPED_MODELS_DIR / f"{name}.keras"
    reading = InferenceModel.load(lean.inference_path(checkpoint))
    assert reading.source_sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest(), (
        f"models/{name}.infer.npz is stale: run `digitlib models export`"
    )
    keras_model = load_model(checkpoint, name).model
    ours = reading.predict_proba(mnist_inputs)
    theirs = lean.keras_probabilities(keras_model, mnist_inputs)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1))
    assert np.max(np.abs(ours - theirs)) <= lean.PARITY_TOLERANCE


def test_one_input_at_a_time_reads_as_a_batch_does(mnist_inputs):
    # One input runs on one LiteRT thread, several on up to two: the same probabilities.
    reading = InferenceModel.load(lean.inference_path(SHIPPED_MODELS_DIR / "cnn.keras"))
    batch = reading.predict_proba(mnist_inputs[:12])
    alone = np.concatenate([reading.predict_proba(image[None]) for image in mnist_inputs[:12]])
    assert sorted(reading._interpreters) == sorted({1, lean._MANY_THREADS})
    np.testing.assert_allclose(alone, batch, rtol=0, atol=1e-6)


def test_shipped_inference_files_are_small():
    for name in ("cnn", "fnn"):
        assert (SHIPPED_MODELS_DIR / f"{name}{lean.SUFFIX}").stat().st_size < 10_000_000


# --- in the store --------------------------------------------------------------------------


@pytest.fixture()
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(LocalStore(tmp_path / "store"), SHIPPED_MODELS_DIR, cache_dir=tmp_path)


def test_a_seeded_version_keeps_the_shipped_inference_file(registry):
    manifest = registry.seed("cnn")
    record = manifest.inference
    shipped = (SHIPPED_MODELS_DIR / "cnn.infer.npz").read_bytes()
    assert record["sha256"] == hashlib.sha256(shipped).hexdigest()
    assert record["source_sha256"] == manifest.sha256
    assert registry.store.get(record["key"]) == shipped
    loaded = registry.load_inference("cnn")
    assert isinstance(loaded.model, InferenceModel) and loaded.version == manifest.version
    assert loaded.warnings == []


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda store, key: store.delete(key), "inference file missing"),
        (lambda store, key: store.put(key, b"PK\x03\x04broken"), "inference file corrupt"),
    ],
)
def test_a_missing_or_corrupt_inference_file_is_remade_from_its_checkpoint(
    registry, damage, problem
):
    manifest = registry.seed("fnn")
    damage(registry.store, manifest.inference["key"])
    assert not registry.verify("fnn").ok
    loaded = registry.load_inference("fnn")
    assert loaded.version == manifest.version
    assert any(problem in warning and "remade" in warning for warning in loaded.warnings)
    assert registry.verify("fnn").ok  # written back, with its record
    again = registry.load_inference("fnn")
    assert again.warnings == []
    probe = np.random.default_rng(3).random((20, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(
        again.model.predict_proba(probe), loaded.model.predict_proba(probe), atol=1e-6
    )


def test_a_version_saved_before_inference_files_existed_loads(registry):
    """Old stores keep loading: a version with no inference file and no record gets one."""
    manifest = registry.seed("cnn")
    store = registry.store
    store.delete(manifest.inference["key"])
    key = f"models/cnn/{manifest.version:06d}.json"
    old = {k: v for k, v in json.loads(store.get(key)).items() if k != "inference"}
    store.put(key, json.dumps(old).encode())
    assert registry.manifest("cnn", manifest.version).inference is None
    assert registry.verify("cnn").ok  # nothing recorded is nothing wrong
    loaded = registry.load_inference("cnn")
    assert loaded.version == manifest.version and loaded.warnings
    assert registry.manifest("cnn", manifest.version).inference["source_sha256"] == (
        manifest.sha256
    )


def test_when_checkpoint_and_inference_file_are_both_broken_the_older_version_loads(registry):
    first = registry.seed("cnn")
    checkpoint = (SHIPPED_MODELS_DIR / "cnn.keras").read_bytes()
    second = registry.save_version(
        "cnn",
        checkpoint,
        parent=first.version,
        produced_by="test",
        inference=(SHIPPED_MODELS_DIR / "cnn.infer.npz").read_bytes(),
    )
    registry.promote("cnn", second.version, expected_current=first.version)
    registry.store.put(second.inference["key"], b"broken")
    registry.store.put(second.key, checkpoint[:1000])
    loaded = registry.load_inference("cnn")
    assert loaded.version == first.version
    assert any(f"version {second.version} skipped" in w for w in loaded.warnings)


def test_an_inference_file_of_another_checkpoint_is_refused_at_save(registry):
    checkpoint = (SHIPPED_MODELS_DIR / "cnn.keras").read_bytes()
    other = (SHIPPED_MODELS_DIR / "fnn.infer.npz").read_bytes()
    with pytest.raises(ValueError, match="made from another checkpoint"):
        registry.save_version("cnn", checkpoint, parent=None, produced_by="test", inference=other)
    assert registry.versions("cnn") == []


@pytest.mark.parametrize("factory", ["build_cnn", "build_fnn"])
def test_the_factories_declare_where_the_features_end(factory):
    import digitlib.models as models

    model = getattr(models, factory)()
    feature, head = lean.split_layers(model)
    assert feature is model.get_layer(lean.FEATURES_LAYER).output
    assert [layer.__class__.__name__ for layer in head][0] == "Dense"
    made = lean.export_inference(model, name=factory, source_sha256="")
    probe = np.random.default_rng(6).random((32, 28, 28), dtype=np.float32)
    assert lean.parity(made, model, probe) <= lean.PARITY_TOLERANCE
