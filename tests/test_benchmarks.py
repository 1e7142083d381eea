"""The benchmark harness on tiny inputs, so that ``make bench`` cannot rot unnoticed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from digitlib.config import PROJECT_ROOT, SHIPPED_MODELS_DIR

# The benchmarks live beside the package, in the checkout, not in the installed distribution.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import baseline, canvases  # noqa: E402
from benchmarks.bench_crowd import crowd_figures  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    Context,
    Missing,
    Progress,
    Target,
    format_table,
    run_benchmarks,
    summarize,
    value,
    with_ratio,
    write_results,
)
from benchmarks.run import BENCHMARKS, QUICK_SIZES, SIZES, TARGETS, learn_figures, run  # noqa: E402
from digitlib.testing.crowd import Visit  # noqa: E402

MODELS_SHIPPED = all(
    (SHIPPED_MODELS_DIR / name).exists() for name in ("cnn.keras", "fnn.keras", "numpy_fnn.npz")
)

TINY = {
    "one_digit": 4,
    "five_digits": 2,
    "numbers": 2,
    "doodles": 2,
    "throughput": 6,
    "throughput_unique": 3,
    "throughput_baseline": 2,
    "import_runs": 1,
    "load_runs": 1,
    "memory_readings": 5,
    "predict_runs": 1,
}


def test_summarize_reports_median_p95_in_milliseconds():
    figure = summarize([0.001, 0.002, 0.003, 0.004, 0.100])
    assert figure["median"] == pytest.approx(3.0)
    assert figure["p95"] == pytest.approx(4 + 0.8 * 96)
    assert figure["n"] == 5 and figure["unit"] == "ms"
    assert summarize([2.0], unit="s", scale=1)["median"] == 2.0


def test_summarize_refuses_an_empty_sample():
    with pytest.raises(ValueError, match="at least one sample"):
        summarize([])


def test_ratio_is_baseline_over_figure():
    base = summarize([0.040, 0.050])
    fast = with_ratio(summarize([0.004, 0.005]), base)
    assert fast["ratio_to_baseline"] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("figures", "met"),
    [
        ({"a/x": {"median": 2.0, "ratio_to_baseline": 5.0}, "a/base": {"value": 1.0}}, True),
        ({"a/x": {"median": 2.0, "ratio_to_baseline": 3.0}, "a/base": {"value": 1.0}}, False),
        ({"a/x": {"median": 2.0, "ratio_to_baseline": 5.0}, "a/base": {"value": 3.0}}, False),
        ({"a/base": {"value": 1.0}}, None),
    ],
)
def test_target_judges_ratio_and_better_than(figures, met):
    ratio = Target("a/x", ">=", 4.0, "4x", field="ratio_to_baseline")
    better = Target("a/x", ">=", None, "better", better_than="a/base")
    results = [ratio.judge(figures)["met"], better.judge(figures)["met"]]
    if met is None:
        assert results == [None, None]
    else:
        assert results[0] is (figures["a/x"]["ratio_to_baseline"] >= 4.0)
        assert results[1] is (figures["a/x"]["median"] > figures["a/base"]["value"])


def test_a_missing_or_broken_benchmark_does_not_stop_the_run(tmp_path):
    def fine(context):
        return {"speed": value(42.0, "drawings/s")}

    def absent(context):
        raise Missing("the dashboard is not built yet")

    def broken(context):
        raise RuntimeError("boom")

    context = Context(sizes={}, progress=Progress(enabled=False))
    targets = [Target("fine/speed", ">=", 40, "fast enough"), Target("absent/x", "<=", 1, "x")]
    document = run_benchmarks({"fine": fine, "absent": absent, "broken": broken}, context, targets)
    statuses = {name: result["status"] for name, result in document["benchmarks"].items()}
    assert statuses == {"fine": "ok", "absent": "missing", "broken": "error"}
    assert document["benchmarks"]["absent"]["reason"] == "the dashboard is not built yet"
    assert "RuntimeError: boom" in document["benchmarks"]["broken"]["reason"]
    assert [t["met"] for t in document["targets"]] == [True, None]
    assert document["commit"]["sha"] and document["machine"]["logical_cores"] >= 1

    path = write_results(document, tmp_path / "out" / "latest.json")
    assert json.loads(path.read_text())["benchmarks"]["fine"]["figures"]["speed"]["value"] == 42
    table = format_table(document)
    assert "fine/speed" in table and "MISSING" in table and "[MET ] fast enough" in table


def test_every_target_names_a_benchmark_that_exists():
    for target in TARGETS:
        assert target.figure.split("/")[0] in BENCHMARKS, target.figure


def test_every_benchmark_has_its_sizes_in_full_and_quick_runs():
    assert set(SIZES) == set(QUICK_SIZES)
    assert SIZES["memory_readings"] == 50 and SIZES["crowd_pages"] == 20
    assert QUICK_SIZES["crowd_pages"] < SIZES["crowd_pages"]


def test_issue_13_targets_are_judged():
    judged = {(t.figure, t.field): t.threshold for t in TARGETS}
    assert judged[("one_digit/latency.ensemble", "headline")] == 1.5
    assert judged[("five_digits/latency.ensemble", "headline")] == 4
    assert judged[("one_digit/latency.ensemble", "ratio_to_keras")] == 2.5
    assert judged[("five_digits/latency.ensemble", "ratio_to_keras")] == 2.5
    assert judged[("load_and_memory/tensorflow_imported", "headline")] == 0
    assert judged[("load_and_memory/load_recognizer_cold", "headline")] == 0.5
    assert judged[("predict/process", "headline")] == 1.0
    assert judged[("predict/log_lines", "headline")] == 0
    assert judged[("dashboard/kernel_memory", "headline")] == 200
    assert judged[("learn/first_learn", "headline")] == 4.0
    assert judged[("learn/learn", "headline")] == 1.0
    assert judged[("dashboard/usable_canvas_preheated", "headline")] == 1.5
    assert judged[("dashboard/usable_canvas_cold", "headline")] == 4.0
    assert judged[("crowd/pages_usable", "percent")] == 100
    assert judged[("crowd/slowest_page", "headline")] == 20
    assert judged[("crowd/slowest_reading", "headline")] == 1000
    assert judged[("crowd/server_memory", "headline")] == 4096


def test_learn_figures_put_lean_and_keras_side_by_side():
    found = {
        "lean": {"first": 3.0, "later": [0.2, 0.4, 0.3], "first_outcome": "promoted"},
        "keras": {"first": 2.0, "later": [0.6, 0.6, 0.9], "first_outcome": "promoted"},
        "prepare": {"seconds": 5.5, "caches_were_warm": False},
    }
    figures = learn_figures(found)
    # The one-time preparation is a figure of its own, not one of the runtimes.
    assert figures["one_time_preparation"]["value"] == 5.5
    assert not any(key.endswith("_prepare") for key in figures)
    assert figures["first_learn"]["value"] == 3.0 and figures["first_learn"]["unit"] == "s"
    assert figures["learn"]["median"] == pytest.approx(0.3) and figures["learn"]["n"] == 3
    assert figures["learn_keras"]["median"] == pytest.approx(0.6)
    assert figures["learn"]["ratio_to_keras"] == pytest.approx(2.0)
    assert Target("learn/first_learn", "<=", 4.0, "").judge(
        {f"learn/{k}": v for k, v in figures.items()}
    )["met"]


def _visit(index, usable_s=None, reading_ms=None, text=None, error=None):
    return Visit(index, "3", usable_s=usable_s, reading_ms=reading_ms, text=text, error=error)


def test_crowd_figures_judge_the_slowest_page_and_reading():
    before = {"rss_mb": 600.0, "pss_mb": 300.0, "kernels_mb": [140.0] * 4}
    after = {
        "rss_mb": 600.0 + 4 * 150.0,
        "pss_mb": 300.0 + 4 * 60.0,
        "kernels_mb": [140.0] * 4 + [150.0] * 4,
        "settled": True,
        "load_average": [1.0, 1.0, 1.0],
    }
    visits = [_visit(i, 2.0 + i, 100.0 * (i + 1), "3") for i in range(4)]
    figures = crowd_figures(visits, before, after, pool=4, seconds=9.0)
    assert figures["pages_usable"]["percent"] == 100.0
    assert figures["readings_received"]["read_right"] == 4
    assert figures["slowest_page"]["value"] == 5.0
    assert figures["slowest_reading"]["value"] == 400.0
    assert figures["memory_per_visitor"]["value"] == pytest.approx(150.0)
    assert figures["visitors_per_gb"]["value"] == pytest.approx(1024 / 150)
    assert figures["kernel_memory"]["n"] == 8

    # A page that never got its canvas: no "slowest page" to judge, and the usable share fails.
    visits[1] = _visit(1, error="page to canvas shown: TimeoutError")
    figures = crowd_figures(visits, before, after, pool=4, seconds=9.0)
    named = {f"crowd/{key}": figure for key, figure in figures.items()}
    verdicts = {t.figure: t.judge(named)["met"] for t in TARGETS if t.figure.startswith("crowd/")}
    assert figures["pages_usable"]["percent"] == 75.0
    assert figures["pages_usable"]["errors"] == {"page to canvas shown: TimeoutError": 1}
    assert verdicts["crowd/pages_usable"] is False and verdicts["crowd/slowest_page"] is None


def test_baseline_input_is_the_whole_canvas_white_on_black():
    canvas = np.zeros((56, 84, 4), np.uint8)  # transparent paper
    canvas[10:40, 30:36, 3] = 255  # a black vertical bar
    small = baseline.baseline_input(canvas)
    assert small.shape == (1, 28, 28) and small.dtype == np.float32
    assert small.max() > 0.9 and small[0, :2].max() == 0.0
    rgb = np.full((56, 84, 3), 255, np.uint8)
    rgb[10:40, 30:36] = 0
    np.testing.assert_allclose(baseline.baseline_input(rgb), small, atol=1 / 255)


def test_held_out_canvas_sets_are_fixed_by_their_seed():
    digits = canvases.digit_canvases(3)
    again = canvases.digit_canvases(3)
    assert digits.expected == again.expected and all(d.isdigit() for d in digits.expected)
    assert all(np.array_equal(a, b) for a, b in zip(digits.images, again.images, strict=True))
    assert all(image.dtype == np.uint8 and image.ndim == 3 for image in digits.images)
    numbers = canvases.number_canvases(2, lengths=(5, 5))
    assert [len(text) for text in numbers.expected] == [5, 5]
    assert canvases.doodle_canvases(2).expected == ["", ""]


def test_the_command_line_knows_bench():
    from digitlib.cli import build_parser
    from digitlib.cli.bench import BENCHMARK_NAMES

    assert set(BENCHMARK_NAMES) == set(BENCHMARKS)
    args = build_parser().parse_args(["bench", "--quick", "--only", "import", "--out", "x.json"])
    assert args.quick and args.only == ["import"] and str(args.out) == "x.json"
    from digitlib.cli.bench import benchmark_command

    command = benchmark_command(args)
    assert command[1:3] == ["-m", "benchmarks.run"]
    assert command[command.index("--only") + 1 :] == ["import"] and "--quick" in command
    assert Path(command[command.index("--out") + 1]).is_absolute()


@pytest.mark.timeout(400)
def test_a_tiny_run_measures_every_recognize_and_process_figure(tmp_path):
    out = tmp_path / "latest.json"
    document = run(
        only=["one_digit", "five_digits", "throughput", "import", "load_and_memory", "predict"],
        out=out,
        sizes=TINY,
        progress=Progress(enabled=False),
        quick=True,
    )
    results = document["benchmarks"]
    assert results["import"]["status"] == "ok", results["import"]
    assert results["import"]["figures"]["heavy_modules_loaded"]["value"] == 0
    assert MODELS_SHIPPED, "models/ lacks the shipped checkpoints: run `make train`"
    for name in ("one_digit", "five_digits", "throughput", "load_and_memory", "predict"):
        assert results[name]["status"] == "ok", results[name].get("traceback")
    figures = results["one_digit"]["figures"]
    for model in ("ensemble", "cnn", "fnn", "numpy_fnn", "ensemble_keras", "ensemble_strokes"):
        assert figures[f"latency.{model}"]["n"] == TINY["one_digit"]
        assert figures[f"latency.{model}"]["ratio_to_baseline"] > 0
        assert 0 <= figures[f"accuracy.{model}"]["value"] <= 100
    assert figures["latency.ensemble"]["ratio_to_keras"] > 0
    # The lean pipelines are timed in a process of their own, which never held TensorFlow.
    assert figures["lean_process_tensorflow"]["value"] == 0
    assert results["five_digits"]["figures"]["latency.ensemble"]["ratio_to_keras"] > 0
    assert (
        results["five_digits"]["figures"]["latency.ensemble_strokes"]["n"] == TINY["five_digits"]
    )
    throughput = results["throughput"]["figures"]
    assert throughput["ensemble"]["n"] == throughput["ensemble_keras"]["n"] == TINY["throughput"]
    # Fresh processes per runtime: the lean one reads without TensorFlow, the Keras one with it.
    process = results["load_and_memory"]["figures"]
    assert process["tensorflow_imported"]["value"] == 0
    assert process["tensorflow_imported_keras"]["value"] == 1
    assert process["memory_after_readings"]["readings"] == TINY["memory_readings"]
    assert process["memory_after_readings"]["tensorflow_imported"] == 0
    assert process["load_recognizer_cold"]["ratio_to_keras"] > 0
    predict = results["predict"]["figures"]
    assert predict["process"]["read_right"] == predict["process_keras"]["read_right"] == 1
    assert predict["log_lines"]["value"] == 0, predict["log_lines"]["first_lines"]
    judged = {t["figure"] for t in document["targets"]}
    assert {"predict/process", "load_and_memory/tensorflow_imported"} <= judged
    assert json.loads(out.read_text())["commit"]["sha"] == document["commit"]["sha"]
