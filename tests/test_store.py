"""The Store protocol, run against a local folder and a real SeaweedFS S3 server alike."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from digitlib.store import (
    KeyNotFound,
    LocalStore,
    PreconditionFailed,
    S3Store,
    Store,
    open_store,
)


def test_store_is_a_store(store):
    assert isinstance(store, Store)


@pytest.mark.parametrize(
    "key, data",
    [
        ("a", b"x"),
        ("models/cnn/000001.keras", bytes(range(256)) * 40),
        ("drawings/20250101T000000000000Z-0badcafe.json", b'{"labels": [4, 2]}'),
        ("empty-object", b""),
    ],
)
def test_put_get_round_trip(store, key, data):
    store.put(key, data)
    assert store.get(key) == data
    fetched, tag = store.get_tagged(key)
    assert fetched == data and isinstance(tag, str) and tag


def test_put_replaces_and_tag_changes(store):
    store.put("k", b"one")
    _, first = store.get_tagged("k")
    store.put("k", b"two")
    data, second = store.get_tagged("k")
    assert data == b"two" and second != first


def test_missing_key_raises_key_not_found(store):
    with pytest.raises(KeyNotFound, match="no object 'nothing/here'"):
        store.get("nothing/here")
    with pytest.raises(KeyError):  # KeyNotFound is a KeyError too
        store.get_tagged("nothing/here")


def test_list_by_prefix_sorted(store):
    keys = [
        "models/cnn/000002.keras",
        "models/cnn/000001.keras",
        "models/fnn/000001.keras",
        "drawings/x.png",
        "modelsX",
    ]
    for key in keys:
        store.put(key, key.encode())
    assert store.list() == sorted(keys)
    assert store.list("models/") == sorted(k for k in keys if k.startswith("models/"))
    assert store.list("models/cnn/") == ["models/cnn/000001.keras", "models/cnn/000002.keras"]
    assert store.list("models/cnn/0000") == ["models/cnn/000001.keras", "models/cnn/000002.keras"]
    assert store.list("nothing/") == []


def test_delete(store):
    store.put("a/b", b"1")
    store.put("a/c", b"2")
    store.delete("a/b")
    store.delete("a/b")  # twice is fine
    store.delete("never/was")
    assert store.list("a/") == ["a/c"]
    with pytest.raises(KeyNotFound):
        store.get("a/b")


def test_put_if_create_only(store):
    tag = store.put_if("pointer", b"first", expected_tag=None)
    assert store.get_tagged("pointer") == (b"first", tag)
    with pytest.raises(PreconditionFailed, match="already exists"):
        store.put_if("pointer", b"second", expected_tag=None)
    assert store.get("pointer") == b"first"


def test_put_if_compare_and_swap(store):
    store.put("pointer", b"v1")
    _, tag1 = store.get_tagged("pointer")
    tag2 = store.put_if("pointer", b"v2", expected_tag=tag1)
    with pytest.raises(PreconditionFailed, match="changed since it was read"):
        store.put_if("pointer", b"v3", expected_tag=tag1)  # stale tag
    assert store.get_tagged("pointer") == (b"v2", tag2)
    store.put_if("pointer", b"v3", expected_tag=tag2)
    assert store.get("pointer") == b"v3"


def test_put_if_on_missing_key_with_a_tag_fails(store):
    with pytest.raises(PreconditionFailed):
        store.put_if("absent", b"x", expected_tag="0123456789abcdef")
    with pytest.raises(KeyNotFound):
        store.get("absent")


def test_put_if_exactly_one_of_many_concurrent_writers_wins(store_factory):
    stores = [store_factory(own_client=True) for _ in range(3)]
    stores[0].put("pointer", b"base")
    _, tag = stores[0].get_tagged("pointer")
    barrier = threading.Barrier(len(stores))
    winners, losers = [], []

    def write(index: int) -> None:
        barrier.wait()
        try:
            stores[index].put_if("pointer", f"writer {index}".encode(), expected_tag=tag)
            winners.append(index)
        except PreconditionFailed:
            losers.append(index)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(winners) == 1 and len(losers) == len(stores) - 1
    assert stores[1].get("pointer") == f"writer {winners[0]}".encode()


@pytest.mark.parametrize(
    "key, message",
    [
        ("", "1 to 512 characters"),
        ("/abs", "invalid store key"),
        ("a//b", "invalid store key"),
        ("../escape", "invalid store key"),
        ("a/./b", "invalid store key"),
        (".hidden", "invalid store key"),
        ("spaces are bad", "invalid store key"),
    ],
)
def test_bad_keys_are_refused(store, key, message):
    with pytest.raises(ValueError, match=message):
        store.put(key, b"x")
    with pytest.raises(ValueError, match=message):
        store.get(key)


def test_non_bytes_are_refused(store):
    with pytest.raises(TypeError, match="encode it first"):
        store.put("k", "text")
    store.put("k", bytearray(b"ok"))
    assert store.get("k") == b"ok"


def test_local_store_leaves_no_temporary_files_and_survives_reopen(tmp_path):
    store = LocalStore(tmp_path / "s")
    store.put("models/cnn/current.json", b"1")
    store.put_if(
        "models/cnn/current.json",
        b"2",
        expected_tag=store.get_tagged("models/cnn/current.json")[1],
    )
    visible = sorted(
        p.relative_to(tmp_path / "s").as_posix()
        for p in (tmp_path / "s").rglob("*")
        if p.is_file() and ".locks" not in p.parts
    )
    assert visible == ["models/cnn/current.json"]
    assert LocalStore(tmp_path / "s").get("models/cnn/current.json") == b"2"


def test_local_store_root_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ValueError, match="is a file; give a folder path"):
        LocalStore(tmp_path / "file")


def test_open_store_urls(tmp_path, monkeypatch):
    assert isinstance(open_store(str(tmp_path / "a")), LocalStore)
    assert open_store(tmp_path / "b").root == (tmp_path / "b").resolve()
    assert open_store((tmp_path / "c").as_uri()).root == (tmp_path / "c").resolve()
    monkeypatch.chdir(tmp_path)
    assert open_store("relative/store").root == (tmp_path / "relative" / "store").resolve()
    monkeypatch.setenv("DIGITLIB_STORE", str(tmp_path / "from-env"))
    assert open_store().root == (tmp_path / "from-env").resolve()


def test_open_store_s3_url(tmp_path):
    s3 = open_store("s3://some-bucket/team/digitlib", client=object(), local_dir=tmp_path)
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.url) == (
        "some-bucket",
        "team/digitlib",
        "s3://some-bucket/team/digitlib",
    )


@pytest.mark.parametrize(
    "url, message",
    [
        ("", "non-empty string"),
        ("s3://", "needs a bucket"),
        ("s3://ab/x", "3 to 63 characters"),
        ("http://example.com/x", "unsupported store URL scheme 'http'"),
        ("file://host/path", "file:///absolute/path"),
    ],
)
def test_open_store_bad_urls(url, message):
    with pytest.raises(ValueError, match=message):
        open_store(url, client=object()) if url.startswith("s3") else open_store(url)


def test_open_store_s3_options_only_for_s3(tmp_path):
    with pytest.raises(ValueError, match="only apply to s3://"):
        open_store(str(tmp_path), client=object())


def test_import_store_does_not_import_boto3_or_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, digitlib.store, digitlib.testing.s3_fixtures; "
        "print(sorted(m for m in ('boto3', 'botocore', 'tensorflow', 'keras') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    ).stdout
    assert output.strip() == "[]"


@pytest.mark.s3
def test_s3_missing_bucket_and_bad_credentials_say_how_to_fix(seaweedfs, s3_client, tmp_path):
    import boto3

    from digitlib.store import StoreError

    # (SeaweedFS creates a missing bucket on upload for admin users, so read to see the error)
    missing = S3Store("no-such-bucket-here", "p", client=s3_client, local_dir=tmp_path / "a")
    with pytest.raises(StoreError, match="the bucket does not exist; create it first"):
        missing.get("k")
    with pytest.raises(StoreError, match="the bucket does not exist; create it first"):
        missing.list()
    stranger = boto3.session.Session().client(
        "s3",
        endpoint_url=seaweedfs.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="nobody",
        aws_secret_access_key="wrong",
    )
    denied = S3Store("digitlib-test", "p", client=stranger, local_dir=tmp_path / "b")
    with pytest.raises(StoreError, match="access denied .*AWS_ACCESS_KEY_ID"):
        denied.get("k")
    with pytest.raises(StoreError, match="access denied"):
        denied.list()
    with pytest.raises(StoreError, match="access denied"):
        denied.put("k", b"x")
    assert denied.pending() == []  # a permanent error is raised, not spooled
