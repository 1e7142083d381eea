"""Kernels are a budget: a loop of anonymous GETs must not start a kernel each.

Real servers (``python -m digitlib.dashboard.serve``) with a small cap and a short deadline for
pages to connect; real websockets hold the kernels a page holds (``digitlib.testing.kernel_socket``);
the kernels are counted as the server's child processes.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from digitlib.dashboard.budget import (
    KERNEL_MEMORY_BYTES,
    RETRY_AFTER_SECONDS,
    default_max_kernels,
)
from digitlib.dashboard.serve import KERNEL_MANAGER, voila_command
from digitlib.testing.kernel_socket import KernelSocket, open_page
from digitlib.testing.voila_fixtures import DashboardServer, start_dashboard, stop_dashboard

MiB = 2**20

#: The cap of the capped server, its pool included.
CAP = 2
#: Seconds the second server gives a page to connect to its kernel.
UNCONNECTED_SECONDS = 3.0


@pytest.mark.parametrize(
    ("memory", "kernel", "share", "expected"),
    [
        (4 * 1024 * MiB, 112 * MiB, 0.75, 27),  # 3072 MiB / 112 MiB = 27.4
        (1024 * MiB, 100 * MiB, 0.5, 5),
        (1024 * MiB, 100 * MiB, 1.0, 10),
        (50 * MiB, 100 * MiB, 0.75, 1),  # a machine smaller than a kernel still serves one
    ],
)
def test_default_max_kernels_is_the_share_of_memory_over_a_kernel(memory, kernel, share, expected):
    assert default_max_kernels(memory, kernel, share) == expected


def test_default_max_kernels_uses_the_measured_kernel_size():
    assert KERNEL_MEMORY_BYTES == 112 * MiB
    assert default_max_kernels(16 * 1024 * MiB) == 109


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"memory_bytes": 0}, "memory_bytes must be positive"),
        ({"memory_bytes": MiB, "kernel_bytes": -1}, "kernel_bytes must be positive"),
        ({"memory_bytes": MiB, "share": 1.5}, r"share must be in \(0, 1\]"),
    ],
)
def test_default_max_kernels_checks_its_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        default_max_kernels(**arguments)


def test_voila_command_caps_kernels_and_gives_pages_a_deadline():
    command = voila_command(pool_size=2, max_kernels=7, unconnected_kernel_seconds=30)
    assert command[1:3] == ["-m", "digitlib.cli.voila_server"]
    assert f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER}" in command
    assert "--BudgetKernelManager.max_kernels=7" in command
    assert "--BudgetKernelManager.unconnected_kernel_timeout=30" in command
    # 0: the server derives the cap from the machine's memory.
    assert "--BudgetKernelManager.max_kernels=0" in voila_command()
    assert "--BudgetKernelManager.unconnected_kernel_timeout=60" in voila_command()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_kernels": -1}, "max_kernels must be 0"),
        ({"pool_size": 4, "max_kernels": 3}, "raise max_kernels or lower pool_size"),
        ({"unconnected_kernel_seconds": -1}, "unconnected_kernel_seconds must be 0"),
    ],
)
def test_voila_command_checks_the_budget(arguments, message):
    with pytest.raises(ValueError, match=message):
        voila_command(**arguments)


def get(url: str) -> tuple[int, dict[str, str], str]:
    """GET ``url``: its status, headers and body, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    """A server of its own for each test: the kernels a test leaves hold its cap."""
    folder = tmp_path_factory.mktemp("capped")
    server = start_dashboard(
        folder / "store",
        folder / "voila.log",
        pool_size=1,
        extra_args=["--max-kernels", str(CAP)],
    )
    yield server
    stop_dashboard(server)


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    folder = tmp_path_factory.mktemp("impatient")
    server = start_dashboard(
        folder / "store",
        folder / "voila.log",
        pool_size=2,
        extra_args=[
            "--max-kernels",
            "4",
            "--unconnected-kernel-timeout",
            str(UNCONNECTED_SECONDS),
        ],
    )
    yield server
    stop_dashboard(server)


@pytest.mark.slow
def test_pages_beyond_the_cap_get_503_and_start_no_kernel(capped_server):
    first = open_page(capped_server.url)
    capped_server.wait_for_pool()  # the pool's refill is the second kernel
    second = open_page(capped_server.url)
    # Two visitors hold their kernels, as their pages do, while more GETs arrive.
    with KernelSocket(capped_server.url, first), KernelSocket(capped_server.url, second):
        assert capped_server.kernel_ids() == {first, second}
        for _ in range(5):
            status, headers, body = get(capped_server.url)
            assert status == 503
            assert "The dashboard is full, try again in a minute" in body
            assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
            assert headers["Content-Type"].startswith("text/html")
            assert '"kernelId"' not in body
            assert capped_server.kernel_ids() == {first, second}


@pytest.mark.slow
def test_a_page_that_bypasses_the_pool_is_refused_at_the_cap_and_the_pool_still_serves(
    capped_server,
):
    """Another theme than the pool rendered makes Voila start a kernel of its own for the page:
    that start is refused at the cap too, while the pool's ready kernel (already counted) is
    still handed out."""
    (pooled,) = capped_server.kernel_ids()
    status, _, page = get(f"{capped_server.url}?theme=dark")
    assert status == 200 and '"kernelId"' in page
    assert len(capped_server.kernel_ids()) == CAP
    held = capped_server.kernel_ids()
    status, headers, body = get(f"{capped_server.url}?theme=dark")
    assert status == 503 and "The dashboard is full" in body
    assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert capped_server.kernel_ids() == held
    assert open_page(capped_server.url) == pooled
    assert capped_server.kernel_ids() == held  # the pool's refill waits for room


@pytest.mark.slow
def test_a_kernel_whose_page_never_connects_is_shut_down_and_a_connected_one_kept(
    impatient_server,
):
    kept = open_page(impatient_server.url)
    with KernelSocket(impatient_server.url, kept) as socket:
        abandoned = open_page(impatient_server.url)  # nobody opens its websocket
        asked_at = time.monotonic()
        assert abandoned in impatient_server.kernel_ids()
        # The check runs every 0.75 s here and a polite shutdown takes a moment.
        deadline = asked_at + UNCONNECTED_SECONDS + 5
        while abandoned in impatient_server.kernel_ids():
            assert time.monotonic() < deadline, (
                f"kernel {abandoned} still running {UNCONNECTED_SECONDS + 5:.0f} s after its "
                f"page was served without connecting:\n{impatient_server.log_text()[-2000:]}"
            )
            time.sleep(0.1)
        # The page that connected first has been served longer than the deadline: it stays.
        assert kept in impatient_server.kernel_ids()
        asked = socket.send("kernel_info_request", {})
        reply = socket.receive_until(
            lambda m: m.parent_header.get("msg_id") == asked and m.channel == "shell", 10
        )
        assert reply.msg_type == "kernel_info_reply"
    assert "no page connected to it" in impatient_server.log_text()
