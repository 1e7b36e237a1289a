"""The two parties of a secure join, as state machines that never touch the network.

The left party (receiver) holds items x; the right party (sender) holds items y, and in
``sum`` mode an integer value per item. Each party is driven by two calls: :meth:`receive`
takes a message from the peer, :meth:`next_message` hands out the next message for the peer
(or ``None`` while it waits). Whoever moves the bytes (:func:`~tds.psi.run_local`, the
connector) alternates them until both parties are :attr:`done`.

Message flow, with fresh scalars a (left) and b (right) and H the per-job hash to the curve::

    left                                               right
    LeftPoints     a·H(x), shuffled, in chunks   ->
                                                 <-    LeftDigests   digest(b·a·H(x)); in order
                                                       per chunk, or (cardinality, sum) all
                                                       shuffled together once every chunk is in
                                                 <-    RightKey      (sum) Paillier or OU public key
                                                 <-    RightPoints   b·H(y), shuffled, in chunks
                                                                     (sum: with Enc(value))
    digest(a·b·H(y)) matched against the LeftDigests
    MatchBitmap    (both) which right points matched ->
    EncryptedSum   (sum) size, rerandomized sum      ->
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import Enum, auto
from typing import ClassVar

import numpy as np

from tds._workers import ExecutorChoice, resolve_executor
from tds.errors import (
    ConfigError,
    JobMismatchError,
    PlaintextRangeError,
    ProtocolError,
    UnexpectedMessageError,
)
from tds.he import Ciphertext, OUPrivateKey, PrivateKey, generate_keypair, load_public_key
from tds.he._scheme import AnyPrivateKey, AnyPublicKey, Scheme, check_scheme
from tds.progress import Progress, ProgressCallback
from tds.psi._group import (
    DIGEST_BYTES,
    Batches,
    Pending,
    check_points,
    fresh_scalar,
    prefetched,
)
from tds.psi._hash_to_curve import SUITE_ID
from tds.psi._items import deduplicate
from tds.psi._messages import (
    MAX_CHUNK_ITEMS,
    EncryptedSum,
    LeftDigests,
    LeftPoints,
    MatchBitmap,
    Message,
    RightKey,
    RightPoints,
    job_id_bytes,
)
from tds.psi._result import Disclosure, Mode, PsiResult, parse_mode, with_items
from tds.psi._shuffle import random_permutation

__all__ = ["DEFAULT_CHUNK_SIZE", "DST_PREFIX", "LeftParty", "RightParty"]

DST_PREFIX = b"TDS-PSI-V01-CS01-with-" + SUITE_ID + b":"
# 4096 points are 128 KiB; with 3072-bit Paillier ciphertexts a sum chunk stays under 4 MiB.
DEFAULT_CHUNK_SIZE = 4096
# Chunks computed ahead of the one being handed out, so the workers never wait for the caller.
_LOOKAHEAD = 2
_DIGEST_DTYPE = np.dtype(f"S{DIGEST_BYTES}")
_log = logging.getLogger("tds.psi")


class _Phase(Enum):
    SENDING_POINTS = auto()  # left: handing out LeftPoints
    AWAITING_LEFT_POINTS = auto()  # right
    AWAITING_DIGESTS = auto()  # left
    AWAITING_KEY = auto()  # left, sum
    AWAITING_RIGHT_POINTS = auto()  # left
    SENDING_REPLIES = auto()  # right: digests, key and own points still to hand out
    AWAITING_OUTCOME = auto()  # right, both and sum: the left's last message
    FINISHING = auto()  # left, both and sum: its last message still to hand out
    DONE = auto()


class _Party(ABC):
    """What both parties share: job identity, scalar, workers and the outbox."""

    ROLE: ClassVar[str]

    def __init__(
        self,
        *,
        job_id: str | bytes,
        mode: Mode | str,
        chunk_size: int,
        executor: ExecutorChoice,
        workers: int | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.job_id = job_id_bytes(job_id)
        self.mode = parse_mode(mode)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise ConfigError("chunk_size must be an integer")
        if not 1 <= chunk_size <= MAX_CHUNK_ITEMS:
            raise ConfigError(f"chunk_size must be between 1 and {MAX_CHUNK_ITEMS}")
        self._chunk_size = chunk_size
        if progress is not None and not callable(progress):
            raise ConfigError(
                f"progress must be a callable taking a Progress, not {type(progress).__name__}"
            )
        self._batches = Batches(*resolve_executor(executor, workers))
        self._progress = progress
        # The hash to the curve is bound to this job: its points are useless in any other.
        self._dst = DST_PREFIX + self.job_id
        self._scalar = fresh_scalar()
        self._outbox: deque[Iterator[Message]] = deque()

    @property
    def _phase(self) -> _Phase:
        return self._current_phase

    @_phase.setter
    def _phase(self, phase: _Phase) -> None:
        # Every phase change passes here, so every one is logged; sizes only, never items,
        # scalars or keys.
        self._current_phase = phase
        if _log.isEnabledFor(logging.DEBUG):
            sizes = f"{len(self._own)} own keys"
            if self._peer_total is not None:
                sizes += f", {self._peer_total} peer keys"
            shared = self._shared_size() if phase is _Phase.DONE else None
            if shared is not None:
                sizes += f", {shared} shared"
            _log.debug(
                "%s party of job %r (%s): %s; %s",
                self.ROLE,
                self.job_id.decode("utf-8", "backslashreplace"),
                self.mode.value,
                phase.name.lower().replace("_", " "),
                sizes,
            )

    @abstractmethod
    def _shared_size(self) -> int | None:
        """How many keys are shared, once the party has learned it; else None."""

    @property
    def set_size(self) -> int:
        """How many distinct keys this party brings (duplicates count once)."""
        return len(self._own)

    @property
    def done(self) -> bool:
        """True once the party has handed out its last message and has its result."""
        return self._phase is _Phase.DONE

    def next_message(self) -> Message | None:
        """The next message for the peer, or ``None`` while waiting for the peer."""
        while self._outbox:
            message = next(self._outbox[0], None)
            if message is not None:
                return message
            self._outbox.popleft()
        return None

    def receive(self, message: Message) -> None:
        """Take a message from the peer.

        A message that does not fit raises (``JobMismatchError``, ``UnexpectedMessageError``,
        ``InvalidPointError``; ``DecodeError``, ``KeySizeError`` or ``InvalidCiphertextError`` for
        a bad Paillier or OU key or ciphertext) and leaves the party exactly as it was.
        """
        if not isinstance(message, Message):
            raise UnexpectedMessageError(
                f"the {self.ROLE} party got {type(message).__name__}, not a message "
                "(decode bytes with tds.psi.decode_message)"
            )
        if message.job_id != self.job_id:
            raise JobMismatchError(
                f"message for job {message.job_id!r} reached the party of job {self.job_id!r}"
            )
        if message.mode is not self.mode:
            raise JobMismatchError(f"message of a {message.mode} job reached a {self.mode} job")
        handler = self._handlers().get((type(message), self._phase))
        if handler is None:
            raise UnexpectedMessageError(
                f"the {self.ROLE} party cannot take {type(message).__name__} "
                f"while {self._phase.name.lower().replace('_', ' ')}"
            )
        handler(message)

    @abstractmethod
    def _handlers(self) -> dict[tuple[type, _Phase], Callable[[Message], None]]:
        """The handler for each (message type, phase) this party accepts."""

    def _report(self, stage: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(Progress(self.ROLE, stage, done, total))

    def _own_points(self, encoded: Sequence[bytes], order: np.ndarray) -> Iterator[tuple]:
        """(start, stop, pending blob of points) per chunk of own items, computed ahead."""

        def work() -> Iterator[tuple[int, int, Pending]]:
            total = len(encoded)
            for start in range(0, max(total, 1), self._chunk_size):
                stop = min(start + self._chunk_size, total)
                messages = [encoded[index] for index in order[start:stop]]
                yield start, stop, self._batches.hash_and_blind(self._dst, self._scalar, messages)

        return prefetched(work(), _LOOKAHEAD)

    def _unfinished(self) -> ProtocolError:
        return ProtocolError(f"the {self.ROLE} party has not finished its job")


class LeftParty(_Party):
    """The receiver: sends its blinded items first and learns what its mode reveals to it.

    ``items``: an iterable of str, bytes, int or tuples of them (multi-column keys; a bare str
    is one item, not a set, and is refused); duplicates are counted locally and sent once.
    ``job_id`` (1..64 bytes) and ``mode`` must equal the right party's.
    ``chunk_size`` caps the items per message. Batches run on ``executor``: ``"local"`` (the
    process pool of ``workers`` processes, default every core; ``workers=1`` runs them in this
    process), ``"ray"`` (a Ray cluster) or a ``concurrent.futures.Executor`` of yours.
    ``progress`` receives a :class:`Progress` as chunks finish. In ``sum`` mode the right's
    sum key (Paillier or OU) must have at least 2048 bits (``KeySizeError``) unless
    ``insecure=True`` (tests).
    """

    ROLE = "left"

    def __init__(
        self,
        items: Iterable[object],
        *,
        job_id: str | bytes,
        mode: Mode | str = Mode.INTERSECTION,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        executor: ExecutorChoice = "local",
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        insecure: bool = False,
    ) -> None:
        super().__init__(
            job_id=job_id,
            mode=mode,
            chunk_size=chunk_size,
            executor=executor,
            workers=workers,
            progress=progress,
        )
        self._insecure = insecure
        self._own = deduplicate(items)
        # Position k of the LeftPoints stream carries distinct item _order[k].
        self._order = random_permutation(len(self._own))
        self._points_sent = 0
        self._digests = bytearray(len(self._own) * DIGEST_BYTES)
        self._digests_received = 0
        self._sorted_digests = np.empty(0, dtype=_DIGEST_DTYPE)
        self._sorted_positions = np.empty(0, dtype=np.int64)
        self._peer_key: AnyPublicKey | None = None
        self._peer_total: int | None = None
        self._peer_received = 0
        self._in_flight: deque[tuple[RightPoints, list[Ciphertext], Pending]] = deque()
        self._matched = np.zeros(len(self._own), dtype=bool)  # by LeftPoints stream position
        self._matched_peer: list[np.ndarray] = []  # positions in the RightPoints stream
        self._encrypted_sum: Ciphertext | None = None
        self._phase = _Phase.SENDING_POINTS
        self._outbox.append(self._left_points())

    def _handlers(self) -> dict[tuple[type, _Phase], Callable[[Message], None]]:
        return {
            (LeftDigests, _Phase.SENDING_POINTS): self._take_digests,
            (LeftDigests, _Phase.AWAITING_DIGESTS): self._take_digests,
            (RightKey, _Phase.AWAITING_KEY): self._take_key,
            (RightPoints, _Phase.AWAITING_RIGHT_POINTS): self._take_right_points,
        }

    def _left_points(self) -> Iterator[LeftPoints]:
        total = len(self._own)
        for start, stop, pending in self._own_points(self._own.encoded, self._order):
            points = pending.result()
            self._points_sent = stop
            if stop == total:
                self._phase = _Phase.AWAITING_DIGESTS
            self._report("own-points", stop, total)
            yield LeftPoints(self.job_id, self.mode, start, total, points)

    def _take_digests(self, message: LeftDigests) -> None:
        total = len(self._own)
        if message.total != total:
            raise UnexpectedMessageError(f"digests for {message.total} points; we sent {total}")
        if message.offset != self._digests_received:
            raise UnexpectedMessageError(
                f"digest chunk at offset {message.offset}; expected {self._digests_received}"
            )
        shuffled = self.mode in (Mode.CARDINALITY, Mode.SUM)
        if shuffled and self._phase is _Phase.SENDING_POINTS:
            raise UnexpectedMessageError(
                "shuffled digests can only come after the right has every point"
            )
        if message.offset + message.count > self._points_sent:
            raise UnexpectedMessageError("digests for points that were never sent")
        start = message.offset * DIGEST_BYTES
        self._digests[start : start + len(message.digests)] = message.digests
        self._digests_received += message.count
        self._report("digests", self._digests_received, total)
        if self._digests_received == total:
            digests = np.frombuffer(bytes(self._digests), dtype=_DIGEST_DTYPE)
            self._sorted_positions = np.argsort(digests, kind="stable")
            self._sorted_digests = digests[self._sorted_positions]
            self._digests = bytearray()
            self._phase = (
                _Phase.AWAITING_KEY if self.mode is Mode.SUM else _Phase.AWAITING_RIGHT_POINTS
            )

    def _take_key(self, message: RightKey) -> None:
        self._peer_key = load_public_key(message.public_key, insecure=self._insecure)
        self._encrypted_sum = Ciphertext(self._peer_key, 1)  # the trivial encryption of zero
        self._phase = _Phase.AWAITING_RIGHT_POINTS

    def _take_right_points(self, message: RightPoints) -> None:
        # Everything is checked before anything changes: a refused message leaves no trace.
        _check_chunk_order(message, self._peer_total, self._peer_received, "right points")
        key = self._peer_key
        expected_size = key.ciphertext_size if key is not None else 0
        if message.ciphertext_size != expected_size:
            raise UnexpectedMessageError(
                f"ciphertexts of {message.ciphertext_size} bytes; this job uses {expected_size}"
            )
        check_points(message.points, message.offset)
        ciphertexts = [
            Ciphertext.from_raw_bytes(key, message.ciphertext(index))
            for index in range(message.count if key is not None else 0)
        ]
        pending = self._batches.blind(self._scalar, message.offset, message.points, digests=True)
        self._in_flight.append((message, ciphertexts, pending))
        self._peer_total = message.total
        self._peer_received += message.count
        finished = self._peer_received == self._peer_total
        while self._in_flight and (finished or len(self._in_flight) > _LOOKAHEAD):
            self._match(*self._in_flight.popleft())
        if finished:
            self._finish()

    def _match(self, message: RightPoints, ciphertexts: list[Ciphertext], pending: Pending) -> None:
        digests = np.frombuffer(pending.result(), dtype=_DIGEST_DTYPE)
        if self._sorted_digests.size and digests.size:
            slots = np.searchsorted(self._sorted_digests, digests)
            slots = np.minimum(slots, self._sorted_digests.size - 1)
            hits = np.flatnonzero(self._sorted_digests[slots] == digests)
            # An honest right never repeats a point. A deviating one must not make one of our
            # items count twice (in size, items or the sum): each counts at its first match.
            own_positions, first = np.unique(self._sorted_positions[slots[hits]], return_index=True)
            fresh = ~self._matched[own_positions]
            self._matched[own_positions[fresh]] = True
            peer_positions = hits[first[fresh]]
            self._matched_peer.append(peer_positions + message.offset)
            for index in peer_positions.tolist() if ciphertexts else ():
                self._encrypted_sum = self._encrypted_sum + ciphertexts[index]
        self._report("peer-points", message.offset + message.count, self._peer_total)

    def _finish(self) -> None:
        if self.mode is Mode.BOTH:
            self._phase = _Phase.FINISHING
            self._outbox.append(self._final_message(self._match_bitmap()))
        elif self.mode is Mode.SUM:
            self._phase = _Phase.FINISHING
            # Without fresh randomness the right, who knows every ciphertext it sent, could tell
            # which ones were multiplied together. Strict: the right chose the DJN base itself.
            hidden = self._encrypted_sum.rerandomize(strict=True)
            self._outbox.append(
                self._final_message(
                    EncryptedSum(self.job_id, self.mode, self._size(), hidden.to_raw_bytes())
                )
            )
        else:
            self._phase = _Phase.DONE

    def _match_bitmap(self) -> MatchBitmap:
        bits = np.zeros(self._peer_total, dtype=bool)
        for positions in self._matched_peer:
            bits[positions] = True
        bitmap = np.packbits(bits, bitorder="little").tobytes()
        return MatchBitmap(self.job_id, self.mode, self._peer_total, bitmap)

    def _final_message(self, message: Message) -> Iterator[Message]:
        self._phase = _Phase.DONE
        yield message

    def _size(self) -> int:
        return int(np.count_nonzero(self._matched))

    def _shared_size(self) -> int | None:
        return self._size()

    def result(self) -> PsiResult:
        """What this job revealed to the left party."""
        if not self.done:
            raise self._unfinished()
        base = PsiResult(
            mode=self.mode,
            disclosure=Disclosure.for_mode(self.mode),
            left_set_size=len(self._own),
            right_set_size=self._peer_total,
            size=self._size(),
        )
        if self.mode in (Mode.CARDINALITY, Mode.SUM):
            return base
        indices = np.sort(self._order[np.flatnonzero(self._matched)]).tolist()
        return with_items(base, self._own, indices)


class RightParty(_Party):
    """The sender: answers the left's points, then sends its own (with encrypted values in sum).

    Arguments as for :class:`LeftParty`, and for ``mode="sum"`` only: ``values``, one integer
    per item (values of duplicate keys are added; their absolute values may add up to at most
    the key's ``max_int``, else ``PlaintextRangeError``), and ``sum_key``, the right's private
    key of either additive scheme, ``tds.he.PrivateKey`` (Paillier) or ``OUPrivateKey``
    (Okamoto-Uchiyama, several times faster): a fresh 2048-bit key of ``scheme`` when omitted;
    a smaller one needs ``insecure=True``, as it does on the left. Only the sum is ever
    decrypted.
    """

    ROLE = "right"

    def __init__(
        self,
        items: Iterable[object],
        *,
        job_id: str | bytes,
        mode: Mode | str = Mode.INTERSECTION,
        values: Sequence[int] | None = None,
        sum_key: AnyPrivateKey | None = None,
        scheme: Scheme = "paillier",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        executor: ExecutorChoice = "local",
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        insecure: bool = False,
    ) -> None:
        super().__init__(
            job_id=job_id,
            mode=mode,
            chunk_size=chunk_size,
            executor=executor,
            workers=workers,
            progress=progress,
        )
        if self.mode is Mode.SUM:
            if values is None:
                raise ConfigError("intersection-sum needs one integer value per right item")
            if sum_key is None:
                _, sum_key = generate_keypair(scheme=check_scheme(scheme))
            if not isinstance(sum_key, PrivateKey | OUPrivateKey):
                raise ConfigError(
                    "sum_key must be a tds.he.PrivateKey or OUPrivateKey, not "
                    f"{type(sum_key).__name__}"
                )
            # The left's check on the key (KeySizeError below 2048 bits), made here before the
            # job starts rather than on the left in the middle of it.
            load_public_key(sum_key.public_key.to_bytes(), insecure=insecure)
        elif values is not None or sum_key is not None:
            raise ConfigError(f"values and a sum key belong to mode 'sum', not {self.mode}")
        self._sum_key = sum_key
        self._own = deduplicate(items, values)
        # Any subset of the totals then sums inside [-max_int, max_int]: the decrypted sum cannot
        # wrap around n, and no value fails to encrypt in the middle of the job.
        if self.mode is Mode.SUM and sum(map(abs, self._own.totals)) > sum_key.public_key.max_int:
            raise PlaintextRangeError(
                "the absolute values add up past the key's max_int; "
                "the sum over the intersection could overflow"
            )
        # Position k of the RightPoints stream carries distinct item _order[k].
        self._order = random_permutation(len(self._own))
        self._peer_total: int | None = None
        self._peer_received = 0
        self._peer_digests: list[Pending] = []  # cardinality and sum: kept until all are in
        self._shared_indices: list[int] | None = None
        self._size: int | None = None
        self._sum: int | None = None
        self._phase = _Phase.AWAITING_LEFT_POINTS

    def _handlers(self) -> dict[tuple[type, _Phase], Callable[[Message], None]]:
        handlers: dict[tuple[type, _Phase], Callable[[Message], None]] = {
            (LeftPoints, _Phase.AWAITING_LEFT_POINTS): self._take_left_points
        }
        # Only the last message of the job's own mode: a bitmap in sum would hand the right
        # items it must not hold, and a sum in both has no key to decrypt it.
        if self.mode is Mode.BOTH:
            handlers[MatchBitmap, _Phase.AWAITING_OUTCOME] = self._take_bitmap
        elif self.mode is Mode.SUM:
            handlers[EncryptedSum, _Phase.AWAITING_OUTCOME] = self._take_sum
        return handlers

    def _take_left_points(self, message: LeftPoints) -> None:
        # Everything is checked before anything changes: a refused message leaves no trace.
        _check_chunk_order(message, self._peer_total, self._peer_received, "left points")
        check_points(message.points, message.offset)
        pending = self._batches.blind(self._scalar, message.offset, message.points, digests=True)
        self._peer_total = message.total
        self._peer_received += message.count
        if self.mode in (Mode.INTERSECTION, Mode.BOTH):
            self._outbox.append(self._digests_in_order(message, pending))
        else:
            self._peer_digests.append(pending)
        if self._peer_received == self._peer_total:
            self._phase = _Phase.SENDING_REPLIES
            if self.mode in (Mode.CARDINALITY, Mode.SUM):
                self._outbox.append(self._digests_shuffled())
            if self.mode is Mode.SUM:
                key = self._sum_key.public_key.to_bytes()
                self._outbox.append(iter([RightKey(self.job_id, self.mode, key)]))
            self._outbox.append(self._right_points())

    def _digests_in_order(self, message: LeftPoints, pending: Pending) -> Iterator[LeftDigests]:
        digests = pending.result()
        done = message.offset + message.count
        self._report("peer-points", done, message.total)
        yield LeftDigests(self.job_id, self.mode, message.offset, message.total, digests)

    def _digests_shuffled(self) -> Iterator[LeftDigests]:
        # The whole stream is shuffled at once: a shuffle within chunks would tell the left
        # which chunk, and so which few of its items, each match came from.
        digests = np.frombuffer(
            b"".join(pending.result() for pending in self._peer_digests), dtype=_DIGEST_DTYPE
        )
        self._peer_digests = []
        total = len(digests)
        self._report("peer-points", total, total)
        digests = digests[random_permutation(total)]
        for start in range(0, max(total, 1), self._chunk_size):
            chunk = digests[start : start + self._chunk_size].tobytes()
            yield LeftDigests(self.job_id, self.mode, start, total, chunk)

    def _right_points(self) -> Iterator[RightPoints]:
        total = len(self._own)
        for start, stop, pending in self._own_points(self._own.encoded, self._order):
            ciphertext_size, ciphertexts = 0, b""
            if self.mode is Mode.SUM:
                key = self._sum_key
                values = [self._own.totals[index] for index in self._order[start:stop]]
                encrypted = key.encrypt_many(values, workers=self._batches.workers)
                ciphertext_size = key.public_key.ciphertext_size
                ciphertexts = b"".join(ciphertext.to_raw_bytes() for ciphertext in encrypted)
            points = pending.result()
            if stop == total:
                both_or_sum = self.mode in (Mode.BOTH, Mode.SUM)
                self._phase = _Phase.AWAITING_OUTCOME if both_or_sum else _Phase.DONE
            self._report("own-points", stop, total)
            yield RightPoints(
                self.job_id, self.mode, start, total, points, ciphertext_size, ciphertexts
            )

    def _take_bitmap(self, message: MatchBitmap) -> None:
        total = len(self._own)
        if message.total != total:
            raise UnexpectedMessageError(f"a bitmap of {message.total} bits; we sent {total}")
        bits = np.unpackbits(np.frombuffer(message.bitmap, dtype=np.uint8), bitorder="little")
        positions = np.flatnonzero(bits[:total])
        self._shared_indices = np.sort(self._order[positions]).tolist()
        self._phase = _Phase.DONE

    def _take_sum(self, message: EncryptedSum) -> None:
        largest = min(len(self._own), self._peer_total)
        if message.size > largest:
            raise UnexpectedMessageError(
                f"an intersection of {message.size} keys between sets of "
                f"{self._peer_total} and {len(self._own)}"
            )
        key = self._sum_key
        self._sum = key.decrypt(Ciphertext.from_raw_bytes(key.public_key, message.ciphertext))
        self._size = message.size
        self._phase = _Phase.DONE

    def _shared_size(self) -> int | None:
        if self._shared_indices is not None:
            return len(self._shared_indices)
        return self._size

    def result(self) -> PsiResult:
        """What this job revealed to the right party."""
        if not self.done:
            raise self._unfinished()
        base = PsiResult(
            mode=self.mode,
            disclosure=Disclosure.for_mode(self.mode),
            left_set_size=self._peer_total,
            right_set_size=len(self._own),
            size=self._size,
            sum=self._sum,
        )
        if self._shared_indices is None:
            return base
        return with_items(base, self._own, self._shared_indices)


def _check_chunk_order(
    message: LeftPoints | RightPoints, total: int | None, received: int, stream: str
) -> None:
    """The chunk must continue its stream where the last one ended, with the same total."""
    if total is not None and message.total != total:
        raise UnexpectedMessageError(
            f"{stream} stream changed its total from {total} to {message.total}"
        )
    if message.offset != received:
        raise UnexpectedMessageError(
            f"{stream} chunk at offset {message.offset}; expected {received}"
        )
