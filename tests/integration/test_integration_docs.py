"""The console session of docs/connector.md runs as pasted, in a fresh directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "connector.md"
SECTION = "## A data space on one machine"


def session_script(markdown: str) -> str:
    """The section's console blocks as one bash script: prompts stripped, the rest (here
    documents) kept as typed."""
    start = markdown.index(SECTION)
    end = markdown.find("\n## ", start + len(SECTION))
    section = markdown[start : end if end != -1 else None]
    blocks = re.findall(r"```console\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, f"no console blocks under {SECTION!r}"
    lines = []
    for block in blocks:
        for line in block.splitlines():
            lines.append(line[2:] if line.startswith("$ ") else line)
    return "\n".join(lines) + "\n"


def test_the_one_machine_session_runs_as_pasted(tmp_path: Path) -> None:
    script = session_script(DOC.read_text(encoding="utf-8"))
    # Stop the daemons however the session ends, so that a failure leaves nothing running.
    guard = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    completed = subprocess.run(
        ["bash", "-c", guard + script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    report = f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    assert completed.returncode == 0, report
    assert "agreed: 'visits' from hospital" in completed.stdout, report
    assert "ok: hospital's audit log holds" in completed.stdout, report
    assert "Traceback" not in completed.stderr, report
