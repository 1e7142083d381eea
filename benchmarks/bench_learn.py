"""``learn()`` latency, first and later, lean and TensorFlow recognizers, each in a fresh process.

``run(config) -> dict`` is called by the benchmark harness (``benchmarks/run.py``) and can be run
alone::

    .venv/bin/python -m benchmarks.bench_learn                    # both runtimes, 10 later learns
    .venv/bin/python -m benchmarks.bench_learn --runs 5 --runtime lean

For each runtime a fresh Python process (``--worker``) loads the shipped recognizer on that
runtime (``load_recognizer(runtime=...)``), makes an ``OnlineLearner`` over a fresh local store in
a temporary folder, and learns one-digit corrections: canvas renderings of held-out pendigits
writers' digits with their true labels (a person confirming or correcting a reading). The first
``learn()`` is what a visitor's first Learn waits for in a fresh kernel: on the lean runtime it
imports TensorFlow and loads the Keras checkpoints behind the inference files; the caches of
validation inputs and replay samples (``.cache/learn``, the store) are what they are on this
machine, warm after the first run. Every call includes the gate, promotion and, for a promoted
update, the new version's files (checkpoint and inference file) written to the store.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_FILES = ("cnn.keras", "fnn.keras", "numpy_fnn.npz", "cnn.infer.npz", "fnn.infer.npz")
RUNTIMES = ("lean", "keras")
WORKER_TIMEOUT = 600


def drawings(count: int, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """``count`` one-digit canvases (RGBA, 240-320 px) of held-out writers, with their labels."""
    from digitlib.config import HELD_OUT
    from digitlib.drawings import data

    rng = np.random.default_rng(seed)
    digits = [d for d in data.load_pendigits() if d.writer in HELD_OUT.pendigits_writers]
    picks = rng.choice(len(digits), count, replace=False)
    return [
        (
            data.render_strokes(
                digits[i].strokes, data.random_style(rng, canvas_range=(240, 320), rgba=True)
            ),
            str(digits[i].label),
        )
        for i in picks
    ]


def run(config: dict | None = None) -> dict:
    """Time ``learn()`` on one-digit corrections, in a fresh process per runtime.

    ``config``: ``runs`` (timed later corrections, default 10; ``quick``: 3), ``models_dir``
    (default the shipped ``models/``), ``seed``, ``runtimes`` (default both).

    Returns ``{runtime: {"first": seconds, "later": [seconds], "construct": seconds,
    "load": seconds, "outcomes": {promoted/held/rejected: count}, "first_outcome": str,
    "reasons": {reason: count}, "phases": {phase: median seconds}, "tensorflow_before_learn":
    bool}}``. Raises the harness's ``Missing`` when the shipped models are not there.
    """
    config = dict(config or {})
    models_dir = Path(config.get("models_dir") or PROJECT_ROOT / "models")
    missing = [name for name in MODEL_FILES if not (models_dir / name).is_file()]
    if missing:
        from benchmarks.harness import Missing

        raise Missing(f"shipped models missing in {models_dir}: {', '.join(missing)}")
    runs = 3 if config.get("quick") else max(1, int(config.get("runs") or 10))
    seed = int(config.get("seed", 0))
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    found = {}

    def run_worker(name: str, *arguments: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_learn", "--worker", *arguments]
            + ["--runs", str(runs), "--seed", str(seed), "--models-dir", str(models_dir)],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"learn worker ({name}) failed ({done.returncode}): {tail}")
        return json.loads(lines[-1])

    # Once per machine and store, as a deployment's first learn ever does: the validation set
    # and replay pool into the caches every later kernel reads. Timed on its own, so that the
    # first learn of a fresh kernel is measured as a class meets it, not as the first ever.
    found["prepare"] = run_worker("prepare", "--prepare")
    for runtime in config.get("runtimes") or RUNTIMES:
        found[runtime] = run_worker(runtime, "--runtime", runtime)
    return found


def prepare_caches(models_dir: Path) -> dict:
    """In a fresh process: ``OnlineLearner.prepare()`` over a throw-away store, timed; it fills
    the local learning caches (``.cache/learn``) that the store's copy comes from."""
    import digitlib
    from digitlib.learn.datasets import DEFAULT_CACHE_DIR
    from digitlib.store import LocalStore

    warm = DEFAULT_CACHE_DIR.is_dir() and any(DEFAULT_CACHE_DIR.glob("*.npz"))
    recognizer = digitlib.load_recognizer(models_dir)
    with tempfile.TemporaryDirectory(prefix="bench-learn-prepare-") as folder:
        learner = digitlib.OnlineLearner(recognizer, LocalStore(Path(folder) / "store"))
        started = time.perf_counter()
        learner.prepare()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "caches_were_warm": warm}


def _timing(update) -> dict:
    """The update's per-phase seconds (``UpdateMetrics.timing``)."""
    return {key: float(spent) for key, spent in update.metrics.timing.items()}


def worker(runtime: str, runs: int, seed: int, models_dir: Path) -> dict:
    """In a fresh process: load the recognizer on ``runtime``, then one first and ``runs`` later
    ``learn()`` calls, each timed on its own."""
    import digitlib
    from digitlib.store import LocalStore

    cases = drawings(runs + 1, seed)
    started = time.perf_counter()
    recognizer = digitlib.load_recognizer(models_dir, runtime=runtime)
    load = time.perf_counter() - started
    tensorflow_before = "tensorflow" in sys.modules
    with tempfile.TemporaryDirectory(prefix="bench-learn-") as folder:
        store = LocalStore(Path(folder) / "store")
        started = time.perf_counter()
        learner = digitlib.OnlineLearner(recognizer, store, shipped_dir=models_dir)
        construct = time.perf_counter() - started
        seconds, outcomes, reasons, phases = [], [], {}, {}
        for image, label in cases:
            started = time.perf_counter()
            update = learner.learn(image, label, session_id="benchmark")
            seconds.append(time.perf_counter() - started)
            kind = "promoted" if update.promoted else "held" if update.held else "rejected"
            outcomes.append(kind)
            reason = str(update.reason).split(" (")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
            for phase, spent in _timing(update).items():
                phases.setdefault(phase, []).append(spent)
        versions = len(list((Path(folder) / "store").rglob("*.infer*")))
    return {
        "runtime": runtime,
        "load": load,
        "construct": construct,
        "first": seconds[0],
        "later": seconds[1:],
        "first_outcome": outcomes[0],
        "outcomes": {kind: outcomes.count(kind) for kind in ("promoted", "held", "rejected")},
        "reasons": reasons,
        "phases": {phase: round(float(np.median(spent)), 4) for phase, spent in phases.items()},
        "inference_files_written": versions,
        "tensorflow_before_learn": tensorflow_before,
        "tensorflow_after_learn": "tensorflow" in sys.modules,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runtime", choices=RUNTIMES, default=None)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    models_dir = arguments.models_dir or PROJECT_ROOT / "models"
    if arguments.worker and arguments.prepare:
        print(json.dumps(prepare_caches(models_dir)), flush=True)
        return
    if arguments.worker:
        found = worker(arguments.runtime or "lean", arguments.runs, arguments.seed, models_dir)
        print(json.dumps(found), flush=True)
        return
    found = run(
        {
            "runs": arguments.runs,
            "seed": arguments.seed,
            "models_dir": models_dir,
            "runtimes": [arguments.runtime] if arguments.runtime else None,
        }
    )
    prepared = found.pop("prepare")
    print(
        f"one-time preparation {prepared['seconds']:.2f} s (caches warm: "
        f"{prepared['caches_were_warm']})"
    )
    for runtime, result in found.items():
        later = np.asarray(result["later"])
        print(
            f"{runtime}: first learn() {result['first']:.2f} s ({result['first_outcome']}), "
            f"later median {np.median(later):.3f} s, p95 {np.percentile(later, 95):.3f} s, "
            f"n={len(later)}; {json.dumps(result['outcomes'])}"
        )


if __name__ == "__main__":
    main()
