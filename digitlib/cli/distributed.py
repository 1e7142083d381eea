"""``digitlib train --distributed``: one worker of a multi-worker training (see
``digitlib.training.distributed``). Run one per worker, each with its own ``TF_CONFIG``."""

from __future__ import annotations

import argparse
import json
import time


def run(args: argparse.Namespace) -> int:
    from digitlib.training import distributed, train

    task = distributed.tf_config_from_environment()  # before TensorFlow: fail fast and clearly
    name = "fnn" if args.model == "all" else args.model
    if name not in distributed.DISTRIBUTED_MODELS:
        raise ValueError(
            f"--distributed trains one Keras model ({', '.join(distributed.DISTRIBUTED_MODELS)}), "
            f"not {args.model!r}; pass --model fnn or --model cnn"
        )
    import tensorflow as tf

    if args.threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    prefix = f"worker {task.index}/{task.count}{' (chief)' if task.is_chief else ''}"

    from digitlib.image import segment
    from digitlib.store import DrawingStore, ModelRegistry, open_store

    config = train.TrainConfig(seed=args.seed, workers=args.workers)
    started = time.monotonic()
    training_set = train.assemble_training_set(
        config, cache_dir=None if args.no_cache else train.DEFAULT_CACHE_DIR, limit=args.limit
    )
    store = open_store(args.store)
    images, labels, _, skipped = DrawingStore(store).examples(extract=segment.extract)
    if len(images):
        training_set = train.add_examples(training_set, images, labels)
    print(
        f"{prefix}: {len(training_set.images)} training images ({len(images)} segments of the "
        f"store's drawings, {len(skipped)} skipped) in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    epochs = args.epochs if args.epochs is not None else getattr(config, name).epochs

    def progress(epoch: int, logs: dict) -> None:
        print(
            f"{prefix}: {name} epoch {epoch + 1}/{epochs}: loss {logs['loss']:.4f} "
            f"({logs['seconds']:.1f} s)",
            flush=True,
        )

    classifier, result = distributed.train_distributed(
        name, training_set, config, task, epochs=epochs, strategy=strategy, progress=progress
    )
    print(f"{prefix}: weights sha256 {result.weights_sha256}", flush=True)
    if task.is_chief:
        registry = ModelRegistry(store, who=f"train --distributed worker {task.index}")
        manifest = distributed.write_version(
            registry,
            classifier,
            result,
            produced_by=f"train --distributed --seed {args.seed} ({task.count} workers)",
        )
        result = distributed.DistributedRun(
            **{**result.to_json(), "version": manifest.version, "parent": manifest.parent}
        )
        print(
            f"{prefix}: saved {name} version {manifest.version} in {store.url} (not promoted; "
            f"parent {manifest.parent}). Evaluate it, then: digitlib models promote {name} "
            f"{manifest.version}",
            flush=True,
        )
    if args.report is not None:
        args.report.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return 0
