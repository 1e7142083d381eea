"""A version's inference file in the store: its key, its manifest record, and what verify sees.
Making and remaking them (TensorFlow) is tested through the registry in test_models_inference."""

from __future__ import annotations

import hashlib

import pytest

from digitlib.store import LocalStore
from digitlib.store.inference_files import (
    INFERENCE_SUFFIX,
    inference_key,
    inference_problem,
    inference_record,
)


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


def test_the_key_and_record_keep_the_store_layout():
    assert inference_key("cnn", 42) == "models/cnn/000042" + INFERENCE_SUFFIX
    record = inference_record("models/cnn/000042.infer.npz", b"abc", "ff" * 32)
    assert record == {
        "key": "models/cnn/000042.infer.npz",
        "sha256": hashlib.sha256(b"abc").hexdigest(),
        "size": 3,
        "source_sha256": "ff" * 32,
    }


def test_verify_sees_a_missing_or_damaged_inference_file(store):
    key = inference_key("fnn", 1)
    record = inference_record(key, b"inference bytes", "ff" * 32)
    assert "missing" in inference_problem(store, record)
    store.put(key, b"inference bytes")
    assert inference_problem(store, record) == ""
    store.put(key, b"inference bytez")
    assert "corrupt" in inference_problem(store, record)


def test_the_registry_still_names_the_suffix():
    from digitlib.store.registry import INFERENCE_SUFFIX as from_registry

    assert from_registry == INFERENCE_SUFFIX == ".infer.npz"
