"""``tds ca`` and the identity half of ``tds node``: admitting and expelling nodes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from typer.testing import Result

from tds.connector import (
    CertificateAuthority,
    NodeConfig,
    NodeIdentity,
    TrustStore,
    create_node,
)

Run = Callable[..., Result]
RunJson = Callable[..., Any]


@pytest.fixture
def ca(run: Run, tmp_path: Path) -> Path:
    result = run("ca", "init", "--dir", "CA", "--name", "Test Space")
    assert result.exit_code == 0, result.stderr
    return tmp_path / "CA"


def test_ca_init_says_what_it_made_and_what_comes_next(run: Run, tmp_path: Path) -> None:
    result = run("ca", "init", "--dir", "CA")
    assert result.exit_code == 0, result.stderr
    assert "Created the certificate authority of data space 'tds data space' in CA." in (
        result.stdout
    )
    assert "Keep it secret" in result.stdout
    assert "tds node init NAME --dir NODE" in result.stdout
    authority = CertificateAuthority.load(tmp_path / "CA")
    assert authority.data_space == "tds data space"
    assert (tmp_path / "CA" / "ca-key.pem").stat().st_mode & 0o077 == 0


def test_ca_init_json(run_json: RunJson, tmp_path: Path) -> None:
    facts = run_json("ca", "init", "--dir", "CA", "--name", "Ocean")
    authority = CertificateAuthority.load(tmp_path / "CA")
    assert facts["data_space"] == "Ocean"
    assert facts["crl_number"] == 1
    assert facts["encrypted"] is False
    assert facts["ca_certificate"] == "CA/ca-cert.pem"
    assert dt.datetime.fromisoformat(facts["not_valid_after"]) == (
        authority.certificate.not_valid_after_utc
    )
    assert len(facts["fingerprint_sha256"]) == 64


def test_ca_init_refuses_an_existing_ca(run: Run, ca: Path) -> None:
    result = run("ca", "init", "--dir", ca)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "already holds a CA" in result.stderr
    assert "Traceback" not in result.output


def test_ca_init_needs_a_directory(run: Run) -> None:
    result = run("ca", "init")
    assert result.exit_code == 2
    assert "--dir" in result.output


def test_a_bad_data_space_name_is_a_usage_error(run: Run) -> None:
    result = run("ca", "init", "--dir", "CA", "--name", " ")
    assert result.exit_code == 2
    assert "is not a data space name" in result.stderr


def test_an_encrypted_ca_asks_for_its_passphrase(run: Run, tmp_path: Path) -> None:
    result = run("ca", "init", "--dir", "CA", "--encrypt", input="sesame\nsesame\n")
    assert result.exit_code == 0, result.stderr
    CertificateAuthority.load(tmp_path / "CA", passphrase=b"sesame")
    assert run("ca", "list", "--ca", "CA", input="sesame\n").exit_code == 0
    wrong = run("ca", "list", "--ca", "CA", input="open\n")
    assert wrong.exit_code == 1
    assert "wrong passphrase" in wrong.stderr
    from_environment = run("ca", "list", "--ca", "CA", env={"TDS_CA_PASSPHRASE": "sesame"})
    assert from_environment.exit_code == 0, from_environment.stderr


def test_an_encrypted_ca_needs_matching_passphrases(run: Run, tmp_path: Path) -> None:
    result = run("ca", "init", "--dir", "CA", "--encrypt", input="one\ntwo\none\none\n")
    assert result.exit_code == 0, result.stderr
    CertificateAuthority.load(tmp_path / "CA", passphrase=b"one")


def test_node_init_without_a_ca_writes_a_request(run: Run, tmp_path: Path) -> None:
    result = run("node", "init", "alice", "--dir", "alice", "--port", "9000")
    assert result.exit_code == 0, result.stderr
    assert "Created node alice in alice, listening on 127.0.0.1:9000" in result.stdout
    assert "send node-csr.pem to the data space's CA operator" in result.stdout
    assert "(alice-cert.pem, ca-cert.pem, crl.pem) side by side" in result.stdout
    assert "tds node install-cert alice-cert.pem --dir alice" in result.stdout
    assert (tmp_path / "alice" / "node-csr.pem").exists()
    assert not (tmp_path / "alice" / "node-cert.pem").exists()
    config = NodeConfig.load(tmp_path / "alice")
    assert (config.name, config.listen) == ("alice", "127.0.0.1:9000")


def test_node_init_with_a_ca_is_ready_to_serve(run: Run, ca: Path, tmp_path: Path) -> None:
    result = run("node", "init", "alice", "--dir", "alice", "--ca", ca, "--host", "localhost")
    assert result.exit_code == 0, result.stderr
    assert "its certificate from data space 'Test Space'" in result.stdout
    assert "tds connector serve --dir alice" in result.stdout
    identity = NodeConfig.load(tmp_path / "alice").load_identity()
    assert identity.name == "alice"
    assert TrustStore.load(tmp_path / "alice").crl_number == 1
    assert NodeConfig.load(tmp_path / "alice").listen == "127.0.0.1:7443"


def test_node_init_json(run_json: RunJson, ca: Path, tmp_path: Path) -> None:
    facts = run_json("node", "init", "alice", "--dir", "alice", "--listen", "0.0.0.0:7000")
    assert facts["listen"] == "0.0.0.0:7000"
    assert facts["certificate_not_after"] is None
    assert facts["csr"] == "alice/node-csr.pem"
    enrolled = run_json("node", "init", "bob", "--dir", "bob", "--ca", ca)
    bob = NodeIdentity.load(tmp_path / "bob")
    assert dt.datetime.fromisoformat(enrolled["certificate_not_after"]) == bob.not_valid_after


def test_node_init_defaults_to_the_current_directory(run: Run, tmp_path: Path) -> None:
    assert run("node", "init", "alice").exit_code == 0
    assert NodeConfig.load(tmp_path).directory == tmp_path


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Alice"], "'Alice' is not a node name"),
        (["alice", "--port", "70000"], r"[node] listen must be HOST:PORT"),
        (["alice", "--listen", "nowhere"], r"[node] listen must be HOST:PORT"),
        (["alice", "--port", "1", "--listen", "h:1"], "give --port or --listen, not both"),
        (["alice", "--host", "*.example.org"], "'*.example.org' is not a host name"),
    ],
)
def test_node_init_refuses_bad_settings_and_writes_nothing(
    run: Run, tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = run("node", "init", *arguments, "--dir", "node")
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "node" / "node-key.pem").exists()
    assert not (tmp_path / "node" / "node.toml").exists()


def test_node_init_refuses_an_existing_node(run: Run, tmp_path: Path) -> None:
    assert run("node", "init", "alice", "--dir", "alice").exit_code == 0
    key = (tmp_path / "alice" / "node-key.pem").read_bytes()
    result = run("node", "init", "bob", "--dir", "alice")
    assert result.exit_code == 1
    assert "alice is a node already" in result.stderr
    assert (tmp_path / "alice" / "node-key.pem").read_bytes() == key
    (tmp_path / "alice" / "node.toml").unlink()
    again = run("node", "init", "alice", "--dir", "alice")
    assert again.exit_code == 1
    assert "a node key is never replaced" in again.stderr


def test_node_init_with_a_missing_ca(run: Run, tmp_path: Path) -> None:
    result = run("node", "init", "alice", "--dir", "alice", "--ca", "nowhere")
    assert result.exit_code == 1
    assert "is this a CA directory?" in result.stderr
    assert not (tmp_path / "alice" / "node-key.pem").exists()


def test_issue_and_install(run: Run, ca: Path, tmp_path: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    issued = run("ca", "issue", "bob/node-csr.pem", "--ca", ca)
    assert issued.exit_code == 0, issued.stderr
    assert "Issued node bob a certificate" in issued.stdout
    assert "in bob-cert.pem" in issued.stdout
    assert "tds node install-cert bob-cert.pem --dir NODE" in issued.stdout
    installed = run(
        "node",
        "install-cert",
        "bob-cert.pem",
        "--ca-cert",
        ca / "ca-cert.pem",
        "--crl",
        ca / "crl.pem",
        "--dir",
        "bob",
    )
    assert installed.exit_code == 0, installed.stderr
    assert "Installed node bob's certificate" in installed.stdout
    assert "revocation list number 1" in installed.stdout
    assert installed.stderr == ""
    assert NodeConfig.load(tmp_path / "bob").load_identity().name == "bob"


def test_issue_json_and_out(run_json: RunJson, run: Run, ca: Path, tmp_path: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    facts = run_json("ca", "issue", "bob/node-csr.pem", "--ca", ca, "--out", "b.pem", "--days", 7)
    assert facts["name"] == "bob"
    assert facts["certificate"] == "b.pem"
    not_after = dt.datetime.fromisoformat(facts["not_valid_after"])
    assert dt.timedelta(days=6) < not_after - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    assert (tmp_path / "b.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_the_ca_certifies_memberships(
    run_json: RunJson, run: Run, ca: Path, tmp_path: Path
) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    space, consortium = "urn:tds:space:healthcare", "urn:tds:consortium:harbour"
    facts = run_json(
        "ca", "issue", "bob/node-csr.pem", "--ca", ca, "--member", space, "--member", consortium
    )
    assert facts["memberships"] == [consortium, space]
    certificate = x509.load_pem_x509_certificate((tmp_path / "bob-cert.pem").read_bytes())
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert sorted(unit.value for unit in units) == [consortium, space]
    refused = run("ca", "issue", "bob/node-csr.pem", "--ca", ca, "--renew", "--member", "x")
    assert refused.exit_code == 2 and "a collection is an IRI" in refused.stderr


def test_a_second_certificate_needs_renew(run: Run, ca: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    assert run("ca", "issue", "bob/node-csr.pem", "--ca", ca).exit_code == 0
    again = run("ca", "issue", "bob/node-csr.pem", "--ca", ca)
    assert again.exit_code == 1
    assert "already holds certificate" in again.stderr
    assert run("ca", "issue", "bob/node-csr.pem", "--ca", ca, "--renew").exit_code == 0


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["missing.pem"], 2, "missing.pem not found: give the path of the node's certificate"),
        (["CA"], 2, "CA is a directory"),
        (["CA/ca-cert.pem"], 1, "not a PEM certificate signing request"),
        (["bob/node-csr.pem", "--days", "0"], 2, "--days must be 1 or more"),
    ],
)
def test_issue_refuses_bad_input(
    run: Run, ca: Path, arguments: list[str], code: int, message: str
) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    result = run("ca", "issue", *arguments, "--ca", ca)
    assert result.exit_code == code
    assert message in result.stderr


def test_the_ca_can_come_from_the_environment(run: Run, ca: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    result = run("ca", "issue", "bob/node-csr.pem", env={"TDS_CA": str(ca)})
    assert result.exit_code == 0, result.stderr


def test_install_cert_refuses_another_nodes_certificate(run: Run, ca: Path) -> None:
    assert run("node", "init", "alice", "--dir", "alice").exit_code == 0
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    assert run("ca", "issue", "bob/node-csr.pem", "--ca", ca).exit_code == 0
    result = run(
        "node", "install-cert", "bob-cert.pem", "--ca-cert", ca / "ca-cert.pem", "--dir", "alice"
    )
    assert result.exit_code == 2
    assert "is node bob's certificate, but" in result.stderr
    assert "install it in bob's directory" in result.stderr


def test_install_cert_needs_the_ca_certificate_the_first_time(run: Run, ca: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    assert run("ca", "issue", "bob/node-csr.pem", "--ca", ca).exit_code == 0
    result = run("node", "install-cert", "bob-cert.pem", "--dir", "bob")
    assert result.exit_code == 2
    assert "no ca-cert.pem next to bob-cert.pem: copy the data space's CA" in result.stderr


def test_install_cert_finds_the_ca_files_next_to_the_certificate(
    run: Run, ca: Path, tmp_path: Path
) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    nowhere = run("ca", "issue", "bob/node-csr.pem", "--ca", ca, "--out", "mail/bob.pem")
    assert nowhere.exit_code == 2
    assert "there is no directory mail; create it first" in nowhere.stderr
    (tmp_path / "mail").mkdir()
    assert (
        run("ca", "issue", "bob/node-csr.pem", "--ca", ca, "--out", "mail/bob.pem").exit_code == 0
    )
    for name in ("ca-cert.pem", "crl.pem"):
        (tmp_path / "mail" / name).write_bytes((ca / name).read_bytes())
    result = run("node", "install-cert", "mail/bob.pem", "--dir", "bob")
    assert result.exit_code == 0, result.stderr
    assert "and revocation list number 1." in result.stdout
    assert TrustStore.load(tmp_path / "bob").crl_number == 1


def test_install_cert_without_a_crl_warns(run: Run, ca: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    assert run("ca", "issue", "bob/node-csr.pem", "--ca", ca).exit_code == 0
    result = run(
        "node", "install-cert", "bob-cert.pem", "--ca-cert", ca / "ca-cert.pem", "--dir", "bob"
    )
    assert result.exit_code == 0, result.stderr
    assert "warning: no revocation list installed" in result.stderr
    assert "tds node install-crl crl.pem" in result.stderr


def test_a_renewal_reuses_the_installed_ca_certificate(run: Run, ca: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob", "--ca", ca).exit_code == 0
    assert run("ca", "issue", "bob/node-csr.pem", "--ca", ca, "--renew").exit_code == 0
    result = run("node", "install-cert", "bob-cert.pem", "--dir", "bob")
    assert result.exit_code == 0, result.stderr


def test_install_cert_refuses_a_certificate_from_another_ca(
    run: Run, ca: Path, tmp_path: Path
) -> None:
    other = CertificateAuthority.create(tmp_path / "other", "Other Space")
    assert run("node", "init", "bob", "--dir", "bob", "--ca", ca).exit_code == 0
    assert run("ca", "issue", "bob/node-csr.pem", "--ca", "other").exit_code == 0
    (tmp_path / "other-ca.pem").write_bytes(other.certificate_pem)
    result = run(
        "node", "install-cert", "bob-cert.pem", "--ca-cert", "other-ca.pem", "--dir", "bob"
    )
    assert result.exit_code == 1
    assert "already trusts another CA" in result.stderr


def test_revoke_publishes_the_list_and_says_how_to_install_it(
    run: Run, ca: Path, tmp_path: Path
) -> None:
    assert run("node", "init", "alice", "--dir", "alice", "--ca", ca).exit_code == 0
    assert run("node", "init", "bob", "--dir", "bob", "--ca", ca).exit_code == 0
    result = run("ca", "revoke", "bob", "--ca", ca, "--reason", "key leaked")
    assert result.exit_code == 0, result.stderr
    assert "Revoked 1 certificate(s) of node bob" in result.stdout
    assert "(number 2," in result.stdout
    assert "tds node install-crl crl.pem --dir NODE" in result.stdout
    assert "Until a node installs it, that node still accepts bob." in result.stdout
    record = json.loads((ca / "revocations.jsonl").read_text().splitlines()[-1])
    assert (record["name"], record["reason"]) == ("bob", "key leaked")

    installed = run("node", "install-crl", ca / "crl.pem", "--dir", "alice")
    assert installed.exit_code == 0, installed.stderr
    assert "Installed revocation list number 2" in installed.stdout
    assert "it revokes 1 certificate(s)" in installed.stdout
    assert TrustStore.load(tmp_path / "alice").crl_number == 2


def test_revoke_json_and_revoking_again(run: Run, run_json: RunJson, ca: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob", "--ca", ca).exit_code == 0
    first = run_json("ca", "revoke", "bob", "--ca", ca)
    assert len(first["revoked"]) == 1
    assert first["crl_number"] == 2
    second = run("ca", "revoke", "bob", "--ca", ca)
    assert second.exit_code == 0
    assert "were revoked already" in second.stdout


def test_revoke_an_unknown_node(run: Run, ca: Path) -> None:
    result = run("ca", "revoke", "carol", "--ca", ca)
    assert result.exit_code == 1
    assert result.stderr == "error: this CA never issued a certificate to node 'carol'\n"
    assert not (ca / "revocations.jsonl").exists()
    bad = run("ca", "revoke", "Carol", "--ca", ca)
    assert bad.exit_code == 2
    assert "is not a node name" in bad.stderr


def test_install_crl_refuses_an_older_list(run: Run, ca: Path, tmp_path: Path) -> None:
    assert run("node", "init", "alice", "--dir", "alice", "--ca", ca).exit_code == 0
    old = (ca / "crl.pem").read_bytes()
    assert run("ca", "publish-crl", "--ca", ca).exit_code == 0
    assert run("node", "install-crl", ca / "crl.pem", "--dir", "alice").exit_code == 0
    (tmp_path / "old.pem").write_bytes(old)
    result = run("node", "install-crl", "old.pem", "--dir", "alice")
    assert result.exit_code == 1
    assert "refusing to roll back" in result.stderr
    missing = run("node", "install-crl", "none.pem", "--dir", "alice")
    assert missing.exit_code == 2
    assert "none.pem not found" in missing.stderr


def test_publish_crl(run: Run, run_json: RunJson, ca: Path) -> None:
    result = run("ca", "publish-crl", "--ca", ca)
    assert result.exit_code == 0, result.stderr
    assert "Published revocation list number 2" in result.stdout
    facts = run_json("ca", "publish-crl", "--ca", ca, "--days", 3)
    assert facts["crl_number"] == 3
    next_update = dt.datetime.fromisoformat(facts["crl_next_update"])
    assert next_update - dt.datetime.now(dt.UTC) <= dt.timedelta(days=3)
    assert run("ca", "publish-crl", "--ca", ca, "--days", -1).exit_code == 2


def test_ca_list(run: Run, run_json: RunJson, ca: Path) -> None:
    empty = run("ca", "list", "--ca", ca)
    assert empty.exit_code == 0
    assert "No certificates issued yet" in empty.stdout
    assert run("node", "init", "alice", "--dir", "alice", "--ca", ca).exit_code == 0
    assert run("node", "init", "bob", "--dir", "bob", "--ca", ca).exit_code == 0
    assert run("ca", "revoke", "bob", "--ca", ca).exit_code == 0
    listed = run("ca", "list", "--ca", ca)
    assert "CA of data space 'Test Space': revocation list number 2, valid until" in (listed.stdout)
    lines = listed.stdout.splitlines()
    assert any(line.startswith("  alice  serial ") and "active" in line for line in lines)
    assert any(line.startswith("  bob  serial ") and "revoked on" in line for line in lines)
    facts = run_json("ca", "list", "--ca", ca)
    assert [(c["name"], c["status"]) for c in facts["certificates"]] == [
        ("alice", "active"),
        ("bob", "revoked"),
    ]
    assert facts["crl_stale"] is False
    assert facts["certificates"][1]["revoked_at"] is not None


def test_ca_list_shows_expired_certificates_and_a_stale_list(run: Run, ca: Path) -> None:
    authority = CertificateAuthority.load(ca)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    authority.issue(create_node(ca.parent / "old", "old"), now=long_ago)
    authority.publish_crl(validity=dt.timedelta(days=1), now=long_ago)
    listed = run("ca", "list", "--ca", ca)
    assert listed.exit_code == 0, listed.stderr
    assert "STALE since" in listed.stdout
    assert "tds ca publish-crl" in listed.stdout
    assert "expired on" in listed.stdout


def test_ca_commands_outside_a_ca(run: Run) -> None:
    result = run("ca", "list")
    assert result.exit_code == 1
    assert "is this a CA directory?" in result.stderr
