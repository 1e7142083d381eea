"""Fine-tuned candidates: the training batch, and copies of the live models trained on it.

The live models are never trained: a candidate is a copy, and only a candidate that passes the
gate replaces its live model. Making a Keras candidate is the slow part of an update (copying
the model, tracing its training step), so ``Candidates`` keeps what makes the next one quick:
the Keras checkpoint behind each live inference file (its *twin*), one traced trainer attached
to each copy, and a few spare copies to overwrite instead of building new ones. Every candidate
is then trained by the same call, the ``Classifier``'s ``fine_tune``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from digitlib.learn.config import LearnConfig
from digitlib.learn.datasets import LabeledImages, replay_pool
from digitlib.models.keras_tuning import KerasHeadTrainer, KerasTrainer, input_shape_of, is_keras

#: How many spare Keras copies are kept per model.
SPARES_KEPT = 3


def replay_sample(
    config: LearnConfig,
    corrections: Sequence[tuple[np.ndarray, int]],
    rng: np.random.Generator,
    pool: Callable[[], LabeledImages] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``config.replay_size`` earlier examples to train with, so that the models do not forget.

    Drawn without replacement from ``pool()`` (default: the image replay pool,
    ``replay_pool(config.replay)``), with a share (``config.correction_share``) taken from
    ``corrections`` (earlier accepted corrections: (model input, class index) pairs) when there
    are some. Returns inputs float32 (R, ...) shaped as the pool's and labels int64 (R,); both
    empty when ``replay_size`` is 0 (and the pool is not built).
    """
    size = config.replay_size
    if size == 0:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
    drawn_from = pool() if pool is not None else replay_pool(config.replay)
    from_corrections = min(int(round(size * config.correction_share)), len(corrections))
    rows = rng.choice(len(drawn_from.images), size - from_corrections, replace=False)
    inputs, labels = [drawn_from.images[rows]], [drawn_from.labels[rows]]
    if from_corrections:
        picks = rng.choice(len(corrections), from_corrections, replace=False)
        inputs.append(np.stack([corrections[i][0] for i in picks]))
        labels.append(np.array([corrections[i][1] for i in picks], np.int64))
    return np.concatenate(inputs), np.concatenate(labels)


def training_batch(
    inputs: np.ndarray,
    labels: np.ndarray,
    config: LearnConfig,
    corrections: Sequence[tuple[np.ndarray, int]],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """What the candidates train on: each segment of ``inputs`` (float32 (K, 28, 28), labels
    int64 (K,)) itself and its 24 variants (``augment.variants24``), then a ``replay_sample``
    of R earlier examples. Returns images float32 (K * 25 + R, 28, 28), labels int64
    (K * 25 + R,) and R."""
    from digitlib.image.augment import variants24

    batch_images = [inputs]
    batch_labels = [labels]
    for segment, label in zip(inputs, labels, strict=True):
        batch_images.append(variants24(segment, rng))
        batch_labels.append(np.full(24, label, np.int64))
    replay_images, replay_labels = replay_sample(config, corrections, rng)
    images = np.concatenate(batch_images + [replay_images]).astype(np.float32)
    targets = np.concatenate(batch_labels + [replay_labels]).astype(np.int64)
    return images, targets, len(replay_images)


def stroke_training_batch(
    drawn: Sequence[Sequence[np.ndarray]],
    labels: np.ndarray,
    config: LearnConfig,
    corrections: Sequence[tuple[np.ndarray, int]],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """What a stroke-model candidate trains on: each corrected segment's strokes (``drawn``:
    per segment its float (n, 2) arrays in drawing order; ``labels`` int64 (K,)) encoded as
    drawn and in ``config.strokes.variants`` augmented variants (other orders and directions,
    a finger's or a mouse's path: ``train_strokes.variant``), then ``config.replay_size``
    examples of the stroke replay pool, a ``config.correction_share`` of them from
    ``corrections`` (earlier (encoded float32 (64, 6), class) pairs) when there are some.
    Returns inputs float32 (K * (1 + variants) + R, 64, 6), labels int64 and R."""
    from digitlib.drawings.strokes import encode_many
    from digitlib.learn.datasets import stroke_replay_pool
    from digitlib.training.train_strokes import StrokeSettings, variant

    settings = StrokeSettings()
    count = config.strokes.variants
    inputs = [encode_many(drawn)]
    targets = [np.asarray(labels, np.int64)]
    for strokes, label in zip(drawn, labels.tolist(), strict=True):
        if not count:
            break
        inputs.append(np.stack([variant(strokes, settings, rng) for _ in range(count)]))
        targets.append(np.full(count, label, np.int64))
    replay_inputs, replay_labels = replay_sample(
        config, corrections, rng, lambda: stroke_replay_pool(config.strokes)
    )
    if len(replay_inputs):
        inputs.append(replay_inputs)
        targets.append(replay_labels)
    return (
        np.concatenate(inputs).astype(np.float32),
        np.concatenate(targets).astype(np.int64),
        len(replay_inputs),
    )


class Candidates:
    """Makes fine-tuned copies of the live models, and keeps what makes that quick.

    Parameters
    ----------
    config : LearnConfig
        Learning rates, epochs, batch size, Keras optimizer and layers to train.
    trainable : the names of the models that may be fine-tuned.
    registry : digitlib.store.ModelRegistry
        Where the Keras checkpoint behind a live inference file is loaded from.

    ``round`` counts the update attempts (``next_round``): a Keras model that left the
    recognizer rests one round before it is reused, so that a ``recognize()`` call still holding
    it is not served half-written weights.
    """

    def __init__(self, config: LearnConfig, trainable: Sequence[str], registry) -> None:
        self.config = config
        self.registry = registry
        self.round = 0
        self._spares: dict[str, list] = {name: [] for name in trainable}
        #: name -> (live reading model, its Keras checkpoint loaded for fine-tuning)
        self._twins: dict[str, tuple[object, object]] = {}

    def next_round(self) -> None:
        """Start an update attempt (spares released in the last one may now be reused)."""
        self.round += 1

    def warm(self, name: str, live, version) -> None:
        """Load the twin of ``name`` and, for a Keras model, a spare copy with its training step
        traced, so that the first update pays for neither (this imports TensorFlow)."""
        twin = self.twin(name, live, version)
        if is_keras(twin):
            self._spares.setdefault(name, []).append((self.trainable_copy(name, twin), 0))

    def twin(self, name: str, live, version):
        """What fine-tuning starts from for ``name``: the live model ``live`` itself when it
        trains (``NumpyFNN``, a Keras model read in TensorFlow), else the Keras checkpoint of
        the live ``version`` (an int, or "shipped") behind its inference file, loaded once per
        version (this imports TensorFlow: a process that only reads never does)."""
        from digitlib.models import InferenceModel, load_model

        if not isinstance(live, InferenceModel):
            return live
        cached = self._twins.get(name)
        if cached is not None and cached[0] is live:
            return cached[1]
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

    def adopt(self, name: str, reading, candidate) -> None:
        """Remember that the promoted ``candidate`` now reads as ``reading`` (its new inference
        file), so that the next update fine-tunes ``candidate`` without loading it again."""
        if reading is candidate:
            return
        old = self._twins.get(name)
        if old is not None and old[1] is not candidate:
            self.release(name, old[1])
        self._twins[name] = (reading, candidate)

    def fine_tuned(
        self,
        name: str,
        live,
        version,
        images: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
    ):
        """A copy of the live model ``live`` of ``name`` fine-tuned on ``images`` float32
        (N, 28, 28) and ``labels`` int64 (N,): a NumPy network whole, a Keras model as
        ``config.layers_of(name)`` says (its head reads the live inference file's features
        when only the head trains, as readers will). The stroke model's ``images`` are its
        inputs, float32 (N, 64, 6)."""
        config = self.config
        twin = self.twin(name, live, version)
        rate = float(dict(config.learning_rates).get(name, config.learning_rate))
        if is_keras(twin):
            # Reuse a spare model (its traced trainer with it); a model that left the
            # recognizer rests one update first.
            spares = self._spares.setdefault(name, [])
            ready = [index for index, (_, after) in enumerate(spares) if after <= self.round]
            if ready:
                candidate = spares.pop(ready[0])[0]
                candidate.model.set_weights(twin.model.get_weights())
            else:
                candidate = self.trainable_copy(name, twin)
            if candidate.trainer is None:  # a former twin kept as a spare: never trained here
                self._attach_trainer(name, candidate)
            if isinstance(candidate.trainer, KerasHeadTrainer) and hasattr(live, "feature_rows"):
                candidate.trainer.lean_features = live.feature_rows
        else:
            candidate = twin.copy()
        candidate.fine_tune(
            images,
            labels,
            learning_rate=rate,
            epochs=config.epochs,
            batch_size=config.batch_size,
            rng=rng,
        )
        return candidate

    @staticmethod
    def trainer(candidate):
        """The trainer attached to a Keras ``candidate`` (``KerasClassifier.trainer``), else
        None."""
        return candidate.trainer if is_keras(candidate) else None

    def trainable_copy(self, name: str, twin):
        """A copy of the Keras model ``twin`` with its trainer attached, its training step
        traced (one step at learning rate 0), so that the first update does not pay for
        tracing."""
        candidate = twin.copy()
        self._attach_trainer(name, candidate)
        candidate.model.set_weights(twin.model.get_weights())
        return candidate

    def _attach_trainer(self, name: str, candidate) -> None:
        """Attach the trainer ``config`` asks for to the Keras ``candidate`` (its head alone, or
        every layer, with the configured optimizer) and trace its step (one step at learning
        rate 0)."""
        config = self.config
        trainer = None
        if config.layers_of(name) == "top":
            trainer = KerasHeadTrainer.build(candidate, config.keras_optimizer, config.clip_norm)
        if trainer is None:
            trainer = KerasTrainer(candidate, config.keras_optimizer, config.clip_norm)
        candidate.trainer = trainer
        if isinstance(trainer, KerasHeadTrainer):
            width = int(trainer.backbone.output.shape[-1])
            probe = np.zeros((1, width), np.float32)
        else:
            probe = np.zeros((1, *input_shape_of(candidate)), np.float32)
        import tensorflow as tf

        weights = candidate.model.get_weights()
        trainer.optimizer.learning_rate.assign(0.0)
        trainer.step(tf.constant(probe), tf.constant(np.zeros(1, np.int64)))
        candidate.model.set_weights(weights)

    def release(self, name: str, model, *, rest: bool = False) -> None:
        """Keep a Keras ``model`` that is no longer needed as a spare (the last few only);
        ``rest``: it just left the recognizer, so it is reused from the next round on."""
        if is_keras(model):
            spares = self._spares.setdefault(name, [])
            spares.append((model, self.round + (1 if rest else 0)))
            del spares[:-SPARES_KEPT]
