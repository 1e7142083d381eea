"""The offline spool: ordered, crash-safe, damage set aside (no server needed)."""

from __future__ import annotations

import pytest

from digitlib.store.spool import Spool


def test_append_entries_drain_in_order(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append("put", "a", b"1")
    spool.append("put", "b", b"2")
    spool.append("delete", "a")
    spool.append("put", "a", b"3")
    assert [(e.op, e.key, e.data) for e in spool.entries()] == [
        ("put", "a", b"1"),
        ("put", "b", b"2"),
        ("delete", "a", None),
        ("put", "a", b"3"),
    ]
    assert spool.latest("a").data == b"3" and spool.latest("zzz") is None
    assert [e.data for e in spool.entries(with_data=False)] == [None] * 4

    applied = []
    assert len(Spool(tmp_path / "spool")) == 4  # a new object (after a restart) sees them
    spool.drain(lambda entry: applied.append((entry.op, entry.key)))
    assert applied == [("put", "a"), ("put", "b"), ("delete", "a"), ("put", "a")]
    assert len(spool) == 0 and sorted(p.name for p in (tmp_path / "spool").iterdir()) == [".lock"]


def test_drain_stops_at_the_first_failure_and_keeps_the_rest(tmp_path):
    spool = Spool(tmp_path)
    for index in range(4):
        spool.append("put", f"k{index}", bytes([index]))
    seen = []

    def apply(entry):
        if entry.key == "k2":
            raise ConnectionError("server went away")
        seen.append(entry.key)

    with pytest.raises(ConnectionError):
        spool.drain(apply)
    assert seen == ["k0", "k1"]
    assert [e.key for e in spool.entries()] == ["k2", "k3"]
    assert spool.append("put", "k4", b"4") == 5  # numbers keep growing after the survivors


def test_damaged_and_incomplete_entries(tmp_path):
    spool = Spool(tmp_path)
    spool.append("put", "good", b"fine")
    spool.append("put", "bad", b"will be damaged")
    (tmp_path / "000000000002.data").write_bytes(b"flipped")
    (tmp_path / "000000000009.data").write_bytes(b"orphan: crashed before its json")
    assert [e.key for e in spool.entries()] == ["good"]
    assert sorted(p.name for p in (tmp_path / "damaged").iterdir()) == [
        "000000000002.data",
        "000000000002.json",
    ]
    spool.drain(lambda entry: None)
    assert not (tmp_path / "000000000009.data").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("copy", "k", b"x"), "spool op must be 'put' or 'delete'"),
        (("put", "k", None), "a spooled 'put' needs data"),
        (("delete", "k", b"x"), "a 'delete' takes none"),
        (("put", "../k", b"x"), "invalid store key"),
    ],
)
def test_bad_appends(tmp_path, args, message):
    with pytest.raises(ValueError, match=message):
        Spool(tmp_path).append(*args)
