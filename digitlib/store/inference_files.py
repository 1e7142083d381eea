"""The inference file kept beside each Keras version in the store: made, checked and remade.

A Keras version ``models/<name>/000042.keras`` has its inference file
``models/<name>/000042.infer.npz`` (``digitlib.models.inference``: what readings run, without
TensorFlow). The version's manifest records it as ``Manifest.inference``::

    {"key": "models/cnn/000042.infer.npz", "sha256": "<hex>", "size": 123456,
     "source_sha256": "<the checkpoint's sha256>"}

A reading trusts an inference file only when its bytes match that record and it was made from
the version's checkpoint (``source_sha256``, which the file also carries). A missing, stale or
corrupt one is remade from the verified checkpoint (that path imports TensorFlow), written back,
and the manifest's record moved to it with a compare-and-swap. Versions saved before inference
files existed (``inference`` is None) are remade the same way on first load, so old stores keep
loading.

``ModelRegistry`` uses these functions: ``save_version`` (``inference_bytes``,
``inference_record``), ``verify`` (``inference_problem``) and ``load_inference``
(``read_inference``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitlib.models.checkpoint_safety import check_safe
from digitlib.store.base import KeyNotFound, PreconditionFailed, Store, StoreError
from digitlib.store.records import Manifest, manifest_key

if TYPE_CHECKING:
    from digitlib.models.inference import InferenceModel

log = logging.getLogger(__name__)

#: Suffix of the inference files kept beside Keras checkpoints (``digitlib.models.inference``).
INFERENCE_SUFFIX = ".infer.npz"


def inference_key(name: str, version: int) -> str:
    """``("cnn", 42)`` -> ``"models/cnn/000042.infer.npz"``."""
    return f"models/{name}/{version:06d}{INFERENCE_SUFFIX}"


def inference_record(key: str, data: bytes, source_sha256: str) -> dict[str, Any]:
    """The manifest's ``inference`` record of the inference file ``data`` stored at ``key``,
    made from the checkpoint whose sha256 is ``source_sha256``."""
    return {
        "key": key,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "source_sha256": source_sha256,
    }


def inference_bytes(name: str, checkpoint: bytes, sha256: str, given: bytes | None) -> bytes:
    """The inference file of a Keras checkpoint (``checkpoint``: its bytes, ``sha256``: theirs):
    ``given`` checked to belong to it, or, when None, made from it (imports TensorFlow).
    Raises ``ValueError`` (or ``UnsafeModelError``) for a ``given`` file that is unsafe or was
    made from another checkpoint."""
    from digitlib.models import inference as lean

    if given is not None:
        check_safe(bytes(given), ".npz")
        made = lean.InferenceModel.from_bytes(bytes(given), name)
        if made.source_sha256 != sha256:
            raise ValueError(
                f"the inference file given for {name} was made from another checkpoint "
                f"(sha256 {made.source_sha256[:12]}..., this one {sha256[:12]}...)"
            )
        return bytes(given)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.keras"
        path.write_bytes(checkpoint)
        return lean.export_checkpoint(path, name=name).read_bytes()


def inference_problem(store: Store, record: dict[str, Any]) -> str:
    """What is wrong with the inference file a manifest records ('' when its bytes match the
    record). Store errors other than a missing key propagate."""
    try:
        data = store.get(record["key"])
    except KeyNotFound:
        return f"inference file {record['key']} missing (remade at the next load)"
    if len(data) != record["size"] or hashlib.sha256(data).hexdigest() != record["sha256"]:
        return (
            "inference file corrupt: sha256 or size differs from the manifest "
            "(remade at the next load)"
        )
    return ""


def read_inference(
    store: Store,
    name: str,
    version: int,
    manifest: Manifest,
    checkpoint: Callable[[], bytes],
) -> tuple[Manifest, InferenceModel, list[str]]:
    """The verified inference model of version ``version`` of ``name`` (whose manifest is
    ``manifest``): its file read once and checked to run.

    When the file is missing, stale or corrupt, it is remade from ``checkpoint()`` (the
    version's verified checkpoint bytes; raises ``ValueError`` when they are bad), written back
    and recorded in the manifest. Returns (the manifest, updated if remade, the
    ``InferenceModel``, warnings: one saying why it was remade, else none).
    """
    from digitlib.models import inference as lean

    record = manifest.inference or {}
    key = record.get("key") or inference_key(name, version)
    problem = ""
    try:
        data = store.get(key)
        if record and (
            len(data) != record.get("size")
            or hashlib.sha256(data).hexdigest() != record.get("sha256")
        ):
            problem = "inference file corrupt: sha256 or size differs from the manifest"
        else:
            check_safe(data, ".npz")
            made = lean.load_inference(data, name, origin=f"{name} {version}")
            if made.source_sha256 != manifest.sha256:
                problem = "inference file stale: it was made from another checkpoint"
    except KeyNotFound:
        problem = "inference file missing"
    except (ValueError, lean.CheckpointError) as error:
        problem = f"inference file unreadable: {error}"
    if not problem:
        return manifest, made, []
    data = inference_bytes(name, checkpoint(), manifest.sha256, None)
    key = inference_key(name, version)
    store.put(key, data)
    manifest = record_inference(store, manifest, key, data)
    message = f"{name} version {version}: {problem}; remade from its checkpoint"
    log.warning(message)
    return manifest, lean.load_inference(data, name, origin=key), [message]


def record_inference(store: Store, manifest: Manifest, key: str, data: bytes) -> Manifest:
    """Point the manifest's ``inference`` record at a remade inference file (a
    compare-and-swap; the rest of the manifest stays as it was). Returns the updated manifest,
    even when the store could not be updated."""
    record = inference_record(key, data, manifest.sha256)
    updated = Manifest.from_dict({**manifest.to_dict(), "inference": record})
    where = manifest_key(manifest.name, manifest.version)
    try:
        body, tag = store.get_tagged(where)
        if Manifest.from_json(body).sha256 != manifest.sha256:
            return manifest
        store.put_if(where, updated.to_json(), expected_tag=tag)
    except (PreconditionFailed, StoreError, KeyNotFound) as error:
        # Another reader remade it at the same moment, or the store is offline: the file
        # is checked against its checkpoint again at the next load.
        log.info(
            "inference record of %s %d not updated: %s", manifest.name, manifest.version, error
        )
    return updated
