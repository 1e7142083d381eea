"""The dashboard server's kernel websockets: the v1 framing only.

jupyter_server still accepts a kernel websocket opened without a subprotocol and then frames the
kernel's messages in its legacy binary format (a 4-byte big-endian count). Voila 0.5's websocket
handler reads every binary frame as v1 (an 8-byte little-endian count) to drop ``execute_input``:
one widget message whose reply carries buffers (a click on Clear, which redraws the canvas) then
makes it loop about 5.8e17 times, and the server's only thread never serves anyone again. Browsers
ask for v1 (``@jupyterlab/services``), so a socket that does not is refused before it opens.

``digitlib.dashboard.serve`` passes ``V1KernelConnection`` to Voila
(``--Voila.kernel_websocket_connection_class``); the server process imports this module, the
kernels never do.
"""

from __future__ import annotations

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado import web

#: The kernel websocket subprotocol browsers ask for, the only framing the dashboard speaks.
KERNEL_PROTOCOL = "v1.kernel.websocket.jupyter.org"


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
