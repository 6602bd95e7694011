"""The tutorials run, in smoke mode, on the Python that runs the tests.

Each ``tutorials/*.ipynb`` is executed with nbclient, ``PYRO_VAE_SMOKE=1`` in the kernel's
environment and the tutorials folder as working directory; a cell that raises fails the test
(nbclient's ``CellExecutionError``). The kernel is started from a kernelspec written for
``sys.executable`` into a temporary folder, so it cannot pick up another Python's ``python3``.
"""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

TUTORIALS = pathlib.Path(__file__).resolve().parent.parent / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
SWAP_MARKER = "# swap the guide"
SWAP_MAX_LINES = 3


def code_cells(path: pathlib.Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def code_lines(source: str) -> list[str]:
    """The lines of a cell that are neither empty nor comments."""
    return [s for s in (line.strip() for line in source.splitlines()) if s and not s.startswith("#")]


@pytest.fixture
def kernel_manager(tmp_path) -> AsyncKernelManager:
    """A kernel manager whose ``python3`` kernel is ``sys.executable -m ipykernel_launcher``."""
    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)


def test_there_are_tutorials():
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_tutorial_runs_in_smoke_mode(path, kernel_manager, monkeypatch):
    monkeypatch.setenv("PYRO_VAE_SMOKE", "1")  # the kernel inherits the environment
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        km=kernel_manager,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(TUTORIALS)}},
    )
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable, end='')"))
    client.execute()  # raises CellExecutionError on the first cell that raises
    [output] = nb.cells[-1].outputs
    assert output["text"] == sys.executable, "the kernel ran on another Python than the tests"


def test_guide_swap_cell_is_short():
    """Swapping the guide takes at most three lines, in the cell marked ``# swap the guide``."""
    swaps = [(path.name, cell) for path in NOTEBOOKS for cell in code_cells(path) if SWAP_MARKER in cell]
    assert swaps, f"no tutorial has a code cell marked {SWAP_MARKER!r}"
    for name, cell in swaps:
        lines = code_lines(cell)
        assert len(lines) <= SWAP_MAX_LINES, f"{name}: the guide swap takes {len(lines)} lines:\n{cell}"
