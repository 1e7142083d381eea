"""The dashboard's kernels: ipykernel without its debugger.

A visitor of the dashboard never debugs its kernel, yet ipykernel imports debugpy and about 100
of its pydevd modules at every start unless debugpy cannot be imported, in which case the kernel
runs without the debugger (``ipykernel.debugger``). Left out, a kernel starts in 0.18 s of CPU
instead of 0.23 s, with 44 MB resident instead of 51 MB and 478 modules instead of 616: about
1 CPU second and 170 MB for a class of 20 arriving at once on one machine (24 kernels with the
pool's refill).

The dashboard server (``digitlib.dashboard.serve``) puts ``share`` first on ``JUPYTER_PATH`` for
its own process only, so its ``kernels/python3/kernel.json`` starts the notebook's kernels here:
``python -m digitlib.cli.dashboard_kernel -f {connection_file}`` (``KERNEL_MODULE``). Everything else is ipykernel's
launcher, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The module a dashboard kernel's process runs.
KERNEL_MODULE = "digitlib.cli.dashboard_kernel"

#: Packages a dashboard kernel never imports; importing one raises ``ModuleNotFoundError``.
LEFT_OUT = ("debugpy",)


def is_kernel_command(command: Sequence[str]) -> bool:
    """Whether a process's command line (``psutil.Process.cmdline()``) is a Jupyter kernel's:
    one started here or by ipykernel's own launcher."""
    return any(part == KERNEL_MODULE or "ipykernel" in part for part in command)
