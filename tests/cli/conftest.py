"""Running ``tds`` in-process for the CLI tests, from a fresh working directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tds.cli import app

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run("node", "show", ...)``: the tds command's result, run in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    for variable in ("TDS_CA", "TDS_CA_PASSPHRASE"):
        monkeypatch.delenv(variable, raising=False)
    runner = CliRunner()

    def invoke(
        *args: object, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return runner.invoke(app, [str(arg) for arg in args], input=input, env=env)

    return invoke


@pytest.fixture
def run_json(run: Run) -> Callable[..., Any]:
    """``run_json("ca", "list")``: the JSON the command printed with ``--json``; it must
    succeed."""

    def invoke(*args: object, input: str | None = None) -> Any:
        result = run(*args, "--json", input=input)
        assert result.exit_code == 0, result.stderr or result.stdout
        return json.loads(result.stdout)

    return invoke
