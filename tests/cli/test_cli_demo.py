"""`tds demo SECTOR`: each sector's story runs end to end, checks itself and leaves nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tds import demo
from tds.errors import ConfigError

# What each story must say: its checks against the computation in the open, and its refusals
# with the rule that refused.
EXPECTED = {
    "healthcare": [
        "Check: the same totals as adding up both hospitals' tables in the open",
        "Check: the same count and total as a plain join",
        "'marketing/premium-pricing' is not a kind of 'medical-research'",
    ],
    "ocean": [
        "Check: the same totals as adding up both ranches' logs in the open",
        "Check: the same vessels as a plain intersection",
        "within the box west 120.75, south 36.2, east 120.95, north 36.4: the area asked for "
        "lies partly inside the box and partly outside",
        "is not at least 30 days",
    ],
    "power": [
        "the smallest cohort 1 is not at least 20",
        "Check: the same counts and totals as a plain join",
        "the epsilon spent including this use (1.5) is not at most 1",
    ],
}


def _tds(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tds.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp)},
        check=False,
    )


def test_every_sector_has_a_demo() -> None:
    assert set(demo.SECTORS) == set(EXPECTED)


@pytest.mark.parametrize("sector", sorted(EXPECTED))
def test_the_demo_tells_its_story_checks_it_and_cleans_up(sector: str, tmp_path: Path) -> None:
    done = _tds("demo", sector, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    for line in EXPECTED[sector]:
        assert line in " ".join(done.stdout.split()), line
    assert "All 3 daemons stopped; the data space is removed." in done.stdout
    # Numbered steps in order, and no progress bar noise when not on a terminal.
    steps = [int(number) for number in re.findall(r"^(\d+)\. ", done.stdout, re.MULTILINE)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 5
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_sector_is_refused_with_the_choices(tmp_path: Path) -> None:
    done = _tds("demo", "agriculture", tmp=tmp_path)
    assert done.returncode == 2
    assert "healthcare" in done.stderr and "power" in done.stderr


def test_run_refuses_an_unknown_sector_before_starting_anything() -> None:
    with pytest.raises(ConfigError, match="no demo for 'agriculture'"):
        demo.run("agriculture", echo=lambda line: None)
