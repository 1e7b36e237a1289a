"""A local data space: real daemons that start, answer, and never outlive their program."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tds.connector import LocalDataSpace
from tds.connector import _local as local
from tds.errors import ConfigError, PeerUnavailableError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not reaped yet is a zombie: gone for our purposes.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def _wait_gone(pids: list[int], seconds: float = 30) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [pid for pid in pids if _alive(pid)]
        if not left:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def test_a_space_starts_its_daemons_answers_and_cleans_up() -> None:
    space = LocalDataSpace.start(["north-node", "south-node"], name="Test space")
    try:
        assert space.running == ("north-node", "south-node")
        with space.client("north-node") as north:
            assert north.catalog("south-node") == []
        assert "Test space" in repr(space)
    finally:
        space.stop()
    assert space.running == ()
    assert not space.directory.exists()
    space.stop()  # a second stop does nothing


def test_a_space_given_a_directory_leaves_it_in_place(tmp_path: Path) -> None:
    with LocalDataSpace(["only-node"], directory=tmp_path / "space") as space:
        assert (tmp_path / "space" / "only-node" / "node.toml").exists()
    assert (tmp_path / "space" / "ca").is_dir()
    with pytest.raises(ConfigError, match="stopped"):
        space.client("only-node")


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([], "a list of node names"),
        ("north-node", "a list of node names"),
        (["a-node", "a-node"], "appears twice"),
        (["Not A Name"], "node name"),
    ],
)
def test_bad_node_lists_are_refused_before_anything_starts(nodes: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LocalDataSpace(nodes)  # type: ignore[arg-type]


def test_a_node_outside_the_space_is_refused(tmp_path: Path) -> None:
    space = LocalDataSpace(["only-node"], directory=tmp_path)
    with pytest.raises(ConfigError, match="'elsewhere' is not a node of this data space"):
        space.config("elsewhere")


def test_a_daemon_that_cannot_start_is_reported_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: LocalDataSpace, config: object) -> subprocess.Popen[bytes]:
        log = Path(config.directory) / "daemon.log"  # type: ignore[attr-defined]
        log.write_text("error: the port is taken\n")
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])

    monkeypatch.setattr(LocalDataSpace, "_spawn", broken)
    with pytest.raises(PeerUnavailableError, match="the port is taken"):
        LocalDataSpace.start(["only-node"], directory=tmp_path / "space")


PROGRAM = """
import json, os, sys
from tds.connector import LocalDataSpace
space = LocalDataSpace.start(["north-node", "south-node"])
pids = [daemon.pid for daemon in space._daemons.values()]
print(json.dumps({"pids": pids, "directory": str(space.directory)}), flush=True)
{ending}
"""


def _run_program(ending: str) -> tuple[subprocess.Popen[str], dict]:
    program = PROGRAM.replace("{ending}", textwrap.dedent(ending))
    process = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    started = json.loads(process.stdout.readline())
    return process, started


def test_a_program_that_fails_after_starting_a_space_leaves_nothing_behind() -> None:
    process, started = _run_program("raise RuntimeError('a cell failed')")
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 1 and "a cell failed" in errors
    assert _wait_gone(started["pids"]) == []
    assert not Path(started["directory"]).exists()


def test_daemons_stop_when_their_program_is_killed_outright() -> None:
    process, started = _run_program("import time; time.sleep(600)")
    try:
        assert all(_alive(pid) for pid in started["pids"])
        process.send_signal(signal.SIGKILL)  # no atexit, no finally: only the pipes close
        process.wait(timeout=10)
        assert _wait_gone(started["pids"]) == []
    finally:
        for pid in started["pids"]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        # Killed outright, the program could not remove its directory: that is left to us.
        shutil.rmtree(started["directory"], ignore_errors=True)


def test_start_waits_no_longer_than_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def silent(self: LocalDataSpace, config: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])

    monkeypatch.setattr(LocalDataSpace, "_spawn", silent)
    monkeypatch.setattr(local, "START_TIMEOUT_SECONDS", 0.5)
    started = time.monotonic()
    with pytest.raises(PeerUnavailableError, match="did not start"):
        LocalDataSpace.start(["only-node"], directory=tmp_path / "space")
    assert time.monotonic() - started < 20
