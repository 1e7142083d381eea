"""``digitlib train``: assemble the training set and train the models, with progress bars."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from digitlib.config import MODEL_NAMES, SHIPPED_MODELS_DIR

FILE_NAMES = {"cnn": "cnn.keras", "fnn": "fnn.keras", "numpy_fnn": "numpy_fnn.npz"}


def limit_blas_threads() -> None:
    """Run NumPy's BLAS on one thread (unless the user chose otherwise), before NumPy loads.

    The NumPy network multiplies small mini-batches; on a busy 2-core machine OpenBLAS threads
    spin waiting for each other, and one epoch took 11x longer with two threads than with one.
    """
    import os
    import sys

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def add_runtime_argument(parser: argparse.ArgumentParser) -> None:
    """``--runtime lean|keras``, for the commands that read drawings."""
    from digitlib.config import RUNTIMES

    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="lean",
        help="lean (default): the inference files, no TensorFlow; keras: the .keras checkpoints",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train the models (MNIST + canvas-rendered pendigits + non-digits)"
    )
    parser.add_argument(
        "--model",
        choices=[*MODEL_NAMES, "all"],
        default="all",
        help="which model to train (default: all)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs for every model trained (default: each model's own)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random (0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=SHIPPED_MODELS_DIR,
        help="folder for the checkpoints (default: the shipped models/)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use at most N items of each data source (quick trial runs)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="processes rendering canvas drawings (default 2)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="TensorFlow threads (default: all cores; 1 suits the FNN when several trainings "
        "run side by side)",
    )
    parser.add_argument(
        "--with-drawings",
        metavar="STORE",
        default=None,
        help="also train on the accepted drawings of this store (folder or s3:// URL), each "
        "segment 10 times",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="assemble the training set afresh instead of reading .cache/",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="train --model fnn or cnn on several workers (tf.distribute.MultiWorkerMirroredStrategy, "
        "workers from TF_CONFIG, each on its shard; also on --store's drawings); the chief "
        "(worker 0) writes the model to --store as a new version, not promoted",
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="with --distributed: the store to write to and take drawings from "
        "(default: $DIGITLIB_STORE, else data/store)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="with --distributed: write this worker's figures (losses, weights digest, "
        "version written) to this JSON file",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    limit_blas_threads()
    if args.distributed:
        from digitlib.cli import distributed

        return distributed.run(args)
    from tqdm import tqdm

    from digitlib import train

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    config = train.TrainConfig(seed=args.seed, workers=args.workers)
    if args.epochs is not None:
        config = config.with_epochs(args.epochs)
    if args.threads is not None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    names = list(MODEL_NAMES) if args.model == "all" else [args.model]
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    print("assembling the training set (cached in .cache/training after the first run)...")
    training_set = train.assemble_training_set(
        config, cache_dir=None if args.no_cache else train.DEFAULT_CACHE_DIR, limit=args.limit
    )
    if args.with_drawings:
        from digitlib import segment
        from digitlib.store import DrawingStore, open_store

        drawings = DrawingStore(open_store(args.with_drawings))
        images, labels, _, skipped = drawings.examples(extract=segment.extract)
        training_set = train.add_examples(training_set, images, labels)
        print(f"added {len(images)} segments of collected drawings ({len(skipped)} skipped)")
    assembly_seconds = time.monotonic() - started
    print(
        f"{len(training_set.images)} training images in {assembly_seconds:.0f} s: "
        + ", ".join(f"{k} {v}" for k, v in training_set.summary().items())
    )

    card = {
        "seed": args.seed,
        "config": dataclasses.asdict(config),
        "data": training_set.summary(),
        "assembly_seconds": round(assembly_seconds, 1),
        "models": {},
    }
    for name in names:
        epochs = config.settings(name).epochs
        batches = -(-len(training_set.images) // config.batch_size)
        keras_model = name != "numpy_fnn"
        bar = tqdm(
            total=epochs * batches if keras_model else epochs,
            desc=name,
            unit="batch" if keras_model else "epoch",
            dynamic_ncols=True,
        )
        history = []

        def progress(epoch, logs, bar=bar, history=history, keras_model=keras_model):
            history.append({"epoch": epoch + 1, **{k: round(v, 5) for k, v in logs.items()}})
            if not keras_model:
                bar.update(1)
            bar.set_postfix(
                epoch=epoch + 1,
                loss=f"{logs['loss']:.4f}",
                val_acc=f"{logs.get('val_accuracy', float('nan')):.4f}",
            )
            tqdm.write(
                f"{bar.desc} epoch {epoch + 1}: "
                + ", ".join(f"{k} {v:.4g}" for k, v in logs.items())
            )

        model_started = time.monotonic()
        model = train.train_model(
            name,
            training_set,
            config,
            progress=progress,
            batch_progress=bar.update if keras_model else None,
        )
        bar.close()
        seconds = time.monotonic() - model_started
        path = args.out / FILE_NAMES[name]
        model.save(path)
        size = path.stat().st_size
        print(f"{name}: {seconds:.0f} s, saved {path} ({size / 1e6:.2f} MB)")
        if path.suffix == ".keras":  # what readings use: no TensorFlow needed to read
            from digitlib.models.inference import export_checkpoint

            exported = export_checkpoint(path, name=name)
            print(f"{name}: inference file {exported} ({exported.stat().st_size / 1e6:.2f} MB)")
        card["models"][name] = {
            "seconds": round(seconds, 1),
            "file": path.name,
            "bytes": size,
            "history": history,
        }
        card_path = args.out / "training.json"
        previous = json.loads(card_path.read_text()) if card_path.exists() else {}
        merged = {**previous, **{k: v for k, v in card.items() if k != "models"}}
        merged["models"] = {**previous.get("models", {}), **card["models"]}
        card_path.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0
