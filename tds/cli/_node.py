"""``tds node``: this node's key, certificate, revocation list, settings and peers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from tds.cli._ca import open_authority
from tds.cli._common import (
    ConfigOption,
    DirOption,
    JsonOption,
    emit,
    format_time,
    load_node_config,
    read_input,
    reporting_errors,
    warn,
)
from tds.cli._status import node_facts
from tds.connector._config import DEFAULT_PORT, NodeConfig
from tds.connector._pki import (
    NODE_CSR_FILE,
    NODE_KEY_FILE,
    create_node,
    enroll_node,
    install_crl,
    install_node_certificate,
)
from tds.connector._trust import CA_CERTIFICATE_FILE, CRL_FILE, load_certificate, node_name_of
from tds.errors import AlreadyExistsError, ConfigError

__all__ = ["app"]

app = typer.Typer(
    help="This node: its key and certificate, revocation list, settings and peers.",
    no_args_is_help=True,
)
peer_app = typer.Typer(
    help="The peers this node calls, by name (the [peers] table of node.toml).",
    no_args_is_help=True,
)
app.add_typer(peer_app, name="peer")


def _listen_address(port: int | None, listen: str | None) -> str:
    if port is not None and listen is not None:
        raise ConfigError("give --port or --listen, not both: --listen HOST:PORT sets both")
    if listen is not None:
        return listen
    return f"127.0.0.1:{DEFAULT_PORT if port is None else port}"


@app.command("init")
def init(
    name: Annotated[
        str, typer.Argument(help="The node's name: lowercase letters, digits and '-'.")
    ],
    directory: DirOption = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help=f"Listen on 127.0.0.1:PORT (default {DEFAULT_PORT})."),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen", help="Listen on HOST:PORT instead, e.g. 0.0.0.0:7443 for every interface."
        ),
    ] = None,
    hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="A DNS name or IP address of the node to put in its certificate (repeatable).",
        ),
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option(
            "--ca",
            help="A CA directory on this machine: issue and install the certificate at once "
            "(for local set-ups).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a node: its private key, its certificate request and its node.toml.

    The key never leaves the node; send node-csr.pem to the CA operator. With --ca, for a
    data space run on one machine, the certificate is issued and installed at once.
    """
    with reporting_errors():
        node_directory = Path.cwd() if directory is None else directory
        config = NodeConfig(
            name=name, directory=node_directory, listen=_listen_address(port, listen)
        )
        if config.path is not None and config.path.exists():
            raise AlreadyExistsError(
                f"{config.path} exists: {node_directory} is a node already (see `tds node "
                f"show --dir {node_directory}`); use another directory for a new node"
            )
        certificate_not_after: dt.datetime | None = None
        data_space = None
        if ca is None:
            create_node(node_directory, name, hosts=hosts or ())
        else:
            authority = open_authority(ca)
            identity = enroll_node(node_directory, name, authority, hosts=hosts or ())
            certificate_not_after = identity.not_valid_after
            data_space = authority.data_space
        config.write()
        facts = {
            "name": name,
            "directory": node_directory,
            "config": config.path,
            "listen": config.listen,
            "csr": node_directory / NODE_CSR_FILE,
            "certificate_not_after": certificate_not_after,
        }

        def text() -> str:
            created = (
                f"Created node {name} in {node_directory}, listening on {config.listen}:\n"
                f"  {node_directory / NODE_KEY_FILE}: its private key. It is secret and never "
                "leaves this machine.\n"
                f"  {config.path}: its settings.\n"
            )
            if certificate_not_after is not None:
                return (
                    f"{created}  its certificate from data space {data_space!r}, valid until "
                    f"{format_time(certificate_not_after)}, and the CA's revocation list.\n"
                    f"Next: add its peers with `tds node peer add NAME HOST:PORT --dir "
                    f"{node_directory}`, then start it with `tds connector serve --dir "
                    f"{node_directory}`."
                )
            return (
                f"{created}  {node_directory / NODE_CSR_FILE}: its certificate request, which "
                "holds no secret.\n"
                f"Next: send {NODE_CSR_FILE} to the data space's CA operator, who runs "
                f"`tds ca issue {NODE_CSR_FILE} --ca CA`. Put the three files you get back "
                f"({name}-cert.pem, {CA_CERTIFICATE_FILE}, {CRL_FILE}) side by side and run\n"
                f"  tds node install-cert {name}-cert.pem --dir {node_directory}"
            )

        emit(facts, as_json, text)


@app.command("install-cert")
def install_cert(
    certificate: Annotated[Path, typer.Argument(help="The certificate the CA issued.")],
    ca_certificate: Annotated[
        Path | None,
        typer.Option(
            "--ca-cert",
            help="The data space's ca-cert.pem (default: the one next to CERT, else the one "
            "the node has).",
        ),
    ] = None,
    crl: Annotated[Path | None, typer.Option("--crl", help="The CA's current crl.pem.")] = None,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Install the node's certificate, with the CA certificate and revocation list.

    Copy the CA's ca-cert.pem and crl.pem next to the certificate, or name them with
    --ca-cert and --crl. The certificate must be for this node's key and name, from the data
    space's CA.
    """
    with reporting_errors():
        node_config = load_node_config(directory, config)
        node_directory = node_config.directory
        certificate_pem = read_input(certificate, "the certificate the CA issued")
        named = node_name_of(load_certificate(certificate_pem))
        if named != node_config.name:
            raise ConfigError(
                f"{certificate} is node {named}'s certificate, but {node_config.path} is node "
                f"{node_config.name}: install it in {named}'s directory"
            )
        beside = certificate.parent
        if ca_certificate is None:
            ca_certificate = next(
                (
                    path
                    for path in (beside / CA_CERTIFICATE_FILE, node_directory / CA_CERTIFICATE_FILE)
                    if path.exists()
                ),
                None,
            )
            if ca_certificate is None:
                raise ConfigError(
                    f"no {CA_CERTIFICATE_FILE} next to {certificate}: copy the data space's CA "
                    f"certificate there, or give it with --ca-cert (the CA operator sends it "
                    "with the node's certificate)"
                )
        if crl is None and (beside / CRL_FILE).exists():
            crl = beside / CRL_FILE
        ca_pem = read_input(ca_certificate, "the data space's CA certificate (ca-cert.pem)")
        crl_pem = None if crl is None else read_input(crl, "the CA's revocation list (crl.pem)")
        identity = install_node_certificate(node_directory, certificate_pem, ca_pem, crl_pem)
        facts, warnings = node_facts(node_config, dt.datetime.now(dt.UTC))
        for message in warnings:
            warn(message)
        with_crl = (
            "" if crl_pem is None else f", and revocation list number {facts['crl']['number']}"
        )
        emit(
            {**facts, "warnings": warnings},
            as_json,
            lambda: (
                f"Installed node {identity.name}'s certificate, valid until "
                f"{format_time(identity.not_valid_after)}{with_crl}.\n"
                f"Next: start the node with `tds connector serve --dir {node_directory}` (restart "
                "a running one to present the new certificate)."
            ),
        )


@app.command("install-crl")
def install_revocation_list(
    crl: Annotated[Path, typer.Argument(help="The CA's crl.pem.")],
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Install a revocation list from the CA; a running daemon uses it from then on.

    The list must be signed by the node's CA and not older than the one installed, so an
    old list cannot lift a revocation.
    """
    with reporting_errors():
        node_config = load_node_config(directory, config)
        trust = install_crl(
            node_config.directory, read_input(crl, "the CA's revocation list (crl.pem)")
        )
        next_update = trust.crl.next_update_utc
        assert next_update is not None  # a TrustStore refuses lists without one
        revoked = len(list(trust.crl))
        emit(
            {"crl_number": trust.crl_number, "crl_next_update": next_update, "revoked": revoked},
            as_json,
            f"Installed revocation list number {trust.crl_number}, valid until "
            f"{format_time(next_update)}; it revokes {revoked} certificate(s). A running "
            "daemon uses it for its next connections, without a restart.",
        )


@app.command("show")
def show(
    directory: DirOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """The node's name, address, certificate, revocation list and peers."""
    with reporting_errors():
        node_config = load_node_config(directory, config)
        facts, warnings = node_facts(node_config, dt.datetime.now(dt.UTC))
        for message in warnings:
            warn(message)
        emit({**facts, "warnings": warnings}, as_json, lambda: _show_text(facts))


def _show_text(facts: dict[str, Any]) -> str:
    lines = [
        f"Node {facts['name']}, listening on {facts['listen']}.",
        f"  directory: {facts['directory']}",
        f"  settings: {facts['config']}",
    ]
    certificate = facts["certificate"]
    lines.append(
        "  certificate: none yet"
        if certificate is None
        else f"  certificate: serial {certificate['serial']} from data space "
        f"{certificate['data_space']!r}, valid until "
        f"{format_time(certificate['not_valid_after'])} ({certificate['days_left']} days left)"
    )
    crl = facts["crl"]
    if crl is not None:
        lines.append(
            f"  revocation list: number {crl['number']}, "
            f"{'STALE since' if crl['stale'] else 'current until'} "
            f"{format_time(crl['next_update'])}"
        )
    elif certificate is not None:
        lines.append("  revocation list: none installed")
    peers = facts["peers"]
    lines.append("  peers: " + (", ".join(f"{n} at {a}" for n, a in peers.items()) or "none"))
    return "\n".join(lines)


@peer_app.command("add")
def add_peer(
    name: Annotated[str, typer.Argument(help="The peer's node name.")],
    address: Annotated[str, typer.Argument(help="Where it listens: HOST:PORT.")],
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a peer, or change its address."""
    with reporting_errors():
        node_config = load_node_config(directory, config)
        previous = node_config.peers.get(name)
        node_config.with_peer(name, address).write()
        if previous is None:
            done = f"Added peer {name} at {address}."
        elif previous == address:
            done = f"Peer {name} was at {address} already."
        else:
            done = f"Moved peer {name} from {previous} to {address}."
        emit(
            {"name": name, "address": address, "previous_address": previous},
            as_json,
            f"{done} `tds catalog {name}` lists what it offers to {node_config.name}.",
        )


@peer_app.command("remove")
def remove_peer(
    name: Annotated[str, typer.Argument(help="The peer's node name.")],
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forget a peer's address (its agreements and audit records stay)."""
    with reporting_errors():
        node_config = load_node_config(directory, config)
        address = node_config.peer_address(name)
        node_config.without_peer(name).write()
        emit(
            {"name": name, "address": address},
            as_json,
            f"Removed peer {name} (it was at {address}).",
        )


@peer_app.command("list")
def list_peers(
    directory: DirOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """The peers this node calls, and their addresses."""
    with reporting_errors():
        node_config = load_node_config(directory, config)
        peers = dict(node_config.peers)
        emit(
            peers,
            as_json,
            lambda: (
                "\n".join(f"{name}  {address}" for name, address in peers.items())
                or "No peers yet: add one with `tds node peer add NAME HOST:PORT`."
            ),
        )
