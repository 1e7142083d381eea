"""``LocalStore``: a folder on local disk, the embedded default store (``data/store``).

Every write goes to a hidden temporary file in the target folder, is flushed to disk, then
renamed over the key with ``os.replace``, so a reader (or a crash) sees the old bytes or the new
ones, never half. Conditional writes hold an exclusive ``fcntl`` lock on a per-key lock file, so
several processes sharing the folder cannot both win a compare-and-swap.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from digitlib.store.base import (
    KeyNotFound,
    PreconditionFailed,
    StoreUnavailable,
    check_bytes,
    check_key,
)

_LOCK_DIR = ".locks"


def content_tag(data: bytes) -> str:
    """The tag of a local object: the sha256 hex digest of its bytes."""
    return hashlib.sha256(data).hexdigest()


class LocalStore:
    """A ``Store`` in the folder ``root`` (created if missing).

    Keys map to files under ``root`` (``models/cnn/000001.keras`` ->
    ``root/models/cnn/000001.keras``). Hidden files (temporary writes, ``.locks/``) are never
    listed.
    """

    def __init__(self, root: str | os.PathLike, *, create: str = "parents"):
        """``create``: "parents" makes the folder and any missing parents (the library's
        default), "folder" only the folder itself when its parent exists (the command line's
        writing commands), "never" requires it to exist (reading commands)."""
        if create not in ("parents", "folder", "never"):
            raise ValueError(f"create must be 'parents', 'folder' or 'never', got {create!r}")
        self.root = Path(root).expanduser().resolve()
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"store root {self.root} is a file; give a folder path")
        if not self.root.exists():
            if create == "never":
                raise StoreUnavailable(
                    f"no store at {self.root}: the folder does not exist. Check --store (or "
                    "DIGITLIB_STORE); a store is created by the first command that writes to it"
                )
            if create == "folder" and not self.root.parent.is_dir():
                raise StoreUnavailable(
                    f"cannot create the store {self.root}: its parent folder "
                    f"{self.root.parent} does not exist. Create it first (mkdir -p "
                    f"{self.root.parent}) or choose another --store"
                )
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = self.root.as_uri()
        self._thread_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def check_reachable(self) -> None:
        """Raises ``StoreUnavailable`` when the folder is gone or cannot be read."""
        if not self.root.is_dir() or not os.access(self.root, os.R_OK | os.X_OK):
            raise StoreUnavailable(
                f"the store {self.root} cannot be read: the folder is missing or not readable"
            )

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise KeyNotFound(key, self.url) from None

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, content_tag(data)

    def put(self, key: str, data: bytes) -> None:
        data = check_bytes(data)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex}"
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        lock_dir = self.root / _LOCK_DIR
        lock_dir.mkdir(exist_ok=True)
        lock_path = lock_dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")
        # flock excludes other processes; the thread lock excludes threads of this process that
        # share this LocalStore (flock locks held through different file objects also exclude
        # each other on Linux, but not on every platform).
        with self._thread_lock, open(lock_path, "a+b") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def put_if(self, key: str, data: bytes, *, expected_tag: str | None) -> str:
        data = check_bytes(data)
        check_key(key)
        with self._locked(key):
            try:
                current_tag = content_tag(self.get(key))
            except KeyNotFound:
                current_tag = None
            if current_tag != expected_tag:
                detail = "it already exists" if expected_tag is None else "its tag differs"
                raise PreconditionFailed(key, detail)
            self.put(key, data)
        return content_tag(data)

    def list(self, prefix: str = "") -> list[str]:
        # Walk only the deepest folder named by the prefix, not the whole store.
        folder_part = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / folder_part if folder_part else self.root
        if folder_part:
            check_key(folder_part)
        keys = []
        for directory, subdirectories, files in os.walk(start):
            subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
            relative = Path(directory).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith("."):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        # Empty folders are left in place: removing them could race with a concurrent put.
        self._path(key).unlink(missing_ok=True)
