"""``python -m digitlib.dashboard.serve`` (``make dashboard``, the deployment manifests): serve
the dashboard notebook with Voila, its settings made by ``digitlib.dashboard.serve``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from digitlib.dashboard.serve import (
    NOTEBOOK,
    compile_package,
    voila_command,
    voila_environment,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the digitlib dashboard with Voila.")
    parser.add_argument(
        "--host", default="localhost", help="interface to listen on (default: localhost)"
    )
    parser.add_argument("--port", type=int, default=8866)
    parser.add_argument(
        "--pool-size", type=int, default=4, help="preheated kernels kept ready (0: none)"
    )
    parser.add_argument(
        "--cull-idle-seconds",
        type=int,
        default=600,
        help="shut down a kernel idle this long with its page closed (0: never; default 600)",
    )
    parser.add_argument(
        "--max-kernels",
        type=int,
        default=0,
        help="kernels live at once at most, the pool's included; beyond it a visitor gets a "
        "503 'the dashboard is full' page (default 0: 3/4 of the machine's memory over "
        "112 MiB a kernel)",
    )
    parser.add_argument(
        "--unconnected-kernel-timeout",
        type=float,
        default=60,
        help="shut down a kernel whose page never connected to it after this many quiet "
        "seconds (0: never; default 60)",
    )
    parser.add_argument(
        "--runtime",
        choices=("lean", "keras"),
        default=None,
        help="how kernels read drawings: lean (inference files, no TensorFlow; default) or keras",
    )
    parser.add_argument(
        "--notebook",
        type=Path,
        default=NOTEBOOK,
        help="the notebook to serve with these settings (default: the dashboard; the crowd "
        "benchmark serves benchmarks/floor.ipynb to measure Voila and the browsers alone)",
    )
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        parser.error(f"--notebook {args.notebook}: no such notebook")
    try:
        command = voila_command(
            args.host,
            args.port,
            pool_size=args.pool_size,
            cull_idle_seconds=args.cull_idle_seconds,
            max_kernels=args.max_kernels,
            unconnected_kernel_seconds=args.unconnected_kernel_timeout,
            notebook=args.notebook.resolve(),
        )
    except ValueError as error:
        parser.error(str(error))
    env = voila_environment(runtime=args.runtime)
    compile_package()
    print(f"digitlib dashboard on http://{args.host}:{args.port}/", flush=True)
    os.execve(command[0], command, env)
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    raise SystemExit(main())
