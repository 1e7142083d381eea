"""``learn()`` latency: one correction of a one-digit drawing, all three models, gate included.

``run(config) -> dict`` is called by the benchmark harness (``benchmarks/run.py``) and can be run
alone::

    .venv/bin/python -m benchmarks.bench_learn            # 20 timed corrections
    .venv/bin/python -m benchmarks.bench_learn --runs 5

The drawings are canvas renderings of held-out pendigits writers' digits, learned with their true
labels (a person confirming or correcting a reading), into a fresh local store in a temporary
folder, starting from the shipped models. The validation set and replay pool are built (or read
from ``.cache/learn``) and two untimed corrections warm the learner up (Keras traces its
training step and prediction once per model object) before the timed ones.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_FILES = ("cnn.keras", "fnn.keras", "numpy_fnn.npz")
WARM_UP = 2


def drawings(count: int, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """``count`` one-digit canvases (RGBA, 240-320 px) of held-out writers, with their labels."""
    from digitlib import data
    from digitlib.config import HELD_OUT

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
    """Time ``learn()`` on one-digit corrections.

    ``config``: ``runs`` (timed corrections, at least 5; default 20), ``quick`` (fewer: 5),
    ``models_dir`` (default the shipped ``models/``), ``seed``.

    Returns ``{"learn": [seconds of each timed call], "promoted": count, "held": count,
    "rejected": count, "warm_up": [seconds], "reasons": {reason: count}, "phases": {phase:
    median seconds}}`` (phases: batch, train, gate, promote, install, of the trained calls). Raises the harness's
    ``Missing`` when the shipped models are not there.
    """
    config = dict(config or {})
    models_dir = Path(config.get("models_dir") or PROJECT_ROOT / "models")
    missing = [name for name in MODEL_FILES if not (models_dir / name).is_file()]
    if missing:
        from benchmarks.harness import Missing

        raise Missing(f"shipped models missing in {models_dir}: {', '.join(missing)}")
    runs = 5 if config.get("quick") else max(5, int(config.get("runs") or 20))

    from digitlib.learn import OnlineLearner
    from digitlib.recognize import load_recognizer
    from digitlib.store import LocalStore

    cases = drawings(runs + WARM_UP, int(config.get("seed", 0)))
    with tempfile.TemporaryDirectory(prefix="bench-learn-") as folder:
        store = LocalStore(Path(folder) / "store")
        recognizer = load_recognizer(models_dir)
        learner = OnlineLearner(recognizer, store, shipped_dir=models_dir)
        seconds, warm_up, reasons, phases = [], [], {}, {}
        counts = {"promoted": 0, "held": 0, "rejected": 0}
        for index, (image, label) in enumerate(cases):
            started = time.perf_counter()
            update = learner.learn(image, label, session_id="benchmark")
            elapsed = time.perf_counter() - started
            if index < WARM_UP:
                warm_up.append(elapsed)
                continue
            seconds.append(elapsed)
            for phase, spent in update.metrics.timing.items():
                phases.setdefault(phase, []).append(spent)
            kind = "promoted" if update.promoted else "held" if update.held else "rejected"
            counts[kind] += 1
            reason = update.reason.split(" (")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
    medians = {phase: round(float(np.median(spent)), 4) for phase, spent in phases.items()}
    return {
        "learn": seconds,
        **counts,
        "warm_up": warm_up,
        "reasons": reasons,
        "phases": medians,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--models-dir", type=Path, default=None)
    arguments = parser.parse_args()
    found = run({"runs": arguments.runs, "models_dir": arguments.models_dir})
    times = np.asarray(found["learn"])
    print(json.dumps({key: value for key, value in found.items() if key != "learn"}, indent=1))
    print(
        f"learn() median {np.median(times):.3f} s, p95 {np.percentile(times, 95):.3f} s, "
        f"n={len(times)}"
    )


if __name__ == "__main__":
    main()
