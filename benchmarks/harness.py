"""A small benchmark harness: run benchmark functions, collect figures, judge targets, write JSON.

A benchmark is a function ``bench(context) -> dict[str, Figure]``. It raises ``Missing`` when a
part it measures is not there (no shipped models yet, no dashboard, no Chromium): the run records
the benchmark as missing with the reason and goes on. Any other exception is recorded as an error
with its message, also without stopping the run.

Timings on a shared machine are noisy, so the headline figures are ratios against the baseline
measured in the same run, on the same inputs, interleaved with the measured pipeline.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = PROJECT_ROOT / "benchmarks" / "results" / "latest.json"


class Missing(Exception):  # noqa: N818 - reads as "raise Missing(reason)"
    """A part the benchmark measures is not available; the message says which and why."""


# --- figures -------------------------------------------------------------------------------------


def summarize(samples: Sequence[float], *, unit: str = "ms", scale: float = 1000.0) -> dict:
    """Median, 95th percentile, mean, min and count of ``samples`` (seconds, shown in ``unit``).

    ``scale`` converts seconds to ``unit`` (1000 for ms, 1 for s). Raises ``ValueError`` on an
    empty sample.
    """
    if len(samples) == 0:
        raise ValueError("summarize needs at least one sample")
    values = np.asarray(samples, np.float64) * scale
    return {
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "n": int(values.size),
        "unit": unit,
    }


def value(amount: float, unit: str, **extra: Any) -> dict:
    """A single-valued figure (a throughput, an accuracy, a memory size)."""
    return {"value": float(amount), "unit": unit, **extra}


def with_ratio(figure: dict, baseline: dict) -> dict:
    """``figure`` plus ``ratio_to_baseline`` = baseline median / figure median (> 1 is faster)."""
    figure = dict(figure)
    if figure.get("median"):
        figure["ratio_to_baseline"] = baseline["median"] / figure["median"]
        figure["ratio_p95_to_baseline"] = baseline["p95"] / figure["p95"]
    return figure


def headline(figure: dict) -> float | None:
    """The number a target is judged on: the median for timings, else the value."""
    if "median" in figure:
        return figure["median"]
    return figure.get("value")


# --- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A goal for one figure: ``figure`` (``benchmark/figure``) ``op`` ``threshold``.

    ``field`` picks what is compared: ``"headline"`` (median or value) or a key such as
    ``"ratio_to_baseline"``. ``better_than`` names another figure whose headline must be lower
    (``op`` ``">"``) than this one's, for "higher accuracy than the baseline".
    """

    figure: str
    op: str
    threshold: float | None
    description: str
    field: str = "headline"
    better_than: str | None = None

    def judge(self, figures: dict[str, dict]) -> dict:
        figure = figures.get(self.figure)
        result: dict[str, Any] = {"target": self.description, "figure": self.figure}
        if figure is None:
            return result | {"met": None, "why": "figure missing"}
        measured = headline(figure) if self.field == "headline" else figure.get(self.field)
        if measured is None:
            return result | {"met": None, "why": f"figure has no {self.field}"}
        result["measured"] = measured
        met = _compare(measured, self.op, self.threshold)
        if self.better_than is not None:
            other = figures.get(self.better_than)
            if other is None:
                return result | {"met": None, "why": f"{self.better_than} missing"}
            result["compared_with"] = headline(other)
            met = met and measured > headline(other)
        return result | {"met": bool(met)}


def _compare(measured: float, op: str, threshold: float | None) -> bool:
    if threshold is None:
        return True
    if op == ">=":
        return measured >= threshold
    if op == "<=":
        return measured <= threshold
    raise ValueError(f"unknown comparison {op!r}; use '>=' or '<='")


# --- progress ------------------------------------------------------------------------------------


class Progress:
    """Progress lines on ``stream`` (stderr): one per step, and a counter for long loops."""

    def __init__(self, stream=None, *, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.prefix = ""

    def say(self, message: str) -> None:
        if self.enabled:
            print(f"{self.prefix}{message}", file=self.stream, flush=True)

    def track(self, items: Iterable, label: str, total: int | None = None) -> Iterator:
        """Yield ``items``, reporting how far along it is about every 2 seconds."""
        total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
        started = last = time.monotonic()
        count = 0
        for count, item in enumerate(items, start=1):
            yield item
            now = time.monotonic()
            if self.enabled and now - last >= 2.0:
                last = now
                of = f"/{total}" if total else ""
                self.say(f"  {label}: {count}{of} ({now - started:.0f} s)")
        if self.enabled:
            self.say(f"  {label}: {count} done in {time.monotonic() - started:.1f} s")


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Context:
    """What every benchmark gets: run size, progress, and a cache for shared inputs and models.

    ``sizes`` holds the sample counts (see ``benchmarks.run.SIZES``); ``cache`` lets benchmarks
    share expensive set-up (canvases, the recognizer, the baseline model) within one run.
    """

    sizes: dict[str, int]
    progress: Progress = field(default_factory=Progress)
    quick: bool = False
    models_dir: Path = PROJECT_ROOT / "models"
    cache: dict[str, Any] = field(default_factory=dict)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]


Benchmark = Callable[[Context], dict[str, dict]]


def run_benchmarks(
    benchmarks: dict[str, Benchmark], context: Context, targets: Sequence[Target] = ()
) -> dict:
    """Run each benchmark, never letting one stop the others; return the results document."""
    started = time.time()
    results: dict[str, dict] = {}
    figures: dict[str, dict] = {}
    for number, (name, bench) in enumerate(benchmarks.items(), start=1):
        context.progress.prefix = ""
        context.progress.say(f"[{number}/{len(benchmarks)}] {name}")
        context.progress.prefix = "  "
        began = time.perf_counter()
        try:
            found = bench(context)
            results[name] = {"status": "ok", "figures": found}
            figures.update({f"{name}/{key}": figure for key, figure in found.items()})
        except Missing as reason:
            results[name] = {"status": "missing", "reason": str(reason)}
            context.progress.say(f"missing: {reason}")
        except Exception as error:  # noqa: BLE001 - one broken benchmark must not end the run
            results[name] = {
                "status": "error",
                "reason": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(),
            }
            context.progress.say(f"error: {type(error).__name__}: {error}")
        results[name]["seconds"] = round(time.perf_counter() - began, 2)
    context.progress.prefix = ""
    # Judge only the targets of the benchmarks that ran (``--only`` runs a few).
    judged = [
        target.judge(figures) for target in targets if target.figure.split("/")[0] in results
    ]
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "quick": context.quick,
        "sizes": dict(context.sizes),
        "commit": git_commit(),
        "machine": machine(),
        "benchmarks": results,
        "targets": judged,
    }


def write_results(document: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


# --- where it ran --------------------------------------------------------------------------------


def git_commit(root: Path = PROJECT_ROOT) -> dict:
    """The checkout's commit, and whether tracked files differ from it (``dirty``)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "sha": git("rev-parse", "HEAD"),
        "short": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "dirty": bool(status) if status is not None else None,
    }


def machine() -> dict:
    """Cores, CPU model, memory, load, OS and the versions that matter for the figures."""
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "memory_gb": _memory_gb(),
    }
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    # NumPy's BLAS threads change the lean runtime's figures a lot on a busy machine.
    info["thread_settings"] = {
        name: os.environ[name]
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        if name in os.environ
    }
    for package in ("numpy", "cv2", "tensorflow", "keras"):
        module = sys.modules.get(package)
        if module is not None:
            info[f"{package}_version"] = getattr(module, "__version__", "?")
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


# --- the table -----------------------------------------------------------------------------------


def format_table(document: dict) -> str:
    """A short plain-text table of every figure, the targets, and what was missing."""
    rows = [("figure", "median / value", "p95", "vs baseline")]
    for name, result in document["benchmarks"].items():
        if result["status"] != "ok":
            rows.append((name, result["status"].upper(), "", result.get("reason", "")[:70]))
            continue
        for key, figure in result["figures"].items():
            rows.append(
                (
                    f"{name}/{key}",
                    _number(headline(figure), figure.get("unit", "")),
                    _number(figure.get("p95"), figure.get("unit", "")),
                    f"{figure['ratio_to_baseline']:.1f}x" if "ratio_to_baseline" in figure else "",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    lines.insert(1, "-" * (sum(widths) + 20))
    lines.append("")
    for judged in document["targets"]:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[judged["met"]]
        detail = ""
        if "measured" in judged:
            detail = f" (measured {judged['measured']:.4g}"
            if "compared_with" in judged:
                detail += f", baseline {judged['compared_with']:.4g}"
            detail += ")"
        elif "why" in judged:
            detail = f" ({judged['why']})"
        lines.append(f"[{mark}] {judged['target']}{detail}")
    commit = document["commit"]
    box = document["machine"]
    lines.append("")
    lines.append(
        f"commit {commit.get('short')}{' (dirty)' if commit.get('dirty') else ''}; "
        f"{box.get('usable_cores')} cores of {box.get('cpu_model')}, {box.get('memory_gb')} GB; "
        f"load {box.get('load_average')}; {document['seconds']} s"
        f"{' (quick)' if document['quick'] else ''}"
    )
    return "\n".join(lines)


def _number(amount: float | None, unit: str) -> str:
    if amount is None:
        return ""
    if unit == "%":
        return f"{amount:.2f} %"
    if abs(amount) >= 100:
        return f"{amount:.0f} {unit}"
    if abs(amount) >= 10:
        return f"{amount:.1f} {unit}"
    return f"{amount:.2f} {unit}"


def format_markdown(document: dict) -> str:
    """The figures and targets as Markdown tables, for ``benchmarks/README.md``."""
    lines = [
        "| figure | median / value | p95 | vs baseline | n |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, result in document["benchmarks"].items():
        if result["status"] != "ok":
            lines.append(f"| {name} | {result['status']}: {result.get('reason', '')} | | | |")
            continue
        for key, figure in result["figures"].items():
            unit = figure.get("unit", "")
            ratio = figure.get("ratio_to_baseline")
            count = figure.get("n", "")
            lines.append(
                f"| `{name}/{key}` | {_number(headline(figure), unit)} "
                f"| {_number(figure.get('p95'), unit)} "
                f"| {f'{ratio:.1f}x' if ratio is not None else ''} | {count} |"
            )
    lines += ["", "| target | measured | met |", "| --- | --- | --- |"]
    for judged in document["targets"]:
        measured = f"{judged['measured']:.4g}" if "measured" in judged else judged.get("why", "")
        if "compared_with" in judged:
            measured += f" (baseline {judged['compared_with']:.4g})"
        met = {True: "yes", False: "**no**", None: "n/a"}[judged["met"]]
        lines.append(f"| {judged['target']} | {measured} | {met} |")
    commit, box = document["commit"], document["machine"]
    lines += [
        "",
        f"Commit `{commit.get('short')}`{' (with uncommitted changes)' if commit.get('dirty') else ''}"
        f" ({commit.get('subject')}); {box.get('usable_cores')} cores of {box.get('cpu_model')}, "
        f"{box.get('memory_gb')} GB RAM, load average {box.get('load_average')} at the end; "
        f"Python {box.get('python')}, TensorFlow {box.get('tensorflow_version', '?')}, "
        f"Keras {box.get('keras_version', '?')}; {document['created']}, "
        f"{document['seconds']:.0f} s{' (--quick)' if document['quick'] else ''}.",
    ]
    return "\n".join(lines)
