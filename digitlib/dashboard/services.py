"""The expensive parts every dashboard in one kernel process shares: recognizer, store, registry.

Voila gives each visitor a kernel of their own; the models and the store are shared between
visitors through the store (one visitor's promoted update is in the registry, and every other
dashboard notices the new versions before its next reading). Within a process the parts are built
once (``shared_services``), so a preheated kernel has them ready before the visitor arrives.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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
    #: The shipped checkpoints the registry falls back to (None: ``models/``).
    models_dir: Any = None
    #: Who may curate drawings and roll models back (``digitlib.dashboard.access``); operator
    #: actions are off when None.
    operator: Any = None
    #: Seconds between checks of the registry's current versions.
    sync_interval: float = 0.5
    _last_sync: float = 0.0
    _tried: dict[str, int] = field(default_factory=dict)
    _learner_lock: threading.Lock = field(default_factory=threading.Lock)
    _preparing: bool = False

    def get_learner(self) -> Any:
        """The online learner, built on first use (it is only needed when someone clicks Learn)."""
        with self._learner_lock:
            if self.learner is None:
                if self.store is None:
                    raise RuntimeError("learning needs a model store, and none could be opened")
                import digitlib

                self.learner = digitlib.OnlineLearner(
                    self.recognizer, self.store, shipped_dir=self.models_dir
                )
            return self.learner

    def prepare_learning(self) -> None:
        """Get the learner ready in the background (TensorFlow, the Keras checkpoints, the
        validation set), once, when a visitor starts typing a correction: by the time they
        press Learn most of a first learn's wait is over. A visitor who only draws never
        starts it."""
        with self._learner_lock:
            if self._preparing or self.store is None:
                return
            self._preparing = True

        def work() -> None:
            try:
                self.get_learner().prepare()
            except Exception:  # noqa: BLE001 - Learn itself reports what fails, in the page
                log.warning("preparing the learner failed", exc_info=True)

        # Not a daemon: a process that ends while TensorFlow is being imported in a daemon
        # thread aborts ("terminate called ..."); this way it ends after the preparation.
        threading.Thread(target=work, name="digitlib-prepare-learning").start()

    def sync_models(self, *, force: bool = False) -> list[str]:
        """Load the models whose current version in the registry is not the live one (another
        visitor promoted an update, or someone rolled back). Returns the names swapped.

        Cheap when nothing changed (a few small reads of the registry's pointers, at most once
        per ``sync_interval``).
        """
        if self.registry is None or self.recognizer is None:  # nothing loaded to swap
            return []
        now = time.monotonic()
        if not force and now - self._last_sync < self.sync_interval:
            return []
        self._last_sync = now
        from digitlib.store import StoreUnavailable

        try:
            return self._load_newer()
        except StoreUnavailable as error:
            # The store is down: read with the models this server has (the status line said
            # so at start, and a save says it waits here); try again at the next reading.
            log.info("models not synced, the store is unreachable: %s", error)
            return []

    def _load_newer(self) -> list[str]:
        from digitlib.config import STROKE_MODEL

        recognizer = self.recognizer
        reading = dict(recognizer.models)
        live = dict(recognizer.versions)
        if recognizer.stroke_model is not None:
            reading[STROKE_MODEL] = recognizer.stroke_model
            live[STROKE_MODEL] = recognizer.stroke_version
        stale = {}
        for name in reading:
            current = self.registry.current(name)
            if current is None or str(live.get(name)) == str(current):
                continue
            if self._tried.get(name) == current:
                continue  # it failed to load before and fell back; do not retry every reading
            stale[name] = current
            self._tried[name] = current
        if not stale:
            return []
        from digitlib.models import InferenceModel, load_model

        models, versions = {}, {}
        for name, version in stale.items():
            if isinstance(reading[name], InferenceModel):
                loaded = self.registry.load_inference(name, version=version)
            else:
                loaded = self.registry.load(
                    name, lambda path, name=name: load_model(path, name), version=version
                )
            models[name] = loaded.model
            versions[name] = loaded.version if loaded.version is not None else "shipped"
            recognizer.warnings.extend(loaded.warnings)
        if STROKE_MODEL in models:
            recognizer.set_stroke_model(models.pop(STROKE_MODEL), versions.pop(STROKE_MODEL))
        if models:
            recognizer.set_models(models, versions=versions)
        return sorted(stale)


def build_services(store_url: str | None = None, models_dir: str | None = None) -> Services:
    """Open the store, its registry and drawings, and the recognizer of the current versions.

    A store that cannot be opened is reported in ``problems``; the recognizer then falls back to the
    shipped models so the page still reads digits.
    """
    import digitlib
    from digitlib.config import SHIPPED_MODELS_DIR, default_runtime, default_store_url

    problems: list[str] = []
    runtime = default_runtime()
    store = registry = drawings = None
    shipped = Path(models_dir) if models_dir is not None else SHIPPED_MODELS_DIR
    url = store_url or default_store_url()
    try:
        store = digitlib.open_store(url)
    except Exception as error:  # noqa: BLE001 - any failure is shown in the page instead
        log.warning("store %s cannot be opened: %s", url, error)
        problems.append(
            "The store of drawings and models cannot be opened, so nothing can be saved or "
            "learned; drawings are read with the shipped models."
        )
    if store is not None:
        try:
            store.check_reachable()
        except Exception as error:  # noqa: BLE001 - said in the page; the store may come back
            log.warning("store %s unreachable at start: %s", url, error)
            problems.append(
                "The store of drawings and models cannot be reached right now: drawings are "
                "read with the models kept on this server, and saved drawings wait here until "
                "it is back."
            )
    if store is not None:
        try:
            from digitlib.store import DrawingStore, ModelRegistry

            registry = ModelRegistry(store, shipped)
            drawings = DrawingStore(store)
        except Exception as error:  # noqa: BLE001
            problems.append(f"model registry unavailable ({error})")
    try:
        recognizer = digitlib.load_recognizer(
            shipped, store=store if registry is not None else None, runtime=runtime
        )
    except Exception as error:  # noqa: BLE001
        if store is None:
            raise
        problems.append(f"could not load the store's models ({error}); using the shipped models")
        recognizer = digitlib.load_recognizer(shipped, runtime=runtime)
    warm_up(recognizer)
    from digitlib.config import operator_lockout_dir, operator_secret
    from digitlib.dashboard.access import OperatorGate

    return Services(
        recognizer,
        store,
        registry,
        drawings,
        problems=problems,
        models_dir=shipped,
        operator=OperatorGate(operator_secret(), folder=operator_lockout_dir(url)),
    )


def warm_up(recognizer: Any) -> None:
    """Read a small drawing once, so that the visitor's first stroke does not pay for the lazy
    imports and first calls of the whole pipeline (a preheated kernel does this before the
    visitor arrives)."""
    import numpy as np

    from digitlib.dashboard.render import render_drawing

    strokes = [
        np.array([[30, 20], [30, 80]], np.float32),
        np.array([[60, 20], [90, 20], [70, 80]], np.float32),
    ]
    recognizer.recognize(render_drawing(strokes, [8.0, 8.0], (100, 120)), strokes=strokes)


@functools.cache
def shared_services(store_url: str | None = None, models_dir: str | None = None) -> Services:
    """``build_services`` once per process, store URL and models folder."""
    return build_services(store_url, models_dir)
