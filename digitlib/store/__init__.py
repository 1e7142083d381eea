"""Versioned checkpoints and collected drawings, in a local folder or on S3.

    >>> from digitlib.store import open_store, ModelRegistry, DrawingStore
    >>> store = open_store()                      # DIGITLIB_STORE, else data/store
    >>> registry = ModelRegistry(store)
    >>> loaded = registry.load("cnn", digitlib.models.load_model)
    >>> loaded.model, loaded.version, loaded.warnings

Layers: a ``Store`` moves bytes by key (``LocalStore``, ``S3Store``); ``ModelRegistry`` keeps
model versions, manifests and the ``current`` pointer on top of it; ``DrawingStore`` keeps
drawings, the review queue and the learner's update log. Importing this package does not import
boto3 or TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from digitlib.store.base import (
    KeyNotFound,
    PreconditionFailed,
    Store,
    StoreError,
    StoreUnavailable,
)
from digitlib.store.drawings import (
    Drawing,
    DrawingProblem,
    DrawingRecord,
    DrawingsReport,
    DrawingStore,
    ExportResult,
    HeldDrawing,
)
from digitlib.store.local import LocalStore
from digitlib.store.registry import (
    LoadedModel,
    Manifest,
    ModelRegistry,
    ModelUnavailable,
    Promotion,
    PromotionConflict,
    UnsafeModelError,
    VerifyReport,
)
from digitlib.store.s3 import RetryPolicy, S3Store

__all__ = [
    "Drawing",
    "DrawingProblem",
    "DrawingRecord",
    "DrawingsReport",
    "DrawingStore",
    "ExportResult",
    "HeldDrawing",
    "KeyNotFound",
    "LoadedModel",
    "LocalStore",
    "Manifest",
    "ModelRegistry",
    "ModelUnavailable",
    "PreconditionFailed",
    "Promotion",
    "PromotionConflict",
    "RetryPolicy",
    "S3Store",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UnsafeModelError",
    "VerifyReport",
    "open_store",
]


#: What a missing local store folder becomes, by ``open_store`` mode.
_CREATE = {"library": "parents", "read": "never", "write": "folder"}


def open_store(
    url: str | os.PathLike | None = None, *, mode: str = "library", **s3_options
) -> LocalStore | S3Store:
    """Open the store named by ``url``.

    Parameters
    ----------
    url : str or path, optional
        ``file:///abs/path``, a plain path (relative to the working folder), or
        ``s3://bucket[/prefix]``. None means ``DIGITLIB_STORE``, else the project's
        ``data/store`` folder (``digitlib.config.default_store_url()``).
    mode : "library", "read" or "write"
        "library" (default): a missing local folder is created. "read" (commands that only
        read): the store must exist and answer now (``check_reachable``), else
        ``StoreUnavailable`` saying what is wrong; nothing is created. "write": the store must
        answer; a missing local folder is created only when its parent exists.
    **s3_options
        Passed to ``S3Store`` for ``s3://`` URLs (``client``, ``local_dir``, ``retry``).

    For S3, the endpoint, region and credentials come from the standard AWS chain, e.g.
    ``AWS_ENDPOINT_URL=http://127.0.0.1:8333 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...``.
    """
    if url is None:
        from digitlib.config import default_store_url

        url = default_store_url()
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url.strip():
        raise ValueError(
            f"store URL must be a non-empty string like 's3://bucket/prefix', 'file:///path' or "
            f"a folder path, got {url!r}"
        )
    if mode not in _CREATE:
        raise ValueError(f"mode must be one of {sorted(_CREATE)}, got {mode!r}")
    url = url.strip()
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"S3 store URL needs a bucket: 's3://bucket/prefix', got {url!r}")
        store = S3Store(parsed.netloc, parsed.path.strip("/"), **s3_options)
        if mode != "library":
            store.check_reachable()
        return store
    if s3_options:
        raise ValueError(f"options {sorted(s3_options)} only apply to s3:// stores, not {url!r}")
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file URL must be file:///absolute/path, got {url!r}")
        return LocalStore(Path(unquote(parsed.path)), create=_CREATE[mode])
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive, a plain path
        raise ValueError(
            f"unsupported store URL scheme {parsed.scheme!r} in {url!r}; use s3://, file:// or "
            "a folder path"
        )
    return LocalStore(Path(url), create=_CREATE[mode])
