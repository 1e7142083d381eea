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


def test_predict_cli_reads_a_png(tmp_path, capsys):
    import cv2

    from digitlib import data

    digits = [d for d in data.load_pendigits() if d.writer == 27][:2]
    image = data.render_number([d.strokes for d in digits], 0, rgba=False)
    path = tmp_path / "number.png"
    cv2.imwrite(str(path), image[..., ::-1])
    assert main(["predict", str(path), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["text"] == "".join(str(d.label) for d in digits)
    assert len(output["segments"]) == 2


def test_predict_cli_reports_a_missing_file(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing.png")]) == 1
    assert "no such file" in capsys.readouterr().err
