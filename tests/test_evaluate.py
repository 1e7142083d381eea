"""The evaluation protocol: target checks and a quick ``digitlib evaluate --limit`` run."""

from __future__ import annotations

import json

from digitlib.cli import main
from digitlib.evaluate import TARGETS, check_targets


def test_check_targets_min_and_max():
    metrics = {"mnist": {"cnn": 0.996, "fnn": 0.98}, "canvas_digits": {"read_as_other": 0.02}}
    checks = check_targets(metrics)
    assert set(checks) == set(TARGETS)
    assert checks["mnist.cnn"]["met"] is True
    assert checks["mnist.fnn"]["met"] is False
    assert checks["canvas_digits.read_as_other"]["met"] is False
    assert checks["numbers.text_exact"]["met"] is None


def test_evaluate_cli_with_limit_writes_metrics(tmp_path, capsys):
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--limit", "8", "--json", "--write", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["limit"] == 8
    assert metrics["canvas_digits"]["count"] == 8 and metrics["doodles"]["count"] == 8
    assert set(metrics["mnist"]) == {"numpy_fnn", "fnn", "cnn", "ensemble"}
    assert json.loads(capsys.readouterr().out)["limit"] == 8


def test_evaluate_cli_rejects_a_bad_limit(capsys):
    assert main(["evaluate", "--limit", "0"]) == 1
    assert "--limit" in capsys.readouterr().err
