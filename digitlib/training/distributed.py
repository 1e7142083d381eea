"""Training a Keras model on several workers: ``digitlib train --distributed``.

Each worker is a process (on one machine or many) started with ``TF_CONFIG`` naming every
worker's address and its own index, as TensorFlow's ``MultiWorkerMirroredStrategy`` expects::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' digitlib train --distributed

Every worker assembles the same training set (same seed, same store), keeps its own shard of it
(``shard_indices``: every ``count``-th example from its index), and trains a copy of the model;
after each step the gradients of all workers are summed (an all-reduce), so every copy takes the
same step and all end with identical weights. Worker 0 is the chief: it alone writes the trained
model to the store's registry, as a new version that is **not** promoted. Evaluate it, then
``digitlib models promote MODEL VERSION``.

The training step is a custom loop (``strategy.run``): Keras 3's ``fit`` does not run under a
multi-worker strategy. TensorFlow is imported inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The models ``--distributed`` trains (the NumPy network trains in NumPy, on one process).
DISTRIBUTED_MODELS = ("fnn", "cnn")


@dataclass(frozen=True)
class WorkerTask:
    """This process's place among the workers: ``index`` of ``count``; worker 0 is the chief."""

    index: int
    addresses: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.addresses)

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @classmethod
    def from_tf_config(cls, text: str | None) -> WorkerTask:
        """Read ``TF_CONFIG`` (its JSON text); raises ``ValueError`` saying what is missing."""
        example = (
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\''
        )
        if not text:
            raise ValueError(f"--distributed needs TF_CONFIG naming the workers, e.g. {example}")
        try:
            config = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not JSON ({error}); expected e.g. {example}") from None
        workers = config.get("cluster", {}).get("worker")
        task = config.get("task", {})
        if not isinstance(workers, list) or not workers:
            raise ValueError(f"TF_CONFIG has no cluster.worker list; expected e.g. {example}")
        if set(config.get("cluster", {})) - {"worker"}:
            raise ValueError(
                "TF_CONFIG: only 'worker' tasks are used (worker 0 is the chief); remove "
                f"{sorted(set(config['cluster']) - {'worker'})}"
            )
        if task.get("type") != "worker":
            raise ValueError(f"TF_CONFIG task.type must be 'worker', got {task.get('type')!r}")
        index = task.get("index")
        if not isinstance(index, int) or not 0 <= index < len(workers):
            raise ValueError(
                f"TF_CONFIG task.index must be 0..{len(workers) - 1} (one per worker), "
                f"got {index!r}"
            )
        return cls(index, tuple(str(w) for w in workers))


def shard_indices(total: int, index: int, count: int) -> np.ndarray:
    """The examples worker ``index`` of ``count`` trains on: every ``count``-th from ``index``,
    the same number for every worker (the few left over are dropped, so that every worker takes
    the same number of steps). int64 (total // count,)."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"worker index must be 0..{count - 1}, got {index} of {count}")
    if total < count:
        raise ValueError(f"{total} examples cannot be shared among {count} workers")
    per_worker = total // count
    return np.arange(index, per_worker * count, count, dtype=np.int64)


def weights_digest(weights: list[np.ndarray]) -> str:
    """sha256 of a model's weights (their dtypes, shapes and bytes, in order)."""
    digest = hashlib.sha256()
    for array in weights:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class DistributedRun:
    """What one worker did: its shard, the loss of each epoch (the mean over every worker's
    examples), the digest of its final weights, and (chief only) the version it wrote."""

    model: str
    worker: int
    workers: int
    examples: int
    global_batch: int
    epoch_losses: list[float]
    weights_sha256: str
    seconds: float
    val_accuracy: float | None = None
    version: int | None = None
    parent: int | None = None
    sources: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _build(name: str, config):
    from digitlib.models.keras_models import build_cnn, build_fnn

    if name == "fnn":
        return build_fnn()
    if name == "cnn":
        return build_cnn()
    raise ValueError(
        f"--distributed trains {' or '.join(DISTRIBUTED_MODELS)}, not {name!r} "
        "(the NumPy network trains on one process: digitlib train --model numpy_fnn)"
    )


def train_distributed(
    name: str,
    training_set,
    config,
    task: WorkerTask,
    *,
    epochs: int,
    strategy=None,
    progress: Callable[[int, dict], None] | None = None,
):
    """Train model ``name`` on this worker's shard of ``training_set`` in step with the other
    workers. Returns ``(KerasClassifier, DistributedRun)``; the classifier's model lives outside
    the strategy (safe to save, evaluate and export on one worker).

    ``strategy``: a ``tf.distribute.MultiWorkerMirroredStrategy`` made before any other
    TensorFlow work in the process (made here when None).
    """
    import keras
    import tensorflow as tf

    from digitlib.models.keras_models import KerasClassifier
    from digitlib.training import train

    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if strategy is None:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    started = time.monotonic()
    shard = shard_indices(len(training_set.images), task.index, task.count)
    images = training_set.images[shard]
    labels = training_set.labels[shard].astype(np.int32)
    weights = train.sample_weights(training_set, config, getattr(config, name).mnist_weight)[
        shard
    ].astype(np.float32)
    batch = config.batch_size
    steps = len(shard) // batch
    if steps < 1:
        raise ValueError(
            f"worker {task.index} has {len(shard)} examples, fewer than one batch of {batch}: "
            "use more data (--limit) or fewer workers"
        )
    global_batch = batch * task.count
    base_rate = getattr(config, name).learning_rate
    # The same initial weights on every worker: one seed for all (dropout differs, as do the
    # shards; the all-reduce keeps the weights identical).
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = _build(name, config)
        schedule = keras.optimizers.schedules.CosineDecay(
            base_rate, decay_steps=epochs * steps, alpha=0.02
        )
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(model.trainable_variables)

    def replica_step(x, y, w):
        with tf.GradientTape() as tape:
            probabilities = model(x, training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(y, probabilities) * w
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    signature = [
        tf.TensorSpec([batch, 28, 28], tf.float32),
        tf.TensorSpec([batch], tf.int32),
        tf.TensorSpec([batch], tf.float32),
    ]

    @tf.function(input_signature=signature)
    def step(x, y, w):
        losses = strategy.run(replica_step, args=(x, y, w))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    rng = np.random.default_rng([config.seed, task.index])  # each worker augments its own
    epoch_data = train._EpochData(images, rng, epochs)
    epoch_losses = []
    for epoch in range(epochs):
        epoch_started = time.monotonic()
        augmented = epoch_data.next()
        order = rng.permutation(len(shard))
        total = 0.0
        for index in range(steps):
            chosen = order[index * batch : (index + 1) * batch]
            total += float(step(augmented[chosen], labels[chosen], weights[chosen]))
        epoch_losses.append(total / steps)
        if progress is not None:
            progress(
                epoch, {"loss": epoch_losses[-1], "seconds": time.monotonic() - epoch_started}
            )

    plain = _build(name, config)  # outside the strategy: predicting needs no other worker
    plain.set_weights([np.asarray(v) for v in model.get_weights()])
    classifier = KerasClassifier(plain, name)
    val_accuracy = None
    if len(training_set.validation_images):
        predicted = classifier.predict_proba(training_set.validation_images).argmax(1)
        val_accuracy = float((predicted == training_set.validation_labels).mean())
    run = DistributedRun(
        model=name,
        worker=task.index,
        workers=task.count,
        examples=len(shard),
        global_batch=global_batch,
        epoch_losses=epoch_losses,
        weights_sha256=weights_digest(plain.get_weights()),
        seconds=time.monotonic() - started,
        val_accuracy=val_accuracy,
        sources=training_set.summary(),
    )
    return classifier, run


def write_version(
    registry,
    classifier,
    run: DistributedRun,
    *,
    produced_by: str,
    metrics: Mapping[str, float] | None = None,
):
    """Save the trained model (with its inference file) as a new, unpromoted version whose
    parent is the current one. Only the chief calls this. Returns the ``Manifest``."""
    from digitlib.models.inference import export_checkpoint

    name = run.model
    parent = registry.current(name)
    with tempfile.TemporaryDirectory(prefix="digitlib-distributed-") as folder:
        checkpoint = Path(folder) / f"{name}.keras"
        classifier.save(checkpoint)
        inference = export_checkpoint(checkpoint, name=name)
        figures = {"final_loss": round(run.epoch_losses[-1], 5), "workers": run.workers}
        if run.val_accuracy is not None:
            figures["val_accuracy"] = round(run.val_accuracy, 5)
        figures.update(metrics or {})
        return registry.save_version(
            name,
            checkpoint,
            parent=parent,
            metrics=figures,
            produced_by=produced_by,
            note=f"trained on {run.workers} workers, {run.examples} examples each",
            inference=inference.read_bytes(),
        )


def tf_config_from_environment(environ: Mapping[str, str] | None = None) -> WorkerTask:
    environ = os.environ if environ is None else environ
    return WorkerTask.from_tf_config(environ.get("TF_CONFIG"))
