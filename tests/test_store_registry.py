"""ModelRegistry: versions, manifests, current pointer, verified loading with fallback, promotion
races, against a local folder and a real SeaweedFS S3 server alike."""

from __future__ import annotations

import hashlib
import io
import json
import threading

import numpy as np
import pytest

from digitlib.store import ModelRegistry, PromotionConflict, UnsafeModelError
from digitlib.store.registry import ModelUnavailable

NAME = "numpy_fnn"  # .npz checkpoints: no TensorFlow needed for most tests


def npz_bytes(value: float, **extra) -> bytes:
    """A tiny stand-in checkpoint: a .npz holding the array ``w`` = [value] * 3."""
    buffer = io.BytesIO()
    np.savez(buffer, w=np.full(3, value, np.float32), **extra)
    return buffer.getvalue()


def npz_loader(path) -> float:
    """A safe loader for the stand-in checkpoints: returns the stored value."""
    with np.load(path, allow_pickle=False) as archive:
        return float(archive["w"][0])


@pytest.fixture
def shipped(tmp_path):
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "numpy_fnn.npz").write_bytes(npz_bytes(0.0))
    return folder


@pytest.fixture
def registry(store, shipped, tmp_path):
    return ModelRegistry(store, shipped, cache_dir=tmp_path / "cache")


def save_and_promote(registry, value: float, **kwargs):
    current = registry.current(NAME)
    manifest = registry.save_version(
        NAME, npz_bytes(value), parent=current, produced_by="test", **kwargs
    )
    registry.promote(NAME, manifest.version, expected_current=current)
    return manifest


# -- versions, manifests, current -----------------------------------------------------------------


def test_save_version_writes_file_and_manifest(registry, store, tmp_path):
    data = npz_bytes(1.5)
    manifest = registry.save_version(
        NAME,
        data,
        parent=None,
        metrics={"accuracy": 0.97},
        produced_by="train --seed 0",
        note="first",
    )
    assert manifest.version == 1
    assert manifest.key == "models/numpy_fnn/000001.npz"
    assert manifest.sha256 == hashlib.sha256(data).hexdigest() and manifest.size == len(data)
    assert manifest.parent is None and manifest.metrics == {"accuracy": 0.97}
    assert manifest.produced_by == "train --seed 0" and manifest.note == "first"
    assert manifest.created_at.endswith("+00:00")
    assert store.get("models/numpy_fnn/000001.npz") == data
    assert json.loads(store.get("models/numpy_fnn/000001.json"))["sha256"] == manifest.sha256
    assert registry.manifest(NAME, 1) == manifest
    assert registry.current(NAME) is None  # saving does not promote

    path = tmp_path / "second.npz"
    path.write_bytes(npz_bytes(2.5))
    second = registry.save_version(NAME, path, parent=1, produced_by="online update")
    assert (second.version, second.parent) == (2, 1)
    assert registry.versions(NAME) == [1, 2]
    assert [m.version for m in registry.history(NAME)] == [1, 2]
    assert registry.names() == [NAME]


def test_promote_moves_current_and_logs_history(registry):
    first = save_and_promote(registry, 1.0)
    second = save_and_promote(registry, 2.0)
    assert registry.current(NAME) == second.version == 2
    promotions = registry.promotions(NAME)
    assert [(p.generation, p.version, p.previous) for p in promotions] == [(1, 1, None), (2, 2, 1)]
    loaded = registry.load(NAME, npz_loader)
    assert (loaded.model, loaded.version, loaded.source, loaded.warnings) == (2.0, 2, "store", [])
    assert loaded.manifest.parent == first.version
    assert loaded.path.suffix == ".npz"


def test_promote_with_stale_expectation_conflicts(registry):
    save_and_promote(registry, 1.0)
    save_and_promote(registry, 2.0)
    third = registry.save_version(NAME, npz_bytes(3.0), parent=1, produced_by="slow learner")
    with pytest.raises(
        PromotionConflict, match="expected current version 1, but it is now 2"
    ) as info:
        registry.promote(NAME, third.version, expected_current=1)
    assert info.value.current == 2
    assert registry.current(NAME) == 2
    registry.promote(NAME, third.version, expected_current=info.value.current)  # retry on top
    assert registry.current(NAME) == 3


def test_interrupted_promotion_is_finished_by_the_next_reader(registry, store):
    save_and_promote(registry, 1.0)
    second = registry.save_version(NAME, npz_bytes(2.0), parent=1, produced_by="test")
    # A promoter that stopped after writing its log entry, before moving current.json:
    record = {
        "name": NAME,
        "version": second.version,
        "generation": 2,
        "previous": 1,
        "promoted_at": "2025-01-01T00:00:00+00:00",
        "token": "crashed",
    }
    store.put_if(
        "models/numpy_fnn/promotions/000002.json", json.dumps(record).encode(), expected_tag=None
    )
    assert registry.current(NAME) == 2
    with pytest.raises(PromotionConflict) as info:
        registry.promote(NAME, 1, expected_current=1)
    assert info.value.current == 2
    assert json.loads(store.get("models/numpy_fnn/current.json"))["version"] == 2
    registry.promote(NAME, 1, expected_current=2)
    assert [p.version for p in registry.promotions(NAME)] == [1, 2, 1]


def test_rollback(registry):
    save_and_promote(registry, 1.0)
    save_and_promote(registry, 2.0)
    promotion = registry.rollback(NAME, 1)
    assert (promotion.version, promotion.previous, promotion.note) == (1, 2, "rollback from 2")
    assert registry.current(NAME) == 1
    assert registry.load(NAME, npz_loader).model == 1.0
    assert registry.versions(NAME) == [1, 2]  # nothing is deleted


def test_seed_from_shipped(registry, shipped):
    loaded = registry.load(NAME, npz_loader)  # empty store: the shipped file
    assert (loaded.model, loaded.version, loaded.source, loaded.manifest) == (
        0.0,
        None,
        "shipped",
        None,
    )
    manifest = registry.seed(NAME)
    assert (manifest.version, manifest.produced_by, manifest.parent) == (1, "shipped", None)
    assert manifest.sha256 == hashlib.sha256((shipped / "numpy_fnn.npz").read_bytes()).hexdigest()
    assert registry.current(NAME) == 1
    assert registry.seed(NAME) is None  # already seeded
    assert registry.load(NAME, npz_loader).source == "store"


def test_two_registries_saving_at_once_get_distinct_versions(store_factory, shipped, tmp_path):
    registries = [
        ModelRegistry(store_factory(own_client=True), shipped, cache_dir=tmp_path / f"c{i}")
        for i in range(2)
    ]
    barrier = threading.Barrier(2)
    saved: list[int] = []

    def save(registry, index):
        for round_number in range(4):
            barrier.wait()
            saved.append(
                registry.save_version(
                    NAME,
                    npz_bytes(index * 10 + round_number),
                    parent=None,
                    produced_by=f"r{index}",
                ).version
            )

    threads = [threading.Thread(target=save, args=(r, i)) for i, r in enumerate(registries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(saved) == list(range(1, 9))
    values = {registries[0].load(NAME, npz_loader, version=v).model for v in saved}
    assert values == {float(i * 10 + r) for i in range(2) for r in range(4)}


def test_concurrent_promotion_one_winner_per_round_no_lost_update(
    store_factory, shipped, tmp_path
):
    """Two servers fine-tune from the same current version and promote at the same moment:
    exactly one wins, the other gets a conflict naming the winner and retries on top of it."""
    rounds = 3
    registries = [
        ModelRegistry(
            store_factory(own_client=True), shipped, cache_dir=tmp_path / f"c{i}", who=f"server{i}"
        )
        for i in range(2)
    ]
    seed = registries[0].save_version(NAME, npz_bytes(0.5), parent=None, produced_by="seed")
    registries[0].promote(NAME, seed.version, expected_current=None)
    barrier = threading.Barrier(2)
    outcomes: list[list[tuple]] = [[] for _ in range(rounds)]
    errors: list[BaseException] = []

    def server(index: int) -> None:
        registry = registries[index]
        try:
            for round_number in range(rounds):
                barrier.wait()
                base = registry.current(NAME)
                barrier.wait()  # both have read the same current version
                mine = registry.save_version(
                    NAME,
                    npz_bytes(100 * round_number + index),
                    parent=base,
                    produced_by=f"server{index}",
                )
                barrier.wait()
                try:
                    registry.promote(NAME, mine.version, expected_current=base)
                    outcomes[round_number].append(("won", index, mine.version, base))
                except PromotionConflict as conflict:
                    outcomes[round_number].append(("lost", index, mine.version, conflict.current))
                    barrier.wait()  # the winner has finished its promotion
                    retry = registry.save_version(
                        NAME,
                        npz_bytes(100 * round_number + index + 0.5),
                        parent=conflict.current,
                        produced_by=f"server{index} retry",
                    )
                    registry.promote(NAME, retry.version, expected_current=conflict.current)
                    outcomes[round_number].append(
                        ("retried", index, retry.version, conflict.current)
                    )
                else:
                    barrier.wait()
                barrier.wait()  # round complete
        except BaseException as error:  # surface thread failures in the test
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=server, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    expected_chain = [seed.version]
    for round_number, outcome in enumerate(outcomes):
        kinds = sorted(kind for kind, *_ in outcome)
        assert kinds == ["lost", "retried", "won"], (round_number, outcome)
        won = next(o for o in outcome if o[0] == "won")
        lost = next(o for o in outcome if o[0] == "lost")
        retried = next(o for o in outcome if o[0] == "retried")
        assert won[3] == expected_chain[-1]  # built on the previous live version
        assert lost[3] == won[2]  # the conflict named the winner
        assert retried[3] == won[2]  # the retry was built on the winner: no lost update
        expected_chain += [won[2], retried[2]]
    promotions = registries[1].promotions(NAME)
    assert [p.version for p in promotions] == expected_chain
    assert [p.generation for p in promotions] == list(range(1, len(expected_chain) + 1))
    assert all(
        p.previous == q.version for q, p in zip(promotions[:-1], promotions[1:], strict=True)
    )
    assert registries[0].current(NAME) == expected_chain[-1]
    assert len(registries[0].history(NAME)) == 1 + 3 * rounds  # every save kept
    for registry in registries:
        assert registry.verify(NAME).ok


def test_keep_pending_then_adopt_is_idempotent(registry, store):
    first = save_and_promote(registry, 1.0)
    pending_id = registry.keep_pending(
        NAME,
        npz_bytes(2.0),
        parent=first.version,
        metrics={"accuracy": 0.9},
        produced_by="online update",
        note="learned '7'",
    )
    assert registry.pending(NAME) == [pending_id]
    assert registry.versions(NAME) == [1]  # not a version yet
    pending_keys = {key: store.get(key) for key in store.list(f"models/{NAME}/pending/")}

    (adopted,) = registry.adopt_pending(NAME)
    assert (adopted.version, adopted.parent, adopted.metrics) == (2, 1, {"accuracy": 0.9})
    assert adopted.produced_by == "online update" and pending_id in adopted.note
    assert registry.pending(NAME) == [] and registry.current(NAME) == 1  # not promoted
    assert registry.load(NAME, npz_loader, version=2).model == 2.0

    for key, data in pending_keys.items():  # as if it crashed before removing the pending files
        store.put(key, data)
    assert [m.version for m in registry.adopt_pending(NAME)] == [2]
    assert registry.versions(NAME) == [1, 2] and registry.pending(NAME) == []
    assert registry.adopt_pending(NAME) == []


# -- corruption and fallback ----------------------------------------------------------------------


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


CORRUPTIONS = {
    "flipped": (lambda s, f, m: s.put(f, _flip(s.get(f))), "sha256 differs"),
    "truncated": (lambda s, f, m: s.put(f, s.get(f)[:-40]), "checkpoint truncated"),
    "zero-bytes": (lambda s, f, m: s.put(f, b""), "checkpoint empty"),
    "wrong-sha": (
        lambda s, f, m: s.put(
            m, json.dumps({**json.loads(s.get(m)), "sha256": "0" * 64}).encode()
        ),
        "sha256 differs",
    ),
    "missing-file": (lambda s, f, m: s.delete(f), "missing"),
    "missing-manifest": (lambda s, f, m: s.delete(m), "manifest missing"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_current_version_falls_back_to_previous_good(registry, store, kind):
    save_and_promote(registry, 1.0)
    save_and_promote(registry, 2.0)
    bad = save_and_promote(registry, 3.0)
    corrupt, message = CORRUPTIONS[kind]
    corrupt(store, bad.key, f"models/{NAME}/{bad.version:06d}.json")

    loaded = registry.load(NAME, npz_loader)
    assert (loaded.model, loaded.version, loaded.source) == (2.0, 2, "store")
    assert len(loaded.warnings) == 1
    assert "version 3 skipped" in loaded.warnings[0] and message in loaded.warnings[0]

    report = registry.verify()
    assert not report.ok
    assert [(c.name, c.version) for c in report.problems] == [(NAME, 3)]
    assert message in report.problems[0].problem
    assert report.current == {NAME: 3}
    assert "BAD" in str(report) and "000002" in str(report)
    with pytest.raises(ValueError, match="cannot roll numpy_fnn back to version 3"):
        registry.rollback(NAME, 3)


def test_unloadable_version_falls_back(registry, store):
    save_and_promote(registry, 1.0)
    broken = registry.save_version(
        NAME, npz_bytes(9.0, extra=np.zeros(2)), parent=1, produced_by="test"
    )
    registry.promote(NAME, broken.version, expected_current=1)

    def picky_loader(path):
        with np.load(path, allow_pickle=False) as archive:
            if "extra" in archive.files:
                raise ValueError("unexpected array 'extra'")
            return float(archive["w"][0])

    loaded = registry.load(NAME, picky_loader)
    assert loaded.version == 1
    assert loaded.warnings == ["numpy_fnn version 2 skipped: unexpected array 'extra'"]


def test_every_version_bad_falls_back_to_shipped_then_fails_clearly(registry, store, shipped):
    first = save_and_promote(registry, 1.0)
    second = save_and_promote(registry, 2.0)
    store.put(first.key, b"")
    store.put(second.key, b"junk")
    loaded = registry.load(NAME, npz_loader)
    assert (loaded.model, loaded.source, len(loaded.warnings)) == (0.0, "shipped", 2)
    (shipped / "numpy_fnn.npz").unlink()
    with pytest.raises(ModelUnavailable, match="no shipped checkpoint"):
        registry.load(NAME, npz_loader)


def test_object_arrays_are_refused_before_loading(registry, store):
    save_and_promote(registry, 1.0)
    pickled = io.BytesIO()
    np.savez(pickled, w=np.array([{"code": "runs on load"}], dtype=object))
    with pytest.raises(UnsafeModelError, match="holds Python objects"):
        registry.save_version(NAME, pickled.getvalue(), parent=1, produced_by="test")
    _write_version_behind_the_registry(store, NAME, 2, ".npz", pickled.getvalue())
    registry.promote(NAME, 2, expected_current=1)
    calls = []
    loaded = registry.load(NAME, lambda path: calls.append(path) or npz_loader(path))
    assert loaded.version == 1 and len(calls) == 1  # the loader never saw version 2
    assert "holds Python objects" in loaded.warnings[0]


def _write_version_behind_the_registry(store, name, version, suffix, data):
    """Put a checkpoint and a correct manifest directly, as an old or hostile writer could."""
    key = f"models/{name}/{version:06d}{suffix}"
    store.put(key, data)
    manifest = {
        "name": name,
        "version": version,
        "key": key,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "parent": version - 1,
        "metrics": {},
        "created_at": "2025-01-01T00:00:00+00:00",
        "produced_by": "not digitlib",
    }
    store.put(f"models/{name}/{version:06d}.json", json.dumps(manifest).encode())


# -- Keras: Lambda layers are never executed ------------------------------------------------------


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """A tiny good .keras model and one whose Lambda layer writes a marker file if it ever runs."""
    import keras

    folder = tmp_path_factory.mktemp("keras")
    marker = folder / "lambda-ran"
    marker_path = str(marker)

    inputs = keras.Input((4,))
    good = keras.Model(inputs, keras.layers.Dense(11)(inputs))
    good.save(folder / "good.keras")

    inputs = keras.Input((4,))
    hostile = keras.layers.Lambda(
        lambda t: (open(marker_path, "w").write("ran"), t)[1], output_shape=(4,)
    )(inputs)
    evil = keras.Model(inputs, keras.layers.Dense(11)(hostile))
    evil.save(folder / "evil.keras")
    assert not marker.exists()
    return folder / "good.keras", folder / "evil.keras", marker


def safe_keras_loader(path):
    import keras

    return keras.saving.load_model(path, safe_mode=True, compile=False)


def test_lambda_keras_file_is_refused_and_never_run(registry, store, keras_files):
    good, evil, marker = keras_files
    first = registry.save_version("cnn", good, parent=None, produced_by="test")
    registry.promote("cnn", first.version, expected_current=None)
    with pytest.raises(
        UnsafeModelError, match=r"with Lambda layers \(Lambda, __lambda__\): they hold Python code"
    ):
        registry.save_version("cnn", evil, parent=1, produced_by="test")

    _write_version_behind_the_registry(store, "cnn", 2, ".keras", evil.read_bytes())
    registry.promote("cnn", 2, expected_current=1)
    loaded = registry.load("cnn", safe_keras_loader)
    assert (loaded.version, loaded.source) == (1, "store")
    assert "Lambda" in loaded.warnings[0] and "version 2 skipped" in loaded.warnings[0]
    assert loaded.model.output_shape == (None, 11)
    assert registry.verify("cnn").problems[0].version == 2
    assert not marker.exists()

    # Keras safe mode, the loader's own guard, refuses the file too (defence in depth).
    with pytest.raises(ValueError, match="Lambda"):
        safe_keras_loader(evil)
    assert not marker.exists()


def test_lambda_refused_with_digitlib_models_load_model(keras_files):
    import digitlib.models as models

    _, evil, marker = keras_files
    with pytest.raises(Exception, match="(?i)lambda"):
        models.load_model(evil)
    assert not marker.exists()


def test_lambda_marker_proves_the_code_would_run_if_loaded_unsafely(keras_files):
    """The check above can fail: loading without safe mode and calling the model runs it."""
    import keras

    _, evil, marker = keras_files
    model = keras.saving.load_model(evil, safe_mode=False, compile=False)
    model(np.zeros((1, 4), np.float32))
    assert marker.read_text() == "ran"
    marker.unlink()


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda r: r.save_version("CNN!", b"PK\x03\x04", parent=None, produced_by="t"),
            ValueError,
            "model name must be lowercase",
        ),
        (
            lambda r: r.save_version(NAME, b"", parent=None, produced_by="t"),
            ValueError,
            "refusing to save an empty .npz",
        ),
        (
            lambda r: r.save_version(NAME, b"not a zip", parent=None, produced_by="t"),
            ValueError,
            "not a .npz file: it is not a zip archive",
        ),
        (
            lambda r: r.save_version(NAME, npz_bytes(1), parent=7, produced_by="t"),
            ValueError,
            "parent version 7 of numpy_fnn does not exist",
        ),
        (
            lambda r: r.save_version(NAME, npz_bytes(1), parent=None, produced_by=""),
            ValueError,
            "produced_by must say what made this version",
        ),
        (
            lambda r: r.save_version(
                NAME, npz_bytes(1), parent=None, produced_by="t", metrics={"a": object()}
            ),
            TypeError,
            "metrics must be JSON-serializable",
        ),
        (
            lambda r: r.save_version(NAME, 42, parent=None, produced_by="t"),
            TypeError,
            "checkpoint must be a file path or bytes",
        ),
        (
            lambda r: r.promote(NAME, 5, expected_current=None),
            ValueError,
            "numpy_fnn version 5: it does not exist",
        ),
        (
            lambda r: r.promote(NAME, 0, expected_current=None),
            ValueError,
            "a model version is a positive int",
        ),
        (lambda r: r.load(NAME, "not callable"), TypeError, "loader must be a function"),
        (lambda r: r.load("cnn", npz_loader), ModelUnavailable, "no shipped checkpoint"),
    ],
)
def test_bad_input_errors(registry, call, error, message):
    with pytest.raises(error, match=message):
        call(registry)


def test_checkpoint_path_suffix_must_match(registry, tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(npz_bytes(1.0))
    with pytest.raises(ValueError, match=r"numpy_fnn checkpoints are \.npz files"):
        registry.save_version(NAME, path, parent=None, produced_by="t")
