"""Fresh-process figures: ``import digitlib`` time, model load time and peak memory.

Each is measured in a new Python process (``python -m benchmarks.bench_process WORKER``), so
nothing that this run already imported or loaded flatters the figure. Workers print one JSON
line on stdout.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import PROJECT_ROOT, Context, Missing, summarize, value

WORKER_TIMEOUT = 240


def run_worker(name: str, *args: str) -> dict:
    """Run one worker in a fresh interpreter and return the JSON it printed."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_process", name, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"worker {name} failed ({done.returncode}): {' | '.join(tail)}")
    found = json.loads(lines[-1])
    if "missing" in found:
        raise Missing(found["missing"])
    return found


def bench_import(context: Context) -> dict[str, dict]:
    """``import digitlib`` in a fresh process, and whether it pulled in TensorFlow or cv2."""
    runs = [
        run_worker("import")
        for _ in context.progress.track(range(context.sizes["import_runs"]), "imports")
    ]
    return {
        "import_digitlib": summarize([run["seconds"] for run in runs]),
        "heavy_modules_loaded": value(len(runs[-1]["heavy"]), "modules", names=runs[-1]["heavy"]),
    }


def bench_load_and_memory(context: Context) -> dict[str, dict]:
    """Model load time and the peak memory (max RSS) of a process that reads canvases.

    ``load_recognizer_cold`` is the first ``load_recognizer()`` in a fresh process (TensorFlow
    import included): what a user waits for. ``load_recognizer_warm`` is a second load in the same
    process. The baseline process loads the CNN with ``keras.saving.load_model`` and reads the
    same canvases with ``model.predict``.
    """
    models_dir = str(context.models_dir)
    count = str(context.sizes["memory_canvases"])
    runs = [
        run_worker("recognizer", models_dir, count)
        for _ in context.progress.track(range(context.sizes["load_runs"]), "recognizer processes")
    ]
    base = run_worker("baseline", models_dir, count)
    base_peak = value(base["peak_mb"], "MB", canvases=int(count))
    return {
        "load_recognizer_cold": summarize([run["load_cold"] for run in runs], unit="s", scale=1),
        "load_recognizer_warm": summarize([run["load_warm"] for run in runs], unit="s", scale=1),
        "baseline_load_model_warm": value(base["load_warm"], "s"),
        "recognizer_peak_memory": value(
            max(run["peak_mb"] for run in runs),
            "MB",
            after_load_mb=max(run["loaded_mb"] for run in runs),
            canvases=int(count),
            ratio_to_baseline=base["peak_mb"] / max(run["peak_mb"] for run in runs),
        ),
        "baseline_peak_memory": base_peak,
    }


# --- workers (run in the fresh process) ----------------------------------------------------------


def _peak_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's ``VmHWM`` first: ``getrusage``'s ``ru_maxrss`` survives ``fork`` and ``exec``, so a
    worker started by a benchmark process that already holds TensorFlow would report the
    parent's size. ``ru_maxrss`` (kilobytes on Linux, bytes on macOS) where there is no /proc.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def _worker_import() -> dict:
    started = time.perf_counter()
    import digitlib  # noqa: F401

    seconds = time.perf_counter() - started
    heavy = sorted(name for name in ("tensorflow", "keras", "cv2", "boto3") if name in sys.modules)
    return {"seconds": seconds, "heavy": heavy}


def _canvas_mix(count: int):
    from benchmarks import canvases

    digits = canvases.digit_canvases(count, seed=23).images
    numbers = canvases.number_canvases(max(1, count // 5), seed=29, lengths=(5, 5)).images
    return digits + numbers


def _worker_recognizer(models_dir: str, count: str) -> dict:
    started = time.perf_counter()
    import digitlib

    try:
        recognizer = digitlib.load_recognizer(Path(models_dir))
    except (AttributeError, ImportError, FileNotFoundError) as error:
        return {"missing": f"load_recognizer failed: {type(error).__name__}: {error}"}
    load_cold = time.perf_counter() - started
    loaded_mb = _peak_mb()
    started = time.perf_counter()
    digitlib.load_recognizer(Path(models_dir))
    load_warm = time.perf_counter() - started
    for image in _canvas_mix(int(count)):
        recognizer.recognize(image)
    return {
        "load_cold": load_cold,
        "load_warm": load_warm,
        "loaded_mb": loaded_mb,
        "peak_mb": _peak_mb(),
    }


def _worker_baseline(models_dir: str, count: str) -> dict:
    from benchmarks.baseline import baseline_read, load_baseline_model

    load_baseline_model(Path(models_dir))  # imports Keras and TensorFlow
    started = time.perf_counter()
    model = load_baseline_model(Path(models_dir))
    load_warm = time.perf_counter() - started
    for image in _canvas_mix(int(count)):
        baseline_read(model, image)
    return {"load_warm": load_warm, "peak_mb": _peak_mb()}


WORKERS = {
    "import": _worker_import,
    "recognizer": _worker_recognizer,
    "baseline": _worker_baseline,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in WORKERS:
        print(f"usage: python -m benchmarks.bench_process {{{'|'.join(WORKERS)}}} [ARGS...]")
        return 2
    try:
        found = WORKERS[argv[0]](*argv[1:])
    except Missing as reason:
        found = {"missing": str(reason)}
    print(json.dumps(found), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
