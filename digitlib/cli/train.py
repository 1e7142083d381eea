"""``digitlib train``: assemble the training set and train the models, with progress bars."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from digitlib.config import CHECKPOINT_FILES, MODEL_NAMES, SHIPPED_MODELS_DIR, STROKE_MODEL


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
        choices=[*MODEL_NAMES, STROKE_MODEL, "all"],
        default="all",
        help="which model to train (default: all: the image models, then the stroke model)",
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
    from digitlib.training import train

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    config = train.TrainConfig(seed=args.seed, workers=args.workers)
    if args.epochs is not None:
        config = config.with_epochs(args.epochs)
    if args.threads is not None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    names = [*MODEL_NAMES, STROKE_MODEL] if args.model == "all" else [args.model]
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if STROKE_MODEL in names:
        names.remove(STROKE_MODEL)
        if names:
            train_image_models(args, config, names)
        train_stroke_model(args)
    else:
        train_image_models(args, config, names)
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


def _export(path: Path, name: str) -> None:
    """Write the inference file beside a ``.keras`` checkpoint: what readings use."""
    from digitlib.models.inference import export_checkpoint

    exported = export_checkpoint(path, name=name)
    print(f"{name}: inference file {exported} ({exported.stat().st_size / 1e6:.2f} MB)")


def _write_card(out: Path, card: dict) -> None:
    """Merge ``card`` into ``out/training.json`` (the models trained before keep their entry)."""
    card_path = out / "training.json"
    previous = json.loads(card_path.read_text()) if card_path.exists() else {}
    merged = {**previous, **{k: v for k, v in card.items() if k != "models"}}
    merged["models"] = {**previous.get("models", {}), **card["models"]}
    card_path.write_text(json.dumps(merged, indent=2) + "\n")


def train_stroke_model(args: argparse.Namespace) -> None:
    """Train the stroke model (``digitlib.training.train_strokes``), save it with its inference file and
    its entry in ``training.json``. Each epoch is checkpointed to the output file."""
    from digitlib.training import train_strokes

    settings = train_strokes.StrokeSettings(limit=args.limit)
    if args.epochs is not None:
        settings = dataclasses.replace(settings, epochs=args.epochs)
    started = time.monotonic()
    drawings = train_strokes.training_drawings(settings, rng=args.seed)
    validation = train_strokes.fusion_drawings(limit=args.limit)
    print(
        f"{STROKE_MODEL}: {len(drawings.drawings)} training drawings ("
        + ", ".join(f"{k} {v}" for k, v in drawings.summary().items())
        + f"), {len(validation.drawings)} to validate on, hands kept out of training"
    )
    history = []

    def progress(epoch, logs):
        history.append({"epoch": epoch + 1, **{k: round(v, 5) for k, v in logs.items()}})
        print(
            f"{STROKE_MODEL} epoch {epoch + 1}/{settings.epochs}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in logs.items()),
            flush=True,
        )

    path = args.out / CHECKPOINT_FILES[STROKE_MODEL]
    model = train_strokes.train_stroke_model(
        drawings,
        settings,
        seed=args.seed,
        validation=validation,
        progress=progress,
        checkpoint=path,
    )
    model.save(path)
    seconds = time.monotonic() - started
    size = path.stat().st_size
    print(f"{STROKE_MODEL}: {seconds:.0f} s, saved {path} ({size / 1e6:.2f} MB)")
    _export(path, STROKE_MODEL)
    choice = choose_and_write_fusion(args.out, validation, args.seed)
    card = {
        "models": {
            STROKE_MODEL: {
                "seed": args.seed,
                "config": dataclasses.asdict(settings),
                "data": drawings.summary(),
                "seconds": round(seconds, 1),
                "file": path.name,
                "bytes": size,
                "history": history,
                "fusion": choice.to_json() if choice is not None else None,
            }
        }
    }
    _write_card(args.out, card)


def choose_and_write_fusion(out: Path, validation, seed: int):
    """Choose the fusion of the stroke model in ``out`` with the image models there
    (``digitlib.training.tune_fusion``) on the ``validation`` drawings and write ``out/fusion.json``.
    Returns the ``FusionChoice``; None (and a message) when ``out`` has no image models."""
    from digitlib.recognize import FUSION_FILE, load_recognizer
    from digitlib.training.tune_fusion import choose_fusion, read_for_fusion

    try:
        recognizer = load_recognizer(out)
    except ValueError:  # no image model loads from ``out``
        recognizer = None
    if recognizer is None or recognizer.stroke_model is None:
        print(f"{STROKE_MODEL}: no image models in {out}; the fusion is not chosen")
        return None
    readings = read_for_fusion(recognizer, validation, rng=seed)
    choice = choose_fusion(readings)
    (out / FUSION_FILE).write_text(json.dumps(dataclasses.asdict(choice.params), indent=2) + "\n")
    print(
        f"{STROKE_MODEL}: fusion {choice.params} on {choice.drawings} drawings of hands no model "
        f"trained on: {choice.accuracy * 100:.2f}% (worst writer {choice.worst * 100:.2f}%), "
        f"image alone {choice.image_accuracy * 100:.2f}% ({choice.image_worst * 100:.2f}%)"
    )
    return choice


def train_image_models(args: argparse.Namespace, config, names: list[str]) -> None:
    """Assemble the image training set and train the image models ``names`` in turn."""
    from tqdm import tqdm

    from digitlib.training import train

    started = time.monotonic()
    print("assembling the training set (cached in .cache/training after the first run)...")
    training_set = train.assemble_training_set(
        config, cache_dir=None if args.no_cache else train.DEFAULT_CACHE_DIR, limit=args.limit
    )
    if args.with_drawings:
        from digitlib.image import segment
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
        path = args.out / CHECKPOINT_FILES[name]
        model.save(path)
        size = path.stat().st_size
        print(f"{name}: {seconds:.0f} s, saved {path} ({size / 1e6:.2f} MB)")
        if path.suffix == ".keras":  # what readings use: no TensorFlow needed to read
            _export(path, name)
        card["models"][name] = {
            "seconds": round(seconds, 1),
            "file": path.name,
            "bytes": size,
            "history": history,
        }
        _write_card(args.out, card)
