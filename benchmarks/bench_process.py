"""Fresh-process figures: ``import digitlib`` time, model load time, memory, ``digitlib predict``.

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
import tempfile
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
    """Model load time and the memory of a process that reads drawings, lean and TensorFlow.

    ``load_recognizer_cold`` is the first ``load_recognizer()`` in a fresh process (imports
    included): what a user waits for; ``load_recognizer_warm`` a second load in the same
    process. ``memory_after_readings`` is the resident memory after ``sizes["memory_readings"]``
    readings (``peak_mb`` its high-water mark) and says whether ``tensorflow`` was imported
    (``tensorflow_imported``: 1 or 0). Each runtime runs in fresh processes of its own, the
    lean one first; the ``_keras`` figures are the same on ``runtime="keras"``. The baseline
    process loads the CNN with ``keras.saving.load_model`` and reads the same drawings with
    ``model.predict``.
    """
    models_dir = str(context.models_dir)
    runs: dict[str, list[dict]] = {"lean": [], "keras": []}
    with tempfile.TemporaryDirectory(prefix="digitlib-bench-memory-") as folder:
        write_drawings(Path(folder), context.sizes["memory_readings"])
        for _ in context.progress.track(
            range(context.sizes["load_runs"]), "recognizer processes (lean, then keras)"
        ):
            for runtime in runs:
                runs[runtime].append(run_worker("recognizer", models_dir, folder, runtime))
        base = run_worker("baseline", models_dir, folder)
    figures: dict[str, dict] = {}
    for runtime, found in runs.items():
        suffix = "" if runtime == "lean" else f"_{runtime}"
        last = found[-1]
        figures[f"load_recognizer_cold{suffix}"] = summarize(
            [run["load_cold"] for run in found], unit="s", scale=1
        )
        figures[f"load_recognizer_warm{suffix}"] = summarize(
            [run["load_warm"] for run in found], unit="s", scale=1
        )
        figures[f"memory_after_readings{suffix}"] = value(
            max(run["rss_mb"] for run in found),
            "MB",
            peak_mb=max(run["peak_mb"] for run in found),
            after_load_mb=max(run["loaded_mb"] for run in found),
            readings=last["readings"],
            tensorflow_imported=int(any(run["tensorflow"] for run in found)),
            ratio_to_baseline=base["peak_mb"] / max(run["peak_mb"] for run in found),
        )
        figures[f"tensorflow_imported{suffix}"] = value(
            sum(run["tensorflow"] for run in found),
            "processes",
            of=len(found),
            heavy_modules=last["heavy"],
            readings=last["readings"],
        )
    for name in ("load_recognizer_cold", "load_recognizer_warm"):
        figures[name]["ratio_to_keras"] = (
            figures[f"{name}_keras"]["median"] / figures[name]["median"]
        )
    figures["memory_after_readings"]["ratio_to_keras"] = (
        figures["memory_after_readings_keras"]["value"] / figures["memory_after_readings"]["value"]
    )
    figures["baseline_load_model_warm"] = value(base["load_warm"], "s")
    figures["baseline_peak_memory"] = value(base["peak_mb"], "MB", readings=base["readings"])
    return figures


def bench_predict(context: Context) -> dict[str, dict]:
    """A whole ``digitlib predict drawing.png`` process, lean and ``--runtime keras``.

    The wall time from starting the command to its exit, as a user waits for it, and the lines
    it wrote to stderr (``log_lines``: TensorFlow's start-up logs would be there). It runs with
    the environment of the benchmark minus ``TF_CPP_MIN_LOG_LEVEL``, which would hide those logs.
    The drawing is a held-out one-digit canvas written as PNG; ``read_right`` counts the runs
    whose output was that digit.
    """
    import cv2

    from benchmarks import canvases

    drawing = canvases.digit_canvases(1, seed=37)
    command = predict_command()
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="digitlib-bench-predict-") as folder:
        path = Path(folder) / "drawing.png"
        cv2.imwrite(str(path), cv2.cvtColor(drawing.images[0], cv2.COLOR_RGBA2BGRA))
        runs: dict[str, list[dict]] = {"lean": [], "keras": []}
        for _ in context.progress.track(range(context.sizes["predict_runs"]), "predict runs"):
            for runtime in runs:
                started = time.perf_counter()
                done = subprocess.run(
                    [*command, "predict", str(path), "--models", str(context.models_dir)]
                    + ["--runtime", runtime],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=WORKER_TIMEOUT,
                )
                seconds = time.perf_counter() - started
                if done.returncode != 0:
                    tail = done.stderr.strip().splitlines()[-3:]
                    raise RuntimeError(
                        f"digitlib predict --runtime {runtime} failed ({done.returncode}): {tail}"
                    )
                runs[runtime].append(
                    {
                        "seconds": seconds,
                        "text": done.stdout.strip(),
                        "stderr": [line for line in done.stderr.splitlines() if line.strip()],
                    }
                )
    for runtime, found in runs.items():
        suffix = "" if runtime == "lean" else f"_{runtime}"
        lines = [line for run in found for line in run["stderr"]]
        figures[f"process{suffix}"] = summarize(
            [run["seconds"] for run in found], unit="s", scale=1
        ) | {
            "read_right": sum(run["text"] == drawing.expected[0] for run in found),
            "command": " ".join([Path(command[-1]).name, "predict", "drawing.png"])
            + ("" if runtime == "lean" else " --runtime keras"),
        }
        figures[f"log_lines{suffix}"] = value(
            max(len(run["stderr"]) for run in found), "lines", first_lines=lines[:3]
        )
    figures["process"]["ratio_to_keras"] = (
        figures["process_keras"]["median"] / figures["process"]["median"]
    )
    return figures


def predict_command() -> list[str]:
    """The ``digitlib`` command as a user runs it: the installed script beside this Python."""
    script = Path(sys.executable).parent / "digitlib"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "digitlib.cli"]


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


def _rss_mb() -> float:
    """This process's resident memory now, in MB (``VmRSS``; ``ru_maxrss`` where no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_mb()


def write_drawings(folder: Path, count: int) -> list[Path]:
    """Write ``count`` held-out drawings as PNG files into ``folder``: four in five one-digit
    canvases, one in five 5-digit numbers. The workers read them one file at a time, as a
    reader of uploaded drawings would, so that their memory is the reader's, not the
    rendering's (50 canvases of up to 600x600 RGBA would add ~70 MB)."""
    import cv2

    from benchmarks import canvases

    numbers = count // 5
    images = canvases.digit_canvases(count - numbers, seed=23).images
    if numbers:
        images += canvases.number_canvases(numbers, seed=29, lengths=(5, 5)).images
    paths = []
    for index, image in enumerate(images):
        path = folder / f"drawing-{index:03d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA))
        paths.append(path)
    return paths


def _drawing_files(folder: str) -> list[Path]:
    return sorted(Path(folder).glob("drawing-*.png"))


def _heavy_modules() -> list[str]:
    return sorted(name for name in ("tensorflow", "keras") if name in sys.modules)


def _worker_recognizer(models_dir: str, folder: str, runtime: str = "lean") -> dict:
    started = time.perf_counter()
    import digitlib

    try:
        recognizer = digitlib.load_recognizer(Path(models_dir), runtime=runtime)
    except (AttributeError, ImportError, FileNotFoundError) as error:
        return {"missing": f"load_recognizer failed: {type(error).__name__}: {error}"}
    load_cold = time.perf_counter() - started
    loaded_mb = _peak_mb()
    started = time.perf_counter()
    digitlib.load_recognizer(Path(models_dir), runtime=runtime)
    load_warm = time.perf_counter() - started
    drawings = _drawing_files(folder)
    for path in drawings:
        recognizer.recognize(path.read_bytes())
    return {
        "runtime": runtime,
        "load_cold": load_cold,
        "load_warm": load_warm,
        "loaded_mb": loaded_mb,
        "rss_mb": _rss_mb(),
        "peak_mb": _peak_mb(),
        "readings": len(drawings),
        "tensorflow": "tensorflow" in sys.modules,
        "heavy": _heavy_modules(),
    }


def _worker_baseline(models_dir: str, folder: str) -> dict:
    import cv2
    import numpy as np

    from benchmarks.baseline import baseline_read, load_baseline_model

    load_baseline_model(Path(models_dir))  # imports Keras and TensorFlow
    started = time.perf_counter()
    model = load_baseline_model(Path(models_dir))
    load_warm = time.perf_counter() - started
    drawings = _drawing_files(folder)
    for path in drawings:
        image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
        baseline_read(model, cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA))
    return {"load_warm": load_warm, "peak_mb": _peak_mb(), "readings": len(drawings)}


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
