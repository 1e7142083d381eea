"""The evaluation protocol: target checks and a quick ``digitlib evaluate --limit`` run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlib.cli import main
from digitlib.evaluation.evaluate import TARGETS, TARGETS_14, check_targets


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
    for row in ("mnist_canvas", "digits_finger", "digits_mouse", "digits_thick", "symbols"):
        assert metrics[row]["count"] == 8, row
    for row in ("canvas_digits", "digits_finger", "digits_thin", "numbers"):
        assert sum(w["count"] for w in metrics[row]["by_writer"].values()) == 8, row
    roc = metrics["digit_vs_not"]
    assert roc["positives"] == 5 * 8 and roc["negatives"] == 2 * 8
    assert 0 <= roc["auroc"] <= 1 and "scores" not in metrics["symbols"]
    assert set(metrics["targets_14"]) == set(TARGETS_14)
    assert json.loads(capsys.readouterr().out)["limit"] == 8


def test_evaluate_cli_rejects_a_bad_limit(capsys):
    assert main(["evaluate", "--limit", "0"]) == 1
    assert "--limit" in capsys.readouterr().err


def test_predict_cli_reads_a_png(tmp_path, capsys):
    import cv2

    from digitlib.drawings import data

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


def test_check_targets_of_issue_14():
    metrics = {"symbols": {"empty_text": 0.95}, "digit_vs_not": {"auroc": 0.999}}
    checks = check_targets(metrics, TARGETS_14)
    assert set(checks) == set(TARGETS_14)
    assert checks["symbols.empty_text"]["met"] is False
    assert checks["digit_vs_not.auroc"]["met"] is True
    assert checks["mnist_canvas.text_exact"]["met"] is None


def test_roc_curve_of_separated_overlapping_and_tied_scores():
    from digitlib.evaluation.evaluate import roc_curve

    assert roc_curve([0.9, 0.8], [0.1, 0.2])["auroc"] == 1.0
    assert roc_curve([0.1, 0.2], [0.9, 0.8])["auroc"] == 0.0
    assert roc_curve([0.5, 0.5], [0.5])["auroc"] == 0.5  # ties count half
    # 3 positives, 2 negatives: pairs (p > n) = 0.9>0.4, 0.9>0.6, 0.7>0.4, 0.7>0.6, 0.5>0.4
    roc = roc_curve([0.9, 0.7, 0.5], [0.4, 0.6])
    assert roc["auroc"] == pytest.approx(5 / 6)
    low = roc["curve"][0]
    assert low[1:] == [1.0, 1.0]  # at the lowest score everything is called a digit
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        roc_curve([], [0.1])


def test_digit_score_takes_the_most_digit_like_segment():
    from digitlib.evaluation.evaluate import digit_score
    from digitlib.recognize import Result, Segment

    def segment(label, confidence):
        return Segment(label, confidence, (0, 0, 1, 1), np.zeros((28, 28), np.float32), {})

    assert digit_score(Result("", [])) == 0.0
    assert digit_score(Result("", [segment(10, 0.9)])) == pytest.approx(0.1)
    assert digit_score(Result("7", [segment(10, 0.7), segment(7, 0.8)])) == pytest.approx(0.8)


def test_mnist_canvas_holds_the_digit_dark_on_white():
    from digitlib.drawings import data

    image = np.zeros((28, 28), np.uint8)
    image[4:24, 12:16] = 255
    canvas = data.mnist_canvas(image, np.random.default_rng(3))
    assert canvas.dtype == np.uint8 and canvas.ndim == 2
    assert 280 <= canvas.shape[0] <= 600 and 280 <= canvas.shape[1] <= 900
    dark = canvas < 128
    rows, columns = np.nonzero(dark)
    height = rows.max() - rows.min() + 1
    assert 0.4 * 20 / 28 * min(canvas.shape) - 2 <= height <= 20 / 28 * min(canvas.shape) + 2
    assert (columns.max() - columns.min() + 1) < height / 3  # still a thin upright bar
    with pytest.raises(ValueError, match="uint8 \\(28, 28\\)"):
        data.mnist_canvas(image.astype(np.float32), 0)


def test_by_writer_gives_each_writers_share_read_right():
    from digitlib.evaluation.evaluate import by_writer

    rows = by_writer([28, 26, 28, 26, 28], [False, True, True, True, False])
    assert list(rows) == ["26", "28"]
    assert rows["26"] == {"count": 2, "text_exact": 1.0}
    assert rows["28"]["count"] == 3 and rows["28"]["text_exact"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="one writer per result"):
        by_writer([1, 2], [True])


def test_report_shows_each_held_out_writer_per_row():
    from digitlib.cli.evaluate import _writer_lines

    metrics = {
        "limit": None,
        "canvas_digits": {"by_writer": {"26": {"count": 2, "text_exact": 1.0}}},
        "digits_finger": {
            "style": "finger",
            "by_writer": {
                "26": {"count": 2, "text_exact": 0.5},
                "28": {"count": 1, "text_exact": 0.0},
            },
        },
    }
    metrics["numbers"] = {"by_writer": {"28": {"count": 4, "text_exact": 0.75}}}
    lines = _writer_lines(metrics)
    assert lines[1].split() == ["writer", "pen", "finger", "numbers"]
    assert lines[2].split() == ["26", "100.00%", "50.00%", "-"]
    assert lines[3].split() == ["28", "-", "0.00%", "75.00%"]


def test_predict_cli_reads_a_drawing_saved_with_strokes_as_the_recognizer_does(tmp_path, capsys):
    from digitlib.dashboard.render import png_bytes, render_drawing
    from digitlib.drawings import data
    from digitlib.recognize import load_recognizer
    from digitlib.store import DrawingStore, LocalStore

    digits = [d for d in data.load_pendigits() if d.writer == 27][:2]
    _, strokes = data.render_number([d.strokes for d in digits], 0, rgba=True, traced=True)
    height, width = 300, max(int(max(s[:, 0].max() for s in strokes)) + 20, 300)
    record = {
        "canvas_size": [height, width],
        "strokes": [{"points": s.tolist(), "width": 12.0} for s in strokes],
    }
    image = render_drawing(strokes, [12.0] * len(strokes), (height, width))
    store = DrawingStore(LocalStore(tmp_path / "store"))
    store.save(png_bytes(image), "".join(str(d.label) for d in digits), strokes=record)
    exported = store.export(tmp_path / "set.npz", format="npz")
    line = (tmp_path / "set.npz.strokes.jsonl").read_text().splitlines()[0]
    assert len(exported.paths) == 2
    path = tmp_path / "drawing.json"
    path.write_text(line)
    assert main(["predict", str(path), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    expected = load_recognizer().recognize(image, strokes=strokes)
    assert output["text"] == expected.text == "".join(str(d.label) for d in digits)
    assert [s["strokes"] for s in output["segments"]] == [
        list(s.strokes) for s in expected.segments
    ]
    assert sum(len(s["strokes"]) for s in output["segments"]) == len(strokes)


def test_predict_cli_refuses_a_json_that_is_not_a_drawing(tmp_path, capsys):
    path = tmp_path / "drawing.json"
    path.write_text('{"canvas_size": [100, 100], "strokes": [{"points": [[1, 2, 3]]}]}')
    assert main(["predict", str(path)]) == 1
    assert "not a drawing with strokes" in capsys.readouterr().err
