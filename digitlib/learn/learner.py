"""``OnlineLearner``: learns from people's corrections, guarded so that bad labels cannot ruin
the models (the steps of one update: see ``digitlib.learn``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.config import STROKE_MODEL
from digitlib.learn import corrections, publish, scoring
from digitlib.learn.candidates import Candidates, stroke_training_batch, training_batch
from digitlib.learn.config import LearnConfig, spec_key
from digitlib.learn.corrections import Suspicious
from digitlib.learn.datasets import (
    LabeledImages,
    replay_pool,
    share_cache,
    stroke_replay_pool,
    stroke_validation_set,
    validation_set,
)
from digitlib.learn.labels import label_text, parse_labels
from digitlib.learn.report import TrainFigures, Update, UpdateMetrics
from digitlib.store.drawings import check_session_id


@dataclass(frozen=True)
class Track:
    """The models of one kind of input that an update trains together: the image models on
    their 28x28 inputs, or the stroke model on a segment's encoded strokes.

    names : the trainable models of the track.
    models : () -> name -> live model, every model of the track (the gate weighs them all).
    versions : () -> name -> live version (an int, or "shipped").
    validation : () -> the gate's ``LabeledImages`` for these models' inputs.
    spec : names that validation set in manifests (``spec_key``).
    weights : () -> name -> the track's ensemble weight (summing to 1).
    set_live : (models, versions) -> None, swaps promoted models into the recognizer.
    """

    names: tuple[str, ...]
    models: Callable[[], dict]
    versions: Callable[[], dict]
    validation: Callable[[], LabeledImages]
    spec: str
    weights: Callable[[], dict]
    set_live: Callable[[dict, dict], None]


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
        known = list(recognizer.models)
        if getattr(recognizer, "stroke_model", None) is not None:
            known.append(STROKE_MODEL)
        trainable = config.models if config.models is not None else tuple(known)
        unknown = set(trainable) - set(known)
        if unknown:
            raise ValueError(
                f"LearnConfig.models names models the recognizer does not have: "
                f"{sorted(unknown)}; it has {sorted(known)}"
            )
        #: The models that learn: the image models named, and "strokes" for the stroke model.
        self.trainable = tuple(trainable)
        self._images = Track(
            names=tuple(name for name in trainable if name != STROKE_MODEL),
            models=lambda: dict(self.recognizer.models),
            versions=self._versions,
            validation=lambda: validation_set(self.config.validation),
            spec=spec_key(config.validation),
            weights=lambda: scoring.ensemble_weights(self.recognizer),
            set_live=self._set_live,
        )
        self._strokes = Track(
            names=(STROKE_MODEL,) if STROKE_MODEL in trainable else (),
            models=lambda: {STROKE_MODEL: self.recognizer.stroke_model},
            versions=self._stroke_versions,
            validation=lambda: stroke_validation_set(self.config.strokes),
            spec=spec_key(config.strokes),
            weights=lambda: {STROKE_MODEL: 1.0},
            set_live=self._set_stroke_model,
        )
        #: Earlier learned corrections' strokes, (encoded float32 (64, 6), class) pairs, for
        #: the stroke model's replay (kept while the learner lives; the store keeps the
        #: drawings with their strokes for retraining).
        self._stroke_corrections: list[tuple[np.ndarray, int]] = []
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
        strokes: Sequence | None = None,
    ) -> Update:
        """Learn the reading ``labels`` of the drawing ``image``.

        ``image``: a canvas as ``preprocess.ink_from_image`` takes it (uint8 (H, W), (H, W, 3) or
        (H, W, 4), or PNG/JPEG bytes). ``labels``: one character per segment ("42"; "?" marks a
        segment that is not a digit), or a list with one label per segment. ``progress``: see
        ``prepare`` (called while a first learn gets ready). ``strokes``: the drawing's strokes
        as ``Recognizer.recognize`` takes them; with them the stroke model learns too (each
        segment from the strokes that make it). Returns an ``Update``; suspicious drawings are
        held for review and not trained (``Update.held``). Raises ``ValueError`` for strokes
        that are not such arrays or leave the image (nothing is learned or saved then).
        """
        return self._learn(
            image, labels, session_id, trusted=False, progress=progress, strokes=strokes
        )

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
            tracks = [self._images] + ([self._strokes] if self._learns_strokes() else [])
            if self._learns_strokes():
                report("loading the stroke drawings", 0.2)
                if config.replay_size:
                    stroke_replay_pool(config.strokes)
            report("scoring the live models", 0.3)
            for track in tracks:
                for name in track.models():
                    self._live_probabilities(track, name)
            names = [(track, name) for track in tracks for name in track.names]
            for index, (track, name) in enumerate(names):
                report(f"loading the trainable {name}", 0.45 + 0.5 * index / len(names))
                self._candidates.warm(name, track.models()[name], track.versions().get(name))
            self._prepared = True
        report("ready", 1.0)

    # --- one update -----------------------------------------------------------------------------

    def _learn(
        self, image, labels, session_id, *, trusted: bool, progress=None, strokes=None
    ) -> Update:
        start = time.perf_counter()
        parsed = parse_labels(labels)
        check_session_id(session_id)
        inputs, drawn = self._cut(image, strokes)
        self.prepare(progress)
        with self._lock:
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
                update.versions = self._all_versions()
                update.seconds = time.perf_counter() - start
                self._record(update)
                return update
            targets = np.array(parsed, np.int64)
            done, kept, attempts = self._learn_images(inputs, targets, update.metrics)
            if drawn is not None and self._learns_strokes():
                update.stroke_metrics = UpdateMetrics()
                more, also_kept, stroke_attempts = self._learn_strokes(
                    drawn, targets, update.stroke_metrics
                )
                done, attempts = done + more, max(attempts, stroke_attempts)
                kept.update(also_kept)
            update.attempts = attempts
            update.promoted = bool(done)
            update.versions = self._all_versions()
            update.reason = _summary(done, kept, attempts)
            update.promoted_models = list(done)
            update.kept = {name: reason for name, reason in kept.items() if name not in done}
            update.seconds = time.perf_counter() - start
            self._record(update)
            return update

    def _cut(self, image, strokes) -> tuple[np.ndarray, list[list[np.ndarray]] | None]:
        """The drawing's segments as model inputs, float32 (K, 28, 28), cut as recognition cuts
        them (the whole-drawing input recognize() adds for several segments is left out), and,
        when ``strokes`` are given, each segment's strokes in drawing order (float64 (n, 2)
        arrays; an empty list for a segment no stroke belongs to), else None."""
        from digitlib.drawings import strokes as pen
        from digitlib.recognize import prepare

        segmentation = getattr(self.recognizer, "segmentation", None) or _default_segmentation()
        prepared = prepare(image, segmentation)
        inputs = (
            np.stack(prepared.inputs[: len(prepared.boxes)]).astype(np.float32)
            if prepared.boxes
            else np.zeros((0, 28, 28), np.float32)
        )
        if strokes is None:
            return inputs, None
        checked = pen.check_strokes(strokes, prepared.size)
        owned = pen.assign(checked, prepared.boxes)
        return inputs, [[checked[index] for index in indices] for indices in owned]

    def _segments(self, image) -> np.ndarray:
        """The model inputs (K, 28, 28) float32 of the drawing's segments (``_cut``)."""
        return self._cut(image, None)[0]

    def _screen(self, inputs: np.ndarray, parsed: list, trusted: bool) -> None:
        """Raise ``Suspicious`` when the drawing goes to the review queue
        (``corrections.screen``; a ``trusted`` one skips the models' agreement check)."""
        models = None if trusted else self.recognizer.models
        corrections.screen(inputs, parsed, models, self.config.suspicion_confidence)

    def _learn_images(
        self, inputs: np.ndarray, labels: np.ndarray, metrics: UpdateMetrics
    ) -> tuple[list[str], dict[str, str], int]:
        """The image models learn the drawing's segments (``inputs`` float32 (K, 28, 28),
        ``labels`` int64 (K,)); a learned correction is kept for replay. Returns
        ``_train_gate_promote``'s (promoted, kept, attempts)."""
        if not self._images.names:
            return [], {}, 0
        clock = time.perf_counter()
        batch = training_batch(inputs, labels, self.config, self._corrections, self._rng)
        metrics.add_time("batch", time.perf_counter() - clock)
        done, kept, attempts = self._train_gate_promote(
            self._images, inputs, labels, batch, metrics
        )
        if done:
            self._corrections.extend(corrections.remember(self.store, inputs, labels))
        return done, kept, attempts

    def _learn_strokes(
        self, drawn: list[list[np.ndarray]], labels: np.ndarray, metrics: UpdateMetrics
    ) -> tuple[list[str], dict[str, str], int]:
        """The stroke model learns the segments drawn with strokes (``drawn``: per segment its
        strokes; ``labels`` int64 (K,)), through the same candidates, gate and promotion as the
        image models. Returns (promoted, kept, attempts)."""
        rows = [index for index, segment in enumerate(drawn) if segment]
        if not rows:
            return [], {STROKE_MODEL: "no stroke belongs to a segment of the drawing"}, 0
        segments, targets = [drawn[index] for index in rows], labels[rows]
        clock = time.perf_counter()
        batch = stroke_training_batch(
            segments, targets, self.config, self._stroke_corrections, self._rng
        )
        metrics.add_time("batch", time.perf_counter() - clock)
        inputs = batch[0][: len(segments)]  # the batch opens with the segments as drawn
        done, kept, attempts = self._train_gate_promote(
            self._strokes, inputs, targets, batch, metrics
        )
        if done:
            self._stroke_corrections.extend(
                (row, int(label)) for row, label in zip(inputs, targets, strict=True)
            )
            del self._stroke_corrections[: -corrections.MAX_REPLAYED_CORRECTIONS]
        return done, kept, attempts

    def _learns_strokes(self) -> bool:
        """Whether the stroke model learns: it is trainable and the recognizer has one."""
        return bool(self._strokes.names) and self.recognizer.stroke_model is not None

    def _train_gate_promote(
        self,
        track: Track,
        inputs: np.ndarray,
        labels: np.ndarray,
        batch: tuple[np.ndarray, np.ndarray, int],
        metrics: UpdateMetrics,
    ) -> tuple[list[str], dict[str, str], int]:
        """Train candidates of ``track``'s models on ``batch`` (inputs, labels, how many of them
        replayed), gate them on the drawing's segments (``inputs``, ``labels`` int64 (K,)), and
        promote and install the accepted ones; a model whose promotion conflicts is trained
        again on top of the winner (``max_attempts`` in all). Fills ``metrics``; returns
        (the promoted models, name -> why each other one kept its live model, attempts)."""
        rng = self._rng
        images, targets, replayed = batch
        metrics.train = TrainFigures(len(images), len(inputs), replayed)
        pending = list(track.names)
        done: list[str] = []
        kept: dict[str, str] = {}
        attempts = 0
        for attempt in range(1, self.config.max_attempts + 1):
            attempts = attempt
            self._candidates.next_round()
            clock = time.perf_counter()
            self._sync_with_registry(track)
            live, versions = track.models(), track.versions()
            candidates = {
                name: self._candidates.fine_tuned(
                    name, live[name], versions.get(name), images, targets, rng
                )
                for name in pending
            }
            metrics.add_time("train", time.perf_counter() - clock)
            clock = time.perf_counter()
            scored = self._gate(track, candidates, inputs, labels, metrics, rng)
            metrics.add_time("gate", time.perf_counter() - clock)
            for name, candidate in candidates.items():
                if name not in scored.accepted:
                    self._candidates.release(name, candidate)
            kept.update(scored.reasons)
            if not scored.accepted:
                break
            clock = time.perf_counter()
            promoted, conflicted = self._promote(dict(scored.accepted), metrics, track)
            metrics.add_time("promote", time.perf_counter() - clock)
            clock = time.perf_counter()
            self._install(promoted, scored, track)
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
        return done, kept, attempts

    # --- scoring ---------------------------------------------------------------------------------

    def _live_probabilities(self, track: Track, name: str) -> np.ndarray:
        """The live model ``name``'s float (N, 11) probabilities on ``track``'s validation set,
        kept while it stays live."""
        live = track.models()[name]
        cached = self._probabilities.get(name)
        if cached is None or cached[0] is not live:
            cached = (live, live.predict_proba(track.validation().images))
            self._probabilities[name] = cached
        return cached[1]

    def _gate(
        self,
        track: Track,
        candidates: dict,
        inputs,
        labels,
        metrics: UpdateMetrics,
        rng: np.random.Generator,
    ) -> scoring.Scored:
        """Score the candidates against ``track``'s live models, and write the gate's figures
        into ``metrics``."""
        live = track.models()
        scored = scoring.score(
            candidates,
            live=live,
            before={name: self._live_probabilities(track, name) for name in live},
            weights=track.weights(),
            validation=track.validation(),
            inputs=inputs,
            labels=labels,
            reference=lambda current: self._reference_accuracy(track, current),
            config=self.config,
            rng=rng,
            trainer_of=self._candidates.trainer,
            features=self._features,
        )
        metrics.labels = label_text(labels)
        metrics.reference = dict(scored.reference)
        metrics.reference_spec = track.spec
        metrics.validation = dict(scored.validation)
        metrics.segments = dict(scored.segments)
        metrics.gate = scored.figures
        return scored

    def _reference_accuracy(self, track: Track, current: dict[str, dict]) -> dict[str, dict]:
        """Validation accuracies of each model's lineage before its first online update
        (``scoring.reference_accuracy``)."""
        return scoring.reference_accuracy(
            current, track.versions(), track.names, track.spec, self.registry, self._reference
        )

    # --- registry --------------------------------------------------------------------------------

    def _versions(self) -> dict[str, str]:
        """The image models' live versions: name -> an int, or "shipped"."""
        versions = getattr(self.recognizer, "versions", None) or {}
        return {name: versions.get(name, "shipped") for name in self.recognizer.models}

    def _stroke_versions(self) -> dict[str, object]:
        """The stroke model's live version ({} without one): an int, or "shipped"."""
        if getattr(self.recognizer, "stroke_model", None) is None:
            return {}
        version = self.recognizer.stroke_version
        return {STROKE_MODEL: version if isinstance(version, int) else "shipped"}

    def _all_versions(self) -> dict[str, object]:
        return {**self._versions(), **self._stroke_versions()}

    def _sync_with_registry(self, track: Track) -> None:
        """Load versions of ``track``'s models another learner promoted since this recognizer
        loaded them."""
        newer = publish.newer_versions(
            self.registry, track.names, track.models(), track.versions()
        )
        if newer:
            track.set_live(
                {name: model for name, (model, _) in newer.items()},
                {name: version for name, (_, version) in newer.items()},
            )

    def _promote(
        self, candidates: dict, metrics: UpdateMetrics, track: Track
    ) -> tuple[dict, list[str]]:
        """Save and promote each candidate; returns ({name: (model, version)}, conflicted)."""
        outcomes = publish.promote_all(
            self.registry, candidates, track.models(), track.versions(), metrics
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

    def _install(self, promoted: dict, scored: scoring.Scored, track: Track) -> None:
        """Swap the ``promoted`` models (name -> (model, version)) of ``track`` in, and keep
        their gate figures from ``scored`` as their live validation probabilities."""
        if not promoted:
            return
        old = {name: track.models()[name] for name in promoted}
        track.set_live(
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

    def _set_stroke_model(self, models: dict, versions: dict) -> None:
        self.recognizer.set_stroke_model(models[STROKE_MODEL], versions[STROKE_MODEL])

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
