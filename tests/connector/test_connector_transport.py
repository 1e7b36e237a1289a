"""The pieces of a node's connections that need no server: addresses, settings, options,
bounded retries, caller authentication and the trust store that follows crl.pem."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, cast

import grpc
import pytest

from tds import errors
from tds.connector._pki import CertificateAuthority, NodeIdentity, enroll_node, install_crl
from tds.connector._status import ERROR_TRAILER
from tds.connector._transport import (
    NODE_METADATA,
    ReloadingTrustStore,
    TransportSettings,
    authenticated_caller,
    call_with_retries,
    channel_options,
    server_options,
)
from tds.connector._transport import parse_address as parse
from tds.connector._trust import CRL_FILE, PeerRole, verify_peer_certificate
from tds.errors import AuthenticationError, ConfigError

if TYPE_CHECKING:
    from conftest import RecordedLogs

Code = grpc.StatusCode
FAST = TransportSettings(
    deadline_seconds=0.5,
    retry_attempts=4,
    retry_initial_backoff_seconds=0.01,
    retry_max_backoff_seconds=0.03,
)


class _FailedCall(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str = "", trailer: str = "") -> None:
        self._code, self._details, self._trailer = code, details, trailer

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((ERROR_TRAILER, self._trailer),) if self._trailer else ()


# -- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("localhost:1", ("localhost", 1)),
        ("node-a.example.org:65535", ("node-a.example.org", 65535)),
        ("[::1]:443", ("::1", 443)),
        ("[2001:db8::7]:8443", ("2001:db8::7", 8443)),
        ("bob_1.internal:7000", ("bob_1.internal", 7000)),
    ],
)
def test_parse_address_accepts_host_and_port(address: str, expected: tuple[str, int]) -> None:
    assert parse(address) == expected
    assert parse(address, listening=True) == expected


@pytest.mark.parametrize(
    "address",
    [
        None,
        50051,
        b"127.0.0.1:1",
        "",
        "localhost",
        "localhost:",
        ":50051",
        "localhost:0",
        "localhost:65536",
        "localhost:-1",
        "localhost:+80",
        "localhost: 80",
        "localhost:8O",
        "localhost:\u0663",  # an Arabic-Indic digit three: isdigit() alone takes it
        "::1:80",  # IPv6 without brackets is ambiguous
        "[::1:80",
        "[not-v6]:80",
        "[]:80",
        "dns:///localhost:80",
        "unix:/tmp/sock:1",
        "user@host:22",
        "two words:80",
        "-leading.dash:80",
        "h" * 254 + ":80",
    ],
)
def test_parse_address_refuses_anything_else(address: object) -> None:
    with pytest.raises(ConfigError, match="host:port"):
        parse(address)


def test_port_zero_is_only_for_listening() -> None:
    assert parse("127.0.0.1:0", listening=True) == ("127.0.0.1", 0)
    assert parse("0.0.0.0:0", listening=True) == ("0.0.0.0", 0)
    assert parse("[::]:0", listening=True) == ("::", 0)
    with pytest.raises(ConfigError, match="port 1-65535"):
        parse("127.0.0.1:0")


# -- settings and options -----------------------------------------------------------------


def test_the_default_settings_are_valid_and_secure() -> None:
    settings = TransportSettings()
    assert settings.insecure is False
    assert settings.retry_attempts >= 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_message_bytes", 0),
        ("max_message_bytes", 2**31),
        ("max_message_bytes", 1.5),
        ("max_message_bytes", True),
        ("retry_attempts", 0),
        ("retry_attempts", 101),
        ("retry_attempts", "3"),
        ("deadline_seconds", 0),
        ("deadline_seconds", -1.0),
        ("deadline_seconds", float("nan")),
        ("deadline_seconds", True),
        ("deadline_seconds", "10"),
        ("retry_initial_backoff_seconds", 0.0),
        ("retry_max_backoff_seconds", None),
        ("keepalive_time_seconds", -5),
        ("keepalive_timeout_seconds", 0),
        ("insecure", 1),
        ("insecure", "false"),
    ],
)
def test_settings_refuse_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        TransportSettings(**{field: value})  # type: ignore[arg-type]


def test_options_carry_the_message_limit_and_turn_grpc_retries_off() -> None:
    settings = TransportSettings(max_message_bytes=12345, keepalive_time_seconds=30)
    client = dict(channel_options(settings, "bob"))
    assert client["grpc.max_send_message_length"] == 12345
    assert client["grpc.max_receive_message_length"] == 12345
    assert client["grpc.enable_retries"] == 0
    assert client["grpc.ssl_target_name_override"] == "bob.tds.invalid"
    assert client["grpc.keepalive_time_ms"] == 30000
    server = dict(server_options(settings))
    assert server["grpc.max_receive_message_length"] == 12345
    # A peer pinging at our own interval is tolerated.
    assert server["grpc.http2.min_recv_ping_interval_without_data_ms"] <= 30000
    # ... and so are gRPC's bandwidth probes during a long job stream.
    assert server["grpc.http2.max_ping_strikes"] == 0
    assert server["grpc.so_reuseport"] == 0


def test_insecure_channels_do_not_override_the_tls_name() -> None:
    options = dict(channel_options(TransportSettings(insecure=True), "bob"))
    assert "grpc.ssl_target_name_override" not in options


def test_channel_options_refuse_a_bad_peer_name() -> None:
    with pytest.raises(ConfigError, match="node name"):
        channel_options(TransportSettings(), "Bob!")


# -- retries ------------------------------------------------------------------------------


class _Peer:
    """An invoke() that fails with the given calls in turn, then answers."""

    def __init__(self, *failures: _FailedCall) -> None:
        self.failures = list(failures)
        self.deadlines: list[float] = []

    def __call__(self, deadline: float) -> bytes:
        self.deadlines.append(deadline)
        if self.failures:
            raise self.failures.pop(0)
        return b"reply"


def _retry(peer: _Peer, settings: TransportSettings = FAST) -> tuple[bytes, list[float]]:
    pauses: list[float] = []
    reply = call_with_retries(
        peer,
        peer="bob",
        method="tds.v1.NodeService/GetInfo",
        settings=settings,
        sleep=pauses.append,
    )
    return reply, pauses


def test_a_call_that_answers_is_made_once_with_the_deadline() -> None:
    peer = _Peer()
    assert _retry(peer) == (b"reply", [])
    assert peer.deadlines == [FAST.deadline_seconds]


def test_unavailable_is_retried_until_the_peer_answers(tds_log: RecordedLogs) -> None:
    peer = _Peer(_FailedCall(Code.UNAVAILABLE, "refused"), _FailedCall(Code.UNAVAILABLE, "x"))
    reply, pauses = _retry(peer)
    assert reply == b"reply"
    assert len(peer.deadlines) == 3
    assert len(pauses) == 2
    assert sum("retry 1 of 3" in m for m in tds_log.messages(logging.WARNING)) == 1


def test_unavailable_is_retried_a_bounded_number_of_times_with_bounded_backoff() -> None:
    settings = TransportSettings(
        retry_attempts=6, retry_initial_backoff_seconds=0.01, retry_max_backoff_seconds=0.025
    )
    peer = _Peer(*[_FailedCall(Code.UNAVAILABLE, "connection refused")] * 10)
    with pytest.raises(errors.PeerUnavailableError, match=r"unreachable \(6 attempts\)") as raised:
        _retry(peer, settings)
    assert "connection refused" in str(raised.value)
    assert len(peer.deadlines) == 6


def test_the_backoff_doubles_with_jitter_up_to_its_ceiling() -> None:
    settings = TransportSettings(
        retry_attempts=6, retry_initial_backoff_seconds=0.01, retry_max_backoff_seconds=0.025
    )
    pauses: list[float] = []
    with pytest.raises(errors.PeerUnavailableError):
        call_with_retries(
            _Peer(*[_FailedCall(Code.UNAVAILABLE)] * 10),
            peer="bob",
            method="M",
            settings=settings,
            sleep=pauses.append,
        )
    # Pauses before attempts 2..6: jittered in [b/2, b], b doubling from 10 ms, capped at 25.
    ceilings = [0.01, 0.02, 0.025, 0.025, 0.025]
    assert len(pauses) == len(ceilings)
    for pause, ceiling in zip(pauses, ceilings, strict=True):
        assert ceiling / 2 <= pause <= ceiling


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (_FailedCall(Code.NOT_FOUND, "no dataset x", "NotFoundError"), errors.NotFoundError),
        (_FailedCall(Code.DEADLINE_EXCEEDED, "late"), errors.PeerUnavailableError),
        (_FailedCall(Code.UNAUTHENTICATED, "revoked"), errors.AuthenticationError),
        (_FailedCall(Code.INVALID_ARGUMENT, "bad", "DecodeError"), errors.DecodeError),
        (_FailedCall(Code.INTERNAL, "bug"), errors.ConnectorError),
    ],
)
def test_other_failures_are_not_retried(
    failure: _FailedCall, expected: type[errors.TdsError]
) -> None:
    peer = _Peer(failure)
    with pytest.raises(expected):
        _retry(peer)
    assert len(peer.deadlines) == 1


def test_a_single_attempt_setting_never_retries() -> None:
    peer = _Peer(_FailedCall(Code.UNAVAILABLE, "down"))
    with pytest.raises(errors.PeerUnavailableError, match=r"\(1 attempts\)"):
        _retry(peer, TransportSettings(retry_attempts=1))
    assert len(peer.deadlines) == 1


# -- who is calling -----------------------------------------------------------------------


class _Context:
    """The two things authenticated_caller reads from a grpc.ServicerContext."""

    def __init__(self, metadata: tuple[tuple[str, str], ...] = (), pem: bytes | None = None):
        self._metadata = metadata
        self._auth = {} if pem is None else {"x509_pem_cert": [pem]}

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth


def _caller(context: _Context, trust: ReloadingTrustStore | None) -> str:
    return authenticated_caller(cast(grpc.ServicerContext, context), trust)


def test_insecure_mode_believes_the_callers_header() -> None:
    context = _Context(((NODE_METADATA, "bob"),))
    assert _caller(context, None) == "bob"


@pytest.mark.parametrize("metadata", [(), (("other", "bob"),), ((NODE_METADATA, "Bob!"),)])
def test_insecure_mode_refuses_a_caller_that_names_no_node(
    metadata: tuple[tuple[str, str], ...],
) -> None:
    with pytest.raises(AuthenticationError, match=NODE_METADATA):
        _caller(_Context(metadata), None)


# -- the trust store and crl.pem ----------------------------------------------------------


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca", "Demo space")


@pytest.fixture
def alice(ca: CertificateAuthority, tmp_path: Path) -> Path:
    enroll_node(tmp_path / "alice", "alice", ca)
    return tmp_path / "alice"


@pytest.fixture
def bob(ca: CertificateAuthority, tmp_path: Path) -> NodeIdentity:
    return enroll_node(tmp_path / "bob", "bob", ca)


def test_a_tls_caller_is_named_by_its_verified_certificate(alice: Path, bob: NodeIdentity) -> None:
    trust = ReloadingTrustStore(alice)
    context = _Context(((NODE_METADATA, "mallory"),), pem=bob.certificate_pem)
    # With TLS the header is ignored: only the certificate names the caller.
    assert _caller(context, trust) == "bob"


def test_a_tls_caller_without_a_certificate_is_refused(alice: Path) -> None:
    with pytest.raises(AuthenticationError, match="no client certificate"):
        _caller(_Context(((NODE_METADATA, "bob"),)), ReloadingTrustStore(alice))


def test_the_trust_store_picks_up_a_newly_installed_crl(
    alice: Path, bob: NodeIdentity, ca: CertificateAuthority, tds_log: RecordedLogs
) -> None:
    trust = ReloadingTrustStore(alice)
    before = trust.current()
    verify_peer_certificate(bob.certificate_pem, before, role=PeerRole.CLIENT)
    ca.revoke("bob")
    install_crl(alice, ca.crl_pem)
    after = trust.current()
    assert after.crl_number == before.crl_number + 1
    with pytest.raises(AuthenticationError, match="revoked"):
        verify_peer_certificate(bob.certificate_pem, after, role=PeerRole.CLIENT)
    assert trust.current() is after  # not reloaded again while the file is unchanged
    assert any("revocation list number" in m for m in tds_log.messages(logging.INFO))


def test_a_revoked_caller_is_refused_once_the_crl_is_installed(
    alice: Path, bob: NodeIdentity, ca: CertificateAuthority
) -> None:
    trust = ReloadingTrustStore(alice)
    context = _Context(pem=bob.certificate_pem)
    assert _caller(context, trust) == "bob"
    ca.revoke("bob")
    install_crl(alice, ca.crl_pem)
    # The verdict cached under the old list does not carry over to the new one.
    with pytest.raises(AuthenticationError, match="revoked"):
        _caller(context, trust)


def test_the_caller_cache_does_not_mix_up_two_lists_with_one_number(
    tmp_path: Path, ca: CertificateAuthority, alice: Path, bob: NodeIdentity
) -> None:
    # Two copies of one CA part ways: both publish list number 2, only one revokes bob.
    twin = tmp_path / "ca-twin"
    shutil.copytree(ca.directory, twin)
    twin_ca = CertificateAuthority.load(twin)
    enroll_node(tmp_path / "carol", "carol", ca)
    ca.publish_crl()
    twin_ca.revoke("bob")
    assert twin_ca.trust_store().crl_number == ca.trust_store().crl_number
    install_crl(alice, ca.crl_pem)
    install_crl(tmp_path / "carol", twin_ca.crl_pem)
    context = _Context(pem=bob.certificate_pem)
    assert _caller(context, ReloadingTrustStore(alice)) == "bob"
    with pytest.raises(AuthenticationError, match="revoked"):
        _caller(context, ReloadingTrustStore(tmp_path / "carol"))


def test_a_crl_replaced_within_one_clock_tick_is_still_picked_up(
    alice: Path, ca: CertificateAuthority
) -> None:
    trust = ReloadingTrustStore(alice)
    path = alice / CRL_FILE
    old = os.stat(path)
    # The same size and modification time as the list in force, as when both are written
    # within one tick of the file system's clock: only the file's identity differs. ECDSA
    # signatures vary in length, so publish until one has the old size.
    for _ in range(64):
        crl = ca.publish_crl()
        if len(crl) == old.st_size:
            break
    assert len(crl) == old.st_size
    install_crl(alice, crl)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert trust.current().crl_pem == crl


def test_the_trust_store_refuses_a_rollback_to_an_older_crl(
    alice: Path, bob: NodeIdentity, ca: CertificateAuthority, tds_log: RecordedLogs
) -> None:
    trust = ReloadingTrustStore(alice)
    old_crl = (alice / CRL_FILE).read_bytes()
    ca.revoke("bob")
    install_crl(alice, ca.crl_pem)
    revoked = trust.current()
    # Someone puts the old list back by hand (install_crl itself refuses to).
    with pytest.raises(AuthenticationError, match="roll back"):
        install_crl(alice, old_crl)
    (alice / CRL_FILE).write_bytes(old_crl)
    assert trust.current().crl_number == revoked.crl_number
    with pytest.raises(AuthenticationError, match="revoked"):
        verify_peer_certificate(bob.certificate_pem, trust.current(), role=PeerRole.CLIENT)
    assert any("refusing to roll back" in m for m in tds_log.messages(logging.ERROR))


@pytest.mark.parametrize("content", [b"", b"not a crl", None])
def test_a_broken_or_missing_crl_file_keeps_the_list_in_force(
    alice: Path, content: bytes | None, tds_log: RecordedLogs
) -> None:
    trust = ReloadingTrustStore(alice)
    number = trust.current().crl_number
    if content is None:
        (alice / CRL_FILE).unlink()
    else:
        (alice / CRL_FILE).write_bytes(content)
    assert trust.current().crl_number == number
    assert tds_log.messages(logging.ERROR)


def test_a_crl_from_another_ca_keeps_the_list_in_force(
    alice: Path, tmp_path: Path, tds_log: RecordedLogs
) -> None:
    trust = ReloadingTrustStore(alice)
    in_force = trust.current()
    other = CertificateAuthority.create(tmp_path / "other", "Other space")
    other.publish_crl()
    other.publish_crl()
    (alice / CRL_FILE).write_bytes(other.crl_pem)
    assert trust.current() is in_force
    assert any("another CA" in m for m in tds_log.messages(logging.ERROR))


def test_the_trust_store_needs_a_node_directory(tmp_path: Path) -> None:
    with pytest.raises(errors.NotFoundError):
        ReloadingTrustStore(tmp_path / "nowhere")


def test_a_stale_crl_refuses_every_caller(
    tmp_path: Path, alice: Path, bob: NodeIdentity, ca: CertificateAuthority
) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    install_crl(alice, ca.publish_crl(validity=dt.timedelta(days=1), now=long_ago))
    with pytest.raises(AuthenticationError, match="stale"):
        _caller(_Context(pem=bob.certificate_pem), ReloadingTrustStore(alice))
