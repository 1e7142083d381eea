"""``digitlib diagnose``: where digits drawn on a canvas are lost (``digitlib.evaluation.diagnose``), over
MNIST training digits placed on canvases, printed as JSON.

Also ``python -m digitlib.cli.diagnose [--models models] [--count 10000] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from digitlib.config import SHIPPED_MODELS_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="name the step that lost each missed digit (segmentation, decision, recipe, models)",
        description=(
            "Read MNIST training digits placed on canvases and count the misses by the first "
            "step that lost them (see digitlib.evaluation.diagnose); print the counts as JSON."
        ),
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=SHIPPED_MODELS_DIR,
        help="folder with the checkpoints (default: models/)",
    )
    parser.add_argument("--count", type=int, default=10000, help="MNIST training digits")
    parser.add_argument("--seed", type=int, default=0, help="seed of the digits and canvases")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from digitlib.evaluation.diagnose import mnist_canvas_misses

    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    print(json.dumps(mnist_canvas_misses(args.models, args.count, args.seed), indent=1))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``digitlib diagnose`` with ``argv`` (the command line's arguments when None)."""
    from digitlib.cli import main as cli_main

    return cli_main(["diagnose", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
