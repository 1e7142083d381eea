"""The dashboard in a real browser: time to a usable canvas, end of stroke to reading, kernel memory.

Serves the dashboard as ``make dashboard`` does (``python -m digitlib.dashboard.serve``, preheated
kernel pool), and again without preheating (``--pool-size 0``: Voila without
``--preheat_kernel``), each on a free localhost port with a throw-away model store, and drives
headless Chromium with Playwright:

- **usable canvas**: from the page request to the drawing canvas on screen (Voila renders widgets
  only once the kernel is connected, so the canvas then accepts strokes); and to the first
  reading of a digit drawn as soon as the canvas shows, which proves it.
- **stroke to reading**: Clear, then one single-stroke digit by a held-out writer drawn with the
  mouse; the page itself records the ``mouseup`` time and the moment the reading changes
  (a ``MutationObserver``), so no Python-to-browser round trip is counted.
- **kernel memory**: resident and peak memory of the kernel that served the page, after
  ``sizes["dashboard_readings"]`` readings (the kernel is the one that used the most CPU).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from benchmarks.harness import PROJECT_ROOT, Context, Missing, summarize, value
from digitlib.dashboard.kernel import is_kernel_command
from digitlib.testing.crowd import WATCH_READING_JS

SERVER_START_TIMEOUT = 60
POOL_READY_TIMEOUT = 180
PAGE_TIMEOUT_MS = 120_000
READING_TIMEOUT_MS = 10_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _check_parts() -> Path:
    """Chromium's path, or ``Missing`` naming the part of the dashboard set-up that is absent."""
    notebook = PROJECT_ROOT / "notebooks" / "dashboard.ipynb"
    if not notebook.exists():
        raise Missing(f"{notebook} does not exist yet")
    try:
        import digitlib.dashboard.serve  # noqa: F401
        from digitlib.dashboard import Dashboard  # noqa: F401
    except ImportError as error:
        raise Missing(f"the dashboard is not importable yet: {error}") from error
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        raise Missing("playwright is not installed (pip install -e '.[test]')") from error
    from digitlib.ops.browser import find_chromium, missing_browser_message

    chromium = find_chromium()
    if chromium is None:
        raise Missing(missing_browser_message())
    return chromium


@contextlib.contextmanager
def serve(
    pool_size: int, folder: Path, runtime: str = "lean", extra_args: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """Run the dashboard server (kernels reading on ``runtime``) on a free port; yield its URL,
    process and log; stop it and its kernels after."""
    from digitlib.testing.voila_fixtures import spawn_dashboard

    port = _free_port()
    store = Path(folder) / f"store-{port}"  # a throw-away model store: no promoted versions
    store.mkdir(parents=True, exist_ok=True)
    log_path = Path(folder) / f"voila-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in the finally below
    server = spawn_dashboard(
        port, store, log, pool_size=pool_size, runtime=runtime, extra_args=extra_args
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"dashboard server exited ({server.returncode}): {tail}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"dashboard server not listening after {SERVER_START_TIMEOUT} s"
                )
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/", server, log_path
    finally:
        # Only the server this function started, and its kernels (they run in sessions of their
        # own, so the server's process group does not hold them: stop them by pid after).
        started_kernels = kernels(server)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        for kernel in started_kernels:
            with contextlib.suppress(Exception):
                if kernel.is_running():
                    kernel.terminate()
                    kernel.wait(timeout=10)
        log.close()


def kernels(server: subprocess.Popen) -> list:
    """The server's kernel processes (psutil), found among its descendants."""
    import psutil

    try:
        children = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if is_kernel_command(child.cmdline()):
                found.append(child)
    return found


def _kernel_cpu_seconds(server: subprocess.Popen) -> float:
    total = 0.0
    for kernel in kernels(server):
        with contextlib.suppress(Exception):
            times = kernel.cpu_times()
            total += times.user + times.system
    return total


def wait_for_pool(
    server: subprocess.Popen, log: Path, fills: int, pool_size: int, progress
) -> float:
    """Wait until Voila has logged its pool filled ``fills`` times and the kernels went idle.

    Voila logs "is filled" once the kernels have started, while the notebook still runs in
    them (importing TensorFlow, loading the models); a preheated kernel is ready only when that
    is done, so this also waits for the kernels to use (almost) no CPU for 1.5 s.
    """
    started = time.monotonic()
    while time.monotonic() - started < POOL_READY_TIMEOUT:
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.count("is filled with") >= fills and len(kernels(server)) >= pool_size:
            before = _kernel_cpu_seconds(server)
            time.sleep(1.5)
            if _kernel_cpu_seconds(server) - before < 0.05:
                return time.monotonic() - started
        else:
            time.sleep(0.5)
    progress.say(f"preheated pool not ready after {POOL_READY_TIMEOUT} s; measuring anyway")
    return time.monotonic() - started


def memory_mb(process) -> tuple[float, float]:
    """(resident, peak resident) megabytes of a process, peak from /proc's VmHWM when there."""
    rss = process.memory_info().rss / 1024**2
    peak = rss
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return rss, peak


def _digit_paths(count: int, canvas: dict) -> list[tuple[str, list[np.ndarray]]]:
    """Single-stroke held-out digits as mouse paths in page pixels inside ``canvas`` (a box)."""
    from digitlib.config import HELD_OUT
    from digitlib.drawings.data import fit_strokes, load_pendigits

    pool = [
        d
        for d in load_pendigits()
        if d.writer in HELD_OUT.pendigits_writers and len(d.strokes) == 1
    ]
    rng = np.random.default_rng(31)
    paths = []
    for index in rng.choice(len(pool), size=count, replace=count > len(pool)):
        digit = pool[int(index)]
        height = 0.7 * canvas["height"]
        center = (
            canvas["x"] + canvas["width"] / 2 + rng.uniform(-0.1, 0.1) * canvas["width"],
            canvas["y"] + canvas["height"] / 2,
        )
        strokes = fit_strokes(digit.strokes, height, center)
        # ~24 points a stroke: as many mouse events as a quick real stroke sends.
        strokes = [s[np.linspace(0, len(s) - 1, min(len(s), 24)).astype(int)] for s in strokes]
        paths.append((str(digit.label), strokes))
    return paths


def _draw(page, strokes: list[np.ndarray]) -> None:
    for stroke in strokes:
        page.mouse.move(float(stroke[0, 0]), float(stroke[0, 1]))
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(float(x), float(y))
        page.mouse.up()


def _canvas_box(page) -> dict:
    box = page.locator(".digitlib-canvas").bounding_box()
    if box is None:
        raise RuntimeError("the drawing canvas has no bounding box (not displayed)")
    return box


def open_dashboard(browser, url: str) -> tuple[object, object, float, dict]:
    """Open a fresh page: return it, its context, seconds from the request to the canvas on
    screen with the status line saying "Ready", and where that time went (seconds from the
    request: first response byte, DOM parsed, page loaded)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
    page.locator(".digitlib-canvas").wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    page.locator(".digitlib-status", has_text="Ready").wait_for(timeout=PAGE_TIMEOUT_MS)
    seconds = time.perf_counter() - started
    timing = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n ? {response: n.responseStart, response_end: n.responseEnd,"
        " dom_content_loaded: n.domContentLoadedEventEnd, load: n.loadEventEnd} : {}; }"
    )
    return page, context, seconds, {key: ms / 1000 for key, ms in timing.items()}


def _with_breakdown(figure: dict, breakdowns: list[dict]) -> dict:
    """Add the median of each navigation milestone (seconds) to a page-load figure."""
    keys = set().union(*breakdowns) if breakdowns else set()
    figure["breakdown_s"] = {
        key: float(np.median([b[key] for b in breakdowns if key in b])) for key in sorted(keys)
    }
    return figure


def read_after_stroke(page, strokes: list[np.ndarray]) -> dict:
    """Draw one digit and return the page's own timings: ms from mouseup to reading / status."""
    page.evaluate(WATCH_READING_JS)
    _draw(page, strokes)
    page.wait_for_function(
        "() => window.__dl && (window.__dl.shown !== null || window.__dl.status !== null)",
        timeout=READING_TIMEOUT_MS,
    )
    page.wait_for_timeout(30)  # let a reading that follows the status land too
    return page.evaluate(
        "() => ({reading: window.__dl.shown === null ? null : window.__dl.shown - window.__dl.up,"
        " status: window.__dl.status === null ? null : window.__dl.status - window.__dl.up,"
        " text: document.querySelector('.digitlib-reading').innerText})"
    )


def _clear(page) -> None:
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function(
        "() => document.querySelector('.digitlib-reading').innerText.trim() === ''",
        timeout=READING_TIMEOUT_MS,
    )


def bench_dashboard(context: Context) -> dict[str, dict]:
    """Page to usable canvas (preheated and not), stroke end to reading and kernel memory, with
    the kernels reading on the lean runtime (the plain figure names) and on the TensorFlow path
    (``--runtime keras``: the ``_keras`` figures), one server after the other."""
    chromium = _check_parts()
    from playwright.sync_api import sync_playwright

    from digitlib.ops.browser import LAUNCH_ARGS

    sizes = context.sizes
    figures: dict[str, dict] = {}
    with (
        tempfile.TemporaryDirectory(prefix="digitlib-bench-dashboard-") as folder,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium), args=list(LAUNCH_ARGS))
        try:
            for runtime, suffix, runs in (
                ("lean", "", (sizes["dashboard_warm_runs"], sizes["dashboard_cold_runs"])),
                (
                    "keras",
                    "_keras",
                    (sizes["dashboard_keras_warm_runs"], sizes["dashboard_keras_cold_runs"]),
                ),
            ):
                found = measure_runtime(
                    browser, Path(folder), runtime, runs[0], runs[1], sizes, context.progress
                )
                figures |= {f"{name}{suffix}": figure for name, figure in found.items()}
        finally:
            browser.close()
    for name in ("usable_canvas_preheated", "usable_canvas_cold", "stroke_to_reading"):
        if name in figures and f"{name}_keras" in figures:
            figures[name]["ratio_to_keras"] = (
                figures[f"{name}_keras"]["median"] / figures[name]["median"]
            )
    if "kernel_memory_keras" in figures:
        figures["kernel_memory"]["ratio_to_keras"] = (
            figures["kernel_memory_keras"]["value"] / figures["kernel_memory"]["value"]
        )
    return figures


def measure_runtime(
    browser,
    folder: Path,
    runtime: str,
    warm_runs: int,
    cold_runs: int,
    sizes: dict[str, int],
    progress,
) -> dict[str, dict]:
    """The dashboard's figures with kernels on ``runtime``: ``warm_runs`` preheated pages (the
    last one then draws: first reading, stroke to reading, kernel memory after
    ``sizes["dashboard_readings"]`` readings) and ``cold_runs`` pages of a server that does not
    preheat. ``warm_runs`` 0 measures nothing preheated."""
    figures: dict[str, dict] = {}
    if warm_runs > 0:
        pool = 2
        progress.say(f"{runtime}: serving with a preheated pool of {pool} kernels")
        with serve(pool, folder, runtime) as (url, server, log):
            ready = wait_for_pool(server, log, 1, pool, progress)
            progress.say(f"pool ready after {ready:.0f} s")
            usable, breakdowns, page, page_context = [], [], None, None
            for run in range(warm_runs):
                if page_context is not None:
                    page_context.close()
                    wait_for_pool(server, log, run + 1, pool, progress)
                page, page_context, seconds, breakdown = open_dashboard(browser, url)
                usable.append(seconds)
                breakdowns.append(breakdown)
                progress.say(f"preheated page {run + 1}: canvas after {seconds:.2f} s")
            figures["usable_canvas_preheated"] = _with_breakdown(
                summarize(usable, unit="s", scale=1), breakdowns
            )

            # The last page: prove it accepts strokes, then time readings.
            box = _canvas_box(page)
            paths = _digit_paths(max(sizes["dashboard_readings"], sizes["stroke_trials"]), box)
            kernel_cpu = {k.pid: sum(k.cpu_times()[:2]) for k in kernels(server)}
            started = time.perf_counter()
            timing = read_after_stroke(page, paths[0][1])
            figures["first_reading_preheated"] = value(
                usable[-1] + time.perf_counter() - started, "s"
            )
            delays, fallbacks, correct, readings = [], 0, 0, 1
            for label, strokes in progress.track(paths[1 : sizes["stroke_trials"] + 1], "strokes"):
                _clear(page)
                timing = read_after_stroke(page, strokes)
                readings += 1
                if timing["reading"] is None:
                    fallbacks += 1
                delays.append((timing["reading"] or timing["status"]) / 1000)
                correct += timing["text"].strip() == label
            figures["stroke_to_reading"] = summarize(delays) | {
                "status_line_used": fallbacks,
                "read_right": correct,
            }
            for _label, strokes in paths[readings : sizes["dashboard_readings"]]:
                _clear(page)
                read_after_stroke(page, strokes)
                readings += 1
            used = max(
                kernels(server),
                key=lambda k: sum(k.cpu_times()[:2]) - kernel_cpu.get(k.pid, 0.0),
                default=None,
            )
            if used is None:
                raise RuntimeError("found no kernel process under the dashboard server")
            rss, peak = memory_mb(used)
            figures["kernel_memory"] = value(
                rss,
                "MB",
                peak_mb=peak,
                readings=readings,
                tensorflow_imported=int(_has_tensorflow(used)),
            )
            page_context.close()

    if cold_runs > 0:
        progress.say(f"{runtime}: serving without preheating")
        with serve(0, folder, runtime) as (url, server, _log):
            cold, breakdowns = [], []
            for run in range(cold_runs):
                page, page_context, seconds, breakdown = open_dashboard(browser, url)
                cold.append(seconds)
                breakdowns.append(breakdown)
                page_context.close()
                progress.say(f"cold page {run + 1}: canvas after {seconds:.2f} s")
            figures["usable_canvas_cold"] = _with_breakdown(
                summarize(cold, unit="s", scale=1), breakdowns
            )
            if "usable_canvas_preheated" in figures:
                base = figures["usable_canvas_cold"]
                warm = figures["usable_canvas_preheated"]
                warm["ratio_to_cold"] = base["median"] / warm["median"]
    return figures


def _has_tensorflow(process) -> bool:
    """Whether ``process`` has a file of the ``tensorflow`` package mapped (it imported it;
    LiteRT's own libraries live in ``ai_edge_litert``)."""
    marker = f"{os.sep}tensorflow{os.sep}"
    with contextlib.suppress(Exception):
        return any(marker in region.path for region in process.memory_maps(grouped=True))
    return False
