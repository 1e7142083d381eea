"""Trust at the door: what one visitor can do to the dashboard server and to other visitors.

A real server (``python -m digitlib.dashboard.serve``, a small pool of its own) and a real
websocket client speaking to its kernels as a page's widgets do (``digitlib.testing.kernel_socket``).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus

from digitlib.testing.kernel_socket import V1, KernelSocket, Message, open_page
from digitlib.testing.voila_fixtures import (
    TEST_OPERATOR_SECRET,
    DashboardServer,
    start_dashboard,
    stop_dashboard,
)

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


def unlock(socket: KernelSocket, secret: str) -> str:
    """Type ``secret`` in the page's operator form, press Unlock; what the status line says."""
    states = socket.widget_states()
    form = [
        comm
        for comm, state in states.items()
        if "digitlib-unlock" in state.get("_dom_classes", [])
    ]
    if not form:  # the form is built when its tab is first shown
        tabs = socket.find_widget(states, _model_name="TabModel")
        socket.wait_until_done(socket.set_value(tabs, selected_index=2))
        states = socket.widget_states()
    secret_box = socket.find_widget(states, css_class="digitlib-operator-secret")
    socket.set_value(secret_box, value=secret)
    socket.wait_until_done(socket.click(socket.find_widget(states, css_class="digitlib-unlock")))
    return socket.state(socket.find_widget(states, css_class="digitlib-status"))["value"]


def received_until_done(socket: KernelSocket, msg_id: str, timeout: float = 30) -> list[Message]:
    """Every message ``socket`` receives until the kernel has handled message ``msg_id``."""
    received: list[Message] = []
    socket.receive_until(
        lambda m: (
            received.append(m) is None
            and m.msg_type == "status"
            and m.parent_header.get("msg_id") == msg_id
            and m.content.get("execution_state") == "idle"
        ),
        timeout,
    )
    return received


def test_another_connection_to_the_kernel_never_receives_the_operator_secret(door_server):
    """A page's kernel speaks to every websocket connected to it: what the operator types must
    reach no other one, neither while it waits for Unlock nor after. (Before the lockout test:
    the secret must be right to show it was used.)"""
    kernel = open_page(door_server.url)
    with (
        KernelSocket(door_server.url, kernel) as page,
        KernelSocket(door_server.url, kernel) as onlooker,
    ):
        states = page.widget_states()
        tabs = page.find_widget(states, _model_name="TabModel")
        page.wait_until_done(page.set_value(tabs, selected_index=2))
        states = page.widget_states()
        secret_box = page.find_widget(states, css_class="digitlib-operator-secret")
        typed = page.set_value(secret_box, value=TEST_OPERATOR_SECRET)
        seen = received_until_done(onlooker, typed)
        assert onlooker.state(secret_box)["value"] == ""  # not waiting in the widget's state
        click = page.click(page.find_widget(states, css_class="digitlib-unlock"))
        seen += received_until_done(onlooker, click)
        status = onlooker.state(page.find_widget(states, css_class="digitlib-status"))["value"]
    assert "Operator mode" in status, status
    secret = TEST_OPERATOR_SECRET.encode()
    leaks = [
        m.msg_type
        for m in seen
        if secret in json.dumps(m.content).encode() or any(secret in b for b in m.buffers)
    ]
    assert leaks == [], f"the operator secret reached another connection in {leaks}"
    door_server.wait_for_pool()  # the next test's page finds a kernel ready, as it would have


def test_a_click_sent_to_a_hidden_delete_for_good_deletes_nothing(door_server):
    """The confirmation button is in the kernel before it is shown: a script can click it. Only
    a confirmation the kernel asked for, for that drawing, deletes."""
    import numpy as np

    import digitlib
    from digitlib.dashboard.render import png_bytes
    from digitlib.store import DrawingStore

    drawings = DrawingStore(digitlib.open_store(str(door_server.store)))
    record = drawings.save(png_bytes(np.full((20, 20), 255, np.uint8)), "1")
    kernel = open_page(door_server.url)
    with KernelSocket(door_server.url, kernel) as page:
        assert "Operator mode" in unlock(page, TEST_OPERATOR_SECRET)
        states = page.widget_states()
        status = page.find_widget(states, css_class="digitlib-status")
        confirm = page.find_widget(states, css_class="digitlib-confirm-delete")
        layout = states[confirm]["layout"].removeprefix("IPY_MODEL_")
        assert states[layout]["display"] == "none"  # the page does not show it
        page.wait_until_done(page.click(confirm))
        refused = page.state(status)["value"]
        assert record.id in {r.id for r in drawings.list()}
        page.wait_until_done(page.click(page.find_widget(states, description="Delete")))
        page.wait_until_done(page.click(confirm))
        deleted = page.state(status)["value"]
    assert "Nothing was done" in refused, refused
    assert "deleted" in deleted and record.id not in {r.id for r in drawings.list()}, deleted
    door_server.wait_for_pool()


def test_wrong_secrets_on_one_page_lock_every_page_of_the_server(door_server):
    """Every page has a kernel, a process, of its own: the lockout must hold across them."""
    first, second = open_page(door_server.url), open_page(door_server.url)
    assert first != second
    with KernelSocket(door_server.url, first) as page:
        said = [unlock(page, "a wrong guess") for _ in range(5)]
        assert all("not the operator secret" in status for status in said), said
        assert "too many wrong secrets" in unlock(page, "another guess")
    with KernelSocket(door_server.url, second) as other_page:
        status = unlock(other_page, TEST_OPERATOR_SECRET)
    assert "Not unlocked: too many wrong secrets: try again in" in status, status


def test_a_v1_frame_that_claims_too_many_parts_does_not_hang_the_server(door_server):
    """A v1 frame starts with its count of offsets, 8 bytes: jupyter_server reads that many
    before it looks at the frame's length. A frame of 16 bytes claiming 2**62 must be dropped."""
    kernel = open_page(door_server.url)
    with KernelSocket(door_server.url, kernel) as socket:
        socket.send_raw((2**62).to_bytes(8, "little") + bytes(8))
        # The server reads a socket's frames in order: the answer to the next one shows that
        # it got past the malformed frame, and that the socket still serves.
        asked = socket.send("kernel_info_request", {})
        try:
            # The kernel's "busy" status on iopub answers the same request first: wait for the
            # reply itself.
            reply = socket.receive_until(
                lambda m: (
                    m.parent_header.get("msg_id") == asked and m.msg_type == "kernel_info_reply"
                ),
                10,
            )
        except TimeoutError:
            reply = None
        assert answers_within(f"{door_server.url}voila/static/voila.js", ANSWER_SECONDS), (
            "the server stopped answering after one malformed v1 frame"
        )
        assert reply is not None and reply.msg_type == "kernel_info_reply"
