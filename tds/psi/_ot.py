"""Random oblivious transfer over X25519, for the seeds of the OPRF's matrix.

One random OT gives the *sender* two random 16-byte keys ``k0, k1`` and the *receiver*, who
holds a choice bit ``c``, the key ``k_c`` only; the sender does not learn ``c``, the receiver
learns nothing about ``k_{1-c}``. The OPRF needs one per column of its matrix (a few hundred),
so they are made directly from Diffie-Hellman rather than extended from 128 base OTs: a few
hundred X25519 multiplications take tens of milliseconds, against seconds for the rest of the
join.

The construction is public-key encryption with oblivious key sampling, secure against
semi-honest parties (as is the OPRF built on it):

- The receiver makes, for each OT, one real public key ``sk·G`` and one key sampled without
  a secret: the RFC 9380 hash of a fresh random seed onto curve25519, which lands in the same
  prime-order subgroup and whose discrete logarithm nobody knows. It sends them as the pair
  ``(pk0, pk1)``, the real one at position ``c``; the two are equally distributed, so the pair
  hides ``c``.
- The sender picks an ephemeral ``e`` per OT, sends ``e·G``, and derives ``k_b`` by hashing
  ``e·pk_b`` (with the job, the OT's index, ``b`` and both public values).
- The receiver derives ``k_c`` from ``sk·(e·G)``; ``k_{1-c}`` would need the discrete
  logarithm of the sampled key.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from tds.errors import ProtocolError
from tds.psi._hash_to_curve import SUITE_ID, hash_to_u_batch

__all__ = ["KEY_BYTES", "PUBLIC_BYTES", "RandomOtReceiver", "RandomOtSender"]

KEY_BYTES = 16
PUBLIC_BYTES = 32
_DST = b"TDS-OT-V01-CS01-with-" + SUITE_ID
_KDF = b"tds random OT v1"


def _key(
    job_id: bytes, index: int, choice: int, ephemeral: bytes, public: bytes, shared: bytes
) -> bytes:
    prefix = (_KDF, len(job_id).to_bytes(1, "big"), job_id, index.to_bytes(4, "big"))
    material = b"".join((*prefix, bytes([choice]), ephemeral, public, shared))
    return hashlib.sha256(material).digest()[:KEY_BYTES]


def _exchange(private: X25519PrivateKey, public: bytes) -> bytes:
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        # A point of small order gives the all-zero secret: only a broken peer sends one.
        raise ProtocolError("an oblivious-transfer key is not a usable curve25519 point") from None


class RandomOtReceiver:
    """The receiver of ``len(choices)`` random OTs, with its choice bits."""

    def __init__(self, job_id: bytes, choices: np.ndarray) -> None:
        self._job_id = job_id
        self._choices = [int(bit) for bit in np.asarray(choices, dtype=np.uint8)]
        self._secrets = [X25519PrivateKey.generate() for _ in self._choices]
        seeds = [secrets.token_bytes(32) for _ in self._choices]
        self._sampled = hash_to_u_batch(seeds, _DST + job_id[:32])
        self._pairs: list[tuple[bytes, bytes]] = []
        for choice, secret, sampled in zip(
            self._choices, self._secrets, self._sampled, strict=True
        ):
            real = secret.public_key().public_bytes_raw()
            self._pairs.append((real, sampled) if choice == 0 else (sampled, real))

    def request(self) -> bytes:
        """The public keys to send: ``pk0 || pk1`` for each OT, 64 bytes each."""
        return b"".join(first + second for first, second in self._pairs)

    def keys(self, reply: bytes) -> list[bytes]:
        """``k_c`` for each OT, from the sender's ephemeral public values."""
        if len(reply) != PUBLIC_BYTES * len(self._choices):
            raise ProtocolError(
                f"expected {len(self._choices)} ephemeral keys, got {len(reply)} bytes"
            )
        keys = []
        for index, (choice, secret) in enumerate(zip(self._choices, self._secrets, strict=True)):
            ephemeral = reply[index * PUBLIC_BYTES : (index + 1) * PUBLIC_BYTES]
            shared = _exchange(secret, ephemeral)
            public = self._pairs[index][choice]
            keys.append(_key(self._job_id, index, choice, ephemeral, public, shared))
        return keys


class RandomOtSender:
    """The sender of random OTs: answers a receiver's request with both keys of each OT."""

    def __init__(self, job_id: bytes, count: int) -> None:
        self._job_id = job_id
        self._count = count

    def answer(self, request: bytes) -> tuple[bytes, list[bytes], list[bytes]]:
        """The reply to send (one ephemeral public value per OT), and the keys ``k0``, ``k1``."""
        if len(request) != 2 * PUBLIC_BYTES * self._count:
            raise ProtocolError(
                f"expected {self._count} public key pairs, got {len(request)} bytes"
            )
        reply, zeros, ones = [], [], []
        for index in range(self._count):
            ephemeral = X25519PrivateKey.generate()
            public_ephemeral = ephemeral.public_key().public_bytes_raw()
            reply.append(public_ephemeral)
            pair = request[index * 2 * PUBLIC_BYTES : (index + 1) * 2 * PUBLIC_BYTES]
            for choice, keys in ((0, zeros), (1, ones)):
                public = pair[choice * PUBLIC_BYTES : (choice + 1) * PUBLIC_BYTES]
                shared = _exchange(ephemeral, public)
                keys.append(_key(self._job_id, index, choice, public_ephemeral, public, shared))
        return b"".join(reply), zeros, ones
