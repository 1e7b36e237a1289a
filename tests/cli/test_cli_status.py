"""``tds status``: what a node needs next, whether its daemon answers, what it holds."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import Result

from tds.connector import CertificateAuthority, NodeConfig, enroll_node, install_crl
from tds.connector._daemon import Daemon
from tds.connector._negotiation import Negotiations

Run = Callable[..., Result]
RunJson = Callable[..., Any]
# Nothing listens on port 1 of this machine: a daemon configured there is not running.
UNUSED_PORT = 1


@pytest.fixture
def ca(run: Run, tmp_path: Path) -> Path:
    assert run("ca", "init", "--dir", "CA").exit_code == 0
    return tmp_path / "CA"


@pytest.fixture
def alice(run: Run, ca: Path, tmp_path: Path) -> Path:
    result = run("node", "init", "alice", "--dir", "alice", "--ca", ca, "--port", UNUSED_PORT)
    assert result.exit_code == 0, result.stderr
    return tmp_path / "alice"


@contextlib.contextmanager
def daemon(directory: Path) -> Iterator[int]:
    """The daemon of the node in ``directory``, on a free port of 127.0.0.1."""
    config = dataclasses.replace(
        NodeConfig.load(directory), listen="127.0.0.1:0", max_workers=2, shutdown_grace_seconds=0
    )
    with Daemon(config) as running:
        yield running.port


def set_listen(directory: Path, port: int) -> None:
    config = NodeConfig.load(directory)
    dataclasses.replace(config, listen=f"127.0.0.1:{port}").write()


def make_node(
    tmp_path: Path, ca: Path, name: str, *, validity: dt.timedelta, now: dt.datetime | None = None
) -> Path:
    directory = tmp_path / name
    enroll_node(directory, name, CertificateAuthority.load(ca), validity=validity, now=now)
    NodeConfig(name=name, directory=directory, listen=f"127.0.0.1:{UNUSED_PORT}").write()
    return directory


def test_a_node_whose_daemon_is_not_running(run: Run, alice: Path) -> None:
    result = run("status", "--dir", alice)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Node alice ({alice / 'node.toml'}), listening on 127.0.0.1:1."
    assert lines[1].startswith("Certificate: valid until ")
    assert lines[1].endswith("days left).")
    assert lines[2].startswith("Revocation list: number 1, current until ")
    assert lines[3] == (
        f"Daemon: not running at 127.0.0.1:1: start it with `tds connector serve --dir {alice}`."
    )
    assert lines[4].startswith("Catalog: 0 dataset(s) published (`tds dataset publish FILE`")
    assert lines[-1].startswith("Peers: none yet (`tds node peer add NAME HOST:PORT")
    assert result.stderr == ""


def test_status_json(run_json: RunJson, alice: Path) -> None:
    facts = run_json("status", "--dir", alice)
    assert facts["name"] == "alice"
    assert facts["listen"] == "127.0.0.1:1"
    assert facts["daemon"]["state"] == "not running"
    assert facts["certificate"]["days_left"] in (364, 365)
    assert facts["certificate"]["expired"] is False
    assert dt.datetime.fromisoformat(facts["certificate"]["not_valid_after"]) > (
        dt.datetime.now(dt.UTC)
    )
    assert facts["crl"]["number"] == 1
    assert facts["crl"]["stale"] is False
    assert facts["activity"]["datasets"] == 0
    assert facts["warnings"] == []


def test_status_with_config(run_json: RunJson, alice: Path) -> None:
    assert run_json("status", "--config", alice / "node.toml")["name"] == "alice"


def test_a_running_daemon_answers(run: Run, run_json: RunJson, alice: Path) -> None:
    with daemon(alice) as port:
        set_listen(alice, port)
        facts = run_json("status", "--dir", alice)
        text = run("status", "--dir", alice).stdout
    assert facts["daemon"] == {"state": "serving", "address": f"127.0.0.1:{port}", "detail": ""}
    assert f"Daemon: serving at 127.0.0.1:{port}." in text.splitlines()


def test_another_node_on_the_port_is_not_this_daemon(
    run: Run, run_json: RunJson, alice: Path, ca: Path
) -> None:
    assert run("node", "init", "bob", "--dir", "bob", "--ca", ca).exit_code == 0
    with daemon(alice.parent / "bob") as port:
        set_listen(alice, port)
        facts = run_json("status", "--dir", alice)
    assert facts["daemon"]["state"] == "not verified"
    assert "not as node alice" in facts["daemon"]["detail"]


def test_wait_waits_for_the_daemon(run: Run, alice: Path) -> None:
    with daemon(alice) as port:
        set_listen(alice, port)
        result = run("status", "--dir", alice, "--wait", 5)
    assert result.exit_code == 0, result.stderr
    assert f"Daemon: serving at 127.0.0.1:{port}." in result.stdout


def test_wait_says_why_the_daemon_did_not_come_up(run: Run, alice: Path) -> None:
    result = run("status", "--dir", alice, "--wait", 0.3)
    assert result.exit_code == 1
    assert "Daemon: not running at 127.0.0.1:1" in result.stdout
    assert result.stderr.startswith(
        "error: node alice's daemon did not serve at 127.0.0.1:1 within 0.3 seconds "
        "(not running): start it"
    )
    assert run("status", "--dir", alice, "--wait", -1).exit_code == 2


def test_wait_for_a_node_without_a_certificate(run: Run) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    result = run("status", "--dir", "bob", "--wait", 0.1)
    assert result.exit_code == 1
    assert "cannot serve without a certificate" in result.stderr


def test_a_node_without_a_certificate(run: Run, run_json: RunJson) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    result = run("status", "--dir", "bob")
    assert result.exit_code == 0
    assert "Certificate: none yet, so the node cannot talk to peers." in result.stdout
    assert "Daemon:" not in result.stdout
    assert "warning: node bob has no certificate yet" in result.stderr
    facts = run_json("status", "--dir", "bob")
    assert (facts["certificate"], facts["crl"], facts["daemon"]) == (None, None, None)
    assert len(facts["warnings"]) == 1


def test_a_node_without_a_revocation_list(run: Run, ca: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    assert run("ca", "issue", "bob/node-csr.pem", "--ca", ca).exit_code == 0
    installed = run(
        "node", "install-cert", "bob-cert.pem", "--ca-cert", ca / "ca-cert.pem", "--dir", "bob"
    )
    assert installed.exit_code == 0
    result = run("status", "--dir", "bob")
    assert result.exit_code == 0
    assert "Revocation list: none installed, so the node cannot verify peers." in result.stdout
    assert "warning: no revocation list installed" in result.stderr


def test_a_certificate_about_to_expire_is_warned_of(run: Run, ca: Path, tmp_path: Path) -> None:
    directory = make_node(tmp_path, ca, "carol", validity=dt.timedelta(days=10))
    result = run("status", "--dir", directory)
    assert result.exit_code == 0
    assert "warning: node carol's certificate expires in 9 days" in result.stderr
    assert "--renew" in result.stderr
    assert "(9 days left)" in result.stdout


def test_an_expired_certificate(run: Run, run_json: RunJson, ca: Path, tmp_path: Path) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    directory = make_node(tmp_path, ca, "carol", validity=dt.timedelta(days=1), now=long_ago)
    result = run("status", "--dir", directory)
    assert result.exit_code == 0
    assert "Certificate: EXPIRED on " in result.stdout
    assert "warning: node carol's certificate expired on" in result.stderr
    assert run_json("status", "--dir", directory)["certificate"]["expired"] is True


def test_a_stale_revocation_list(run: Run, run_json: RunJson, ca: Path, alice: Path) -> None:
    authority = CertificateAuthority.load(ca)
    two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    install_crl(alice, authority.publish_crl(validity=dt.timedelta(days=1), now=two_days_ago))
    result = run("status", "--dir", alice)
    assert result.exit_code == 0
    assert "Revocation list: number 2, STALE since " in result.stdout
    assert "warning: the revocation list is stale since" in result.stderr
    assert "the node refuses every peer" in result.stderr
    assert run_json("status", "--dir", alice)["crl"]["stale"] is True


def test_a_revocation_list_about_to_go_stale(run: Run, ca: Path, alice: Path) -> None:
    install_crl(alice, CertificateAuthority.load(ca).publish_crl(validity=dt.timedelta(days=3)))
    result = run("status", "--dir", alice)
    assert result.exit_code == 0
    assert "warning: the revocation list goes stale on" in result.stderr


def test_listen_port_zero_cannot_be_checked(run_json: RunJson, alice: Path) -> None:
    set_listen(alice, 0)
    daemon_facts = run_json("status", "--dir", alice)["daemon"]
    assert daemon_facts["state"] == "unknown"
    assert "port 0" in daemon_facts["detail"]


def test_insecure_mode_is_warned_of(run_json: RunJson, alice: Path) -> None:
    config = NodeConfig.load(alice)
    dataclasses.replace(config, insecure=True).write()
    facts = run_json("status", "--dir", alice)
    assert any("TLS is off" in warning for warning in facts["warnings"])
    assert facts["daemon"]["state"] == "not running"


def test_published_datasets_are_counted(run: Run, run_json: RunJson, alice: Path) -> None:
    (alice.parent / "visits.csv").write_text("patient_id,cost\n")
    (alice.parent / "visits.toml").write_text(
        'id = "visits"\ntitle = "Visits"\nsector = "healthcare"\n'
        '[source]\ncsv = "visits.csv"\n'
        '[columns]\npatient_id = "string"\ncost = "decimal"\n'
        '[policy]\ntemplate = "healthcare.medical_research"\n'
    )
    published = run("dataset", "publish", "visits.toml", "--dir", alice)
    assert published.exit_code == 0, published.stderr
    assert run_json("status", "--dir", alice)["activity"]["datasets"] == 1
    assert "Catalog: 1 dataset(s) published." in run("status", "--dir", alice).stdout


def test_negotiations_and_agreements_are_counted_when_the_node_keeps_them(
    run: Run, run_json: RunJson, alice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [SimpleNamespace(state=state) for state in ("FINALIZED", "TERMINATED", "FINALIZED")]
    monkeypatch.setattr(Negotiations, "negotiations", lambda self: records, raising=False)
    monkeypatch.setattr(Negotiations, "agreements", lambda self: records[:2], raising=False)
    activity = run_json("status", "--dir", alice)["activity"]
    assert activity["negotiations"] == {"FINALIZED": 2, "TERMINATED": 1}
    assert activity["agreements"] == 2
    text = run("status", "--dir", alice).stdout
    assert "Negotiations: 2 FINALIZED, 1 TERMINATED." in text
    assert "Agreements: 2." in text


def test_the_entry_point_runs(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-m", "tds.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for command in ("ca", "node", "status", "connector", "dataset", "catalog"):
        assert command in completed.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "tds.cli", "status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: node.toml not found")
    assert "Traceback" not in missing.stderr
