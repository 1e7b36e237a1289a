"""gRPC over mutual TLS with the certificates the CA issues, as the daemon will use them.

The server requires a client certificate from the data space CA and then names the caller
with verify_peer_certificate; the client dials 127.0.0.1 and checks the server's
NAME.tds.invalid name through grpc.ssl_target_name_override.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from tds.connector._pki import CertificateAuthority, NodeIdentity, enroll_node
from tds.connector._trust import PeerRole, TrustStore, tls_server_name, verify_peer_certificate
from tds.errors import AuthenticationError

METHOD = "/tds.test.Identity/WhoAmI"
TIMEOUT_S = 5.0


class _WhoAmI:
    """Answers with the caller's node name, as verified from its certificate."""

    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust

    def __call__(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        [certificate] = context.auth_context().get("x509_pem_cert", [b""])
        try:
            peer = verify_peer_certificate(certificate, self.trust, role=PeerRole.CLIENT)
        except AuthenticationError as error:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        return peer.name.encode()


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca", "Demo space")


@pytest.fixture
def alice(ca: CertificateAuthority, tmp_path: Path) -> NodeIdentity:
    return enroll_node(tmp_path / "alice", "alice", ca)


@pytest.fixture
def bob(ca: CertificateAuthority, tmp_path: Path) -> NodeIdentity:
    return enroll_node(tmp_path / "bob", "bob", ca)


@pytest.fixture
def server(alice: NodeIdentity, tmp_path: Path) -> Iterator[tuple[int, _WhoAmI]]:
    service = _WhoAmI(TrustStore.load(tmp_path / "alice"))
    handler = grpc.method_handlers_generic_handler(
        "tds.test.Identity", {"WhoAmI": grpc.unary_unary_rpc_method_handler(service)}
    )
    instance = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    credentials = grpc.ssl_server_credentials(
        [(alice.private_key_pem, alice.certificate_pem)],
        root_certificates=alice.ca_certificate_pem,
        require_client_auth=True,
    )
    port = instance.add_secure_port("127.0.0.1:0", credentials)
    instance.start()
    yield port, service
    instance.stop(grace=None)


def _call(channel: grpc.Channel) -> bytes:
    with channel:
        return channel.unary_unary(METHOD)(b"", timeout=TIMEOUT_S, wait_for_ready=False)


def _channel(port: int, credentials: grpc.ChannelCredentials, target_node: str) -> grpc.Channel:
    """A channel to 127.0.0.1 that accepts only node ``target_node``'s certificate."""
    return grpc.secure_channel(
        f"127.0.0.1:{port}",
        credentials,
        options=[("grpc.ssl_target_name_override", tls_server_name(target_node))],
    )


def _secure_channel(port: int, client: NodeIdentity, target_node: str) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        client.ca_certificate_pem, client.private_key_pem, client.certificate_pem
    )
    return _channel(port, credentials, target_node)


def test_a_node_of_the_data_space_is_served_and_named(
    server: tuple[int, _WhoAmI], bob: NodeIdentity
) -> None:
    port, _ = server
    assert _call(_secure_channel(port, bob, "alice")) == b"bob"


def test_a_client_from_another_ca_is_refused(
    server: tuple[int, _WhoAmI], alice: NodeIdentity, tmp_path: Path
) -> None:
    port, _ = server
    other_ca = CertificateAuthority.create(tmp_path / "other-ca", "Demo space")
    stranger = enroll_node(tmp_path / "stranger", "bob", other_ca)
    # The stranger even trusts the real CA, so only alice's check of its certificate stops it.
    credentials = grpc.ssl_channel_credentials(
        alice.ca_certificate_pem, stranger.private_key_pem, stranger.certificate_pem
    )
    channel = _channel(port, credentials, "alice")
    with pytest.raises(grpc.RpcError) as refused:
        _call(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_plaintext_client_is_refused(server: tuple[int, _WhoAmI]) -> None:
    port, _ = server
    with pytest.raises(grpc.RpcError) as refused:
        _call(grpc.insecure_channel(f"127.0.0.1:{port}"))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_without_a_certificate_is_refused(
    server: tuple[int, _WhoAmI], bob: NodeIdentity
) -> None:
    port, _ = server
    channel = _channel(port, grpc.ssl_channel_credentials(bob.ca_certificate_pem), "alice")
    with pytest.raises(grpc.RpcError) as refused:
        _call(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_that_expects_another_node_does_not_connect(
    server: tuple[int, _WhoAmI], bob: NodeIdentity
) -> None:
    port, _ = server
    with pytest.raises(grpc.RpcError) as refused:
        _call(_secure_channel(port, bob, "carol"))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_revoked_client_is_unauthenticated(
    server: tuple[int, _WhoAmI], ca: CertificateAuthority, bob: NodeIdentity
) -> None:
    port, service = server
    ca.revoke("bob")
    service.trust = service.trust.with_crl(ca.crl_pem)
    with pytest.raises(grpc.RpcError) as refused:
        _call(_secure_channel(port, bob, "alice"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "certificate revoked on" in refused.value.details()
