"""Kernels are a budget: the dashboard server starts no more kernels than its machine holds.

Every ``GET /`` of a Voila page costs a kernel, a process of ~112 MiB resident, and stock Voila starts one
per request without limit; a kernel nobody connects to lives until the idle cull (600 s), so a
loop of GETs exhausts the machine's memory. Here:

- ``BudgetKernelManager`` caps the live kernels (``max_kernels``: the visitors', the preheated
  pool's and those starting or shutting down). A visitor's kernel beyond the cap is refused
  (``KernelBudgetSpent``); the pool's refill waits for room instead, so a freed slot goes to a
  preheated kernel first.
- A kernel handed to a page whose websocket never connects is shut down once it has been quiet
  for ``unconnected_kernel_timeout`` seconds; a kernel whose page connected once is left to the
  idle cull, as before. Pool kernels are never touched.
- ``BudgetVoilaHandler`` serves ``GET /`` only when a kernel can be had (a ready pool kernel, or
  room for a new one); otherwise it answers 503 with ``Retry-After`` and ``FULL_PAGE``, and
  starts nothing.

``digitlib.dashboard.serve`` runs ``python -m digitlib.cli.voila_server`` (Voila with this
handler) and passes the manager as ``--VoilaConfiguration.multi_kernel_manager_class``; the
server process imports this module, the kernels never do.
"""

from __future__ import annotations

import asyncio
import datetime
import os

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from tornado.ioloop import PeriodicCallback
from traitlets import Float, Integer, validate
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

#: Resident memory of one dashboard kernel once it has shown its page, in bytes: 112 MiB
#: (117.6 MB), measured on the development machine (25 GB, 2 cores): psutil's RSS of each kernel
#: of a served dashboard, pool and visitors alike, lean runtime; 68-72 MiB of it proportional
#: (PSS). It grows with use (110-160 MB after 50 readings, docs/experiments.md), which the
#: share leaves for.
KERNEL_MEMORY_BYTES = 112 * 2**20

#: The share of the machine's memory the default cap lets kernels take; the rest is for the
#: server, the operating system and the kernels' growth.
KERNEL_MEMORY_SHARE = 0.75

#: Seconds a refused visitor is told to wait (``Retry-After``).
RETRY_AFTER_SECONDS = 60

#: The page a visitor gets when every kernel is taken (HTTP 503).
FULL_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>digitlib: the dashboard is full</title></head>
<body>
<p>The dashboard is full, try again in a minute.</p>
</body>
</html>
"""


def default_max_kernels(
    memory_bytes: int,
    kernel_bytes: int = KERNEL_MEMORY_BYTES,
    share: float = KERNEL_MEMORY_SHARE,
) -> int:
    """How many kernels fit in ``memory_bytes`` of memory: ``share`` of it divided by
    ``kernel_bytes``, at least 1.

    >>> default_max_kernels(4 * 2**30)  # 4 GiB: 3 GiB for kernels of 112 MiB
    27
    """
    if memory_bytes <= 0:
        raise ValueError(f"memory_bytes must be positive, got {memory_bytes}")
    if kernel_bytes <= 0:
        raise ValueError(f"kernel_bytes must be positive, got {kernel_bytes}")
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    return max(1, int(memory_bytes * share // kernel_bytes))


def machine_memory_bytes() -> int:
    """The machine's physical memory in bytes (``sysconf``; POSIX)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class KernelBudgetSpent(RuntimeError):
    """A visitor's kernel was asked for while ``max_kernels`` kernels are live."""


#: What Voila puts in the environment of a kernel it starts for its preheated pool.
_PREHEAT_VARIABLE = "VOILA_PREHEAT"


class BudgetKernelManager(AsyncMappingKernelManager):
    """jupyter_server's kernel manager with a cap on live kernels and a deadline for a page to
    connect to the kernel it was given.

    Voila wraps it (``voila_kernel_manager_factory``) in its preheating manager, whose pool
    (``_pools``, Voila's own) this class reads to leave pool kernels alone.
    """

    max_kernels = Integer(
        default_value=0,
        config=True,
        help="Kernels live at once at most, the preheated pool's included (0: from the "
        "machine's memory, default_max_kernels).",
    )
    unconnected_kernel_timeout = Float(
        default_value=60.0,
        config=True,
        help="Seconds a kernel handed to a page may stay quiet with no websocket ever "
        "connected before it is shut down (0: never).",
    )

    @validate("max_kernels")
    def _check_max_kernels(self, proposal):
        if proposal["value"] < 0:
            raise ValueError(
                f"max_kernels must be 0 (from memory) or more, got {proposal['value']}"
            )
        return proposal["value"]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        source = "given"
        if self.max_kernels == 0:
            self.max_kernels = default_max_kernels(machine_memory_bytes())
            source = "from the machine's memory"
        self._reserved: set[str] = set()  # kernel ids being started, not yet in _kernels
        self._connected_once: set[str] = set()
        self._unconnected_since: dict[str, datetime.datetime] = {}
        self._room: asyncio.Condition | None = None
        self._closing = False
        self._watch: PeriodicCallback | None = None
        self.log.info("At most %d kernels live at once (%s)", self.max_kernels, source)

    # The budget ------------------------------------------------------------------------------

    def live_kernels(self) -> int:
        """Kernels that hold memory: started, starting or shutting down."""
        return len(set(self._kernels) | set(self._pending_kernels) | self._reserved)

    def has_room(self) -> bool:
        return self.live_kernels() < self.max_kernels

    def can_serve_page(self, notebook_path: str | None) -> bool:
        """Whether a page asked for now gets a kernel: a ready pool kernel is waiting (it is
        already counted), or there is room to start one."""
        if self.has_room():
            return True
        pool = getattr(self, "_pools", {}).get(notebook_path, [])
        return bool(pool) and _kernel_of(pool[0]) is not None

    def _pool_kernel_ids(self) -> set[str]:
        return {
            kernel_id
            for pool in getattr(self, "_pools", {}).values()
            for task in pool
            if (kernel_id := _kernel_of(task)) is not None
        }

    async def start_kernel(self, *args, **kwargs) -> str:
        if self._room is None:
            self._room = asyncio.Condition()
        self._start_watching()
        preheating = (kwargs.get("env") or {}).get(_PREHEAT_VARIABLE) == "True"
        async with self._room:
            while not self.has_room():
                if self._closing:
                    raise KernelBudgetSpent("the server is stopping")
                if not preheating:
                    raise KernelBudgetSpent(
                        f"{self.live_kernels()} kernels live, the most this server starts "
                        f"(--max-kernels {self.max_kernels})"
                    )
                # A pool kernel waits for a visitor's kernel to go, woken when one does; the
                # timeout re-checks in case a kernel leaves by a path that does not notify.
                try:
                    await asyncio.wait_for(self._room.wait(), timeout=5)
                except TimeoutError:
                    pass
            kernel_id = kwargs.get("kernel_id") or self.new_kernel_id()
            self._reserved.add(kernel_id)
        try:
            return await super().start_kernel(*args, **{**kwargs, "kernel_id": kernel_id})
        finally:
            self._reserved.discard(kernel_id)
            await self._notify_room()

    async def _notify_room(self) -> None:
        if self._room is not None:
            async with self._room:
                self._room.notify_all()

    async def shutdown_kernel(self, kernel_id: str, *args, **kwargs):
        try:
            return await super().shutdown_kernel(kernel_id, *args, **kwargs)
        finally:
            self._forget(kernel_id)
            await self._notify_room()

    def remove_kernel(self, kernel_id: str):
        # Also how a kernel that died is dropped; wake the waiting pool on the loop.
        removed = super().remove_kernel(kernel_id)
        self._forget(kernel_id)
        if self._room is not None:
            asyncio.ensure_future(self._notify_room())
        return removed

    async def shutdown_all(self, *args, **kwargs) -> None:
        self._closing = True
        if self._watch is not None:
            self._watch.stop()
        await self._notify_room()
        await super().shutdown_all(*args, **kwargs)

    # Pages that never connect ----------------------------------------------------------------

    def notify_connect(self, kernel_id: str) -> None:
        super().notify_connect(kernel_id)
        self._connected_once.add(kernel_id)
        self._unconnected_since.pop(kernel_id, None)

    def _forget(self, kernel_id: str) -> None:
        self._connected_once.discard(kernel_id)
        self._unconnected_since.pop(kernel_id, None)

    def _start_watching(self) -> None:
        if self._watch is None and self.unconnected_kernel_timeout > 0:
            interval = min(1.0, self.unconnected_kernel_timeout / 4)
            self._watch = PeriodicCallback(self.shut_down_unconnected, 1000 * interval)
            self._watch.start()

    async def shut_down_unconnected(self) -> None:
        """Shut down every kernel handed to a page that has not connected to it and has been
        quiet (no kernel output) for ``unconnected_kernel_timeout`` seconds."""
        now = datetime.datetime.now(datetime.UTC)  # as jupyter_server stamps activity
        limit = datetime.timedelta(seconds=self.unconnected_kernel_timeout)
        in_pool = self._pool_kernel_ids()
        for kernel_id in list(self._kernels):
            if (
                kernel_id in self._reserved
                or kernel_id in in_pool
                or kernel_id in self._connected_once
                or kernel_id in self._pending_kernels  # shutting down already
            ):
                continue
            handed_out = self._unconnected_since.setdefault(kernel_id, now)
            kernel = self._kernels[kernel_id]
            # A page is delivered once its kernel has run the notebook: count from its last
            # output, so a page still rendering under load is not cut off.
            quiet_since = max(handed_out, getattr(kernel, "last_activity", handed_out))
            if getattr(kernel, "execution_state", "") == "busy" or now - quiet_since < limit:
                continue
            self.log.warning(
                "Shutting down kernel %s: no page connected to it for %.0f s",
                kernel_id,
                self.unconnected_kernel_timeout,
            )
            try:
                await self.shutdown_kernel(kernel_id)
            except Exception:  # noqa: BLE001 - one kernel's failure must not stop the watch
                self.log.exception("Could not shut down unconnected kernel %s", kernel_id)


def _kernel_of(pool_task: asyncio.Future) -> str | None:
    """The kernel id of a Voila pool entry when it has one ready, else None."""
    if not pool_task.done() or pool_task.cancelled() or pool_task.exception() is not None:
        return None
    return pool_task.result().get("kernel_id")


class BudgetVoilaHandler(TornadoVoilaHandler):
    """Voila's page handler, answering 503 (``FULL_PAGE``) instead of starting a kernel beyond
    the budget."""

    @web.authenticated
    async def get(self, path=None):
        if self.notebook_path and path:  # a file beside the notebook: Voila redirects
            return await super().get(path)
        can_serve = getattr(self.kernel_manager, "can_serve_page", None)
        if can_serve is not None and not can_serve(self.notebook_path):
            return self._refuse()
        try:
            await super().get(path)
        except KernelBudgetSpent:
            if self._headers_written:  # pragma: no cover - refused before any output
                raise
            self._refuse()

    def _refuse(self) -> None:
        self.log.warning("Refused a page: the dashboard is full (%s)", self.request.remote_ip)
        self.clear()
        self.set_status(503)
        self.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(FULL_PAGE)


class BudgetVoila(Voila):
    """Voila serving its notebook with ``BudgetVoilaHandler``."""

    def init_handlers(self) -> list:
        return [
            (rule[0], BudgetVoilaHandler, *rule[2:])
            if len(rule) > 1 and rule[1] is TornadoVoilaHandler
            else rule
            for rule in super().init_handlers()
        ]
