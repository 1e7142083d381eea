"""``digitlib tune``: choose the decision's thresholds by cross-validation over training writers
and categories (``digitlib.training.tune``), and print the report as JSON.

Also ``python -m digitlib.cli.tune [--models models] [--seed 0] [--write report.json]``.
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
        "tune",
        help="choose the decision's thresholds by cross-validation (slow: minutes)",
        description=(
            "Cross-validate candidate decisions on fresh renderings of the training writers' "
            "digits and the training categories' doodles, letters and signs (never the held-out "
            "ones) and print the report as JSON (see digitlib.training.tune)."
        ),
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=SHIPPED_MODELS_DIR,
        help="folder with the checkpoints (default: models/)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the tuning drawings")
    parser.add_argument("--write", type=Path, default=None, help="also write the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from digitlib.training.tune import tune

    report = tune(args.models, args.seed)
    text = json.dumps(report, indent=1)
    if args.write:
        args.write.write_text(text + "\n")
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``digitlib tune`` with ``argv`` (the command line's arguments when None)."""
    from digitlib.cli import main as cli_main

    return cli_main(["tune", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
