"""check_safe: the zip scan that refuses checkpoints holding code, without Keras or pickle."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from digitlib.models.checkpoint_safety import SUFFIXES, UnsafeModelError, check_safe


def keras_bytes(config: dict) -> bytes:
    """A stand-in ``.keras`` file: a zip holding ``config.json`` (enough for the scan)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", b"")
    return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def layer(class_name: str) -> dict:
    return {"class_name": class_name, "config": {"name": class_name.lower()}}


def test_plain_checkpoints_pass():
    check_safe(
        keras_bytes({"class_name": "Sequential", "config": {"layers": [layer("Dense")]}}), ".keras"
    )
    check_safe(npz_bytes(w=np.zeros(3, np.float32), b=np.arange(4)), ".npz")
    assert SUFFIXES == (".keras", ".npz")


@pytest.mark.parametrize("code", ["Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__"])
def test_a_keras_config_holding_code_anywhere_is_refused(code):
    nested = {"class_name": "Functional", "config": {"layers": [layer("Dense"), [layer(code)]]}}
    with pytest.raises(UnsafeModelError, match=code):
        check_safe(keras_bytes(nested), ".keras")


def test_an_npz_with_object_arrays_is_refused_without_unpickling():
    data = npz_bytes(w=np.zeros(2), bad=np.array([{"x": 1}], dtype=object))
    with pytest.raises(UnsafeModelError, match="'bad.npy'"):
        check_safe(data, ".npz")


@pytest.mark.parametrize(
    ("data", "suffix", "message"),
    [
        (b"not a zip", ".keras", "not a zip archive"),
        (b"PK\x03\x04broken", ".npz", "not a .npz file"),
        (npz_bytes(w=np.zeros(1)), ".keras", "no config.json"),
        (keras_bytes({}), ".pt", "unknown checkpoint suffix"),
    ],
)
def test_what_is_not_a_checkpoint_is_a_value_error(data, suffix, message):
    with pytest.raises(ValueError, match=message) as caught:
        check_safe(data, suffix)
    assert not isinstance(caught.value, UnsafeModelError)


def test_unsafe_model_error_is_still_a_value_error_and_importable_from_the_store():
    from digitlib.store import UnsafeModelError as from_store
    from digitlib.store.registry import UnsafeModelError as from_registry
    from digitlib.store.registry import check_safe as registry_check_safe

    assert from_store is from_registry is UnsafeModelError
    assert issubclass(UnsafeModelError, ValueError)
    assert registry_check_safe is check_safe
