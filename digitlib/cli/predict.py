"""``digitlib predict FILE.png``: read the digits of a drawing in an image file, with the
learned models of a store (``--store``, default ``DIGITLIB_STORE``) or the shipped ones."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from digitlib.cli.train import add_runtime_argument
from digitlib.config import SHIPPED_MODELS_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="read the digits in a PNG/JPEG drawing")
    parser.add_argument("file", type=Path, help="PNG or JPEG image: dark ink on light paper")
    parser.add_argument(
        "--models",
        type=Path,
        default=SHIPPED_MODELS_DIR,
        help="folder with the checkpoints (default: models/)",
    )
    parser.add_argument(
        "--model", default="ensemble", help="ensemble (default), cnn, fnn or numpy_fnn"
    )
    parser.add_argument("--json", action="store_true", help="print segments as JSON")
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="read with this store's current (learned) versions: s3://bucket/prefix or a "
        "folder (default: $DIGITLIB_STORE; without either, the shipped models)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also say on stderr which model versions read it, and any warnings",
    )
    add_runtime_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from digitlib.preprocess import check_image
    from digitlib.recognize import load_recognizer

    if not args.file.is_file():
        raise FileNotFoundError(f"{args.file}: no such file; expected a PNG or JPEG drawing")
    image = check_image(args.file.read_bytes())  # a bad file is refused before any model loads
    url = args.store or os.environ.get("DIGITLIB_STORE")
    store = None
    if url:
        from digitlib.store import open_store

        store = open_store(url, mode="read")  # an unreachable store fails, it is not skipped
    if args.verbose:
        recognizer = load_recognizer(args.models, store=store, runtime=args.runtime)
    else:  # TensorFlow (runtime keras) logs at import: quiet unless asked for
        from digitlib.models.inference import quiet_native_stderr

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with quiet_native_stderr():
            recognizer = load_recognizer(args.models, store=store, runtime=args.runtime)
    result = recognizer.recognize(image, model=args.model)
    if args.verbose:
        versions = ", ".join(f"{name} {version}" for name, version in recognizer.versions.items())
        print(f"read by {versions}" + (f" from {store.url}" if store else ""), file=sys.stderr)
        for warning in recognizer.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        segments = [
            {
                "label": int(s.label),
                "confidence": round(float(s.confidence), 4),
                "box": [int(v) for v in s.box],
            }
            for s in result.segments
        ]
        print(json.dumps({"text": result.text, "segments": segments}, indent=2))
    else:
        print(result.text)
    return 0
