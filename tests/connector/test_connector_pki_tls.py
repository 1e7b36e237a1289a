"""Real mutual-TLS handshakes on 127.0.0.1 with the certificates the CA issues.

Python's ssl module stands in for the daemon's TLS stack: the handshake checks the chain to
the data space CA (and, on the client, the peer's NAME.tds.invalid name); the daemon then
calls verify_peer_certificate for revocation and the node name.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tds.connector._pki import CertificateAuthority, NodeIdentity, enroll_node
from tds.connector._trust import PeerRole, TrustStore, verify_peer_certificate
from tds.errors import AuthenticationError

TIMEOUT_S = 5.0


@dataclass
class Space:
    ca: CertificateAuthority
    alice: Path
    bob: Path
    stranger: Path
    root: Path = field(repr=False)


@pytest.fixture
def space(tmp_path: Path) -> Space:
    ca = CertificateAuthority.create(tmp_path / "ca", "Demo space")
    other_ca = CertificateAuthority.create(tmp_path / "other-ca", "Demo space")
    for directory, name, authority in [
        ("alice", "alice", ca),
        ("bob", "bob", ca),
        ("stranger", "bob", other_ca),
    ]:
        enroll_node(tmp_path / directory, name, authority, hosts=["127.0.0.1"])
    return Space(ca, tmp_path / "alice", tmp_path / "bob", tmp_path / "stranger", tmp_path)


def _context(directory: Path, side: int, *, with_certificate: bool = True) -> ssl.SSLContext:
    context = ssl.SSLContext(side)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    if with_certificate:
        context.load_cert_chain(directory / "node-cert.pem", directory / "node-key.pem")
    context.load_verify_locations(cadata=(directory / "ca-cert.pem").read_text())
    return context


@dataclass
class Outcome:
    peer_der: bytes | None = None
    error: BaseException | None = None


def _connect(
    server_dir: Path,
    client_dir: Path,
    *,
    server_name: str,
    client_certificate: bool = True,
    plaintext: bool = False,
) -> tuple[Outcome, Outcome]:
    """One connection from a client node to a server node; what each side saw of the other."""
    server_context = _context(server_dir, ssl.PROTOCOL_TLS_SERVER)
    client_context = _context(
        client_dir, ssl.PROTOCOL_TLS_CLIENT, with_certificate=client_certificate
    )
    server_seen, client_seen = Outcome(), Outcome()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT_S)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            connection, _ = listener.accept()
            connection.settimeout(TIMEOUT_S)
            with server_context.wrap_socket(connection, server_side=True) as tls:
                server_seen.peer_der = tls.getpeercert(binary_form=True)
                tls.sendall(b"hello")
        except (OSError, ssl.SSLError) as error:
            server_seen.error = error

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as raw:
            if plaintext:
                raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
                raw.recv(100)
            else:
                with client_context.wrap_socket(raw, server_hostname=server_name) as tls:
                    client_seen.peer_der = tls.getpeercert(binary_form=True)
                    if tls.recv(5) != b"hello":
                        raise ConnectionError("the server closed the connection")
    except (OSError, ssl.SSLError) as error:
        client_seen.error = error
    finally:
        server.join(TIMEOUT_S * 2)
        listener.close()
    assert not server.is_alive()
    return server_seen, client_seen


def test_two_nodes_of_the_data_space_authenticate_each_other(space: Space) -> None:
    server_seen, client_seen = _connect(space.alice, space.bob, server_name="alice.tds.invalid")
    assert server_seen.error is None and client_seen.error is None
    server_trust = TrustStore.load(space.alice)
    client_trust = TrustStore.load(space.bob)
    assert server_seen.peer_der is not None and client_seen.peer_der is not None
    client = verify_peer_certificate(server_seen.peer_der, server_trust, role=PeerRole.CLIENT)
    server = verify_peer_certificate(
        client_seen.peer_der, client_trust, role=PeerRole.SERVER, expected_name="alice"
    )
    assert (client.name, server.name) == ("bob", "alice")


def test_a_client_may_also_check_a_requested_address(space: Space) -> None:
    server_seen, client_seen = _connect(space.alice, space.bob, server_name="127.0.0.1")
    assert server_seen.error is None and client_seen.error is None


def test_a_client_with_a_certificate_from_another_ca_is_refused(space: Space) -> None:
    server_seen, client_seen = _connect(
        space.alice, space.stranger, server_name="alice.tds.invalid"
    )
    # The stranger trusts its own CA, so it already refuses alice's certificate; alice,
    # in turn, refuses the stranger's.
    assert isinstance(server_seen.error, ssl.SSLError)
    assert server_seen.peer_der is None
    assert isinstance(client_seen.error, ssl.SSLCertVerificationError)


def test_a_server_with_a_certificate_from_another_ca_is_refused(space: Space) -> None:
    # The client trusts the data space CA; the server presents the other CA's certificate.
    server_seen, client_seen = _connect(space.stranger, space.alice, server_name="bob.tds.invalid")
    assert isinstance(client_seen.error, ssl.SSLCertVerificationError)
    assert "certificate verify failed" in str(client_seen.error)
    assert server_seen.peer_der is None


def test_a_client_without_a_certificate_is_refused(space: Space) -> None:
    server_seen, client_seen = _connect(
        space.alice, space.bob, server_name="alice.tds.invalid", client_certificate=False
    )
    assert isinstance(server_seen.error, ssl.SSLError)
    assert server_seen.peer_der is None
    assert client_seen.error is not None


def test_a_plaintext_client_is_refused(space: Space) -> None:
    server_seen, _ = _connect(
        space.alice, space.bob, server_name="alice.tds.invalid", plaintext=True
    )
    assert isinstance(server_seen.error, ssl.SSLError)
    assert server_seen.peer_der is None


def test_a_client_that_dials_the_wrong_node_notices(space: Space) -> None:
    # bob meant to reach carol but reached alice: the TLS name check fails.
    server_seen, client_seen = _connect(space.alice, space.bob, server_name="carol.tds.invalid")
    assert isinstance(client_seen.error, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(client_seen.error)
    assert server_seen.peer_der is None


def test_a_revoked_client_passes_the_handshake_but_not_verification(space: Space) -> None:
    space.ca.revoke("bob")
    server_seen, _ = _connect(space.alice, space.bob, server_name="alice.tds.invalid")
    assert server_seen.peer_der is not None
    trust = TrustStore.from_pem(space.ca.certificate_pem, space.ca.crl_pem)
    with pytest.raises(AuthenticationError, match="certificate revoked on"):
        verify_peer_certificate(server_seen.peer_der, trust, role=PeerRole.CLIENT)


def test_an_expired_client_certificate_fails_the_handshake(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca", "Demo space")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    enroll_node(tmp_path / "alice", "alice", ca)
    old: NodeIdentity = enroll_node(
        tmp_path / "bob", "bob", ca, validity=dt.timedelta(days=1), now=past
    )
    assert old.not_valid_after < dt.datetime.now(dt.UTC)
    server_seen, _ = _connect(tmp_path / "alice", tmp_path / "bob", server_name="alice.tds.invalid")
    assert isinstance(server_seen.error, ssl.SSLError)
    assert server_seen.peer_der is None
