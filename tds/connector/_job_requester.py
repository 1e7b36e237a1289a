"""The requester's side of a job: ask every provider, wait for approvals, compute, record.

The requester runs its part in its own process (the ``tds job start`` command, or a Python
service through :class:`~tds.connector.Client`): the private key of an aggregation and the
requester's own join keys never leave it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tds.connector import serde
from tds.connector._aggregate import LocalAggregate, aggregate_table
from tds.connector._job_store import Job, Jobs, JobStatus
from tds.connector._jobs import (
    Compute,
    Contribution,
    JobFrame,
    JobKind,
    JobRole,
    JobSpec,
    JobState,
    ProviderPart,
)
from tds.connector._peer import PeerConnection
from tds.errors import (
    DecodeError,
    PeerUnavailableError,
    ProtocolError,
    StateTransitionError,
    TdsError,
    UsageDeniedError,
)
from tds.he import EncryptedVector, PrivateKey
from tds.progress import Progress, ProgressCallback
from tds.psi import BucketedLeftParty, LeftParty, OprfLeftParty, RightParty, decode_message

__all__ = ["JOB_SERVICE", "JobRequester", "request_contribution"]

JOB_SERVICE = "tds.v1.JobService"
_log = logging.getLogger("tds.connector.jobs")
_APPROVAL_POLL_SECONDS = 0.5
RequesterParty = LeftParty | RightParty | OprfLeftParty | BucketedLeftParty


def request_contribution(connection: PeerConnection, job_id: str, timeout: float) -> Contribution:
    """Ask a provider for job ``job_id``'s encrypted sum so far."""
    reply = connection.call(
        f"{JOB_SERVICE}/Contribute", serde.encode_contribute_request(job_id), timeout=timeout
    )
    answered, contribution = serde.decode_contribution(reply)
    if answered != job_id:
        raise DecodeError(f"{connection.peer} answered about job {answered}, not {job_id}")
    return contribution


class JobRequester:
    """Runs jobs for the node whose records are ``jobs``; ``connect`` reaches a provider."""

    def __init__(
        self,
        jobs: Jobs,
        connect: Callable[[ProviderPart], PeerConnection],
        compute: Compute | None = None,
    ) -> None:
        self._jobs = jobs
        self._connect = connect
        self._compute = Compute() if compute is None else compute

    def run(
        self,
        spec: JobSpec,
        *,
        items: Sequence[object] = (),
        private_key: PrivateKey | None = None,
        column_types: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Job:
        """Run ``spec`` to its end and return the job as recorded: SUCCEEDED with its result,
        or FAILED with the reason (and the error raised).

        A secure join uses ``items`` (the requester's keys); an aggregation decrypts with
        ``private_key`` and writes sums in the terms of ``column_types``.
        """
        report = _Reporter(self._jobs, spec.job_id, progress)
        party = None
        if spec.kind.two_party:
            party = _own_party(spec, items, report, self._compute)
            # Declared, so that a provider's policy can demand a floor (peerSetSize).
            spec = dataclasses.replace(spec, requester_set_size=party.set_size)
        job = self._jobs.create(spec, JobRole.REQUESTER)
        try:
            for part in spec.providers:
                self._ask(part, spec)
            self._await_approvals(spec, report)
            self._jobs.move(job.id, JobState.RUNNING, "computing")
            if spec.kind is JobKind.AGGREGATE:
                assert private_key is not None and column_types is not None
                result = self._aggregate(spec, private_key, column_types, report)
            else:
                assert party is not None
                result = self._secure_join(spec, party)
        except TdsError as error:
            self._jobs.end(job.id, JobState.FAILED, str(error))
            self._cancel_everywhere(spec, f"the job failed at {spec.requester}: {error}")
            raise
        except BaseException:
            self._jobs.end(job.id, JobState.FAILED, "stopped at the requester")
            self._cancel_everywhere(spec, "the requester stopped")
            raise
        return self._jobs.move(job.id, JobState.SUCCEEDED, "done", result=result)

    def cancel(self, job_id: str, reason: str) -> Job:
        """Cancel a job this node requested, here and at every provider that can be reached."""
        job = self._jobs.get(job_id)
        if job.role is not JobRole.REQUESTER:
            raise StateTransitionError(
                f"{self._jobs.name} is a provider of job {job_id}; only its requester "
                f"({job.spec.requester}) cancels it"
            )
        if job.is_final:
            raise StateTransitionError(f"job {job_id} is {job.state} already: {job.reason}")
        job = self._jobs.end(job_id, JobState.CANCELLED, reason)
        self._cancel_everywhere(job.spec, reason)
        return job

    def _ask(self, part: ProviderPart, spec: JobSpec) -> None:
        reply = serde.decode_job_status(
            self._connect(part).call(f"{JOB_SERVICE}/StartJob", serde.encode_start_job(spec))
        )
        _check_reply(reply, part, spec.job_id)

    def _await_approvals(self, spec: JobSpec, report: _Reporter) -> None:
        deadline = time.monotonic() + spec.deadline_seconds
        waiting = list(spec.providers)
        while waiting:
            still = []
            for part in waiting:
                reply = serde.decode_job_status(
                    self._connect(part).call(
                        f"{JOB_SERVICE}/GetJob", serde.encode_get_job(spec.job_id)
                    )
                )
                _check_reply(reply, part, spec.job_id)
                if reply.state is JobState.AWAITING_APPROVAL:
                    still.append(part)
            waiting = still
            if not waiting:
                return
            names = ", ".join(part.node for part in waiting)
            report(Progress("requester", f"awaiting approval by {names}", 0, len(waiting)))
            if time.monotonic() > deadline:
                raise PeerUnavailableError(
                    f"{names} did not approve job {spec.job_id} within its deadline "
                    f"({spec.deadline_seconds} s)"
                )
            time.sleep(_APPROVAL_POLL_SECONDS)

    def _aggregate(
        self,
        spec: JobSpec,
        private_key: PrivateKey,
        column_types: dict[str, Any],
        report: _Reporter,
    ) -> dict[str, Any]:
        last = spec.providers[-1]
        report(Progress("requester", "providers summing", 0, len(spec.providers)))
        handed = request_contribution(
            self._connect(last), spec.job_id, float(spec.deadline_seconds)
        )
        if handed.providers != len(spec.providers):
            raise ProtocolError(
                f"{last.node} handed a sum of {handed.providers} providers, not "
                f"{len(spec.providers)}"
            )
        report(Progress("requester", "providers summing", handed.providers, len(spec.providers)))
        vector = EncryptedVector.from_bytes(private_key.public_key, handed.vector)
        values = private_key.decrypt_vector(vector)
        groups = len(spec.groups) if spec.group_by else 1
        if len(values) != groups * (1 + len(spec.sums)):
            raise ProtocolError(
                f"{last.node} handed {len(values)} numbers, not {groups * (1 + len(spec.sums))}"
            )
        total = LocalAggregate.from_vector(values, groups, len(spec.sums))
        result = aggregate_table(spec, total, column_types)
        result["wire"] = {"bytes_received": len(handed.vector)}
        return _with_deadline(result, handed.delete_by)

    def _secure_join(self, spec: JobSpec, party: RequesterParty) -> dict[str, Any]:
        part = spec.providers[0]
        outbox: queue.Queue[bytes | None] = queue.Queue()

        wire = {"bytes_sent": 0, "bytes_received": 0}

        def requests() -> Iterator[bytes]:
            yield serde.encode_job_frame(JobFrame(spec.job_id, open=True))
            while (request := outbox.get()) is not None:
                yield request

        def flush() -> None:
            while (message := party.next_message()) is not None:
                frame = serde.encode_job_frame(
                    JobFrame(spec.job_id, psi_message=message.to_bytes())
                )
                wire["bytes_sent"] += len(frame)
                outbox.put(frame)

        released: dict[str, Any] | None = None
        replies = self._connect(part).stream(
            f"{JOB_SERVICE}/Exchange", requests(), timeout=float(spec.deadline_seconds)
        )
        try:
            flush()
            for data in replies:
                wire["bytes_received"] += len(data)
                frame = serde.decode_job_frame(data)
                if frame.job_id != spec.job_id:
                    raise DecodeError(f"{part.node} sent a frame of job {frame.job_id}")
                if frame.result is not None:
                    released = frame.result
                    break
                self._check_running(spec.job_id)
                party.receive(decode_message(frame.psi_message))
                flush()
        finally:
            outbox.put(None)
        if released is None or not party.done:
            raise ProtocolError(f"{part.node} ended job {spec.job_id} before its result")
        return _joined_result(spec, party, released) | {"wire": wire}

    def _check_running(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job.state is not JobState.RUNNING:
            raise StateTransitionError(f"job {job_id} is {job.state}: {job.reason}")

    def _cancel_everywhere(self, spec: JobSpec, reason: str) -> None:
        for part in spec.providers:
            try:
                self._connect(part).call(
                    f"{JOB_SERVICE}/CancelJob", serde.encode_cancel_job(spec.job_id, reason[:900])
                )
            except TdsError as error:
                _log.warning(
                    "could not tell %s that job %s ended: %s", part.node, spec.job_id, error
                )


def _own_party(
    spec: JobSpec, items: Sequence[object], report: ProgressCallback, compute: Compute
) -> RequesterParty:
    """The requester's party of a secure join: right in psi-cardinality, else left."""
    mode = spec.kind.psi_mode(reveal_to_provider=spec.reveal_to_provider)
    options = {"job_id": spec.job_id, "mode": mode, "progress": report}
    if spec.bucket_items:
        return BucketedLeftParty(
            items,
            **options,
            **compute.options(),
            protocol=spec.protocol,
            bucket_items=spec.bucket_items,
        )
    if spec.protocol == "oprf":
        return OprfLeftParty(items, **options, **compute.options())
    party_class = RightParty if spec.kind.provider_is_left else LeftParty
    return party_class(items, **options, **compute.options())


def _check_reply(reply: JobStatus, part: ProviderPart, job_id: str) -> None:
    if reply.job_id != job_id:
        raise DecodeError(f"{part.node} answered about job {reply.job_id}, not {job_id}")
    if reply.state is JobState.FAILED:
        raise UsageDeniedError(f"{part.node}: {reply.reason}")
    if reply.state is JobState.CANCELLED:
        raise StateTransitionError(f"{part.node} cancelled job {job_id}: {reply.reason}")


def _joined_result(
    spec: JobSpec, party: RequesterParty, released: dict[str, Any]
) -> dict[str, Any]:
    """The requester's answer: what its own party learned, and what the provider released."""
    own = party.result()
    result: dict[str, Any] = {"provider_set_size": own.right_set_size}
    if spec.kind is JobKind.PSI:
        items = [list(item) if isinstance(item, tuple) else item for item in own.items or ()]
        result |= {"size": own.size, "items": items}
        if "delete_by" in released:
            result["delete_by"] = serde.parse_deadline(released["delete_by"]).isoformat()
        return result
    if spec.kind is JobKind.PSI_CARDINALITY:
        result = {"provider_set_size": own.left_set_size}
    size = released.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise DecodeError(f"the provider released no valid size: {size!r:.40}")
    if own.size is not None and own.size != size:
        raise ProtocolError(f"the provider released size {size}, but the join found {own.size}")
    result["size"] = size
    if "delete_by" in released:
        result["delete_by"] = serde.parse_deadline(released["delete_by"]).isoformat()
    if spec.kind is JobKind.PSI_SUM:
        total = released.get("sum")
        if not isinstance(total, int | str) or isinstance(total, bool):
            raise DecodeError(f"the provider released no valid sum: {total!r:.40}")
        result["sum"] = total
    return result


def _with_deadline(result: dict[str, Any], deadline: dt.datetime | None) -> dict[str, Any]:
    if deadline is not None:
        result["delete_by"] = deadline.isoformat()
    return result


class _Reporter:
    """Records progress in the job's row and passes it on to the caller's callback."""

    def __init__(self, jobs: Jobs, job_id: str, progress: ProgressCallback | None) -> None:
        self._jobs = jobs
        self._job_id = job_id
        self._progress = progress

    def __call__(self, report: Progress) -> None:
        self._jobs.progress(self._job_id, report.stage, report.done, report.total)
        if self._progress is not None:
            self._progress(report)
