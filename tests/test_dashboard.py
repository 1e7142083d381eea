"""The dashboard without a browser: its pure renderers, the drawing pad's strokes, serving, Chromium.

The browser half is in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from digitlib.dashboard import render
from digitlib.dashboard.drawpad import DrawPad
from digitlib.dashboard.serve import TEMPLATES_ROOT, voila_command, voila_environment
from digitlib.data import draw_polylines
from digitlib.testing.browser import find_chromium, missing_browser_message

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
    for name in ("numpy_fnn", "fnn", "cnn", "ensemble"):
        assert html.count(f'dl-model-name">{name}<') == 2
    assert "#1: 7" in html and "#2: other" in html and "dl-other" in html


def test_reading_note_counts_digits_and_other_marks():
    assert render.reading_note([_segment(3), _segment(10)]) == (
        "1 digit, 1 mark that is not a digit (grey dashed boxes, ? in the correction)"
    )
    assert "Draw a number" in render.reading_note([])


def test_reading_html_escapes():
    assert render.reading_html("<b>") == "<span>&lt;b&gt;</span>"


def test_probability_bars_are_widest_first():
    bars = render.probability_bars([0.1, 0.6, 0.3] + [0.0] * 8, top=2)
    assert bars.index(">1<") < bars.index(">2<") and "60%" in bars and ">0<" not in bars


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


def test_drawpad_canvas_has_a_fixed_pixel_size_and_the_test_hook():
    pad = DrawPad((240, 340))
    assert pad.canvas.layout.width == "340px" and pad.canvas.layout.height == "240px"
    assert "digitlib-canvas" in pad.canvas._dom_classes
    assert [pad.clear_button.description, pad.undo_button.description] == ["Clear", "Undo"]


def test_drawpad_refuses_silly_sizes():
    with pytest.raises(ValueError, match="16..2048"):
        DrawPad((5, 5000))


# --- serving and the browser ------------------------------------------------------------------


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


def test_voila_environment_passes_the_runtime_to_the_kernels():
    assert voila_environment({}, runtime="keras")["DIGITLIB_RUNTIME"] == "keras"
    assert "DIGITLIB_RUNTIME" not in voila_environment({})


@pytest.mark.parametrize(("port", "pool"), [(0, 2), (70000, 2), (8866, -1)])
def test_voila_command_checks_its_arguments(port, pool):
    with pytest.raises(ValueError, match="port|pool_size"):
        voila_command(port=port, pool_size=pool)


def test_offline_template_drops_the_cdn_stylesheets():
    template = TEMPLATES_ROOT / "voila" / "templates" / "digitlib" / "index.html.j2"
    assert template.exists()
    assert "cdn.jsdelivr.net" in template.read_text()  # named only to be removed
    environment = voila_environment({"JUPYTER_PATH": "/elsewhere"})
    assert environment["JUPYTER_PATH"].split(":")[0] == str(TEMPLATES_ROOT)


def test_chromium_is_there():
    # Never skipped: the browser tests need it, and `make chromium` installs it.
    assert find_chromium() is not None, missing_browser_message()


def test_chromium_path_from_the_environment_must_exist(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="DIGITLIB_CHROMIUM"):
        find_chromium(environ={"DIGITLIB_CHROMIUM": str(tmp_path / "nothing")})
    fake = tmp_path / "chrome"
    fake.write_text("")
    assert find_chromium(environ={"DIGITLIB_CHROMIUM": str(fake)}) == fake


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
    assert "cannot read" in dashboard.status.value and "dl-error" in dashboard.status.value
    dashboard.correction.value = "4x"
    dashboard.save_button.click()
    assert "should be digits" in dashboard.status.value


def test_verdict_shows_the_figures_or_why_not():
    from digitlib.dashboard.app import verdict_html
    from digitlib.learn import Update

    metrics = {
        "validation": {"cnn": {"before": 0.981, "after": 0.983}},
        "segments": {
            "cnn": {"before": 0.2, "after": 0.7, "reading_before": "1", "reading_after": "7"}
        },
    }
    promoted = verdict_html(Update(True, "promoted", metrics, 12.5, {"cnn": 4}))
    assert "Promoted" in promoted and "98.1% → 98.3%" in promoted and "1 → 7" in promoted
    assert "cnn 4" in promoted
    refused = verdict_html(Update(False, "the ensemble lost 0.3 points", metrics, 3.0))
    assert "Not promoted" in refused and "lost 0.3 points" in refused
    held = verdict_html(Update(False, "disagrees with every model", {}, 0.1, held=["abc"]))
    assert "Held for review" in held


def test_save_relabel_delete_through_the_data_view(tmp_path):
    from digitlib.dashboard import Dashboard, Services
    from digitlib.store import DrawingStore, LocalStore

    drawings = DrawingStore(LocalStore(tmp_path))
    dashboard = Dashboard(Services(None, drawings=drawings, problems=["no models"]))
    dashboard.pad.load([np.array([[20, 20], [20, 90]], np.float32)], [10.0])
    dashboard.correction.value = "1"
    dashboard.save_button.click()
    assert "Saved drawing" in dashboard.status.value
    (record,) = drawings.list()
    assert record.text == "1" and record.session_id == dashboard.session_id

    dashboard.tabs.selected_index = 2  # the Data view is built and filled when first opened
    (card,) = dashboard.data_panel.gallery.children
    picture, (relabel_text, relabel_button) = card.children[0], card.children[1].children
    assert "data:image/png;base64," in picture.value and "label <b" in picture.value
    relabel_text.value = "7"
    relabel_button.click()
    assert drawings.list()[0].text == "7" and "relabelled 7" in dashboard.status.value
    (card,) = dashboard.data_panel.gallery.children
    card.children[2].click()
    assert drawings.list() == [] and dashboard.data_panel.gallery.children == ()


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
