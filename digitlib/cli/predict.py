"""``digitlib predict FILE``: read the digits of a drawing, with the learned models of a store
(``--store``, default ``DIGITLIB_STORE``) or the shipped ones. ``FILE`` is a PNG or JPEG image,
or a drawing saved with its strokes (JSON, the store's format: ``{"canvas_size": [height,
width], "strokes": [{"points": [[x, y], ...], "width": w}, ...]}``, one line of
``digitlib drawings export``), whose picture is drawn as the canvas showed it and read with its
strokes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from digitlib.cli.train import add_runtime_argument
from digitlib.config import SHIPPED_MODELS_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="read the digits of a PNG/JPEG drawing or a drawing saved with strokes"
    )
    parser.add_argument(
        "file",
        type=Path,
        help="PNG or JPEG image (dark ink on light paper), or a .json drawing with its strokes",
    )
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
    from digitlib.image.preprocess import check_image
    from digitlib.recognize import load_recognizer

    if not args.file.is_file():
        raise FileNotFoundError(
            f"{args.file}: no such file; expected a PNG or JPEG drawing or a .json drawing"
        )
    # A bad file is refused before any model loads.
    if args.file.suffix.lower() == ".json":
        image, strokes = read_drawing(args.file)
    else:
        image, strokes = check_image(args.file.read_bytes()), None
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
    result = recognizer.recognize(image, strokes=strokes, model=args.model)
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
                "strokes": list(s.strokes),
            }
            for s in result.segments
        ]
        print(json.dumps({"text": result.text, "segments": segments}, indent=2))
    else:
        print(result.text)
    return 0


def read_drawing(path: Path):
    """A drawing saved with its strokes: ``(image, strokes)``, the picture drawn as the canvas
    showed it (``dashboard.render.render_drawing``) and the strokes as (P, 2) arrays. Raises
    ``ValueError`` naming the file when it is not such a drawing."""
    import numpy as np

    from digitlib.dashboard.render import render_drawing
    from digitlib.store.drawings import check_strokes

    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise ValueError("expected a JSON object")
        checked = check_strokes({k: record.get(k) for k in ("canvas_size", "strokes")})
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path}: not a drawing with strokes ({error}); expected "
            '{"canvas_size": [height, width], "strokes": [{"points": [[x, y], ...], '
            '"width": w}, ...]}, as digitlib drawings export writes one per line'
        ) from None
    if not checked["strokes"]:
        raise ValueError(f"{path}: the drawing has no strokes")
    strokes = [np.asarray(s["points"], np.float32) for s in checked["strokes"]]
    widths = [float(s["width"]) for s in checked["strokes"]]
    image = render_drawing(strokes, widths, tuple(checked["canvas_size"]))
    return image, strokes
