"""``DrawingStore``: collected drawings, the review queue of held labels, the update log.

Layout inside a store (``<id>`` sorts by time: ``20250101T120000123456Z-1a2b3c4d``)::

    drawings/<id>.png        the canvas as drawn (PNG bytes)
    drawings/<id>.npy        optional: the per-segment model inputs, float32 (K, 28, 28)
    drawings/<id>.json       labels, predictions, session id, time; written last, deleted first,
                             so a drawing is listed only when complete
    review/held/<id>.*       the same three files for labels held for review
    updates/<id>.json        one online-learning update each
    repaired/<folder>/<id>.json   the metadata as it was before ``verify(repair=True)`` changed it

Labels are one int per segment, left to right: 0-9, or 10 (``digitlib.config.OTHER``) for "not a
digit". Functions accept them as a string (``"42"``, ``"?"`` for other) or a list of ints/strings.
This module uses NumPy only, no TensorFlow.
"""

from __future__ import annotations

import io
import json
import logging
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from digitlib.config import OTHER
from digitlib.store.base import KeyNotFound, Store

log = logging.getLogger(__name__)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 2 * 1024 * 1024
MAX_LABELS = 64
MAX_METADATA_BYTES = 256 * 1024
_ID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
#: Anonymous session ids: what the update log and the review queue accept.
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_session_id(session_id: object) -> None:
    """Raise ``ValueError`` unless ``session_id`` is None or a ``SESSION_ID``: 1-64 letters,
    digits, '_' or '-' (an anonymous id, never a name or an address)."""
    if session_id is not None and not (
        isinstance(session_id, str) and SESSION_ID.match(session_id)
    ):
        raise ValueError(
            f"session_id must be 1-64 letters, digits, '_' or '-', got {session_id!r}"
        )


def normalize_labels(labels: str | Sequence[int | str]) -> list[int]:
    """Per-segment labels as ints 0-10, from ``"42"``/``"4?"`` or ``[4, 2]``/``["4", "other"]``.

    Raises ``ValueError`` saying which label is bad.
    """
    if isinstance(labels, str):
        items: list[Any] = list(labels)
    elif isinstance(labels, Sequence) or isinstance(labels, np.ndarray):
        items = list(labels)
    else:
        raise TypeError(
            f"labels must be a string like '42' or a list, got {type(labels).__name__}"
        )
    if not items:
        raise ValueError("labels are empty; give one label per digit, e.g. '42'")
    if len(items) > MAX_LABELS:
        raise ValueError(f"{len(items)} labels is more than the limit of {MAX_LABELS}")
    result = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            # ASCII digits only: str.isdigit() also passes "²" (which int() refuses) and "٣"
            # (which int() reads as 3).
            ascii_number = item.isascii() and item.isdigit()
            value = {"?": OTHER, "other": OTHER}.get(item, int(item) if ascii_number else -1)
        elif isinstance(item, int | np.integer) and not isinstance(item, bool):
            value = int(item)
        else:
            value = -1
        if not 0 <= value <= OTHER:
            raise ValueError(
                f"label {item!r} at position {position} is not a digit 0-9 or '?'/'other'/10 "
                "for 'not a digit'"
            )
        result.append(value)
    return result


def labels_text(labels: Sequence[int]) -> str:
    """``[4, 2, 10]`` -> ``"42?"``."""
    return "".join("?" if label == OTHER else str(label) for label in labels)


@dataclass(frozen=True)
class DrawingRecord:
    """A drawing's metadata (what ``list`` returns, without the image).

    ``labels``: one int 0-10 per segment; ``predictions``: whatever the caller stored (JSON);
    ``created_at``: ISO 8601 UTC; ``has_segments``: the 28x28 inputs were stored with it;
    ``label_history``: earlier labels, ``[{"labels": [...], "changed_at": "..."}]``;
    ``reason``: why it was held (review queue only); ``strokes``: how it was drawn, when
    known (``check_strokes``): ``{"canvas_size": [height, width], "strokes": [{"points":
    [[x, y], ...], "times_ms": [...], "width": w}, ...]}``, points in canvas pixels in the order
    drawn, so that collected data can train stroke models or be rendered again at any width.
    """

    id: str
    labels: tuple[int, ...]
    created_at: str
    session_id: str | None = None
    predictions: Any = None
    png_size: int = 0
    has_segments: bool = False
    label_history: tuple[dict, ...] = ()
    reason: str = ""
    strokes: dict | None = None

    @property
    def text(self) -> str:
        return labels_text(self.labels)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"], data["label_history"] = list(self.labels), list(self.label_history)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrawingRecord:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["labels"] = tuple(known.get("labels", ()))
        known["label_history"] = tuple(known.get("label_history", ()))
        return cls(**known)


@dataclass(frozen=True)
class Drawing:
    """A drawing with its image: ``png`` bytes and ``segments`` float32 (K, 28, 28) or None."""

    record: DrawingRecord
    png: bytes
    segments: np.ndarray | None = None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def labels(self) -> tuple[int, ...]:
        return self.record.labels


#: A held drawing is a ``Drawing`` whose ``record.reason`` says why it was held.
HeldDrawing = Drawing


@dataclass
class ExportResult:
    """What ``export`` wrote: ``paths``, ``count`` of 28x28 examples, ``skipped`` (id, reason)."""

    paths: list[Path]
    count: int
    skipped: list[tuple[str, str]] = field(default_factory=list)


#: Limits of a stored drawing's strokes (a canvas drawing has tens of strokes at most).
MAX_STROKES, MAX_POINTS = 200, 20_000


def _segments_png(segments: np.ndarray) -> bytes:
    """Segments (K, 28, 28) in [0, 1], white on black, side by side as dark ink on white."""
    from digitlib.image.preprocess import encode_png

    gap = np.zeros((28, 8), np.float32)
    row = np.concatenate([part for segment in segments for part in (segment, gap)][:-1], axis=1)
    padded = np.pad(row, 8)
    pixels = np.round(255 * (1 - np.clip(padded, 0, 1))).astype(np.uint8)
    return encode_png(pixels)


@dataclass(frozen=True)
class DrawingProblem:
    """A stored drawing whose metadata a save would refuse now (``DrawingStore.verify``).

    ``key``: its metadata file, ``drawings/<id>.json`` or ``review/held/<id>.json``;
    ``problem``: what is wrong; ``changes``: what a repair changes, one sentence each (empty
    when it cannot be repaired, then ``problem`` says why); ``repaired``: the changes were
    written, the original metadata kept at ``repaired/<key>``.
    """

    key: str
    problem: str
    changes: tuple[str, ...] = ()
    repaired: bool = False

    @property
    def repairable(self) -> bool:
        return bool(self.changes)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "changes": list(self.changes)}


@dataclass(frozen=True)
class DrawingsReport:
    """``DrawingStore.verify``'s result: how many drawings' metadata files were ``checked`` and
    the ``problems`` found, each with what was (or would be) changed."""

    checked: int
    problems: tuple[DrawingProblem, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing is left to repair: every problem found was repaired."""
        return all(problem.repaired for problem in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "problems": [problem.to_json() for problem in self.problems],
        }


def finite_strokes(strokes: dict) -> tuple[dict | None, tuple[str, ...]]:
    """``strokes`` (as stored, see ``DrawingRecord``) without their non-finite numbers, and
    what was dropped, one sentence each.

    A point with NaN or Infinity is dropped (with its time); a stroke whose width is not
    finite, or that has no finite point left, is dropped; times that are not finite are dropped
    (the points stay). When no stroke is left, or the canvas size is not finite, the strokes
    are removed: ``(None, changes)``; the drawing keeps its picture and labels. Raises
    ``ValueError`` (from ``check_strokes``) when what is left is wrong in another way.
    """
    changes: list[str] = []
    if not isinstance(strokes, dict) or not isinstance(strokes.get("strokes"), list):
        check_strokes(strokes)  # raises, saying what was expected
    size = strokes.get("canvas_size")
    if isinstance(size, list | tuple) and any(
        isinstance(v, float) and not np.isfinite(v) for v in size
    ):
        return None, (f"removed the strokes: the canvas size {size!r} is not finite",)
    kept = []
    for index, stroke in enumerate(strokes["strokes"]):
        if not isinstance(stroke, dict):
            kept.append(stroke)  # check_strokes below says what is wrong
            continue
        width = stroke.get("width", 0)
        if isinstance(width, float) and not np.isfinite(width):
            count = len(stroke.get("points") or [])
            changes.append(
                f"dropped stroke {index} ({count} points): its width {width} is not finite"
            )
            continue
        try:
            points = np.asarray(stroke.get("points", []), np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            kept.append(stroke)
            continue
        finite = np.isfinite(points).all(axis=1)
        entry = dict(stroke)
        times = stroke.get("times_ms")
        if isinstance(times, list) and any(
            isinstance(t, float) and not np.isfinite(t) for t in times
        ):
            entry.pop("times_ms")
            changes.append(f"dropped the times of stroke {index}: not all finite")
            times = None
        if not finite.any():
            changes.append(
                f"dropped stroke {index}: none of its {len(points)} points is finite "
                f"({points.tolist()})"
            )
            continue
        if not finite.all():
            dropped = np.flatnonzero(~finite).tolist()
            changes.append(
                f"dropped {len(dropped)} of the {len(points)} points of stroke {index}: "
                + ", ".join(f"point {i} {points[i].tolist()}" for i in dropped)
            )
            entry["points"] = points[finite].tolist()
            if isinstance(times, list) and len(times) == len(points):
                entry["times_ms"] = [t for t, keep in zip(times, finite, strict=True) if keep]
        kept.append(entry)
    if not kept:
        changes.append("removed the strokes: no stroke with a finite point is left")
        return None, tuple(changes)
    return check_strokes({**strokes, "strokes": kept}), tuple(changes)


def _finite_number(value: Any) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def check_strokes(strokes: dict) -> dict:
    """Validate how a drawing was drawn and return it as plain JSON (see ``DrawingRecord``).

    ``strokes``: ``{"canvas_size": [height, width], "strokes": [{"points": [[x, y], ...],
    "times_ms": [t, ...] (optional, one per point), "width": w}, ...]}``: every number finite
    (no NaN or Infinity, which strict JSON cannot hold). Raises ``ValueError`` saying what was
    expected.
    """
    if not isinstance(strokes, dict) or not isinstance(strokes.get("strokes"), list):
        raise ValueError(
            'strokes must be {"canvas_size": [height, width], "strokes": [{"points": [[x, y], '
            '...], "width": w}, ...]}'
        )
    size = strokes.get("canvas_size")
    if not (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all((_finite_number(v) or 0) >= 1 for v in size)
    ):
        raise ValueError(
            f"strokes['canvas_size'] must be [height, width], finite numbers of pixels, got "
            f"{size!r}"
        )
    if len(strokes["strokes"]) > MAX_STROKES:
        raise ValueError(
            f"at most {MAX_STROKES} strokes per drawing, got {len(strokes['strokes'])}"
        )
    kept, total = [], 0
    for index, stroke in enumerate(strokes["strokes"]):
        if not isinstance(stroke, dict):
            raise ValueError(
                f'stroke {index}: must be {{"points": [[x, y], ...], "width": w}}, got '
                f"{type(stroke).__name__}"
            )
        try:
            points = np.asarray(stroke.get("points", []), np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"stroke {index}: points must be a list of [x, y] numbers") from None
        if points.ndim != 2 or points.shape[1] != 2 or not len(points):
            raise ValueError(
                f"stroke {index}: points must be a list of [x, y], got {points.shape}"
            )
        finite = np.isfinite(points).all(axis=1)
        if not finite.all():
            first = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"stroke {index}: points must be finite [x, y] canvas pixels; point {first} is "
                f"{points[first].tolist()} ({int((~finite).sum())} of {len(points)} not finite)"
            )
        total += len(points)
        width = _finite_number(stroke.get("width", 0))
        if width is None or not width > 0:
            raise ValueError(
                f"stroke {index}: width must be a finite number > 0 pixels, got "
                f"{stroke.get('width', 0)!r}"
            )
        # np.round scales by 100 first: 1e308 would become inf. Such values have no decimals.
        with np.errstate(over="ignore"):
            rounded = np.round(points, 2)
        rounded = np.where(np.isfinite(rounded), rounded, points)
        entry = {"points": rounded.tolist(), "width": width}
        times = stroke.get("times_ms")
        if times is not None:
            numbers = [_finite_number(t) for t in times] if isinstance(times, list) else [None]
            if any(t is None for t in numbers):
                raise ValueError(
                    f"stroke {index}: times_ms must be finite numbers of milliseconds, one per "
                    "point"
                )
            times = [round(t, 1) for t in numbers]
            if len(times) != len(points) or any(np.diff(times) < 0):
                raise ValueError(f"stroke {index}: times_ms must rise, one per point")
            entry["times_ms"] = times
        kept.append(entry)
    if total > MAX_POINTS:
        raise ValueError(f"at most {MAX_POINTS} points per drawing, got {total}")
    return {"canvas_size": [int(size[0]), int(size[1])], "strokes": kept}


class DrawingStore:
    """Drawings, held labels and the update log, in a store.

    Parameters
    ----------
    store : Store
    max_png_bytes : int
        Drawings larger than this are refused with ``ValueError`` (2 MiB by default; a full
        canvas PNG is a few tens of kB).
    """

    def __init__(self, store: Store, *, max_png_bytes: int = MAX_PNG_BYTES):
        if max_png_bytes < len(PNG_MAGIC):
            raise ValueError(f"max_png_bytes must be at least {len(PNG_MAGIC)}")
        self.store = store
        self.max_png_bytes = max_png_bytes

    def __repr__(self) -> str:
        return f"DrawingStore({self.store!r})"

    # -- drawings -------------------------------------------------------------------------------

    def save(
        self,
        png: bytes,
        labels: str | Sequence[int | str],
        *,
        predictions: Any = None,
        session_id: str | None = None,
        segments: np.ndarray | Sequence[np.ndarray] | None = None,
        strokes: dict | None = None,
    ) -> DrawingRecord:
        """Save a labelled drawing and return its record (``record.id`` names it).

        Parameters
        ----------
        png : bytes
            The canvas as PNG, at most ``max_png_bytes``.
        labels : str or list
            One label per segment, left to right (``"42"``, ``[4, 2]``; ``"?"`` = other).
        predictions : JSON-serializable, optional
            What the models said, e.g. ``{"ensemble": "47", "cnn": "47"}``.
        session_id : str, optional
            An anonymous id of the drawing session (letters, digits, ``_-``; at most 64).
        segments : float32 array (K, 28, 28) in [0, 1], optional
            The model inputs of the K segments (K = number of labels), so ``export`` needs no
            recognizer.
        """
        record, segment_array = self._prepare(
            png, labels, predictions, session_id, segments, strokes=strokes
        )
        self._write("drawings", record, png, segment_array)
        return record

    def _prepare(self, png, labels, predictions, session_id, segments, reason="", strokes=None):
        if not isinstance(png, bytes | bytearray):
            raise TypeError(f"png must be PNG bytes, got {type(png).__name__}")
        png = bytes(png)
        if len(png) > self.max_png_bytes:
            raise ValueError(
                f"drawing is {len(png)} bytes, over the limit of {self.max_png_bytes}; send a "
                "smaller canvas or raise DrawingStore(max_png_bytes=...)"
            )
        if not png.startswith(PNG_MAGIC):
            raise ValueError("png does not start with the PNG signature; encode the canvas as PNG")
        from digitlib.image.preprocess import check_size, header_size

        size = header_size(png)
        if size is not None:  # a header claiming 40000x40000 pixels is refused unread
            check_size(*size)
        labels = normalize_labels(labels)
        check_session_id(session_id)
        segment_array = None
        if segments is not None:
            segment_array = np.asarray(segments)
            if segment_array.ndim != 3 or segment_array.shape[1:] != (28, 28):
                raise ValueError(
                    f"segments must have shape (K, 28, 28), got {segment_array.shape}"
                )
            if len(segment_array) != len(labels):
                raise ValueError(
                    f"{len(segment_array)} segments but {len(labels)} labels; give one label "
                    "per segment"
                )
            segment_array = segment_array.astype(np.float32)
        record = DrawingRecord(
            id=_new_id(),
            labels=tuple(labels),
            created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            session_id=session_id,
            predictions=predictions,
            png_size=len(png),
            has_segments=segment_array is not None,
            reason=reason,
            strokes=check_strokes(strokes) if strokes is not None else None,
        )
        _encode_metadata(record)  # fail on unserializable predictions before writing anything
        return record, segment_array

    def _write(self, folder: str, record: DrawingRecord, png: bytes, segments) -> None:
        self.store.put(f"{folder}/{record.id}.png", png)
        if segments is not None:
            buffer = io.BytesIO()
            np.save(buffer, segments, allow_pickle=False)
            self.store.put(f"{folder}/{record.id}.npy", buffer.getvalue())
        self.store.put(f"{folder}/{record.id}.json", _encode_metadata(record))

    def _records(self, folder: str) -> list[DrawingRecord]:
        records = []
        for key in self.store.list(f"{folder}/"):
            if not key.endswith(".json") or key.count("/") != folder.count("/") + 1:
                continue
            try:
                records.append(DrawingRecord.from_dict(json.loads(self.store.get(key))))
            except KeyNotFound:
                continue  # deleted while listing
            except (ValueError, TypeError) as error:
                log.warning("unreadable drawing metadata %s: %s", key, error)
        return sorted(records, key=lambda record: record.id)

    def _read(self, folder: str, drawing_id: str) -> Drawing:
        _check_id(drawing_id)
        try:
            record = DrawingRecord.from_dict(
                json.loads(self.store.get(f"{folder}/{drawing_id}.json"))
            )
            png = self.store.get(f"{folder}/{drawing_id}.png")
        except KeyNotFound:
            where = "held for review" if folder.startswith("review") else "saved"
            raise KeyNotFound(drawing_id, f"drawings {where}") from None
        segments = None
        if record.has_segments:
            segments = np.load(
                io.BytesIO(self.store.get(f"{folder}/{drawing_id}.npy")), allow_pickle=False
            )
        return Drawing(record, png, segments)

    def _remove(self, folder: str, drawing_id: str) -> None:
        _check_id(drawing_id)
        for suffix in (".json", ".png", ".npy"):  # metadata first: it is what lists show
            self.store.delete(f"{folder}/{drawing_id}{suffix}")

    def list(self) -> list[DrawingRecord]:
        """Records of all saved drawings, oldest first."""
        return self._records("drawings")

    def get(self, drawing_id: str) -> Drawing:
        """A saved drawing with its PNG (and segments). Raises ``KeyNotFound``."""
        return self._read("drawings", drawing_id)

    def relabel(self, drawing_id: str, labels: str | Sequence[int | str]) -> DrawingRecord:
        """Replace a drawing's labels (the old ones go to ``label_history``); return the record.

        With stored segments, the number of labels must stay the same.
        """
        labels = normalize_labels(labels)
        record = self.get(drawing_id).record
        if record.has_segments and len(labels) != len(record.labels):
            raise ValueError(
                f"drawing {drawing_id} has {len(record.labels)} segments; give "
                f"{len(record.labels)} labels, got {len(labels)}"
            )
        changed_at = datetime.now(UTC).isoformat(timespec="microseconds")
        history = record.label_history + (
            {"labels": list(record.labels), "changed_at": changed_at},
        )
        record = replace(record, labels=tuple(labels), label_history=history)
        self.store.put(f"drawings/{drawing_id}.json", _encode_metadata(record))
        return record

    def delete(self, drawing_id: str) -> None:
        """Delete a saved drawing. Raises ``KeyNotFound`` if there is none with this id."""
        self.get(drawing_id)
        self._remove("drawings", drawing_id)

    def verify(self, *, repair: bool = False) -> DrawingsReport:
        """Check every saved and held drawing's metadata as a save checks it now: strict JSON
        (no NaN or Infinity) and ``check_strokes``. Stores written before these checks can hold
        ``Infinity`` from a tampered page; they still load (reading is lenient).

        With ``repair``, drawings whose strokes hold non-finite numbers are rewritten without
        them (``finite_strokes`` says what is dropped) after the original metadata is copied to
        ``repaired/<key>``; nothing else changes. Problems that cannot be repaired this way are
        reported and left alone. Returns a ``DrawingsReport`` naming every change.
        """
        checked, problems = 0, []
        for folder in ("drawings", "review/held"):
            for key in self.store.list(f"{folder}/"):
                if not key.endswith(".json") or key.count("/") != folder.count("/") + 1:
                    continue
                try:
                    raw = self.store.get(key)
                except KeyNotFound:
                    continue  # deleted while checking
                checked += 1
                problem = self._verify_one(key, raw, repair)
                if problem is not None:
                    problems.append(problem)
        return DrawingsReport(checked, tuple(problems))

    def _verify_one(self, key: str, raw: bytes, repair: bool) -> DrawingProblem | None:
        try:
            record = DrawingRecord.from_dict(json.loads(raw))
        except (ValueError, TypeError) as error:
            return DrawingProblem(key, f"unreadable metadata, left as it is: {error}")
        try:
            if record.strokes is not None:
                check_strokes(record.strokes)
            _encode_metadata(record)
            return None
        except (ValueError, TypeError) as error:
            problem = str(error)
        if record.strokes is None:
            return DrawingProblem(key, f"{problem}; only strokes are repaired, left as it is")
        try:
            strokes, changes = finite_strokes(record.strokes)
            encoded = _encode_metadata(replace(record, strokes=strokes))
        except (ValueError, TypeError) as error:
            return DrawingProblem(key, f"{problem}; cannot be repaired, left as it is: {error}")
        if not changes:  # wrong in a way dropping non-finite numbers does not mend
            return DrawingProblem(key, f"{problem}; left as it is")
        if repair:
            self.store.put(f"repaired/{key}", raw)  # first: the original is never lost
            self.store.put(key, encoded)
        return DrawingProblem(key, problem, changes, repaired=repair)

    # -- export ---------------------------------------------------------------------------------

    def examples(
        self, extract: Callable[[bytes], Sequence[Any]] | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[str], list[tuple[str, str]]]:
        """All labelled segments as a data set.

        Returns ``(images float32 (N, 28, 28), labels uint8 (N,), drawing ids (N), skipped)``.
        Drawings saved without segments are cut with ``extract(png_bytes)``, which returns one
        28x28 float array (or ``(box, array)`` pair, as ``digitlib.image.segment.extract`` gives) per
        segment; without ``extract`` they are skipped. ``skipped`` lists ``(id, reason)``.
        """
        images, labels, ids, skipped = [], [], [], []
        for record in self.list():
            try:
                drawing = self.get(record.id)
            except KeyNotFound:
                continue
            segments = drawing.segments
            if segments is None:
                if extract is None:
                    skipped.append((record.id, "no stored segments and no extract function"))
                    continue
                try:
                    items = [
                        np.asarray(item[-1] if isinstance(item, tuple) else item)
                        for item in extract(drawing.png)
                    ]
                    segments = np.stack(items) if items else np.zeros((0, 28, 28), np.float32)
                except Exception as error:
                    skipped.append((record.id, f"extract failed: {error}"))
                    continue
            if len(segments) != len(record.labels) or segments.shape[1:] != (28, 28):
                skipped.append(
                    (record.id, f"{len(segments)} segments for {len(record.labels)} labels")
                )
                continue
            images.extend(segments.astype(np.float32))
            labels.extend(record.labels)
            ids.extend([record.id] * len(record.labels))
        image_array = np.stack(images) if images else np.zeros((0, 28, 28), np.float32)
        return image_array, np.asarray(labels, dtype=np.uint8), ids, skipped

    def export(
        self,
        out: str | Path,
        format: str = "npz",
        *,
        extract: Callable[[bytes], Sequence[Any]] | None = None,
    ) -> ExportResult:
        """Write the labelled segments as a data set (see ``examples`` for ``extract``).

        ``format="npz"``: one file ``out`` with ``images`` float32 (N, 28, 28) in [0, 1],
        ``labels`` uint8 (N,) and ``drawing_ids`` (N,) str. The strokes of the drawings that
        kept them go beside it, one JSON line per drawing (``out.strokes.jsonl``, or
        ``strokes.jsonl`` in the idx folder). ``format="idx"``: the folder
        ``out`` gets MNIST-style ``images-idx3-ubyte`` (uint8 0-255) and ``labels-idx1-ubyte``,
        readable with ``digitlib.drawings.data.read_idx``. Label 10 means "not a digit".
        """
        if format not in ("npz", "idx"):
            raise ValueError(f"export format must be 'npz' or 'idx', got {format!r}")
        out = Path(out)
        images, labels, ids, skipped = self.examples(extract)
        if format == "npz":
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "wb") as file:
                np.savez_compressed(
                    file, images=images, labels=labels, drawing_ids=np.asarray(ids, dtype=str)
                )
            paths = [out]
        else:
            if out.exists() and not out.is_dir():
                raise ValueError(f"idx export writes two files into a folder; {out} is a file")
            out.mkdir(parents=True, exist_ok=True)
            pixels = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
            header = struct.pack(">IIII", 2051, len(pixels), 28, 28)
            (out / "images-idx3-ubyte").write_bytes(header + pixels.tobytes())
            (out / "labels-idx1-ubyte").write_bytes(
                struct.pack(">II", 2049, len(labels)) + labels.tobytes()
            )
            paths = [out / "images-idx3-ubyte", out / "labels-idx1-ubyte"]
        strokes_path = (
            out.with_name(out.name + ".strokes.jsonl")
            if format == "npz"
            else (out / "strokes.jsonl")
        )
        lines = []
        for record in self.list():
            if record.strokes is None:
                continue
            try:  # drawings stored before the finiteness check may hold NaN or Infinity
                line = {"id": record.id, "labels": list(record.labels), **record.strokes}
                lines.append(json.dumps(line, allow_nan=False) + "\n")
            except ValueError:
                skipped.append(
                    (
                        record.id,
                        "strokes not exported: they hold NaN or Infinity; see 'digitlib "
                        "drawings verify --repair'",
                    )
                )
        if lines:
            strokes_path.write_text("".join(lines))
            paths.append(strokes_path)
        return ExportResult(paths, len(labels), skipped)

    def import_set(self, path: str | Path) -> ExportResult:
        """Save the drawings of a set written by ``export(format="npz")`` (and the strokes beside
        it, when there) as drawings of this store; returns ``ExportResult`` with the count of
        drawings saved and the ones skipped.

        Each drawing keeps its labels, its 28x28 segments and its strokes; its picture is its
        segments side by side (dark ink on white), the original canvas not being in the set.
        Importing the same set again saves nothing twice (``predictions["imported"]`` keeps the
        original id). Raises ``ValueError`` for a file that is not such a set.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                images = archive["images"].astype(np.float32)
                labels = archive["labels"].astype(np.int64)
                ids = [str(value) for value in archive["drawing_ids"]]
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(
                f"{path}: not a drawing set written by 'digitlib drawings export --format npz' "
                f"(images, labels, drawing_ids): {error}"
            ) from None
        if images.ndim != 3 or images.shape[1:] != (28, 28) or not len(images) == len(labels):
            raise ValueError(f"{path}: images must be (N, 28, 28) with one label each")
        strokes_by_id = {}
        beside = path.with_name(path.name + ".strokes.jsonl")
        if beside.is_file():
            for line in beside.read_text().splitlines():
                entry = json.loads(line)
                strokes_by_id[entry["id"]] = {
                    "canvas_size": entry["canvas_size"],
                    "strokes": entry["strokes"],
                }
        seen = {
            (r.predictions or {}).get("imported")
            for r in self.list()
            if isinstance(r.predictions, dict)
        }
        rows: dict[str, list[int]] = {}
        for row, drawing_id in enumerate(ids):
            rows.setdefault(drawing_id, []).append(row)
        saved, skipped = 0, []
        for drawing_id, picked in rows.items():
            if drawing_id in seen:
                skipped.append((drawing_id, "imported before"))
                continue
            segments = images[picked]
            self.save(
                _segments_png(segments),
                [int(label) for label in labels[picked]],
                segments=segments,
                predictions={"imported": drawing_id, "from": path.name},
                strokes=strokes_by_id.get(drawing_id),
            )
            saved += 1
        return ExportResult([path], saved, skipped)

    # -- review queue ---------------------------------------------------------------------------

    def hold(
        self,
        png: bytes,
        labels: str | Sequence[int | str],
        *,
        reason: str = "",
        predictions: Any = None,
        session_id: str | None = None,
        segments: np.ndarray | Sequence[np.ndarray] | None = None,
        strokes: dict | None = None,
    ) -> DrawingRecord:
        """Hold a labelled drawing for review instead of learning from it; return its record.

        Same arguments as ``save``, plus ``reason`` (e.g. ``"label disagrees with all models"``).
        """
        record, segment_array = self._prepare(
            png, labels, predictions, session_id, segments, reason=str(reason), strokes=strokes
        )
        self._write("review/held", record, png, segment_array)
        return record

    def list_held(self) -> list[DrawingRecord]:
        """Records of the drawings held for review, oldest first."""
        return self._records("review/held")

    def get_held(self, drawing_id: str) -> Drawing:
        """A held drawing with its PNG (and segments). Raises ``KeyNotFound``."""
        return self._read("review/held", drawing_id)

    def accept(self, drawing_id: str, labels: str | Sequence[int | str] | None = None) -> Drawing:
        """Accept a held drawing (optionally with corrected ``labels``): it becomes a saved
        drawing with the same id, leaves the queue, and is returned so the caller can learn
        from it."""
        held = self.get_held(drawing_id)
        record = held.record
        if labels is not None:
            new_labels = tuple(normalize_labels(labels))
            if held.segments is not None and len(new_labels) != len(held.segments):
                raise ValueError(
                    f"held drawing {drawing_id} has {len(held.segments)} segments; give that "
                    f"many labels, got {len(new_labels)}"
                )
            if new_labels != record.labels:
                history = record.label_history + (
                    {
                        "labels": list(record.labels),
                        "changed_at": datetime.now(UTC).isoformat(timespec="microseconds"),
                    },
                )
                record = replace(record, labels=new_labels, label_history=history)
        self._write("drawings", record, held.png, held.segments)
        self._remove("review/held", drawing_id)
        return Drawing(record, held.png, held.segments)

    def reject(self, drawing_id: str) -> None:
        """Drop a held drawing. Raises ``KeyNotFound`` if none is held with this id."""
        self.get_held(drawing_id)
        self._remove("review/held", drawing_id)

    # -- update log -----------------------------------------------------------------------------

    def record_update(self, update: dict[str, Any]) -> str:
        """Append one online-learning update to the log and return its id.

        ``update`` is any JSON-serializable dict, e.g. ``{"promoted": True, "reason": "...",
        "metrics": {...}, "versions": {"cnn": 43}}``; ``id`` and ``recorded_at`` are added.
        """
        if not isinstance(update, dict):
            raise TypeError(f"an update is a dict, got {type(update).__name__}")
        update_id = _new_id()
        entry = {
            **update,
            "id": update_id,
            "recorded_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        }
        # Not strict: an update's figures come from training (a NaN loss is a fact to log), and
        # refusing them would lose the update itself.
        self.store.put(f"updates/{update_id}.json", _encode_json(entry, "update", strict=False))
        return update_id

    def updates(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The logged updates, oldest first; only the newest ``limit`` when given."""
        keys = [key for key in self.store.list("updates/") if key.endswith(".json")]
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit}")
            keys = keys[len(keys) - limit :] if limit else []
        entries = []
        for key in keys:
            try:
                entries.append(json.loads(self.store.get(key)))
            except KeyNotFound:
                continue
        return entries


def _new_id() -> str:
    """A unique id that sorts by creation time: ``20250101T120000123456Z-1a2b3c4d``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def _check_id(drawing_id: str) -> str:
    if not isinstance(drawing_id, str) or not _ID.match(drawing_id):
        raise ValueError(
            f"{drawing_id!r} is not a drawing id (like 20250101T120000123456Z-1a2b3c4d); see "
            "'digitlib drawings list'"
        )
    return drawing_id


def _encode_json(data: Any, what: str, *, strict: bool = True) -> bytes:
    """``data`` as compact JSON bytes; ``strict``: refuse NaN and Infinity, which Python writes
    as bare ``NaN``/``Infinity`` that strict JSON parsers (browsers, jq, other languages)
    refuse."""
    try:
        encoded = json.dumps(data, separators=(",", ":"), allow_nan=not strict).encode()
    except ValueError as error:
        if "Out of range float" not in str(error):
            raise TypeError(
                f"{what} must be JSON-serializable (lists, dicts, numbers): {error}"
            ) from None
        raise ValueError(
            f"{what} holds NaN or Infinity, which strict JSON cannot hold; give finite numbers "
            "(drawings stored so before: 'digitlib drawings verify --repair')"
        ) from None
    except TypeError as error:
        raise TypeError(
            f"{what} must be JSON-serializable (lists, dicts, numbers): {error}"
        ) from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(f"{what} is {len(encoded)} bytes of JSON, over {MAX_METADATA_BYTES}")
    return encoded


def _encode_metadata(record: DrawingRecord) -> bytes:
    return _encode_json(record.to_dict(), "drawing metadata (predictions)")
