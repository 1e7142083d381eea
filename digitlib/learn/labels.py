"""Readings as people type them ("42", "4?2") and as class indices ([4, 2], [4, 10, 2])."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from digitlib.config import NUM_CLASSES, OTHER


def parse_labels(labels: str | Sequence) -> list[int | None]:
    """Class indices from a reading: a string with one character per segment ("42", "?" = other;
    spaces ignored), or a sequence with one entry per segment (a one-character string, "other",
    or an int 0..10). Entries that are no digit or "?" come back as None (held for review).

    Raises ``TypeError`` for anything else than a string or a sequence.
    """
    if isinstance(labels, str):
        items: Sequence = [char for char in labels if not char.isspace()]
    elif isinstance(labels, (list, tuple)):
        items = labels
    else:
        raise TypeError(
            f"labels must be a string with one character per segment ('42', '?' = other) or a "
            f"list with one label per segment, got {type(labels).__name__}"
        )
    parsed: list[int | None] = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            parsed.append(None)
        elif isinstance(item, (int, np.integer)):
            parsed.append(int(item) if 0 <= int(item) < NUM_CLASSES else None)
        elif isinstance(item, str) and item.strip() in ("?", "other"):
            parsed.append(OTHER)
        elif isinstance(item, str) and len(item.strip()) == 1 and item.strip() in "0123456789":
            parsed.append(int(item.strip()))
        else:
            parsed.append(None)
    return parsed


def label_text(labels: Sequence[int]) -> str:
    """Class indices -> the reading ("4?2")."""
    return "".join("?" if label == OTHER else str(label) for label in labels)
