"""The expensive parts every dashboard in one kernel process shares: recognizer, store, registry.

Voila gives each visitor a kernel of their own; the models and the store are shared between
visitors through the store (one visitor's promoted update is in the registry, and every other
dashboard notices the new versions before its next reading). Within a process the parts are built
once (``shared_services``), so a preheated kernel has them ready before the visitor arrives.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Services:
    """What the dashboard calls. Any part but the recognizer may be ``None`` when unavailable;
    ``problems`` then says why, in words for the status line."""

    recognizer: Any
    store: Any = None
    registry: Any = None
    drawings: Any = None
    learner: Any = None
    problems: list[str] = field(default_factory=list)
    #: Seconds between checks of the registry's current versions.
    sync_interval: float = 1.0
    _last_sync: float = 0.0
    _learner_lock: threading.Lock = field(default_factory=threading.Lock)

    def get_learner(self) -> Any:
        """The online learner, built on first use (it is only needed when someone clicks Learn)."""
        with self._learner_lock:
            if self.learner is None:
                if self.store is None:
                    raise RuntimeError("learning needs a model store, and none could be opened")
                import digitlib

                self.learner = digitlib.OnlineLearner(self.recognizer, self.store)
            return self.learner

    def sync_models(self, *, force: bool = False) -> bool:
        """Load the registry's current versions if another visitor promoted new ones.

        Cheap when nothing changed (one small read of the current pointer, at most once per
        ``sync_interval``). Returns True when models were swapped.
        """
        if self.registry is None:
            return False
        now = time.monotonic()
        if not force and now - self._last_sync < self.sync_interval:
            return False
        self._last_sync = now
        current = current_versions(self.registry)
        if not current:
            return False
        live = dict(getattr(self.recognizer, "versions", {}) or {})
        if all(str(live.get(name)) == str(version) for name, version in current.items()):
            return False
        import digitlib

        fresh = digitlib.load_recognizer(store=self.store)
        self.recognizer.set_models(fresh.models)
        if hasattr(self.recognizer, "versions") and hasattr(fresh, "versions"):
            try:
                self.recognizer.versions = dict(fresh.versions)
            except AttributeError:
                pass  # the recognizer keeps its versions itself
        return True


def current_versions(registry: Any) -> dict[str, str]:
    """model name -> live version, from the registry's current pointer (``{}`` when unknown)."""
    current = registry.current()
    if isinstance(current, dict):
        return {str(k): str(v) for k, v in current.items()}
    versions = getattr(current, "versions", None) or getattr(current, "models", None)
    return {str(k): str(v) for k, v in dict(versions or {}).items()}


def build_services(store_url: str | None = None) -> Services:
    """Open the store, its registry and drawings, and the recognizer of the current versions.

    A store that cannot be opened is reported in ``problems``; the recognizer then falls back to the
    shipped models so the page still reads digits.
    """
    import digitlib
    from digitlib.config import SHIPPED_MODELS_DIR, default_store_url

    problems: list[str] = []
    store = registry = drawings = None
    url = store_url or default_store_url()
    try:
        store = digitlib.open_store(url)
    except Exception as error:  # noqa: BLE001 - any failure is shown in the page instead
        problems.append(f"model store {url!r} unavailable ({error}); using the shipped models")
    if store is not None:
        try:
            from digitlib.store import DrawingStore, ModelRegistry

            registry = ModelRegistry(store, SHIPPED_MODELS_DIR)
            drawings = DrawingStore(store)
        except Exception as error:  # noqa: BLE001
            problems.append(f"model registry unavailable ({error})")
    try:
        recognizer = digitlib.load_recognizer(store=store if registry is not None else None)
    except Exception as error:  # noqa: BLE001
        if store is None:
            raise
        problems.append(f"could not load the store's models ({error}); using the shipped models")
        recognizer = digitlib.load_recognizer()
    return Services(recognizer, store, registry, drawings, problems=problems)


@functools.cache
def shared_services(store_url: str | None = None) -> Services:
    """``build_services`` once per process and store URL."""
    return build_services(store_url)
