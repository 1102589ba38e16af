"""The worked studies in notebooks/ still run against the package, and are saved run.

Each notebook is executed in memory with nbclient (kernel python3, from notebooks/ as
the working directory); any cell that raises fails the test with that cell's error.
The stored files are checked to carry their outputs (executed top to bottom, with
figures), so that what a reader sees on GitHub is what the code produces.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the kernel's colored tracebacks
EXPECTED = {"checkpoint_interval.ipynb", "topology_comparison.ipynb",
            "llama3_reliability.ipynb", "recovery_policies.ipynb"}


def images(nb: nbformat.NotebookNode) -> int:
    """How many image outputs the notebook's code cells hold."""
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])
               if any(kind.startswith("image/") for kind in output.get("data", {})))


def test_the_studies_are_there():
    assert {p.name for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_notebook_was_run_top_to_bottom_with_figures(path: Path):
    nb = nbformat.read(path, as_version=4)
    counts = [cell.execution_count for cell in nb.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), \
        f"{path.name}: not saved after a clean run top to bottom (counts {counts})"
    assert images(nb) >= 1, f"{path.name}: saved without its figures"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # start from a blank notebook: the figures must be re-made
        if cell.cell_type == "code":
            cell.outputs = []
    before = set(NOTEBOOK_DIR.rglob("*"))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell raised:\n{ANSI.sub('', str(exc))}", pytrace=False)
    assert images(nb) >= 1, f"{path.name}: no figure after execution"
    assert set(NOTEBOOK_DIR.rglob("*")) == before, f"{path.name} wrote into notebooks/"
