"""People's corrections: screening them, holding the suspicious ones for review, and keeping the
accepted ones for replay.

A bad label must not reach training: a drawing with no ink, a label that is no digit or "?", a
label count that does not match the segment count, or a label every model confidently
disagrees with goes to the store's review queue instead. A correction that led to a promotion
is kept in the store, so that later updates replay it and do not forget it.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Mapping

import numpy as np

from digitlib.config import CLASS_NAMES, OTHER
from digitlib.learn.labels import label_text

#: Store prefix of the corrections kept for replay.
CORRECTIONS_PREFIX = "learn/corrections/"
#: How many earlier corrections are read back for replay at start.
MAX_REPLAYED_CORRECTIONS = 2000


class Suspicious(Exception):
    """The drawing goes to the review queue, for the reason in the message."""


def screen(
    inputs: np.ndarray,
    parsed: list,
    models: Mapping[str, object] | None,
    threshold: float,
) -> None:
    """Raise ``Suspicious`` when the drawing cannot or should not be learned as labeled.

    ``inputs``: its segments, float32 (K, 28, 28); ``parsed``: one class index (or None for an
    invalid label) per given label; ``models``: name -> the live models (each with
    ``predict_proba`` to float (K, 11)), or None to skip the agreement check (a trusted
    drawing). A label is suspicious when every model reads the same other class at
    ``threshold`` confidence or more.
    """
    if len(inputs) == 0:
        raise Suspicious("the drawing has no ink")
    bad = [index for index, label in enumerate(parsed) if label is None]
    if bad:
        raise Suspicious(f"label {bad[0] + 1} is no digit or '?'")
    if len(parsed) != len(inputs):
        raise Suspicious(f"{len(parsed)} labels for {len(inputs)} segments")
    if models is None:
        return
    probabilities = {name: model.predict_proba(inputs) for name, model in models.items()}
    for index, label in enumerate(parsed):
        readings = {int(np.argmax(p[index])) for p in probabilities.values()}
        lowest = min(float(np.max(p[index])) for p in probabilities.values())
        if len(readings) == 1 and label not in readings and lowest >= threshold:
            (reading,) = readings
            raise Suspicious(
                f"label {CLASS_NAMES[label]!r} of segment {index + 1} disagrees with every "
                f"model, which read {CLASS_NAMES[reading]!r} at >{threshold:.1%} confidence"
            )


def hold(
    drawings,
    image: np.ndarray | bytes,
    parsed: list,
    inputs: np.ndarray,
    given,
    reason: str,
    session_id: str | None,
    ensemble: np.ndarray | None,
) -> str:
    """Put the drawing on ``drawings``' (a ``DrawingStore``) review queue; returns its id.

    ``parsed``: class indices (None for invalid labels) of the ``given`` labels (as passed to
    ``learn``); ``inputs``: the segments float32 (K, 28, 28); ``ensemble``: the live ensemble's
    float (K, 11) probabilities of them (None when there are no segments). The queue keeps valid
    labels only: an invalid reading is held under what the models read, the given one is kept
    in ``predictions`` for the reviewer to see.
    """
    readings = [] if ensemble is None else [int(label) for label in np.argmax(ensemble, axis=1)]
    valid = bool(parsed) and all(label is not None for label in parsed)
    labels = parsed if valid else (readings or [OTHER])
    record = drawings.hold(
        _png(image),
        labels,
        reason=reason,
        session_id=session_id,
        predictions={"given": _given_text(given), "models": label_text(readings)},
        segments=inputs if len(inputs) == len(labels) and len(inputs) else None,
    )
    return record.id


def remember(store, inputs: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Keep a learned correction in ``store`` for replay: segments float32 (K, 28, 28) in
    [0, 1], saved as uint8, and labels int (K,). Returns its (image float32 (28, 28), class
    index) pairs, as the learner's replay sample takes them."""
    pixels = np.round(np.clip(inputs, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=pixels, labels=labels.astype(np.uint8))
    key = f"{CORRECTIONS_PREFIX}{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
    store.put(key, buffer.getvalue())
    return [
        (image.astype(np.float32), int(label)) for image, label in zip(inputs, labels, strict=True)
    ]


def load(store, limit: int = MAX_REPLAYED_CORRECTIONS) -> list[tuple[np.ndarray, int]]:
    """The corrections kept in ``store`` (the last ``limit`` records) as (image float32
    (28, 28) in [0, 1], class index) pairs; a damaged record is skipped."""
    corrections = []
    for key in sorted(store.list(CORRECTIONS_PREFIX))[-limit:]:
        try:
            with np.load(io.BytesIO(store.get(key)), allow_pickle=False) as archive:
                images, labels = archive["images"], archive["labels"]
        except Exception:  # a damaged record costs one replay sample, not the learner
            continue
        for image, label in zip(images, labels, strict=False):
            corrections.append((image.astype(np.float32) / 255, int(label)))
    return corrections


def _given_text(labels) -> str:
    return labels if isinstance(labels, str) else " ".join(str(item) for item in labels)


def _png(image: np.ndarray | bytes) -> bytes:
    """The canvas as PNG bytes for the review queue: an array is checked (``check_image``) and
    encoded, PNG bytes kept as they are, JPEG bytes re-encoded (``encode_png``)."""
    from digitlib.image.preprocess import check_image, encode_png

    return encode_png(image if isinstance(image, bytes | bytearray) else check_image(image))
