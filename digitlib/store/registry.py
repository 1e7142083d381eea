"""``ModelRegistry``: immutable model versions, manifests and a ``current`` pointer per model.

Layout inside a store (``name`` is ``numpy_fnn``, ``fnn``, ``cnn`` or any lowercase name)::

    models/<name>/000042.keras            the checkpoint, one file, never rewritten
    models/<name>/000042.infer.npz        its inference file (Keras models; what readings use)
    models/<name>/000042.json             its manifest (sha256, size, parent, metrics, ...)
    models/<name>/current.json            the live version (a copy of the newest promotion)
    models/<name>/promotions/000007.json  the 7th promotion: version, previous, when, by whom
    models/<name>/pending/<id>.keras      a checkpoint kept while S3 was down (its draft manifest
                                          beside it, <id>.json), numbered later

Writes that could race are conditional (see ``Store.put_if``):

- A new version claims its number by creating the checkpoint file create-only; a writer that
  loses the number takes the next one. The manifest, written create-only after it, completes the
  version; a version without a manifest is incomplete and never loaded.
- A promotion from generation ``g`` to ``g + 1`` first creates ``promotions/<g+1>.json``
  create-only: exactly one promoter can create it, so exactly one wins, and the log is the
  complete history. The winner then moves ``current.json`` with a compare-and-swap on its tag.
  A reader that finds a log entry newer than the pointer (a promoter stopped between the two
  writes) moves the pointer forward itself, so no promotion is ever lost.

Loading checks the manifest's size and sha256 and refuses ``Lambda`` layers and pickled arrays
(``digitlib.models.checkpoint_safety``) before it calls the loader, then falls back to the newest
good earlier version (and finally to the shipped ``models/`` file) on any problem, with a warning
for the dashboard. Verified checkpoints are written to a local cache folder for the loader.

Readings use ``load_inference``: for a Keras model, the version's inference file, checked
against its manifest and remade from the checkpoint when it is missing, stale or corrupt
(``digitlib.store.inference_files``), never needing TensorFlow otherwise.

The other rooms of the registry: ``digitlib.store.records`` (the manifest, promotion and report
types, and where records live), ``digitlib.store.inference_files`` (inference files of a
version), ``digitlib.models.checkpoint_safety`` (``check_safe``, ``UnsafeModelError``). Their
names stay importable from here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digitlib.models.checkpoint_safety import SUFFIXES, UnsafeModelError, check_safe
from digitlib.store.base import (
    KeyNotFound,
    PreconditionFailed,
    Store,
    StoreError,
    StoreUnavailable,
)
from digitlib.store.inference_files import (
    INFERENCE_SUFFIX,
    inference_bytes,
    inference_key,
    inference_problem,
    inference_record,
    read_inference,
)
from digitlib.store.records import (
    LoadedModel,
    Manifest,
    Promotion,
    VerifyReport,
    VersionCheck,
    manifest_key,
    pointer_key,
    promotion_key,
)

__all__ = [
    "INFERENCE_SUFFIX",
    "MODEL_SUFFIXES",
    "SUFFIXES",
    "LoadedModel",
    "Manifest",
    "ModelRegistry",
    "ModelUnavailable",
    "Promotion",
    "PromotionConflict",
    "UnsafeModelError",
    "VerifyReport",
    "VersionCheck",
    "check_safe",
]

log = logging.getLogger(__name__)

#: File suffix of each known model's checkpoints.
MODEL_SUFFIXES = {"numpy_fnn": ".npz", "fnn": ".keras", "cnn": ".keras"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_VERSION_FILE = re.compile(r"^(\d{6,})\.(keras|npz|json)$")


class PromotionConflict(StoreError):
    """Someone else promoted first: ``.current`` is the version now live (None if none).

    Retry on top of it: ``registry.promote(name, mine, expected_current=error.current)`` once
    your version is still better than theirs.
    """

    def __init__(self, name: str, expected: int | None, current: int | None):
        self.name, self.expected, self.current = name, expected, current
        super().__init__(
            f"cannot promote {name}: expected current version {expected}, but it is now "
            f"{current}; re-evaluate against version {current} and retry with "
            f"expected_current={current}"
        )


class ModelUnavailable(StoreError):
    """No version of a model, nor the shipped file, could be loaded. ``.warnings`` says why."""

    def __init__(self, name: str, warnings: list[str]):
        self.warnings = warnings
        super().__init__(f"no loadable version of {name!r}: " + "; ".join(warnings))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"model name must be lowercase letters, digits and '_' (e.g. 'cnn'), got {name!r}"
        )
    return name


def _version_ranges(versions: list[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> "1-3, 5, 7-8"."""
    parts, start = [], None
    for index, version in enumerate(versions):
        if start is None:
            start = version
        if index + 1 == len(versions) or versions[index + 1] != version + 1:
            parts.append(str(start) if start == version else f"{start}-{version}")
            start = None
    return ", ".join(parts)


def _check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"a model version is a positive int (e.g. 42), got {version!r}")
    return version


class ModelRegistry:
    """Model versions in a store, with verified loading and conditional promotion.

    Parameters
    ----------
    store : Store
        Where versions live (``LocalStore`` or ``S3Store``).
    shipped_dir : path, optional
        Read-only checkpoints used when the store has no good version (``cnn.keras``,
        ``fnn.keras``, ``numpy_fnn.npz``); ``digitlib.config.SHIPPED_MODELS_DIR`` when None.
    cache_dir : path, optional
        Local folder where verified checkpoints are written for the loader; a per-store folder
        in the system temp folder when None.
    who : str
        Recorded in promotions (e.g. a host name), to tell dashboard servers apart.
    """

    def __init__(
        self,
        store: Store,
        shipped_dir: str | os.PathLike | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        who: str = "",
    ):
        if shipped_dir is None:
            from digitlib.config import SHIPPED_MODELS_DIR

            shipped_dir = SHIPPED_MODELS_DIR
        self.store = store
        self.shipped_dir = Path(shipped_dir)
        if cache_dir is None:
            digest = hashlib.sha256(store.url.encode()).hexdigest()[:16]
            cache_dir = Path(tempfile.gettempdir()) / "digitlib-models" / digest
        self.cache_dir = Path(cache_dir)
        self.who = who

    def __repr__(self) -> str:
        return f"ModelRegistry({self.store!r})"

    # -- keys -----------------------------------------------------------------------------------

    @staticmethod
    def suffix(name: str) -> str:
        """The checkpoint suffix of model ``name`` (``.npz`` for ``numpy_fnn``, else ``.keras``)."""
        return MODEL_SUFFIXES.get(_check_name(name), ".keras")

    def _file_key(self, name: str, version: int) -> str:
        return f"models/{name}/{version:06d}{self.suffix(name)}"

    # -- reading --------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Models that have anything in the store, sorted."""
        return sorted({key.split("/")[1] for key in self.store.list("models/") if "/" in key[7:]})

    def versions(self, name: str) -> list[int]:
        """Version numbers that have a checkpoint or a manifest, ascending."""
        numbers = set()
        for key in self.store.list(f"models/{_check_name(name)}/"):
            match = _VERSION_FILE.match(key.rsplit("/", 1)[1])
            if match and key.count("/") == 2:
                numbers.add(int(match.group(1)))
        return sorted(numbers)

    def manifest(self, name: str, version: int) -> Manifest:
        """The manifest of one version. Raises ``KeyNotFound`` or ``ValueError`` (unreadable)."""
        data = self.store.get(manifest_key(_check_name(name), _check_version(version)))
        try:
            return Manifest.from_json(data)
        except (ValueError, TypeError) as error:
            raise ValueError(f"manifest of {name} {version} is unreadable: {error}") from None

    def history(self, name: str) -> list[Manifest]:
        """Manifests of all complete versions of ``name``, oldest first."""
        manifests = []
        for version in self.versions(name):
            try:
                manifests.append(self.manifest(name, version))
            except (KeyNotFound, ValueError):
                continue
        return manifests

    def promotions(self, name: str) -> list[Promotion]:
        """Every promotion of ``name`` (the moves of ``current``), oldest first."""
        result = []
        for key in self.store.list(f"models/{_check_name(name)}/promotions/"):
            try:
                result.append(Promotion.from_json(self.store.get(key)))
            except (KeyNotFound, ValueError, TypeError):
                log.warning("unreadable promotion record %s", key)
        return sorted(result, key=lambda promotion: promotion.generation)

    def _pointer(self, name: str, tagged: bool) -> tuple[Promotion | None, str | None]:
        key = pointer_key(name)
        try:
            if tagged:
                data, tag = self.store.get_tagged(key)
            else:
                data, tag = self.store.get(key), None
        except KeyNotFound:
            return None, None
        return Promotion.from_json(data), tag

    def _next_promotion(self, name: str, pointer: Promotion | None) -> Promotion | None:
        generation = (pointer.generation if pointer else 0) + 1
        try:
            data = self.store.get(promotion_key(name, generation))
        except KeyNotFound:
            return None
        except StoreUnavailable:
            # Offline, readers go by the (cached) pointer; promoting needs the server anyway.
            return None
        return Promotion.from_json(data)

    def current_promotion(self, name: str) -> Promotion | None:
        """The newest promotion of ``name`` (None if never promoted)."""
        pointer, _ = self._pointer(_check_name(name), tagged=False)
        while (newer := self._next_promotion(name, pointer)) is not None:
            pointer = newer  # a promoter is between its two writes, or stopped there
        return pointer

    def current(self, name: str) -> int | None:
        """The live version of ``name``, or None when none was promoted yet."""
        promotion = self.current_promotion(name)
        return promotion.version if promotion else None

    # -- writing --------------------------------------------------------------------------------

    def _checkpoint_bytes(self, name: str, checkpoint: str | os.PathLike | bytes) -> bytes:
        suffix = self.suffix(name)
        if isinstance(checkpoint, bytes | bytearray | memoryview):
            data = bytes(checkpoint)
        elif isinstance(checkpoint, str | os.PathLike):
            path = Path(checkpoint)
            if path.suffix != suffix:
                raise ValueError(f"{name} checkpoints are {suffix} files, got {path.name!r}")
            data = path.read_bytes()
        else:
            raise TypeError(
                f"checkpoint must be a file path or bytes, got {type(checkpoint).__name__}"
            )
        if not data:
            raise ValueError(f"refusing to save an empty {suffix} checkpoint for {name}")
        check_safe(data, suffix)
        return data

    @staticmethod
    def _check_details(metrics: dict[str, Any] | None, produced_by: str) -> dict[str, Any]:
        if not isinstance(produced_by, str) or not produced_by:
            raise ValueError("produced_by must say what made this version, e.g. 'online update'")
        metrics = dict(metrics or {})
        try:
            json.dumps(metrics)
        except TypeError as error:
            raise TypeError(f"metrics must be JSON-serializable numbers: {error}") from None
        return metrics

    def save_version(
        self,
        name: str,
        checkpoint: str | os.PathLike | bytes,
        *,
        parent: int | None,
        metrics: dict[str, Any] | None = None,
        produced_by: str,
        note: str = "",
        inference: bytes | None = None,
        _token: str | None = None,
    ) -> Manifest:
        """Store a new immutable version of ``name`` and return its manifest. Not promoted.

        Parameters
        ----------
        name : str
            ``"numpy_fnn"`` (``.npz``), ``"fnn"`` or ``"cnn"`` (``.keras``).
        checkpoint : path or bytes
            The single checkpoint file (its suffix must match the model's) or its bytes.
        parent : int or None
            The version this one was fine-tuned from (must exist), None for a fresh model.
        metrics : dict, optional
            JSON-serializable numbers, e.g. ``{"accuracy": 0.981, "other_recall": 0.9}``.
        produced_by : str
            What made it: ``"train --seed 0"``, ``"online update"``, ``"shipped"``.
        inference : bytes, optional
            For a Keras model, its inference file made from this checkpoint
            (``digitlib.models.inference``; checked to belong to it). Without one, the first
            ``load_inference`` of the version makes it (importing TensorFlow there): online
            learning and ``seed`` always pass it.

        Raises ``StoreUnavailable`` while an S3 store is unreachable (claiming a version number
        needs the server): then ``keep_pending`` keeps the checkpoint (spooled) until
        ``adopt_pending`` can number it.
        """
        _check_name(name)
        data = self._checkpoint_bytes(name, checkpoint)
        metrics = self._check_details(metrics, produced_by)
        if parent is not None:
            _check_version(parent)
            try:
                self.manifest(name, parent)
            except KeyNotFound:
                raise ValueError(f"parent version {parent} of {name} does not exist") from None

        sha256 = hashlib.sha256(data).hexdigest()
        if inference is not None:
            inference = inference_bytes(name, data, sha256, inference)
        version = max(self.versions(name), default=0) + 1
        for _ in range(100):
            try:
                self.store.put_if(self._file_key(name, version), data, expected_tag=None)
                break
            except PreconditionFailed:  # another writer took this number: take the next
                version = max(max(self.versions(name), default=0), version) + 1
        else:
            raise StoreError(f"could not claim a version number for {name} after 100 tries")
        record = None
        if inference is not None:
            record = inference_record(inference_key(name, version), inference, sha256)
            self.store.put(record["key"], inference)  # before the manifest completes the version
        manifest = Manifest(
            name=name,
            version=version,
            key=self._file_key(name, version),
            sha256=sha256,
            size=len(data),
            parent=parent,
            metrics=metrics,
            created_at=_now(),
            produced_by=produced_by,
            note=note,
            token=_token or uuid.uuid4().hex,
            inference=record,
        )
        self.store.put_if(manifest_key(name, version), manifest.to_json(), expected_tag=None)
        log.info("saved %s version %d (%d bytes, by %s)", name, version, len(data), produced_by)
        return manifest

    # -- offline saves --------------------------------------------------------------------------

    def keep_pending(
        self,
        name: str,
        checkpoint: str | os.PathLike | bytes,
        *,
        parent: int | None,
        metrics: dict[str, Any] | None = None,
        produced_by: str,
        note: str = "",
    ) -> str:
        """Keep a checkpoint that cannot get a version number now; return its pending id.

        Same arguments as ``save_version``. Uses plain writes only, which an unreachable
        ``S3Store`` spools, so nothing is lost while the server is down. ``adopt_pending``
        turns pending checkpoints into numbered versions once it is back (not promoted: the
        caller decides, against the then-current version).
        """
        _check_name(name)
        data = self._checkpoint_bytes(name, checkpoint)
        metrics = self._check_details(metrics, produced_by)
        if parent is not None:
            _check_version(parent)
        pending_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]
        draft = {
            "name": name,
            "pending_id": pending_id,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "parent": parent,
            "metrics": metrics,
            "created_at": _now(),
            "produced_by": produced_by,
            "note": note,
        }
        folder = f"models/{name}/pending/{pending_id}"
        self.store.put(folder + self.suffix(name), data)
        self.store.put(folder + ".json", json.dumps(draft).encode())  # last: marks it complete
        log.warning("kept %s checkpoint %s pending (no version number yet)", name, pending_id)
        return pending_id

    def pending(self, name: str) -> list[str]:
        """Ids of the checkpoints of ``name`` kept by ``keep_pending``, oldest first."""
        prefix = f"models/{_check_name(name)}/pending/"
        return [key[len(prefix) : -5] for key in self.store.list(prefix) if key.endswith(".json")]

    def adopt_pending(self, name: str) -> list[Manifest]:
        """Give each pending checkpoint of ``name`` a version number, oldest first.

        Idempotent: a checkpoint adopted before a crash (its manifest carries the pending id as
        ``token``) is not saved twice. A damaged pending checkpoint is logged and left in place.
        Raises ``StoreUnavailable`` while the store is still unreachable.
        """
        adopted = []
        for pending_id in self.pending(name):
            folder = f"models/{name}/pending/{pending_id}"
            draft = json.loads(self.store.get(folder + ".json"))
            data = self.store.get(folder + self.suffix(name))
            if len(data) != draft["size"] or hashlib.sha256(data).hexdigest() != draft["sha256"]:
                log.error("pending %s checkpoint %s is damaged; left in place", name, pending_id)
                continue
            done = [m for m in self.history(name) if m.token == pending_id]
            if done:
                manifest = done[0]
            else:
                parent = draft["parent"]
                if parent is not None and parent not in self.versions(name):
                    parent = None
                manifest = self.save_version(
                    name,
                    data,
                    parent=parent,
                    metrics=draft["metrics"],
                    produced_by=draft["produced_by"],
                    note=(draft["note"] + f" (kept pending {pending_id})").strip(),
                    _token=pending_id,
                )
            self.store.delete(folder + ".json")
            self.store.delete(folder + self.suffix(name))
            adopted.append(manifest)
        return adopted

    # -- promotion ------------------------------------------------------------------------------

    def promote(
        self, name: str, version: int, *, expected_current: int | None, note: str = ""
    ) -> Promotion:
        """Make ``version`` the live one, only if ``expected_current`` is still live.

        Raises ``PromotionConflict`` (with ``.current``) when another writer promoted since the
        caller read ``expected_current``: exactly one of several concurrent promoters wins.
        """
        _check_name(name)
        _check_version(version)
        if expected_current is not None:
            _check_version(expected_current)
        try:
            self.manifest(name, version)
        except KeyNotFound:
            raise ValueError(
                f"cannot promote {name} version {version}: it does not exist (save it first)"
            ) from None
        while True:
            pointer, tag = self._pointer(name, tagged=True)
            newer = self._next_promotion(name, pointer)
            if newer is None:
                break
            self._move_pointer(name, newer, tag)  # finish someone's interrupted promotion
        live = pointer.version if pointer else None
        if live != expected_current:
            raise PromotionConflict(name, expected_current, live)
        promotion = Promotion(
            name=name,
            version=version,
            generation=(pointer.generation if pointer else 0) + 1,
            previous=live,
            promoted_at=_now(),
            promoted_by=self.who,
            note=note,
            token=uuid.uuid4().hex,
        )
        try:
            self.store.put_if(
                promotion_key(name, promotion.generation), promotion.to_json(), expected_tag=None
            )
        except PreconditionFailed:
            winner = self._next_promotion(name, pointer)
            raise PromotionConflict(
                name, expected_current, winner.version if winner else None
            ) from None
        self._move_pointer(name, promotion, tag)
        log.info("promoted %s version %d (was %s)", name, version, live)
        return promotion

    def _move_pointer(self, name: str, promotion: Promotion, tag: str | None) -> None:
        """Write ``promotion`` to ``current.json`` unless the pointer already reached it."""
        try:
            self.store.put_if(pointer_key(name), promotion.to_json(), expected_tag=tag)
        except PreconditionFailed:
            # Only the owner of this generation's log entry or a reader finishing its move can
            # have written the pointer meanwhile; both write this same promotion.
            pointer, _ = self._pointer(name, tagged=False)
            if pointer is None or pointer.generation < promotion.generation:
                raise StoreError(
                    f"{name}: current.json went backwards while promoting generation "
                    f"{promotion.generation}; run 'digitlib models verify'"
                ) from None

    def rollback(self, name: str, version: int, *, note: str = "") -> Promotion:
        """Make an earlier (verified good) version live again; recorded as a promotion."""
        known = self.versions(_check_name(name))
        if version not in known:
            have = f"versions are {_version_ranges(known)}" if known else "it has no versions yet"
            raise ValueError(f"{name} has no version {version}; {have}")
        problem = self._check_version_bytes(name, version)
        if problem:
            raise ValueError(f"cannot roll {name} back to version {version}: {problem}")
        current = self.current(name)
        return self.promote(
            name, version, expected_current=current, note=note or f"rollback from {current}"
        )

    def seed(self, name: str) -> Manifest | None:
        """Copy the shipped checkpoint into the store as version 1 and promote it.

        Does nothing (returns None) if the store already has versions of ``name``.
        """
        if self.versions(name):
            return None
        path = self.shipped_path(name)
        inference = None
        if self.suffix(name) == ".keras":
            from digitlib.models.inference import inference_beside

            inference = inference_beside(path, name)[1]
        manifest = self.save_version(
            name,
            path,
            parent=None,
            produced_by="shipped",
            note=f"seeded from {path.name}",
            inference=inference,
        )
        try:
            self.promote(name, manifest.version, expected_current=None, note="seed")
        except PromotionConflict:
            pass  # another server seeded at the same moment; its promotion stands
        return manifest

    def shipped_path(self, name: str) -> Path:
        """The shipped checkpoint of ``name``. Raises ``FileNotFoundError`` saying where."""
        path = self.shipped_dir / f"{_check_name(name)}{self.suffix(name)}"
        if not path.is_file():
            raise FileNotFoundError(
                f"no shipped checkpoint {path}; train it (make train) or point shipped_dir at "
                "a folder holding it"
            )
        return path

    # -- verifying and loading ------------------------------------------------------------------

    def _read_verified(self, name: str, version: int) -> tuple[Manifest, bytes]:
        """The manifest and bytes of a version, checked; raises ``ValueError`` saying what's wrong."""
        try:
            manifest = self.manifest(name, version)
        except KeyNotFound:
            raise ValueError("manifest missing (incomplete save)") from None
        try:
            data = self.store.get(manifest.key)
        except KeyNotFound:
            raise ValueError(f"checkpoint {manifest.key} missing") from None
        if len(data) != manifest.size:
            kind = (
                "empty" if not data else "truncated" if len(data) < manifest.size else "too long"
            )
            raise ValueError(
                f"checkpoint {kind}: {len(data)} bytes, manifest says {manifest.size}"
            )
        if hashlib.sha256(data).hexdigest() != manifest.sha256:
            raise ValueError("checkpoint corrupt: sha256 differs from the manifest")
        check_safe(data, Path(manifest.key).suffix)
        return manifest, data

    def _check_version_bytes(self, name: str, version: int) -> str:
        try:
            manifest, _ = self._read_verified(_check_name(name), _check_version(version))
            if manifest.inference:
                return inference_problem(self.store, manifest.inference)
        except (ValueError, StoreError) as error:
            return str(error)
        return ""

    def verify(self, name: str | None = None) -> VerifyReport:
        """Check size, sha256 and safety of every version (of ``name``, or of all models)."""
        names = [_check_name(name)] if name is not None else self.names()
        checks, current = [], {}
        for model in names:
            current[model] = self.current(model)
            for version in self.versions(model):
                checks.append(
                    VersionCheck(model, version, self._check_version_bytes(model, version))
                )
        return VerifyReport(checks, current)

    def _newest_good(
        self,
        name: str,
        version: int | None,
        read: Callable[[int], tuple[Any, Manifest, Path, list[str]]],
        warnings: list[str],
    ) -> LoadedModel | None:
        """The live (or given) version of ``name`` read by ``read(version) -> (model, manifest,
        path, warnings)``, else the newest older one that reads; None when none does (each
        failure is added to ``warnings``)."""
        start = version if version is not None else self.current(name)
        if start is None:
            return None
        _check_version(start)
        for candidate in [start] + [v for v in reversed(self.versions(name)) if v < start]:
            try:
                model, manifest, path, notes = read(candidate)
            except Exception as error:  # any failure means: try an older version
                message = f"{name} version {candidate} skipped: {error}"
                log.warning(message)
                warnings.append(message)
                continue
            warnings += notes
            if candidate != start:
                log.warning("%s: loaded version %d instead of %d", name, candidate, start)
            if getattr(self.store, "offline", False):
                warnings.append(
                    f"{self.store.url} is unreachable: {name} version {candidate} was read "
                    "from the local cache"
                )
            return LoadedModel(model, name, candidate, "store", manifest, path, warnings)
        return None

    def load(
        self, name: str, loader: Callable[[Path], Any], *, version: int | None = None
    ) -> LoadedModel:
        """Load the live (or given) version of ``name``, falling back to earlier good ones.

        Each candidate's size and sha256 are checked and ``check_safe`` run before
        ``loader(local_path)`` is called (use a safe loader: ``digitlib.models.load_model``, or
        ``keras.saving.load_model(path, safe_mode=True)`` / ``np.load(path,
        allow_pickle=False)``). A corrupt, truncated, missing, unsafe or unloadable version is
        logged, added to ``warnings``, and the next older version is tried; after them all, the
        shipped checkpoint. Raises ``ModelUnavailable`` when nothing loads.
        """
        _check_name(name)
        if not callable(loader):
            raise TypeError(
                "loader must be a function taking a checkpoint path, e.g. "
                "digitlib.models.load_model"
            )

        def read(candidate: int) -> tuple[Any, Manifest, Path, list[str]]:
            manifest, data = self._read_verified(name, candidate)
            path = self._write_cache(name, candidate, data)
            return loader(path), manifest, path, []

        warnings: list[str] = []
        found = self._newest_good(name, version, read, warnings)
        if found is not None:
            return found
        try:
            path = self.shipped_path(name)
            check_safe(path.read_bytes(), path.suffix)
            model = loader(path)
        except Exception as error:
            warnings.append(f"{name} shipped checkpoint skipped: {error}")
            raise ModelUnavailable(name, warnings) from error
        return LoadedModel(model, name, None, "shipped", None, path, warnings)

    # -- reading drawings: inference files ------------------------------------------------------------------------

    def load_inference(self, name: str, *, version: int | None = None) -> LoadedModel:
        """Load what reads drawings for the live (or given) version of ``name``.

        Keras models: the version's inference file as a ``digitlib.models.InferenceModel`` (no
        TensorFlow), verified against its manifest and remade from the checkpoint when missing,
        stale or corrupt. Other models (``numpy_fnn``): the checkpoint itself. Falls back to
        older versions and the shipped files as ``load`` does; ``ModelUnavailable`` when
        nothing loads.
        """
        from digitlib.models import inference as lean
        from digitlib.models import load_model

        _check_name(name)
        if self.suffix(name) != ".keras":
            return self.load(name, lambda path: load_model(path, name), version=version)

        def read(candidate: int) -> tuple[Any, Manifest, Path, list[str]]:
            try:
                manifest = self.manifest(name, candidate)
            except KeyNotFound:
                raise ValueError("manifest missing (incomplete save)") from None
            manifest, model, remade = read_inference(
                self.store,
                name,
                candidate,
                manifest,
                lambda: self._read_verified(name, candidate)[1],
            )
            path = self.cache_dir / name / f"{candidate:06d}{INFERENCE_SUFFIX}"
            return model, manifest, path, remade

        warnings: list[str] = []
        found = self._newest_good(name, version, read, warnings)
        if found is not None:
            return found
        try:
            checkpoint = self.shipped_path(name)
            path = lean.inference_path(checkpoint)
            model, _, remade = lean.inference_beside(checkpoint, name)
            warnings += remade
        except Exception as error:
            warnings.append(f"{name} shipped inference file skipped: {error}")
            raise ModelUnavailable(name, warnings) from error
        return LoadedModel(model, name, None, "shipped", None, path, warnings)

    def _write_cache(self, name: str, version: int, data: bytes) -> Path:
        path = self.cache_dir / name / f"{version:06d}{self.suffix(name)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return path
        temporary = path.with_name(f".tmp-{uuid.uuid4().hex}{path.suffix}")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        return path
