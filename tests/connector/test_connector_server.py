"""Real servers on 127.0.0.1 and real node directories: mutual TLS and every way a caller is
refused, retries, the status of each failure, health, reflection, insecure mode and the audit
service over the wire.

The data space (a CA and its nodes) is made once per session and copied for each test, so a
test may revoke, install lists or write to a node's database without touching the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tds import errors
from tds.connector import _peer, _servicers, serde
from tds.connector._audit import Checkpoint, EventKind
from tds.connector._audit_check import verify_peer_log
from tds.connector._merkle import leaf_hash, verify_consistency, verify_inclusion
from tds.connector._node import PROTOCOL_VERSIONS, NodeInfo, OpenNode
from tds.connector._peer import PeerConnection
from tds.connector._pki import CertificateAuthority, NodeIdentity, enroll_node, install_crl
from tds.connector._rpc import Service
from tds.connector._server import NodeServer
from tds.connector._servicers import audit_service, node_service
from tds.connector._status import ERROR_TRAILER
from tds.connector._transport import (
    INSECURE_WARNING,
    NODE_METADATA,
    TransportSettings,
    client_credentials,
    translate_error,
)
from tds.connector._trust import VerifiedNode, tls_server_name
from tds.connector._witness import StoredWitness
from tds.errors import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    DecodeError,
    MessageTooLargeError,
    NotFoundError,
    PeerUnavailableError,
)

if TYPE_CHECKING:
    from conftest import RecordedLogs

Code = grpc.StatusCode
GET_INFO = "tds.v1.NodeService/GetInfo"
AUDIT = "tds.v1.AuditService"
# Short deadlines and millisecond backoff: a failing test fails in well under a second.
FAST = TransportSettings(
    deadline_seconds=3.0,
    retry_attempts=3,
    retry_initial_backoff_seconds=0.005,
    retry_max_backoff_seconds=0.01,
)
NODES = ("alice", "bob", "carol")
OpenNodes = Callable[[str], OpenNode]
Serve = Callable[..., NodeServer]
Connect = Callable[..., PeerConnection]


# -- the data space -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def _data_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data-space")
    ca = CertificateAuthority.create(root / "ca", "Demo space")
    for name in NODES:
        enroll_node(root / name, name, ca)
    # Issued two days ago for one day.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    enroll_node(root / "expired", "expired", ca, validity=dt.timedelta(days=1), now=long_ago)
    # Another data space's node, under a name this one uses too.
    other = CertificateAuthority.create(root / "other-ca", "Demo space")
    enroll_node(root / "stranger", "bob", other)
    return root


@dataclass
class DataSpace:
    root: Path
    ca: CertificateAuthority

    def directory(self, node: str) -> Path:
        return self.root / node

    def revoke(self, node: str, *, tell: tuple[str, ...]) -> None:
        """Revoke ``node`` and install the new list in the nodes named in ``tell``."""
        self.ca.revoke(node)
        for name in tell:
            install_crl(self.directory(name), self.ca.crl_pem)


@pytest.fixture
def space(_data_space: Path, tmp_path: Path) -> DataSpace:
    root = tmp_path / "space"
    shutil.copytree(_data_space, root)
    return DataSpace(root, CertificateAuthority.load(root / "ca"))


@pytest.fixture
def open_node(space: DataSpace) -> Iterator[OpenNodes]:
    opened: dict[str, OpenNode] = {}

    def open_(directory: str) -> OpenNode:
        if directory not in opened:
            name = "bob" if directory == "stranger" else directory
            opened[directory] = OpenNode(space.directory(directory), name=name)
        return opened[directory]

    yield open_
    for node in opened.values():
        node.close()


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a NodeServer on a free port of 127.0.0.1; stopped after the test."""
    servers: list[NodeServer] = []

    def start(
        node: OpenNode,
        services: list[Service] | None = None,
        settings: TransportSettings = FAST,
        listen: str = "127.0.0.1:0",
    ) -> NodeServer:
        server = NodeServer(
            node,
            [node_service(node), audit_service(node)] if services is None else services,
            listen=listen,
            settings=settings,
            max_workers=4,
        )
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop(grace_seconds=0)


@pytest.fixture
def connect() -> Iterator[Connect]:
    connections: list[PeerConnection] = []

    def connect_(
        node: OpenNode, peer: str, server: NodeServer | int, settings: TransportSettings = FAST
    ) -> PeerConnection:
        port = server if isinstance(server, int) else server.port
        connection = PeerConnection(node, peer, f"127.0.0.1:{port}", settings)
        connections.append(connection)
        return connection

    yield connect_
    for connection in connections:
        connection.close()


@pytest.fixture
def preflights(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses PeerConnection's TLS pre-flight check dialled, one per attempt."""
    dialled: list[str] = []
    real = _peer.verify_server

    def counting(address: str, *args: Any, **kwargs: Any) -> VerifiedNode:
        dialled.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(_peer, "verify_server", counting)
    return dialled


def _free_port() -> int:
    """A port nothing listens on (bound then closed: refused until someone takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _raw_channel(port: int, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    target = f"127.0.0.1:{port}"
    if credentials is None:
        return grpc.insecure_channel(target)
    options = [("grpc.ssl_target_name_override", tls_server_name("alice"))]
    return grpc.secure_channel(target, credentials, options=options)


def _raw_call(channel: grpc.Channel, method: str, request: bytes, metadata: tuple = ()) -> bytes:
    with channel:
        return channel.unary_unary(f"/{method}")(request, timeout=3.0, metadata=metadata)


def _get_info(connection: PeerConnection) -> NodeInfo:
    return serde.decode_node_info(connection.call(GET_INFO, serde.encode_get_info_request()))


# -- mutual TLS ---------------------------------------------------------------------------


def test_node_info_round_trips_over_mutual_tls(
    open_node: OpenNodes, serve: Serve, connect: Connect, preflights: list[str]
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice)
    connection = connect(bob, "alice", server)
    info = _get_info(connection)
    assert info == alice.info()
    assert info.name == "alice"
    assert info.protocol_versions == PROTOCOL_VERSIONS
    assert info.certificate_not_after == alice.identity.not_valid_after
    assert connection.verified_peer().name == "alice"
    # Verified once, not on every call.
    _get_info(connection)
    assert len(preflights) == 1


def test_the_server_names_the_caller_by_its_certificate(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    callers: list[str] = []

    def who(request: bytes, caller: str) -> bytes:
        callers.append(caller)
        return caller.encode()

    server = serve(alice, [Service("tds.test.Echo", {"Who": who})])
    assert connect(bob, "alice", server).call("tds.test.Echo/Who", b"") == b"bob"
    # A header claiming another name changes nothing under TLS.
    credentials = client_credentials(bob.identity)
    reply = _raw_call(
        _raw_channel(server.port, credentials),
        "tds.test.Echo/Who",
        b"",
        ((NODE_METADATA, "carol"),),
    )
    assert reply == b"bob"
    assert callers == ["bob", "bob"]


def test_a_plaintext_client_is_refused(open_node: OpenNodes, serve: Serve) -> None:
    server = serve(open_node("alice"))
    with pytest.raises(grpc.RpcError) as refused:
        _raw_call(_raw_channel(server.port, None), GET_INFO, b"", ((NODE_METADATA, "bob"),))
    assert refused.value.code() is Code.UNAVAILABLE


def test_a_client_from_a_foreign_ca_is_refused_by_the_server(
    open_node: OpenNodes, serve: Serve
) -> None:
    alice, stranger = open_node("alice"), open_node("stranger")
    server = serve(alice)
    # The stranger even trusts the real CA, so only the server's check of its certificate
    # stops it.
    credentials = grpc.ssl_channel_credentials(
        alice.identity.ca_certificate_pem,
        stranger.identity.private_key_pem,
        stranger.identity.certificate_pem,
    )
    with pytest.raises(grpc.RpcError) as refused:
        _raw_call(_raw_channel(server.port, credentials), GET_INFO, b"")
    assert refused.value.code() is Code.UNAVAILABLE


def test_a_node_of_a_foreign_ca_does_not_accept_our_server(
    open_node: OpenNodes, serve: Serve, connect: Connect, preflights: list[str]
) -> None:
    server = serve(open_node("alice"))
    connection = connect(open_node("stranger"), "alice", server)
    with pytest.raises(AuthenticationError, match="does not prove it is node alice"):
        connection.call(GET_INFO, serde.encode_get_info_request())
    assert len(preflights) == 1


def test_a_revoked_client_is_refused_by_the_server(
    space: DataSpace, open_node: OpenNodes, serve: Serve, connect: Connect, preflights: list[str]
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice)
    connection = connect(bob, "alice", server)
    assert _get_info(connection).name == "alice"
    # Only alice learns of the revocation: bob still trusts itself and connects.
    space.revoke("bob", tell=("alice",))
    with pytest.raises(AuthenticationError, match="certificate revoked on") as refused:
        _get_info(connection)
    assert str(refused.value).startswith("alice: ")
    assert len(preflights) == 1  # the failure was the server's verdict, not retried
    # The others are still served.
    assert _get_info(connect(open_node("carol"), "alice", server)).name == "alice"


def test_a_revoked_server_is_refused_before_any_call_without_retrying(
    space: DataSpace,
    open_node: OpenNodes,
    serve: Serve,
    connect: Connect,
    preflights: list[str],
    tds_log: RecordedLogs,
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    served: list[str] = []
    server = serve(alice, [Service("tds.test.Echo", {"Who": lambda r, c: served.append(c) or b""})])
    space.revoke("alice", tell=("bob",))
    connection = connect(bob, "alice", server)
    with pytest.raises(AuthenticationError, match="revoked"):
        connection.call("tds.test.Echo/Who", b"")
    assert len(preflights) == 1
    assert served == []
    assert not any("retry" in message for message in tds_log.messages(logging.WARNING))


def test_a_server_revoked_after_the_first_call_is_refused_once_the_list_arrives(
    space: DataSpace, open_node: OpenNodes, serve: Serve, connect: Connect, preflights: list[str]
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    connection = connect(bob, "alice", serve(alice))
    _get_info(connection)
    space.revoke("alice", tell=("bob",))
    with pytest.raises(AuthenticationError, match="revoked"):
        _get_info(connection)
    assert len(preflights) == 2


def test_an_expired_client_is_refused(
    open_node: OpenNodes, serve: Serve, connect: Connect, preflights: list[str]
) -> None:
    alice, expired = open_node("alice"), open_node("expired")
    assert expired.identity.not_valid_after < dt.datetime.now(dt.UTC)
    server = serve(alice)
    with pytest.raises(grpc.RpcError) as refused:
        _raw_call(_raw_channel(server.port, client_credentials(expired.identity)), GET_INFO, b"")
    assert refused.value.code() is Code.UNAVAILABLE
    with pytest.raises(AuthenticationError, match="refused our certificate"):
        _get_info(connect(expired, "alice", server))
    assert len(preflights) == 1


def test_an_expired_server_is_refused(
    open_node: OpenNodes, serve: Serve, connect: Connect, preflights: list[str]
) -> None:
    server = serve(open_node("expired"))
    connection = connect(open_node("bob"), "expired", server)
    with pytest.raises(AuthenticationError, match="certificate has expired"):
        _get_info(connection)
    assert len(preflights) == 1


def test_a_server_with_another_nodes_certificate_is_refused(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    server = serve(open_node("carol"))
    with pytest.raises(AuthenticationError, match="does not prove it is node alice"):
        _get_info(connect(open_node("bob"), "alice", server))


# -- unreachable peers --------------------------------------------------------------------


def test_an_unreachable_peer_is_given_up_after_the_configured_attempts(
    open_node: OpenNodes, connect: Connect, preflights: list[str]
) -> None:
    port = _free_port()
    connection = connect(open_node("bob"), "alice", port)
    with pytest.raises(PeerUnavailableError, match="gave up after 3 attempts") as raised:
        _get_info(connection)
    assert f"127.0.0.1:{port}" in str(raised.value)
    assert preflights == [f"127.0.0.1:{port}"] * FAST.retry_attempts


def test_an_unreachable_insecure_peer_is_retried_the_configured_times(
    open_node: OpenNodes, connect: Connect, tds_log: RecordedLogs
) -> None:
    settings = TransportSettings(
        insecure=True,
        deadline_seconds=1.0,
        retry_attempts=4,
        retry_initial_backoff_seconds=0.005,
        retry_max_backoff_seconds=0.01,
    )
    connection = connect(open_node("bob"), "alice", _free_port(), settings)
    with pytest.raises(PeerUnavailableError, match=r"unreachable \(4 attempts\)"):
        _get_info(connection)
    retries = [m for m in tds_log.messages(logging.WARNING) if " retry " in m]
    assert [m.split(" retry ")[1].split(" in ")[0] for m in retries] == [
        "1 of 3",
        "2 of 3",
        "3 of 3",
    ]


def test_a_peer_that_comes_up_between_attempts_is_reached(
    open_node: OpenNodes, serve: Serve, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    port = _free_port()
    attempts: list[str] = []
    real = _peer.verify_server

    def start_after_the_first_attempt(address: str, *args: Any, **kwargs: Any) -> VerifiedNode:
        attempts.append(address)
        if len(attempts) == 2:
            serve(alice, listen=address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(_peer, "verify_server", start_after_the_first_attempt)
    connection = connect(bob, "alice", port)
    assert _get_info(connection).name == "alice"
    assert len(attempts) == 2


# -- failures and their status ------------------------------------------------------------


def test_malformed_request_bytes_are_invalid_argument_and_the_server_keeps_serving(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice)
    credentials = client_credentials(bob.identity)
    with pytest.raises(grpc.RpcError) as refused:
        _raw_call(_raw_channel(server.port, credentials), GET_INFO, b"\x0a\xff\x01")
    assert refused.value.code() is Code.INVALID_ARGUMENT
    assert "malformed GetInfoRequest message" in refused.value.details()
    assert dict(refused.value.trailing_metadata())[ERROR_TRAILER] == "DecodeError"
    connection = connect(bob, "alice", server)
    with pytest.raises(DecodeError, match="malformed ConsistencyProofRequest"):
        connection.call(f"{AUDIT}/GetConsistencyProof", b"\xff\xff\xff")
    assert _get_info(connection).name == "alice"


def test_an_oversized_request_is_refused_before_it_is_sent(
    open_node: OpenNodes, connect: Connect, preflights: list[str]
) -> None:
    settings = TransportSettings(max_message_bytes=1024)
    # Nothing listens there: the size is checked before anything is dialled.
    connection = connect(open_node("bob"), "alice", _free_port(), settings)
    with pytest.raises(MessageTooLargeError, match="2000 bytes, over the limit of 1024"):
        connection.call(GET_INFO, b"\x00" * 2000)
    assert preflights == []


def test_an_oversized_request_is_resource_exhausted_at_the_server(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice, settings=TransportSettings(max_message_bytes=1024))
    # Unknown fields pad a well-formed request past the server's limit.
    padding = b"\x7a" + bytes([0xD0, 0x0F]) + b"p" * 2000  # field 15, 2000 bytes
    with pytest.raises(grpc.RpcError) as refused:
        _raw_call(_raw_channel(server.port, client_credentials(bob.identity)), GET_INFO, padding)
    assert refused.value.code() is Code.RESOURCE_EXHAUSTED
    connection = connect(bob, "alice", server)
    with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
        connection.call(GET_INFO, padding)
    assert _get_info(connection).name == "alice"


def test_a_server_at_its_limit_of_concurrent_calls_is_reported_busy(
    open_node: OpenNodes, serve: Serve
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    gate = threading.Event()

    def wait_for_the_gate(request: bytes, caller: str) -> bytes:
        gate.wait(10)
        return b"done"

    # One worker: NodeServer takes 8 calls at a time and refuses the rest.
    server = NodeServer(
        alice,
        [Service("tds.test.Slow", {"Wait": wait_for_the_gate})],
        listen="127.0.0.1:0",
        settings=FAST,
        max_workers=1,
    )
    server.start()
    channel = _raw_channel(server.port, client_credentials(bob.identity))
    try:
        stub = channel.unary_unary("/tds.test.Slow/Wait")
        calls = [stub.future(b"", timeout=10) for _ in range(10)]
        refused = []
        while len(refused) < 2:  # the refusals come at once; the others wait for the gate
            refused = [call for call in calls if call.done()]
            time.sleep(0.005)
        gate.set()
        assert sum(call.exception() is None for call in calls) == 8
    finally:
        gate.set()
        channel.close()
        server.stop(grace_seconds=0)
    failure = refused[0].exception()
    assert failure.code() is Code.RESOURCE_EXHAUSTED
    error = translate_error(failure, "alice", "tds.test.Slow/Wait", attempts=1)
    assert type(error) is PeerUnavailableError
    assert "too busy" in str(error)


def test_an_unexpected_exception_is_internal_without_details(
    open_node: OpenNodes, serve: Serve, connect: Connect, tds_log: RecordedLogs
) -> None:
    alice, bob = open_node("alice"), open_node("bob")

    def explode(request: bytes, caller: str) -> bytes:
        raise RuntimeError("the database password is hunter2")

    server = serve(alice, [Service("tds.test.Broken", {"Explode": explode}), node_service(alice)])
    with pytest.raises(grpc.RpcError) as failed:
        _raw_call(
            _raw_channel(server.port, client_credentials(bob.identity)),
            "tds.test.Broken/Explode",
            b"",
        )
    assert failed.value.code() is Code.INTERNAL
    assert "hunter2" not in failed.value.details()
    assert "RuntimeError" not in failed.value.details()
    assert ERROR_TRAILER not in dict(failed.value.trailing_metadata() or ())
    with pytest.raises(ConnectorError) as raised:
        connect(bob, "alice", server).call("tds.test.Broken/Explode", b"")
    assert type(raised.value) is ConnectorError
    assert "internal error in node alice; its log has the details" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    # The node's own log has the traceback.
    bugs = [r for r in tds_log.records if r.levelno == logging.ERROR and r.exc_info]
    assert bugs and "hunter2" in str(bugs[0].exc_info[1])
    assert _get_info(connect(bob, "alice", server)).name == "alice"


def test_a_tds_error_in_a_handler_reaches_the_client_as_that_error(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice)
    connection = connect(bob, "alice", server)
    with pytest.raises(NotFoundError, match="no audit entry 5 in a tree of 0 entries"):
        connection.call(f"{AUDIT}/GetInclusionProof", serde.encode_inclusion_request(5, 0))


def test_an_unknown_method_is_unimplemented(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    connection = connect(bob, "alice", serve(alice))
    with pytest.raises(ConnectorError, match="UNIMPLEMENTED"):
        connection.call("tds.v1.NodeService/Reboot", b"")


# -- health, reflection, the port ---------------------------------------------------------


def _health_stub(server: NodeServer, identity: NodeIdentity) -> health_pb2_grpc.HealthStub:
    return health_pb2_grpc.HealthStub(_raw_channel(server.port, client_credentials(identity)))


def test_health_is_serving_for_the_node_and_each_service(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice)
    assert connect(bob, "alice", server).health() == "SERVING"
    stub = _health_stub(server, bob.identity)
    for service in ("", "tds.v1.NodeService", "tds.v1.AuditService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
    with pytest.raises(grpc.RpcError) as unknown:
        stub.Check(health_pb2.HealthCheckRequest(service="tds.v1.Nothing"), timeout=3)
    assert unknown.value.code() is Code.NOT_FOUND


def test_health_turns_not_serving_once_stopping_begins(open_node: OpenNodes, serve: Serve) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice)
    watch = _health_stub(server, bob.identity).Watch(
        health_pb2.HealthCheckRequest(service=""), timeout=5
    )
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    assert not server.wait(timeout=0)
    stopping = threading.Thread(target=server.stop, kwargs={"grace_seconds": 0.5})
    stopping.start()
    try:
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        stopping.join()
        watch.cancel()
    assert server.wait(timeout=0)


def test_reflection_lists_the_services(open_node: OpenNodes, serve: Serve) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice)
    channel = _raw_channel(server.port, client_credentials(bob.identity))
    with channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        [reply] = list(stub.ServerReflectionInfo(iter([request]), timeout=3))
    assert {service.name for service in reply.list_services_response.service} == {
        "tds.v1.NodeService",
        "tds.v1.AuditService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_a_port_in_use_is_a_config_error(open_node: OpenNodes, serve: Serve) -> None:
    alice = open_node("alice")
    first = serve(alice)
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}"):
        serve(alice, listen=f"127.0.0.1:{first.port}")


@pytest.mark.parametrize("listen", ["127.0.0.1", "127.0.0.1:65536", "dns:///x:1", ""])
def test_a_bad_listen_address_is_a_config_error(open_node: OpenNodes, listen: str) -> None:
    alice = open_node("alice")
    with pytest.raises(ConfigError, match="host:port"):
        NodeServer(alice, [node_service(alice)], listen=listen, settings=FAST)


# -- insecure mode ------------------------------------------------------------------------

INSECURE = TransportSettings(
    insecure=True,
    deadline_seconds=3.0,
    retry_attempts=2,
    retry_initial_backoff_seconds=0.005,
    retry_max_backoff_seconds=0.01,
)


def test_insecure_mode_works_and_warns(
    open_node: OpenNodes, serve: Serve, connect: Connect, tds_log: RecordedLogs
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    server = serve(alice, settings=INSECURE)
    assert tds_log.messages(logging.WARNING).count(INSECURE_WARNING) == 1
    connection = connect(bob, "alice", server, INSECURE)
    assert tds_log.messages(logging.WARNING).count(INSECURE_WARNING) == 2
    assert _get_info(connection) == alice.info()
    assert connection.verified_peer() is None
    assert connection.health() == "SERVING"


def test_insecure_mode_names_the_caller_by_its_header(open_node: OpenNodes, serve: Serve) -> None:
    alice = open_node("alice")
    server = serve(alice, [Service("tds.test.Echo", {"Who": lambda r, c: c.encode()})], INSECURE)
    reply = _raw_call(
        _raw_channel(server.port, None), "tds.test.Echo/Who", b"", (("tds-node", "x"),)
    )
    assert reply == b"x"
    with pytest.raises(grpc.RpcError) as anonymous:
        _raw_call(_raw_channel(server.port, None), "tds.test.Echo/Who", b"")
    assert anonymous.value.code() is Code.UNAUTHENTICATED
    assert NODE_METADATA in anonymous.value.details()


def test_a_tls_client_refuses_an_insecure_server(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    server = serve(open_node("alice"), settings=INSECURE)
    with pytest.raises(AuthenticationError, match="TLS with"):
        _get_info(connect(open_node("bob"), "alice", server))


# -- the audit service over the wire -------------------------------------------------------


def _record_history(node: OpenNode, witness: OpenNode) -> dict[str, list[int]]:
    """Events about bob and carol in ``node``'s log; the indices of each one's entries."""
    log = node.audit_log
    about: dict[str, list[int]] = {"bob": [], "carol": []}
    for turn in range(7):
        peer = "bob" if turn % 3 else "carol"
        about[peer].append(
            log.append(EventKind.NEGOTIATION_EVENT, {"peer": peer, "negotiation": f"n-{turn}"})
        )
    about["bob"].append(
        log.append(EventKind.AGREEMENT, {"provider": node.name, "consumer": "bob", "id": "a-1"})
    )
    log.append(EventKind.JOB, {"kind": "sum"})  # about nobody
    about["bob"].append(
        log.record_peer_checkpoint(witness.audit_log.checkpoint(witness.identity.private_key))
    )
    return about


def test_the_checkpoint_and_its_proofs_verify_over_the_wire(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    _record_history(alice, bob)
    connection = connect(bob, "alice", serve(alice))
    public_key = connection.verified_peer().certificate.public_key()

    def checkpoint() -> Checkpoint:
        reply = connection.call(f"{AUDIT}/GetCheckpoint", serde.encode_checkpoint_request())
        found = serde.decode_checkpoint(reply)
        found.verify(public_key)
        return found

    old = checkpoint()
    assert (old.origin, old.size, old.root) == (
        "alice",
        alice.audit_log.size,
        alice.audit_log.root(),
    )
    for index in range(old.size):
        proof = serde.decode_proof(
            connection.call(
                f"{AUDIT}/GetInclusionProof", serde.encode_inclusion_request(index, old.size)
            )
        )
        verify_inclusion(
            leaf_hash(alice.audit_log.entry_bytes(index)), index, old.size, proof, old.root
        )
    alice.audit_log.append(EventKind.JOB, {"kind": "psi"})
    alice.audit_log.append(EventKind.JOB, {"kind": "sum"})
    new = checkpoint()
    assert new.size == old.size + 2
    proof = serde.decode_proof(
        connection.call(
            f"{AUDIT}/GetConsistencyProof", serde.encode_consistency_request(old.size, new.size)
        )
    )
    verify_consistency(old.size, new.size, old.root, new.root, proof)
    with pytest.raises(errors.AuditProofError):
        verify_consistency(old.size, new.size, old.root, bytes(32), proof)


def test_bad_proof_requests_get_precise_errors(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    _record_history(alice, bob)
    connection = connect(bob, "alice", serve(alice))
    size = alice.audit_log.size
    with pytest.raises(DecodeError, match="larger than new size"):
        connection.call(f"{AUDIT}/GetConsistencyProof", serde.encode_consistency_request(5, 3))
    with pytest.raises(NotFoundError, match="no tree of"):
        connection.call(
            f"{AUDIT}/GetConsistencyProof", serde.encode_consistency_request(1, size + 1)
        )
    with pytest.raises(NotFoundError, match=f"no audit entry {size}"):
        connection.call(f"{AUDIT}/GetInclusionProof", serde.encode_inclusion_request(size, size))
    with pytest.raises(DecodeError, match="outside the log"):
        connection.call(f"{AUDIT}/ListEntries", serde.encode_entries_request(size, size + 5))
    with pytest.raises(DecodeError, match="outside the log"):
        connection.call(f"{AUDIT}/ListEntries", serde.encode_entries_request(4, 2))


def _list_all(connection: PeerConnection) -> tuple[list[int], list[int]]:
    """Page through the whole log: the indices seen and the size of each page's range."""
    indices, spans = [], []
    start, end = 0, 0
    while True:
        reply = connection.call(f"{AUDIT}/ListEntries", serde.encode_entries_request(start, end))
        entries, next_start = serde.decode_entries(reply, start)
        tree_size = serde.audit_pb2.ListEntriesResponse.FromString(reply).tree_size
        indices += [index for index, _ in entries]
        spans.append(next_start - start)
        if next_start >= tree_size:
            return indices, spans
        start, end = next_start, tree_size


def test_list_entries_returns_only_the_callers_entries(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob, carol = open_node("alice"), open_node("bob"), open_node("carol")
    about = _record_history(alice, bob)
    server = serve(alice)
    for caller in (bob, carol):
        indices, _ = _list_all(connect(caller, "alice", server))
        assert indices == about[caller.name]
    entries, _ = serde.decode_entries(
        connect(bob, "alice", server).call(
            f"{AUDIT}/ListEntries", serde.encode_entries_request(0, 0)
        ),
        0,
    )
    for index, entry in entries:
        assert entry.to_bytes() == alice.audit_log.entry_bytes(index)


def test_list_entries_pages_are_bounded(
    open_node: OpenNodes, serve: Serve, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_servicers, "MAX_ENTRIES_PER_CALL", 3)
    alice, bob = open_node("alice"), open_node("bob")
    about = _record_history(alice, bob)
    indices, spans = _list_all(connect(bob, "alice", serve(alice)))
    assert indices == about["bob"]
    assert max(spans) == 3
    assert sum(spans) == alice.audit_log.size


def test_a_peers_log_verifies_end_to_end(
    open_node: OpenNodes, serve: Serve, connect: Connect
) -> None:
    alice, bob = open_node("alice"), open_node("bob")
    about = _record_history(alice, bob)
    connection = connect(bob, "alice", serve(alice))
    witness = StoredWitness(bob.store)
    first = verify_peer_log(connection, witness)
    assert first.previous_size is None
    assert [e.to_bytes() for e in first.entries_about_us] == [
        alice.audit_log.entry_bytes(i) for i in about["bob"]
    ]
    alice.audit_log.append(EventKind.NEGOTIATION_EVENT, {"peer": "bob"})
    second = verify_peer_log(connection, witness)
    assert second.previous_size == first.checkpoint.size
    assert len(second.entries_about_us) == len(about["bob"]) + 1
