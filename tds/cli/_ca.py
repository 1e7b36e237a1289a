"""``tds ca``: the data space's certificate authority, which admits and expels nodes."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import hashes

from tds.cli._common import (
    JsonOption,
    emit,
    format_time,
    read_input,
    reporting_errors,
    write_output,
)
from tds.connector._pki import (
    CA_KEY_FILE,
    DEFAULT_CRL_VALIDITY,
    DEFAULT_NODE_VALIDITY,
    CertificateAuthority,
    IssuedCertificate,
)
from tds.connector._trust import (
    CA_CERTIFICATE_FILE,
    CRL_FILE,
    TrustStore,
    load_certificate,
    node_name_of,
)
from tds.errors import ConfigError, StorageError

__all__ = ["PASSPHRASE_VARIABLE", "REVOCATIONS_FILE", "app", "open_authority"]

app = typer.Typer(
    help="The data space's certificate authority (CA).\n\nIt issues each node the certificate "
    "that proves who the node is, and revokes it to expel a node.",
    no_args_is_help=True,
)

PASSPHRASE_VARIABLE = "TDS_CA_PASSPHRASE"
# The CA's own notes on why each node was revoked; the revocation list carries no reasons.
REVOCATIONS_FILE = "revocations.jsonl"

CaOption = Annotated[
    Path,
    typer.Option(
        "--ca",
        help="The CA directory (made by `tds ca init`).",
        envvar="TDS_CA",
        show_default="the current directory",
    ),
]


def open_authority(directory: Path) -> CertificateAuthority:
    """The CA in ``directory``, asking for its key's passphrase if the key is encrypted.

    The passphrase comes from $TDS_CA_PASSPHRASE, else from a prompt.
    """
    passphrase = None
    if _is_encrypted(directory / CA_KEY_FILE):
        passphrase = _passphrase(confirm=False)
    return CertificateAuthority.load(directory, passphrase=passphrase)


def _is_encrypted(key_path: Path) -> bool:
    try:
        with key_path.open("rb") as file:
            return b"ENCRYPTED" in file.readline()
    except OSError:
        return False  # loading the CA reports what is missing


def _passphrase(*, confirm: bool) -> bytes:
    text = os.environ.get(PASSPHRASE_VARIABLE)
    if text is None:
        text = typer.prompt(
            "Passphrase of the CA key", hide_input=True, confirmation_prompt=confirm
        )
    if not text:
        raise ConfigError(f"the CA key's passphrase is empty: set {PASSPHRASE_VARIABLE} or type it")
    return text.encode("utf-8")


def _days(days: int, what: str) -> dt.timedelta:
    if days < 1:
        raise ConfigError(f"--days must be 1 or more ({what}), not {days}")
    return dt.timedelta(days=days)


def _next_update(trust: TrustStore) -> dt.datetime:
    next_update = trust.crl.next_update_utc
    assert next_update is not None  # a TrustStore refuses lists without one
    return next_update


def _crl_facts(authority: CertificateAuthority) -> dict[str, object]:
    trust = authority.trust_store()
    return {
        "crl": authority.directory / CRL_FILE,
        "crl_number": trust.crl_number,
        "crl_next_update": _next_update(trust),
    }


@app.command("init")
def init(
    directory: Annotated[
        Path, typer.Option("--dir", help="The directory for the new CA (created if missing).")
    ],
    name: Annotated[
        str, typer.Option("--name", help="The data space's name, shown in every certificate.")
    ] = "tds data space",
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt",
            help=f"Encrypt the CA key with a passphrase (asked for, or ${PASSPHRASE_VARIABLE}).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the data space's root CA: an ECDSA P-256 key and a self-signed certificate.

    Run it once, on a machine you trust (ideally one that is offline).
    """
    with reporting_errors():
        passphrase = _passphrase(confirm=True) if encrypt else None
        authority = CertificateAuthority.create(directory, name, passphrase=passphrase)
        certificate = authority.certificate
        facts = {
            "data_space": authority.data_space,
            "directory": directory,
            "ca_certificate": directory / CA_CERTIFICATE_FILE,
            "not_valid_after": certificate.not_valid_after_utc,
            "fingerprint_sha256": certificate.fingerprint(hashes.SHA256()).hex(),
            "encrypted": encrypt,
            **_crl_facts(authority),
        }
        emit(
            facts,
            as_json,
            lambda: (
                f"Created the certificate authority of data space {authority.data_space!r} "
                f"in {directory}.\n"
                f"  {directory / CA_KEY_FILE}: its private key. Keep it secret, and back it up "
                "offline: whoever holds it can admit any node.\n"
                f"  {directory / CA_CERTIFICATE_FILE}: the root certificate every node trusts "
                f"(valid until {format_time(certificate.not_valid_after_utc)}; SHA-256 "
                f"fingerprint {facts['fingerprint_sha256']}).\n"
                f"  {directory / CRL_FILE}: the revocation list, empty for now (number "
                f"{facts['crl_number']}).\n"
                "Next: on each node run `tds node init NAME --dir NODE`, then issue its "
                f"certificate here with `tds ca issue NODE/node-csr.pem --ca {directory}`."
            ),
        )


@app.command("issue")
def issue(
    csr: Annotated[Path, typer.Argument(help="The node's certificate request (node-csr.pem).")],
    ca: CaOption = Path("."),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the certificate (default: NAME-cert.pem)."),
    ] = None,
    days: Annotated[
        int, typer.Option("--days", help="How long the certificate is valid.")
    ] = DEFAULT_NODE_VALIDITY.days,
    renew: Annotated[
        bool,
        typer.Option("--renew", help="Issue another certificate to a node that holds a valid one."),
    ] = False,
    member: Annotated[
        list[str] | None,
        typer.Option(
            "--member",
            metavar="COLLECTION",
            help="A party collection the CA certifies the node belongs to, e.g. "
            "urn:tds:space:healthcare (repeat for several); policies for it reach the node.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Issue a node its certificate from its certificate request.

    The CA checks the request's signature and that it names exactly one node. A node that
    holds a valid certificate gets another only with --renew.
    """
    with reporting_errors():
        validity = _days(days, "the certificate's validity")
        request = read_input(csr, "the node's certificate request (node-csr.pem)")
        # Checked first: a certificate issued but not written would need --renew to replace.
        if out is not None and not out.parent.is_dir():
            raise ConfigError(f"--out {out}: there is no directory {out.parent}; create it first")
        authority = open_authority(ca)
        certificate_pem = authority.issue(
            request, validity=validity, renew=renew, memberships=member or ()
        )
        certificate = load_certificate(certificate_pem)
        name = node_name_of(certificate)
        target = out if out is not None else Path(f"{name}-cert.pem")
        write_output(target, certificate_pem)
        facts = {
            "name": name,
            "serial": format(certificate.serial_number, "x"),
            "certificate": target,
            "not_valid_after": certificate.not_valid_after_utc,
            "fingerprint_sha256": certificate.fingerprint(hashes.SHA256()).hex(),
            "memberships": sorted(member or ()),
            "ca_certificate": ca / CA_CERTIFICATE_FILE,
            **_crl_facts(authority),
        }
        emit(
            facts,
            as_json,
            lambda: (
                f"Issued node {name} a certificate, valid until "
                f"{format_time(certificate.not_valid_after_utc)}, in {target}.\n"
                f"Next: give the node {target}, {ca / CA_CERTIFICATE_FILE} and "
                f"{ca / CRL_FILE} (none of them is secret); with the three side by side, "
                f"run there\n  tds node install-cert {target.name} --dir NODE"
            ),
        )


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The node to expel.")],
    ca: CaOption = Path("."),
    reason: Annotated[
        str,
        typer.Option(
            "--reason", help=f"Why, for the CA's own record ({REVOCATIONS_FILE} in the CA)."
        ),
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Revoke every certificate of a node and publish the new revocation list.

    The revocation takes effect on a node once the new crl.pem is installed there.
    """
    with reporting_errors():
        authority = open_authority(ca)
        revoked = authority.revoke(name)
        _record_revocation(ca, name, revoked, reason)
        facts = {
            "name": name,
            "revoked": [format(record.serial, "x") for record in revoked],
            "reason": reason,
            **_crl_facts(authority),
        }
        crl = ca / CRL_FILE
        trust = authority.trust_store()

        def text() -> str:
            if revoked:
                serials = ", ".join(format(record.serial, "x") for record in revoked)
                done = f"Revoked {len(revoked)} certificate(s) of node {name} (serial {serials})."
            else:
                done = (
                    f"Node {name}'s certificates were revoked already; the revocation list was "
                    "published again."
                )
            return (
                f"{done}\nThe new revocation list {crl} (number {trust.crl_number}, valid "
                f"until {format_time(_next_update(trust))}) takes effect on a node only "
                f"once it is installed there: copy {crl} to every node and run\n"
                f"  tds node install-crl {CRL_FILE} --dir NODE\n"
                f"Until a node installs it, that node still accepts {name}."
            )

        emit(facts, as_json, text)


@app.command("publish-crl")
def publish_crl(
    ca: CaOption = Path("."),
    days: Annotated[
        int, typer.Option("--days", help="How long the list is valid.")
    ] = DEFAULT_CRL_VALIDITY.days,
    as_json: JsonOption = False,
) -> None:
    """Publish a fresh revocation list.

    A node whose list has gone stale refuses every peer, so publish one regularly (weekly,
    say) and install it on every node, even when nothing was revoked.
    """
    with reporting_errors():
        validity = _days(days, "the revocation list's validity")
        authority = open_authority(ca)
        authority.publish_crl(validity=validity)
        trust = authority.trust_store()
        emit(
            _crl_facts(authority),
            as_json,
            lambda: (
                f"Published revocation list number {trust.crl_number} in {ca / CRL_FILE}, "
                f"valid until {format_time(_next_update(trust))}.\n"
                f"Next: copy it to every node and run `tds node install-crl {CRL_FILE} "
                "--dir NODE` there."
            ),
        )


@app.command("list")
def list_certificates(ca: CaOption = Path("."), as_json: JsonOption = False) -> None:
    """Every certificate the CA issued: active, expired or revoked."""
    with reporting_errors():
        authority = open_authority(ca)
        now = dt.datetime.now(dt.UTC)
        issued = authority.issued()
        trust = authority.trust_store()
        facts = {
            "data_space": authority.data_space,
            **_crl_facts(authority),
            "crl_stale": _is_stale(trust, now),
            "certificates": [_certificate_facts(record, now) for record in issued],
        }

        def text() -> str:
            next_update = format_time(_next_update(trust))
            lines = [
                f"CA of data space {authority.data_space!r}: revocation list number "
                f"{trust.crl_number}, "
                + (
                    f"STALE since {next_update}: publish a fresh one with "
                    f"`tds ca publish-crl --ca {ca}`"
                    if _is_stale(trust, now)
                    else f"valid until {next_update}"
                )
            ]
            if not issued:
                lines.append(
                    "No certificates issued yet: `tds ca issue NODE/node-csr.pem` issues one."
                )
            for record in issued:
                lines.append(
                    f"  {record.name}  serial {record.serial:x}  {_status_sentence(record, now)}"
                )
            return "\n".join(lines)

        emit(facts, as_json, text)


def _is_stale(trust: TrustStore, now: dt.datetime) -> bool:
    return _next_update(trust) < now


def _certificate_facts(record: IssuedCertificate, now: dt.datetime) -> dict[str, object]:
    if record.revoked_at is not None:
        status = "revoked"
    elif record.not_valid_after < now:
        status = "expired"
    else:
        status = "active"
    return {
        "name": record.name,
        "serial": format(record.serial, "x"),
        "status": status,
        "not_valid_before": record.not_valid_before,
        "not_valid_after": record.not_valid_after,
        "revoked_at": record.revoked_at,
        "fingerprint_sha256": record.fingerprint_sha256,
    }


def _status_sentence(record: IssuedCertificate, now: dt.datetime) -> str:
    if record.revoked_at is not None:
        return f"revoked on {format_time(record.revoked_at)}"
    if record.not_valid_after < now:
        return f"expired on {format_time(record.not_valid_after)}"
    return f"active, valid until {format_time(record.not_valid_after)}"


def _record_revocation(
    directory: Path, name: str, revoked: list[IssuedCertificate], reason: str
) -> None:
    line = json.dumps(
        {
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "name": name,
            "serials": [format(record.serial, "x") for record in revoked],
            "reason": reason,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    try:
        with (directory / REVOCATIONS_FILE).open("a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise StorageError(
            f"revoked {name}, but could not record it in {directory / REVOCATIONS_FILE}: "
            f"{error.strerror or error}"
        ) from None
