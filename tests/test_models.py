"""The NumPy network's gradients, save/load round trips, safe loading, copy and fine-tuning."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from digitlib.models import CheckpointError, Ensemble, NumpyFNN, load_model


def _images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, 28, 28)).astype(np.float32)


def test_numpy_fnn_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    net = NumpyFNN((784, 5, 4, 11), rng=rng, dtype=np.float64)
    inputs = rng.uniform(0, 1, (6, 784))
    labels = rng.integers(0, 11, 6)
    weights = rng.uniform(0.5, 2.0, 6)
    _, gradients = net.loss_and_gradients(inputs, labels, weights, weight_decay=0.01)
    epsilon = 1e-6
    for parameter, gradient in zip(net.parameters, gradients, strict=True):
        flat, flat_gradient = parameter.reshape(-1), gradient.reshape(-1)
        for index in rng.choice(flat.size, size=min(12, flat.size), replace=False):
            original = flat[index]
            flat[index] = original + epsilon
            plus, _ = net.loss_and_gradients(inputs, labels, weights, weight_decay=0.01)
            flat[index] = original - epsilon
            minus, _ = net.loss_and_gradients(inputs, labels, weights, weight_decay=0.01)
            flat[index] = original
            numeric = (plus - minus) / (2 * epsilon)
            assert flat_gradient[index] == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_numpy_fnn_learns_a_separable_problem():
    rng = np.random.default_rng(1)
    images = np.zeros((200, 28, 28), np.float32)
    labels = rng.integers(0, 2, 200)
    images[labels == 0, :14] = 1.0
    images[labels == 1, 14:] = 1.0
    net = NumpyFNN((784, 16, 11), rng=0)
    for _ in range(5):
        net.fit_epoch(images, labels, learning_rate=0.05, batch_size=20, rng=rng)
    assert (net.predict_proba(images).argmax(1) == labels).mean() == 1.0


def test_numpy_fnn_predict_proba_shape_and_sum():
    probabilities = NumpyFNN(rng=0).predict_proba(_images(3))
    assert probabilities.shape == (3, 11) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 28, 27), np.float32), np.zeros((2, 28, 28), np.uint8)]
)
def test_predict_proba_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="images must"):
        NumpyFNN(rng=0).predict_proba(bad)


def test_numpy_fnn_save_load_round_trip(tmp_path):
    net = NumpyFNN(rng=0)
    path = tmp_path / "numpy_fnn.npz"
    net.save(path)
    loaded = load_model(path)
    assert loaded.name == "numpy_fnn"
    np.testing.assert_array_equal(loaded.predict_proba(_images(4)), net.predict_proba(_images(4)))


def test_load_model_refuses_pickled_npz(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, weight_0=np.array([object()], dtype=object))
    with pytest.raises(CheckpointError, match="pickled"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"not a zip file", pickle.dumps({"a": 1})])
def test_load_model_refuses_corrupt_files(tmp_path, content):
    for suffix in (".npz", ".keras"):
        path = tmp_path / f"corrupt{suffix}"
        path.write_bytes(content)
        with pytest.raises(CheckpointError):
            load_model(path)


def test_load_model_refuses_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="unknown checkpoint kind"):
        load_model(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.npz")


def test_numpy_fnn_copy_is_independent():
    net = NumpyFNN(rng=0)
    clone = net.copy()
    before = net.predict_proba(_images(2))
    clone.fine_tune(
        _images(8), np.arange(8) % 11, learning_rate=0.1, epochs=2, batch_size=4, rng=0
    )
    np.testing.assert_array_equal(net.predict_proba(_images(2)), before)
    assert not np.allclose(clone.predict_proba(_images(2)), before)


def test_fine_tune_checks_its_arguments():
    with pytest.raises(ValueError, match="learning_rate"):
        NumpyFNN(rng=0).fine_tune(
            _images(2), np.array([1, 2]), learning_rate=0, epochs=1, batch_size=2, rng=0
        )
    with pytest.raises(ValueError, match="labels"):
        NumpyFNN(rng=0).fine_tune(
            _images(2), np.array([1, 11]), learning_rate=0.1, epochs=1, batch_size=2, rng=0
        )


def test_ensemble_predict_all_and_weights():
    first, second = NumpyFNN(rng=0), NumpyFNN(rng=1)
    ensemble = Ensemble({"a": first, "b": second}, {"a": 3.0, "b": 1.0})
    outputs = ensemble.predict_all(_images(5))
    assert set(outputs) == {"a", "b", "ensemble"}
    np.testing.assert_allclose(
        outputs["ensemble"], 0.75 * outputs["a"] + 0.25 * outputs["b"], atol=1e-6
    )
    with pytest.raises(ValueError, match="not in the ensemble"):
        Ensemble({"a": first}, {"c": 1.0})
