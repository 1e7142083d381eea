"""The widget app: draw digits, read them live, correct and teach the models, curate the data.

``Dashboard`` is the app (one per visitor); ``notebooks/dashboard.ipynb`` builds and displays it and
``python -m digitlib.dashboard.serve`` serves that notebook with Voila.

The names below load on first use: the server (``serve``) and the kernels' launcher (``kernel``)
live in this package and need none of the app's widgets, OpenCV or models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digitlib.dashboard.app import Dashboard
    from digitlib.dashboard.services import Services, build_services, shared_services

_LAZY = {
    "Dashboard": "digitlib.dashboard.app",
    "Services": "digitlib.dashboard.services",
    "build_services": "digitlib.dashboard.services",
    "shared_services": "digitlib.dashboard.services",
}

__all__ = ["Dashboard", "Services", "build_services", "shared_services"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'digitlib.dashboard' has no attribute {name!r}")
