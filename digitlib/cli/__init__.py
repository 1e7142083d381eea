"""The ``digitlib`` command line: a thin door into the package.

Each subcommand group lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``handler`` (a function taking the parsed namespace and returning an exit code).
Heavy imports happen inside the handlers, so ``digitlib --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Modules of ``digitlib.cli`` that register subcommands, in help order.
SUBCOMMAND_MODULES = (
    "train",
    "evaluate",
    "tune",
    "diagnose",
    "predict",
    "models",
    "drawings",
    "data",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitlib",
        description="Read handwritten digits from canvas drawings; train, evaluate and manage models.",
    )
    from digitlib import __version__

    parser.add_argument("--version", action="version", version=f"digitlib {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"digitlib.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"digitlib.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before NumPy loads: one BLAS thread. Every matrix digitlib multiplies in NumPy is small
    # (a reading's head, the NumPy network's mini-batches); on 2 busy cores OpenBLAS's threads
    # spin against each other (a 5-digit reading took 138 ms instead of 3.8 ms at load 12).
    from digitlib.cli.train import limit_blas_threads

    limit_blas_threads()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from digitlib.store.base import StoreError  # plain Python: cheap to import

    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, KeyError, StoreError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"digitlib {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
