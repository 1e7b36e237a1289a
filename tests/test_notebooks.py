"""The example notebooks run top to bottom, as a pilot team runs them, and leave nothing behind.

Each notebook starts its own local data space; executing it here (with nbclient, in a fresh
kernel) fails on any error in any cell. They are kept without outputs, so that the repository
holds what people edit, not what one run printed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXAMPLES = Path(__file__).parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
TIMEOUT_S = 300


def _execute(notebook: nbformat.NotebookNode, directory: Path) -> None:
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(directory)}},
    )
    client.execute()


def test_there_is_a_notebook_per_sector() -> None:
    assert [path.stem for path in NOTEBOOKS] == ["healthcare", "ocean", "power"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_is_kept_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_without_an_error(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    _execute(notebook, tmp_path)
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    # Tables and plots came out, not only text.
    kinds = {kind for output in outputs for kind in output.get("data", {})}
    assert {"text/html", "image/png"} <= kinds
    assert notebook.cells[-1].source == "space.stop()"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def test_a_failing_cell_still_stops_the_daemons_and_removes_the_space(tmp_path: Path) -> None:
    notebook = nbformat.read(EXAMPLES / "healthcare.ipynb", as_version=4)
    starts = next(
        i for i, cell in enumerate(notebook.cells) if "LocalDataSpace.start" in cell.source
    )
    report = nbformat.v4.new_code_cell(
        "import json\n"
        "print(json.dumps({'pids': [d.pid for d in space._daemons.values()],"
        " 'directory': str(space.directory)}))"
    )
    failing = nbformat.v4.new_code_cell("raise RuntimeError('a cell failed')")
    notebook.cells[starts + 1 : starts + 1] = [report, failing]
    with pytest.raises(CellExecutionError, match="a cell failed"):
        _execute(notebook, tmp_path)
    started = json.loads(notebook.cells[starts + 1].outputs[0].text)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in started["pids"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in started["pids"])
    assert not Path(started["directory"]).exists()
