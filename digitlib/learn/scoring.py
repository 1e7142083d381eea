"""Scoring candidates for the gate: the probability tables ``gate.judge`` decides on, and the
``Scored`` result the learner promotes and installs from.

Scoring is the cheap part of an update because most of it is skipped: a candidate whose head
alone was trained is scored exactly from cached features, a NumPy network directly, and any
other only on the validation images a live model is unsure of plus a random control sample of
the sure ones (the whole set when a control image changes its reading).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from digitlib.learn import gate
from digitlib.learn.config import LearnConfig
from digitlib.learn.datasets import LabeledImages
from digitlib.learn.report import GateFigures, SegmentFigures, ValidationFigures
from digitlib.models.keras_tuning import KerasHeadTrainer


@dataclass(frozen=True)
class Scored:
    """What scoring the candidates of one update attempt found.

    Its mappings are read-only views.

    accepted : name -> candidate model, the ones that may be promoted.
    reasons : name -> why the candidate keeps its live model (the others).
    probabilities : name -> float (N, 11), every candidate's probabilities on the N validation
        images (exact, or the candidate's on the scored rows and the live model's elsewhere);
        kept as the live figures of a promoted model, so the next update need not score it.
    exact : the names whose ``probabilities`` are exact on every row.
    reference : "ensemble" and each candidate -> (group -> accuracy) of its lineage before
        online learning.
    validation, segments : the gate's figures (``Verdict.validation``, ``Verdict.segments``).
    figures : how much was scored (``GateFigures``).
    """

    accepted: Mapping[str, object]
    reasons: Mapping[str, str]
    probabilities: Mapping[str, np.ndarray]
    exact: frozenset[str] = frozenset()
    reference: Mapping[str, dict] = field(default_factory=dict)
    validation: Mapping[str, ValidationFigures] = field(default_factory=dict)
    segments: Mapping[str, SegmentFigures] = field(default_factory=dict)
    figures: GateFigures | None = None

    def live_probabilities(self, name: str, refresh: bool) -> np.ndarray | None:
        """The validation probabilities to keep for ``name`` once promoted: the scored ones,
        unless they are partly the old live model's and a ``refresh`` is due (then None: the
        new live model is scored anew)."""
        if name in self.probabilities and (not refresh or name in self.exact):
            return self.probabilities[name]
        return None


def ensemble_weights(recognizer) -> dict[str, float]:
    """The recognizer's ensemble weights (model name -> float), normalized to sum to 1 over its
    models: its own ``weights``, its ensemble's, or an ``Ensemble``'s defaults."""
    weights = getattr(recognizer, "weights", None)
    ensemble = getattr(recognizer, "ensemble", None)
    if weights is None and ensemble is not None:
        weights = getattr(ensemble, "weights", None)
    if not weights:
        from digitlib.models.ensemble import Ensemble

        weights = Ensemble(recognizer.models).weights
    total = sum(weights[name] for name in recognizer.models)
    return {name: weights[name] / total for name in recognizer.models}


def scored_rows(
    before: Mapping[str, np.ndarray],
    truth: np.ndarray,
    config: LearnConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Which validation rows to score candidates on: (rows, control), int64 sorted indices.

    ``before``: name -> the live models' float (N, 11) probabilities; ``truth`` int (N,). Only
    images some live model is unsure of (margin below ``config.gate_margin``) or wrong on can
    change their reading under a small update; ``control`` is a random sample of
    ``config.gate_control`` of the sure ones that checks that, and is part of ``rows``. With
    ``config.exact_gate``: every row, no control.
    """
    if config.exact_gate:
        return np.arange(len(truth)), np.zeros(0, np.int64)
    risky = np.zeros(len(truth), bool)
    for probabilities in before.values():
        top = np.sort(probabilities, axis=1)
        risky |= (top[:, -1] - top[:, -2]) < config.gate_margin
        risky |= np.argmax(probabilities, axis=1) != truth
    sure = np.flatnonzero(~risky)
    control = np.sort(rng.choice(sure, min(config.gate_control, len(sure)), replace=False))
    rows = np.sort(np.concatenate([np.flatnonzero(risky), control]))
    return rows, control


def screened_probabilities(
    candidate, before: np.ndarray, images: np.ndarray, rows: np.ndarray, control: np.ndarray
) -> tuple[np.ndarray, bool]:
    """A candidate's float (N, 11) probabilities on the validation ``images`` (N, 28, 28),
    scored on ``rows`` only and the live model's ``before`` elsewhere; on every row when a
    ``control`` image changed its reading (the screening's assumption failed). Returns
    (probabilities, exact)."""
    full = before.copy()
    full[rows] = candidate.predict_proba(images[rows])
    exact = len(rows) == len(images)
    moved = np.argmax(full[control], axis=1) != np.argmax(before[control], axis=1)
    if moved.any():
        return candidate.predict_proba(images), True
    return full, exact


def exact_probabilities(
    candidate, trainer, reading, images: np.ndarray, features: dict, name: str
) -> np.ndarray | None:
    """The candidate's float (N, 11) probabilities on the whole validation set ``images``
    (N, 28, 28) when they are cheap, else None.

    Cheap for a head-trained Keras model (``trainer`` a ``KerasHeadTrainer``): its head on the
    features, computed once per feature part and kept in ``features`` (name -> (fingerprint,
    rows)) — as readers compute them (``reading``, the live inference file) when it has the
    same feature part, else the Keras backbone's. Cheap for a NumPy network: directly.
    """
    from digitlib.models import NumpyFNN

    if isinstance(trainer, KerasHeadTrainer):
        fingerprint = trainer.fingerprint()
        cached = features.get(name)
        if cached is None or cached[0] != fingerprint:
            same = getattr(reading, "features_fingerprint", None) == fingerprint
            rows = reading.feature_rows(images) if same else trainer.feature_rows(images)
            cached = (fingerprint, rows)
            features[name] = cached
        return trainer.probabilities(cached[1])
    if isinstance(candidate, NumpyFNN):
        return candidate.predict_proba(images)
    return None


def reading_probabilities(candidate, trainer, reading, images: np.ndarray) -> np.ndarray:
    """A candidate's float (N, 11) probabilities on ``images`` (N, 28, 28) as readers will
    compute them: its new head on the live inference file's (``reading``) features when only
    the head was trained, else the model itself."""
    if isinstance(trainer, KerasHeadTrainer) and hasattr(reading, "feature_rows"):
        if reading.features_fingerprint == trainer.fingerprint():
            return trainer.probabilities(reading.feature_rows(images))
    return candidate.predict_proba(images)


def live_accuracies(
    names: list[str],
    before: Mapping[str, np.ndarray],
    truth: np.ndarray,
    sources: np.ndarray,
    weights: Mapping[str, float],
) -> dict[str, dict[str, float]]:
    """The live accuracies (group -> accuracy) of each of ``names`` and of the ensemble
    ("ensemble", weighted by ``weights`` over every model of ``before``)."""
    groups = gate.group_masks(sources)
    current = {name: gate.accuracies(before[name], truth, groups) for name in names}
    current["ensemble"] = gate.accuracies(
        sum(weights[name] * before[name] for name in before), truth, groups
    )
    return current


def score(
    candidates: Mapping[str, object],
    *,
    live: Mapping[str, object],
    before: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    validation: LabeledImages,
    inputs: np.ndarray,
    labels: np.ndarray,
    reference: Callable[[dict], dict],
    config: LearnConfig,
    rng: np.random.Generator,
    trainer_of: Callable[[object], object] = lambda candidate: None,
    features: dict | None = None,
) -> Scored:
    """Score ``candidates`` (name -> fine-tuned model) against the ``live`` models (name ->
    model, every model of the recognizer) and judge them (``gate.judge``).

    ``before``: name -> the live models' float (N, 11) probabilities on ``validation`` (N
    images); ``weights``: the ensemble's, summing to 1; ``inputs`` float32 (K, 28, 28) and
    ``labels`` int64 (K,): the drawing's segments; ``reference(current)``: the lineage
    accuracies for the live ones ``current`` (``live_accuracies``); ``trainer_of(candidate)``:
    its trainer, or None; ``features``: the cache ``exact_probabilities`` fills.
    """
    features = {} if features is None else features
    truth = validation.labels
    names = list(live)
    rows, control = scored_rows(before, truth, config, rng)
    after, exact = {}, {}
    for name in names:
        if name not in candidates:
            after[name] = before[name]
            continue
        candidate = candidates[name]
        trainer = trainer_of(candidate)
        full = exact_probabilities(
            candidate, trainer, live[name], validation.images, features, name
        )
        if full is not None:
            after[name], exact[name] = full, True
            continue
        after[name], exact[name] = screened_probabilities(
            candidate, before[name], validation.images, rows, control
        )
    current = live_accuracies(list(candidates), before, truth, validation.sources, weights)
    lineage = reference(current)
    segments_before = {name: live[name].predict_proba(inputs) for name in names}
    segments_after = {
        name: reading_probabilities(
            candidates[name], trainer_of(candidates[name]), live[name], inputs
        )
        if name in candidates
        else segments_before[name]
        for name in names
    }
    verdict = gate.judge(
        list(candidates),
        before,
        after,
        truth,
        validation.sources,
        weights,
        lineage,
        segments_before,
        segments_after,
        labels,
        config.bounds,
    )
    return Scored(
        accepted=MappingProxyType({name: candidates[name] for name in verdict.accepted}),
        reasons=MappingProxyType(dict(verdict.reasons)),
        probabilities=MappingProxyType({name: after[name] for name in candidates}),
        exact=frozenset(name for name in candidates if exact.get(name)),
        reference=MappingProxyType(dict(lineage)),
        validation=MappingProxyType(dict(verdict.validation)),
        segments=MappingProxyType(dict(verdict.segments)),
        figures=GateFigures(int(len(rows)), int(len(truth)), all(exact.values()), verdict.passed),
    )


def reference_accuracy(
    current: Mapping[str, dict],
    versions: Mapping[str, object],
    trainable: tuple[str, ...],
    spec: str,
    registry,
    cache: dict,
) -> dict[str, dict]:
    """Validation accuracies (group -> accuracy) of each model's lineage, and the ensemble's,
    before its first online update.

    ``current``: "ensemble" and model names -> the live accuracies; ``versions``: name -> live
    version (an int, or "shipped"); ``spec``: the validation set's ``spec_key``. Read from the
    live version's manifest in ``registry`` (written by an earlier update with the same
    validation set); otherwise the live model is the start of the lineage and its accuracy is
    the reference. ``cache`` (lineage -> accuracies) keeps each lineage's once found, so that a
    lineage keeps its reference across updates.
    """

    def lineage(key: str) -> tuple:
        return (
            (key, versions.get(key))
            if key != "ensemble"
            else (key, tuple(sorted(versions.items())))
        )

    for key, value in current.items():
        if lineage(key) in cache:
            continue
        stored = None
        names = [key] if key != "ensemble" else list(trainable)
        for name in names:
            version = versions.get(name)
            if not isinstance(version, int):
                continue
            try:
                manifest = registry.manifest(name, version)
            except Exception:  # a missing manifest means: no stored reference
                continue
            saved = manifest.metrics.get("reference", {})
            if saved.get("spec") == spec and isinstance(saved.get(key), dict):
                stored = {group: float(value) for group, value in saved[key].items()}
                break
        cache[lineage(key)] = stored if stored is not None else value
    return {key: cache[lineage(key)] for key in current}
