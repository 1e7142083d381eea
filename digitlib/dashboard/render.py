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


def plural(count: int, word: str) -> str:
    """``"1 digit"``, ``"4 digits"``, ``"0 digits"``: a count with its noun, never a
    placeholder plural. ``word`` is the singular of a noun whose plural adds an s."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def sentence(text: str) -> str:
    """``text`` as a sentence for the page: its first letter a capital, a full stop at its end
    unless it ends with one of ``. ! ? …`` already; ``""`` stays ``""``."""
    text = text.strip()
    if not text:
        return ""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def reading_status(digits: int, others: int, strokes: int, milliseconds: float) -> str:
    """The status line after a reading, in a visitor's words: ``"Read 4 digits in 18 ms (5
    strokes)."``, or ``"That doesn't look like a digit …"`` when no mark is one.

    ``digits`` and ``others`` count the marks read as digits and as no digit ("other");
    ``strokes`` the drawing's strokes: it changes with every stroke, so every stroke's status
    differs from the last one's and the page shows that the stroke was read.
    """
    if min(digits, others, strokes) < 0:
        raise ValueError(
            f"counts cannot be negative, got digits={digits}, others={others}, strokes={strokes}"
        )
    if not digits and not others:
        return "Nothing to read yet: draw a number."
    if not digits:
        head = "That doesn't look like a digit" if others == 1 else "Those don't look like digits"
        return (
            f"{head} ({plural(strokes, 'stroke')}, read in {milliseconds:.0f} ms); try "
            "drawing it larger and more clearly."
        )
    text = f"Read {plural(digits, 'digit')} in {milliseconds:.0f} ms ({plural(strokes, 'stroke')})"
    if others:
        verb = "is" if others == 1 else "are"
        text += (
            f"; {plural(others, 'mark')} {verb} not a digit (the grey dashed "
            f"{'box' if others == 1 else 'boxes'}, ? in the correction)"
        )
    return text + "."


def versions_text(versions: Mapping[str, int | str]) -> str:
    """Which version of each model read a drawing: ``"read by cnn v3, fnn v2, numpy_fnn
    shipped"`` (``versions``: model name -> store version, or a word such as ``"shipped"``)."""
    parts = [
        f"{name} v{version}" if isinstance(version, int) else f"{name} {version}"
        for name, version in sorted(versions.items())
    ]
    return "read by " + ", ".join(parts) if parts else ""


def probability_bars(
    probabilities: Sequence[float], top: int = 3, *, least: float = 0.0, least_other: float = 0.0
) -> str:
    """HTML bars of the ``top`` most probable classes, widest first; a class under ``least``
    (and "other" under ``least_other``) is left out, so that no row of 0% fills a card."""
    values = np.asarray(probabilities, np.float64)
    rows = []
    for index in np.argsort(-values)[:top]:
        value = float(values[index])
        if value < least or (index == OTHER and value < least_other):
            continue
        rows.append(
            '<div class="dl-bar-row">'
            f'<span class="dl-bar-label">{html.escape(class_name(index))}</span>'
            f'<span class="dl-bar"><span style="width:{100 * value:.1f}%"></span></span>'
            f'<span class="dl-bar-value">{100 * value:.0f}%</span></div>'
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


#: The saliency picture's colours (RGB): ink that speaks for the reading, and against it.
FOR_COLOUR = (240, 128, 16)
AGAINST_COLOUR = (40, 140, 255)
#: "other" gets a word on a card only from this probability up (else it is only noise).
OTHER_MATTERS = 0.10


def saliency_picture(image: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """The ink that decided a reading, as a picture: ``image`` (28, 28) float in [0, 1] (the
    model input, ink bright) in grey, ``saliency`` (28, 28) float painted over it in
    ``FOR_COLOUR`` where positive (covering that ink lowers the reading's probability) and in
    ``AGAINST_COLOUR`` where negative. Returns uint8 (28, 28, 3).

    The strongest patch gets the full colour and weaker ones a share of it (square root, so
    they stay visible), opaque rather than a tint: the map is the picture, the ink its context.
    """
    image = np.clip(np.asarray(image, np.float32), 0, 1)
    saliency = np.asarray(saliency, np.float32)
    if image.shape != saliency.shape:
        raise ValueError(
            f"image {image.shape} and saliency {saliency.shape} must have the same shape"
        )
    scale = float(np.max(np.abs(saliency))) or 1.0
    support = np.sqrt(np.clip(saliency / scale, 0, 1))[..., None]
    against = np.sqrt(np.clip(-saliency / scale, 0, 1))[..., None]
    grey = (0.12 + 0.45 * image)[..., None] * np.ones(3, np.float32)
    colour = np.where(
        support >= against,
        np.asarray(FOR_COLOUR, np.float32) / 255,
        np.asarray(AGAINST_COLOUR, np.float32) / 255,
    )
    strength = np.maximum(support, against)
    mixed = grey * (1 - strength) + colour * strength
    return np.round(mixed.clip(0, 1) * 255).astype(np.uint8)


def _answer(values: np.ndarray) -> tuple[int, float]:
    best = int(values.argmax())
    return best, float(values[best])


def _details_html(probabilities: Mapping[str, Sequence[float]], order: Sequence[str]) -> str:
    """Per model, its likeliest classes with bars; classes under 1% and "other" under
    ``OTHER_MATTERS`` are left out (a column of 0% says nothing)."""
    return "".join(
        f'<div class="dl-detail"><span class="dl-detail-name">{html.escape(name)}</span>'
        f"{probability_bars(probabilities[name], least=0.01, least_other=OTHER_MATTERS)}</div>"
        for name in order
    )


def segment_cards_html(
    segments: Sequence, saliency: Sequence | None = None, strokes: Sequence | None = None
) -> str:
    """One card per segment (class ``digitlib-segment``): the 28x28 image the models saw, the
    ink that made the ensemble decide (when ``saliency`` gives one (28, 28) map per segment)
    with its two-colour key, the ensemble's answer with a confidence bar, and each other
    model's answer in one row, those that disagree marked. "Look inside", closed, holds each
    model's likeliest classes and (when the drawing's ``strokes`` are given) the segment's
    strokes in the order the stroke model read them."""
    if not segments:
        return ""
    cards = []
    for number, segment in enumerate(segments, start=1):
        probabilities: Mapping[str, Sequence[float]] = segment.probabilities
        order = [n for n in COMPARED_MODELS if n in probabilities] + [
            n for n in probabilities if n not in COMPARED_MODELS
        ]
        label = int(segment.label)
        confidence = float(segment.confidence)
        pictures = (
            '<figure class="dl-figure"><img class="dl-seen" '
            f'alt="the 28x28 picture the models read for mark {number}" '
            f'src="{png_data_url(segment.image)}"/><figcaption>what they saw</figcaption></figure>'
        )
        if saliency is not None:
            picture = saliency_picture(segment.image, saliency[number - 1])
            pictures += (
                '<figure class="dl-figure"><img class="dl-seen dl-why" '
                f'alt="the ink that decided mark {number}" src="{png_data_url(picture)}"/>'
                '<figcaption><span class="dl-key dl-key-for"></span>for '
                '<span class="dl-key dl-key-against"></span>against</figcaption></figure>'
            )
        chips = []
        for name in order:
            if name == "ensemble":
                continue
            best, probability = _answer(np.asarray(probabilities[name], np.float64))
            agrees = "dl-agree" if best == label else "dl-disagree"
            chips.append(
                f'<span class="dl-chip {agrees}" title="{html.escape(name)}: '
                f'{html.escape(class_name(best))}, {100 * probability:.0f}%">'
                f'<span class="dl-model-name">{html.escape(name)}</span> '
                f"<b>{html.escape(class_name(best) if best != OTHER else '?')}</b></span>"
            )
        disagree = sum(1 for chip in chips if "dl-disagree" in chip)
        agreement = (
            "all models agree"
            if not disagree
            else f"{plural(disagree, 'model')} of {len(chips)} read it otherwise"
        )
        ensemble = probabilities.get("ensemble", ())
        other = float(ensemble[OTHER]) if len(ensemble) > OTHER else 0.0
        note = f'<div class="dl-note">{sentence(agreement)}</div>' if disagree else ""
        if label == OTHER:
            note += (
                '<div class="dl-note">This mark looks like no digit; it is ? in the '
                "correction.</div>"
            )
        elif other >= OTHER_MATTERS:
            note += f'<div class="dl-note">{100 * other:.0f}% that this is no digit at all.</div>'
        inside = _details_html(probabilities, order)
        owned = getattr(segment, "strokes", ())
        if strokes is not None and owned:
            inside += (
                '<div class="dl-detail"><span class="dl-detail-name">stroke order</span>'
                f"{stroke_order_svg([strokes[i] for i in owned])}</div>"
            )
        kind = "dl-other" if label == OTHER else "dl-digit"
        answer = "?" if label == OTHER else class_name(label)
        cards.append(
            f'<div class="dl-card {kind} digitlib-segment">'
            f'<div class="dl-card-head"><span class="dl-card-number">#{number}</span>'
            f'<span class="dl-answer">{html.escape(answer)}</span>'
            f'<span class="dl-sure">{100 * confidence:.0f}% sure</span></div>'
            f'<div class="dl-confidence" role="meter" aria-valuemin="0" aria-valuemax="100" '
            f'aria-valuenow="{100 * confidence:.0f}" aria-label="confidence">'
            f'<span style="width:{100 * confidence:.1f}%"></span></div>'
            f'<div class="dl-pictures">{pictures}</div>'
            f'<div class="dl-models" title="{agreement}">{"".join(chips)}</div>'
            f"{note}"
            f'<details class="dl-inside"><summary>Look inside</summary>{inside}</details>'
            "</div>"
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
