"""The command-line doors that are run as modules (``python -m digitlib.cli.X``): each starts,
knows its options and says what it does, without starting any server."""

from __future__ import annotations

import subprocess
import sys

import pytest

DOORS = {
    "digitlib.cli.cluster": "--max-kernels",
    "digitlib.cli.seaweedfs": "--bucket",
    "digitlib.cli.chromium": "--install",
    "digitlib.cli.serve": "--unconnected-kernel-timeout",
}


@pytest.mark.parametrize("module", sorted(DOORS))
def test_each_door_answers_help(module):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert DOORS[module] in done.stdout


def test_the_deployed_server_command_still_runs_the_same_door():
    """``python -m digitlib.dashboard.serve`` is what the deployment manifests run."""
    done = subprocess.run(
        [sys.executable, "-m", "digitlib.dashboard.serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--unconnected-kernel-timeout" in done.stdout
