"""The dashboard without a browser: its pure renderers, the drawing pad's strokes, serving, Chromium.

The browser half is in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import html
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitlib.config import OTHER
from digitlib.dashboard import render
from digitlib.dashboard.drawpad import (
    MAX_BRUSH_WIDTH,
    MIN_BRUSH_WIDTH,
    DrawPad,
    canvas_point,
    check_brush_width,
)
from digitlib.dashboard.serve import (
    KERNEL_CONNECTION,
    TEMPLATES_ROOT,
    compile_package,
    voila_command,
    voila_environment,
)
from digitlib.drawings.data import draw_polylines
from digitlib.ops.browser import find_chromium, find_crowd_chromium, missing_browser_message

# --- render ---------------------------------------------------------------------------------


def test_render_drawing_matches_the_canvas_renderer():
    strokes = [np.array([[10, 10], [30, 40]], np.float32), np.array([[50, 20]], np.float32)]
    image = render.render_drawing(strokes, [6.0, 6.0], (60, 80))
    expected = draw_polylines(strokes, (60, 80), 6.0)
    assert image.shape == (60, 80, 4) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, expected)


def test_render_drawing_keeps_each_strokes_width():
    thin = np.array([[10, 30], [70, 30]], np.float32)
    thick = np.array([[10, 70], [70, 70]], np.float32)
    image = render.render_drawing([thin, thick], [2.0, 12.0], (100, 80))
    ink = image[..., 3] > 127
    assert ink[:50].sum() < ink[50:].sum() / 3


def test_render_drawing_needs_one_width_per_stroke():
    with pytest.raises(ValueError, match="one each"):
        render.render_drawing([np.zeros((2, 2), np.float32)], [], (10, 10))


def test_empty_drawing_is_transparent():
    image = render.render_drawing([], [], (12, 16))
    assert image.shape == (12, 16, 4) and not image.any()


def test_thumbnail_puts_ink_on_white():
    image = np.zeros((4, 4, 4), np.uint8)
    image[1, 2, 3] = 255
    gray = render.thumbnail(image)
    assert gray[0, 0] == 255 and gray[1, 2] == 0


def test_png_data_url_round_trips():
    import cv2

    image = (np.arange(28 * 28, dtype=np.float32).reshape(28, 28) / (28 * 28)).astype(np.float32)
    url = render.png_data_url(image)
    assert url.startswith("data:image/png;base64,")
    import base64

    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), 0)
    np.testing.assert_allclose(decoded / 255.0, image, atol=1 / 255)


@dataclass
class _Segment:
    label: int
    confidence: float
    box: tuple
    image: np.ndarray
    probabilities: dict


def _segment(label: int) -> _Segment:
    probabilities = np.full(11, 0.01)
    probabilities[label] = 0.9
    return _Segment(
        label,
        0.9,
        (0, 0, 5, 5),
        np.zeros((28, 28), np.float32),
        {name: list(probabilities) for name in ("numpy_fnn", "fnn", "cnn", "ensemble")},
    )


def test_segment_cards_show_every_model_and_mark_other():
    html = render.segment_cards_html([_segment(7), _segment(10)])
    # The ensemble is the card's answer; every other model has one chip in the row.
    for name in ("numpy_fnn", "fnn", "cnn"):
        assert html.count(f'dl-model-name">{name}<') == 2
    assert 'dl-model-name">ensemble<' not in html
    assert html.count("digitlib-segment") == 2
    assert 'dl-answer">7<' in html and 'dl-answer">?<' in html and "dl-other" in html
    assert html.count("<details") == 2 and "Look inside" in html


def _disagreeing_segment() -> _Segment:
    segment = _segment(7)
    fnn = np.full(11, 0.01)
    fnn[1], fnn[OTHER] = 0.6, 0.3
    segment.probabilities = {**segment.probabilities, "fnn": list(fnn)}
    return segment


def test_a_card_marks_the_models_that_disagree_and_shows_other_only_when_it_matters():
    agreeing = render.segment_cards_html([_segment(7)])
    assert "dl-disagree" not in agreeing and "all models agree" in agreeing
    # "other" at 1% for every model: no row, no note.
    assert 'dl-bar-label">other' not in agreeing and "no digit" not in agreeing
    disagreeing = render.segment_cards_html([_disagreeing_segment()])
    assert (
        disagreeing.count("dl-disagree") == 1 and "1 model of 3 read it otherwise" in disagreeing
    )
    # The fnn thinks "other" 30% likely: its bars show it.
    assert 'dl-bar-label">other<' in disagreeing


def test_a_card_says_when_the_mark_may_be_no_digit():
    segment = _segment(7)
    ensemble = np.full(11, 0.0)
    ensemble[7], ensemble[OTHER] = 0.7, 0.3
    segment.probabilities = {**segment.probabilities, "ensemble": list(ensemble)}
    assert "30% that this is no digit at all." in render.segment_cards_html([segment])
    assert "no digit at all" not in render.segment_cards_html([_segment(7)])
    assert "looks like no digit" in render.segment_cards_html([_segment(OTHER)])


def test_a_card_shows_the_saliency_with_its_key():
    saliency = np.zeros((28, 28), np.float32)
    saliency[5, 5], saliency[20, 20] = 1.0, -0.5
    html = render.segment_cards_html([_segment(3)], [saliency])
    assert "dl-why" in html and "dl-key-for" in html and "dl-key-against" in html


def test_the_saliency_picture_paints_for_and_against_in_their_colours():
    image = np.zeros((28, 28), np.float32)
    saliency = np.zeros((28, 28), np.float32)
    saliency[0, 0], saliency[27, 27] = 2.0, -2.0
    picture = render.saliency_picture(image, saliency)
    assert picture.shape == (28, 28, 3) and picture.dtype == np.uint8
    assert tuple(picture[0, 0]) == render.FOR_COLOUR
    assert tuple(picture[27, 27]) == render.AGAINST_COLOUR
    assert image.max() == 0  # its input untouched
    with pytest.raises(ValueError, match="same shape"):
        render.saliency_picture(image, saliency[:10])


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((4, 0, 5, 18.2), "Read 4 digits in 18 ms (5 strokes)."),
        ((1, 0, 1, 9.0), "Read 1 digit in 9 ms (1 stroke)."),
        ((0, 1, 2, 11.0), "That doesn't look like a digit (2 strokes, read in 11 ms); try "),
        ((0, 2, 2, 11.0), "Those don't look like digits (2 strokes"),
        ((3, 1, 4, 20.0), "Read 3 digits in 20 ms (4 strokes); 1 mark is not a digit (the grey"),
    ],
)
def test_the_reading_status_says_it_in_words(counts, expected):
    assert render.reading_status(*counts).startswith(expected)


def test_the_reading_status_refuses_negative_counts():
    with pytest.raises(ValueError, match="cannot be negative"):
        render.reading_status(-1, 0, 1, 5.0)


def _is_sentence(text: str) -> bool:
    return bool(text) and text[0].isupper() and text.endswith((".", "!", "?", "…"))


def _status_messages(tmp_path) -> list[str]:
    """Every status line and message the dashboard builds, from the functions that build them,
    with 0, 1 and several digits (and marks that are no digit), and from the errors it shows."""
    from digitlib.dashboard.app import plain_message
    from digitlib.store import StoreError, StoreUnavailable

    messages = [
        render.reading_status(digits, others, strokes, 12.0)
        for digits in (0, 1, 4)
        for others in (0, 1, 2)
        for strokes in (0, 1, 5)
    ]
    errors = [
        ValueError("draw a number first"),
        ValueError("type the right number in the Correct field first"),
        RuntimeError("still learning from the last correction; wait for its verdict"),
        PermissionError("only the operator can do that"),
        StoreUnavailable("down"),
        StoreError("bad"),
        KeyError("x"),
    ]
    for error in errors:
        messages += [plain_message(error), plain_message(error, doing="learn from this drawing")]
    # And what a dashboard shows: at start, a refused correction, an empty canvas.
    from digitlib.dashboard import Dashboard, Services

    dashboard = Dashboard(Services(None, problems=["nothing in models/"]))
    shown = [dashboard.status.value]
    dashboard.correction.value = "12"
    dashboard.guard(dashboard.save_drawing)()
    shown.append(dashboard.status.value)
    for value in shown:
        messages.append(html.unescape(value.split(">", 1)[1].rsplit("<", 1)[0]))
    return messages


def test_every_message_a_visitor_can_trigger_is_a_sentence(tmp_path):
    for message in _status_messages(tmp_path):
        assert _is_sentence(message), f"not a sentence: {message!r}"
        assert "(s)" not in message, f"a placeholder plural: {message!r}"


def test_the_status_line_shows_every_message_as_a_sentence():
    from digitlib.dashboard import Dashboard, Services

    dashboard = Dashboard(Services(None, problems=["nothing in models/"]))
    dashboard.report("draw a number first", "error")
    assert 'dl-error">Draw a number first.<' in dashboard.status.value
    # The other views show the same words.
    assert dashboard.views_status.value == dashboard.status.value


def test_the_messages_written_in_the_dashboards_code_are_sentences():
    """Every literal message passed to report(): a capital first (unless it starts with a
    value), a full stop (or ! ? …) last; messages built elsewhere are checked above."""
    import ast

    import digitlib.dashboard

    folder = Path(digitlib.dashboard.__file__).parent
    checked = 0
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "report"
                and node.args
                and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
            ):
                continue
            message = node.args[0]
            parts = message.values if isinstance(message, ast.JoinedStr) else [message]
            first, last = parts[0], parts[-1]
            text = ast.unparse(message)
            assert not isinstance(first, ast.Constant) or first.value[:1].isupper(), (
                f"{path.name}:{node.lineno}: {text}"
            )
            assert isinstance(last, ast.Constant) and _is_sentence("X" + last.value), (
                f"{path.name}:{node.lineno}: {text}"
            )
            checked += 1
    assert checked >= 20, checked


def test_the_dashboards_words_have_no_placeholder_plurals():
    import digitlib.dashboard

    folder = Path(digitlib.dashboard.__file__).parent
    for path in [*folder.glob("*.py"), *folder.rglob("*.j2"), *folder.rglob("*.css")]:
        # "mark(s)", "drawing(s)": a word with (s) glued on (not a call such as asarray(s)).
        found = re.findall(r"\b(?!asarray)[a-z]+\(s\)", path.read_text())
        assert not found, f"{path.name} writes placeholder plurals: {found}"
    assert render.plural(0, "digit") == "0 digits" and render.plural(1, "stroke") == "1 stroke"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("draw a number first", "Draw a number first."), ("Done!", "Done!"), ("", "")],
)
def test_sentence_capitalises_and_ends_a_message(text, expected):
    assert render.sentence(text) == expected


def test_reading_html_escapes():
    assert render.reading_html("<b>") == "<span>&lt;b&gt;</span>"


def test_probability_bars_are_widest_first():
    bars = render.probability_bars([0.1, 0.6, 0.3] + [0.0] * 8, top=2)
    assert bars.index(">1<") < bars.index(">2<") and "60%" in bars and ">0<" not in bars
    shown = render.probability_bars(
        [0.0] * 7 + [0.95, 0.0, 0.0, 0.05], least=0.01, least_other=0.1
    )
    assert ">7<" in shown and "other" not in shown and shown.count("dl-bar-row") == 1


def test_confusion_matrix_has_no_more_rows_than_columns():
    with pytest.raises(ValueError, match="rows <= columns"):
        render.confusion_matrix_html(np.ones((3, 2)))
    html = render.confusion_matrix_html(np.eye(10, 11) * 5)  # 10 digits read as 0-9 or other
    assert html.count("<tr>") == 11 and ">5<" in html and ">other<" in html


@pytest.mark.parametrize("series", [{}, {"MNIST": []}])
def test_line_chart_without_points_says_so(series):
    assert "No history" in render.line_chart_svg(series)


def test_line_chart_draws_one_line_per_series():
    svg = render.line_chart_svg(
        {"MNIST": [0.9, 0.95], "canvas-style": [0.8, float("nan")]}, ["v1", "v2"]
    )
    assert svg.count("<polyline") == 2 and "v1" in svg and "canvas-style" in svg


def test_pipeline_picture_names_the_steps():
    svg = render.pipeline_svg()
    for step in ("canvas", "preprocess", "segment", "28x28", "ensemble"):
        assert step in svg


# --- the drawing pad -------------------------------------------------------------------------


def test_redo_puts_back_what_undo_took_until_a_new_stroke():
    changes = []
    pad = DrawPad((100, 100), 6, on_change=changes.append)
    for x in (10, 30):
        pad._start(x, 10)
        pad._extend(x, 60)
        pad._finish()
    pad._key("z", False, True, False)  # Ctrl+Z
    assert len(pad.strokes) == 1 and changes[-1] == "undo"
    pad._key("Z", True, True, False)  # Ctrl+Shift+Z
    assert [p[0] for p in pad.strokes] == [(10.0, 10.0), (30.0, 10.0)] and changes[-1] == "redo"
    pad.undo()
    pad._start(50, 10)
    pad._finish()
    pad.redo()  # a new stroke forgot what was undone
    assert [p[0] for p in pad.strokes] == [(10.0, 10.0), (50.0, 10.0)]
    pad._key("z", False, False, False)  # a plain "z" does nothing
    assert len(pad.strokes) == 2


def test_drawpad_records_when_each_point_was_drawn():
    pad = DrawPad((100, 100), 6)
    pad._start(10, 10)
    pad._extend(10, 30)
    pad._extend(10, 60)
    pad._finish()
    (stroke,) = pad.stroke_record()["strokes"]
    assert stroke["points"] == [[10.0, 10.0], [10.0, 30.0], [10.0, 60.0]]
    assert len(stroke["times_ms"]) == 3 and stroke["times_ms"] == sorted(stroke["times_ms"])
    pad.undo()
    assert pad.stroke_record()["strokes"] == []


def test_drawpad_keeps_strokes_and_reports_changes():
    changes = []
    pad = DrawPad((100, 120), 8, on_change=changes.append)
    pad._start(10, 10)
    pad._extend(10.2, 10.2)  # under a pixel: no new point
    pad._extend(20, 30)
    pad._finish()
    pad._finish()  # a second mouse-up (or mouse-out) ends nothing
    pad._start(50, 50)
    pad._finish()
    assert changes == ["stroke", "stroke"]
    assert pad.strokes == [[(10, 10), (20, 30)], [(50, 50)]] and pad.widths == [8.0, 8.0]
    assert pad.image()[10, 10, 3] > 0 and pad.image()[50, 50, 3] > 0
    pad.undo()
    assert len(pad.strokes) == 1 and changes[-1] == "undo"
    assert pad.image()[50, 50, 3] == 0
    pad.clear()
    assert pad.is_empty and changes[-1] == "clear"


def test_drawpad_moves_without_a_pressed_button_draw_nothing():
    pad = DrawPad((50, 50))
    pad._extend(10, 10)
    pad._finish()
    assert pad.is_empty


def test_drawpad_touch_ends_a_stroke_only_when_the_last_finger_lifts():
    changes = []
    pad = DrawPad((100, 100), on_change=changes.append)
    pad.canvas._canvases[-1]._touch_start_callbacks([(10.0, 10.0)])
    pad.canvas._canvases[-1]._touch_move_callbacks([(30.0, 40.0)])
    pad.canvas._canvases[-1]._touch_start_callbacks([(30.0, 40.0), (80.0, 80.0)])  # 2nd finger
    pad.canvas._canvases[-1]._touch_end_callbacks([(5.0, 5.0)])  # another finger still down
    assert changes == []
    pad.canvas._canvases[-1]._touch_end_callbacks([])
    assert changes == ["stroke"] and pad.strokes == [[(10.0, 10.0), (30.0, 40.0)]]


def test_drawpad_canvas_keeps_its_resolution_and_fits_the_page():
    pad = DrawPad((240, 340), display_width=300)
    assert (pad.canvas.width, pad.canvas.height) == (340, 240)  # the drawing's pixels
    assert pad.canvas.layout.width == "100%" and pad.canvas.layout.height == "auto"
    assert pad.canvas.layout.max_width == "300px"
    assert "digitlib-canvas" in pad.canvas._dom_classes
    assert [pad.clear_button.description, pad.undo_button.description] == ["Clear", "Undo"]


def test_drawpad_refuses_silly_sizes():
    with pytest.raises(ValueError, match="16..2048"):
        DrawPad((5, 5000))


def _page_event(pad: DrawPad, event: str, **content) -> None:
    """What the page sends when the pointer acts on the canvas, handled as ipycanvas does."""
    pad.canvas._canvases[-1]._handle_frontend_event(None, {"event": event, **content}, None)


INFINITY, NAN = float("inf"), float("nan")


def _dashboard(tmp_path):
    from digitlib.dashboard import Dashboard, Services
    from digitlib.store import DrawingStore, LocalStore

    drawings = DrawingStore(LocalStore(tmp_path))
    return Dashboard(Services(None, drawings=drawings, problems=["no models"])), drawings


@pytest.mark.parametrize(
    "point", [(INFINITY, 10), (-INFINITY, 10), (10, NAN), (10, "12"), (None, 10), (True, 10)]
)
def test_the_pad_refuses_pen_positions_that_are_not_finite_numbers(tmp_path, point):
    dashboard, drawings = _dashboard(tmp_path)
    pad = dashboard.pad
    _page_event(pad, "mouse_down", x=point[0], y=point[1])
    assert pad.is_empty and "The pen position" in dashboard.status.value
    _page_event(pad, "touch_start", touches=[{"x": point[0], "y": point[1]}])
    assert pad.is_empty and "dl-error" in dashboard.status.value
    # Within a stroke, the bad point is left out and the stroke goes on.
    _page_event(pad, "mouse_down", x=10, y=10)
    _page_event(pad, "mouse_move", x=point[0], y=point[1])
    assert "pen position" in dashboard.status.value
    _page_event(pad, "mouse_move", x=10, y=60)
    _page_event(pad, "mouse_up", x=10, y=60)
    assert pad.strokes == [[(10.0, 10.0), (10.0, 60.0)]]
    dashboard.correction.value = "1"
    dashboard.save_button.click()
    (record,) = drawings.list()
    assert record.strokes["strokes"][0]["points"] == [[10.0, 10.0], [10.0, 60.0]]


def test_the_pad_clips_pen_positions_outside_the_canvas():
    pad = DrawPad((100, 120), 8)
    _page_event(pad, "mouse_down", x=-5.5, y=1e308)
    _page_event(pad, "mouse_move", x=1e308, y=-1e308)
    _page_event(pad, "touch_move", touches=[])  # no finger left: nothing to extend
    _page_event(pad, "mouse_move", x=130, y=50)
    _page_event(pad, "mouse_up", x=130, y=50)
    assert pad.strokes == [[(0.0, 100.0), (120.0, 0.0), (120.0, 50.0)]]
    json.dumps(pad.stroke_record(), allow_nan=False)


@pytest.mark.parametrize("width", [10**9, 3, 65, -24])
def test_the_brush_width_is_checked_against_the_kernels_bounds(tmp_path, width):
    dashboard, _ = _dashboard(tmp_path)
    pad = dashboard.pad
    # The page can move the slider's own bounds, and then its value within them.
    pad.brush.max, pad.brush.min = max(width, 64), min(width, 4)
    pad.brush.value = width
    assert pad.brush.value == width
    _page_event(pad, "mouse_down", x=10, y=10)
    assert pad.is_empty
    assert "brush width must be 4 to 64 pixels" in dashboard.status.value
    assert "the Brush slider is set back to 24, draw again" in dashboard.status.value
    assert (pad.brush.min, pad.brush.max, pad.brush.value) == (4, 64, 24)
    _page_event(pad, "mouse_down", x=10, y=10)
    assert pad.widths == [24.0]


def test_brush_bounds_live_in_the_kernel():
    assert (check_brush_width(MIN_BRUSH_WIDTH), check_brush_width(MAX_BRUSH_WIDTH)) == (4.0, 64.0)
    for width in (NAN, INFINITY, 64.5, "24", None):
        with pytest.raises(ValueError, match="brush width must be 4 to 64 pixels"):
            check_brush_width(width)
    with pytest.raises(ValueError, match="brush width must be 4 to 64"):
        DrawPad((100, 100), 10**9)
    pad = DrawPad((100, 100), 6)
    with pytest.raises(ValueError, match="brush width must be 4 to 64"):
        pad.load([np.array([[20, 20], [20, 90]], np.float32)], [1e9])
    with pytest.raises(ValueError, match="not a finite number"):
        pad.load([np.array([[20, 20], [np.inf, 90]], np.float32)], [10.0])
    assert pad.is_empty
    assert canvas_point(-1.0, 500, (100, 120)) == (0.0, 100.0)


@pytest.mark.parametrize("correction", ["²", "٣", "1²", "a", "4x"])
def test_a_correction_that_is_not_ascii_digits_is_refused_in_words(tmp_path, correction):
    dashboard, drawings = _dashboard(tmp_path)
    dashboard.pad.load([np.array([[20, 20], [20, 90]], np.float32)], [10.0])
    dashboard.correction.value = correction
    dashboard.save_button.click()
    assert drawings.list() == []
    refused = html.escape(f"The correction {correction!r} should be digits 0-9, one per mark")
    assert refused in dashboard.status.value


# --- serving and the browser ------------------------------------------------------------------


def test_serving_writes_the_bytecode_every_kernel_imports():
    import importlib.util

    import digitlib.recognize

    cached = Path(importlib.util.cache_from_source(digitlib.recognize.__file__))
    cached.unlink(missing_ok=True)
    assert compile_package()
    assert cached.exists() and cached.stat().st_size > 0


def test_the_servers_kernels_start_without_the_debugger(monkeypatch):
    import psutil
    from jupyter_client.manager import start_new_kernel

    from digitlib.dashboard.kernel import is_kernel_command

    # The server's own kernel search path: the notebook's "python3" is the dashboard's kernel.
    monkeypatch.setenv("JUPYTER_PATH", voila_environment(environ={})["JUPYTER_PATH"])
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        assert manager.kernel_spec.argv[:3] == ["python", "-m", "digitlib.cli.dashboard_kernel"]
        outputs = []
        client.execute_interactive(
            "import sys; print(sys.modules.get('debugpy', 'absent'), 'ipykernel' in sys.modules)",
            timeout=60,
            output_hook=lambda message: outputs.append(message["content"].get("text", "")),
        )
        assert "".join(outputs).split() == ["None", "True"]
        command = psutil.Process(manager.provisioner.process.pid).cmdline()
        assert is_kernel_command(command)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert is_kernel_command(["python", "-m", "ipykernel_launcher", "-f", "k.json"])
    assert not is_kernel_command(["python", "-m", "voila", "dashboard.ipynb"])


def test_voila_command_preheats_strips_and_uses_the_offline_template():
    command = voila_command("localhost", 8866, pool_size=2)
    assert "--preheat_kernel=True" in command and "--pool_size=2" in command
    assert "--strip_sources=True" in command and "--template=digitlib" in command
    assert "--Voila.ip=localhost" in command and "--port=8866" in command
    assert "--preheat_kernel=False" in voila_command(pool_size=0)
    assert "--MappingKernelManager.cull_idle_timeout=600" in voila_command()
    assert "--MappingKernelManager.cull_idle_timeout=0" in voila_command(cull_idle_seconds=0)
    # A crowd's kernels answer late: the widget output must not be dropped after nbclient's 4 s.
    assert "--VoilaExecutor.iopub_timeout=60" in voila_command()
    # Kernel websockets speak v1 only (tests/test_dashboard_security.py shows why, on a server).
    assert f"--Voila.kernel_websocket_connection_class={KERNEL_CONNECTION}" in command


def _v1_frame(*parts: bytes) -> bytes:
    from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

    return serialize_msg_to_ws_v1(list(parts), "shell")


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (_v1_frame(b"{}", b"{}", b"{}", b"{}"), ""),
        (_v1_frame(b"{}", b"{}", b"{}", b"{}", b"a buffer"), ""),
        ('{"channel": "shell"}', "a text frame"),
        (b"\x02\x00", "fewer than the 8"),
        ((2**62).to_bytes(8, "little") + bytes(8), "a count of 4611686018427387904 offsets"),
        (bytes(16), "a count of 0"),
        (_v1_frame(b"{}")[:-1], "beyond the frame"),  # cut short inside its last part
        (_v1_frame(b"{}")[:8] + (10**6).to_bytes(8, "little") + _v1_frame(b"{}")[16:], "order"),
    ],
)
def test_v1_frames_are_checked_before_they_are_read(frame, problem):
    from digitlib.dashboard.channels import v1_frame_problem

    found = v1_frame_problem(frame)
    assert (found == "") if problem == "" else (problem in found), found


def test_kernel_websockets_must_offer_the_v1_subprotocol():
    from digitlib.dashboard.channels import (
        KERNEL_PROTOCOL,
        V1KernelConnection,
        offered_subprotocols,
    )

    module, name = KERNEL_CONNECTION.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name) is V1KernelConnection
    assert offered_subprotocols(f"foo, {KERNEL_PROTOCOL}") == ["foo", KERNEL_PROTOCOL]
    assert offered_subprotocols(None) == offered_subprotocols("") == []


def test_voila_environment_passes_the_runtime_to_the_kernels():
    assert voila_environment({}, runtime="keras")["DIGITLIB_RUNTIME"] == "keras"
    assert "DIGITLIB_RUNTIME" not in voila_environment({})


@pytest.mark.parametrize(("port", "pool"), [(0, 2), (70000, 2), (8866, -1)])
def test_voila_command_checks_its_arguments(port, pool):
    with pytest.raises(ValueError, match="port|pool_size"):
        voila_command(port=port, pool_size=pool)


def test_serve_refuses_a_notebook_that_is_not_there(tmp_path, capsys):
    from digitlib.cli.serve import main

    with pytest.raises(SystemExit) as stopped:
        main(["--notebook", str(tmp_path / "missing.ipynb")])
    assert stopped.value.code == 2
    assert "missing.ipynb: no such notebook" in capsys.readouterr().err


def test_voila_command_serves_the_notebook_it_is_given(tmp_path):
    notebook = tmp_path / "floor.ipynb"
    assert str(notebook) in voila_command(notebook=notebook)


def test_offline_template_drops_the_cdn_stylesheets():
    import re
    import sys

    template = TEMPLATES_ROOT / "voila" / "templates" / "digitlib" / "index.html.j2"
    ours = template.read_text()
    cdn = re.search(r"set cdn = '([^']+)'", ours).group(1)
    removed = {
        f'<link rel="stylesheet" href="{cdn}{rest}'
        for rest in re.findall(r"~ cdn ~ '([^']+)'", ours)
    }
    # The installed lab template must hold exactly these external links, written exactly so:
    # a Voila release that changes them makes this fail instead of the page loading from a CDN.
    lab = Path(sys.prefix) / "share" / "jupyter" / "voila" / "templates" / "lab" / "index.html.j2"
    external = set(
        re.findall(r'<link rel="stylesheet" href="https?://[^"]+"[^>]*/>', lab.read_text())
    )
    assert removed and external == removed, (external, removed)
    environment = voila_environment({"JUPYTER_PATH": "/elsewhere"})
    assert environment["JUPYTER_PATH"].split(":")[0] == str(TEMPLATES_ROOT)


def test_the_loading_spinner_stands_still():
    import re
    import sys

    # Voila's loading screen turns an element of class "spinner" inside #loading for as long as
    # a page loads; ours stops it (every repaint costs a crowd of browsers CPU). A Voila release
    # that renames either makes this fail instead of the spinner turning again.
    base = Path(sys.prefix) / "share" / "jupyter" / "voila" / "templates" / "base"
    spinner = (base / "spinner.macro.html.j2").read_text()
    assert re.search(r"\.spinner\s*\{[^}]*animation:\s*rotation", spinner)
    assert re.search(r'id="loading".*class="spinner"', spinner, re.DOTALL)
    ours = (TEMPLATES_ROOT / "voila" / "templates" / "digitlib" / "index.html.j2").read_text()
    assert re.search(r"#loading \.spinner\s*\{\s*animation:\s*none;\s*\}", ours)


def test_the_pages_stylesheet_is_small_offline_and_has_a_dark_mode():
    folder = TEMPLATES_ROOT / "voila" / "templates" / "digitlib"
    sheet = (folder / "digitlib.css").read_text()
    assert "{% include 'digitlib.css' %}" in (folder / "index.html.j2").read_text()
    assert len(sheet.encode()) < 16_000, "one small stylesheet"
    assert "@media (prefers-color-scheme: dark)" in sheet and ":focus-visible" in sheet
    for outside in ("http:", "https:", "//", "@import", "@font-face", "url("):
        assert outside not in sheet.replace("/*", "").replace("*/", ""), outside
    for hook in ("digitlib-canvas", "digitlib-reading", "digitlib-status"):
        assert f".{hook}" in sheet


def test_chromium_is_there():
    # Never skipped: the browser tests need it, and `make chromium` installs it.
    assert find_chromium() is not None, missing_browser_message()


@pytest.mark.parametrize(
    ("find", "variable"),
    [(find_chromium, "DIGITLIB_CHROMIUM"), (find_crowd_chromium, "DIGITLIB_CROWD_CHROMIUM")],
)
def test_chromium_path_from_the_environment_must_exist(find, variable, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=variable):
        find(environ={variable: str(tmp_path / "nothing")})
    fake = tmp_path / "chrome"
    fake.write_text("")
    assert find(environ={variable: str(fake)}) == fake


def test_crowd_chromium_is_the_headless_shell_when_installed_else_the_browser():
    shell = Path("/usr/bin/chromium-headless-shell")
    expected = shell if shell.exists() else find_chromium(environ={})
    assert find_crowd_chromium(environ={}) == expected


def test_notebook_only_wires():
    import nbformat

    from digitlib.config import PROJECT_ROOT

    notebook = nbformat.read(PROJECT_ROOT / "notebooks" / "dashboard.ipynb", as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) <= 3 and sum(len(source.splitlines()) for source in code) <= 4


# --- the dashboard's own logic ----------------------------------------------------------------


def test_dashboard_without_models_still_loads_and_says_why():
    from digitlib.dashboard import Dashboard, Services

    dashboard = Dashboard(Services(None, problems=["no models: nothing in models/"]))
    assert "nothing in models/" in dashboard.status.value and "dl-error" in dashboard.status.value
    # A stroke's reading fails, and the failure reaches the status line instead of vanishing.
    dashboard.pad._start(10, 10)
    dashboard.pad._extend(40, 60)
    dashboard.pad._finish()
    assert "Cannot read" in dashboard.status.value and "dl-error" in dashboard.status.value
    dashboard.correction.value = "4x"
    dashboard.save_button.click()
    assert "should be digits" in dashboard.status.value


def test_a_drawing_is_read_with_its_strokes_and_shows_their_order():
    from digitlib.dashboard import Dashboard, Services
    from digitlib.recognize import load_recognizer

    recognizer = load_recognizer()
    assert recognizer.stroke_model is not None  # the shipped stroke model
    dashboard = Dashboard(Services(recognizer))
    dashboard.pad.load(
        [np.array([[60, 40], [60, 200]], np.float32), np.array([[30, 80], [60, 40]], np.float32)],
        [10.0, 10.0],
    )
    dashboard.guard(dashboard.read)()
    (segment,) = dashboard.result.segments
    assert segment.strokes == (0, 1)
    assert "strokes" in segment.probabilities and "images" in segment.probabilities
    assert 'dl-model-name">strokes<' in dashboard.inspect.value
    assert (
        'class="dl-strokes"' in dashboard.inspect.value and ">2</text>" in dashboard.inspect.value
    )


def test_stroke_order_svg_numbers_each_stroke_where_it_began():
    svg = render.stroke_order_svg([np.array([[0, 0], [0, 10]]), np.array([[5, 0], [5, 10]])])
    assert svg.count("<polyline") == 2 and ">1</text>" in svg and ">2</text>" in svg
    assert render.stroke_order_svg([]) == ""


def test_verdict_says_which_models_learned_and_which_did_not():
    from digitlib.dashboard.app import verdict_html
    from digitlib.learn import SegmentFigures, Update, UpdateMetrics, ValidationFigures

    metrics = UpdateMetrics(
        validation={"cnn": ValidationFigures(0.981, 0.983)},
        segments={"cnn": SegmentFigures(0.2, 0.7, "1", "7")},
    )
    promoted = verdict_html(
        Update(
            True,
            "promoted cnn; kept fnn (fnn validation accuracy fell)",
            metrics,
            12.5,
            {"cnn": 4},
            promoted_models=["cnn"],
            kept={"fnn": "fnn validation accuracy fell"},
        )
    )
    assert "Promoted: cnn learned" in promoted and "98.1% → 98.3%" in promoted
    assert "1 → 7" in promoted and "cnn 4" in promoted
    assert "Kept as they were: fnn (fnn validation accuracy fell)" in promoted
    refused = verdict_html(Update(False, "the ensemble lost 0.3 points", metrics, 3.0))
    assert "Not promoted" in refused and "lost 0.3 points" in refused
    held = verdict_html(Update(False, "disagrees with every model", seconds=0.1, held=["abc"]))
    assert "Held for review" in held


PNG_ONE = cv2.imencode(".png", np.full((20, 20), 255, np.uint8))[1].tobytes()


def test_save_relabel_delete_through_the_data_view(tmp_path):
    from digitlib.dashboard import Dashboard, Services
    from digitlib.dashboard.access import OperatorGate
    from digitlib.store import DrawingStore, LocalStore

    drawings = DrawingStore(LocalStore(tmp_path))
    services = Services(
        None, drawings=drawings, problems=["no models"], operator=OperatorGate("s3cret")
    )
    dashboard = Dashboard(services)
    dashboard.pad.load([np.array([[20, 20], [20, 90]], np.float32)], [10.0])
    dashboard.correction.value = "1"
    dashboard.save_button.click()
    assert "Saved drawing" in dashboard.status.value
    (record,) = drawings.list()
    assert record.text == "1" and record.session_id == dashboard.session_id
    assert record.strokes["canvas_size"] == list(dashboard.pad.size)
    assert record.strokes["strokes"] == [{"points": [[20.0, 20.0], [20.0, 90.0]], "width": 10.0}]

    dashboard.tabs.selected_index = 2  # a visitor sees how to unlock it, not the drawings
    assert (
        dashboard.data_panel is None and "operator" in dashboard.tabs.children[2].children[0].value
    )
    assert not dashboard.unlock("wrong") and "not the operator secret" in dashboard.status.value
    assert dashboard.unlock("s3cret")  # the Data view is built and filled when unlocked
    (card,) = dashboard.data_panel.gallery.children
    picture, (relabel_text, relabel_button) = card.children[0], card.children[1].children
    assert "data:image/png;base64," in picture.value and "label <b" in picture.value
    relabel_text.value = "7"
    relabel_button.click()
    assert drawings.list()[0].text == "7" and "relabelled 7" in dashboard.status.value
    (card,) = dashboard.data_panel.gallery.children
    delete, confirm, keep = card.children[2].children
    delete.click()  # asks first
    assert len(drawings.list()) == 1 and "cannot be undone" in dashboard.status.value
    keep.click()
    assert len(drawings.list()) == 1 and "kept" in dashboard.status.value
    delete.click()
    confirm.click()
    assert drawings.list() == [] and dashboard.data_panel.gallery.children == ()


def test_operator_actions_are_refused_to_a_visitor_even_when_called_directly(tmp_path):
    from digitlib.dashboard import Dashboard, Services
    from digitlib.dashboard.access import OperatorGate, OperatorOnly
    from digitlib.dashboard.panels import DataPanel, ModelsPanel
    from digitlib.store import DrawingStore, LocalStore

    drawings = DrawingStore(LocalStore(tmp_path))
    drawings.save(PNG_ONE, "1")
    dashboard = Dashboard(Services(None, drawings=drawings, operator=OperatorGate("s3cret")))
    data = DataPanel(dashboard._panel_context())
    models = ModelsPanel(dashboard._panel_context())
    for action in (data.refresh, data.export, models.rollback):
        with pytest.raises(OperatorOnly, match="only the operator"):
            action()  # through no button: the check sits in the action itself
    dashboard.tabs.selected_index = 1
    assert dashboard.models_panel.rollback_section.layout.display == "none"
    dashboard.models_panel.rollback_button.click()  # a button press: said in the status line
    assert "Only the operator" in dashboard.status.value
    assert len(drawings.list()) == 1


class _Clock:
    """Seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _operator_page(tmp_path, clock=None, registry=None):
    """A dashboard with one saved drawing and one held label, its operator mode unlocked."""
    from digitlib.dashboard import Dashboard, Services
    from digitlib.dashboard.access import OperatorGate, OperatorSession
    from digitlib.store import DrawingStore, LocalStore

    drawings = DrawingStore(LocalStore(tmp_path / "drawings"))
    drawings.save(PNG_ONE, "1")
    drawings.hold(PNG_ONE, "7", predictions={"given": "7", "models": "1"})
    services = Services(None, drawings=drawings, registry=registry, operator=OperatorGate("s"))
    session = OperatorSession(clock=clock or _Clock())
    dashboard = Dashboard(services, operator=session)
    assert dashboard.unlock("s")
    dashboard.tabs.selected_index = 2
    return dashboard, drawings


def _buttons(box) -> dict:
    """The buttons in a card or row of the Data view, by their text."""
    from ipywidgets import Button

    found, boxes = {}, [box]
    while boxes:
        widget = boxes.pop()
        if isinstance(widget, Button):
            found[widget.description] = widget
        boxes.extend(getattr(widget, "children", ()))
    return found


def test_operator_mode_ends_after_fifteen_idle_minutes(tmp_path):
    clock = _Clock()
    dashboard, drawings = _operator_page(tmp_path, clock)
    clock.now += 14 * 60  # an action within the quarter hour keeps operator mode on...
    dashboard.data_panel.refresh_button.click()
    clock.now += 14 * 60
    assert dashboard.is_operator
    (card,) = dashboard.data_panel.gallery.children
    delete = _buttons(card)
    clock.now += 60  # ...and 15 minutes without one end it
    assert not dashboard.is_operator
    delete["Delete"].click()
    assert "ended after 15 idle minutes" in dashboard.status.value
    assert dashboard.data_panel is None and "digitlib-operator" in (
        dashboard.tabs.children[2]._dom_classes
    )
    assert len(drawings.list()) == 1
    assert dashboard.unlock("s") and dashboard.data_panel is not None


def test_an_unattended_page_closes_the_operator_views_when_operator_mode_ends(tmp_path):
    clock = _Clock()
    dashboard, _ = _operator_page(tmp_path, clock)
    dashboard.tabs.selected_index = 1
    dashboard.tabs.selected_index = 2
    clock.now += 15 * 60 - 1
    assert not dashboard.close_ended_operator_mode() and dashboard.data_panel is not None
    clock.now += 1  # what the page's watch finds, nobody touching it
    assert dashboard.close_ended_operator_mode()
    assert dashboard.data_panel is None and "ended after 15 idle minutes" in dashboard.status.value
    assert dashboard.models_panel.rollback_section.layout.display == "none"
    dashboard.lock()
    assert dashboard._operator_watch.is_set()  # no watch left running


def test_lock_ends_operator_mode_and_hides_its_views(tmp_path):
    dashboard, drawings = _operator_page(tmp_path)
    dashboard.tabs.selected_index = 1
    assert dashboard.models_panel.rollback_section.layout.display is None
    dashboard.tabs.selected_index = 2
    panel = dashboard.data_panel
    (card,) = panel.gallery.children
    buttons = _buttons(card)
    buttons["Delete"].click()  # a confirmation pending when the operator locks...
    panel.lock_button.click()
    assert not dashboard.is_operator and "locked" in dashboard.status.value
    assert dashboard.data_panel is None
    assert dashboard.models_panel.rollback_section.layout.display == "none"
    buttons["Delete for good"].click()  # ...is no longer one
    assert "Only the operator" in dashboard.status.value and len(drawings.list()) == 1
    assert dashboard.unlock("s")
    buttons["Delete for good"].click()  # nor after unlocking again: it was asked for before
    assert "Nothing was done" in dashboard.status.value and len(drawings.list()) == 1


def test_destructive_clicks_without_their_confirmation_do_nothing(tmp_path):
    dashboard, drawings = _operator_page(tmp_path)
    panel = dashboard.data_panel
    (card,) = panel.gallery.children
    (row,) = panel.queue.children
    delete, reject = _buttons(card), _buttons(row)
    # A page (or a script speaking to the kernel) clicks the hidden confirmations directly.
    for button in (delete["Delete for good"], reject["Reject for good"]):
        assert button.layout.display == "none"
        button.click()
        assert "Nothing was done" in dashboard.status.value
    assert len(drawings.list()) == 1 and len(drawings.list_held()) == 1

    drawings.save(PNG_ONE, "2")
    panel.refresh()
    first, second = (_buttons(card) for card in panel.gallery.children)
    second["Delete"].click()  # confirmation asked for one drawing...
    first["Delete for good"].click()  # ...does not delete another
    assert "Nothing was done" in dashboard.status.value and len(drawings.list()) == 2
    second["Keep"].click()  # nor once answered
    second["Delete for good"].click()
    assert "Nothing was done" in dashboard.status.value and len(drawings.list()) == 2

    reject["Reject"].click()
    assert "cannot be undone" in dashboard.status.value and len(drawings.list_held()) == 1
    reject["Reject for good"].click()
    assert drawings.list_held() == [] and "rejected" in dashboard.status.value
    second["Delete"].click()
    second["Delete for good"].click()
    assert len(drawings.list()) == 1 and "deleted" in dashboard.status.value


def test_a_rollback_runs_only_for_the_version_whose_confirmation_is_pending(tmp_path):
    from digitlib.models.numpy_fnn import NumpyFNN
    from digitlib.store import LocalStore
    from digitlib.store.registry import ModelRegistry

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    NumpyFNN(rng=0).save(shipped / "numpy_fnn.npz")
    registry = ModelRegistry(LocalStore(tmp_path / "store"), shipped, cache_dir=tmp_path / "c")
    registry.seed("numpy_fnn")
    newer = tmp_path / "newer.npz"
    NumpyFNN(rng=1).save(newer)
    registry.promote(
        "numpy_fnn",
        registry.save_version("numpy_fnn", newer, parent=1, produced_by="test").version,
        expected_current=1,
    )
    dashboard, _ = _operator_page(tmp_path, registry=registry)
    dashboard.tabs.selected_index = 1
    models = dashboard.models_panel
    models.rollback_model.value = "numpy_fnn"
    assert models.rollback_version.value == 1
    models.confirm_rollback_button.click()  # hidden, never asked for
    assert "Nothing was done" in dashboard.status.value and registry.current("numpy_fnn") == 2
    models.rollback_button.click()
    assert "Roll numpy_fnn to version 1 back?" in dashboard.status.value
    models.rollback_version.value = 2  # the choice changed under the question...
    assert models.confirm_rollback_button.layout.display == "none"
    models.confirm_rollback_button.click()
    assert "Nothing was done" in dashboard.status.value and registry.current("numpy_fnn") == 2
    models.rollback_version.value = 1  # ...and back: the question was dropped, not kept
    models.confirm_rollback_button.click()
    assert "Nothing was done" in dashboard.status.value and registry.current("numpy_fnn") == 2
    models.rollback_button.click()
    models.confirm_rollback_button.click()
    assert "rolled back to version 1" in dashboard.status.value
    assert registry.current("numpy_fnn") == 1


def test_the_operator_session_checks_its_settings():
    from digitlib.dashboard.access import OperatorSession

    with pytest.raises(ValueError, match="idle_seconds must be more than 0"):
        OperatorSession(idle_seconds=0)


def test_the_secret_field_keeps_what_the_page_sent_out_of_the_widgets_state():
    from digitlib.dashboard.app import SecretField

    field = SecretField()
    sent = []
    field._send = lambda message, buffers=None: sent.append(message)  # what every page gets
    field.set_state({"value": "s3cret"})  # as the page sends it
    assert field.value == "" and field.get_state()["value"] == ""
    assert sent and all("s3cret" not in json.dumps(message) for message in sent)
    assert field.take() == "s3cret" and field.take() == ""


def test_without_a_secret_operator_actions_are_off():
    from digitlib.dashboard import Dashboard, Services
    from digitlib.dashboard.access import OperatorGate

    dashboard = Dashboard(Services(None, operator=OperatorGate(None)))
    dashboard.tabs.selected_index = 2
    assert "Operator actions are off" in dashboard.tabs.children[2].children[1].value
    assert not dashboard.unlock("") and not dashboard.is_operator


def test_the_gate_pauses_after_repeated_wrong_secrets():
    from digitlib.dashboard.access import OperatorGate

    now = [100.0]
    gate = OperatorGate("right", max_failures=3, lockout_seconds=30, clock=lambda: now[0])
    assert [gate.check("wrong") for _ in range(3)] == ["that is not the operator secret"] * 3
    assert gate.check("right").startswith("too many wrong secrets")  # even the right one
    now[0] += 31
    assert gate.check("right") == ""
    assert "right" not in repr(gate)


def test_the_lockout_holds_for_every_gate_sharing_a_folder(tmp_path):
    # Each page has a kernel (a gate) of its own: five wrong secrets on one lock them all out.
    from digitlib.dashboard.access import OperatorGate

    now = [1_000.0]
    page_one, page_two = (
        OperatorGate("right", folder=tmp_path, clock=lambda: now[0]) for _ in range(2)
    )
    assert [page_one.check("wrong") for _ in range(5)] == ["that is not the operator secret"] * 5
    assert page_two.check("wrong") == "too many wrong secrets: try again in 60 s"
    now[0] += 30
    assert page_two.check("right") == "too many wrong secrets: try again in 30 s"
    assert OperatorGate("right", folder=tmp_path, clock=lambda: now[0]).check("right") != ""
    now[0] += 30
    assert page_two.check("right") == ""
    assert page_one.check("right") == ""


def test_wrong_secrets_add_up_across_gates_and_a_right_one_starts_the_count_again(tmp_path):
    from digitlib.dashboard.access import OperatorGate

    now = [1_000.0]
    one, two = (OperatorGate("right", folder=tmp_path, clock=lambda: now[0]) for _ in range(2))
    for _ in range(2):
        one.check("wrong"), two.check("wrong")
    assert one.check("right") == ""  # four wrong, then the right one: no lockout
    for gate in (one, two, one, two):
        gate.check("wrong")
    assert one.check("wrong") == "that is not the operator secret"  # the fifth in a row
    assert two.check("right").startswith("too many wrong secrets")


def test_the_lockout_holds_across_processes(tmp_path):
    import subprocess
    import sys

    from digitlib.dashboard.access import OperatorGate

    guesses = (
        "from digitlib.dashboard.access import OperatorGate; import sys; "
        "gate = OperatorGate('right', folder=sys.argv[1]); "
        "print([gate.check('guess') for _ in range(5)][-1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", guesses, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "that is not the operator secret"
    assert OperatorGate("right", folder=tmp_path).check("right").startswith("too many wrong")


def test_a_lockout_set_by_a_clock_ahead_lasts_no_longer_than_the_lockout(tmp_path):
    from digitlib.dashboard.access import OperatorGate

    now = [10_000.0]
    ahead = OperatorGate("right", folder=tmp_path, clock=lambda: now[0])
    for _ in range(5):
        ahead.check("wrong")
    behind = OperatorGate("right", folder=tmp_path, clock=lambda: now[0] - 3_600)
    assert behind.check("right") == "too many wrong secrets: try again in 60 s"


def test_a_gate_that_cannot_count_refuses(tmp_path):
    from digitlib.dashboard.access import OperatorGate

    (tmp_path / "not-a-folder").write_text("")
    gate = OperatorGate("right", folder=tmp_path / "not-a-folder" / "lockout")
    assert gate.check("right").startswith("operator mode is unavailable: wrong tries cannot")


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"max_failures": 0}, "max_failures must be 1"), ({"lockout_seconds": -1}, "0 or more")],
)
def test_the_gate_checks_its_settings(settings, message):
    from digitlib.dashboard.access import OperatorGate

    with pytest.raises(ValueError, match=message):
        OperatorGate("right", **settings)


def test_the_lockout_folder_is_shared_by_the_servers_of_one_store():
    from digitlib.config import operator_lockout_dir

    assert operator_lockout_dir("s3://digitlib/prod", {}) == operator_lockout_dir(
        "s3://digitlib/prod", {}
    )
    assert operator_lockout_dir("s3://digitlib/prod", {}) != operator_lockout_dir("/tmp/a", {})
    given = {"DIGITLIB_OPERATOR_LOCKOUT_DIR": "/srv/shared/operator"}
    assert operator_lockout_dir("s3://digitlib/prod", given) == Path("/srv/shared/operator")


def test_the_operator_secret_comes_from_the_environment_or_a_file(tmp_path):
    from digitlib.config import operator_secret

    assert operator_secret({}) is None
    assert operator_secret({"DIGITLIB_OPERATOR_SECRET": "abc"}) == "abc"
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    assert operator_secret({"DIGITLIB_OPERATOR_SECRET_FILE": str(secret_file)}) == "from-a-file"
    with pytest.raises(ValueError, match="cannot be read"):
        operator_secret({"DIGITLIB_OPERATOR_SECRET_FILE": str(tmp_path / "missing")})


def test_a_version_promoted_elsewhere_reaches_the_next_reading(tmp_path):
    # Two visitors' kernels share the store; one promotes, the other's next reading uses it.
    from digitlib.dashboard import build_services
    from digitlib.models.numpy_fnn import NumpyFNN

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    NumpyFNN(rng=0).save(shipped / "numpy_fnn.npz")
    store_url = str(tmp_path / "store")
    visitor, other = build_services(store_url, shipped), build_services(store_url, shipped)
    assert visitor.recognizer.versions["numpy_fnn"] == "shipped"
    assert visitor.sync_models(force=True) == []  # nothing promoted yet

    newer = tmp_path / "newer.npz"
    NumpyFNN(rng=1).save(newer)
    other.registry.seed("numpy_fnn")
    manifest = other.registry.save_version("numpy_fnn", newer, parent=1, produced_by="test")
    other.registry.promote("numpy_fnn", manifest.version, expected_current=1)

    assert visitor.sync_models(force=True) == ["numpy_fnn"]
    assert visitor.recognizer.versions["numpy_fnn"] == manifest.version
    probe = np.zeros((1, 28, 28), np.float32)
    probe[0, 5:20, 12:16] = 1.0
    np.testing.assert_allclose(
        visitor.recognizer.models["numpy_fnn"].predict_proba(probe),
        NumpyFNN.load(newer).predict_proba(probe),
        rtol=1e-5,
    )
    assert visitor.sync_models(force=True) == []  # and it is not loaded again


def test_a_stroke_model_promoted_elsewhere_reaches_the_next_reading(tmp_path):
    from digitlib.config import SHIPPED_MODELS_DIR
    from digitlib.dashboard import build_services

    if not (SHIPPED_MODELS_DIR / "strokes.infer.npz").is_file():
        pytest.skip("the shipped stroke model is not trained yet")
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("numpy_fnn.npz", "strokes.keras", "strokes.infer.npz"):
        (shipped / name).write_bytes((SHIPPED_MODELS_DIR / name).read_bytes())
    store_url = str(tmp_path / "store")
    visitor, other = build_services(store_url, shipped), build_services(store_url, shipped)
    assert visitor.recognizer.stroke_version == "shipped"
    seeded = other.registry.seed("strokes").version
    manifest = other.registry.save_version(
        "strokes",
        shipped / "strokes.keras",
        parent=seeded,
        produced_by="test",
        inference=(shipped / "strokes.infer.npz").read_bytes(),
    )
    other.registry.promote("strokes", manifest.version, expected_current=seeded)

    assert "strokes" in visitor.sync_models(force=True)
    assert visitor.recognizer.stroke_version == manifest.version
    assert visitor.sync_models(force=True) == []  # and it is not loaded again


# --- plain words when the store is down ------------------------------------------------------


@pytest.fixture
def unreachable_store(tmp_path):
    """An S3 store whose endpoint has no server (as a stopped SeaweedFS): quick retries."""
    import socket

    from digitlib.ops.seaweedfs import SeaweedFS
    from digitlib.store import RetryPolicy, S3Store

    with socket.socket() as probe:  # a free port: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = SeaweedFS(tmp_path / "never-started")
    server.ports = {"s3.port": port}
    client = server.client(connect_timeout=0.2, read_timeout=0.5)
    retry = RetryPolicy(attempts=2, base_delay=0.01, total_seconds=1.0, recheck_seconds=60)
    return S3Store("digitlib-down", "p", client=client, local_dir=tmp_path / "local", retry=retry)


def test_a_save_while_the_store_is_down_says_it_waits_on_this_server(unreachable_store):
    from digitlib.dashboard import Dashboard, Services
    from digitlib.recognize import load_recognizer
    from digitlib.store import DrawingStore

    services = Services(
        load_recognizer(), store=unreachable_store, drawings=DrawingStore(unreachable_store)
    )
    dashboard = Dashboard(services)
    dashboard.pad.load([np.array([[20, 20], [20, 90]], np.float32)], [10.0])
    dashboard.correction.value = "1"
    dashboard.save_button.click()
    status = dashboard.status.value
    assert "Saved on this server" in status and "changes waiting" in status
    assert "uploaded as soon as the store is back" in status
    assert unreachable_store.pending(), "the drawing must be kept in the spool"
    for internal in ("StoreUnavailable", "flush_spool", "Error", "/"):
        assert internal not in status.split(">", 1)[1].rsplit("<", 1)[0], status


def test_plain_messages_name_no_internals(unreachable_store):
    from digitlib.dashboard.app import plain_message
    from digitlib.store import StoreUnavailable

    with pytest.raises(StoreUnavailable) as raised:
        unreachable_store.put_if("models/x/000001.keras", b"PK", expected_tag=None)
    message = plain_message(raised.value, doing="learn from this drawing")
    assert message.startswith("Could not learn from this drawing: the store")
    assert "cannot be reached right now" in message
    assert "StoreUnavailable" not in message and "127.0.0.1" not in message
    assert plain_message(ValueError("type the right number first")) == (
        "Type the right number first."
    )
    assert plain_message(KeyError("x")) == "Something went wrong. The server log has the details."


def test_only_a_visitors_own_correction_gets_the_learner_ready(tmp_path, monkeypatch):
    """Readings fill the Correct field too; a visitor who only draws must never load
    TensorFlow, so only their own typing starts the learner's preparation."""
    from digitlib.dashboard import Dashboard, Services
    from digitlib.recognize import load_recognizer
    from digitlib.store import LocalStore

    services = Services(load_recognizer(), store=LocalStore(tmp_path))
    started = []
    monkeypatch.setattr(services, "prepare_learning", lambda: started.append(True))
    dashboard = Dashboard(services)
    dashboard.pad.load([np.array([[20, 20], [20, 90]], np.float32)], [10.0])
    dashboard.read()
    assert dashboard.correction.value and started == []
    dashboard.correction.value = "7"  # as the visitor's typing arrives from the page
    assert started == [True]


def test_an_accepted_review_item_shows_what_the_models_read(tmp_path):
    from digitlib.dashboard import Dashboard, Services
    from digitlib.dashboard.access import OperatorGate
    from digitlib.store import DrawingStore, LocalStore

    drawings = DrawingStore(LocalStore(tmp_path))
    held = drawings.hold(PNG_ONE, "7", predictions={"given": "7", "models": "1"})
    drawings.accept(held.id)
    dashboard = Dashboard(Services(None, drawings=drawings, operator=OperatorGate("s")))
    assert dashboard.unlock("s")
    dashboard.tabs.selected_index = 2
    (card,) = dashboard.data_panel.gallery.children
    assert "label <b" in card.children[0].value and "read 1" in card.children[0].value


def test_the_live_confusion_and_the_accuracy_series_come_from_the_library():
    from digitlib.evaluation.evaluate import confusion
    from digitlib.learn.report import accuracy_series

    found = confusion(np.array([0, 1, 1]), np.eye(11, dtype=np.float32)[[0, 1, 10]])
    assert found.matrix[0, 0] == 1 and found.matrix[1, 1] == 1 and found.matrix[1, 10] == 1
    assert found.accuracy == pytest.approx(2 / 3)
    metrics = {
        "validation": {
            "cnn": {
                "after": 0.99,
                "groups": {"mnist": {"after": 0.995}, "canvas": {"after": 0.98}},
            }
        }
    }
    assert accuracy_series(metrics, "cnn") == {
        "validation (gate)": 0.99,
        "MNIST": 0.995,
        "canvas-style": 0.98,
    }
    assert accuracy_series({}, "cnn") == {}


def test_the_page_says_at_start_when_the_store_cannot_be_reached(tmp_path, monkeypatch):
    """An S3 endpoint with no server (as a stopped SeaweedFS): the status line says so in
    words, and drawings are still read with the shipped models."""
    import socket

    from digitlib.dashboard import Dashboard
    from digitlib.dashboard.services import build_services

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    services = build_services("s3://digitlib-down/p")
    dashboard = Dashboard(services)
    status = dashboard.status.value
    assert "cannot be reached right now" in status and "dl-warning" in status
    assert "Error" not in status and f":{port}" not in status
    dashboard.pad.load([np.array([[20, 20], [20, 90]], np.float32)], [10.0])
    dashboard.read()
    assert dashboard.result is not None and dashboard.result.segments


def test_a_new_dashboard_reads_once_before_its_visitor(capfd):
    """The models' runtimes start on the dashboard's own warm-up reading, not on the visitor's
    first stroke; a recognizer that fails then is logged, and the visitor's reading says so."""
    from digitlib.dashboard import Dashboard, Services
    from digitlib.recognize import load_recognizer

    recognizer = load_recognizer()
    calls = []
    real = recognizer.recognize
    recognizer.recognize = lambda image, **options: calls.append(image.shape) or real(image)
    Dashboard(Services(recognizer))
    assert calls == [(96, 96)]

    def broken(image, **options):
        raise RuntimeError("the models are gone")

    recognizer.recognize = broken
    dashboard = Dashboard(Services(recognizer))
    assert "warm-up reading failed: the models are gone" in capfd.readouterr().err
    assert "Ready" in dashboard.status.value
    dashboard.pad.load([np.array([[20, 20], [20, 90]], np.float32)], [10.0])
    dashboard.guard(dashboard.read)()  # as a stroke's end calls it
    assert "models are gone" in dashboard.status.value
