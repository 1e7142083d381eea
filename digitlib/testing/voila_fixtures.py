"""pytest fixtures for the dashboard in a real browser: a Voila server and headless Chromium.

Registered in ``tests/conftest.py`` (``pytest_plugins``). ``dashboard_server`` runs
``python -m digitlib.dashboard.serve`` (as ``make dashboard`` does) on a free port with its own empty
store, and waits, by polling its log, until the preheated kernels are ready. ``browser`` is a
Playwright Chromium; a missing Chromium fails the test with the fix, it never skips.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from digitlib.config import PROJECT_ROOT
from digitlib.ops.browser import (
    LAUNCH_ARGS,
    find_chromium,
    find_crowd_chromium,
    missing_browser_message,
)

#: Seconds the server may take to fill its kernel pool (TensorFlow and three models per kernel).
SERVER_READY_TIMEOUT = float(os.environ.get("DIGITLIB_VOILA_TIMEOUT", "180"))
#: Preheated kernels of the test server.
TEST_POOL_SIZE = int(os.environ.get("DIGITLIB_VOILA_POOL", "4"))
#: The operator secret of the test servers (a throw-away value, for the browser tests).
TEST_OPERATOR_SECRET = "test-operator-secret"
#: What ``Dashboard`` writes to the server log when a kernel has built it.
READY_LINE = "[digitlib] dashboard ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DashboardServer:
    """A running dashboard: ``url``, its ``store`` folder, ``log`` file and ``process``."""

    url: str
    store: Path
    log: Path
    process: subprocess.Popen

    pool_size: int = TEST_POOL_SIZE

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pool_is_full(self) -> bool:
        """Whether every pool kernel taken by a visitor has been replaced by a ready one."""
        text = self.log_text()
        taken = text.count("Using pre-heated kernel")
        return text.count(READY_LINE) >= taken + self.pool_size

    def kernel_ids(self) -> set[str]:
        """The ids of the kernels running under the server, read from its child processes'
        command lines (each names its connection file, ``kernel-<id>.json``)."""
        import psutil

        found = set()
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return found
        for child in children:
            try:
                command = " ".join(child.cmdline())
            except psutil.Error:  # it ended while we looked
                continue
            match = re.search(r"kernel-([0-9a-f-]+)\.json", command)
            if match:
                found.add(match.group(1))
        return found

    def wait_for_pool(self, timeout: float = SERVER_READY_TIMEOUT) -> None:
        """Wait (polling the log) until the kernel pool is full again."""
        deadline = time.monotonic() + timeout
        while not self.pool_is_full():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the kernel pool did not refill:\n{self.log_text()[-3000:]}")
            time.sleep(0.25)


def spawn_dashboard(
    port: int,
    store: Path,
    output,
    *,
    pool_size: int = TEST_POOL_SIZE,
    runtime: str | None = None,
    extra_args: Sequence[str] = (),
) -> subprocess.Popen:
    """Launch ``python -m digitlib.dashboard.serve`` on 127.0.0.1:``port`` with ``store`` as
    its store, writing its log to the open binary file ``output``; returns at once.

    ``runtime`` (``"lean"`` or ``"keras"``) is passed as ``--runtime`` (the server's default
    when None); ``extra_args`` are more of ``serve``'s options (``--cull-idle-seconds 60``)."""
    env = dict(
        os.environ,
        DIGITLIB_STORE=str(store),
        TF_CPP_MIN_LOG_LEVEL="2",
        DIGITLIB_OPERATOR_SECRET=TEST_OPERATOR_SECRET,
        # Wrong secrets are counted beside the test's store, not in the checkout's data/.
        DIGITLIB_OPERATOR_LOCKOUT_DIR=str(store.parent / f"{store.name}-operator"),
    )
    command = [sys.executable, "-m", "digitlib.dashboard.serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--pool-size", str(pool_size)]
    if runtime is not None:
        command += ["--runtime", runtime]
    command += list(extra_args)
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopping it stops its kernels too
    )


def start_dashboard(
    store: Path,
    log: Path,
    *,
    pool_size: int = TEST_POOL_SIZE,
    runtime: str | None = None,
    extra_args: Sequence[str] = (),
) -> DashboardServer:
    """Start the dashboard server; wait until it answers and every preheated kernel has built its
    dashboard (models loaded), so that the first visitor does not wait. ``runtime`` and
    ``extra_args`` as for ``spawn_dashboard``."""
    port = free_port()
    with open(log, "wb") as output:
        process = spawn_dashboard(
            port, store, output, pool_size=pool_size, runtime=runtime, extra_args=extra_args
        )
    server = DashboardServer(f"http://127.0.0.1:{port}/", store, log, process, pool_size)
    deadline = time.monotonic() + SERVER_READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"the dashboard server exited with {process.returncode}:\n{server.log_text()[-3000:]}"
            )
        built = server.log_text().count(READY_LINE)
        if built >= pool_size and _answers(f"http://127.0.0.1:{port}/voila/static/voila.js"):
            return server
        if time.monotonic() > deadline:
            stop_dashboard(server)
            raise RuntimeError(
                f"the dashboard server was not ready after {SERVER_READY_TIMEOUT:.0f} s "
                f"(set DIGITLIB_VOILA_TIMEOUT to wait longer):\n{server.log_text()[-3000:]}"
            )
        time.sleep(0.25)


def _answers(url: str) -> bool:
    """True when the server answers at all (an HTTP error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError as error:
        return error.code < 500
    except OSError:
        return False


def stop_dashboard(server: DashboardServer) -> None:
    """Stop the server this module started, and its kernels.

    Jupyter starts each kernel in a session of its own, so the server's process group does not
    hold them: the server shuts them down as it stops, and any still running after are stopped
    by pid (only the server's own descendants, found before it stopped)."""
    import psutil

    if server.process.poll() is not None:
        return
    try:
        kernels = psutil.Process(server.process.pid).children(recursive=True)
    except psutil.Error:
        kernels = []
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    except ProcessLookupError:
        pass
    _, alive = psutil.wait_procs(kernels, timeout=10)
    for kernel in alive:
        with contextlib.suppress(psutil.Error):
            kernel.kill()


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    path = find_chromium()
    if path is None:
        pytest.fail(missing_browser_message(), pytrace=False)
    return path


@pytest.fixture(scope="session")
def crowd_chromium_path() -> Path:
    """The Chromium a crowd of pages runs in (``find_crowd_chromium``)."""
    path = find_crowd_chromium()
    if path is None:
        pytest.fail(missing_browser_message(), pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[object]:
    """A headless Chromium driven by Playwright, shared by the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=list(LAUNCH_ARGS)
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    """The dashboard served by Voila with preheated kernels and an empty store of its own."""
    folder = tmp_path_factory.mktemp("dashboard")
    server = start_dashboard(folder / "store", folder / "voila.log")
    yield server
    stop_dashboard(server)


@pytest.fixture(scope="session")
def results_dir() -> Path:
    """``test-results/``: screenshots and figures the browser tests leave for people to look at."""
    folder = PROJECT_ROOT / "test-results"
    folder.mkdir(exist_ok=True)
    return folder
