"""tds.progress: the report type and the ready-made tqdm bar."""

from __future__ import annotations

import io

import tds
from tds.progress import Progress, progress_bar


def test_the_bar_follows_each_stage_and_closes_when_it_completes() -> None:
    out = io.StringIO()
    report = progress_bar(file=out, mininterval=0)
    report(Progress("left", "own-points", 40, 100))
    report(Progress("left", "peer-points", 10, 50))
    report(Progress("left", "own-points", 100, 100))
    report(Progress("left", "peer-points", 50, 50))
    text = out.getvalue()
    assert "left: own-points" in text
    assert "100/100" in text
    assert "50/50" in text


def test_psi_reports_reach_the_bar() -> None:
    out = io.StringIO()
    tds.psi.run_local(["a", "b", "c"], ["b", "c"], workers=1, progress=progress_bar(file=out))
    assert "left: peer-points" in out.getvalue()
