"""The examples run as a user runs them: a fresh interpreter, the file as the main script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("hospital_admissions.py", "check: equals the plain sum"),
    ],
)
def test_example_runs_and_checks_itself(script: str, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    assert done.stderr == ""
