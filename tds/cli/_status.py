"""``tds status``: is this node ready to take part, and what has it done so far?"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.x509.oid import NameOID

from tds.cli._common import (
    ConfigOption,
    DirOption,
    JsonOption,
    emit,
    fail,
    format_time,
    load_node_config,
    reporting_errors,
    warn,
)
from tds.connector._config import NodeConfig
from tds.connector._node import OpenNode
from tds.connector._peer import PeerConnection
from tds.connector._pki import NodeIdentity
from tds.connector._transport import parse_address
from tds.connector._trust import CRL_FILE, TrustStore
from tds.errors import (
    AuthenticationError,
    NotFoundError,
    PeerUnavailableError,
    TdsError,
)

__all__ = ["node_facts", "status"]

# Warn this long before the certificate expires or the revocation list goes stale.
CERTIFICATE_WARNING_DAYS = 30
CRL_WARNING_DAYS = 7
# The daemon is on this machine: if it does not answer at once, it is not running.
HEALTH_TIMEOUT_SECONDS = 2.0
WAIT_POLL_SECONDS = 0.2


def node_facts(config: NodeConfig, now: dt.datetime) -> tuple[dict[str, Any], list[str]]:
    """What node.toml, the certificate and the revocation list say, and the warnings due."""
    warnings: list[str] = []
    facts: dict[str, Any] = {
        "name": config.name,
        "directory": config.directory,
        "config": config.path,
        "listen": config.listen,
        "insecure": config.insecure,
        "peers": dict(config.peers),
    }
    if config.insecure:
        warnings.append(
            "[transport] insecure = true: TLS is off and anyone can connect as any node; "
            "development only"
        )
    try:
        identity = config.load_identity()
    except NotFoundError:
        identity = None
        warnings.append(
            f"node {config.name} has no certificate yet: have the CA operator run "
            f"`tds ca issue {config.directory / 'node-csr.pem'}`, then install it with "
            f"`tds node install-cert CERT --ca-cert ca-cert.pem --dir {config.directory}`"
        )
    facts["certificate"] = None if identity is None else _certificate(identity, now, warnings)
    facts["crl"] = _crl(config, now, warnings) if identity is not None else None
    return facts, warnings


def _certificate(identity: NodeIdentity, now: dt.datetime, warnings: list[str]) -> dict[str, Any]:
    not_after = identity.not_valid_after
    days_left = (not_after - now).days
    if not_after < now:
        warnings.append(
            f"node {identity.name}'s certificate expired on {format_time(not_after)}: peers "
            "refuse it. Have the CA issue a new one (`tds ca issue node-csr.pem --renew`) and "
            "install it with `tds node install-cert`"
        )
    elif days_left < CERTIFICATE_WARNING_DAYS:
        warnings.append(
            f"node {identity.name}'s certificate expires in {days_left} days "
            f"({format_time(not_after)}): have the CA renew it (`tds ca issue node-csr.pem "
            "--renew`) and install it with `tds node install-cert`"
        )
    return {
        "serial": format(identity.certificate.serial_number, "x"),
        "not_valid_after": not_after,
        "days_left": days_left,
        "expired": not_after < now,
        "data_space": _common_name(identity.ca_certificate),
    }


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def _crl(config: NodeConfig, now: dt.datetime, warnings: list[str]) -> dict[str, Any] | None:
    try:
        trust = TrustStore.load(config.directory)
    except NotFoundError:
        warnings.append(
            "no revocation list installed: the node cannot verify any peer until you install "
            f"the CA's crl.pem with `tds node install-crl crl.pem --dir {config.directory}`"
        )
        return None
    next_update = trust.crl.next_update_utc
    assert next_update is not None  # a TrustStore refuses lists without one
    stale = next_update < now
    if stale:
        warnings.append(
            f"the revocation list is stale since {format_time(next_update)}: the node refuses "
            "every peer until you install a current crl.pem from the CA (`tds ca publish-crl`, "
            "then `tds node install-crl crl.pem`)"
        )
    elif next_update - now < dt.timedelta(days=CRL_WARNING_DAYS):
        warnings.append(
            f"the revocation list goes stale on {format_time(next_update)}: install a fresh "
            "one from the CA before then (`tds ca publish-crl`, then `tds node install-crl`)"
        )
    return {
        "path": config.directory / CRL_FILE,
        "number": trust.crl_number,
        "next_update": next_update,
        "stale": stale,
        "revoked": len(list(trust.crl)),
    }


def _dial_address(listen: str) -> str | None:
    """Where this machine reaches a daemon listening on ``listen``; None for port 0."""
    host, port = parse_address(listen, listening=True)
    if port == 0:
        return None
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _daemon(config: NodeConfig, node: OpenNode) -> dict[str, Any]:
    address = _dial_address(config.listen)
    if address is None:
        return {
            "state": "unknown",
            "address": config.listen,
            "detail": "[node] listen has port 0, so the daemon takes a free port when it "
            "starts; set a fixed port so that peers (and tds status) can find it",
        }
    settings = dataclasses.replace(
        config.transport_settings,
        deadline_seconds=min(config.deadline_seconds, HEALTH_TIMEOUT_SECONDS),
        retry_attempts=1,
    )
    connection = PeerConnection(node, node.name, address, settings)
    try:
        health = connection.health()
    except PeerUnavailableError:
        return {
            "state": "not running",
            "address": address,
            "detail": f"start it with `tds connector serve --dir {config.directory}`",
        }
    except AuthenticationError as error:
        return {
            "state": "not verified",
            "address": address,
            "detail": f"something answers there, but not as node {node.name}: {error}",
        }
    finally:
        connection.close()
    return {
        "state": "serving" if health == "SERVING" else health.lower().replace("_", " "),
        "address": address,
        "detail": "",
    }


def _activity(node: OpenNode, warnings: list[str]) -> dict[str, Any]:
    """What the node's database holds."""
    activity: dict[str, Any] = {}
    try:
        activity["datasets"] = len(node.catalog.datasets())
        states = collections.Counter(
            str(record.state) for record in node.negotiations.negotiations()
        )
        activity["negotiations"] = dict(sorted(states.items()))
        activity["agreements"] = len(node.negotiations.agreements())
    except TdsError as error:
        warnings.append(f"could not read the node's database: {error}")
    return activity


def _daemon_within(config: NodeConfig, node: OpenNode, wait_seconds: float) -> dict[str, Any]:
    """The daemon's state, waiting up to ``wait_seconds`` for it to serve."""
    deadline = time.monotonic() + wait_seconds
    while True:
        daemon = _daemon(config, node)
        if daemon["state"] == "serving" or time.monotonic() >= deadline:
            return daemon
        time.sleep(WAIT_POLL_SECONDS)


def status(
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="Wait up to this many seconds for the daemon to serve; exit code 1 if it "
            "does not.",
        ),
    ] = 0,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Whether this node is ready: certificate, revocation list, daemon, and what it holds.

    A daemon that is not running is a normal answer (exit code 0), not an error, unless
    --wait asks for it to be serving.
    """
    with reporting_errors():
        node_config = load_node_config(directory, config)
        now = dt.datetime.now(dt.UTC)
        facts, warnings = node_facts(node_config, now)
        facts["daemon"] = None
        facts["activity"] = None
        if facts["certificate"] is not None and facts["crl"] is not None:
            with OpenNode(node_config.directory, name=node_config.name) as node:
                facts["daemon"] = _daemon_within(node_config, node, wait)
                facts["activity"] = _activity(node, warnings)
        facts["warnings"] = warnings
        for message in warnings:
            warn(message)
        emit(facts, as_json, lambda: _status_text(facts, node_config.directory))
        daemon = facts["daemon"]
        if wait and (daemon is None or daemon["state"] != "serving"):
            if daemon is None:
                fail(
                    f"node {node_config.name}'s daemon cannot serve without a certificate and "
                    "a revocation list (see the warnings above)"
                )
            detail = f": {daemon['detail']}" if daemon["detail"] else ""
            fail(
                f"node {node_config.name}'s daemon did not serve at {daemon['address']} within "
                f"{wait:g} seconds ({daemon['state']}){detail}"
            )


def _status_text(facts: dict[str, Any], directory: Path) -> str:
    lines = [f"Node {facts['name']} ({facts['config']}), listening on {facts['listen']}."]
    certificate = facts["certificate"]
    if certificate is None:
        lines.append("Certificate: none yet, so the node cannot talk to peers.")
    elif certificate["expired"]:
        lines.append(f"Certificate: EXPIRED on {format_time(certificate['not_valid_after'])}.")
    else:
        lines.append(
            f"Certificate: valid until {format_time(certificate['not_valid_after'])} "
            f"({certificate['days_left']} days left)."
        )
    crl = facts["crl"]
    if crl is not None:
        freshness = "STALE since" if crl["stale"] else "current until"
        lines.append(
            f"Revocation list: number {crl['number']}, {freshness} "
            f"{format_time(crl['next_update'])}, {crl['revoked']} certificate(s) revoked."
        )
    elif certificate is not None:
        lines.append("Revocation list: none installed, so the node cannot verify peers.")
    daemon = facts["daemon"]
    if daemon is not None:
        detail = f": {daemon['detail']}" if daemon["detail"] else ""
        lines.append(f"Daemon: {daemon['state']} at {daemon['address']}{detail}.")
    activity = facts["activity"]
    if activity is not None and "datasets" in activity:
        count = activity["datasets"]
        hint = "" if count else " (`tds dataset publish FILE` offers one to peers)"
        lines.append(f"Catalog: {count} dataset(s) published{hint}.")
        if "negotiations" in activity:
            states = activity["negotiations"]
            summary = ", ".join(f"{n} {state}" for state, n in states.items()) or "none yet"
            lines.append(f"Negotiations: {summary}.")
        if "agreements" in activity:
            lines.append(f"Agreements: {activity['agreements']}.")
    peers = facts["peers"]
    lines.append(
        f"Peers: {', '.join(peers)}."
        if peers
        else f"Peers: none yet (`tds node peer add NAME HOST:PORT --dir {directory}`)."
    )
    return "\n".join(lines)
