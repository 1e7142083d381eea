"""A kernel websocket client for tests: what a page's widgets say to its kernel, without a browser.

``open_page`` asks the dashboard server for a page, as a browser does, and returns the id of the
kernel the server gave it. ``KernelSocket`` connects to that kernel's websocket (the real
``websockets`` client) in the v1 framing browsers use, or in jupyter_server's legacy framing
(JSON text out, a 4-byte big-endian count in binary frames), and speaks the widget protocol:
list the widgets' comms, read their state, set a value, click a button.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from websockets.sync.client import ClientConnection, connect

#: The subprotocol of the v1 framing (what ``@jupyterlab/services`` asks for).
V1 = "v1.kernel.websocket.jupyter.org"


def open_page(url: str, timeout: float = 60) -> str:
    """GET the dashboard page at ``url`` (as a browser does) and return its kernel's id."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        page = response.read().decode()
    found = re.search(r'"kernelId":\s*"([0-9a-f-]+)"', page)
    if found is None:
        raise ValueError(f"no kernel id in the page at {url} (is it a Voila page?)")
    return found.group(1)


@dataclass(frozen=True)
class Message:
    """One kernel message as the websocket delivered it."""

    channel: str
    header: dict
    parent_header: dict
    content: dict
    buffers: list[bytes] = field(default_factory=list)

    @property
    def msg_type(self) -> str:
        return self.header.get("msg_type", "")


class KernelSocket:
    """A websocket to kernel ``kernel_id`` of the server at ``url``.

    ``framing`` is ``"v1"`` (asks for the v1 subprotocol) or ``"legacy"`` (asks for none).
    Connecting raises ``websockets.exceptions.InvalidStatus`` when the server refuses.
    """

    def __init__(self, url: str, kernel_id: str, *, framing: str = "v1", timeout: float = 30):
        if framing not in ("v1", "legacy"):
            raise ValueError(f"framing must be 'v1' or 'legacy', got {framing!r}")
        self.framing = framing
        self.session = uuid.uuid4().hex
        address = url.replace("http://", "ws://", 1).rstrip("/")
        self._socket: ClientConnection = connect(
            f"{address}/api/kernels/{kernel_id}/channels?session_id={self.session}",
            subprotocols=[V1] if framing == "v1" else None,
            open_timeout=timeout,
            max_size=None,
            legacy=True,  # websockets' flag (return the connection, no context manager needed)
        )

    def __enter__(self) -> KernelSocket:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    @property
    def subprotocol(self) -> str | None:
        return self._socket.subprotocol

    def send(self, msg_type: str, content: dict, channel: str = "shell") -> str:
        """Send one message; returns its id."""
        header = {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "session": self.session,
            "username": "test",
            "date": "",
            "version": "5.3",
        }
        if self.framing == "v1":
            parts = [json.dumps(part).encode() for part in (header, {}, {}, content)]
            self._socket.send(serialize_msg_to_ws_v1(parts, channel))
        else:
            message = {"header": header, "parent_header": {}, "metadata": {}}
            self._socket.send(json.dumps({**message, "content": content, "channel": channel}))
        return header["msg_id"]

    def send_raw(self, frame: bytes | str) -> None:
        """Send one websocket frame as it is, well-formed or not."""
        self._socket.send(frame)

    def receive(self, timeout: float) -> Message:
        """The next message; ``TimeoutError`` when none came within ``timeout`` seconds."""
        data = self._socket.recv(timeout=timeout)
        if self.framing == "v1":
            channel, parts = deserialize_msg_from_ws_v1(data)
            header, parent, _metadata, content = (json.loads(part) for part in parts[:4])
            return Message(channel, header, parent, content, list(parts[4:]))
        message = json.loads(data) if isinstance(data, str) else deserialize_binary_message(data)
        return Message(
            message.get("channel", ""),
            message["header"],
            message["parent_header"],
            message["content"],
            list(message.get("buffers", [])),
        )

    def receive_until(self, matches, timeout: float = 30) -> Message:
        """Receive until a message for which ``matches(message)`` is true (others are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching message within {timeout} s")
            message = self.receive(left)
            if matches(message):
                return message

    def widget_states(self, timeout: float = 30) -> dict[str, dict]:
        """Every widget of the kernel: comm id -> its state (as a page asks on connecting)."""
        self.send("comm_info_request", {"target_name": "jupyter.widget"})
        reply = self.receive_until(lambda m: m.msg_type == "comm_info_reply", timeout)
        comms = set(reply.content["comms"])
        for comm_id in comms:
            self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})
        states: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        while set(states) != comms:
            message = self.receive_until(
                lambda m: m.msg_type == "comm_msg" and m.content["data"].get("method") == "update",
                max(0.001, deadline - time.monotonic()),
            )
            states[message.content["comm_id"]] = message.content["data"]["state"]
        return states

    def find_widget(self, states: dict[str, dict], **wanted: Any) -> str:
        """The comm id of the one widget whose state has every ``wanted`` item; a wanted
        ``css_class`` matches one of its ``_dom_classes``."""
        css_class = wanted.pop("css_class", None)
        found = [
            comm_id
            for comm_id, state in states.items()
            if all(state.get(key) == value for key, value in wanted.items())
            and (css_class is None or css_class in state.get("_dom_classes", []))
        ]
        if len(found) != 1:
            raise LookupError(f"{len(found)} widgets match {wanted} css_class={css_class!r}")
        return found[0]

    def state(self, comm_id: str, timeout: float = 30) -> dict:
        """One widget's current state, asked of the kernel."""
        self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})
        reply = self.receive_until(
            lambda m: (
                m.msg_type == "comm_msg"
                and m.content["comm_id"] == comm_id
                and m.content["data"].get("method") == "update"
            ),
            timeout,
        )
        return reply.content["data"]["state"]

    def wait_until_done(self, msg_id: str, timeout: float = 30) -> None:
        """Wait until the kernel has handled message ``msg_id`` (its ``idle`` status)."""
        self.receive_until(
            lambda m: (
                m.msg_type == "status"
                and m.parent_header.get("msg_id") == msg_id
                and m.content.get("execution_state") == "idle"
            ),
            timeout,
        )

    def set_value(self, comm_id: str, **state: Any) -> str:
        """Change a widget's state as the page does when its visitor types or picks."""
        data = {"method": "update", "state": state, "buffer_paths": []}
        return self.send("comm_msg", {"comm_id": comm_id, "data": data})

    def click(self, comm_id: str) -> str:
        """Click a button widget."""
        data = {"method": "custom", "content": {"event": "click"}}
        return self.send("comm_msg", {"comm_id": comm_id, "data": data})
