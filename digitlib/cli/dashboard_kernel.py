"""A dashboard kernel's process: ipykernel's launcher without its debugger
(``digitlib.dashboard.kernel`` says why). The server's kernel spec starts it as
``python -m digitlib.cli.dashboard_kernel -f {connection_file}``."""

from __future__ import annotations

import sys

from digitlib.dashboard.kernel import LEFT_OUT


def main() -> None:
    for name in LEFT_OUT:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type] - None: "cannot be imported"
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
