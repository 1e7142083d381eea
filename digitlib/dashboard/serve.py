"""Serve the dashboard notebook with Voila: ``python -m digitlib.dashboard.serve --port 8866``.

Kernels are preheated (a small pool runs the notebook before anyone asks, so a visitor does not
wait for the models to load), idle kernels whose page is gone are culled, sources are stripped,
and every asset comes from the installed packages (no CDN). Kernels are a budget
(``digitlib.dashboard.budget``): at most ``--max-kernels`` live at once, beyond which a visitor gets
a 503 "the dashboard is full" page and no kernel, and a kernel whose page never connects is shut
down after ``--unconnected-kernel-timeout`` seconds. A kernel reads drawings through the
models' inference files and imports TensorFlow only when its visitor first asks it to learn
(``--runtime keras`` reads with TensorFlow instead, to compare). It listens on localhost unless ``--host`` says otherwise: exposing it
(``--host 0.0.0.0``) is a choice to make knowingly, as anyone who reaches the port can teach the
shared models.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from digitlib.config import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "dashboard.ipynb"

#: The kernel websocket connection the server uses: v1 framing only (``digitlib.dashboard.channels``
#: says why: one legacy-framed widget message hangs Voila 0.5).
KERNEL_CONNECTION = "digitlib.dashboard.channels.V1KernelConnection"

#: The kernel manager: jupyter_server's, with a cap on live kernels (``digitlib.dashboard.budget``).
KERNEL_MANAGER = "digitlib.dashboard.budget.BudgetKernelManager"

#: The server's entry point: Voila with the page handler that refuses pages beyond the cap.
VOILA_MODULE = "digitlib.cli.voila_server"

#: How long Voila waits for a cell's output after the kernel has answered (nbclient's default 4).
IOPUB_TIMEOUT_SECONDS = 60

#: Holds ``voila/templates/digitlib`` (the lab template minus its CDN stylesheets) and
#: ``kernels/python3`` (the notebook's kernels, started by ``digitlib.cli.dashboard_kernel``); first
#: on the server's ``JUPYTER_PATH``.
TEMPLATES_ROOT = Path(__file__).resolve().parent / "share"


def voila_command(
    host: str = "localhost",
    port: int = 8866,
    *,
    pool_size: int = 4,
    cull_idle_seconds: int = 600,
    max_kernels: int = 0,
    unconnected_kernel_seconds: float = 60,
    notebook: Path = NOTEBOOK,
    python: str = sys.executable,
) -> list[str]:
    """The Voila command line that serves ``notebook``.

    ``cull_idle_seconds``: a kernel idle that long with no page connected is shut down (Jupyter
    server's own culling; 0 turns it off), so a class that leaves frees its memory.
    ``max_kernels``: kernels live at once at most, the pool's included (0: as many as fit in
    the machine's memory, ``digitlib.dashboard.budget.default_max_kernels``).
    ``unconnected_kernel_seconds``: a kernel handed to a page that never connects to it is shut
    down after that long quiet (0: never).
    """
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, got {port}")
    if pool_size < 0:
        raise ValueError(f"pool_size must be 0 (no preheating) or more, got {pool_size}")
    if cull_idle_seconds < 0:
        raise ValueError(f"cull_idle_seconds must be 0 (never) or more, got {cull_idle_seconds}")
    if max_kernels < 0:
        raise ValueError(f"max_kernels must be 0 (from memory) or more, got {max_kernels}")
    if 0 < max_kernels < pool_size:
        raise ValueError(
            f"max_kernels ({max_kernels}) is below pool_size ({pool_size}): the pool could "
            "never fill; raise max_kernels or lower pool_size"
        )
    if unconnected_kernel_seconds < 0:
        raise ValueError(
            f"unconnected_kernel_seconds must be 0 (never) or more, got {unconnected_kernel_seconds}"
        )
    return [
        python,
        "-m",
        VOILA_MODULE,
        str(notebook),
        "--no-browser",
        f"--Voila.ip={host}",
        f"--port={port}",
        f"--preheat_kernel={pool_size > 0}",
        f"--pool_size={pool_size}",
        "--strip_sources=True",
        "--show_tracebacks=False",
        f"--Voila.kernel_websocket_connection_class={KERNEL_CONNECTION}",
        f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER}",
        f"--BudgetKernelManager.max_kernels={max_kernels}",
        f"--BudgetKernelManager.unconnected_kernel_timeout={unconnected_kernel_seconds}",
        # Refill the pool soon after a visitor takes a kernel, but not while their page loads.
        "--VoilaKernelManager.fill_delay=3",
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
        f"--MappingKernelManager.cull_interval={max(1, min(60, cull_idle_seconds // 2 or 60))}",
        "--MappingKernelManager.cull_connected=False",
        # When a class arrives at once the kernels' output can trail their execute reply by many
        # seconds; nbclient's default 4 s wait then drops the cell's widget output and the page
        # shows "Loading widget..." forever ("Timeout waiting for IOPub output" in the log).
        f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT_SECONDS}",
        "--theme=light",
        "--template=digitlib",
    ]


def voila_environment(
    environ: dict[str, str] | None = None, runtime: str | None = None
) -> dict[str, str]:
    """The environment for Voila: our template on ``JUPYTER_PATH``, TensorFlow's logs quiet (it
    loads for learning), and ``DIGITLIB_RUNTIME`` when ``runtime`` is given."""
    env = dict(os.environ if environ is None else environ)
    if runtime is not None:
        env["DIGITLIB_RUNTIME"] = runtime
    env["JUPYTER_PATH"] = os.pathsep.join(
        part for part in (str(TEMPLATES_ROOT), env.get("JUPYTER_PATH", "")) if part
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Every visitor has a kernel of their own: one BLAS thread each, or a class's kernels spin
    # against each other for the same cores.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(variable, "1")
    return env


def compile_package() -> bool:
    """Write the bytecode of digitlib's modules where it is missing or stale; True when all
    compiled (False, and nothing raised, where the package's folder is read-only).

    Every kernel imports the package. Where Python is told not to write bytecode
    (``PYTHONDONTWRITEBYTECODE=1``, as in this project's machines' environment) and nothing
    wrote it before, each kernel compiled its ~30 modules from source again: 0.05 s of CPU a
    kernel, about 1 s for a class of 20 arriving at once. ``compileall`` writes it regardless.
    """
    import compileall

    package = Path(__file__).resolve().parent.parent
    try:
        return bool(compileall.compile_dir(package, quiet=1))
    except OSError:
        return False


if __name__ == "__main__":  # the deployed command line: ``python -m digitlib.dashboard.serve``
    from digitlib.cli.serve import main

    raise SystemExit(main())
