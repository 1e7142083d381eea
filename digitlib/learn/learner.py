"""``OnlineLearner``: learns from people's corrections, guarded so that bad labels cannot ruin
the models (the steps of one update: see ``digitlib.learn``)."""

from __future__ import annotations

import io
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from digitlib.config import CLASS_NAMES, OTHER
from digitlib.learn import gate
from digitlib.learn.config import LearnConfig, spec_key
from digitlib.learn.datasets import replay_pool, share_cache, validation_set
from digitlib.learn.keras_tuning import KerasHeadTrainer, KerasTrainer, is_keras
from digitlib.learn.labels import label_text, parse_labels
from digitlib.learn.report import GateFigures, TrainFigures, Update, UpdateMetrics
from digitlib.store.drawings import check_session_id

#: ``produced_by`` of the versions this module saves.
PRODUCED_BY = "online update"
#: Store prefix of the corrections kept for replay.
CORRECTIONS_PREFIX = "learn/corrections/"
#: How many earlier corrections are read back for replay at start.
MAX_REPLAYED_CORRECTIONS = 2000


class Suspicious(Exception):
    """Internal: the drawing goes to the review queue, for the reason in the message."""


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
        self._trainers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._spares: dict[str, list] = {name: [] for name in self.trainable}
        self._probabilities: dict[str, tuple[object, np.ndarray]] = {}
        self._features: dict[str, tuple[str, np.ndarray]] = {}
        #: name -> (live reading model, its Keras checkpoint loaded for fine-tuning)
        self._twins: dict[str, tuple[object, object]] = {}
        self._prepared = False
        self._promotions_since_refresh = 0
        self._round = 0
        self._reference: dict[tuple, float] = {}
        self._corrections: list[tuple[np.ndarray, np.ndarray]] = self._load_corrections()

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
                live = self._twin(name)
                if is_keras(live):
                    self._spares[name].append((self._trainable_copy(name, live), 0))
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
        if len(inputs) == 0:
            raise Suspicious("the drawing has no ink")
        bad = [index for index, label in enumerate(parsed) if label is None]
        if bad:
            raise Suspicious(f"label {bad[0] + 1} is no digit or '?'")
        if len(parsed) != len(inputs):
            raise Suspicious(f"{len(parsed)} labels for {len(inputs)} segments")
        if trusted:
            return
        probabilities = {
            name: self.recognizer.models[name].predict_proba(inputs)
            for name in self.recognizer.models
        }
        threshold = self.config.suspicion_confidence
        for index, label in enumerate(parsed):
            readings = {int(np.argmax(p[index])) for p in probabilities.values()}
            lowest = min(float(np.max(p[index])) for p in probabilities.values())
            if len(readings) == 1 and label not in readings and lowest >= threshold:
                (reading,) = readings
                raise Suspicious(
                    f"label {CLASS_NAMES[label]!r} of segment {index + 1} disagrees with every "
                    f"model, which read {CLASS_NAMES[reading]!r} at >{threshold:.1%} confidence"
                )

    def _train_gate_promote(self, inputs: np.ndarray, labels: np.ndarray, update: Update) -> None:
        from digitlib.image.augment import variants24

        rng = self._rng
        metrics = update.metrics
        clock = time.perf_counter()
        batch_images = [inputs]
        batch_labels = [labels]
        for segment, label in zip(inputs, labels, strict=True):
            batch_images.append(variants24(segment, rng))
            batch_labels.append(np.full(24, label, np.int64))
        replay_images, replay_labels = self._replay_sample(rng)
        images = np.concatenate(batch_images + [replay_images]).astype(np.float32)
        targets = np.concatenate(batch_labels + [replay_labels]).astype(np.int64)
        metrics.train = TrainFigures(len(images), len(inputs), len(replay_images))
        metrics.add_time("batch", time.perf_counter() - clock)
        pending = list(self.trainable)
        done: list[str] = []
        kept: dict[str, str] = {}
        for attempt in range(1, self.config.max_attempts + 1):
            update.attempts = attempt
            self._round += 1
            clock = time.perf_counter()
            self._sync_with_registry()
            candidates = {name: self._fine_tuned(name, images, targets, rng) for name in pending}
            metrics.add_time("train", time.perf_counter() - clock)
            clock = time.perf_counter()
            accepted, reasons = self._gate(candidates, inputs, labels, metrics, rng)
            metrics.add_time("gate", time.perf_counter() - clock)
            for name, candidate in candidates.items():
                if name not in accepted:
                    self._release(name, candidate)
            kept.update(reasons)
            if not accepted:
                break
            clock = time.perf_counter()
            promoted, conflicted = self._promote(accepted, metrics)
            metrics.add_time("promote", time.perf_counter() - clock)
            clock = time.perf_counter()
            self._install(promoted)
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
            self._remember_correction(inputs, labels)
        update.reason = _summary(done, kept, update.attempts)
        update.promoted_models = list(done)
        update.kept = {name: reason for name, reason in kept.items() if name not in done}

    # --- training ------------------------------------------------------------------------------

    def _replay_sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.config.replay_size
        if size == 0:
            return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
        pool = replay_pool(self.config.replay)
        from_corrections = min(
            int(round(size * self.config.correction_share)), len(self._corrections)
        )
        rows = rng.choice(len(pool.images), size - from_corrections, replace=False)
        images, labels = [pool.images[rows]], [pool.labels[rows]]
        if from_corrections:
            picks = rng.choice(len(self._corrections), from_corrections, replace=False)
            images.append(np.stack([self._corrections[i][0] for i in picks]))
            labels.append(np.array([self._corrections[i][1] for i in picks], np.int64))
        return np.concatenate(images), np.concatenate(labels)

    def _twin(self, name: str):
        """What fine-tuning starts from for ``name``: the live model itself when it trains
        (``NumpyFNN``, a Keras model read in TensorFlow), else the Keras checkpoint of the live
        version behind its inference file, loaded once per version (this imports TensorFlow:
        a process that only reads never does)."""
        from digitlib.models import InferenceModel, load_model

        live = self.recognizer.models[name]
        if not isinstance(live, InferenceModel):
            return live
        cached = self._twins.get(name)
        if cached is not None and cached[0] is live:
            return cached[1]
        version = self._versions().get(name)
        if isinstance(version, int):
            loaded = self.registry.load(
                name, lambda path: load_model(path, name), version=version
            ).model
        else:
            loaded = load_model(self.registry.shipped_path(name), name)
        # The checkpoint and the inference file must be the same model: the gate scores with
        # the inference file, promotion saves the checkpoint.
        self._twins[name] = (live, loaded)
        return loaded

    def _fine_tuned(self, name: str, images, labels, rng: np.random.Generator):
        config = self.config
        live = self._twin(name)
        rate = float(dict(config.learning_rates).get(name, config.learning_rate))
        if is_keras(live):
            # Reuse a spare model (its traced functions with it); a model that left the
            # recognizer rests one update first, so that a recognize() call still holding it
            # is not served half-written weights.
            spares = self._spares[name]
            ready = [index for index, (_, after) in enumerate(spares) if after <= self._round]
            if ready:
                candidate = spares.pop(ready[0])[0]
                candidate.model.set_weights(live.model.get_weights())
            else:
                candidate = self._trainable_copy(name, live)
            trainer = self._trainers.get(candidate) or self._trainer_of(name, candidate)
            reading = self.recognizer.models[name]
            if isinstance(trainer, KerasHeadTrainer) and hasattr(reading, "feature_rows"):
                trainer.lean_features = reading.feature_rows
            trainer.fit(
                images,
                labels,
                learning_rate=rate,
                epochs=config.epochs,
                batch_size=config.batch_size,
                rng=rng,
            )
            return candidate
        candidate = live.copy()
        candidate.fine_tune(
            images,
            labels,
            learning_rate=rate,
            epochs=config.epochs,
            batch_size=config.batch_size,
            rng=rng,
        )
        return candidate

    def _trainable_copy(self, name: str, live):
        """A copy of the Keras model ``live`` with its trainer, its training step traced (one
        step at learning rate 0), so that the first update does not pay for tracing."""
        candidate = live.copy()
        self._trainer_of(name, candidate)
        candidate.model.set_weights(live.model.get_weights())
        return candidate

    def _trainer_of(self, name: str, candidate):
        """The trainer of the Keras ``candidate``, made and traced (one step at learning rate
        0) on first use."""
        config = self.config
        trainer = None
        if config.layers_of(name) == "top":
            trainer = KerasHeadTrainer.build(candidate, config.keras_optimizer, config.clip_norm)
        if trainer is None:
            trainer = KerasTrainer(candidate, config.keras_optimizer, config.clip_norm)
        self._trainers[candidate] = trainer
        if isinstance(trainer, KerasHeadTrainer):
            width = int(trainer.backbone.output.shape[-1])
            probe = np.zeros((1, width), np.float32)
        else:
            probe = np.zeros((1, 28, 28), np.float32)
        import tensorflow as tf

        weights = candidate.model.get_weights()
        trainer.optimizer.learning_rate.assign(0.0)
        trainer.step(tf.constant(probe), tf.constant(np.zeros(1, np.int64)))
        candidate.model.set_weights(weights)
        return trainer

    def _release(self, name: str, model, *, rest: bool = False) -> None:
        if is_keras(model):
            self._spares[name].append((model, self._round + (1 if rest else 0)))
            del self._spares[name][:-3]

    # --- gate ----------------------------------------------------------------------------------

    def _live_probabilities(self, name: str) -> np.ndarray:
        live = self.recognizer.models[name]
        cached = self._probabilities.get(name)
        if cached is None or cached[0] is not live:
            images = validation_set(self.config.validation).images
            cached = (live, live.predict_proba(images))
            self._probabilities[name] = cached
        return cached[1]

    def _exact_probabilities(self, name: str, candidate, images: np.ndarray) -> np.ndarray | None:
        """The candidate's probabilities on the whole validation set when they are cheap: from
        cached features for a top-trained Keras model, directly for a NumPy network; else None.
        """
        from digitlib.models import NumpyFNN

        trainer = self._trainers.get(candidate) if is_keras(candidate) else None
        if isinstance(trainer, KerasHeadTrainer):
            reading = self.recognizer.models[name]
            fingerprint = trainer.fingerprint()
            cached = self._features.get(name)
            if cached is None or cached[0] != fingerprint:
                # The features as readers compute them (the inference file), when it has the
                # same feature part; else the Keras backbone's.
                same = getattr(reading, "features_fingerprint", None) == fingerprint
                rows = reading.feature_rows(images) if same else trainer.feature_rows(images)
                cached = (fingerprint, rows)
                self._features[name] = cached
            return trainer.probabilities(cached[1])
        if isinstance(candidate, NumpyFNN):
            return candidate.predict_proba(images)
        return None

    def _candidate_probabilities(self, name: str, candidate, images: np.ndarray) -> np.ndarray:
        """A candidate's probabilities as readers will compute them: its new head on the live
        inference file's features when only the head was trained, else the model itself."""
        trainer = self._trainers.get(candidate) if is_keras(candidate) else None
        reading = self.recognizer.models[name]
        if isinstance(trainer, KerasHeadTrainer) and hasattr(reading, "feature_rows"):
            if reading.features_fingerprint == trainer.fingerprint():
                return trainer.probabilities(reading.feature_rows(images))
        return candidate.predict_proba(images)

    def _weights(self) -> dict[str, float]:
        weights = getattr(self.recognizer, "weights", None)
        ensemble = getattr(self.recognizer, "ensemble", None)
        if weights is None and ensemble is not None:
            weights = getattr(ensemble, "weights", None)
        if not weights:
            from digitlib.models.ensemble import Ensemble

            weights = Ensemble(self.recognizer.models).weights
        total = sum(weights[name] for name in self.recognizer.models)
        return {name: weights[name] / total for name in self.recognizer.models}

    def _gate(
        self, candidates: dict, inputs, labels, metrics: UpdateMetrics, rng: np.random.Generator
    ) -> tuple[dict, dict[str, str]]:
        """Score the candidates against the live models.

        Returns the candidates that may be promoted (name -> model) and, for the others, why
        not (name -> reason).
        """
        config = self.config
        validation = validation_set(config.validation)
        truth = validation.labels
        weights = self._weights()
        names = list(self.recognizer.models)
        before = {name: self._live_probabilities(name) for name in names}

        if config.exact_gate:
            rows, control = np.arange(len(truth)), np.zeros(0, np.int64)
        else:
            # Only images some live model is unsure of (or wrong on) can change their reading
            # under a small update; a random control sample of the sure ones checks that.
            risky = np.zeros(len(truth), bool)
            for probabilities in before.values():
                top = np.sort(probabilities, axis=1)
                risky |= (top[:, -1] - top[:, -2]) < config.gate_margin
                risky |= np.argmax(probabilities, axis=1) != truth
            sure = np.flatnonzero(~risky)
            control = np.sort(rng.choice(sure, min(config.gate_control, len(sure)), replace=False))
            rows = np.sort(np.concatenate([np.flatnonzero(risky), control]))
        after, exact = {}, {}
        for name in names:
            if name not in candidates:
                after[name] = before[name]
                continue
            full = self._exact_probabilities(name, candidates[name], validation.images)
            if full is not None:
                after[name], exact[name] = full, True
                continue
            scored = candidates[name].predict_proba(validation.images[rows])
            full = before[name].copy()
            full[rows] = scored
            exact[name] = len(rows) == len(truth)
            moved = np.argmax(full[control], axis=1) != np.argmax(before[name][control], axis=1)
            if moved.any():  # the screening's assumption failed: score everything
                full = candidates[name].predict_proba(validation.images)
                exact[name] = True
            after[name] = full
        self._pending_probabilities = {name: after[name] for name in candidates}
        self._pending_exact = {name for name in candidates if exact.get(name)}

        groups = gate.group_masks(validation.sources)
        current = {name: gate.accuracies(before[name], truth, groups) for name in candidates}
        current["ensemble"] = gate.accuracies(
            sum(weights[name] * before[name] for name in names), truth, groups
        )
        reference = self._reference_accuracy(current)
        segments_before = {
            name: self.recognizer.models[name].predict_proba(inputs) for name in names
        }
        segments_after = {
            name: self._candidate_probabilities(name, candidates[name], inputs)
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
            reference,
            segments_before,
            segments_after,
            labels,
            config.bounds,
        )
        metrics.labels = label_text(labels)
        metrics.reference = reference
        metrics.reference_spec = spec_key(config.validation)
        metrics.validation = verdict.validation
        metrics.segments = verdict.segments
        metrics.gate = GateFigures(
            int(len(rows)), int(len(truth)), all(exact.values()), verdict.passed
        )
        accepted = {name: candidates[name] for name in verdict.accepted}
        return accepted, verdict.reasons

    def _reference_accuracy(self, current: dict[str, dict]) -> dict[str, dict]:
        """Validation accuracies (group -> accuracy) of each model's lineage before its first
        online update.

        Read from the live version's manifest (written by an earlier update with the same
        validation set); otherwise the live model is the start of the lineage and its accuracy
        is the reference.
        """
        spec = spec_key(self.config.validation)
        versions = self._versions()
        for key, value in current.items():
            lineage = (
                (key, versions.get(key))
                if key != "ensemble"
                else (key, tuple(sorted(versions.items())))
            )
            if lineage in self._reference:
                continue
            stored = None
            names = [key] if key != "ensemble" else list(self.trainable)
            for name in names:
                version = versions.get(name)
                if not isinstance(version, int):
                    continue
                try:
                    manifest = self.registry.manifest(name, version)
                except Exception:  # a missing manifest means: no stored reference
                    continue
                saved = manifest.metrics.get("reference", {})
                if saved.get("spec") == spec and isinstance(saved.get(key), dict):
                    stored = {group: float(value) for group, value in saved[key].items()}
                    break
            self._reference[lineage] = stored if stored is not None else value
        return {
            key: self._reference[
                (key, versions.get(key))
                if key != "ensemble"
                else (key, tuple(sorted(versions.items())))
            ]
            for key in current
        }

    # --- registry --------------------------------------------------------------------------------

    def _versions(self) -> dict[str, str]:
        versions = getattr(self.recognizer, "versions", None) or {}
        return {name: versions.get(name, "shipped") for name in self.recognizer.models}

    def _sync_with_registry(self) -> None:
        """Load versions another learner promoted since this recognizer loaded its models."""
        from digitlib.models import InferenceModel, load_model

        versions = self._versions()
        newer = {}
        for name in self.trainable:
            current = self.registry.current(name)
            if current is None or current == versions.get(name):
                continue
            if versions.get(name) == "shipped" and self._is_shipped(name, current):
                continue  # the shipped checkpoint, stored as a version: nothing new to load
            if isinstance(self.recognizer.models[name], InferenceModel):
                loaded = self.registry.load_inference(name)
            else:
                loaded = self.registry.load(name, lambda path, name=name: load_model(path, name))
            newer[name] = (loaded.model, loaded.version)
        if newer:
            self._set_live(
                {name: model for name, (model, _) in newer.items()},
                {name: version for name, (_, version) in newer.items()},
            )

    def _promote(self, candidates: dict, metrics: UpdateMetrics) -> tuple[dict, list[str]]:
        """Save and promote each candidate; returns ({name: (model, version)}, conflicted).

        The models are saved and promoted side by side in threads (writing a ``.keras`` file
        and the store round trips wait on I/O and zlib more than on Python).
        """
        from concurrent.futures import ThreadPoolExecutor

        versions = self._versions()
        with tempfile.TemporaryDirectory(prefix="digitlib-learn-") as folder:

            def save_and_promote(name: str):
                return self._save_and_promote(
                    name, candidates[name], versions.get(name), Path(folder), metrics
                )

            if len(candidates) == 1:
                outcomes = [save_and_promote(name) for name in candidates]
            else:
                with ThreadPoolExecutor(len(candidates)) as pool:
                    outcomes = list(pool.map(save_and_promote, candidates))
        promoted, conflicted = {}, []
        for name, outcome in zip(candidates, outcomes, strict=True):
            if outcome is None:
                conflicted.append(name)
                self._release(name, candidates[name])
            else:
                reading, version = outcome
                promoted[name] = (reading, version)
                if reading is not candidates[name]:  # read through its new inference file
                    old = self._twins.get(name)
                    if old is not None and old[1] is not candidates[name]:
                        self._release(name, old[1])
                    self._twins[name] = (reading, candidates[name])
        return promoted, conflicted

    def _save_and_promote(
        self, name: str, candidate, parent, folder: Path, metrics: UpdateMetrics
    ) -> tuple[object, int] | None:
        """Save ``candidate`` as a new version of ``name`` (with its inference file when the
        live model reads through one) and promote it over ``parent``. Returns (the model that
        reads with it, the new version), or None when another learner promoted first."""
        from digitlib.models import InferenceModel
        from digitlib.models import inference as lean
        from digitlib.store import PromotionConflict

        if not isinstance(parent, int):
            parent = self._shipped_version(name)
        path = folder / f"{name}{self.registry.suffix(name)}"
        candidate.save(path)
        reading, inference = candidate, None
        live = self.recognizer.models[name]
        if is_keras(candidate):
            # Every Keras version gets its inference file, so that readers anywhere read it
            # without TensorFlow; the feature part is the parent's when only the head moved.
            made = lean.export_inference(
                candidate.model,
                name=name,
                source_sha256=lean.sha256_of(path.read_bytes()),
                reuse=live
                if isinstance(live, InferenceModel)
                else self._inference_of(name, parent),
            )
            inference = made.to_bytes()
            if isinstance(live, InferenceModel):
                reading = made
        manifest = self.registry.save_version(
            name,
            path,
            parent=parent,
            metrics=metrics.for_model(name),
            produced_by=PRODUCED_BY,
            note=f"learned {metrics.labels!r}",
            inference=inference,
        )
        try:
            self.registry.promote(
                name, manifest.version, expected_current=parent, note=PRODUCED_BY
            )
        except PromotionConflict:
            return None
        return reading, manifest.version

    def _inference_of(self, name: str, version: int | None):
        """The inference model of a stored version (None when there is none to reuse)."""
        if version is None:
            return None
        try:
            return self.registry.load_inference(name, version=version).model
        except Exception:  # noqa: BLE001 - then the feature part is exported anew
            return None

    def _is_shipped(self, name: str, version: int) -> bool:
        return self.registry.manifest(name, version).produced_by == "shipped"

    def _shipped_version(self, name: str) -> int | None:
        """The store version holding the shipped checkpoint the live model was loaded from.

        The shipped file is stored as the first version (``ModelRegistry.seed``) so that an
        update has a parent to roll back to. If another learner promoted since, the version
        returned is not current and the promotion conflicts, as it must.
        """
        seeded = self.registry.seed(name)
        if seeded is not None:
            return seeded.version
        current = self.registry.current(name)
        if current is not None and self._is_shipped(name, current):
            return current
        shipped = [m.version for m in self.registry.history(name) if m.produced_by == "shipped"]
        return min(shipped) if shipped else None

    def _install(self, promoted: dict) -> None:
        if not promoted:
            return
        pending = getattr(self, "_pending_probabilities", {})
        exact = getattr(self, "_pending_exact", set())
        old = {name: self.recognizer.models[name] for name in promoted}
        self._set_live(
            {name: model for name, (model, _) in promoted.items()},
            {name: version for name, (_, version) in promoted.items()},
        )
        self._promotions_since_refresh += 1
        refresh = self._promotions_since_refresh >= self.config.refresh_every
        for name, (model, _) in promoted.items():
            self._release(name, old[name], rest=True)
            if name in pending and (not refresh or name in exact):
                # The gate's figures: exact, or exact on the scored rows and the live model's
                # elsewhere (then refreshed every ``refresh_every`` promotions).
                self._probabilities[name] = (model, pending[name])
        if refresh:
            self._promotions_since_refresh = 0

    def _set_live(self, models: dict, versions: dict) -> None:
        self.recognizer.set_models(models, versions=versions)

    # --- store: review queue, history, corrections ---------------------------------------------

    def _hold(
        self, image, parsed: list, inputs: np.ndarray, given, reason: str, session_id: str | None
    ) -> str:
        readings = []
        if len(inputs):
            weights = self._weights()
            ensemble = sum(
                weights[name] * model.predict_proba(inputs)
                for name, model in self.recognizer.models.items()
            )
            readings = [int(label) for label in np.argmax(ensemble, axis=1)]
        valid = bool(parsed) and all(label is not None for label in parsed)
        # The review queue keeps valid labels only: an invalid reading is held under what the
        # models read, the given one is kept in ``predictions`` for the reviewer to see.
        labels = parsed if valid else (readings or [OTHER])
        record = self.drawings.hold(
            _png(image),
            labels,
            reason=reason,
            session_id=session_id,
            predictions={"given": _given_text(given), "models": label_text(readings)},
            segments=inputs if len(inputs) == len(labels) and len(inputs) else None,
        )
        return record.id

    def _record(self, update: Update) -> None:
        self.drawings.record_update(update.to_json())

    def _remember_correction(self, inputs: np.ndarray, labels: np.ndarray) -> None:
        pixels = np.round(np.clip(inputs, 0, 1) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=pixels, labels=labels.astype(np.uint8))
        key = f"{CORRECTIONS_PREFIX}{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
        self.store.put(key, buffer.getvalue())
        for image, label in zip(inputs, labels, strict=True):
            self._corrections.append((image.astype(np.float32), int(label)))

    def _load_corrections(self) -> list[tuple[np.ndarray, int]]:
        corrections = []
        for key in sorted(self.store.list(CORRECTIONS_PREFIX))[-MAX_REPLAYED_CORRECTIONS:]:
            try:
                with np.load(io.BytesIO(self.store.get(key)), allow_pickle=False) as archive:
                    images, labels = archive["images"], archive["labels"]
            except Exception:  # a damaged record costs one replay sample, not the learner
                continue
            for image, label in zip(images, labels, strict=False):
                corrections.append((image.astype(np.float32) / 255, int(label)))
        return corrections


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


def _given_text(labels) -> str:
    return labels if isinstance(labels, str) else " ".join(str(item) for item in labels)


def _png(image: np.ndarray | bytes) -> bytes:
    """The canvas as PNG bytes for the review queue: an array is checked (``check_image``) and
    encoded, PNG bytes kept as they are, JPEG bytes re-encoded (``encode_png``)."""
    from digitlib.image.preprocess import check_image, encode_png

    return encode_png(image if isinstance(image, bytes | bytearray) else check_image(image))
