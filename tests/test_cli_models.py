"""``digitlib models ...`` and ``digitlib drawings ...`` on a local store, and once on S3 configured
the standard AWS way (environment variables)."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest

from digitlib.cli import main
from digitlib.store import DrawingStore, LocalStore, ModelRegistry
from digitlib.store.drawings import PNG_MAGIC
from digitlib.testing.s3_fixtures import S3_TEST_BUCKET

PNG = PNG_MAGIC + b"rest of a png"
PNG_REAL = cv2.imencode(".png", np.full((20, 30), 255, np.uint8))[1].tobytes()


def npz_bytes(value: float) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, w=np.full(3, value, np.float32))
    return buffer.getvalue()


def fill(store) -> ModelRegistry:
    registry = ModelRegistry(store, shipped_dir="/nonexistent-shipped-models")
    current = None
    for value in (1.0, 2.0, 3.0):
        manifest = registry.save_version(
            "numpy_fnn",
            npz_bytes(value),
            parent=current,
            metrics={"accuracy": value / 4},
            produced_by="test",
        )
        registry.promote("numpy_fnn", manifest.version, expected_current=current)
        current = manifest.version
    return registry


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def local(tmp_path):
    return LocalStore(tmp_path / "store")


def test_models_list_verify_rollback(local, capsys):
    fill(local)
    url = local.url
    code, out, _ = run(capsys, "models", "list", "--store", url)
    assert code == 0
    assert "numpy_fnn: current 000003" in out
    assert "* 000003" in out and "  000001" in out and "75.00%" in out
    assert "{" not in out  # a table, not Python dicts
    code, out, _ = run(capsys, "models", "list", "--json", "--store", url)
    listed = json.loads(out)
    assert code == 0 and listed["models"]["numpy_fnn"]["current"] == 3
    assert [v["version"] for v in listed["models"]["numpy_fnn"]["versions"]] == [1, 2, 3]

    code, out, _ = run(capsys, "models", "verify", "--store", url)
    assert code == 0 and out.count(": ok") == 3

    local.put("models/numpy_fnn/000003.npz", b"")
    code, out, err = run(capsys, "models", "verify", "--store", url)
    assert code == 1 and "000003 (current): BAD: checkpoint empty" in out
    assert "1 bad version(s)" in err

    code, out, _ = run(capsys, "models", "rollback", "numpy_fnn", "2", "--store", url)
    assert code == 0 and "current is now 000002 (was 000003)" in out
    code, out, err = run(capsys, "models", "rollback", "numpy_fnn", "3", "--store", url)
    assert code == 1 and "cannot roll numpy_fnn back to version 3" in err
    code, out, err = run(capsys, "models", "rollback", "numpy_fnn", "7", "--store", url)
    assert code == 1 and "numpy_fnn has no version 7; versions are 1-3" in err


def test_models_list_uses_digitlib_store_by_default(local, capsys, monkeypatch):
    fill(local)
    monkeypatch.setenv("DIGITLIB_STORE", str(local.root))
    code, out, _ = run(capsys, "models", "list")
    assert code == 0 and f"store: {local.url}" in out and "current 000003" in out


def test_models_bad_input(local, capsys):
    code, _, err = run(capsys, "models", "rollback", "numpy_fnn", "9", "--store", local.url)
    assert code == 1 and "numpy_fnn has no version 9; it has no versions yet" in err
    code, _, err = run(capsys, "models", "list", "--store", "http://nope")
    assert code == 1 and "unsupported store URL scheme" in err
    with pytest.raises(SystemExit):
        main(["models", "rollback", "numpy_fnn", "three"])
    assert "invalid int value" in capsys.readouterr().err


def test_drawings_commands(local, capsys, tmp_path):
    drawings = DrawingStore(local)
    first = drawings.save(
        PNG,
        "12",
        segments=np.full((2, 28, 28), 0.5, np.float32),
        predictions={"ensemble": "17"},
        session_id="abc",
    )
    second = drawings.save(PNG, "3", segments=np.zeros((1, 28, 28), np.float32))
    url = local.url

    code, out, _ = run(capsys, "drawings", "list", "--store", url)
    assert code == 0 and "2 drawing(s)" in out
    assert f"{first.id}  12" in out and "predicted 17" in out and "session abc" in out

    code, out, _ = run(capsys, "drawings", "relabel", first.id, "17", "--store", url)
    assert code == 0 and "labels now 17" in out
    code, _, err = run(capsys, "drawings", "relabel", first.id, "1x", "--store", url)
    assert code == 1 and "label 'x' at position 1" in err

    code, out, _ = run(capsys, "drawings", "delete", second.id, "--store", url)
    assert code == 0
    code, _, err = run(capsys, "drawings", "delete", second.id, "--store", url)
    assert code == 1 and second.id in err

    out_file = tmp_path / "export.npz"
    code, out, _ = run(
        capsys, "drawings", "export", "--format", "npz", "--out", str(out_file), "--store", url
    )
    assert code == 0 and "wrote 2 examples" in out
    with np.load(out_file, allow_pickle=False) as data:
        assert list(data["labels"]) == [1, 7]
    code, out, _ = run(
        capsys,
        "drawings",
        "export",
        "--format",
        "idx",
        "--out",
        str(tmp_path / "idx"),
        "--store",
        url,
    )
    assert code == 0 and (tmp_path / "idx" / "labels-idx1-ubyte").read_bytes()[-2:] == b"\x01\x07"


@pytest.mark.s3
def test_models_list_on_s3_from_the_aws_environment(seaweedfs, capsys, monkeypatch, tmp_path):
    """DIGITLIB_STORE=s3://... with AWS_ENDPOINT_URL etc.: the standard chain, no client passed."""
    import digitlib.store.s3

    for name, value in seaweedfs.environment().items():
        monkeypatch.setenv(name, value)
    url = f"s3://{S3_TEST_BUCKET}/cli-{tmp_path.name}"
    monkeypatch.setenv("DIGITLIB_STORE", url)
    monkeypatch.setattr(
        digitlib.store.s3, "default_local_dir", lambda bucket, prefix: tmp_path / "s3-local"
    )
    from digitlib.store import open_store

    fill(open_store(url))
    code, out, _ = run(capsys, "models", "list")
    assert code == 0 and f"store: {url}" in out and "numpy_fnn: current 000003" in out
    code, out, _ = run(capsys, "models", "verify")
    assert code == 0 and out.count(": ok") == 3


# --- a broken store is not an empty store ---------------------------------------------------

READING_COMMANDS = [
    ("models", "list"),
    ("models", "verify"),
    ("drawings", "list"),
    ("drawings", "export", "--format", "npz", "--out", "{out}"),
]


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_reading_a_missing_local_store_fails_and_creates_nothing(capsys, tmp_path, command):
    missing = tmp_path / "nonexistent" / "dir" / "store"
    out_file = tmp_path / "export.npz"
    argv = [part.format(out=out_file) for part in command]
    code, out, err = run(capsys, *argv, "--store", str(missing))
    assert code == 1, out
    assert f"no store at {missing}" in err and "the folder does not exist" in err
    assert not (tmp_path / "nonexistent").exists() and not out_file.exists()


def test_a_writing_command_creates_a_store_only_inside_an_existing_folder(capsys, tmp_path):
    deep = tmp_path / "nonexistent" / "store"
    code, _, err = run(capsys, "models", "rollback", "numpy_fnn", "1", "--store", str(deep))
    assert code == 1 and f"its parent folder {deep.parent} does not exist" in err
    assert not deep.parent.exists()
    shallow = tmp_path / "store"
    code, _, err = run(capsys, "models", "rollback", "numpy_fnn", "1", "--store", str(shallow))
    assert code == 1 and "has no version 1" in err  # the store now exists, and is empty
    assert shallow.is_dir()


@pytest.fixture(scope="module")
def stopped_s3(tmp_path_factory):
    """A SeaweedFS that held a model version and drawings, then stopped."""
    from digitlib.ops.seaweedfs import SeaweedFS
    from digitlib.store import S3Store

    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-stopped")).start()
    try:
        server.client().create_bucket(Bucket="digitlib-stopped")
        store = S3Store(
            "digitlib-stopped",
            "p",
            client=server.client(),
            local_dir=tmp_path_factory.mktemp("stopped-local"),
        )
        fill(store)
        DrawingStore(store).save(PNG, "7", segments=np.zeros((1, 28, 28), np.float32))
        environment = server.environment()
    finally:
        server.stop()
    return environment


@pytest.mark.s3
@pytest.mark.parametrize("command", READING_COMMANDS)
def test_reading_an_unreachable_s3_store_says_so_and_fails(
    stopped_s3, capsys, monkeypatch, tmp_path, command
):
    for name, value in stopped_s3.items():
        monkeypatch.setenv(name, value)
    out_file = tmp_path / "export.npz"
    argv = [part.format(out=out_file) for part in command]
    code, out, err = run(capsys, *argv, "--store", "s3://digitlib-stopped/p")
    assert code == 1, out
    assert "cannot reach the S3 store s3://digitlib-stopped/p" in err
    assert stopped_s3["AWS_ENDPOINT_URL"] in err and "Check that the server is running" in err
    assert "no model versions" not in out and "0 drawing(s)" not in out
    assert not out_file.exists()


def test_version(capsys):
    from digitlib import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"digitlib {__version__}"


def test_the_review_queue_from_the_command_line(local, capsys):
    drawings = DrawingStore(local)
    kept = drawings.hold(PNG, "7", reason="disagrees with every model", predictions={"given": "7"})
    dropped = drawings.hold(PNG, "1", reason="2 labels for 1 segments")
    code, out, _ = run(capsys, "drawings", "held", "--store", local.url)
    assert code == 0 and "2 drawing(s) held for review" in out
    assert f"{kept.id}  7" in out and "disagrees with every model" in out

    code, out, _ = run(
        capsys, "drawings", "accept", kept.id, "--labels", "1", "--store", local.url
    )
    assert code == 0 and "accepted as 1" in out
    code, out, _ = run(capsys, "drawings", "reject", dropped.id, "--store", local.url)
    assert code == 0 and "rejected" in out
    assert drawings.list_held() == [] and [r.text for r in drawings.list()] == ["1"]
    code, _, err = run(capsys, "drawings", "reject", dropped.id, "--store", local.url)
    assert code == 1 and dropped.id in err


def test_an_exported_set_imports_into_another_store(local, capsys, tmp_path):
    from digitlib.store import LocalStore

    strokes = {"canvas_size": [240, 340], "strokes": [{"points": [[1, 2], [3, 40]], "width": 9}]}
    DrawingStore(local).save(
        PNG_REAL, "12", segments=np.full((2, 28, 28), 0.5, np.float32), strokes=strokes
    )
    exported = tmp_path / "set.npz"
    assert run(capsys, "drawings", "export", "--out", str(exported), "--store", local.url)[0] == 0
    other = LocalStore(tmp_path / "other")
    code, out, _ = run(capsys, "drawings", "import", str(exported), "--store", other.url)
    assert code == 0 and "imported 1 drawing(s)" in out
    (record,) = DrawingStore(other).list()
    assert record.text == "12" and record.has_segments and record.strokes == strokes
    code, out, _ = run(capsys, "drawings", "import", str(exported), "--store", other.url)
    assert "imported 0 drawing(s)" in out and "1 imported before" in out
    assert len(DrawingStore(other).list()) == 1
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(3))
    code, _, err = run(capsys, "drawings", "import", str(bad), "--store", other.url)
    assert code == 1 and "not a drawing set" in err
