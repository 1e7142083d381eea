"""``digitlib evaluate``: measure models against the targets of ``digitlib.evaluation.evaluate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from digitlib.cli.train import add_runtime_argument, limit_blas_threads
from digitlib.config import SHIPPED_MODELS_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="measure the models against the targets")
    parser.add_argument(
        "--models",
        type=Path,
        default=SHIPPED_MODELS_DIR,
        help="folder with cnn.keras, fnn.keras, numpy_fnn.npz (default: models/)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument(
        "--write",
        type=Path,
        default=None,
        help="also write the metrics as JSON to this file (models/metrics.json)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most N items per evaluation set (quick runs)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=2024,
        help="seed of the evaluation drawings (2024, as in metrics.json)",
    )
    add_runtime_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    limit_blas_threads()
    import sys

    from tqdm import tqdm

    from digitlib.evaluation.evaluate import EvalConfig, evaluate

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, dynamic_ncols=True)
        bars[stage].update(done - bars[stage].n)
        if done == total:
            bars[stage].close()

    metrics = evaluate(
        args.models, EvalConfig(seed=args.seed, limit=args.limit), progress, args.runtime
    )
    limit = f" --limit {args.limit}" if args.limit else ""
    metrics["command"] = f"digitlib evaluate --models {args.models} --seed {args.seed}{limit}"
    text = json.dumps(metrics, indent=2)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(format_report(metrics))
    return 0


def _target_lines(title: str, metrics: dict, checks: dict) -> list[str]:
    lines = [title, f"{'measure':42} {'count':>6} {'value':>8} {'target':>8}  met"]
    for key, check in checks.items():
        section = key.split(".")[0]
        count = metrics.get(section, {}).get("count", metrics.get(section, {}).get("positives"))
        count = "" if count is None else str(count)
        if section == "mnist":
            count = "10000" if not metrics["limit"] else str(metrics["limit"])
        value = "-" if check["value"] is None else f"{check['value'] * 100:.2f}%"
        sign = ">=" if check["kind"] == "min" else "<="
        met = {True: "yes", False: "NO", None: "not measured"}[check["met"]]
        lines.append(f"{key:42} {count:>6} {value:>8} {sign}{check['target'] * 100:5.1f}%  {met}")
    return lines + [""]


def _writer_lines(metrics: dict) -> list[str]:
    """Held-out writers' digits and numbers read right, one line per writer, one column per row
    (``pen`` is ``canvas_digits``; ``numbers`` last)."""
    rows = [
        k
        for k in metrics
        if isinstance(metrics[k], dict)
        and "by_writer" in metrics[k]
        and not k.startswith("unipen")
    ]
    rows.sort(key=lambda k: k == "numbers")
    if not rows:
        return []
    names = [{"canvas_digits": "pen"}.get(k, metrics[k].get("style", k)) for k in rows]
    writers = sorted({w for k in rows for w in metrics[k]["by_writer"]}, key=int)
    lines = [
        "held-out writers' digits and numbers read right, by writer",
        "  writer " + "".join(f"{n:>9}" for n in names),
    ]
    for writer in writers:
        cells = [metrics[k]["by_writer"].get(writer, {}).get("text_exact") for k in rows]
        lines.append(
            f"  {writer:>6} "
            + "".join("        -" if c is None else f"{c * 100:8.2f}%" for c in cells)
        )
    return lines + [""]


#: The figure each row is compared by, with and without strokes.
_ROW_MEASURES = {
    "canvas_digits": "text_exact",
    "digits_finger": "text_exact",
    "digits_mouse": "text_exact",
    "digits_thick": "text_exact",
    "digits_thin": "text_exact",
    "numbers": "text_exact",
    "unipen_digits": "text_exact",
    "doodles": "empty_text",
    "symbols": "empty_text",
    "unipen_others": "empty_text",
}


def _strokes_lines(metrics: dict) -> list[str]:
    """Every row read from the image alone and with the strokes, and the worst writer of each."""
    from digitlib.evaluation.evaluate import WITH_STROKES

    lines = [
        "every row, image only and with strokes (the worst writer or institution in brackets)",
        f"  {'row':16} {'count':>6} {'image only':>20} {'with strokes':>20}",
    ]
    for key, measure in _ROW_MEASURES.items():
        row = metrics.get(key)
        if not isinstance(row, dict) or WITH_STROKES not in row:
            continue
        cells = []
        for part in (row, row[WITH_STROKES]):
            cell = f"{part[measure] * 100:.2f}%"
            groups = part.get("by_source") or part.get("by_writer")
            if groups:
                cell += f" ({min(g['text_exact'] for g in groups.values()) * 100:.1f}%)"
            cells.append(cell)
        lines.append(f"  {key:16} {row['count']:>6} {cells[0]:>20} {cells[1]:>20}")
    both = metrics.get("digit_vs_not", {}), metrics.get(f"digit_vs_not_{WITH_STROKES}", {})
    if all(both):
        lines.append(
            f"  {'digit vs not AUROC':23} {both[0]['auroc']:>20.4f} {both[1]['auroc']:>20.4f}"
        )
    return lines + [""]


def format_report(metrics: dict) -> str:
    """The targets tables as text, then the digit-vs-not curve and the per-model figures."""
    lines = [
        f"pipeline: {metrics['pipeline']}   seed {metrics['seed']}   "
        f"limit {metrics['limit']}   {metrics['seconds']} s",
        "",
    ]
    lines += _target_lines("first targets", metrics, metrics["targets"])
    if "targets_14" in metrics:
        lines += _target_lines("targets on people never seen", metrics, metrics["targets_14"])
    if "targets_26" in metrics:
        from digitlib.evaluation.evaluate import strokes_view

        lines += _target_lines(
            "reading the pen: targets read with strokes",
            strokes_view(metrics),
            metrics["targets_26"],
        )
        lines += _strokes_lines(metrics)
    roc = metrics.get("digit_vs_not")
    if roc:
        point = roc["operating_point"]
        lines.append(
            f"digit vs not digit: {roc['positives']} held-out digits, {roc['negatives']} "
            f"held-out doodles, letters and signs; AUROC {roc['auroc']:.4f}"
        )
        lines.append("  digit score >=   digits found   non-digits read as digits")
        for threshold, found, false_alarm in roc["curve"]:
            lines.append(
                f"  {threshold:13.4f}   {found * 100:11.2f}%   {false_alarm * 100:10.2f}%"
            )
        lines.append(
            f"  operating point (the decision): {point['true_positive_rate'] * 100:.2f}% of "
            f"digits read as a digit, {point['false_positive_rate'] * 100:.2f}% of non-digits"
        )
        lines.append("")
    lines += _writer_lines(metrics)
    canvas, doodles = metrics["canvas_digits"], metrics["doodles"]
    lines.append(
        f"per-model accuracy on model inputs of {canvas['count']} held-out canvas digits: "
        + ", ".join(f"{k} {v * 100:.2f}%" for k, v in canvas["model_input_accuracy"].items())
    )
    lines.append(
        f"per-model 'other' on {doodles['count']} held-out doodles: "
        + ", ".join(f"{k} {v * 100:.2f}%" for k, v in doodles["model_input_other"].items())
    )
    lines.append(
        "predict latency (median ms, one input): "
        + ", ".join(f"{k} {v}" for k, v in metrics["predict_latency_ms"].items())
    )
    return "\n".join(lines)
