"""The registry's records: JSON forms that old and newer stores both read, and their keys."""

from __future__ import annotations

import json

from digitlib.store.records import (
    Manifest,
    Promotion,
    VerifyReport,
    VersionCheck,
    manifest_key,
    pointer_key,
    promotion_key,
)


def manifest(**changes) -> Manifest:
    fields = dict(
        name="cnn",
        version=42,
        key="models/cnn/000042.keras",
        sha256="ab" * 32,
        size=1234,
        parent=41,
        metrics={"accuracy": 0.98},
        created_at="2026-01-01T00:00:00.000000+00:00",
        produced_by="online update",
    )
    return Manifest(**{**fields, **changes})


def test_a_manifest_round_trips_through_its_stored_form():
    record = {"key": "models/cnn/000042.infer.npz", "sha256": "cd" * 32, "size": 9}
    saved = manifest(note="n", token="t", inference={**record, "source_sha256": "ab" * 32})
    data = saved.to_json()
    assert data == json.dumps(saved.to_dict(), indent=1).encode()  # the form stores hold
    assert Manifest.from_json(data) == saved


def test_an_old_manifest_reads_and_unknown_fields_are_ignored():
    old = {
        k: v for k, v in manifest().to_dict().items() if k not in ("note", "token", "inference")
    }
    read = Manifest.from_json(json.dumps({**old, "added_later": 1}).encode())
    assert read == manifest()
    assert read.inference is None


def test_a_promotion_round_trips_compactly():
    promotion = Promotion("cnn", 42, 7, 41, "2026-01-01T00:00:00+00:00", "host-a", "", "tok")
    assert promotion.to_json() == json.dumps(promotion.to_dict()).encode()
    assert Promotion.from_json(promotion.to_json()) == promotion


def test_keys_keep_the_store_layout():
    assert manifest_key("cnn", 42) == "models/cnn/000042.json"
    assert pointer_key("cnn") == "models/cnn/current.json"
    assert promotion_key("cnn", 7) == "models/cnn/promotions/000007.json"


def test_a_verify_report_names_the_current_version_and_each_problem():
    report = VerifyReport(
        [VersionCheck("cnn", 1), VersionCheck("cnn", 2, "checkpoint corrupt")], {"cnn": 1}
    )
    assert not report.ok
    assert [check.version for check in report.problems] == [2]
    assert str(report) == "cnn 000001 (current): ok\ncnn 000002: BAD: checkpoint corrupt"
    assert str(VerifyReport([], {})) == "no model versions in the store"


def test_the_records_are_the_registrys_and_the_stores():
    import digitlib.store
    import digitlib.store.registry as registry

    for name in ("Manifest", "Promotion", "LoadedModel", "VerifyReport", "VersionCheck"):
        assert getattr(registry, name) is getattr(digitlib.store.records, name)
    assert digitlib.store.Manifest is Manifest
    assert digitlib.store.VerifyReport is VerifyReport
