"""digitlib.training.train_strokes and ``digitlib train --model strokes``: whose hands the stroke model
learns from, and a short real training run through the command line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from digitlib.config import HELD_OUT, OTHER, PROJECT_ROOT
from digitlib.drawings import strokes as pen
from digitlib.training import train_strokes


@pytest.fixture(scope="module")
def small_set():
    return train_strokes.training_drawings(train_strokes.StrokeSettings(limit=40), rng=0)


def test_training_never_holds_a_held_out_or_fusion_hand(small_set):
    kept_out = {f"pendigits/{w}" for w in HELD_OUT.pendigits_writers}
    kept_out |= {f"pendigits/{w}" for w in HELD_OUT.fusion_pendigits_writers}
    kept_out |= set(HELD_OUT.unipen_sources) | set(HELD_OUT.fusion_sources)
    assert not kept_out & set(small_set.groups)
    summary = small_set.summary()
    assert summary["digits"] > 0 and summary["other"] > 0
    assert set(np.unique(small_set.labels)) <= set(range(11))


def test_fusion_drawings_are_hands_training_never_sees(small_set):
    fusion = train_strokes.fusion_drawings(limit=30)
    assert set(fusion.groups) <= {
        f"pendigits/{w}" for w in HELD_OUT.fusion_pendigits_writers
    } | set(HELD_OUT.fusion_sources)
    assert not set(fusion.groups) & set(small_set.groups)
    assert (fusion.labels == OTHER).any() and (fusion.labels != OTHER).any()


def test_variants_are_encoded_and_differ_each_time(small_set):
    settings = train_strokes.StrokeSettings()
    subset = train_strokes.StrokeSet(
        small_set.drawings[:5], small_set.labels[:5], small_set.groups[:5]
    )
    first = train_strokes.encode_variants(subset, settings, np.random.default_rng(0))
    second = train_strokes.encode_variants(subset, settings, np.random.default_rng(1))
    assert first.shape == (5, pen.POINTS, pen.CHANNELS) and first.dtype == np.float32
    assert not np.allclose(first, second)


@pytest.mark.slow
def test_train_strokes_from_the_command_line_writes_a_lean_model(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "digitlib.cli",
            "train",
            "--model",
            "strokes",
            "--limit",
            "30",
            "--epochs",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "strokes.keras").is_file() and (tmp_path / "strokes.infer.npz").is_file()
    card = json.loads((tmp_path / "training.json").read_text())
    assert card["models"]["strokes"]["history"][0]["epoch"] == 1
    from digitlib.models import load_model

    model = load_model(tmp_path / "strokes.infer.npz", "strokes")
    probabilities = model.predict_proba(pen.encode_many([[np.array([[0.0, 0.0], [0.0, 9.0]])]]))
    assert probabilities.shape == (1, 11) and abs(float(probabilities.sum()) - 1) < 1e-4
