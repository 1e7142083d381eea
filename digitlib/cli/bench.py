"""``digitlib bench``: run the benchmarks in ``benchmarks/`` and print the table of figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digitlib.config import PROJECT_ROOT

#: The benchmark names, repeated here so that ``digitlib --help`` needs no benchmark imports.
BENCHMARK_NAMES = (
    "one_digit",
    "five_digits",
    "numbers",
    "doodles",
    "throughput",
    "import",
    "load_and_memory",
    "predict",
    "learn",
    "dashboard",
    "crowd",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure speed, memory and accuracy against a plain Keras baseline",
        description="Run the benchmarks (benchmarks/README.md) and write the results as JSON.",
    )
    parser.add_argument("--quick", action="store_true", help="small samples: a smoke run")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=BENCHMARK_NAMES,
        help=f"run only these: {', '.join(BENCHMARK_NAMES)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PROJECT_ROOT / "benchmarks" / "results" / "latest.json",
        help="results file (default: benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--models", type=Path, default=None, help="models folder (default: the shipped models/)"
    )
    parser.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    if not (PROJECT_ROOT / "benchmarks" / "run.py").exists():
        raise FileNotFoundError(
            f"{PROJECT_ROOT / 'benchmarks'} not found: the benchmarks run from a source checkout"
        )
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from benchmarks.harness import format_table
    from benchmarks.run import run

    document = run(quick=args.quick, only=args.only, out=args.out, models_dir=args.models)
    print(format_table(document))
    print(f"results: {document.get('written_to')}")
    return 1 if any(r["status"] == "error" for r in document["benchmarks"].values()) else 0
