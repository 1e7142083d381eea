"""An ordered, crash-safe spool of writes waiting for an unreachable remote store.

A spool is a folder. Each entry is a numbered pair of files: ``000000000042.data`` (the bytes of
a put) and ``000000000042.json`` (``{"op": "put"|"delete", "key", "sha256", "size"}``). The JSON
is written last, by rename, so an entry exists only once it is complete; a crash while spooling
leaves at most an orphan ``.data`` that is ignored and cleaned up. Entries are replayed in number
order and removed one by one after each succeeds; a crash during replay repeats at most the entry
in flight, and repeating a put or delete of the same key with the same bytes is harmless.

An ``fcntl`` lock on ``.lock`` serializes appends and replays across threads and processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from digitlib.store.base import check_bytes, check_key

log = logging.getLogger(__name__)

_NUMBER_DIGITS = 12


@dataclass(frozen=True)
class SpoolEntry:
    """One waiting write: ``op`` is ``"put"`` (with ``data``) or ``"delete"`` (``data`` None)."""

    number: int
    op: str
    key: str
    data: bytes | None


class Spool:
    """Writes waiting for a remote store, in the folder ``folder`` (created if missing)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._lock_file = None

    def __repr__(self) -> str:
        return f"Spool({str(self.folder)!r})"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the spool exclusively (re-entrant within a thread)."""
        with self._thread_lock:
            if self._depth == 0:
                self._lock_file = open(self.folder / ".lock", "a+b")  # noqa: SIM115
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
                    self._lock_file.close()
                    self._lock_file = None

    def _numbers(self) -> list[int]:
        numbers = []
        for path in self.folder.glob("*.json"):
            if path.stem.isdigit():
                numbers.append(int(path.stem))
        return sorted(numbers)

    def __len__(self) -> int:
        return len(self._numbers())

    def append(self, op: str, key: str, data: bytes | None = None) -> int:
        """Add a write at the end of the spool and return its number.

        ``op`` is ``"put"`` (``data`` required) or ``"delete"`` (``data`` must be None).
        """
        if op not in ("put", "delete"):
            raise ValueError(f"spool op must be 'put' or 'delete', got {op!r}")
        if (op == "put") != (data is not None):
            raise ValueError("a spooled 'put' needs data and a 'delete' takes none")
        check_key(key)
        data = None if data is None else check_bytes(data)
        with self.locked():
            numbers = self._numbers()
            number = (numbers[-1] + 1) if numbers else 1
            stem = f"{number:0{_NUMBER_DIGITS}d}"
            meta = {"op": op, "key": key}
            if data is not None:
                meta.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
                _write_durably(self.folder / f"{stem}.data", data)
            _write_durably(self.folder / f"{stem}.json", json.dumps(meta).encode())
            return number

    def entries(self, *, with_data: bool = True) -> list[SpoolEntry]:
        """The complete entries, oldest first. Damaged entries are set aside and logged.

        ``with_data=False`` reads only the small JSON halves (``data`` is None), for listings.
        """
        with self.locked():
            result = []
            for number in self._numbers():
                entry = self._read(number, with_data)
                if entry is not None:
                    result.append(entry)
            return result

    def _read(self, number: int, with_data: bool = True) -> SpoolEntry | None:
        stem = f"{number:0{_NUMBER_DIGITS}d}"
        meta_path, data_path = self.folder / f"{stem}.json", self.folder / f"{stem}.data"
        try:
            meta = json.loads(meta_path.read_bytes())
            data = data_path.read_bytes() if meta["op"] == "put" and with_data else None
            if data is not None and hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise ValueError("sha256 of the spooled bytes does not match")
            return SpoolEntry(number, meta["op"], meta["key"], data)
        except (OSError, ValueError, KeyError) as error:
            damaged = self.folder / "damaged"
            damaged.mkdir(exist_ok=True)
            for path in (meta_path, data_path):
                if path.exists():
                    os.replace(path, damaged / path.name)
            log.error(
                "spool entry %s in %s is damaged (%s); moved to %s", stem, self, error, damaged
            )
            return None

    def remove(self, entry: SpoolEntry) -> None:
        """Drop an entry after it was applied (the JSON first, so it never half-exists)."""
        stem = f"{entry.number:0{_NUMBER_DIGITS}d}"
        with self.locked():
            (self.folder / f"{stem}.json").unlink(missing_ok=True)
            (self.folder / f"{stem}.data").unlink(missing_ok=True)

    def latest(self, key: str) -> SpoolEntry | None:
        """The newest waiting write of ``key``, or None: what a reader should see meanwhile."""
        with self.locked():
            found = None
            for entry in self.entries(with_data=False):
                if entry.key == key:
                    found = entry
            return None if found is None else self._read(found.number)

    def drain(self, apply: Callable[[SpoolEntry], None]) -> list[SpoolEntry]:
        """Apply the entries in order, removing each once ``apply`` returns.

        Stops at the first exception, which propagates; the failed entry and those after it stay
        in the spool. Returns the entries applied.
        """
        applied = []
        with self.locked():
            for entry in self.entries():
                apply(entry)
                self.remove(entry)
                applied.append(entry)
            self._remove_orphans()
        return applied

    def _remove_orphans(self) -> None:
        numbers = set(self._numbers())
        for path in self.folder.glob("*.data"):
            if path.stem.isdigit() and int(path.stem) not in numbers:
                path.unlink(missing_ok=True)


def _write_durably(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".tmp-{path.name}")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
