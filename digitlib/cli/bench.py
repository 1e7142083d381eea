"""``digitlib bench``: run the benchmarks in ``benchmarks/`` and print the table of figures."""

from __future__ import annotations

import argparse
import subprocess
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


def benchmark_command(args: argparse.Namespace) -> list[str]:
    """The command that runs the source checkout's benchmarks (``python -m benchmarks.run``,
    from the project's root) with ``args``' choices. The benchmarks are not part of the
    installed package, so they run as their own process rather than being imported here."""
    command = [sys.executable, "-m", "benchmarks.run", "--out", str(Path(args.out).resolve())]
    if args.quick:
        command.append("--quick")
    if args.only:
        command += ["--only", *args.only]
    if args.models is not None:
        command += ["--models", str(Path(args.models).resolve())]
    return command


def run_bench(args: argparse.Namespace) -> int:
    if not (PROJECT_ROOT / "benchmarks" / "run.py").exists():
        raise FileNotFoundError(
            f"{PROJECT_ROOT / 'benchmarks'} not found: the benchmarks run from a source "
            "checkout (git clone the project, then make bench)"
        )
    return subprocess.run(benchmark_command(args), cwd=PROJECT_ROOT).returncode
