"""The two additive schemes behind one entry point: key generation and loading by scheme."""

from __future__ import annotations

from typing import Any, Literal

from tds.errors import ConfigError, DecodeError
from tds.he import _keys, _ou
from tds.he._keys import DEFAULT_KEY_BITS, PrivateKey, PublicKey, generate_paillier_keypair
from tds.he._ou import OUPrivateKey, OUPublicKey, generate_ou_keypair

Scheme = Literal["paillier", "ou"]
SCHEMES: tuple[Scheme, ...] = ("paillier", "ou")
AnyPublicKey = PublicKey | OUPublicKey
AnyPrivateKey = PrivateKey | OUPrivateKey

_PUBLIC: dict[bytes, Any] = {_keys.PUBLIC_MAGIC: PublicKey, _ou.PUBLIC_MAGIC: OUPublicKey}
_PRIVATE: dict[bytes, Any] = {_keys.PRIVATE_MAGIC: PrivateKey, _ou.PRIVATE_MAGIC: OUPrivateKey}


def check_scheme(scheme: object) -> Scheme:
    """``scheme`` if it names one of :data:`SCHEMES`, else ConfigError."""
    if scheme not in SCHEMES:
        raise ConfigError(f"scheme is 'paillier' or 'ou', not {scheme!r:.40}")
    return scheme  # type: ignore[return-value]


def generate_keypair(
    n_bits: int = DEFAULT_KEY_BITS, *, scheme: Scheme = "paillier", insecure: bool = False
) -> tuple[AnyPublicKey, AnyPrivateKey]:
    """A fresh key pair with a modulus of exactly ``n_bits`` bits.

    ``scheme="paillier"`` (the default, and the one that interoperates with python-paillier)
    or ``"ou"``: Okamoto-Uchiyama, several times faster to encrypt, decrypt and add, with the
    same methods. 2048 bits is the default and 3072 is offered; anything below 2048 is refused
    unless ``insecure=True`` (tests only), and nothing below 512 or above 8192 is made at all.
    """
    if check_scheme(scheme) == "ou":
        return generate_ou_keypair(n_bits, insecure=insecure)
    return generate_paillier_keypair(n_bits, insecure=insecure)


def load_public_key(data: bytes, *, insecure: bool = False) -> AnyPublicKey:
    """A public key of either scheme from its ``to_bytes``, told apart by the magic bytes."""
    key: AnyPublicKey = _load(_PUBLIC, data, insecure, "public key (Paillier TDPK or OU TDOK)")
    return key


def load_private_key(data: bytes, *, insecure: bool = False) -> AnyPrivateKey:
    """A private key of either scheme from its ``to_bytes``, told apart by the magic bytes."""
    key: AnyPrivateKey = _load(_PRIVATE, data, insecure, "private key (Paillier TDSK or OU TDOS)")
    return key


def _load(kinds: dict[bytes, Any], data: object, insecure: bool, what: str) -> Any:
    kind = kinds.get(bytes(data[:4])) if isinstance(data, bytes | bytearray) else None
    if kind is None:
        raise DecodeError(f"not a tds {what}")
    return kind.from_bytes(bytes(data), insecure=insecure)
