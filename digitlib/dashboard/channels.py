"""The dashboard server's kernel websockets: the v1 framing only.

jupyter_server still accepts a kernel websocket opened without a subprotocol and then frames the
kernel's messages in its legacy binary format (a 4-byte big-endian count). Voila 0.5's websocket
handler reads every binary frame as v1 (an 8-byte little-endian count) to drop ``execute_input``:
one widget message whose reply carries buffers (a click on Clear, which redraws the canvas) then
makes it loop about 5.8e17 times, and the server's only thread never serves anyone again. Browsers
ask for v1 (``@jupyterlab/services``), so a socket that does not is refused before it opens,
and a v1 frame is checked before jupyter_server reads it (``v1_frame_problem``).

``digitlib.dashboard.serve`` passes ``V1KernelConnection`` to Voila
(``--Voila.kernel_websocket_connection_class``); the server process imports this module, the
kernels never do.
"""

from __future__ import annotations

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado import web

#: The kernel websocket subprotocol browsers ask for, the only framing the dashboard speaks.
KERNEL_PROTOCOL = "v1.kernel.websocket.jupyter.org"


def v1_frame_problem(frame: bytes | str) -> str:
    """What is wrong with a websocket frame a client sent in the v1 framing; '' when nothing.

    A v1 frame is binary: an 8-byte little-endian count N, then N 8-byte offsets (the channel
    and each part of the message end at them, in order, within the frame). jupyter_server reads
    the N offsets before it compares N with the frame's length, so a 16-byte frame claiming 2**62
    of them kept the server's only thread busy for good.
    """
    if not isinstance(frame, bytes):
        return "a text frame (the v1 framing is binary)"
    if len(frame) < 8:
        return f"{len(frame)} bytes, fewer than the 8 of its count"
    count = int.from_bytes(frame[:8], "little")
    if count < 2 or 8 * (count + 1) > len(frame):
        return f"a count of {count} offsets in a frame of {len(frame)} bytes"
    offsets = [
        int.from_bytes(frame[8 * (index + 1) : 8 * (index + 2)], "little")
        for index in range(count)
    ]
    if offsets[0] != 8 * (count + 1) or offsets != sorted(offsets) or offsets[-1] > len(frame):
        return "offsets that are out of order or beyond the frame"
    return ""


def offered_subprotocols(header: str | None) -> list[str]:
    """The subprotocols a websocket request offers, from its ``Sec-WebSocket-Protocol`` header
    (comma-separated, as RFC 6455 writes them); [] when there is none."""
    return [part.strip() for part in (header or "").split(",") if part.strip()]


class V1KernelConnection(ZMQChannelsWebsocketConnection):
    """jupyter_server's kernel connection, refusing a websocket that does not ask for v1.

    The refusal is an HTTP 400 before the handshake, so no kernel message is ever framed the
    legacy way; with v1 offered, jupyter_server selects it.
    """

    async def prepare(self) -> None:
        request = self.websocket_handler.request
        offered = offered_subprotocols(request.headers.get("Sec-WebSocket-Protocol"))
        if KERNEL_PROTOCOL not in offered:
            raise web.HTTPError(
                400,
                "kernel websocket without the %s subprotocol refused",
                KERNEL_PROTOCOL,
                reason=f"Kernel websockets must ask for the {KERNEL_PROTOCOL} subprotocol",
            )
        await super().prepare()

    def handle_incoming_message(self, incoming_msg: bytes | str) -> None:  # type: ignore[override]
        problem = v1_frame_problem(incoming_msg)
        if problem:
            # No browser sends one: drop it, keep the socket (and the server) serving.
            self.log.warning("Dropped a malformed kernel websocket frame: %s", problem)
            return
        super().handle_incoming_message(incoming_msg)
