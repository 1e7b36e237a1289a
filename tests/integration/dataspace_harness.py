"""A data space of real nodes: the `tds` command and connector daemons in their own processes.

Each node is a directory made by `tds node init`; its daemon is `tds connector serve` in a
subprocess, on a port picked free, stopped with SIGTERM as an operator would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

COMMAND_TIMEOUT_S = 60
START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


def tds(*args: str, cwd: Path, check: bool = True) -> Result:
    """Run the `tds` command as a user would, in ``cwd``."""
    completed = subprocess.run(
        [sys.executable, "-m", "tds.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        env={**os.environ, "COLUMNS": "200"},
    )
    result = Result(completed.returncode, completed.stdout, completed.stderr)
    if check and result.returncode != 0:
        raise AssertionError(
            f"tds {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@dataclass
class Daemon:
    """A node's `tds connector serve` process."""

    process: subprocess.Popen[str]
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""


@dataclass
class Node:
    name: str
    directory: Path
    port: int
    space: DataSpace
    daemon: Daemon | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def tds(self, *args: str, check: bool = True) -> Result:
        """A `tds` command run as this node (`--dir` added)."""
        return tds(*args, "--dir", str(self.directory), cwd=self.space.root, check=check)

    def tds_json(self, *args: str) -> object:
        return self.tds(*args, "--json").json()

    def start(self, *extra: str) -> Daemon:
        """Start the daemon and wait until its health service answers."""
        assert self.daemon is None or self.daemon.process.poll() is not None
        log = self.directory / "daemon.log"
        output = log.open("a", encoding="utf-8")
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tds.cli", "connector", "serve"),
                *("--dir", str(self.directory), *extra),
            ],
            cwd=self.space.root,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output.close()
        self.daemon = Daemon(process, log)
        self.space.daemons.append(self.daemon)
        status = self.tds("status", "--wait", str(START_TIMEOUT_S), "--json", check=False)
        if process.poll() is not None or status.returncode != 0:
            raise AssertionError(
                f"{self.name}'s daemon did not start (exit code {process.poll()}):\n"
                f"{self.daemon.log_text()}\n{status.stdout}{status.stderr}"
            )
        return self.daemon

    def stop(self) -> int:
        assert self.daemon is not None
        return self.daemon.stop()


@dataclass
class DataSpace:
    root: Path
    ca: Path
    nodes: dict[str, Node] = field(default_factory=dict)
    daemons: list[Daemon] = field(default_factory=list)

    def add_node(self, name: str) -> Node:
        node = Node(name, self.root / name, free_port(), self)
        tds(
            "node",
            "init",
            name,
            "--dir",
            str(node.directory),
            "--port",
            str(node.port),
            "--ca",
            str(self.ca),
            cwd=self.root,
        )
        for other in self.nodes.values():
            node.tds("node", "peer", "add", other.name, other.address)
            other.tds("node", "peer", "add", name, node.address)
        self.nodes[name] = node
        return node

    def close(self) -> None:
        for daemon in self.daemons:
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.stop(timeout=10)
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait()


VISITS_TOML = """\
id = "visits"
title = "Outpatient visits 2025"
sector = "healthcare"
description = "One row per visit."
counter_offers = {counter_offers}

[source]
csv = "visits.csv"

[columns]
patient_id = "string"
cost = "decimal"

[policy]
template = "healthcare.medical_research"
min_cohort = 10
"""


def write_dataset(node: Node, *, counter_offers: bool = False) -> Path:
    """A dataset description in the node's directory, with its CSV next to it."""
    (node.directory / "visits.csv").write_text("patient_id,cost\np1,120.50\n", encoding="utf-8")
    path = node.directory / "visits.toml"
    path.write_text(
        VISITS_TOML.format(counter_offers=str(counter_offers).lower()), encoding="utf-8"
    )
    return path
