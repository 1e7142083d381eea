"""Many visitors at once: open dashboard pages together in one headless Chromium, draw a digit on
each as soon as its canvas is usable, and time what every visitor saw.

Used by the crowd benchmark (``benchmarks/bench_crowd.py``) and the lighter browser test
(``tests/test_dashboard_crowd.py``). Every page has a browser context of its own (its own cookies,
as separate visitors have) in one Chromium, and all navigations start together (async
Playwright, one task per page). The event loop runs in a thread of its own, so that a caller that
already drives a browser with Playwright's sync API (the pytest session) is not disturbed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitlib.ops.browser import LAUNCH_ARGS

#: Records, in the page, when the next stroke ends (``mouseup``) and when the reading element
#: (or, for a reading equal to the last one, the status line's "Read ...") next changes.
WATCH_READING_JS = """
() => {
  const reading = document.querySelector('.digitlib-reading');
  const status = document.querySelector('.digitlib-status');
  window.__dl = {up: null, shown: null, status: null,
                 before: reading ? reading.innerText : ''};
  if (!window.__dlListening) {
    window.__dlListening = true;
    document.addEventListener('mouseup', () => { if (window.__dl) window.__dl.up = performance.now(); }, true);
  }
  if (window.__dlObserver) window.__dlObserver.disconnect();
  window.__dlObserver = new MutationObserver(() => {
    const state = window.__dl;
    if (state.up === null) return;
    const now = performance.now();
    const r = document.querySelector('.digitlib-reading');
    const s = document.querySelector('.digitlib-status');
    if (state.shown === null && r && r.innerText !== state.before) state.shown = now;
    if (state.status === null && s && s.innerText.startsWith('Read')) state.status = now;
  });
  window.__dlObserver.observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""

NAVIGATION_JS = """
() => {
  const n = performance.getEntriesByType('navigation')[0];
  return n ? {response: n.responseStart / 1000, load: n.loadEventEnd / 1000} : {};
}
"""

READING_SEEN_JS = "() => window.__dl.shown !== null || window.__dl.status !== null"

READING_TIMING_JS = """
() => ({
  ms: (window.__dl.shown !== null ? window.__dl.shown : window.__dl.status) - window.__dl.up,
  status_line_used: window.__dl.shown === null,
  text: document.querySelector('.digitlib-reading').innerText.trim(),
})
"""


@dataclass
class Visit:
    """What one visitor saw.

    usable_s : seconds from the page request to the canvas on screen with the status line
        saying "Ready" (None: it never got there).
    reading_ms : milliseconds from the end of the last stroke (the page's ``mouseup``) to the
        reading shown, timed inside the page (None: no reading came).
    text : the reading shown; expected : the digit drawn.
    milestones : seconds from the page request to the first byte of the page (``response``),
        the page's ``load`` event, and the canvas on screen (``canvas``), before "Ready".
    error : at which stage the visit stopped early and why (a timeout), else None; page_text
        the start of what the page then showed.
    """

    index: int
    expected: str
    usable_s: float | None = None
    reading_ms: float | None = None
    text: str | None = None
    status_line_used: bool = False
    milestones: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    page_text: str = ""
    page_errors: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.usable_s is not None

    @property
    def read(self) -> bool:
        return self.reading_ms is not None


def visit_all(
    chromium: Path,
    url: str,
    drawings: Sequence[tuple[str, np.ndarray]],
    *,
    page_timeout_ms: float = 120_000,
    reading_timeout_ms: float = 30_000,
    while_open: Callable[[list[Visit]], Any] | None = None,
) -> tuple[list[Visit], Any]:
    """Open ``len(drawings)`` pages of ``url`` at once and draw one drawing on each.

    ``drawings``: (expected text, stroke) per page; a stroke is an (N, 2) array of (x, y) in
    canvas pixels, drawn with the mouse as soon as that page's canvas is usable. One stroke a
    page, so that the time from its end to the reading is the whole wait (a digit of several
    strokes is read after each). Every wait is
    bounded by ``page_timeout_ms`` (page to usable canvas) and ``reading_timeout_ms`` (stroke to
    reading); a page that misses one is recorded with its ``error`` and the others go on.
    ``while_open(visits)`` is called when every page has its reading or gave up, before the
    pages close (to measure the server while all its visitors are connected); its result is
    returned beside the visits.
    """
    for expected, stroke in drawings:
        if np.ndim(stroke) != 2 or np.shape(stroke)[1] != 2 or len(stroke) < 2:
            raise ValueError(
                f"each drawing is one stroke, an (N, 2) array with N >= 2; the drawing of "
                f"{expected!r} has shape {np.shape(stroke)}"
            )
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="crowd") as pool:
        future = pool.submit(
            asyncio.run,
            _visit_all(
                chromium, url, list(drawings), page_timeout_ms, reading_timeout_ms, while_open
            ),
        )
        return future.result()


async def _visit_all(chromium, url, drawings, page_timeout_ms, reading_timeout_ms, while_open):
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=list(LAUNCH_ARGS)
        )
        try:
            contexts = [
                await browser.new_context(viewport={"width": 1200, "height": 900})
                for _ in drawings
            ]
            visits = [Visit(index, expected) for index, (expected, _) in enumerate(drawings)]
            await asyncio.gather(
                *(
                    _visit(context, url, visit, stroke, page_timeout_ms, reading_timeout_ms)
                    for context, visit, (_, stroke) in zip(contexts, visits, drawings, strict=True)
                )
            )
            measured = while_open(visits) if while_open is not None else None
            for context in contexts:
                await context.close()
        finally:
            await browser.close()
    return visits, measured


async def _visit(context, url, visit, stroke, page_timeout_ms, reading_timeout_ms) -> None:
    page = await context.new_page()
    page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
    stage = "page to usable canvas"
    try:
        started = time.perf_counter()

        def left_ms() -> float:  # one deadline for the whole way to a usable canvas
            return max(1.0, page_timeout_ms - 1000 * (time.perf_counter() - started))

        await page.goto(url, wait_until="commit", timeout=left_ms())
        stage = "page to canvas shown"
        await page.locator(".digitlib-canvas").wait_for(state="visible", timeout=left_ms())
        visit.milestones["canvas"] = time.perf_counter() - started
        stage = "canvas shown to status Ready"
        await page.locator(".digitlib-status", has_text="Ready").wait_for(timeout=left_ms())
        visit.usable_s = time.perf_counter() - started
        visit.milestones |= await page.evaluate(NAVIGATION_JS)

        stage = "stroke to reading"
        box = await page.locator(".digitlib-canvas").bounding_box()
        # The canvas is shown scaled to fit the page: canvas pixels -> page coordinates.
        pixels = await page.evaluate(
            "() => { const c = document.querySelector('.digitlib-canvas'); return c.width; }"
        )
        scale = box["width"] / float(pixels)
        points = [(box["x"] + scale * float(x), box["y"] + scale * float(y)) for x, y in stroke]
        await page.evaluate(WATCH_READING_JS)
        await page.mouse.move(*points[0])
        await page.mouse.down()
        for point in points[1:]:
            await page.mouse.move(*point)
        await page.mouse.up()
        await page.wait_for_function(READING_SEEN_JS, timeout=reading_timeout_ms)
        timing = await page.evaluate(READING_TIMING_JS)
        visit.reading_ms = float(timing["ms"])
        visit.status_line_used = bool(timing["status_line_used"])
        visit.text = timing["text"]
    except Exception as error:  # noqa: BLE001 - recorded per visitor; the others go on
        visit.error = f"{stage}: {type(error).__name__}"
        visit.page_text = await _page_text(page)


async def _page_text(page) -> str:
    """The start of what the page shows (Voila's own error messages land there), or ''."""
    try:
        text = await page.evaluate("() => document.body ? document.body.innerText : ''")
    except Exception:  # noqa: BLE001 - the page may be gone or busy; this is only a diagnosis
        return ""
    return " ".join(text.split())[:300]
