"""Channels and servers over mutual TLS, with the limits, keepalives and retries of a node.

Every node-to-node connection is mutual TLS against the data space CA. gRPC checks the chain
and the validity period in the handshake; revocation it cannot check, so the server checks
each caller's certificate against the current revocation list (:func:`authenticated_caller`)
and a client checks the server's certificate the same way in a short TLS handshake of its own
before it opens the channel (:func:`verify_server`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import hashes

from tds import errors
from tds.connector._pki import NODE_CERTIFICATE_FILE, NODE_KEY_FILE, NodeIdentity
from tds.connector._status import ERROR_TRAILER, error_for_status
from tds.connector._trust import (
    CRL_FILE,
    PeerRole,
    TrustStore,
    VerifiedNode,
    tls_server_name,
    validate_node_name,
    verify_peer_certificate,
)
from tds.errors import AuthenticationError, ConfigError, PeerUnavailableError

__all__ = [
    "INSECURE_WARNING",
    "NODE_METADATA",
    "ReloadingTrustStore",
    "TransportSettings",
    "authenticated_caller",
    "call_with_retries",
    "channel_options",
    "open_channel",
    "parse_address",
    "server_options",
    "verify_server",
]

_log = logging.getLogger("tds.connector.transport")

INSECURE_WARNING = (
    "INSECURE MODE: TLS is off. Anyone who can reach this port can connect and claim to be "
    "any node. Use it only for development on a machine you control; never in a data space."
)
# In insecure mode there is no certificate, so the caller names itself in this header; with
# TLS the header is ignored and the certificate alone names the caller.
NODE_METADATA = "tds-node"
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_CALLER_CACHE_SECONDS = 60.0
# A DNS name or an IPv4 address; IPv6 goes in brackets. Nothing else reaches gRPC's target
# parser, which would read "dns:///x:1" or "unix:..." as other kinds of target.
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


@dataclass(frozen=True, kw_only=True)
class TransportSettings:
    """Limits and timings of a node's connections (``[transport]`` in node.toml)."""

    max_message_bytes: int = 4 * 1024 * 1024
    deadline_seconds: float = 10.0
    retry_attempts: int = 5
    retry_initial_backoff_seconds: float = 0.2
    retry_max_backoff_seconds: float = 5.0
    # Below the idle timeouts of common NATs and load balancers (often 5 to 15 minutes, some
    # as low as 2), so an idle connection between two nodes is not silently dropped.
    keepalive_time_seconds: float = 60.0
    keepalive_timeout_seconds: float = 20.0
    insecure: bool = False

    def __post_init__(self) -> None:
        _positive_int(self.max_message_bytes, "max_message_bytes", maximum=2**31 - 1)
        _positive_int(self.retry_attempts, "retry_attempts", maximum=100)
        for name in (
            "deadline_seconds",
            "retry_initial_backoff_seconds",
            "retry_max_backoff_seconds",
            "keepalive_time_seconds",
            "keepalive_timeout_seconds",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.insecure, bool):
            raise ConfigError(f"insecure must be true or false, got {self.insecure!r}")


def _positive_int(value: object, name: str, *, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ConfigError(f"{name} must be an integer from 1 to {maximum}, got {value!r}")


def parse_address(address: object, *, listening: bool = False) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) as ``(host, port)``; ConfigError otherwise.

    ``listening``: the address to bind, where port 0 asks the system for a free port.
    """
    if not isinstance(address, str) or ":" not in address:
        raise ConfigError(f"{address!r} is not an address of the form host:port")
    host, _, port_text = address.rpartition(":")
    lowest = 0 if listening else 1
    if (
        not _valid_host(host)
        or not (port_text.isascii() and port_text.isdigit())
        or not lowest <= int(port_text) < 65536
    ):
        raise ConfigError(
            f"{address!r} is not an address of the form host:port (a DNS name, an IPv4 "
            f"address or an [IPv6] address in brackets; port {lowest}-65535)"
        )
    return (host[1:-1] if host.startswith("[") else host), int(port_text)


def _valid_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return _HOST.fullmatch(host) is not None


def _keepalive_options(settings: TransportSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_seconds * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def server_options(settings: TransportSettings) -> list[tuple[str, int]]:
    """gRPC server options: message limits and keepalives that tolerate peers' pings."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # A peer pinging an idle connection at our own keepalive interval must not be cut off
        # as abusive (gRPC's default tolerates one ping every 5 minutes).
        (
            "grpc.http2.min_recv_ping_interval_without_data_ms",
            int(settings.keepalive_time_seconds * 500),
        ),
        # During a long job stream gRPC's own bandwidth probes come on top of the keepalives;
        # counting them as strikes made a server send GOAWAY (too_many_pings) to its peer.
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.so_reuseport", 0),
        *_keepalive_options(settings),
    ]


def channel_options(settings: TransportSettings, peer: str) -> list[tuple[str, int | str]]:
    """gRPC channel options for calls to node ``peer``."""
    options: list[tuple[str, int | str]] = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Retries are ours: bounded, on UNAVAILABLE only, and visible in the logs.
        ("grpc.enable_retries", 0),
        *_keepalive_options(settings),
    ]
    if not settings.insecure:
        options.append(("grpc.ssl_target_name_override", tls_server_name(peer)))
    return options


class ReloadingTrustStore:
    """The trust store of a node directory, reloaded when a new ``crl.pem`` is installed.

    A list that does not verify, or is older than the one in force, is refused with an error in
    the log and the current list stays in force.
    """

    def __init__(self, directory: str | Path) -> None:
        self._directory = Path(directory)
        self._lock = threading.Lock()
        self._stamp = self._crl_stamp()
        self._trust = TrustStore.load(self._directory)

    def _crl_stamp(self) -> tuple[int, int, int]:
        try:
            status = os.stat(self._directory / CRL_FILE)
        except OSError:
            return (0, 0, 0)
        # install_crl replaces the file by renaming a new one over it: a new inode even when
        # the list is replaced within one tick of the file system's clock, at the same size.
        return (status.st_mtime_ns, status.st_size, status.st_ino)

    def current(self) -> TrustStore:
        """The trust store with the newest valid revocation list installed."""
        stamp = self._crl_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._trust = self._trust.with_crl((self._directory / CRL_FILE).read_bytes())
                    _log.info("loaded revocation list number %d", self._trust.crl_number)
                except (OSError, errors.TdsError) as error:
                    _log.error("refused the new revocation list, keeping the old one: %s", error)
            return self._trust


class _CallerCache:
    """Verified client certificates, so a busy peer is not re-verified on every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[bytes, bytes], tuple[float, VerifiedNode]] = {}

    def verify(self, pem: bytes, trust: TrustStore) -> VerifiedNode:
        # The list itself, not its number: lists of two CAs (or two copies of one CA) can
        # share a number, and a verdict under one says nothing under the other.
        key = (hashlib.sha256(pem).digest(), trust.crl.fingerprint(hashes.SHA256()))
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        verified = verify_peer_certificate(pem, trust, role=PeerRole.CLIENT)
        with self._lock:
            if len(self._entries) > 4096:
                self._entries.clear()
            self._entries[key] = (now + _CALLER_CACHE_SECONDS, verified)
        return verified


_callers = _CallerCache()


class Caller(str):
    """The name of the node that made a call, with the party collections its verified
    certificate says it belongs to (``memberships``; None in insecure mode, where nothing is
    certified)."""

    memberships: frozenset[str] | None

    def __new__(cls, name: str, memberships: frozenset[str] | None) -> Caller:
        caller = super().__new__(cls, name)
        caller.memberships = memberships
        return caller


def authenticated_caller(
    context: grpc.ServicerContext, trust: ReloadingTrustStore | None
) -> Caller:
    """The node that made this call, from its verified client certificate.

    ``trust`` None is insecure mode: the caller's ``tds-node`` header is believed, and no
    membership is. Raises AuthenticationError for a missing, unverifiable or revoked
    certificate.
    """
    if trust is None:
        claimed = dict(context.invocation_metadata()).get(NODE_METADATA)
        if not isinstance(claimed, str):
            raise AuthenticationError(
                f"insecure mode: the caller must name itself in the {NODE_METADATA!r} header"
            )
        try:
            return Caller(validate_node_name(claimed), None)
        except ConfigError as error:
            raise AuthenticationError(
                f"insecure mode: the {NODE_METADATA!r} header names no node: {error}"
            ) from None
    certificates = context.auth_context().get("x509_pem_cert")
    if not certificates:
        raise AuthenticationError("the caller presented no client certificate")
    verified = _callers.verify(certificates[0], trust.current())
    return Caller(verified.name, verified.memberships)


def client_credentials(identity: NodeIdentity) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        identity.ca_certificate_pem, identity.private_key_pem, identity.certificate_pem
    )


def server_credentials(identity: NodeIdentity) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(identity.private_key_pem, identity.certificate_pem)],
        root_certificates=identity.ca_certificate_pem,
        require_client_auth=True,
    )


def verify_server(
    address: str,
    peer: str,
    directory: Path,
    trust: TrustStore,
    *,
    timeout: float,
) -> VerifiedNode:
    """Connect to ``address`` over TLS as the node in ``directory`` and verify that the server
    is node ``peer``: certificate from the data space CA, not expired, not revoked, and that
    it accepts our certificate.

    AuthenticationError when it is not (no retry helps); PeerUnavailableError when it cannot be
    reached.
    """
    host, port = parse_address(address)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=trust.ca_certificate_pem.decode())
    context.load_cert_chain(directory / NODE_CERTIFICATE_FILE, directory / NODE_KEY_FILE)
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=tls_server_name(peer)) as tls,
        ):
            certificate = tls.getpeercert(binary_form=True)
            # Under TLS 1.3 the server judges our certificate after the handshake: its first
            # HTTP/2 frame means it accepted us, an alert that it did not.
            tls.sendall(_HTTP2_PREFACE)
            if not tls.recv(9):
                raise AuthenticationError(
                    f"node {peer} at {address} closed the connection after the TLS handshake: "
                    "it refused our certificate (revoked, expired or from another CA)"
                )
    except ssl.SSLCertVerificationError as error:
        raise AuthenticationError(
            f"refusing {address}: its certificate does not prove it is node {peer} of this "
            f"data space ({error.verify_message})"
        ) from None
    except ssl.SSLError as error:
        raise AuthenticationError(
            f"TLS with {address} failed: {error.reason or error}; a peer that refuses our "
            "certificate (revoked, expired or from another CA) or does not speak TLS ends here"
        ) from None
    except (ConnectionError, TimeoutError, socket.gaierror, OSError) as error:
        raise PeerUnavailableError(f"cannot reach node {peer} at {address}: {error}") from None
    if certificate is None:
        raise AuthenticationError(f"node {peer} at {address} presented no certificate")
    return verify_peer_certificate(certificate, trust, role=PeerRole.SERVER, expected_name=peer)


def open_channel(
    address: str, peer: str, identity: NodeIdentity | None, settings: TransportSettings
) -> grpc.Channel:
    """A channel to node ``peer`` at ``address``; ``identity`` None only in insecure mode."""
    parse_address(address)
    options = channel_options(settings, peer)
    if identity is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, client_credentials(identity), options=options)


def call_with_retries(
    invoke: Callable[[float], bytes],
    *,
    peer: str,
    method: str,
    settings: TransportSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """Run ``invoke(deadline)`` and retry it on UNAVAILABLE only, with bounded exponential
    backoff and jitter; translate a final failure into the tds error the peer named.

    Messages that change state carry message ids, so a retried call that did reach the peer
    the first time gets the first reply and changes nothing.
    """
    backoff = settings.retry_initial_backoff_seconds
    for attempt in range(1, settings.retry_attempts + 1):
        try:
            return invoke(settings.deadline_seconds)
        except grpc.RpcError as error:
            code = error.code()
            if code is not grpc.StatusCode.UNAVAILABLE or attempt == settings.retry_attempts:
                raise translate_error(error, peer, method, attempts=attempt) from None
            pause = random.uniform(backoff / 2, backoff)
            _log.warning(
                "%s to %s: unavailable (%s); retry %d of %d in %.2fs",
                method,
                peer,
                error.details(),
                attempt,
                settings.retry_attempts - 1,
                pause,
            )
            sleep(pause)
            backoff = min(backoff * 2, settings.retry_max_backoff_seconds)
    raise AssertionError("unreachable")  # pragma: no cover


def translate_error(
    error: grpc.RpcError, peer: str, method: str, *, attempts: int
) -> errors.TdsError:
    """The tds exception for a failed call to ``peer``."""
    code = error.code()
    details = error.details() or code.name
    trailer = dict(error.trailing_metadata() or ()).get(ERROR_TRAILER)
    cls = error_for_status(code, trailer if isinstance(trailer, str) else None)
    if trailer:
        return cls(f"{peer}: {details}")
    if code is grpc.StatusCode.UNAVAILABLE:
        return cls(f"node {peer} is unreachable ({attempts} attempts): {details}")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return cls(f"node {peer} did not answer {method} within the deadline")
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        # gRPC answers RESOURCE_EXHAUSTED both for a message over the limit ("... larger than
        # max ...") and for a server at its limit of concurrent calls.
        if "larger than max" not in details:
            return PeerUnavailableError(f"node {peer} is too busy to take {method}: {details}")
        return cls(
            f"{method} to {peer}: {details} (the limit is [transport] max_message_bytes in "
            "node.toml, on the node that refused it)"
        )
    return cls(f"{method} to {peer} failed with {code.name}: {details}")
