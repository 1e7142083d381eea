"""S3 faults against a real SeaweedFS that the tests kill and restart: the spool, the read cache,
bounded retries. The server here is separate from the session's, so killing it harms no other
test."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest

from digitlib.ops.seaweedfs import SeaweedFS
from digitlib.store import (
    DrawingStore,
    ModelRegistry,
    S3Store,
    StoreUnavailable,
)
from digitlib.store.drawings import PNG_MAGIC

pytestmark = pytest.mark.s3

BUCKET = "digitlib-faults"


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory):
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-faults")).start()
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


@pytest.fixture
def server(fault_server):
    fault_server.start()  # running again if a previous test left it down
    return fault_server


def make_store(server, local_dir, retry, prefix="p") -> S3Store:
    client = server.client(connect_timeout=0.5, read_timeout=3.0)
    return S3Store(BUCKET, prefix, client=client, local_dir=local_dir, retry=retry)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def count_calls(store) -> dict[str, int]:
    """Count the requests ``store`` sends its S3 client from now on (``["server"]``)."""
    calls = {"server": 0}
    client = store.client

    class Counting:
        def __getattr__(self, name):
            attribute = getattr(client, name)
            if not callable(attribute) or name.startswith("_") or name == "meta":
                return attribute

            def counted(*args, **kwargs):
                calls["server"] += 1
                return attribute(*args, **kwargs)

            return counted

    store.client = Counting()
    return calls


def png(index: int, size: int = 200_000) -> bytes:
    """A distinct, large-ish payload so uploads take a moment (the kill lands mid-stream)."""
    rng = np.random.default_rng(index)
    return PNG_MAGIC + rng.integers(0, 256, size, dtype=np.uint8).tobytes()


def test_server_killed_during_uploads_spooled_saves_arrive_in_order(
    server, tmp_path, fast_retry, request
):
    store = make_store(server, tmp_path / "local", fast_retry, prefix=request.node.name[:40])
    drawings = DrawingStore(store, max_png_bytes=1_000_000)
    count = 12
    saved: list[str] = []
    first_uploads_done, go_on = threading.Event(), threading.Event()
    writer_errors: list[BaseException] = []

    def writer() -> None:
        try:
            for index in range(count):
                saved.append(drawings.save(png(index), str(index % 10)).id)
                if index == 2:
                    first_uploads_done.set()
                    go_on.wait(timeout=60)
        except BaseException as error:
            writer_errors.append(error)
            first_uploads_done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert first_uploads_done.wait(timeout=60)
    go_on.set()
    server.kill()  # as the writer resumes uploading
    thread.join(timeout=120)
    assert not writer_errors, writer_errors
    assert len(saved) == count
    spooled = {key.split("/")[1].rsplit(".", 1)[0] for key in store.pending()}
    assert spooled, "nothing was spooled: the kill came too late to test anything"
    assert saved[-1] in spooled

    # While it is down: reads see the spooled writes, and later writes queue behind them.
    assert [r.id for r in drawings.list()] == saved
    drawings.relabel(saved[-1], "?")
    drawings.delete(saved[-2])
    assert drawings.get(saved[-1]).record.text == "?"

    server.restart()

    # No explicit flush: later operations upload the spool by themselves once it is back.
    def drained_by_a_later_operation() -> bool:
        drawings.list()
        return not store.pending()

    wait_for(drained_by_a_later_operation, 30, "the spool to drain")
    assert store.pending() == []

    fresh = DrawingStore(
        make_store(server, tmp_path / "fresh", fast_retry, prefix=request.node.name[:40])
    )
    expected_ids = saved[:-2] + saved[-1:]
    assert [r.id for r in fresh.list()] == expected_ids  # nothing lost, nothing extra
    keys = fresh.store.list("drawings/")
    assert len(keys) == 2 * len(expected_ids) and len(set(keys)) == len(keys)
    for index, drawing_id in enumerate(saved):
        if drawing_id == saved[-2]:
            continue
        drawing = fresh.get(drawing_id)
        assert drawing.png == png(index)
        assert drawing.record.text == ("?" if drawing_id == saved[-1] else str(index % 10))


def test_flush_spool_reports_order_and_survives_a_new_store_object(server, tmp_path, fast_retry):
    local = tmp_path / "local"
    store = make_store(server, local, fast_retry, prefix="flush")
    server.kill()
    for index in range(3):
        store.put(f"k/{index}", bytes([index]))
    store.put("k/0", b"second write of k/0")
    store.delete("k/1")
    assert store.pending() == ["k/0", "k/1", "k/2", "k/0", "-k/1"]
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.flush_spool()

    server.restart()
    # A new store object (as after a dashboard restart) finds the same spool on disk.
    reopened = make_store(server, local, fast_retry, prefix="flush")
    assert reopened.flush_spool() == ["k/0", "k/1", "k/2", "k/0", "-k/1"]
    assert reopened.pending() == []
    check = make_store(server, tmp_path / "check", fast_retry, prefix="flush")
    assert check.list("k/") == ["k/0", "k/2"]
    assert check.get("k/0") == b"second write of k/0"


def test_reads_fall_back_to_the_cache_and_conditional_writes_refuse(server, tmp_path, fast_retry):
    store = make_store(server, tmp_path / "local", fast_retry, prefix="cache")
    registry = ModelRegistry(store, tmp_path / "no-shipped", cache_dir=tmp_path / "models")
    buffer = io.BytesIO()
    np.savez(buffer, w=np.ones(3, np.float32))
    manifest = registry.save_version(
        "numpy_fnn", buffer.getvalue(), parent=None, produced_by="test"
    )
    registry.promote("numpy_fnn", manifest.version, expected_current=None)

    def loader(path):
        with np.load(path, allow_pickle=False) as archive:
            return archive["w"].sum()

    assert registry.load("numpy_fnn", loader).model == 3.0
    store.put("never-read-back", b"x")
    server.kill()

    calls = count_calls(store)
    loaded = registry.load("numpy_fnn", loader)  # from the local cache of the last good read
    assert (loaded.model, loaded.version) == (3.0, 1)
    assert loaded.warnings == [
        "s3://digitlib-faults/cache is unreachable: numpy_fnn version 1 was read from the local "
        "cache"
    ]
    # Bounded: one request's retries find the server down, later ones go to the cache directly.
    assert 1 <= calls["server"] <= fast_retry.attempts, calls
    with pytest.raises(StoreUnavailable, match="is unreachable"):
        registry.promote("numpy_fnn", 1, expected_current=1)
    with pytest.raises(StoreUnavailable, match="is unreachable"):
        store.put_if("models/numpy_fnn/current.json", b"{}", expected_tag="x")
    with pytest.raises(StoreUnavailable, match="never cached locally"):
        store.get("not/cached")

    # Bounded retries: a write while down tries the server at most ``attempts`` times, then
    # spools. (A fresh store object: this one would skip the server while it is marked down.)
    writer = make_store(server, tmp_path / "local", fast_retry, prefix="cache")
    calls = count_calls(writer)
    writer.put("during/outage", b"y")
    assert 1 <= calls["server"] <= fast_retry.attempts, calls
    assert writer.pending() == ["during/outage"]
    store = writer
    server.restart()
    assert store.flush_spool() == ["during/outage"]
    assert (
        make_store(server, tmp_path / "check", fast_retry, prefix="cache").get("during/outage")
        == b"y"
    )


def test_model_saved_while_down_is_kept_pending_and_adopted_later(server, tmp_path, fast_retry):
    store = make_store(server, tmp_path / "local", fast_retry, prefix="pending")
    registry = ModelRegistry(store, tmp_path / "no-shipped", cache_dir=tmp_path / "models")
    buffer = io.BytesIO()
    np.savez(buffer, w=np.ones(3, np.float32))
    first = registry.save_version("numpy_fnn", buffer.getvalue(), parent=None, produced_by="t")
    server.kill()
    buffer = io.BytesIO()
    np.savez(buffer, w=np.full(3, 2.0, np.float32))
    with pytest.raises(StoreUnavailable):
        registry.save_version("numpy_fnn", buffer.getvalue(), parent=1, produced_by="t")
    pending_id = registry.keep_pending(
        "numpy_fnn", buffer.getvalue(), parent=first.version, produced_by="online update"
    )
    assert len(store.pending()) == 2  # the checkpoint, then its draft manifest
    assert registry.pending("numpy_fnn") == [pending_id]

    server.restart()
    (adopted,) = registry.adopt_pending("numpy_fnn")
    assert (adopted.version, adopted.parent, adopted.produced_by) == (2, 1, "online update")
    fresh = ModelRegistry(
        make_store(server, tmp_path / "fresh", fast_retry, prefix="pending"),
        tmp_path / "no-shipped",
        cache_dir=tmp_path / "fresh-models",
    )
    assert fresh.versions("numpy_fnn") == [1, 2] and fresh.pending("numpy_fnn") == []
    assert fresh.verify("numpy_fnn").ok


def test_a_server_started_on_a_given_port_keeps_its_address(tmp_path):
    """``python -m digitlib.cli.seaweedfs DIR --port N``: started again, same address."""
    from digitlib.ops.seaweedfs import free_ports

    port = free_ports(1)[0]
    first = SeaweedFS(tmp_path / "fixed", s3_port=port).start()
    try:
        first.client().create_bucket(Bucket="kept")
        first.client().put_object(Bucket="kept", Key="k", Body=b"v")
    finally:
        first.stop()
    again = SeaweedFS(tmp_path / "fixed", s3_port=port).start()  # a new process, as after a reboot
    try:
        assert again.endpoint_url == first.endpoint_url == f"http://127.0.0.1:{port}"
        assert again.client().get_object(Bucket="kept", Key="k")["Body"].read() == b"v"
    finally:
        again.stop()
