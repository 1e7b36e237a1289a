"""run_local: both parties of a secure join in one process, through their serialized messages."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace

from tds._workers import process_pool, resolve_workers
from tds.he import PrivateKey
from tds.progress import ProgressCallback
from tds.psi._messages import Message, decode_message
from tds.psi._parties import DEFAULT_CHUNK_SIZE, LeftParty, RightParty
from tds.psi._result import Mode, PsiResult

__all__ = ["run_local"]


def run_local(
    left: Iterable[object],
    right: Iterable[object],
    mode: Mode | str = Mode.INTERSECTION,
    right_values: Sequence[int] | None = None,
    *,
    job_id: str | bytes | None = None,
    paillier_key: PrivateKey | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    insecure: bool = False,
) -> PsiResult:
    """Run the real two-party protocol between ``left`` and ``right`` in this process.

    Every message is encoded to bytes and decoded again on its way, exactly as a transport
    would carry it. Returns the joint view: ``items`` and ``counts`` as the left party
    learned them (``intersection``, ``both``), ``size`` (every mode), and ``sum`` as the right
    party decrypted it (``sum``, with ``right_values`` one integer per right item and the
    right's ``paillier_key``, a fresh 2048-bit key if none is given).

    ``workers`` processes (default: every core) share the scalar multiplications and hashing
    of both parties; ``workers=1`` keeps everything in this process. ``insecure=True`` lets a
    ``paillier_key`` below 2048 bits through (tests).
    """
    workers = resolve_workers(workers)
    executor = process_pool(workers) if workers > 1 else None
    job_id = secrets.token_hex(16) if job_id is None else job_id
    common = {
        "job_id": job_id,
        "mode": mode,
        "chunk_size": chunk_size,
        "executor": executor,
        "workers": workers,
        "progress": progress,
        "insecure": insecure,
    }
    left_party = LeftParty(left, **common)
    right_party = RightParty(right, values=right_values, paillier_key=paillier_key, **common)
    exchange(left_party, right_party)
    left_view, right_view = left_party.result(), right_party.result()
    return replace(left_view, sum=right_view.sum)


def exchange(left: LeftParty, right: RightParty) -> list[Message]:
    """Alternate the parties through serialized messages until neither has one; return them all."""
    moved: list[Message] = []
    while True:
        progressed = False
        for sender, receiver in ((left, right), (right, left)):
            message = sender.next_message()
            if message is not None:
                receiver.receive(decode_message(message.to_bytes()))
                moved.append(message)
                progressed = True
        if not progressed:
            return moved
