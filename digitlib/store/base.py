"""The ``Store`` protocol: bytes by key, local or remote, plus the errors every store raises.

Keys are relative, ``/``-separated paths such as ``models/cnn/000042.keras``. A store never
interprets the bytes; the registry and the drawing store above it do.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

#: Keys are made of these characters, with ``/`` between non-empty parts.
_KEY_PART = re.compile(r"^[A-Za-z0-9_=+-][A-Za-z0-9._=+-]*$")
MAX_KEY_LENGTH = 512


class StoreError(Exception):
    """Base class of the errors raised by a store."""


class KeyNotFound(StoreError, KeyError):
    """The key does not exist in the store. ``.key`` names it."""

    def __init__(self, key: str, where: str = ""):
        self.key = key
        suffix = f" in {where}" if where else ""
        super().__init__(f"no object {key!r}{suffix}")

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class PreconditionFailed(StoreError):
    """A conditional write lost: the object changed (or appeared) since it was read.

    ``.key`` names the object. Read it again and decide whether to retry.
    """

    def __init__(self, key: str, detail: str = ""):
        self.key = key
        super().__init__(
            f"conditional write of {key!r} failed: it changed since it was read"
            + (f" ({detail})" if detail else "")
        )


class StoreUnavailable(StoreError):
    """The store could not be reached within the retry budget and the operation cannot wait.

    Plain writes are spooled instead of raising this; conditional writes and reads of objects
    that were never cached raise it.
    """


@runtime_checkable
class Store(Protocol):
    """Bytes by key. ``LocalStore`` (a folder) and ``S3Store`` (a bucket and prefix) implement it.

    Tags are opaque strings that change whenever an object's bytes change (an S3 ETag, or a hash
    for local files); ``put_if`` uses them for compare-and-swap.
    """

    #: Where the store lives, as a URL ``open_store`` accepts (``file:///...``, ``s3://...``).
    url: str

    def get(self, key: str) -> bytes:
        """The object's bytes. Raises ``KeyNotFound``."""
        ...

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and its current tag. Raises ``KeyNotFound``."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Write (or replace) the object atomically: readers see the old or the new bytes."""
        ...

    def put_if(self, key: str, data: bytes, *, expected_tag: str | None) -> str:
        """Write only if the object is unchanged, and return its new tag.

        ``expected_tag=None`` means "only if the key does not exist yet" (create-only);
        otherwise the object's tag must still equal ``expected_tag``. Raises
        ``PreconditionFailed`` when someone else wrote first.
        """
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    def check_reachable(self) -> None:
        """Ask the store itself whether it is there (not a cache): raises ``StoreUnavailable``
        saying where and what failed, so that a broken store is never read as an empty one."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid store key, else raise ``ValueError`` saying why.

    Valid keys are relative paths of letters, digits and ``._=+-`` separated by single ``/``;
    no part starts with ``.``, so a key can never escape a local store's folder nor collide with
    its hidden temporary and lock files.
    """
    if not isinstance(key, str):
        raise TypeError(f"a store key must be a str, got {type(key).__name__}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a store key must have 1 to {MAX_KEY_LENGTH} characters, got {key!r}")
    for part in key.split("/"):
        if part in ("", ".", "..") or not _KEY_PART.match(part):
            raise ValueError(
                f"invalid store key {key!r}: use parts of letters, digits and '._=+-' (not "
                "starting with '.') separated by single '/', e.g. 'models/cnn/000001.keras'"
            )
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid listing prefix ('' or a key prefix), else raise."""
    if prefix == "":
        return prefix
    check_key(prefix.rstrip("/") or "x")
    return prefix


def check_bytes(data: bytes) -> bytes:
    """Return ``data`` as ``bytes`` (accepts bytearray and memoryview), else raise TypeError."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"a store holds bytes; got {type(data).__name__} (encode it first)")
