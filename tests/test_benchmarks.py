"""The benchmark harness on tiny inputs, so that ``make bench`` cannot rot unnoticed."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from digitlib.config import PROJECT_ROOT, SHIPPED_MODELS_DIR

# The benchmarks live beside the package, in the checkout, not in the installed distribution.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import baseline, canvases  # noqa: E402
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
from benchmarks.run import BENCHMARKS, TARGETS, learn_figures, run  # noqa: E402

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


def test_learn_figures_accepts_lists_summaries_and_numbers():
    figures = learn_figures(
        {"learn": [0.5, 0.7, 0.6], "gate": {"median": 100.0, "p95": 120.0}, "promoted": 3}
    )
    assert figures["learn"]["median"] == pytest.approx(0.6) and figures["learn"]["unit"] == "s"
    assert figures["gate"]["median"] == 100.0
    assert figures["promoted"]["value"] == 3.0


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


@pytest.mark.timeout(300)
def test_a_tiny_run_measures_every_recognize_figure(tmp_path):
    out = tmp_path / "latest.json"
    document = run(
        only=["one_digit", "five_digits", "throughput", "import"],
        out=out,
        sizes=TINY,
        progress=Progress(enabled=False),
        quick=True,
    )
    results = document["benchmarks"]
    assert results["import"]["status"] == "ok", results["import"]
    assert results["import"]["figures"]["heavy_modules_loaded"]["value"] == 0
    assert MODELS_SHIPPED, "models/ lacks the shipped checkpoints: run `make train`"
    for name in ("one_digit", "five_digits", "throughput"):
        assert results[name]["status"] == "ok", results[name].get("traceback")
    figures = results["one_digit"]["figures"]
    for model in ("ensemble", "cnn", "fnn", "numpy_fnn"):
        assert figures[f"latency.{model}"]["n"] == TINY["one_digit"]
        assert figures[f"latency.{model}"]["ratio_to_baseline"] > 0
        assert 0 <= figures[f"accuracy.{model}"]["value"] <= 100
    assert results["throughput"]["figures"]["ensemble"]["n"] == TINY["throughput"]
    assert json.loads(out.read_text())["commit"]["sha"] == document["commit"]["sha"]
