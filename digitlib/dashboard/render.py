"""Pure functions that turn dashboard data into pixels and HTML.

Nothing here touches a widget: each function takes plain values (arrays, numbers, dicts) and returns
an array or an HTML/SVG string, so the views stay thin and these pieces test without a browser.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence

import numpy as np

from digitlib.config import CLASS_NAMES, MODEL_NAMES, OTHER, STROKE_MODEL
from digitlib.image.preprocess import encode_png as png_bytes  # PNG bytes of an image, for pages

#: Models in the order the comparison shows them.
COMPARED_MODELS = (*MODEL_NAMES, "images", STROKE_MODEL, "ensemble")


def render_drawing(
    strokes: Sequence[np.ndarray], widths: Sequence[float], canvas_size: tuple[int, int]
) -> np.ndarray:
    """The drawing as the browser canvas shows it, without asking the browser for its pixels.

    Parameters
    ----------
    strokes : list of ndarray of shape (P, 2), float32
        (x, y) points in canvas pixels, y down.
    widths : list of float
        The brush width of each stroke, in pixels.
    canvas_size : (height, width)

    Returns
    -------
    ndarray of shape (height, width, 4), uint8
        Black ink on transparent paper, as ``Canvas.get_image_data()`` returns it.
    """
    from digitlib.drawings.data import draw_polylines

    if len(strokes) != len(widths):
        raise ValueError(f"got {len(strokes)} strokes but {len(widths)} widths; give one each")
    height, width = canvas_size
    image = np.zeros((height, width, 4), np.uint8)
    for line_width in sorted(set(widths)):
        group = [s for s, w in zip(strokes, widths, strict=True) if w == line_width]
        layer = draw_polylines(group, (height, width), line_width)
        np.maximum(image[..., 3], layer[..., 3], out=image[..., 3])
    return image


def png_data_url(image: np.ndarray | bytes) -> str:
    """A ``data:image/png`` URL of PNG bytes, or of a uint8 or [0, 1] float image of shape
    (H, W[, 3|4])."""
    data = image if isinstance(image, bytes) else png_bytes(image)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def thumbnail(image: np.ndarray) -> np.ndarray:
    """Dark ink on white paper, (H, W) uint8, from an RGBA/RGB/gray drawing."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 4:
        alpha = array[..., 3].astype(np.float32) / 255.0
        gray = array[..., :3].mean(axis=2)
        return np.round(255 - alpha * (255 - gray)).astype(np.uint8)
    if array.ndim == 3:
        return np.round(array[..., :3].mean(axis=2)).astype(np.uint8)
    return array.astype(np.uint8)


def class_name(label: int) -> str:
    """``"7"`` for a digit, ``"other"`` for class 10."""
    return CLASS_NAMES[int(label)]


def reading_html(text: str) -> str:
    """The number as the page shows it (only the number, so that tests can read it back)."""
    return f"<span>{html.escape(text)}</span>"


def reading_note(segments: Sequence) -> str:
    """One line under the reading: how many digits, and which marks are not digits."""
    if not segments:
        return "Draw a number above: the reading appears when you lift the pen."
    others = sum(1 for s in segments if int(s.label) == OTHER)
    digits = len(segments) - others
    parts = [f"{digits} digit{'s' if digits != 1 else ''}"]
    if others:
        parts.append(
            f"{others} mark{'s' if others != 1 else ''} that {'are' if others > 1 else 'is'} not a digit (grey dashed boxes, ? in the correction)"
        )
    return ", ".join(parts)


def versions_text(versions: Mapping[str, int | str]) -> str:
    """Which version of each model read a drawing: ``"read by cnn v3, fnn v2, numpy_fnn
    shipped"`` (``versions``: model name -> store version, or a word such as ``"shipped"``)."""
    parts = [
        f"{name} v{version}" if isinstance(version, int) else f"{name} {version}"
        for name, version in sorted(versions.items())
    ]
    return "read by " + ", ".join(parts) if parts else ""


def probability_bars(probabilities: Sequence[float], top: int = 3) -> str:
    """HTML bars of the ``top`` most probable classes, widest first."""
    values = np.asarray(probabilities, np.float64)
    order = np.argsort(-values)[:top]
    rows = []
    for index in order:
        percent = 100.0 * float(values[index])
        rows.append(
            '<div class="dl-bar-row">'
            f'<span class="dl-bar-label">{html.escape(class_name(index))}</span>'
            f'<span class="dl-bar"><span style="width:{percent:.1f}%"></span></span>'
            f'<span class="dl-bar-value">{percent:.0f}%</span></div>'
        )
    return "".join(rows)


def stroke_order_svg(strokes: Sequence[np.ndarray], size: int = 56) -> str:
    """The strokes as the stroke model read them, in a ``size`` px square: each stroke a line
    with an arrowhead where it ended, its number at its first point. ``strokes``: (P, 2)
    arrays of (x, y) in any pixels, in drawing order."""
    if not len(strokes):
        return ""
    points = np.concatenate([np.asarray(s, np.float64).reshape(-1, 2) for s in strokes])
    low, high = points.min(axis=0), points.max(axis=0)
    scale = (size - 12) / max(float((high - low).max()), 1e-6)
    offset = (size - (high - low) * scale) / 2
    parts = []
    for number, stroke in enumerate(strokes, start=1):
        placed = (np.asarray(stroke, np.float64).reshape(-1, 2) - low) * scale + offset
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in placed)
        x, y = placed[0]
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="#345" stroke-width="2" '
            'stroke-linecap="round" stroke-linejoin="round" marker-end="url(#dl-arrow)"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#e67e22"/>'
            f'<text x="{x:.1f}" y="{y + 3:.1f}" font-size="8" text-anchor="middle" '
            f'fill="white">{number}</text>'
        )
    return (
        f'<svg class="dl-strokes" width="{size}" height="{size}" role="img" '
        f'aria-label="the {len(strokes)} strokes in the order they were drawn">'
        '<defs><marker id="dl-arrow" viewBox="0 0 6 6" refX="3" refY="3" markerWidth="4" '
        'markerHeight="4" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#345"/></marker></defs>'
        f"<title>strokes in drawing order, numbered where each began</title>{''.join(parts)}</svg>"
    )


def segment_cards_html(
    segments: Sequence, saliency: Sequence | None = None, strokes: Sequence | None = None
) -> str:
    """Per segment: the 28x28 image the models saw, beside it (when ``saliency`` gives one
    (28, 28) map per segment) the ink that made the ensemble decide, the segment's strokes in
    the order the stroke model read them (when the drawing's ``strokes`` are given), and every
    model's answer with its bars."""
    if not segments:
        return ""
    from digitlib.recognize.explain import saliency_rgb

    cards = []
    for number, segment in enumerate(segments, start=1):
        why = ""
        if saliency is not None:
            why = (
                f'<img class="dl-seen dl-why" alt="ink that decided segment {number}" '
                f'title="orange: ink that speaks for this reading; blue: against it" '
                f'src="{png_data_url(saliency_rgb(segment.image, saliency[number - 1]))}"/>'
            )
        owned = getattr(segment, "strokes", ())
        if strokes is not None and owned:
            why += stroke_order_svg([strokes[i] for i in owned])
        models = []
        probabilities: Mapping[str, Sequence[float]] = segment.probabilities
        for name in [n for n in COMPARED_MODELS if n in probabilities] + [
            n for n in probabilities if n not in COMPARED_MODELS
        ]:
            values = np.asarray(probabilities[name], np.float64)
            best = int(values.argmax())
            models.append(
                f'<div class="dl-model"><div class="dl-model-name">{html.escape(name)}</div>'
                f'<div class="dl-model-answer">{html.escape(class_name(best))}'
                f" <small>{100 * values[best]:.0f}%</small></div>"
                f"{probability_bars(values)}</div>"
            )
        label = class_name(segment.label)
        kind = "dl-other" if int(segment.label) == OTHER else "dl-digit"
        cards.append(
            f'<div class="dl-card {kind}">'
            f'<div class="dl-card-head"><img class="dl-seen" alt="28x28 input of segment {number}" '
            f'src="{png_data_url(segment.image)}"/>{why}'
            f"<div><b>#{number}: {html.escape(label)}</b><br/>"
            f"<small>{100 * float(segment.confidence):.0f}% sure</small></div></div>"
            f'<div class="dl-models">{"".join(models)}</div></div>'
        )
    return '<div class="dl-cards">' + "".join(cards) + "</div>"


def table_html(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A plain HTML table, every cell escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="dl-table"><tr>{head}</tr>{body}</table>'


def line_chart_svg(
    series: Mapping[str, Sequence[float]],
    labels: Sequence[str] = (),
    *,
    width: int = 340,
    height: int = 160,
    y_range: tuple[float, float] | None = None,
) -> str:
    """A small SVG line chart: one line per series over the same x positions, values in [0, 1]."""
    colors = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
    lengths = [len(v) for v in series.values()]
    if not lengths or max(lengths) == 0:
        return '<div class="dl-empty">No history yet.</div>'
    values = np.concatenate([np.asarray(v, np.float64) for v in series.values() if len(v)])
    low, high = y_range or (float(np.nanmin(values)), float(np.nanmax(values)))
    if high - low < 1e-3:
        low, high = low - 0.01, high + 0.01
    left, right, top, bottom = 40, 8, 8, 22
    count = max(lengths)

    def x_at(i: int) -> float:
        return left + (width - left - right) * (i / max(count - 1, 1))

    def y_at(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - low) / (high - low))

    parts = [
        f'<svg class="dl-chart" width="{width}" height="{height + 18 * len(series)}" '
        f'viewBox="0 0 {width} {height + 18 * len(series)}">',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#999"/>',
    ]
    for value in (low, high):
        parts.append(
            f'<text x="{left - 4}" y="{y_at(value) + 4:.1f}" text-anchor="end" font-size="10">'
            f"{100 * value:.1f}%</text>"
        )
    for i, label in enumerate(labels[:count]):
        if count <= 8 or i in (0, count - 1):
            parts.append(
                f'<text x="{x_at(i):.1f}" y="{height - 6}" text-anchor="middle" font-size="10">'
                f"{html.escape(str(label))}</text>"
            )
    for number, (name, data) in enumerate(series.items()):
        color = colors[number % len(colors)]
        points = " ".join(
            f"{x_at(i):.1f},{y_at(float(v)):.1f}" for i, v in enumerate(data) if v == v
        )
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>'
        )
        for i, v in enumerate(data):
            if v == v:
                parts.append(
                    f'<circle cx="{x_at(i):.1f}" cy="{y_at(float(v)):.1f}" r="3" fill="{color}"/>'
                )
        y = height + 14 + 18 * number
        parts.append(f'<rect x="{left}" y="{y - 9}" width="12" height="10" fill="{color}"/>')
        parts.append(f'<text x="{left + 18}" y="{y}" font-size="11">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def confusion_matrix_html(
    matrix: Sequence[Sequence[float]], names: Sequence[str] = CLASS_NAMES
) -> str:
    """A confusion matrix as a shaded table: rows are true classes, columns predictions.

    ``matrix`` has shape (rows, columns) with rows <= columns (e.g. 10 true digits by 11 readings,
    "other" included); ``names`` label both, in class order.
    """
    array = np.asarray(matrix, np.float64)
    if array.ndim != 2 or array.shape[0] > array.shape[1] or array.shape[1] > len(names):
        raise ValueError(
            f"a confusion matrix must be (rows, columns) with rows <= columns <= {len(names)}, "
            f"got shape {array.shape}"
        )
    row_names = list(names)[: array.shape[0]]
    column_names = list(names)[: array.shape[1]]
    row_sums = np.maximum(array.sum(axis=1, keepdims=True), 1e-9)
    share = array / row_sums
    head = "".join(f"<th>{html.escape(n)}</th>" for n in column_names)
    rows = []
    for i, name in enumerate(row_names):
        cells = []
        for j in range(len(column_names)):
            alpha = float(share[i, j])
            color = "31,119,180" if i == j else "214,39,40"
            count = array[i, j]
            text = f"{count:.0f}" if count else ""
            cells.append(f'<td style="background:rgba({color},{alpha:.2f})">{text}</td>')
        rows.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    return (
        f'<table class="dl-confusion"><tr><th>true \\ read</th>{head}</tr>{"".join(rows)}</table>'
    )


def pipeline_svg() -> str:
    """The picture of the pipeline for the About view."""
    steps = [
        ("canvas", "your strokes"),
        ("preprocess", "ink mask"),
        ("segment", "one box per digit"),
        ("28x28", "MNIST-style"),
        ("3 models", "NumPy, FNN, CNN"),
        ("ensemble", "the reading"),
    ]
    box_width, box_height, gap = 100, 46, 16
    per_row = 3
    parts = [
        f'<svg class="dl-pipeline" width="360" height="{2 * (box_height + 30) + 66}" viewBox="0 0 360 {2 * (box_height + 30) + 66}">'
    ]
    parts.append(
        '<defs><marker id="dl-arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>'
    )
    positions = []
    for index, (title, subtitle) in enumerate(steps):
        row, column = divmod(index, per_row)
        if row % 2:
            column = per_row - 1 - column  # snake back so the arrows stay short
        x = 8 + column * (box_width + gap)
        y = 8 + row * (box_height + 30)
        positions.append((x, y))
        parts.append(
            f'<rect x="{x}" y="{y}" width="{box_width}" height="{box_height}" rx="8" '
            'fill="#eef4fb" stroke="#1f77b4"/>'
            f'<text x="{x + box_width / 2}" y="{y + 19}" text-anchor="middle" font-size="13" '
            f'font-weight="bold">{title}</text>'
            f'<text x="{x + box_width / 2}" y="{y + 35}" text-anchor="middle" font-size="10">'
            f"{subtitle}</text>"
        )
    for (x0, y0), (x1, y1) in zip(positions, positions[1:], strict=False):
        if y0 == y1:
            start, end = (x0 + box_width, x1) if x1 > x0 else (x0, x1 + box_width)
            parts.append(
                f'<line x1="{start}" y1="{y0 + box_height / 2}" x2="{end}" '
                f'y2="{y1 + box_height / 2}" stroke="#555" marker-end="url(#dl-arrow)"/>'
            )
        else:
            parts.append(
                f'<line x1="{x0 + box_width / 2}" y1="{y0 + box_height}" x2="{x1 + box_width / 2}" '
                f'y2="{y1}" stroke="#555" marker-end="url(#dl-arrow)"/>'
            )
    y = 2 * (box_height + 30) + 16
    lines = (
        "Learn: correction → augment → fine-tune (with replay)",
        "→ validation gate → versioned store",
        "→ every visitor's next reading",
    )
    for number, line in enumerate(lines):
        parts.append(f'<text x="8" y="{y + 16 * number}" font-size="11">{line}</text>')
    parts.append("</svg>")
    return "".join(parts)


#: Styles for the page, inserted once by the dashboard in an HTML widget.
PAGE_CSS = """
<style>
.digitlib-canvas { touch-action: none; flex: none !important; outline: none; border: none;
  box-shadow: 0 0 0 1px #888; border-radius: 2px; background: #fff; cursor: crosshair;
  margin: 2px; -webkit-user-select: none; user-select: none; }
.digitlib-canvas canvas { touch-action: none; }
.digitlib-reading { font-size: 44px; font-weight: bold; line-height: 52px; min-height: 52px;
  letter-spacing: 2px; }
/* A fixed height: a status that grows or shrinks would move the canvas under the pen. */
.digitlib-status { font-size: 13px; color: #333; height: 36px; line-height: 18px;
  overflow-y: auto; }
.digitlib-status .widget-html-content { line-height: 18px; }
.digitlib-status .dl-error { color: #b00020; font-weight: bold; }
.digitlib-status .dl-warning { color: #8a5300; }
.dl-cards { display: flex; flex-wrap: wrap; gap: 8px; }
.dl-card { border: 1px solid #ccc; border-radius: 6px; padding: 6px; max-width: 360px; }
.dl-card.dl-other { border-style: dashed; background: #f6f6f6; }
.dl-card-head { display: flex; gap: 8px; align-items: center; margin-bottom: 4px; }
.dl-seen { width: 56px; height: 56px; image-rendering: pixelated; background: #000; }
.dl-models { display: grid; grid-template-columns: repeat(4, 1fr); gap: 4px; }
.dl-model { font-size: 11px; min-width: 0; }
.dl-model-name { color: #555; overflow: hidden; text-overflow: ellipsis; }
.dl-model-answer { font-size: 16px; font-weight: bold; }
.dl-bar-row { display: flex; align-items: center; gap: 2px; }
.dl-bar-label { width: 26px; text-align: right; font-size: 10px; overflow: hidden; }
.dl-bar { flex: 1; height: 7px; background: #eee; min-width: 16px; }
.dl-bar span { display: block; height: 100%; background: #1f77b4; }
.dl-bar-value { width: 28px; text-align: right; }
.dl-table, .dl-confusion { border-collapse: collapse; font-size: 12px; }
/* Wide tables scroll inside their box on a phone instead of running off the page. */
.dl-table, .dl-confusion { display: block; max-width: 100%; overflow-x: auto; }
.digitlib-dashboard .widget-html-content div, .digitlib-dashboard .widget-html-content small {
  white-space: normal; overflow-wrap: anywhere; }
.dl-table td, .dl-table th { border-bottom: 1px solid #ddd; padding: 1px 6px; text-align: left;
  line-height: 1.35; white-space: nowrap; }
.digitlib-verdict, .digitlib-verdict .widget-html-content { overflow-x: auto; line-height: 1.4; }
.dl-confusion td, .dl-confusion th { border: 1px solid #ddd; width: 24px; height: 20px;
  text-align: center; padding: 0; }
.dl-verdict-ok { color: #106b21; font-weight: bold; }
.dl-verdict-no { color: #8a5300; font-weight: bold; }
.dl-thumb { border: 1px solid #ccc; border-radius: 4px; padding: 4px; min-width: 150px; }
.dl-thumb img { width: 140px; height: auto; background: #fff; }
/* Phones: give the fixed-size canvas the room that Voila's paddings take. */
@media (max-width: 600px) {
  body .lm-BoxPanel-child { padding-left: 4px !important; padding-right: 4px !important; }
  body .jp-Cell { padding-left: 0 !important; padding-right: 0 !important; }
  body .jp-OutputArea-output { margin-left: 0 !important; }
  .digitlib-dashboard .jupyter-widget-TabPanel-tabContents { padding: 6px 4px !important; }
  .digitlib-reading { font-size: 36px; line-height: 44px; min-height: 44px; }
}
.digitlib-dashboard .widget-box { overflow: visible; }
.dl-gap { gap: 12px; }
.dl-warning-box { background: #fff4e5; border: 1px solid #f0b45b; padding: 6px; border-radius: 4px; }
/* The system's dark mode: JupyterLab's own colour variables, so every widget follows; the
   canvas stays paper-white (ink is black, as people expect a page to be). */
@media (prefers-color-scheme: dark) {
  :root, body {
    --jp-layout-color0: #111418; --jp-layout-color1: #181c21; --jp-layout-color2: #23282e;
    --jp-layout-color3: #2f353c; --jp-border-color0: #4a525b; --jp-border-color1: #3a4149;
    --jp-border-color2: #30363d; --jp-ui-font-color0: #f0f3f6; --jp-ui-font-color1: #e1e6eb;
    --jp-ui-font-color2: #b9c1c9; --jp-ui-font-color3: #8b949e; --jp-content-font-color0: #f0f3f6;
    --jp-content-font-color1: #e1e6eb; --jp-content-font-color2: #b9c1c9;
    --jp-widgets-color: #e1e6eb; --jp-widgets-label-color: #e1e6eb;
    --jp-widgets-readout-color: #e1e6eb; --jp-widgets-input-color: #e1e6eb;
    --jp-widgets-input-background-color: #23282e; --jp-widgets-input-border-color: #4a525b;
    --jp-widgets-slider-active-handle-color: #e1e6eb;
    color-scheme: dark;
  }
  body { background: #111418; color: #e1e6eb; }
  .digitlib-status { color: #d0d7de; }
  .digitlib-status .dl-error { color: #ff7b8a; }
  .digitlib-status .dl-warning, .dl-verdict-no { color: #f0b45b; }
  .dl-verdict-ok { color: #56d364; }
  .dl-card, .dl-thumb { border-color: #4a525b; }
  .dl-card.dl-other { background: #1c2126; }
  .dl-model-name { color: #b9c1c9; }
  .dl-bar { background: #30363d; }
  .dl-table td, .dl-table th, .dl-confusion td, .dl-confusion th { border-color: #3a4149; }
  .dl-warning-box { background: #3a2a10; border-color: #8a5300; }
}
</style>
"""
