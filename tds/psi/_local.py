"""run_local: both parties of a secure join in one process, through their serialized messages."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace

from tds._workers import ExecutorChoice
from tds.errors import ConfigError
from tds.he._scheme import AnyPrivateKey, Scheme
from tds.progress import ProgressCallback
from tds.psi._buckets import (
    BUCKET_ITEMS,
    BUCKETED_MODES,
    BucketedLeftParty,
    BucketedRightParty,
    BucketJoin,
)
from tds.psi._messages import Message, decode_message
from tds.psi._oprf_parties import OPRF_MODES, OprfLeftParty, OprfRightParty
from tds.psi._parties import DEFAULT_CHUNK_SIZE, LeftParty, RightParty
from tds.psi._result import Mode, PsiResult, parse_mode

__all__ = ["OPRF_THRESHOLD", "PROTOCOLS", "choose_protocol", "run_local"]

PROTOCOLS = ("auto", "ecdh", "oprf")
# From this many items on the larger side, "auto" picks the OPRF join where the mode allows:
# below it both protocols finish in well under a second, and ECDH sends fewer bytes.
OPRF_THRESHOLD = 1 << 12


def choose_protocol(protocol: str, mode: Mode | str, left_size: int, right_size: int) -> str:
    """``ecdh`` or ``oprf`` for a join of these sizes: ``protocol`` itself unless it is
    ``auto``, which takes the OPRF join for intersection and both from
    :data:`OPRF_THRESHOLD` items on."""
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"unknown PSI protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}"
        )
    mode = parse_mode(mode)
    if protocol != "auto":
        return protocol
    fits = mode in OPRF_MODES and max(left_size, right_size) >= OPRF_THRESHOLD
    return "oprf" if fits else "ecdh"


def run_local(
    left: Iterable[object],
    right: Iterable[object],
    mode: Mode | str = Mode.INTERSECTION,
    right_values: Sequence[int] | None = None,
    *,
    job_id: str | bytes | None = None,
    sum_key: AnyPrivateKey | None = None,
    scheme: Scheme = "paillier",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    insecure: bool = False,
    protocol: str = "auto",
    executor: ExecutorChoice = "local",
    bucket_items: int | None = None,
) -> PsiResult:
    """Run the real two-party protocol between ``left`` and ``right`` in this process.

    Every message is encoded to bytes and decoded again on its way, exactly as a transport
    would carry it. Returns the joint view: ``items`` and ``counts`` as the left party
    learned them (``intersection``, ``both``), ``size`` (every mode), and ``sum`` as the right
    party decrypted it (``sum``, with ``right_values`` one integer per right item and the
    right's ``sum_key``: a Paillier ``PrivateKey`` or an ``OUPrivateKey``, or a fresh 2048-bit
    key of ``scheme``, ``"paillier"`` or ``"ou"`` (Okamoto-Uchiyama, several times faster),
    if none is given).

    Both parties share one ``executor`` for their scalar multiplications, hashing and blocks
    of columns: ``"local"``, the process pool of ``workers`` processes (default: every core;
    ``workers=1`` keeps everything in this process), ``"ray"``, a Ray cluster (``RAY_ADDRESS``,
    or a local one; ``pip install 'tds[ray]'``), or any ``concurrent.futures.Executor``.
    ``insecure=True`` lets a ``sum_key`` below 2048 bits through (tests).

    ``protocol`` is ``ecdh`` (X25519 blinding, every mode), ``oprf`` (the Chase-Miao OPRF:
    AES and bit operations instead of curve arithmetic, intersection and both only, its blocks
    of columns on the same ``workers``) or ``auto`` (:func:`choose_protocol`). Both give the
    same result.

    Intersection and both split sets of more than :data:`BUCKET_ITEMS` items into buckets
    (``BucketedLeftParty``), each bucket a join of ``protocol``; ``bucket_items`` sets the
    average bucket size and splits sets of any size.
    """
    left, right = _materialized(left), _materialized(right)
    sizes = [len(side) if hasattr(side, "__len__") else 0 for side in (left, right)]
    chosen = choose_protocol(protocol, mode, *sizes)
    bucketed = bucket_items is not None or (
        parse_mode(mode) in BUCKETED_MODES and max(sizes) > BUCKET_ITEMS
    )
    common = {
        "job_id": secrets.token_hex(16) if job_id is None else job_id,
        "mode": mode,
        "progress": progress,
        "executor": executor,
        "workers": workers,
    }
    if bucketed or chosen == "oprf":
        if right_values is not None or sum_key is not None:
            join = "a bucketed join" if bucketed else "the OPRF join"
            raise ConfigError(f"{join} adds up nothing: values are for mode 'sum' (ECDH)")
        if bucketed:
            right_party = BucketedRightParty(right, **common, protocol=chosen)
            left_party = BucketedLeftParty(
                left, **common, protocol=chosen, bucket_items=bucket_items or BUCKET_ITEMS
            )
        else:
            # The right first: the pool hashes its items while the left deduplicates its own.
            right_party = OprfRightParty(right, **common)
            left_party = OprfLeftParty(left, **common)
        exchange(left_party, right_party, keep=False)
        return left_party.result()
    common |= {"chunk_size": chunk_size, "insecure": insecure}
    left_party = LeftParty(left, **common)
    right_party = RightParty(right, values=right_values, sum_key=sum_key, scheme=scheme, **common)
    exchange(left_party, right_party, keep=False)
    left_view, right_view = left_party.result(), right_party.result()
    return replace(left_view, sum=right_view.sum)


def _materialized(items: Iterable[object]) -> Iterable[object]:
    # A sequence stays as given (a lone string is refused later as one item, not a set), and
    # so does what is not iterable at all (refused later too); any other iterable is read
    # once, so that its size is known.
    kept = list | tuple | str | bytes | bytearray | memoryview
    if isinstance(items, kept) or not hasattr(items, "__iter__"):
        return items
    return list(items)


Party = BucketJoin | BucketedLeftParty | BucketedRightParty


def exchange(left: Party, right: Party, *, keep: bool = True) -> list[Message]:
    """Alternate the parties through serialized messages until neither has one; return them
    all (none with ``keep=False``, so that a large join holds no more than a message)."""
    moved: list[Message] = []
    while True:
        progressed = False
        for sender, receiver in ((left, right), (right, left)):
            message = sender.next_message()
            if message is not None:
                receiver.receive(decode_message(message.to_bytes()))
                if keep:
                    moved.append(message)
                progressed = True
        if not progressed:
            return moved
