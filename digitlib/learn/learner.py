"""``OnlineLearner``: learns from people's corrections, guarded so that bad labels cannot ruin
the models (the steps of one update: see ``digitlib.learn``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from digitlib.learn import corrections, publish, scoring
from digitlib.learn.candidates import Candidates, training_batch
from digitlib.learn.config import LearnConfig, spec_key
from digitlib.learn.corrections import Suspicious
from digitlib.learn.datasets import replay_pool, share_cache, validation_set
from digitlib.learn.labels import label_text, parse_labels
from digitlib.learn.report import TrainFigures, Update, UpdateMetrics
from digitlib.store.drawings import check_session_id


class OnlineLearner:
    """Learns from corrections into ``recognizer``'s models, with versions kept in ``store``.

    Parameters
    ----------
    recognizer : digitlib.recognize.Recognizer
        Its models are the live ones; promoted updates are swapped in with ``set_models``.
    store : digitlib.store.Store
        Where versions (``ModelRegistry``), the review queue and the update log
        (``DrawingStore``) and the corrections kept for replay live.
    config : LearnConfig
    shipped_dir : folder of the shipped checkpoints (the registry's fallback); default
        ``digitlib.config.SHIPPED_MODELS_DIR``.
    """

    def __init__(
        self,
        recognizer,
        store,
        config: LearnConfig = LearnConfig(),
        shipped_dir: Path | None = None,
    ) -> None:
        from digitlib.store import DrawingStore, ModelRegistry

        if not isinstance(config, LearnConfig):
            raise TypeError(f"config must be a LearnConfig, got {type(config).__name__}")
        self.recognizer = recognizer
        self.store = store
        self.config = config
        if shipped_dir is None:
            from digitlib.config import SHIPPED_MODELS_DIR

            shipped_dir = SHIPPED_MODELS_DIR
        self.registry = ModelRegistry(store, shipped_dir)
        self.drawings = DrawingStore(store)
        trainable = config.models if config.models is not None else tuple(recognizer.models)
        unknown = set(trainable) - set(recognizer.models)
        if unknown:
            raise ValueError(
                f"LearnConfig.models names models the recognizer does not have: "
                f"{sorted(unknown)}; it has {sorted(recognizer.models)}"
            )
        self.trainable = tuple(trainable)
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(config.seed)
        self._candidates = Candidates(config, self.trainable, self.registry)
        #: name -> (live model, its float (N, 11) validation probabilities)
        self._probabilities: dict[str, tuple[object, np.ndarray]] = {}
        #: name -> (feature part fingerprint, validation feature rows): see ``scoring``
        self._features: dict[str, tuple[str, np.ndarray]] = {}
        self._prepared = False
        self._promotions_since_refresh = 0
        #: lineage -> reference accuracies: see ``scoring.reference_accuracy``
        self._reference: dict[tuple, dict] = {}
        self._corrections: list[tuple[np.ndarray, int]] = corrections.load(store)

    # --- public ---------------------------------------------------------------------------------

    def learn(
        self,
        image: np.ndarray | bytes,
        labels: str | Sequence,
        session_id: str | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> Update:
        """Learn the reading ``labels`` of the drawing ``image``.

        ``image``: a canvas as ``preprocess.ink_from_image`` takes it (uint8 (H, W), (H, W, 3) or
        (H, W, 4), or PNG/JPEG bytes). ``labels``: one character per segment ("42"; "?" marks a
        segment that is not a digit), or a list with one label per segment. ``progress``: see
        ``prepare`` (called while a first learn gets ready). Returns an ``Update``; suspicious
        drawings are held for review and not trained (``Update.held``).
        """
        return self._learn(image, labels, session_id, trusted=False, progress=progress)

    def accept(
        self, held_id: str, labels: str | Sequence | None = None, session_id: str | None = None
    ) -> Update:
        """Accept a held drawing from the review queue (optionally with corrected ``labels``)
        and learn from it without the suspicion checks.

        Raises ``ValueError`` (and leaves the drawing on the queue) when it cannot be learned as
        labeled: no ink, a label that is no digit or "?", or not one label per segment.
        """
        held = self.drawings.get_held(held_id)
        reading = list(held.labels) if labels is None else labels
        try:
            self._screen(self._segments(held.png), parse_labels(reading), trusted=True)
        except Suspicious as problem:
            raise ValueError(
                f"cannot learn held drawing {held_id} as labeled: {problem}; accept it with "
                "one label per segment"
            ) from None
        item = self.drawings.accept(held_id, labels=labels)
        return self._learn(
            item.png, list(item.labels), session_id or item.record.session_id, trusted=True
        )

    def reject(self, held_id: str) -> None:
        """Reject a held drawing: it is never trained."""
        self.drawings.reject(held_id)

    def prepare(self, progress: Callable[[str, float], None] | None = None) -> None:
        """Do now what every ``learn`` needs and no drawing changes, so that the first one is
        quick: the validation set and replay pool (shared through the store's cache), the live
        models' validation scores, and the Keras checkpoints behind the live inference files
        with their traced training steps (this imports TensorFlow).

        ``progress(step, fraction)`` is called before each step (``fraction`` in [0, 1)) and
        with 1.0 at the end. Idempotent and thread-safe; ``learn`` calls it first.
        """
        report = progress or (lambda step, fraction: None)
        with self._lock:
            if self._prepared:
                report("ready", 1.0)
                return
            config = self.config
            report("loading the validation drawings", 0.0)
            share_cache(self.store, config.validation, "validation")
            validation_set(config.validation)
            share_cache(self.store, config.validation, "validation")
            report("loading earlier examples to replay", 0.15)
            if config.replay_size:
                share_cache(self.store, config.replay, "replay")
                replay_pool(config.replay)
                share_cache(self.store, config.replay, "replay")
            report("scoring the live models", 0.3)
            for name in self.recognizer.models:
                self._live_probabilities(name)
            for index, name in enumerate(self.trainable):
                report(f"loading the trainable {name}", 0.45 + 0.5 * index / len(self.trainable))
                self._candidates.warm(
                    name, self.recognizer.models[name], self._versions().get(name)
                )
            self._prepared = True
        report("ready", 1.0)

    # --- one update -----------------------------------------------------------------------------

    def _learn(self, image, labels, session_id, *, trusted: bool, progress=None) -> Update:

        start = time.perf_counter()
        self.prepare(progress)
        parsed = parse_labels(labels)
        check_session_id(session_id)
        with self._lock:
            inputs = self._segments(image)
            update = Update(
                False, "", session_id=session_id, labels=[p for p in parsed if p is not None]
            )
            try:
                self._screen(inputs, parsed, trusted)
            except Suspicious as suspicion:
                if trusted:
                    raise ValueError(f"cannot learn this drawing: {suspicion}") from None
                update.reason = f"{suspicion}: held for review"
                update.held = [
                    self._hold(image, parsed, inputs, labels, str(suspicion), session_id)
                ]
                update.versions = dict(self._versions())
                update.seconds = time.perf_counter() - start
                self._record(update)
                return update
            self._train_gate_promote(inputs, np.array(parsed, np.int64), update)
            update.seconds = time.perf_counter() - start
            self._record(update)
            return update

    def _segments(self, image) -> np.ndarray:
        """The model inputs (K, 28, 28) float32 of the drawing's segments, cut as recognition
        cuts them (the whole-drawing input recognize() adds for several segments is left out)."""
        from digitlib.recognize import prepare

        segmentation = getattr(self.recognizer, "segmentation", None) or _default_segmentation()
        prepared = prepare(image, segmentation)
        if not prepared.boxes:
            return np.zeros((0, 28, 28), np.float32)
        return np.stack(prepared.inputs[: len(prepared.boxes)]).astype(np.float32)

    def _screen(self, inputs: np.ndarray, parsed: list, trusted: bool) -> None:
        """Raise ``Suspicious`` when the drawing goes to the review queue
        (``corrections.screen``; a ``trusted`` one skips the models' agreement check)."""
        models = None if trusted else self.recognizer.models
        corrections.screen(inputs, parsed, models, self.config.suspicion_confidence)

    def _train_gate_promote(self, inputs: np.ndarray, labels: np.ndarray, update: Update) -> None:
        """Train candidates on the drawing's segments (``inputs`` float32 (K, 28, 28), ``labels``
        int64 (K,)), gate them, and promote and install the accepted ones; a model whose
        promotion conflicts is trained again on top of the winner (``max_attempts`` in all).
        Fills ``update``."""
        rng = self._rng
        metrics = update.metrics
        clock = time.perf_counter()
        images, targets, replayed = training_batch(
            inputs, labels, self.config, self._corrections, rng
        )
        metrics.train = TrainFigures(len(images), len(inputs), replayed)
        metrics.add_time("batch", time.perf_counter() - clock)
        pending = list(self.trainable)
        done: list[str] = []
        kept: dict[str, str] = {}
        for attempt in range(1, self.config.max_attempts + 1):
            update.attempts = attempt
            self._candidates.next_round()
            clock = time.perf_counter()
            self._sync_with_registry()
            candidates = {name: self._fine_tuned(name, images, targets, rng) for name in pending}
            metrics.add_time("train", time.perf_counter() - clock)
            clock = time.perf_counter()
            scored = self._gate(candidates, inputs, labels, metrics, rng)
            metrics.add_time("gate", time.perf_counter() - clock)
            for name, candidate in candidates.items():
                if name not in scored.accepted:
                    self._candidates.release(name, candidate)
            kept.update(scored.reasons)
            if not scored.accepted:
                break
            clock = time.perf_counter()
            promoted, conflicted = self._promote(dict(scored.accepted), metrics)
            metrics.add_time("promote", time.perf_counter() - clock)
            clock = time.perf_counter()
            self._install(promoted, scored)
            metrics.add_time("install", time.perf_counter() - clock)
            done += list(promoted)
            if not conflicted:
                break
            pending = conflicted
        else:
            kept.update(
                {
                    name: f"other learners kept promoting first ({self.config.max_attempts} "
                    f"attempts)"
                    for name in pending
                }
            )
        update.promoted = bool(done)
        update.versions = dict(self._versions())
        if done:
            self._corrections.extend(corrections.remember(self.store, inputs, labels))
        update.reason = _summary(done, kept, update.attempts)
        update.promoted_models = list(done)
        update.kept = {name: reason for name, reason in kept.items() if name not in done}

    def _fine_tuned(self, name: str, images: np.ndarray, labels: np.ndarray, rng):
        """A fine-tuned copy of the live model ``name`` (``Candidates.fine_tuned``)."""
        return self._candidates.fine_tuned(
            name, self.recognizer.models[name], self._versions().get(name), images, labels, rng
        )

    # --- scoring ---------------------------------------------------------------------------------

    def _live_probabilities(self, name: str) -> np.ndarray:
        """The live model ``name``'s float (N, 11) probabilities on the validation set, kept
        while it stays live."""
        live = self.recognizer.models[name]
        cached = self._probabilities.get(name)
        if cached is None or cached[0] is not live:
            images = validation_set(self.config.validation).images
            cached = (live, live.predict_proba(images))
            self._probabilities[name] = cached
        return cached[1]

    def _gate(
        self, candidates: dict, inputs, labels, metrics: UpdateMetrics, rng: np.random.Generator
    ) -> scoring.Scored:
        """Score the candidates against the live models, and write the gate's figures into
        ``metrics``."""
        config = self.config
        scored = scoring.score(
            candidates,
            live=dict(self.recognizer.models),
            before={name: self._live_probabilities(name) for name in self.recognizer.models},
            weights=scoring.ensemble_weights(self.recognizer),
            validation=validation_set(config.validation),
            inputs=inputs,
            labels=labels,
            reference=self._reference_accuracy,
            config=config,
            rng=rng,
            trainer_of=self._candidates.trainer,
            features=self._features,
        )
        metrics.labels = label_text(labels)
        metrics.reference = dict(scored.reference)
        metrics.reference_spec = spec_key(config.validation)
        metrics.validation = dict(scored.validation)
        metrics.segments = dict(scored.segments)
        metrics.gate = scored.figures
        return scored

    def _reference_accuracy(self, current: dict[str, dict]) -> dict[str, dict]:
        """Validation accuracies of each model's lineage before its first online update
        (``scoring.reference_accuracy``)."""
        return scoring.reference_accuracy(
            current,
            self._versions(),
            self.trainable,
            spec_key(self.config.validation),
            self.registry,
            self._reference,
        )

    # --- registry --------------------------------------------------------------------------------

    def _versions(self) -> dict[str, str]:
        versions = getattr(self.recognizer, "versions", None) or {}
        return {name: versions.get(name, "shipped") for name in self.recognizer.models}

    def _sync_with_registry(self) -> None:
        """Load versions another learner promoted since this recognizer loaded its models."""
        newer = publish.newer_versions(
            self.registry, self.trainable, self.recognizer.models, self._versions()
        )
        if newer:
            self._set_live(
                {name: model for name, (model, _) in newer.items()},
                {name: version for name, (_, version) in newer.items()},
            )

    def _promote(self, candidates: dict, metrics: UpdateMetrics) -> tuple[dict, list[str]]:
        """Save and promote each candidate; returns ({name: (model, version)}, conflicted)."""
        outcomes = publish.promote_all(
            self.registry, candidates, self.recognizer.models, self._versions(), metrics
        )
        promoted, conflicted = {}, []
        for name, outcome in outcomes.items():
            if outcome is None:
                conflicted.append(name)
                self._candidates.release(name, candidates[name])
            else:
                reading, version = outcome
                promoted[name] = (reading, version)
                self._candidates.adopt(name, reading, candidates[name])
        return promoted, conflicted

    def _install(self, promoted: dict, scored: scoring.Scored) -> None:
        """Swap the ``promoted`` models (name -> (model, version)) in, and keep their gate
        figures from ``scored`` as their live validation probabilities."""
        if not promoted:
            return
        old = {name: self.recognizer.models[name] for name in promoted}
        self._set_live(
            {name: model for name, (model, _) in promoted.items()},
            {name: version for name, (_, version) in promoted.items()},
        )
        self._promotions_since_refresh += 1
        refresh = self._promotions_since_refresh >= self.config.refresh_every
        for name, (model, _) in promoted.items():
            self._candidates.release(name, old[name], rest=True)
            # The gate's figures: exact, or exact on the scored rows and the live model's
            # elsewhere (then refreshed every ``refresh_every`` promotions).
            kept = scored.live_probabilities(name, refresh)
            if kept is not None:
                self._probabilities[name] = (model, kept)
        if refresh:
            self._promotions_since_refresh = 0

    def _set_live(self, models: dict, versions: dict) -> None:
        self.recognizer.set_models(models, versions=versions)

    # --- store: review queue, history, corrections ---------------------------------------------

    def _hold(
        self, image, parsed: list, inputs: np.ndarray, given, reason: str, session_id: str | None
    ) -> str:
        ensemble = None
        if len(inputs):
            weights = scoring.ensemble_weights(self.recognizer)
            ensemble = sum(
                weights[name] * model.predict_proba(inputs)
                for name, model in self.recognizer.models.items()
            )
        return corrections.hold(
            self.drawings, image, parsed, inputs, given, reason, session_id, ensemble
        )

    def _record(self, update: Update) -> None:
        self.drawings.record_update(update.to_json())


def _default_segmentation():
    from digitlib.image.segment import DEFAULT_PARAMS

    return DEFAULT_PARAMS


def _summary(done: list[str], kept: dict[str, str], attempts: int) -> str:
    """The ``Update.reason`` of a trained update."""
    if not done:
        unique = list(dict.fromkeys(kept.values()))
        return "; ".join(unique) + ": the live models stay"
    text = "promoted " + ", ".join(done)
    if attempts > 1:
        text += f" (re-applied on top of another learner's update, {attempts} attempts)"
    if kept:
        text += "; kept " + "; ".join(f"{name} ({reason})" for name, reason in kept.items())
    return text
