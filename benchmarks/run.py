"""Run the digitlib benchmarks: ``python -m benchmarks.run [--quick] [--only NAME ...] [--out PATH]``.

The same as ``digitlib bench`` and ``make bench``. Writes every figure, the commit and the machine
to ``benchmarks/results/latest.json`` and prints a short table. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from benchmarks import bench_crowd, bench_dashboard, bench_process, bench_recognize
from benchmarks.harness import (
    DEFAULT_OUT,
    Benchmark,
    Context,
    Missing,
    Progress,
    Target,
    format_table,
    run_benchmarks,
    summarize,
    value,
    write_results,
)

#: Sample counts of a full run (about 12-15 minutes on 2 busy cores) and of ``--quick``.
SIZES = {
    "one_digit": 300,
    "five_digits": 100,
    "numbers": 300,
    "doodles": 300,
    "throughput": 1000,
    "throughput_unique": 250,
    "throughput_baseline": 100,
    "import_runs": 5,
    "load_runs": 2,
    "memory_readings": 50,
    "predict_runs": 3,
    "learn_runs": 10,
    "dashboard_warm_runs": 3,
    "dashboard_cold_runs": 2,
    "dashboard_keras_warm_runs": 2,
    "dashboard_keras_cold_runs": 1,
    "stroke_trials": 20,
    "dashboard_readings": 50,
    "crowd_pages": 20,
    "crowd_pool": 4,
    "crowd_floor": 1,
}
QUICK_SIZES = {
    "one_digit": 40,
    "five_digits": 15,
    "numbers": 30,
    "doodles": 40,
    "throughput": 200,
    "throughput_unique": 50,
    "throughput_baseline": 20,
    "import_runs": 2,
    "load_runs": 1,
    "memory_readings": 50,
    "predict_runs": 1,
    "learn_runs": 3,
    "dashboard_warm_runs": 1,
    "dashboard_cold_runs": 1,
    "dashboard_keras_warm_runs": 1,
    "dashboard_keras_cold_runs": 0,
    "stroke_trials": 5,
    "dashboard_readings": 10,
    "crowd_pages": 6,
    "crowd_pool": 4,
    "crowd_floor": 0,
}


def bench_learn(context: Context) -> dict[str, dict]:
    """First and later ``learn()``, lean and TensorFlow recognizers, from
    ``benchmarks/bench_learn.py`` (a fresh process per runtime)."""
    try:
        module = importlib.import_module("benchmarks.bench_learn")
    except ModuleNotFoundError as error:
        if error.name == "benchmarks.bench_learn":
            raise Missing("benchmarks/bench_learn.py does not exist") from error
        raise
    found = module.run(
        {
            "runs": context.sizes["learn_runs"],
            "models_dir": context.models_dir,
        }
    )
    return learn_figures(found)


def learn_figures(found: dict[str, dict]) -> dict[str, dict]:
    """bench_learn's result (runtime -> first, later, outcomes ...) -> figures.

    ``first_learn`` and ``learn`` (the later ones) are the lean recognizer's; the ``_keras``
    figures the TensorFlow recognizer's; ``outcomes`` says what each learn did.
    """
    figures: dict[str, dict] = {}
    found = dict(found)
    prepared = found.pop("prepare", None)
    if prepared is not None:
        figures["one_time_preparation"] = value(
            prepared["seconds"], "s", caches_were_warm=prepared["caches_were_warm"]
        )
    for runtime, result in found.items():
        suffix = "" if runtime == "lean" else f"_{runtime}"
        figures[f"first_learn{suffix}"] = value(
            result["first"],
            "s",
            outcome=result.get("first_outcome"),
            tensorflow_before_learn=result.get("tensorflow_before_learn"),
        )
        if result.get("later"):
            figures[f"learn{suffix}"] = summarize(result["later"], unit="s", scale=1) | {
                "phases": result.get("phases", {})
            }
        figures[f"outcomes{suffix}"] = {
            "value": None,
            "unit": "",
            "detail": {
                key: result.get(key)
                for key in ("outcomes", "reasons", "inference_files_written", "load", "construct")
            },
        }
    if "learn" in figures and "learn_keras" in figures:
        figures["learn"]["ratio_to_keras"] = (
            figures["learn_keras"]["median"] / figures["learn"]["median"]
        )
    return figures


#: The benchmarks in run order: cheap in-process ones first, the browsers last.
BENCHMARKS: dict[str, Benchmark] = {
    "one_digit": bench_recognize.bench_one_digit,
    "five_digits": bench_recognize.bench_five_digits,
    "numbers": bench_recognize.bench_numbers,
    "doodles": bench_recognize.bench_doodles,
    "throughput": bench_recognize.bench_throughput,
    "import": bench_process.bench_import,
    "load_and_memory": bench_process.bench_load_and_memory,
    "predict": bench_process.bench_predict,
    "learn": bench_learn,
    "dashboard": bench_dashboard.bench_dashboard,
    "crowd": bench_crowd.bench_crowd,
}

#: The issues' targets, judged on every run (issue 13's lean runtime and crowd targets replace
#: the earlier, looser ones on the same figures).
TARGETS = (
    Target(
        "one_digit/latency.ensemble",
        ">=",
        4.0,
        "recognize() one digit, ensemble, >= 4x faster than the baseline's model.predict()",
        field="ratio_to_baseline",
    ),
    Target(
        "one_digit/accuracy.ensemble",
        ">=",
        None,
        "... with higher accuracy than the baseline (held-out one-digit canvases)",
        better_than="one_digit/accuracy.baseline",
    ),
    Target("throughput/ensemble", ">=", 300, "throughput, one-digit canvases >= 300/s"),
    Target(
        "one_digit/latency.ensemble",
        "<=",
        1.5,
        "recognize() one digit, ensemble, median <= 1.5 ms",
    ),
    Target(
        "five_digits/latency.ensemble", "<=", 4, "recognize() 5 digits, ensemble, median <= 4 ms"
    ),
    Target(
        "one_digit/latency.ensemble_strokes",
        "<=",
        1.0,
        "recognize() one digit with its strokes (stroke model and fusion), median <= 1 ms",
    ),
    Target(
        "five_digits/latency.ensemble_strokes",
        "<=",
        2.5,
        "recognize() 5 digits with their strokes, median <= 2.5 ms",
    ),
    Target(
        "one_digit/latency.ensemble",
        ">=",
        2.5,
        "recognize() one digit >= 2.5x faster than the TensorFlow path, same run",
        field="ratio_to_keras",
    ),
    Target(
        "five_digits/latency.ensemble",
        ">=",
        2.5,
        "recognize() 5 digits >= 2.5x faster than the TensorFlow path, same run",
        field="ratio_to_keras",
    ),
    Target("one_digit/accuracy.ensemble", ">=", 98.5, "held-out digits read exactly >= 98.5 %"),
    Target("one_digit/read_as_other.ensemble", "<=", 1.0, "digits read as other <= 1 %"),
    Target("numbers/accuracy.ensemble", ">=", 93.0, "held-out numbers read exactly >= 93 %"),
    Target("doodles/accuracy.ensemble", ">=", 95.0, "held-out doodles read as nothing >= 95 %"),
    Target(
        "load_and_memory/tensorflow_imported",
        "<=",
        0,
        "no tensorflow imported in a process that loads the recognizer and reads 50 drawings",
    ),
    Target("load_and_memory/load_recognizer_cold", "<=", 0.5, "load_recognizer() <= 0.5 s"),
    Target("predict/process", "<=", 1.0, "digitlib predict drawing.png, whole process <= 1.0 s"),
    Target("predict/log_lines", "<=", 0, "... with no log lines on stderr"),
    Target("learn/first_learn", "<=", 4.0, "first learn() in a fresh process <= 4 s"),
    Target("learn/learn", "<=", 1.0, "later learn(), inference files included, median <= 1 s"),
    Target(
        "dashboard/usable_canvas_preheated",
        "<=",
        1.5,
        "dashboard canvas usable, preheated <= 1.5 s",
    ),
    Target("dashboard/usable_canvas_cold", "<=", 4.0, "dashboard canvas usable, cold <= 4 s"),
    Target("dashboard/stroke_to_reading", "<=", 300, "end of stroke to reading <= 300 ms median"),
    Target("dashboard/kernel_memory", "<=", 200, "dashboard kernel after 50 readings <= 200 MB"),
    Target(
        "crowd/pages_usable", ">=", 100, "crowd: every page opened at once usable", field="percent"
    ),
    Target(
        "crowd/readings_received", ">=", 100, "crowd: a reading on every page", field="percent"
    ),
    Target("crowd/slowest_page", "<=", 20, "crowd: slowest page to usable canvas <= 20 s"),
    Target("crowd/slowest_reading", "<=", 1000, "crowd: every reading <= 1 s"),
    Target("crowd/server_memory", "<=", 4096, "crowd: server and its kernels <= 4 GB"),
)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="small samples (about 5 minutes): a smoke run"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=sorted(BENCHMARKS),
        help=f"run only these benchmarks: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="where to write the results (default: benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=None,
        help="models folder to measure (default: the shipped models/)",
    )
    return parser


def run(
    *,
    quick: bool = False,
    only: list[str] | None = None,
    out: Path | None = DEFAULT_OUT,
    models_dir: Path | None = None,
    sizes: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> dict:
    """Run the benchmarks and write the results; returns the results document.

    ``sizes`` overrides sample counts (the tests use tiny ones); ``out=None`` writes nothing.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow
    unknown = sorted(set(only or ()) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    chosen = {name: BENCHMARKS[name] for name in (only or BENCHMARKS)}
    context = Context(
        sizes=(QUICK_SIZES if quick else SIZES) | (sizes or {}),
        progress=progress or Progress(),
        quick=quick,
    )
    if models_dir is not None:
        context.models_dir = Path(models_dir)
    document = run_benchmarks(chosen, context, TARGETS)
    document["models_dir"] = str(context.models_dir)
    if out is not None:
        document["written_to"] = str(write_results(document, out))
    return document


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    document = run(quick=args.quick, only=args.only, out=args.out, models_dir=args.models)
    print(format_table(document))
    if "written_to" in document:
        print(f"results: {document['written_to']}")
    failed = [n for n, r in document["benchmarks"].items() if r["status"] == "error"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
