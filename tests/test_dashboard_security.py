"""Trust at the door: what one visitor can do to the dashboard server and to other visitors.

A real server (``python -m digitlib.dashboard.serve``, a small pool of its own) and a real
websocket client speaking to its kernels as a page's widgets do (``digitlib.testing.kernel_socket``).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus

from digitlib.testing.kernel_socket import V1, KernelSocket, open_page
from digitlib.testing.voila_fixtures import DashboardServer, start_dashboard, stop_dashboard

pytestmark = [pytest.mark.slow]

#: What "the server still answers" means: another visitor's request, answered this soon.
ANSWER_SECONDS = 1.0


@pytest.fixture(scope="module")
def door_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    """A server of its own: a test that hangs it must not take the session's down too."""
    folder = tmp_path_factory.mktemp("door")
    server = start_dashboard(folder / "store", folder / "voila.log", pool_size=1)
    yield server
    stop_dashboard(server)


def answers_within(url: str, seconds: float) -> bool:
    """Whether the server sends a whole response to a GET of ``url`` within ``seconds``."""
    try:
        with urllib.request.urlopen(url, timeout=seconds) as response:
            response.read()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def test_the_v1_framing_carries_a_click_and_the_canvas_buffers_it_sends_back(door_server):
    kernel = open_page(door_server.url)
    with KernelSocket(door_server.url, kernel, framing="v1") as socket:
        assert socket.subprotocol == V1
        clear = socket.find_widget(socket.widget_states(), css_class="digitlib-clear")
        click = socket.click(clear)
        # ipycanvas sends its drawing commands as binary buffers: Clear redraws the canvas.
        redraw = socket.receive_until(
            lambda m: (
                m.msg_type == "comm_msg" and m.parent_header.get("msg_id") == click and m.buffers
            )
        )
        assert redraw.content["data"]["method"] == "custom"
    assert answers_within(f"{door_server.url}voila/static/voila.js", ANSWER_SECONDS)


def test_one_message_in_the_legacy_framing_does_not_hang_the_server(door_server):
    """jupyter_server frames a buffered reply the legacy way when no subprotocol was asked for,
    and Voila 0.5 reads it as v1: an 8-byte count of ~5.8e17 it loops over, on the server's
    only thread. The server must refuse that socket (or survive the message)."""
    kernel = open_page(door_server.url)
    try:
        socket = KernelSocket(door_server.url, kernel, framing="legacy")
    except InvalidStatus as refused:
        refusal = refused.response
    else:
        refusal = None
        with socket:
            clear = socket.find_widget(socket.widget_states(), css_class="digitlib-clear")
            socket.click(clear)  # its reply carries the canvas' buffers
            # The kernel answers within a second or two; poll until the server either framed
            # the reply (it survived) or stopped answering.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if not answers_within(f"{door_server.url}voila/static/voila.js", ANSWER_SECONDS):
                    break
                try:
                    if socket.receive(timeout=0.2).buffers:
                        break
                except TimeoutError:
                    pass
    assert answers_within(f"{door_server.url}voila/static/voila.js", ANSWER_SECONDS), (
        "the server stopped answering after one legacy-framed widget message"
    )
    assert refusal is not None and refusal.status_code == 400, (
        "a kernel websocket without the v1 subprotocol must be refused"
    )
    assert V1 in refusal.reason_phrase
