"""The exploratory notebooks run top to bottom, headless, and stay readable on GitHub.

Each notebook is executed in a fresh kernel with ``DIGITLIB_NOTEBOOK_SMALL=1`` (small samples,
see ``digitlib.explore.sizes``); a cell that raises fails the test with the cell's traceback.
The committed files keep the outputs of a full-size run, so they must stay small.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: The exploratory notebooks: numbered, so the dashboard's notebook is not among them.
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
MAX_BYTES = 2_000_000


def test_there_are_exploratory_notebooks():
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04"]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_top_to_bottom(path, monkeypatch):
    monkeypatch.setenv("DIGITLIB_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if one raises
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_notebook_has_outputs_and_is_small(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: rerun with smaller figures"
    notebook = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells and all(cell.execution_count is not None for cell in code_cells), (
        f"{path.name}: commit it with the outputs of a full run, every cell executed"
    )
    images = sum(
        "image/png" in output.get("data", {}) for cell in code_cells for output in cell.outputs
    )
    assert images >= 2, f"{path.name}: expected figures among the outputs"


def test_readme_lists_every_notebook():
    readme = (NOTEBOOKS_DIR / "README.md").read_text()
    linked = set(re.findall(r"\]\(([0-9][0-9]_[^)]+\.ipynb)\)", readme))
    assert linked == {path.name for path in NOTEBOOKS}
