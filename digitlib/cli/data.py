"""``digitlib data fetch``: put the data sets where digitlib finds them."""

from __future__ import annotations

import argparse
from pathlib import Path

from digitlib.config import PROJECT_ROOT


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="get and inspect the data sets")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = actions.add_parser(
        "fetch", help="download MNIST (checksummed) or copy all data sets from a local folder"
    )
    fetch.add_argument("--from", dest="source", type=Path, help="copy from this folder instead")
    fetch.add_argument(
        "--to",
        dest="destination",
        type=Path,
        default=PROJECT_ROOT / "data",
        help="where to put them (default: the project's data/ folder)",
    )
    fetch.set_defaults(handler=run_fetch)
    where = actions.add_parser("where", help="show where each data set is found")
    where.set_defaults(handler=run_where)


def run_fetch(args: argparse.Namespace) -> int:
    from digitlib.drawings import data

    written = data.fetch_mnist(args.destination, source=args.source)
    if args.source is not None:
        written += data.copy_data_tree(args.source, args.destination)
    for path in written:
        print(path)
    return 0


def run_where(args: argparse.Namespace) -> int:
    from digitlib.drawings import data

    missing = 0
    for relative in (
        "mnist/train-images-idx3-ubyte.gz",
        data.PENDIGITS_FILE,
        data.QUICKDRAW_STROKES_DIR,
        data.QUICKDRAW_BITMAPS_DIR,
    ):
        try:
            print(f"{relative}: {data.find_data_file(relative)}")
        except data.DataNotFoundError as error:
            missing += 1
            print(f"{relative}: MISSING\n{error}")
    return 1 if missing else 0
