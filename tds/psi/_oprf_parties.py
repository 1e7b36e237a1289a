"""The two parties of an OPRF secure join (Chase-Miao), as state machines that never touch
the network, with the same interface as the ECDH parties.

Message flow (``_oprf`` has the notation)::

    left (receiver, learns)                               right (sender)
                                                    <-    OprfSetup   n_r, w, seed, w OT key pairs
    OprfReply     n_l, m, w ephemeral OT values     ->
    OprfColumns   A_i ⊕ B_i ⊕ D_i, a block at a time ->
                                                    <-    OprfOutputs H2 of each right item's
                                                                      bits of C, shuffled
    MatchBitmap   (both) which outputs matched      ->

``A_i`` and ``B_i`` are the expansions of the OT keys ``k0_i`` and ``k1_i``; the right, holding
``k_{s_i}``, recovers ``C_i = A_i ⊕ s_i·D_i`` from the correction. The left learns which of
its items the right holds; the right learns the left's set size (and in ``both`` the shared
items). Cardinality and sum are not offered: the left necessarily learns which of its own
items matched, which those modes must hide; they run on ECDH.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import ClassVar, TypeVar

import numpy as np

from tds._workers import ExecutorChoice, resolve_executor
from tds.errors import ConfigError, JobMismatchError, ProtocolError, UnexpectedMessageError
from tds.progress import Progress, ProgressCallback
from tds.psi import _oprf
from tds.psi._group import prefetched, split_ranges
from tds.psi._items import DistinctItems, deduplicate
from tds.psi._messages import (
    MAX_CHUNK_ITEMS,
    MatchBitmap,
    Message,
    OprfColumns,
    OprfOutputs,
    OprfReply,
    OprfSetup,
    job_id_bytes,
)
from tds.psi._ot import RandomOtReceiver, RandomOtSender
from tds.psi._result import Disclosure, Mode, PsiResult, parse_mode, with_items
from tds.psi._shuffle import random_permutation

__all__ = ["OPRF_MODES", "OprfLeftParty", "OprfRightParty"]

_T = TypeVar("_T")


class _Deferred(Future):  # type: ignore[type-arg]
    """A future for work with no pool: it runs when its result is first asked for, so that
    blocks are still computed one at a time, as they are sent."""

    def __init__(self, function: Callable[..., object], arguments: tuple[object, ...]) -> None:
        super().__init__()
        self._work = (function, arguments)

    def result(self, timeout: float | None = None) -> object:
        if not self.done():
            function, arguments = self._work
            self.set_result(function(*arguments))
        return super().result(timeout)


OPRF_MODES = (Mode.INTERSECTION, Mode.BOTH)
# Columns per OprfColumns message and per round of work: at most 64, and few enough that the
# left's unpacked matrix D of a block (one byte per bit) stays within 256 MiB.
MAX_COLUMNS_PER_BLOCK = 64
_BLOCK_BYTES = 1 << 28


def columns_per_block(rows: int) -> int:
    """How many columns travel (and are computed) together for a matrix of ``rows`` rows."""
    return max(8, min(MAX_COLUMNS_PER_BLOCK, _BLOCK_BYTES // rows) // 8 * 8)


_log = logging.getLogger("tds.psi")


def _keys(job_id: bytes, seed: bytes) -> dict[str, bytes]:
    """The job's hash and PRF keys, each bound to the job and the right's fresh seed."""
    keys = {}
    for name, size in (("items", 32), ("positions", 16), ("columns", 32), ("outputs", 32)):
        material = b"tds oprf v1 " + name.encode() + bytes([len(job_id)]) + job_id + seed
        keys[name] = hashlib.sha256(material).digest()[:size]
    return keys


def _parts(count: int, parts: int) -> list[tuple[int, int]]:
    """``range(count)`` in at most ``parts`` near-equal pieces (one, possibly empty, if 0)."""
    return split_ranges(count, parts) or [(0, 0)]


class _OprfParty(ABC):
    ROLE: ClassVar[str]

    def __init__(
        self,
        items: Iterable[object],
        *,
        job_id: str | bytes,
        mode: Mode | str = Mode.INTERSECTION,
        progress: ProgressCallback | None = None,
        executor: ExecutorChoice = "local",
        workers: int | None = None,
    ) -> None:
        """``items`` (str, bytes, int or tuples of them), the job's id and mode; the blocks of
        columns and the hashing run on ``executor`` (as for the ECDH parties: ``"local"``,
        ``"ray"`` or an Executor) split into ``workers`` tasks."""
        self.job_id = job_id_bytes(job_id)
        self.mode = parse_mode(mode)
        if self.mode not in OPRF_MODES:
            raise ConfigError(
                f"the OPRF protocol joins in modes intersection and both, not {self.mode}: "
                "there the left learns which of its items are shared; use protocol='ecdh'"
            )
        if progress is not None and not callable(progress):
            raise ConfigError("progress must be a callable taking a Progress")
        self._progress = progress
        self._executor, self._workers = resolve_executor(executor, workers)
        # Blocks of columns in flight ahead of the one being sent: one per worker, and one more.
        self._depth = self._workers + 1
        self._own: DistinctItems = deduplicate(items)
        self._outbox: list[Iterator[Message]] = []
        self._done = False
        self._prepare()

    @abstractmethod
    def _prepare(self) -> None:
        """The party's own state, once the common state is set."""

    @property
    def done(self) -> bool:
        """True once the party has handed out its last message and has its result."""
        return self._done and not self._outbox

    @property
    def set_size(self) -> int:
        """How many distinct items this party brings (the peer learns it too)."""
        return len(self._own)

    def next_message(self) -> Message | None:
        """The next message for the peer, or ``None`` while waiting for the peer."""
        while self._outbox:
            message = next(self._outbox[0], None)
            if message is not None:
                return message
            self._outbox.pop(0)
        return None

    def _check(self, message: Message, expected: tuple[type, ...]) -> None:
        if message.job_id != self.job_id:
            raise JobMismatchError("the message belongs to another job")
        if message.mode is not self.mode:
            raise ProtocolError(f"the peer runs mode {message.mode}, this party {self.mode}")
        if not isinstance(message, expected):
            raise UnexpectedMessageError(
                f"the {self.ROLE} party did not expect {type(message).__name__} now"
            )

    def _digests(self, key: bytes) -> Callable[[], np.ndarray]:
        """Start ``H1`` of this party's items, split over the pool; returns what waits for it."""
        encoded = self._own.encoded
        parts = [
            self._run(_oprf.item_digests, encoded[start:stop], key)
            for start, stop in _parts(len(encoded), self._workers)
        ]
        return lambda: np.concatenate([part.result() for part in parts]).reshape(-1, 16)

    def _outputs_of(self, rows: np.ndarray, key: bytes, size: int) -> Callable[[], bytes]:
        """Start ``H2`` of every row, split over the pool; returns what waits for the outputs,
        joined in order."""
        parts = [
            self._run(_oprf.outputs, rows[start:stop], key, size)
            for start, stop in _parts(len(rows), self._workers)
        ]
        return lambda: b"".join(part.result() for part in parts)

    def _run(self, function: Callable[..., _T], *arguments: object) -> Future[_T]:
        """``function(*arguments)`` on the pool, or here, when asked for, without one."""
        if self._executor is not None:
            return self._executor.submit(function, *arguments)
        return _Deferred(function, arguments)

    def _report(self, stage: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(Progress(self.ROLE, stage, done, total))

    def _unfinished(self) -> ProtocolError:
        return ProtocolError(f"the {self.ROLE} party has not finished the join")


class OprfLeftParty(_OprfParty):
    """The receiver: builds the matrix, learns which of its items the right holds."""

    ROLE: ClassVar[str] = "left"

    def _prepare(self) -> None:
        self._parameters: _oprf.OprfParameters | None = None
        self._peer_total = 0
        self._received = bytearray()
        self._received_count = 0
        self._columns_sent = 0
        self._matched: np.ndarray | None = None

    def receive(self, message: Message) -> None:
        """Take the right's next message."""
        if self._parameters is None:
            self._check(message, (OprfSetup,))
            assert isinstance(message, OprfSetup)
            self._start(message)
            return
        self._check(message, (OprfOutputs,))
        assert isinstance(message, OprfOutputs)
        self._take_outputs(message)

    def _start(self, setup: OprfSetup) -> None:
        size = len(self._own)
        rows = _oprf.rows_for(size)
        parameters = _oprf.OprfParameters.check(setup.width, rows, size, setup.right_set_size)
        self._parameters, self._peer_total = parameters, setup.right_set_size
        _log.debug(
            "oprf job %s (%s, left): %d items, the right %d; %d columns of %d rows",
            self.job_id.hex(), self.mode, size, setup.right_set_size, setup.width, rows,
        )  # fmt: skip
        self._keys = _keys(self.job_id, setup.seed)
        self._pending_digests = self._digests(self._keys["items"])
        sender = RandomOtSender(self.job_id, setup.width)
        reply, zeros, ones = sender.answer(setup.ot_request)
        seeds = (
            _oprf.column_seeds(self._keys["columns"], zeros),
            _oprf.column_seeds(self._keys["columns"], ones),
        )
        self._outbox.append(iter([OprfReply(self.job_id, self.mode, size, rows, reply)]))
        self._outbox.append(self._columns(seeds))

    def _columns(self, seeds: tuple[list[bytes], list[bytes]]) -> Iterator[Message]:
        parameters = self._parameters
        assert parameters is not None
        width, rows = parameters.width, parameters.rows
        digests = self._pending_digests()
        self._rows = np.zeros((len(digests), width // 8), dtype=np.uint8)
        blocks = [
            (first, min(columns_per_block(rows), width - first))
            for first in range(0, width, columns_per_block(rows))
        ]
        work = (
            self._run(
                _oprf.left_block,
                digests,
                self._keys["positions"],
                rows,
                first,
                (seeds[0][first : first + count], seeds[1][first : first + count]),
            )
            for first, count in blocks
        )
        for (first, count), future in zip(blocks, prefetched(work, self._depth), strict=True):
            correction, bits = future.result()
            self._rows[:, first // 8 : (first + count) // 8] = bits
            self._report("columns", first + count, width)
            self._columns_sent = first + count
            if first + count == width:
                # The left's own outputs are computed while the right finishes its columns.
                self._own_outputs = self._outputs_of(
                    self._rows, self._keys["outputs"], parameters.output_bytes
                )
            yield OprfColumns(self.job_id, self.mode, first, width, rows // 8, correction.tobytes())

    def _take_outputs(self, chunk: OprfOutputs) -> None:
        parameters = self._parameters
        assert parameters is not None
        if chunk.total != self._peer_total:
            raise ProtocolError(f"the right announced {self._peer_total} items, then {chunk.total}")
        if chunk.offset != self._received_count or (
            chunk.count and chunk.output_bytes != parameters.output_bytes
        ):
            raise ProtocolError("the right's outputs arrived out of order or of the wrong size")
        if self._columns_sent < parameters.width:
            raise UnexpectedMessageError("the right sent outputs before it had every column")
        self._received += chunk.outputs
        self._received_count += chunk.count
        self._report("outputs", self._received_count, chunk.total)
        if self._received_count < chunk.total:
            return
        size = parameters.output_bytes
        own, theirs = self._own_outputs(), bytes(self._received)
        self._matched, hits = _oprf.found_both(own, theirs, size, both=self.mode is Mode.BOTH)
        _log.debug("oprf job %s (left): %d shared", self.job_id.hex(), int(self._matched.sum()))
        if hits is not None:
            bitmap = np.packbits(hits, bitorder="little").tobytes()
            self._outbox.append(iter([MatchBitmap(self.job_id, self.mode, len(hits), bitmap)]))
        self._done = True

    def result(self) -> PsiResult:
        """What this job revealed to the left party."""
        if not self.done or self._matched is None:
            raise self._unfinished()
        base = PsiResult(
            mode=self.mode,
            disclosure=Disclosure.for_mode(self.mode),
            left_set_size=len(self._own),
            right_set_size=self._peer_total,
        )
        return with_items(base, self._own, np.flatnonzero(self._matched).tolist())


class OprfRightParty(_OprfParty):
    """The sender: holds the OT choice bits, sends the OPRF outputs of its items."""

    ROLE: ClassVar[str] = "right"

    def _prepare(self) -> None:
        self._width = _oprf.width_for(len(self._own))
        self._seed = secrets.token_bytes(OprfSetup.SEED_BYTES)
        self._keys = _keys(self.job_id, self._seed)
        self._choices = np.frombuffer(secrets.token_bytes(self._width), dtype=np.uint8) & 1
        self._ot = RandomOtReceiver(self.job_id, self._choices)
        self._parameters: _oprf.OprfParameters | None = None
        self._columns_done = 0
        self._peer_total = 0
        self._shared: list[int] | None = None
        self._order: np.ndarray | None = None
        self._outputs_sent = False
        self._pending_digests = self._digests(self._keys["items"])
        setup = OprfSetup(
            self.job_id, self.mode, len(self._own), self._width, self._seed, self._ot.request()
        )
        self._outbox.append(iter([setup]))

    def receive(self, message: Message) -> None:
        """Take the left's next message."""
        if self._parameters is None:
            self._check(message, (OprfReply,))
            assert isinstance(message, OprfReply)
            self._start(message)
        elif self._columns_done < self._width:
            self._check(message, (OprfColumns,))
            assert isinstance(message, OprfColumns)
            self._take_columns(message)
        else:
            self._check(message, (MatchBitmap,))
            assert isinstance(message, MatchBitmap)
            self._take_bitmap(message)

    def _start(self, reply: OprfReply) -> None:
        parameters = _oprf.OprfParameters.check(
            self._width, reply.rows, reply.left_set_size, len(self._own)
        )
        self._parameters, self._peer_total = parameters, reply.left_set_size
        _log.debug(
            "oprf job %s (%s, right): %d items, the left %d; %d columns of %d rows",
            self.job_id.hex(), self.mode, len(self._own), reply.left_set_size, self._width,
            reply.rows,
        )  # fmt: skip
        keys = self._ot.keys(reply.ot_reply)
        self._column_seeds = _oprf.column_seeds(self._keys["columns"], keys)
        self._item_digests = self._pending_digests()
        self._rows = np.zeros((len(self._own), self._width // 8), dtype=np.uint8)
        self._pending: list[tuple[int, int, Future[np.ndarray]]] = []

    def _take_columns(self, chunk: OprfColumns) -> None:
        parameters = self._parameters
        assert parameters is not None
        expected = min(columns_per_block(parameters.rows), self._width - self._columns_done)
        if (
            chunk.offset != self._columns_done
            or chunk.total != self._width
            or chunk.count != expected
            or chunk.column_bytes != parameters.rows // 8
        ):
            raise ProtocolError("the left's columns arrived out of order or of the wrong shape")
        first, count = chunk.offset, chunk.count
        corrections = np.frombuffer(chunk.columns, dtype=np.uint8).reshape(count, -1)
        future = self._run(
            _oprf.right_block,
            self._item_digests,
            self._keys["positions"],
            parameters.rows,
            first,
            self._column_seeds[first : first + count],
            self._choices[first : first + count],
            corrections,
        )
        self._pending.append((first, count, future))
        self._columns_done += count
        self._report("columns", self._columns_done, self._width)
        if self._columns_done == self._width:
            for block_first, block_count, block in self._pending:
                self._rows[:, block_first // 8 : (block_first + block_count) // 8] = block.result()
            self._pending.clear()
            self._outbox.append(self._outputs())

    def _outputs(self) -> Iterator[Message]:
        parameters = self._parameters
        assert parameters is not None
        size = parameters.output_bytes
        own = self._outputs_of(self._rows, self._keys["outputs"], size)()
        total = len(own) // size
        self._order = random_permutation(total)
        shuffled = np.frombuffer(own, dtype=f"V{size}")[self._order].tobytes()
        for offset in range(0, max(total, 1), MAX_CHUNK_ITEMS):
            piece = shuffled[offset * size : (offset + MAX_CHUNK_ITEMS) * size]
            self._report("outputs", offset + len(piece) // size, total)
            if offset + MAX_CHUNK_ITEMS >= total:
                self._outputs_sent = True
                self._done = self.mode is Mode.INTERSECTION
            yield OprfOutputs(self.job_id, self.mode, offset, total, size, piece)

    def _take_bitmap(self, bitmap: MatchBitmap) -> None:
        if not self._outputs_sent or self._done:
            raise UnexpectedMessageError("the right did not expect a match bitmap now")
        if bitmap.total != len(self._order):
            raise ProtocolError(f"a bitmap of {bitmap.total} bits for {len(self._order)} outputs")
        bits = np.unpackbits(np.frombuffer(bitmap.bitmap, dtype=np.uint8), bitorder="little")
        assert self._order is not None
        self._shared = sorted(self._order[np.flatnonzero(bits[: bitmap.total])].tolist())
        self._done = True

    def result(self) -> PsiResult:
        """What this job revealed to the right party."""
        if not self.done:
            raise self._unfinished()
        base = PsiResult(
            mode=self.mode,
            disclosure=Disclosure.for_mode(self.mode),
            left_set_size=self._peer_total,
            right_set_size=len(self._own),
        )
        if self._shared is None:
            return base
        return with_items(base, self._own, self._shared)
