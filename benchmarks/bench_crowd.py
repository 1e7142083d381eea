"""How many visitors fit: ``sizes["crowd_pages"]`` dashboard pages opened at once on one server.

A class arriving together, or a link shared on a forum: one dashboard server, as ``make
dashboard`` runs it (``python -m digitlib.dashboard.serve``: preheated pool of
``sizes["crowd_pool"]`` kernels, lean runtime, idle kernels with no page culled after
``CULL_IDLE_SECONDS``), on a free localhost port with a throw-away store; once its pool is ready,
headless Chromium on the same machine opens every page at once (``digitlib.testing.crowd``: a
browser context per page, all navigations started together) and draws one single-stroke
held-out digit on each as soon as its canvas is usable. Then, with every page still open, the
server's memory is measured: the server process and all its kernel processes (psutil, resident
set sizes summed; proportional set sizes too, which count shared library pages once).

Then the same crowd opens ``floor.ipynb`` (the page's parts without digitlib) on a fresh server
with the same settings: the ``floor`` figure, what the browsers and Voila alone cost here.

Figures: pages usable and readings received (count and percent of the pages), the slowest page
(request to usable canvas) and the slowest reading (end of stroke to reading shown, timed in the
page), their distributions (with the median page's milestones: first byte, ``load`` event,
canvas shown), the CPU seconds the server, its kernels and the browser used until every page
had its reading (on 2 shared cores they compete), the server's total memory, memory per kernel, and visitors per GB:
1024 MB over what the server grew per visitor (its memory with every page open, minus its memory
before the first visitor, over the pages), which is how many more visitors each GB holds.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_dashboard import _check_parts, _digit_paths, kernels, serve, wait_for_pool
from benchmarks.harness import Context, summarize, value
from digitlib.dashboard.app import CANVAS_SIZE
from digitlib.dashboard.kernel import is_kernel_command

CULL_IDLE_SECONDS = 120
PAGE_TIMEOUT_MS = 120_000
READING_TIMEOUT_MS = 30_000
#: How long, with every page open, to wait for the server to refill its pool and go quiet
#: before measuring its memory.
SETTLE_TIMEOUT = 60
#: The dashboard's canvas, height and width in the drawing's pixels (``Dashboard``'s default).
CANVAS = CANVAS_SIZE


def single_stroke_digits(count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` single-stroke held-out pendigits digits as (label, stroke in canvas pixels)."""
    height, width = CANVAS
    paths = _digit_paths(count, {"x": 0.0, "y": 0.0, "width": width, "height": height})
    return [(label, strokes[0]) for label, strokes in paths]


def server_memory(server_pid: int) -> dict:
    """The server process and all its descendants: resident (RSS) and proportional (PSS) MB.

    ``kernels_mb`` lists each kernel's RSS. A process that exits while being measured is left
    out.
    """
    import psutil

    root = psutil.Process(server_pid)
    processes = [root, *root.children(recursive=True)]
    total_rss = total_pss = 0.0
    kernel_rss, others = [], 0
    for process in processes:
        try:
            info = process.memory_full_info()
            is_kernel = is_kernel_command(process.cmdline())
        except psutil.Error:
            continue
        rss = info.rss / 1024**2
        total_rss += rss
        total_pss += getattr(info, "pss", info.rss) / 1024**2
        if is_kernel:
            kernel_rss.append(rss)
        else:
            others += 1
    return {
        "rss_mb": total_rss,
        "pss_mb": total_pss,
        "kernels_mb": kernel_rss,
        "other_processes": others,
    }


def cpu_by_part(server_pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) used so far by each live process of the crowd: the server
    (``voila``), its ``kernel`` processes, and the ``browser`` (Chromium, started by this
    process's Playwright); pid -> (part, seconds)."""
    import psutil

    found: dict[int, tuple[str, float]] = {}
    server = psutil.Process(server_pid)
    ours = psutil.Process(os.getpid())
    for part, processes in (
        ("voila", [server]),
        ("kernels", server.children(recursive=True)),
        ("browser", ours.children(recursive=True)),
    ):
        for process in processes:
            try:
                if part == "browser" and not any(
                    name in process.name().lower() for name in ("chrom", "headless")
                ):
                    continue
                times = process.cpu_times()
            except psutil.Error:
                continue
            found[process.pid] = (part, times.user + times.system)
    return found


def cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict:
    """CPU seconds each part used between two ``cpu_by_part`` snapshots (processes that exited
    in between are not counted)."""
    spent: dict[str, float] = {}
    for pid, (part, seconds) in after.items():
        spent[part] = spent.get(part, 0.0) + seconds - before.get(pid, (part, 0.0))[1]
    return {part: round(seconds, 1) for part, seconds in sorted(spent.items())}


def settle(server, wanted_kernels: int, progress) -> bool:
    """Wait (at most ``SETTLE_TIMEOUT`` s) until the server has ``wanted_kernels`` kernels and
    they use almost no CPU for 1.5 s; True when it got there."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        found = kernels(server)
        if len(found) >= wanted_kernels:
            before = _cpu(found)
            time.sleep(1.5)
            if _cpu(found) - before < 0.1:
                return True
        else:
            time.sleep(0.5)
    progress.say(f"server not settled after {SETTLE_TIMEOUT} s; measuring as it is")
    return False


def _cpu(processes) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(Exception):
            times = process.cpu_times()
            total += times.user + times.system
    return total


#: The crowd's floor: the dashboard's page parts without digitlib (see the notebook).
FLOOR_NOTEBOOK = Path(__file__).resolve().parent / "floor.ipynb"


def bench_crowd(context: Context) -> dict[str, dict]:
    """Every page at once on one server: usable pages, readings, slowest of each, memory.

    Then, when ``sizes["crowd_floor"]`` is set, the same crowd against ``floor.ipynb`` (Voila,
    ipywidgets and an ipycanvas canvas of the same size, no digitlib) on a server with the
    same settings: ``floor`` holds its slowest page and reading and the CPU its parts used,
    which is what the browsers and Voila alone cost on this machine.
    """
    from digitlib.ops.browser import browser_version, find_crowd_chromium

    _check_parts()
    chromium = find_crowd_chromium()
    visits, before, after, elapsed = _crowd(context, chromium, "the dashboard")
    figures = crowd_figures(
        visits, before, after, pool=context.sizes["crowd_pool"], seconds=elapsed
    )
    # Which browser stood in for the visitors' own (``find_crowd_chromium``): its CPU is most
    # of the crowd's, so the figure means little without it.
    figures["slowest_page"]["browser"] = f"{chromium} ({browser_version(chromium)})"
    if context.sizes.get("crowd_floor"):
        floor = _crowd(context, chromium, "the floor notebook", notebook=FLOOR_NOTEBOOK)
        found = crowd_figures(*floor[:3], pool=context.sizes["crowd_pool"], seconds=floor[3])
        figures["floor"] = value(
            found["slowest_page"]["value"],
            "s",
            pages_usable=found["pages_usable"]["value"],
            of=found["pages_usable"]["of"],
            page_to_usable_canvas=found.get("page_to_usable_canvas"),
            slowest_reading_ms=found["slowest_reading"]["value"],
            stroke_to_reading=found.get("stroke_to_reading"),
            cpu_seconds=found["server_memory"]["cpu_seconds"],
            server_memory_mb=found["server_memory"]["value"],
            notebook=FLOOR_NOTEBOOK.name,
        )
    return figures


def _crowd(context: Context, chromium: Path, what: str, notebook: Path | None = None):
    """Open ``sizes["crowd_pages"]`` pages at once on a fresh server (serving ``notebook``, or
    the dashboard); returns (visits, server memory before, with every page open, seconds)."""
    from digitlib.testing.crowd import visit_all

    pages = context.sizes["crowd_pages"]
    pool = context.sizes["crowd_pool"]
    progress = context.progress
    drawings = single_stroke_digits(pages)
    arguments = ["--cull-idle-seconds", str(CULL_IDLE_SECONDS)]
    if notebook is not None:
        arguments += ["--notebook", str(notebook)]
    with (
        tempfile.TemporaryDirectory(prefix="digitlib-bench-crowd-") as folder,
        serve(pool, Path(folder), "lean", arguments) as (url, server, log),
    ):
        ready = wait_for_pool(server, log, 1, pool, progress)
        before = server_memory(server.pid)
        progress.say(
            f"{what}: pool of {pool} ready after {ready:.0f} s ({before['rss_mb']:.0f} MB); "
            f"opening {pages} pages at once"
        )
        cpu_before = cpu_by_part(server.pid)
        started = time.perf_counter()

        def measure(visits):
            cpu = cpu_spent(cpu_before, cpu_by_part(server.pid))
            usable = sum(visit.usable for visit in visits)
            progress.say(
                f"{usable}/{pages} pages usable, "
                f"{sum(visit.read for visit in visits)} readings, "
                f"after {time.perf_counter() - started:.0f} s; measuring the server"
            )
            settled = settle(server, pool + usable, progress)
            return server_memory(server.pid) | {
                "cpu_seconds": cpu,
                "settled": settled,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }

        visits, after = visit_all(
            chromium,
            url,
            drawings,
            page_timeout_ms=PAGE_TIMEOUT_MS,
            reading_timeout_ms=READING_TIMEOUT_MS,
            while_open=measure,
        )
        elapsed = time.perf_counter() - started
        after["server_log"] = log_problems(log)
    return visits, before, after, elapsed


def log_problems(log: Path, keep: int = 5) -> dict:
    """The server log's lines that report a problem (errors, warnings, timeouts): how many,
    and the first ``keep`` distinct ones."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    words = ("error", "warning", "timeout", "traceback")
    found = [line.strip() for line in lines if any(word in line.lower() for word in words)]
    return {"problem_lines": len(found), "first": list(dict.fromkeys(found))[:keep]}


def crowd_figures(visits, before: dict, after: dict, *, pool: int, seconds: float) -> dict:
    """The crowd's figures from its visits and the server's memory before and with them."""
    pages = len(visits)
    usable = [visit.usable_s for visit in visits if visit.usable]
    readings = [visit.reading_ms for visit in visits if visit.read]
    errors: dict[str, int] = {}
    for visit in visits:
        if visit.error:
            errors[visit.error] = errors.get(visit.error, 0) + 1
    shown = sorted({visit.page_text for visit in visits if visit.error and visit.page_text})
    figures: dict[str, dict] = {
        "pages_usable": value(
            len(usable),
            "pages",
            percent=100.0 * len(usable) / pages,
            of=pages,
            errors=errors,
            failed_pages_showed=shown[:3],
        ),
        "readings_received": value(
            len(readings),
            "readings",
            percent=100.0 * len(readings) / pages,
            of=pages,
            read_right=sum(visit.text == visit.expected for visit in visits if visit.read),
            status_line_used=sum(visit.status_line_used for visit in visits if visit.read),
            page_errors=sum(len(visit.page_errors) for visit in visits),
        ),
    }
    # The slowest of each is judged only when every page got there: a page that never did is
    # slower than any figure, and its target then fails on "pages usable" / "readings".
    slowest_page = max(usable) if len(usable) == pages else None
    slowest_reading = max(readings) if len(readings) == pages else None
    figures["slowest_page"] = {"value": slowest_page, "unit": "s", "of_usable": max(usable or [0])}
    if usable:
        figures["page_to_usable_canvas"] = summarize(usable, unit="s", scale=1) | {
            "milestones_median_s": {
                key: float(np.median(found))
                for key in ("response", "load", "canvas")
                if (found := [v.milestones[key] for v in visits if key in v.milestones])
            }
        }
    figures["slowest_reading"] = {
        "value": slowest_reading,
        "unit": "ms",
        "of_received": max(readings or [0]),
    }
    if readings:
        figures["stroke_to_reading"] = summarize(readings, unit="ms", scale=1)
    kernels_mb = after["kernels_mb"]
    figures["server_memory"] = value(
        after["rss_mb"],
        "MB",
        pss_mb=after["pss_mb"],
        before_visitors_mb=before["rss_mb"],
        kernels=len(kernels_mb),
        pool=pool,
        settled=after["settled"],
        load_average=after["load_average"],
        seconds=seconds,
        cpu_seconds=after.get("cpu_seconds", {}),
        server_log=after.get("server_log", {}),
    )
    if kernels_mb:
        figures["kernel_memory"] = value(
            float(np.median(kernels_mb)),
            "MB",
            max_mb=max(kernels_mb),
            min_mb=min(kernels_mb),
            n=len(kernels_mb),
        )
    if usable:
        grown = (after["rss_mb"] - before["rss_mb"]) / len(usable)
        figures["memory_per_visitor"] = value(
            grown, "MB", pss_mb=(after["pss_mb"] - before["pss_mb"]) / len(usable)
        )
        figures["visitors_per_gb"] = value(
            1024.0 / grown,
            "visitors",
            by_total=len(usable) / (after["rss_mb"] / 1024.0),
            by_pss=1024.0 / figures["memory_per_visitor"]["pss_mb"],
        )
    return figures
