"""Bucketed secure joins: both parties split their items into buckets by a keyed hash, and
each bucket runs a join of its own (ECDH or OPRF), a window of buckets at a time.

An item lands in the same bucket on both sides, so the shared items of the whole sets are the
union of each bucket's shared items, exactly. Buckets keep memory bounded (a bucket's join
holds one bucket's items and matrices) and let the work of several buckets run at once on the
executor, a Ray cluster included.

Message flow::

    left (receiver, learns)                            right (sender)
                                              <-  BucketSetup  protocol, n_r, window, seed
    BucketPlan   n_l, B, window               ->
    BucketMessage(b, message of bucket b's join), both ways, for b = 0 .. B - 1

``B``, a power of two, is the least that puts at most ``bucket_items`` (default 2^20) of the
larger set in a bucket on average. An item's bucket is the first 8 bytes of its BLAKE2b under a
key derived from the job id and the right's fresh seed, modulo ``B``. Each party pads every
bucket it joins with random dummy items (an encoding no item has) up to the size of its
largest bucket: a peer learns that size, besides the two set sizes every join reveals, and
not how the items spread over the buckets. Each bucket's join has its own job id (the job's,
the seed and the bucket number hashed together), so nothing sent in one bucket means anything
in another.

Modes intersection and both only: a join per bucket tells its left how many of its items in
that bucket are shared, which cardinality and sum must hide.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from typing import ClassVar

import numpy as np

from tds._workers import ExecutorChoice, InlineExecutor, resolve_executor
from tds.errors import ConfigError, JobMismatchError, ProtocolError, UnexpectedMessageError
from tds.progress import Progress, ProgressCallback
from tds.psi._group import split_ranges
from tds.psi._items import DUMMY_TAG, DistinctItems, deduplicate
from tds.psi._messages import (
    MAX_BUCKETS,
    MAX_WINDOW,
    BucketMessage,
    BucketPlan,
    BucketSetup,
    Message,
    decode_message,
    job_id_bytes,
)
from tds.psi._oprf import item_digests
from tds.psi._oprf_parties import OPRF_MODES, OprfLeftParty, OprfRightParty
from tds.psi._parties import LeftParty, RightParty
from tds.psi._result import Disclosure, Mode, PsiResult, parse_mode, with_items

__all__ = [
    "BUCKETED_MODES",
    "BUCKET_ITEMS",
    "BucketedLeftParty",
    "BucketedRightParty",
    "bucket_count",
]

BUCKETED_MODES = OPRF_MODES
BUCKET_ITEMS = 1 << 20
# Finer buckets cost a join's fixed work each and protect nothing more: a left that asks for
# more than one bucket per this many items is refused.
MIN_BUCKET_ITEMS = 1 << 10
_DUMMY_BYTES = 16
_NO_ITEM = -1

BucketJoin = LeftParty | RightParty | OprfLeftParty | OprfRightParty


def bucket_count(largest: int, bucket_items: int = BUCKET_ITEMS) -> int:
    """``B`` for sets whose larger holds ``largest`` distinct items: the least power of two
    with at most ``bucket_items`` of them per bucket on average (at most 2^16)."""
    return min(MAX_BUCKETS, 1 << max(0, math.ceil(largest / bucket_items) - 1).bit_length())


def bucket_ids(encoded: Sequence[bytes], key: bytes, buckets: int) -> np.ndarray:
    """The bucket of each encoded item (uint32): its keyed BLAKE2b's first 8 bytes mod
    ``buckets``, a power of two. A function of its arguments, for a worker to run."""
    hashes = item_digests(encoded, key, size=8).reshape(-1).view("<u8")
    return (hashes & np.uint64(buckets - 1)).astype(np.uint32)


def _window_for(workers: int) -> int:
    """Buckets a party joins at once: two, and one more for every four workers past eight,
    so that a cluster has work from several buckets in flight."""
    return min(MAX_WINDOW, max(2, workers // 4))


class _BucketedParty(ABC):
    ROLE: ClassVar[str]

    def __init__(
        self,
        items: Iterable[object],
        *,
        job_id: str | bytes,
        mode: Mode | str = Mode.INTERSECTION,
        protocol: str = "oprf",
        progress: ProgressCallback | None = None,
        executor: ExecutorChoice = "local",
        workers: int | None = None,
    ) -> None:
        """``items`` (str, bytes, int or tuples of them), the job's id and mode, the join each
        bucket runs (``"oprf"`` or ``"ecdh"``), and where its work runs (as for the joins)."""
        self.job_id = job_id_bytes(job_id)
        self.mode = parse_mode(mode)
        if self.mode not in BUCKETED_MODES:
            raise ConfigError(
                f"a bucketed join runs modes intersection and both, not {self.mode}: a join "
                "per bucket would tell how many of each bucket's items are shared"
            )
        if protocol not in ("ecdh", "oprf"):
            raise ConfigError(f"a bucket runs protocol ecdh or oprf, not {protocol!r:.40}")
        self.protocol = protocol
        if progress is not None and not callable(progress):
            raise ConfigError("progress must be a callable taking a Progress")
        self._progress = progress
        self._executor, self._workers = resolve_executor(executor, workers)
        self._window = _window_for(self._workers)
        self._own: DistinctItems = deduplicate(items)
        self._outbox: deque[Message] = deque()
        self._buckets = 0  # known once the parties agreed on them
        self._peer_window = 0
        self._peer_total = 0
        self._members: list[np.ndarray] = []
        self._padded_size = 0
        self._sub_job = b""
        self._active: dict[int, BucketJoin] = {}
        self._next_bucket = 0
        self._turn = 0
        self._finished = 0
        self._shared: list[int] = []
        self._prepare()

    # -- the interface of every party ---------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once every bucket's join is over and the last message handed out."""
        return bool(self._buckets) and self._finished == self._buckets and not self._outbox

    @property
    def set_size(self) -> int:
        """How many distinct items this party brings (the peer learns it too)."""
        return len(self._own)

    def next_message(self) -> Message | None:
        """The next message for the peer, or ``None`` while waiting for the peer."""
        if self._outbox:
            return self._outbox.popleft()
        while True:
            self._fill_window()
            finished = self._finished
            buckets = sorted(self._active)
            # Round-robin over the open buckets, so that each has its work in flight.
            for step in range(len(buckets)):
                bucket = buckets[(self._turn + step) % len(buckets)]
                message = self._active[bucket].next_message()
                self._retire_if_done(bucket)
                if message is not None:
                    self._turn += step + 1
                    return BucketMessage(self.job_id, self.mode, bucket, message.to_bytes())
            if self._finished == finished:
                return None
            # A bucket closed: the next one may open and have something to say.

    def receive(self, message: Message) -> None:
        """Take the peer's next message."""
        if message.job_id != self.job_id:
            raise JobMismatchError("the message belongs to another job")
        if message.mode is not self.mode:
            raise ProtocolError(f"the peer runs mode {message.mode}, this party {self.mode}")
        if not self._buckets:
            self._handshake(message)
            return
        if not isinstance(message, BucketMessage):
            raise UnexpectedMessageError(
                f"the {self.ROLE} party expected a bucket's message, not {type(message).__name__}"
            )
        bucket = message.bucket
        lowest = min(self._active, default=self._next_bucket)
        if bucket >= self._buckets or (bucket < self._next_bucket and bucket not in self._active):
            raise UnexpectedMessageError(f"bucket {bucket} is not open")
        if bucket >= lowest + self._window + self._peer_window:
            raise UnexpectedMessageError(
                f"bucket {bucket} is beyond the buckets either party may have open"
            )
        while self._next_bucket <= bucket:
            self._open(self._next_bucket)
        self._active[bucket].receive(decode_message(message.inner))
        self._retire_if_done(bucket)

    def result(self) -> PsiResult:
        """What this job revealed to this party."""
        if not self.done:
            raise ProtocolError(f"the {self.ROLE} party has not finished the join")
        disclosure = Disclosure.for_mode(self.mode).bucketed()
        sizes = (len(self._own), self._peer_total)
        left_size, right_size = sizes if self.ROLE == "left" else sizes[::-1]
        base = PsiResult(
            mode=self.mode,
            disclosure=disclosure,
            left_set_size=left_size,
            right_set_size=right_size,
        )
        if self.ROLE == "right" and self.mode is Mode.INTERSECTION:
            return base
        return with_items(base, self._own, sorted(self._shared))

    # -- buckets --------------------------------------------------------------------------------

    @abstractmethod
    def _prepare(self) -> None:
        """This party's opening, once the common state is set."""

    @abstractmethod
    def _handshake(self, message: Message) -> None:
        """Take the peer's part of the agreement on the buckets."""

    @abstractmethod
    def _join(self, items: DistinctItems, job_id: bytes) -> BucketJoin:
        """This party's join of one bucket."""

    def _agree(self, buckets: int, seed: bytes) -> None:
        """Split the items into ``buckets`` buckets under the key of ``seed``."""
        material = b"tds buckets v1 " + bytes([len(self.job_id)]) + self.job_id + seed
        key = hashlib.sha256(material).digest()
        self._sub_job = hashlib.blake2b(material, digest_size=16).hexdigest().encode()
        encoded = self._own.encoded
        pool = self._executor or InlineExecutor()
        parts: list[Future[np.ndarray]] = [
            pool.submit(bucket_ids, encoded[start:stop], key, buckets)
            for start, stop in split_ranges(len(encoded), self._workers)
        ]
        ids = np.concatenate([part.result() for part in parts] or [np.empty(0, np.uint32)])
        order = np.argsort(ids, kind="stable")
        counts = np.bincount(ids, minlength=buckets)
        self._members = np.split(order, np.cumsum(counts)[:-1])
        self._padded_size = int(counts.max())
        self._buckets = buckets
        self._report()

    def _fill_window(self) -> None:
        while self._buckets and len(self._active) < self._window:
            if self._next_bucket >= self._buckets:
                return
            self._open(self._next_bucket)

    def _open(self, bucket: int) -> None:
        members = self._members[bucket]
        dummies = self._padded_size - len(members)
        noise = secrets.token_bytes(_DUMMY_BYTES * dummies)
        encoded = self._own.encoded
        counts = self._own.counts
        indices = members.tolist()
        items = DistinctItems(
            tuple(map(encoded.__getitem__, indices))
            + tuple(
                DUMMY_TAG + noise[start : start + _DUMMY_BYTES]
                for start in range(0, len(noise), _DUMMY_BYTES)
            ),
            # Each bucket's join reports its shared items as indices into this party's items.
            tuple(indices) + (_NO_ITEM,) * dummies,
            tuple(map(counts.__getitem__, indices)) + (1,) * dummies,
        )
        self._active[bucket] = self._join(items, self._sub_job + b"/%d" % bucket)
        self._next_bucket = max(self._next_bucket, bucket + 1)

    def _retire_if_done(self, bucket: int) -> None:
        join = self._active.get(bucket)
        if join is None or not join.done:
            return
        del self._active[bucket]
        shared = join.result().items
        if shared is not None:
            self._shared.extend(index for index in shared if index != _NO_ITEM)
        self._finished += 1
        self._report()

    def _report(self) -> None:
        if self._progress is not None:
            self._progress(Progress(self.ROLE, "buckets", self._finished, self._buckets))

    def _options(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "executor": "local" if self._executor is None else self._executor,
            "workers": self._workers,
        }


class BucketedLeftParty(_BucketedParty):
    """The receiver of a bucketed join: picks the number of buckets, learns the shared items.

    ``bucket_items`` (default 2^20) is the average number of items of the larger set that a
    bucket may hold; the rest as for :class:`OprfLeftParty` and :class:`LeftParty`.
    """

    ROLE: ClassVar[str] = "left"

    def __init__(
        self,
        items: Iterable[object],
        *,
        job_id: str | bytes,
        mode: Mode | str = Mode.INTERSECTION,
        protocol: str = "oprf",
        bucket_items: int = BUCKET_ITEMS,
        progress: ProgressCallback | None = None,
        executor: ExecutorChoice = "local",
        workers: int | None = None,
    ) -> None:
        if (
            isinstance(bucket_items, bool)
            or not isinstance(bucket_items, int)
            or bucket_items < MIN_BUCKET_ITEMS
        ):
            raise ConfigError(f"bucket_items must be an integer of at least {MIN_BUCKET_ITEMS}")
        self._bucket_items = bucket_items
        super().__init__(
            items,
            job_id=job_id,
            mode=mode,
            protocol=protocol,
            progress=progress,
            executor=executor,
            workers=workers,
        )

    def _prepare(self) -> None:
        """Nothing to say first: the right opens the join."""

    def _handshake(self, message: Message) -> None:
        if not isinstance(message, BucketSetup):
            raise UnexpectedMessageError(
                f"the left party expected BucketSetup, not {type(message).__name__}"
            )
        if message.protocol != self.protocol:
            raise ProtocolError(
                f"the right joins each bucket with {message.protocol}, this party with "
                f"{self.protocol}"
            )
        self._peer_total, self._peer_window = message.right_set_size, message.window
        buckets = bucket_count(max(len(self._own), self._peer_total), self._bucket_items)
        self._outbox.append(
            BucketPlan(self.job_id, self.mode, len(self._own), buckets, self._window)
        )
        self._agree(buckets, message.seed)

    def _join(self, items: DistinctItems, job_id: bytes) -> BucketJoin:
        party = OprfLeftParty if self.protocol == "oprf" else LeftParty
        return party(items, job_id=job_id, **self._options())  # type: ignore[arg-type]


class BucketedRightParty(_BucketedParty):
    """The sender of a bucketed join: opens it with its set size and the bucket-hash seed.

    Arguments as for :class:`BucketedLeftParty`, without ``bucket_items`` (the left decides).
    """

    ROLE: ClassVar[str] = "right"

    def _prepare(self) -> None:
        self._seed = secrets.token_bytes(BucketSetup.SEED_BYTES)
        self._outbox.append(
            BucketSetup(
                self.job_id, self.mode, self.protocol, len(self._own), self._window, self._seed
            )
        )

    def _handshake(self, message: Message) -> None:
        if not isinstance(message, BucketPlan):
            raise UnexpectedMessageError(
                f"the right party expected BucketPlan, not {type(message).__name__}"
            )
        largest = max(len(self._own), message.left_set_size)
        finest = bucket_count(largest, MIN_BUCKET_ITEMS)
        if message.buckets > finest:
            raise ProtocolError(
                f"{message.buckets} buckets for {largest} items: at most {finest}, one per "
                f"{MIN_BUCKET_ITEMS} items"
            )
        self._peer_total, self._peer_window = message.left_set_size, message.window
        self._agree(message.buckets, self._seed)

    def _join(self, items: DistinctItems, job_id: bytes) -> BucketJoin:
        party = OprfRightParty if self.protocol == "oprf" else RightParty
        return party(items, job_id=job_id, **self._options())  # type: ignore[arg-type]
