"""Several visitors arriving together: pages opened at once against one dashboard server, each
drawing a digit as soon as its canvas is usable, each getting its own kernel and its reading.

The drawings are single pendigits strokes, held-out writers first, chosen among those that the
shipped models read correctly when rendered as the page renders them, so the test checks the
server under a crowd (every page usable, every reading right), not the models' accuracy. How
fast it is lives in the crowd benchmark (``benchmarks/bench_crowd.py``): no timing is asserted.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from digitlib.config import HELD_OUT, OTHER
from digitlib.dashboard.app import CANVAS_SIZE, LINE_WIDTH
from digitlib.dashboard.kernel import KERNEL_MODULE, is_kernel_command
from digitlib.dashboard.render import render_drawing
from digitlib.testing.crowd import visit_all
from digitlib.testing.voila_fixtures import start_dashboard, stop_dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = 8
POOL = 4
#: The dashboard's canvas (rows, columns) and brush, in the drawing's pixels.
CANVAS = CANVAS_SIZE
BRUSH = LINE_WIDTH
PAGE_TIMEOUT_MS = 180_000  # generous: 2 shared cores start the kernels the pool did not hold
READING_TIMEOUT_MS = 60_000


def fit(stroke: np.ndarray, height: float = 150.0) -> np.ndarray:
    """One stroke scaled (aspect kept) to ``height`` canvas pixels, centered on the canvas."""
    low, high = stroke.min(axis=0), stroke.max(axis=0)
    extent = np.maximum(high - low, 1e-6)
    scale = min(height / extent[1], 0.8 * CANVAS[1] / extent[0])
    center = np.array([CANVAS[1] / 2, CANVAS[0] / 2])
    return np.round((stroke - (low + high) / 2) * scale + center).astype(np.float32)


def single_strokes_that_read(count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` single-stroke digits, labels as varied as they come, that the lean recognizer
    reads as their label when rendered as the page renders them."""
    import digitlib
    from digitlib.drawings.data import load_pendigits

    recognizer = digitlib.load_recognizer()
    held_out = set(HELD_OUT.pendigits_writers)
    one_stroke = [d for d in load_pendigits() if len(d.strokes) == 1]
    ordered = [d for d in one_stroke if d.writer in held_out] + [
        d for d in one_stroke if d.writer not in held_out
    ]
    chosen: list[tuple[str, np.ndarray]] = []
    for digit in ordered:
        labels = [label for label, _ in chosen]
        if str(digit.label) in labels and len(set(labels)) < 7:
            continue  # a label not seen yet first: the pages draw different digits
        stroke = fit(np.asarray(digit.strokes[0], np.float32))
        result = recognizer.recognize(render_drawing([stroke], [BRUSH], CANVAS))
        reading = "".join("?" if s.label == OTHER else str(s.label) for s in result.segments)
        if reading == str(digit.label):
            chosen.append((reading, stroke))
        if len(chosen) == count:
            return chosen
    raise AssertionError(f"fewer than {count} single-stroke digits read correctly")


@pytest.fixture(scope="module")
def crowd_server(tmp_path_factory):
    """A server of its own (pool of 4, idle kernels culled), so that the crowd meets a pool as
    ``make dashboard`` serves it, not one other tests have drawn from."""
    folder = tmp_path_factory.mktemp("crowd")
    server = start_dashboard(
        folder / "store",
        folder / "voila.log",
        pool_size=POOL,
        runtime="lean",
        extra_args=["--cull-idle-seconds", "60"],
    )
    yield server
    stop_dashboard(server)


def kernel_report(server_pid: int) -> dict:
    """The server's kernel processes: how many, and how many have TensorFlow's files mapped."""
    import psutil

    kernels = [
        child
        for child in psutil.Process(server_pid).children(recursive=True)
        if is_kernel_command(child.cmdline())
    ]
    marker = f"{os.sep}tensorflow{os.sep}"
    with_tensorflow = [
        kernel.pid
        for kernel in kernels
        if any(marker in region.path for region in kernel.memory_maps(grouped=True))
    ]
    launched_here = sum(KERNEL_MODULE in kernel.cmdline() for kernel in kernels)
    return {
        "kernels": len(kernels),
        "with_tensorflow": with_tensorflow,
        "launched_here": launched_here,
    }


def test_eight_pages_at_once_each_get_a_canvas_and_their_reading(
    crowd_chromium_path, crowd_server
):
    drawings = single_strokes_that_read(PAGES)
    visits, kernels = visit_all(
        crowd_chromium_path,
        crowd_server.url,
        drawings,
        page_timeout_ms=PAGE_TIMEOUT_MS,
        reading_timeout_ms=READING_TIMEOUT_MS,
        while_open=lambda _visits: kernel_report(crowd_server.process.pid),
    )
    failed = [(visit.index, visit.error) for visit in visits if visit.error]
    assert failed == [], f"pages that did not get a canvas or a reading: {failed}"
    assert sum(visit.usable for visit in visits) == PAGES
    assert sum(visit.read for visit in visits) == PAGES
    assert [visit.text for visit in visits] == [label for label, _ in drawings]
    assert [visit.page_errors for visit in visits] == [[]] * PAGES
    # Every visitor has a kernel of its own, and none that only drew imported TensorFlow.
    assert kernels["kernels"] >= PAGES, kernels
    assert kernels["with_tensorflow"] == [], kernels
    # ... each started by the dashboard's launcher, which leaves the debugger out.
    assert kernels["launched_here"] == kernels["kernels"], kernels
    print(
        f"\n{PAGES} pages at once: slowest page {max(v.usable_s for v in visits):.1f} s, "
        f"slowest reading {max(v.reading_ms for v in visits):.0f} ms, "
        f"{kernels['kernels']} kernels"
    )
