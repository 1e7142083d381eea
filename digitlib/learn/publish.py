"""Publishing accepted candidates: saving them as versions in the registry, promoting them
with conditional promotion, and loading what other learners promoted.

Promotion is conditional (``expected_current``): when another learner promoted first, the
promotion conflicts and the learner re-applies its update on top of the winner rather than
overwriting it. Every Keras version is saved with its inference file, so that readers
anywhere read it without TensorFlow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from digitlib.learn.report import UpdateMetrics
from digitlib.models.keras_tuning import is_keras

#: ``produced_by`` of the versions this module saves.
PRODUCED_BY = "online update"


def promote_all(
    registry,
    candidates: Mapping[str, object],
    live: Mapping[str, object],
    versions: Mapping[str, object],
    metrics: UpdateMetrics,
) -> dict[str, tuple[object, int] | None]:
    """Save and promote each candidate (name -> model) over its live version (``versions``:
    name -> int or "shipped"; ``live``: name -> the live reading model).

    Returns name -> (the model that reads with the new version, the version), or None when
    another learner promoted first. The models are saved and promoted side by side in threads
    (writing a ``.keras`` file and the store round trips wait on I/O and zlib more than on
    Python).
    """
    with tempfile.TemporaryDirectory(prefix="digitlib-learn-") as folder:

        def one(name: str):
            return save_and_promote(
                registry,
                name,
                candidates[name],
                live[name],
                versions.get(name),
                Path(folder),
                metrics,
            )

        if len(candidates) == 1:
            outcomes = [one(name) for name in candidates]
        else:
            with ThreadPoolExecutor(len(candidates)) as pool:
                outcomes = list(pool.map(one, candidates))
    return dict(zip(candidates, outcomes, strict=True))


def save_and_promote(
    registry, name: str, candidate, live, parent, folder: Path, metrics: UpdateMetrics
) -> tuple[object, int] | None:
    """Save ``candidate`` as a new version of ``name`` (with its inference file when it is a
    Keras model) in ``folder`` then the registry, and promote it over ``parent`` (the live
    version; "shipped" means the seeded shipped version). ``live`` is the live reading model:
    when it is an inference file, the candidate reads through its own new one.

    Returns (the model that reads with it, the new version), or None when another learner
    promoted first.
    """
    from digitlib.models import InferenceModel
    from digitlib.models import inference as lean
    from digitlib.store import PromotionConflict

    if not isinstance(parent, int):
        parent = shipped_version(registry, name)
    path = folder / f"{name}{registry.suffix(name)}"
    candidate.save(path)
    reading, inference = candidate, None
    if is_keras(candidate):
        # The feature part is the parent's when only the head moved.
        made = lean.export_inference(
            candidate.model,
            name=name,
            source_sha256=lean.sha256_of(path.read_bytes()),
            reuse=live
            if isinstance(live, InferenceModel)
            else inference_of(registry, name, parent),
        )
        inference = made.to_bytes()
        if isinstance(live, InferenceModel):
            reading = made
    manifest = registry.save_version(
        name,
        path,
        parent=parent,
        metrics=metrics.for_model(name),
        produced_by=PRODUCED_BY,
        note=f"learned {metrics.labels!r}",
        inference=inference,
    )
    try:
        registry.promote(name, manifest.version, expected_current=parent, note=PRODUCED_BY)
    except PromotionConflict:
        return None
    return reading, manifest.version


def inference_of(registry, name: str, version: int | None):
    """The inference model of a stored version (None when there is none to reuse)."""
    if version is None:
        return None
    try:
        return registry.load_inference(name, version=version).model
    except Exception:  # noqa: BLE001 - then the feature part is exported anew
        return None


def is_shipped(registry, name: str, version: int) -> bool:
    """Whether stored ``version`` of ``name`` is the shipped checkpoint."""
    return registry.manifest(name, version).produced_by == "shipped"


def shipped_version(registry, name: str) -> int | None:
    """The store version holding the shipped checkpoint the live model was loaded from.

    The shipped file is stored as the first version (``ModelRegistry.seed``) so that an
    update has a parent to roll back to. If another learner promoted since, the version
    returned is not current and the promotion conflicts, as it must.
    """
    seeded = registry.seed(name)
    if seeded is not None:
        return seeded.version
    current = registry.current(name)
    if current is not None and is_shipped(registry, name, current):
        return current
    shipped = [m.version for m in registry.history(name) if m.produced_by == "shipped"]
    return min(shipped) if shipped else None


def newer_versions(
    registry, names: tuple[str, ...], live: Mapping[str, object], versions: Mapping[str, object]
) -> dict[str, tuple[object, int]]:
    """The versions of ``names`` another learner promoted since the ``live`` models (at
    ``versions``) were loaded: name -> (loaded model, version); an inference file when the live
    model reads through one."""
    from digitlib.models import InferenceModel, load_model

    newer = {}
    for name in names:
        current = registry.current(name)
        if current is None or current == versions.get(name):
            continue
        if versions.get(name) == "shipped" and is_shipped(registry, name, current):
            continue  # the shipped checkpoint, stored as a version: nothing new to load
        if isinstance(live[name], InferenceModel):
            loaded = registry.load_inference(name)
        else:
            loaded = registry.load(name, lambda path, name=name: load_model(path, name))
        newer[name] = (loaded.model, loaded.version)
    return newer
