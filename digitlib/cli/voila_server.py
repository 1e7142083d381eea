"""The dashboard server's process: Voila serving its notebook through
``digitlib.dashboard.budget.BudgetVoila`` (the kernel cap and the 503 page). ``digitlib.dashboard.serve``
starts it as ``python -m digitlib.cli.voila_server``; Voila imports the kernel manager by name
from ``digitlib.dashboard.budget``, so that module is imported, never run as ``__main__`` (a
second copy of its classes would raise a ``KernelBudgetSpent`` the handler does not catch)."""

from __future__ import annotations


def main() -> None:
    from digitlib.dashboard.budget import BudgetVoila

    BudgetVoila.launch_instance()


if __name__ == "__main__":
    main()
