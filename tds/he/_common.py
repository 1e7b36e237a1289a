"""What the Paillier and Okamoto-Uchiyama keys share: identity, and the batch and vector
methods.

Each scheme's key supplies the single-value primitives (``encode``, ``raw_encrypt``,
``raw_decrypt``, ``to_bytes``, ``scheme``, ``n`` and its ``_digest``); these bases name the key
by its digest and run the primitives over batches, on a process pool or another executor when
a batch is large, and over packed vectors.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from gmpy2 import mpz

from tds._workers import ExecutorChoice
from tds.errors import InvalidCiphertextError, PlaintextRangeError
from tds.he import _pool
from tds.he._ciphertext import Ciphertext
from tds.he._integers import as_list
from tds.progress import ProgressCallback

if TYPE_CHECKING:
    from tds.he._packing import EncryptedVector


class CommonPublicKey:
    """A public key's identity (``digest``, ``fingerprint``, equality), ``encrypt_many``,
    ``raw_encrypt_many`` and ``encrypt_vector``."""

    __slots__ = ()

    @property
    def n_bits(self) -> int:
        return self.n.bit_length()  # type: ignore[attr-defined, no-any-return]

    @property
    def digest(self) -> bytes:
        """SHA-256 naming the key inside serialized objects (see docs/concepts.md)."""
        return self._digest  # type: ignore[attr-defined, no-any-return]

    @property
    def fingerprint(self) -> str:
        """The first 16 hex digits of :attr:`digest`, for logs."""
        return self.digest.hex()[:16]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.digest == self.digest  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.n_bits} bits fingerprint={self.fingerprint}>"

    def encrypt_many(
        self,
        values: Iterable[int],
        *,
        strict: bool = False,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        executor: ExecutorChoice = "local",
    ) -> list[Ciphertext]:
        """Encrypt many integers on ``executor``: ``"local"``, this machine's process pool of
        ``workers`` processes (default: all cores), ``"ray"`` (a Ray cluster) or a
        ``concurrent.futures.Executor``. Workers get the public key and the plaintexts.

        ``progress`` receives ``Progress(scheme, "encrypt", done, total)`` as chunks finish.
        """
        _pool.check_progress(progress)
        residues = [int(self.encode(v)) for v in as_list(values, "values")]  # type: ignore[attr-defined]
        raw = self.raw_encrypt_many(
            residues, strict=strict, workers=workers, progress=progress, executor=executor
        )
        return [Ciphertext._trusted(self, c) for c in raw]  # type: ignore[arg-type]

    def raw_encrypt_many(
        self,
        residues: list[int],
        *,
        strict: bool = False,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        executor: ExecutorChoice = "local",
    ) -> list[mpz]:
        """:meth:`raw_encrypt` over a batch, on ``executor`` when it is large."""
        key: Any = self
        _pool.check_progress(progress)
        residues = [key._checked_residue(m) for m in as_list(residues, "residues")]
        raw = _pool.map_batches(
            lambda batch: [key.raw_encrypt(m, strict=strict) for m in batch],
            functools.partial(_pool.encrypt_chunk, key.to_bytes(), strict),
            residues,
            workers,
            widths=_pool.widths(key),
            stage="encrypt",
            progress=progress,
            executor=executor,
            role=key.scheme,
        )
        return [mpz(c) for c in raw]

    def encrypt_vector(
        self,
        values: Any,
        *,
        bound: int | None = None,
        max_additions: int | None = None,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        executor: ExecutorChoice = "local",
    ) -> EncryptedVector:
        """Encrypt a one-dimensional integer array, many values per ciphertext.

        ``bound`` caps ``|value|`` (default ``2**63 - 1``: every int64 but ``-2**63``) and
        ``max_additions`` is how many such vectors may be summed (default 1024). Everyone who
        wants to add vectors must use the same two numbers; smaller ones pack more values into
        each ciphertext. ``progress`` counts ciphertexts (stage ``encrypt``); ``executor`` and
        ``workers`` as for :meth:`encrypt_many`.
        """
        from tds.he._packing import PackingLayout, encrypt_packed

        _pool.check_progress(progress)
        layout = PackingLayout.create(self, bound=bound, max_additions=max_additions)  # type: ignore[arg-type]
        return encrypt_packed(
            self,  # type: ignore[arg-type]
            layout,
            values,
            workers=workers,
            progress=progress,
            executor=executor,
        )


def decode_signed(residue: int, modulus: int, max_int: int) -> int:
    """The signed integer a residue modulo ``modulus`` stands for: ``[0, max_int]`` as itself,
    ``[modulus - max_int, modulus)`` as negative; anything between is an overflow."""
    if residue <= max_int:
        return int(residue)
    if residue >= modulus - max_int:
        return int(residue - modulus)
    raise PlaintextRangeError("decrypted value lies outside the signed range: an overflow")


class CommonPrivateKey:
    """A private key's identity (that of its ``public_key``), ``raw_decrypt``, ``decrypt``,
    ``decrypt_many``, ``raw_decrypt_many`` and ``decrypt_vector``, for a key with a
    ``_decrypt_residue`` of checked ciphertexts and a ``_decode``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.public_key!r}>"  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.public_key == self.public_key  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.public_key)  # type: ignore[attr-defined]

    def raw_decrypt(self, value: int) -> mpz:
        """The plaintext residue inside a raw ciphertext (the raw layer)."""
        key: Any = self
        return key._decrypt_residue(key.public_key._checked_ciphertext(value))

    def decrypt(self, ciphertext: Ciphertext) -> int:
        """The signed integer inside ``ciphertext``."""
        key: Any = self
        self._check_ciphertext(ciphertext)
        return key._decode(key._decrypt_residue(ciphertext._value))

    def decrypt_many(
        self,
        ciphertexts: Sequence[Ciphertext],
        *,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[int]:
        """Decrypt many ciphertexts on this machine's process pool of ``workers`` (default: all
        cores). There is no ``executor``: the private key goes to no process but its owner's.

        ``progress`` receives ``Progress(scheme, "decrypt", done, total)`` as chunks finish.
        """
        key: Any = self
        _pool.check_progress(progress)
        ciphertexts = as_list(ciphertexts, "ciphertexts", error=InvalidCiphertextError)
        for c in ciphertexts:
            self._check_ciphertext(c)
        residues = self.raw_decrypt_many(
            [c._value for c in ciphertexts], workers=workers, progress=progress
        )
        return [key._decode(r) for r in residues]

    def raw_decrypt_many(
        self,
        values: list[int],
        *,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[mpz]:
        """:meth:`raw_decrypt` over a batch, on the process pool when it is large."""
        key: Any = self
        _pool.check_progress(progress)
        values = as_list(values, "ciphertexts", error=InvalidCiphertextError)
        checked = [int(key.public_key._checked_ciphertext(v)) for v in values]
        raw = _pool.map_batches(
            lambda batch: [key._decrypt_residue(mpz(c)) for c in batch],
            functools.partial(_pool.decrypt_chunk, key.to_bytes()),
            checked,
            workers,
            widths=_pool.widths(key.public_key)[::-1],  # ciphertexts in, residues out
            stage="decrypt",
            progress=progress,
            role=key.public_key.scheme,
        )
        return [mpz(m) for m in raw]

    def decrypt_vector(
        self,
        vector: EncryptedVector,
        *,
        dtype: Any = np.int64,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """The summed integer vector; ``dtype=object`` returns exact Python ints.

        ``progress`` counts ciphertexts (stage ``decrypt``).
        """
        from tds.he._packing import decrypt_packed

        _pool.check_progress(progress)
        return decrypt_packed(self, vector, dtype=dtype, workers=workers, progress=progress)  # type: ignore[arg-type]

    def _check_ciphertext(self, ciphertext: Any) -> None:
        if not isinstance(ciphertext, Ciphertext):
            raise InvalidCiphertextError(f"expected a Ciphertext, not {type(ciphertext).__name__}")
        ciphertext._check_same_key_as(self.public_key)  # type: ignore[attr-defined]
