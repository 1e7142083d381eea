"""digitlib: read handwritten digits from canvas drawings, learn safely from corrections.

The public API. Importing this module is cheap: TensorFlow, OpenCV and boto3 load only when a
function that needs them is called.

    >>> import digitlib
    >>> recognizer = digitlib.load_recognizer()
    >>> result = recognizer.recognize(image)      # image: (H, W[, 3|4]) uint8, or PNG/JPEG bytes
    >>> result.text, result.segments
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    "load_recognizer": "digitlib.recognize",
    "Recognizer": "digitlib.recognize",
    "Result": "digitlib.recognize",
    "Segment": "digitlib.recognize",
    "open_store": "digitlib.store",
    "OnlineLearner": "digitlib.learn",
    "LearnConfig": "digitlib.learn",
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from digitlib.learn import LearnConfig, OnlineLearner
    from digitlib.recognize import Recognizer, Result, Segment, load_recognizer
    from digitlib.store import open_store


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'digitlib' has no attribute {name!r}")
