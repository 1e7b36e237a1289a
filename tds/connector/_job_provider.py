"""The provider's side of a job: its own policy, checked by itself, around every step.

A provider never trusts the requester's claims. It checks, against the agreement it signed
and its own usage state:

1. when the job is asked for (:meth:`JobProvider.start`): the caller is the job's requester
   and the consumer of the named agreement, the dataset and columns are the agreement's, and
   a dry run of the policy permits the use; the job waits for a person if the dataset says so;
2. when the computation starts (:meth:`JobProvider.exchange`, :meth:`JobProvider.contribute`):
   the policy again, now spending the use (counts, rate, privacy budget) in the same
   transaction that marks the job RUNNING, so a job is charged once and only once;
3. before anything that reveals a result leaves the node: the policy once more (a dry run
   that sees the limits as the start saw them) with the real size of what is released.

A job that fails after it started keeps its charge: data may already have left the node. A
job refused, rejected by a person or cancelled before it started costs nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tds.connector._aggregate import (
    PACKING_BOUND,
    LocalAggregate,
    discrete_laplace,
    fresh_rng,
)
from tds.connector._agreement import SignedAgreement
from tds.connector._audit import EventKind
from tds.connector._catalog import Dataset, dataset_target
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
    delete_by,
    earliest,
)
from tds.connector._negotiation import NegotiationState
from tds.connector._node import OpenNode
from tds.connector._tables import SUMMABLE, from_units, read_columns, to_units
from tds.connector._trust import node_uri
from tds.errors import (
    AuthenticationError,
    ConfigError,
    NotFoundError,
    ProtocolError,
    StateTransitionError,
    TdsError,
    UsageDeniedError,
)
from tds.he import EncryptedVector, generate_keypair, load_public_key
from tds.policy import Decision, DutyAction, Request, UsageKey, evaluate
from tds.psi import (
    BucketedRightParty,
    BucketMessage,
    BucketPlan,
    LeftParty,
    LeftPoints,
    Message,
    OprfOutputs,
    OprfReply,
    OprfRightParty,
    RightKey,
    RightParty,
    RightPoints,
    decode_message,
)

__all__ = ["Contribute", "JobProvider", "secure_join_items"]

# Jobs whose requester's memberships the provider keeps in memory, newest first.
_REMEMBERED_JOBS = 4096

_log = logging.getLogger("tds.connector.jobs")

Contribute = Callable[[ProviderPart, str, float], Contribution]
"""Ask provider ``part`` (at ``part.address``) for job ``job_id``'s sum so far, within a
deadline."""


def secure_join_items(columns: list[list[str]]) -> list[object]:
    """The join keys of each row: the text of one key column, or a tuple of several."""
    if len(columns) == 1:
        return list(columns[0])
    return list(zip(*columns, strict=True))


class JobProvider:
    """The jobs ``node`` computes as a provider; ``contribute`` reaches other providers.

    Their cryptography runs where ``compute`` says (default: this machine's every core).
    """

    def __init__(
        self, node: OpenNode, contribute: Contribute, compute: Compute | None = None
    ) -> None:
        self._node = node
        self._contribute = contribute
        self._compute = Compute() if compute is None else compute
        self._memberships: OrderedDict[str, frozenset[str] | None] = OrderedDict()
        self._memberships_lock = threading.Lock()
        self.jobs: Jobs = node.jobs

    @property
    def name(self) -> str:
        return self._node.name

    # -- asking -------------------------------------------------------------------------------

    def _note_memberships(self, job_id: str, memberships: frozenset[str] | None) -> None:
        """Keep what the requester's certificate says it belongs to, for the job's decisions
        (a daemon that restarts forgets it, and its jobs then end anyway)."""
        with self._memberships_lock:
            self._memberships[job_id] = memberships
            self._memberships.move_to_end(job_id)
            while len(self._memberships) > _REMEMBERED_JOBS:
                self._memberships.popitem(last=False)

    def start(self, caller: str, spec: JobSpec) -> Job:
        """Check and record a job ``caller`` asks for: PENDING (ready) or AWAITING_APPROVAL.

        Asking again for the same job gets the same answer. UsageDeniedError (the refusal is
        recorded as a FAILED job, with its reasons) when the policy does not permit it.
        """
        if caller != spec.requester:
            raise AuthenticationError(
                f"job {spec.job_id} names {spec.requester} as its requester; {caller} cannot "
                "ask for it"
            )
        existing = self._existing(caller, spec)
        if existing is not None:
            return existing
        self._note_memberships(spec.job_id, getattr(caller, "memberships", None))
        part = spec.part(self.name)
        if spec.kind is JobKind.AGGREGATE:
            load_public_key(spec.requester_key)  # KeySizeError below 2048 bits
            position = spec.providers.index(part)
            if position > 0 and not spec.providers[position - 1].address:
                raise ConfigError(
                    f"job {spec.job_id} gives no address for {spec.providers[position - 1].node}"
                    f", from which {self.name} takes the sum so far"
                )
        agreement = self._agreement(spec, part)
        dataset = self._dataset(spec, part)
        if spec.consent_obtained:
            self._record_consent(spec, part, agreement)
        try:
            self._decide(spec, part, dataset, consume=False, cohort_size=spec.min_cohort)
        except UsageDeniedError as error:
            job = self.jobs.create(spec, JobRole.PROVIDER)
            self.jobs.move(job.id, JobState.FAILED, f"refused: {error}")
            _log.warning("job %s from %s refused: %s", spec.job_id, caller, error)
            raise
        job = self.jobs.create(spec, JobRole.PROVIDER)
        if dataset.approval == "manual":
            job = self.jobs.move(
                job.id,
                JobState.AWAITING_APPROVAL,
                f"dataset {dataset.id} needs a person's approval: `tds job approve {job.id}`",
            )
        _log.info("job %s (%s) from %s: %s", job.id, job.kind, caller, job.state)
        return job

    def _record_consent(
        self, spec: JobSpec, part: ProviderPart, agreement: SignedAgreement
    ) -> None:
        """Record the requester's attestation that it obtained the consent the agreement asks
        for: its ``obtainConsent`` duties count as fulfilled from now on, and the log says who
        attested it."""
        policy = agreement.policy
        duties = [
            duty_id for duty_id, duty in policy.duties() if duty.action is DutyAction.OBTAIN_CONSENT
        ]
        if not duties:
            return
        with self._node.store.transaction():
            for duty in duties:
                key = UsageKey(policy.content_hash, duty, node_uri(spec.requester))
                self._node.usage.record_fulfilment(key)
            self._node.audit_log.append(
                EventKind.USE_DECISION,
                {
                    "job": spec.job_id,
                    "consumer": spec.requester,
                    "provider": self.name,
                    "agreement": part.agreement_id,
                    "attested": {"obtainConsent": duties},
                },
            )

    def _existing(self, caller: str, spec: JobSpec) -> Job | None:
        try:
            job = self.jobs.get(spec.job_id, peer=caller)
        except NotFoundError:
            return None
        if job.spec != spec or job.role is not JobRole.PROVIDER:
            raise StateTransitionError(f"{self.name} already has another job {spec.job_id}")
        if job.state is JobState.FAILED and job.reason.startswith("refused: "):
            raise UsageDeniedError(job.reason.removeprefix("refused: "))
        return job

    def approve(self, job_id: str) -> Job:
        """A person approves a job that waits for it."""
        job = self.jobs.get(job_id)
        self._check_waiting(job, "approve")
        return self.jobs.move(job_id, JobState.PENDING, "approved by a person on this node")

    def reject(self, job_id: str, reason: str) -> Job:
        """A person rejects a job that waits for approval; it costs the requester nothing."""
        job = self.jobs.get(job_id)
        self._check_waiting(job, "reject")
        return self.jobs.move(job_id, JobState.FAILED, f"rejected by a person: {reason}")

    def _check_waiting(self, job: Job, action: str) -> None:
        if job.role is not JobRole.PROVIDER or job.state is not JobState.AWAITING_APPROVAL:
            raise StateTransitionError(
                f"cannot {action} job {job.id}: it is {job.state} here, not AWAITING_APPROVAL"
            )

    def cancel(self, caller: str, job_id: str, reason: str) -> Job:
        """The requester stops the job; a final job stays as it is."""
        job = self.jobs.get(job_id, peer=caller)
        if caller != job.spec.requester:
            raise AuthenticationError(f"only {job.spec.requester} may cancel job {job_id}")
        return self.jobs.end(job_id, JobState.CANCELLED, f"cancelled by {caller}: {reason}")

    def watch(self, caller: str, job_id: str) -> Iterator[JobStatus]:
        """The job's status now, then each time it changes, until it ends (or its deadline)."""
        job = self.jobs.get(job_id, peer=caller)
        return self.jobs.watch(job_id, timeout=job.spec.deadline_seconds)

    # -- computing ----------------------------------------------------------------------------

    def exchange(self, caller: str, frames: Iterator[JobFrame]) -> Iterator[JobFrame]:
        """Run a secure join with the requester over its stream of frames."""
        opening = next(frames, None)
        if opening is None or not opening.open:
            raise ProtocolError("a job's exchange opens with the frame that names the job")
        job = self.jobs.get(opening.job_id, peer=caller)
        if caller != job.spec.requester or not job.kind.two_party:
            raise ProtocolError(f"job {job.id} has no exchange with {caller}")
        part = job.spec.part(self.name)
        self._begin(job, part, cohort_size=job.spec.min_cohort)
        run: _SecureJoin | None = None
        with self._failing(job.id, lambda: run is not None and run.revealing):
            run = _SecureJoin(self, job, part)
            yield from run.replies(None)
            for frame in frames:
                self._check_running(job.id)
                if frame.job_id != job.id or not frame.psi_message:
                    raise ProtocolError(f"job {job.id} expects tds.psi messages only")
                yield from run.replies(decode_message(frame.psi_message))
                if run.done:
                    break
            if not run.done:
                raise ProtocolError(f"{caller} ended job {job.id}'s exchange before its end")
            released, learned = run.release()
            self.jobs.move(job.id, JobState.SUCCEEDED, "done", result=learned)
            run.revealing = True
            yield JobFrame(job.id, result=released)

    def contribute(self, caller: str, job_id: str) -> Contribution:
        """This provider's encrypted counts and sums added to its predecessors' (if any)."""
        job = self.jobs.get(job_id, peer=caller)
        spec = job.spec
        if job.kind is not JobKind.AGGREGATE:
            raise ProtocolError(f"job {job_id} is a {job.kind} job, not an aggregation")
        part = spec.part(self.name)
        position = spec.providers.index(part)
        after = spec.providers[position + 1].node if position + 1 < len(spec.providers) else None
        expected = spec.requester if after is None else after
        if caller != expected:
            raise AuthenticationError(
                f"in job {job_id}, {self.name} hands its sum to {expected} only, not {caller}"
            )
        # Groups under min_cohort are suppressed below, so no released group is smaller.
        self._begin(job, part, cohort_size=spec.min_cohort)
        # Nothing of this provider's leaves the node until the vector is returned.
        chain = ThreadPoolExecutor(1, thread_name_prefix="tds-chain")
        try:
            return self._chain(job, part, position, chain)
        finally:
            # A failure here need not wait for the providers before this one.
            chain.shutdown(wait=False, cancel_futures=True)

    def _chain(
        self, job: Job, part: ProviderPart, position: int, chain: ThreadPoolExecutor
    ) -> Contribution:
        spec, job_id = job.spec, job.id
        with self._failing(job_id, lambda: False):
            # The providers before this one compute while this one does.
            before = spec.providers[position - 1] if position > 0 else None
            earlier = (
                None
                if before is None
                else chain.submit(self._contribute, before, job_id, float(spec.deadline_seconds))
            )
            dataset = self._dataset(spec, part)
            local = LocalAggregate.compute(dataset, spec).suppress(spec.min_cohort)
            # The real size of the smallest group released, before any noise.
            cohort = local.smallest_group or spec.min_cohort
            if spec.epsilon is not None:
                local = local.with_noise(spec.epsilon, spec.value_bound)
            self.jobs.progress(job_id, "encrypt", 0, 1)
            key = load_public_key(spec.requester_key)
            total = key.encrypt_vector(
                local.to_vector(),
                bound=PACKING_BOUND,
                max_additions=len(spec.providers),
                **self._compute.options(),
            )
            self.jobs.progress(job_id, "encrypt", 1, 1)
            earlier_deadline = None
            if before is not None and earlier is not None:
                handed = earlier.result()
                if handed.providers != position:
                    raise ProtocolError(
                        f"{before.node} handed a sum of {handed.providers} providers, not "
                        f"{position}"
                    )
                total = EncryptedVector.from_bytes(key, handed.vector) + total
                earlier_deadline = handed.delete_by
            decision = self._decide(
                spec, part, dataset, consume=False, cohort_size=cohort, job_id=job_id
            )
            deadline = earliest(delete_by(decision), earlier_deadline)
            learned = {"suppressed_groups": local.suppressed, "providers_summed": position + 1}
            self.jobs.move(job_id, JobState.SUCCEEDED, "contributed", result=learned)
            return Contribution(total.to_bytes(), position + 1, deadline)

    # -- checks -------------------------------------------------------------------------------

    def _agreement(self, spec: JobSpec, part: ProviderPart) -> SignedAgreement:
        agreement = self._node.negotiations.agreement(part.agreement_id, peer=spec.requester)
        negotiation = self._node.negotiations.get(agreement.negotiation_id)
        if (
            agreement.provider != self.name
            or agreement.consumer != spec.requester
            or negotiation.state is not NegotiationState.FINALIZED
        ):
            raise NotFoundError(
                f"{self.name} holds no finalized agreement {part.agreement_id!r} with "
                f"{spec.requester} as consumer"
            )
        if agreement.dataset_id != part.dataset_id:
            raise UsageDeniedError(
                f"agreement {agreement.id} is for dataset {agreement.dataset_id}, not "
                f"{part.dataset_id}"
            )
        return agreement

    def _dataset(self, spec: JobSpec, part: ProviderPart) -> Dataset:
        dataset = self._node.catalog.get(part.dataset_id)
        types = {column.name: column.type for column in dataset.columns}
        for column in spec.columns_for(part):
            if column not in types:
                raise ConfigError(f"dataset {dataset.id} has no column {column}")
        summed = spec.sums if spec.kind is JobKind.AGGREGATE else (part.value_column,)
        for column in filter(None, summed):
            if types[column] not in SUMMABLE:
                raise ConfigError(
                    f"column {column} of dataset {dataset.id} is {types[column]}; only integer "
                    "and decimal columns add up"
                )
        if spec.area is not None and dataset.location_columns is None:
            raise ConfigError(f"dataset {dataset.id} has no location columns to select an area")
        if spec.period is not None and dataset.time_column is None:
            raise ConfigError(f"dataset {dataset.id} has no time column to select a period")
        return dataset

    def _decide(
        self,
        spec: JobSpec,
        part: ProviderPart,
        dataset: Dataset,
        *,
        consume: bool,
        cohort_size: int | None,
        job_id: str | None = None,
    ) -> Decision:
        agreement = self._agreement(spec, part)
        request = Request(
            assignee=node_uri(spec.requester),
            action=spec.kind.action,
            target=dataset_target(self.name, part.dataset_id),
            purpose=spec.purpose,
            columns=spec.columns_for(part),
            cohort_size=cohort_size,
            epsilon=spec.epsilon,
            recipient=node_uri(spec.requester),
            peer_set_size=spec.requester_set_size or None,
            location=spec.area,
            data_time=spec.data_time,
            # The CA's word on the requester's collections; unknown (None) never widens access.
            memberships=self._memberships.get(spec.job_id),
            # The operator's word on the dataset's.
            target_collections=frozenset(dataset.collections),
        )
        state = self._node.usage if job_id is None else self._node.usage.for_job(job_id)
        decision = evaluate(agreement.policy, request, state, consume=consume)
        decision.raise_for_denial()
        for duty in decision.duties:
            if duty.action is DutyAction.ADD_NOISE and spec.epsilon is None:
                raise UsageDeniedError(
                    "the agreement requires noise on every result (duty addNoise): ask with an "
                    "epsilon",
                    decision=decision,
                )
            if duty.action is DutyAction.ANONYMIZE and spec.kind is JobKind.PSI:
                raise UsageDeniedError(
                    "the agreement requires anonymized columns (duty anonymize), and a psi job "
                    "releases the join keys themselves",
                    decision=decision,
                )
        return decision

    def _begin(self, job: Job, part: ProviderPart, *, cohort_size: int) -> None:
        """PENDING to RUNNING and the use spent, in one transaction; FAILED if refused."""
        try:
            with self._node.store.transaction():
                self.jobs.move(job.id, JobState.RUNNING, "computing")
                dataset = self._node.catalog.get(part.dataset_id)
                decision = self._decide(
                    job.spec, part, dataset, consume=True, cohort_size=cohort_size, job_id=job.id
                )
                self._node.audit_log.append(
                    EventKind.USE_DECISION,
                    {
                        "job": job.id,
                        "consumer": job.spec.requester,
                        "provider": self.name,
                        "agreement": part.agreement_id,
                        "permitted": decision.permitted,
                        "duties": sorted(duty.action.value for duty in decision.duties),
                    },
                )
        except UsageDeniedError as error:
            self.jobs.end(job.id, JobState.FAILED, f"refused: {error}")
            raise
        for duty in decision.duties:
            if duty.action is DutyAction.NOTIFY:
                _log.warning(
                    "notice (duty notify): %s started job %s on dataset %s",
                    job.spec.requester,
                    job.id,
                    part.dataset_id,
                )

    def recheck(self, job: Job) -> Job:
        """Whether the agreement still permits a job that has not ended; FAILED with the
        reason when it no longer does (it expired, ran out, or its dataset is gone)."""
        try:
            part = job.spec.part(self.name)
            dataset = self._dataset(job.spec, part)
            self._decide(
                job.spec,
                part,
                dataset,
                consume=False,
                cohort_size=job.spec.min_cohort,
                job_id=job.id,
            )
        except (UsageDeniedError, NotFoundError) as error:
            reason = f"stopped: the agreement no longer permits it: {error}"
            _log.warning("job %s %s", job.id, reason)
            return self.jobs.end(job.id, JobState.FAILED, reason)
        return job

    def _check_running(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job.state is not JobState.RUNNING:
            raise StateTransitionError(f"job {job_id} is {job.state}: {job.reason}")

    def _failing(self, job_id: str, revealing: Callable[[], bool]) -> _Failing:
        return _Failing(self._node, job_id, revealing)


class _Failing:
    """Ends a job FAILED with the error as its reason when the work inside fails, and gives
    its use back if nothing derived from this node's data had left it (``revealing()``)."""

    def __init__(self, node: OpenNode, job_id: str, revealing: Callable[[], bool]) -> None:
        self._node = node
        self._job_id = job_id
        self._revealing = revealing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, _: object) -> bool:
        if error is None:
            return False
        if isinstance(error, TdsError):
            reason = str(error)
        elif isinstance(error, GeneratorExit):
            reason = "the requester closed the exchange"
        else:
            reason = "internal error on the provider; its log has the details"
        with self._node.store.transaction():
            if not self._revealing() and self._node.usage.refund(self._job_id):
                reason += " (its use was given back: nothing had left the provider)"
            self._node.jobs.end(self._job_id, JobState.FAILED, reason)
        return False


class _SecureJoin:
    """The provider's party of a secure join and what it may release."""

    def __init__(self, provider: JobProvider, job: Job, part: ProviderPart) -> None:
        self._provider = provider
        self._job = job
        self._part = part
        spec = job.spec
        dataset = self._dataset = provider._dataset(spec, part)
        columns = read_columns(dataset, spec.columns_for(part))
        items = secure_join_items(columns[: len(part.key_columns)])
        mode = spec.kind.psi_mode(reveal_to_provider=spec.reveal_to_provider)
        common: dict[str, Any] = {
            "job_id": job.id,
            "mode": mode,
            "progress": self._progress,
            **provider._compute.options(),
        }
        self._value_type = None
        # Set once a message derived from this node's keys or values (beyond their number)
        # has been handed out.
        self.revealing = False
        self._delete_by: dt.datetime | None = None
        if spec.bucket_items:
            self._party: LeftParty | RightParty | OprfRightParty | BucketedRightParty = (
                BucketedRightParty(items, protocol=spec.protocol, **common)
            )
        elif spec.protocol == "oprf":
            self._party = OprfRightParty(items, **common)
        elif spec.kind.provider_is_left:
            self._party = LeftParty(items, **common)
        elif spec.kind is JobKind.PSI_SUM:
            self._value_type = {c.name: c.type for c in dataset.columns}[part.value_column or ""]
            values = to_units(columns[-1], self._value_type, f"column {part.value_column}")
            if spec.epsilon is not None:
                values = [max(-spec.value_bound, min(spec.value_bound, v)) for v in values]
            _, key = generate_keypair(scheme=provider._compute.scheme)
            self._party = RightParty(items, values=values, sum_key=key, **common)
        else:
            self._party = RightParty(items, **common)

    @property
    def done(self) -> bool:
        return self._party.done

    def _progress(self, report: Any) -> None:
        self._provider.jobs.progress(self._job.id, report.stage, report.done, report.total)

    def replies(self, message: Message | None) -> Iterator[JobFrame]:
        if message is not None:
            declared = self._job.spec.requester_set_size
            sent = (
                message.left_set_size
                if isinstance(message, OprfReply | BucketPlan)
                else message.total
                if isinstance(message, LeftPoints | RightPoints)
                else None
            )
            if declared and sent is not None and declared != sent:
                raise ProtocolError(
                    f"the requester declared {declared} distinct keys but sends {sent}"
                )
            self._party.receive(message)
        while (reply := self._party.next_message()) is not None:
            self._provider._check_running(self._job.id)
            if _lets_requester_match(reply) and not self.revealing:
                # The provider's own points (or OPRF outputs) let the requester match: the last
                # check before anything about the intersection can be learned.
                self._release_check(self._job.spec.min_cohort)
                self.revealing = True
            yield JobFrame(self._job.id, psi_message=reply.to_bytes())

    def _release_check(self, cohort_size: int) -> None:
        spec = self._job.spec
        decision = self._provider._decide(
            spec,
            self._part,
            self._dataset,
            consume=False,
            cohort_size=cohort_size,
            job_id=self._job.id,
        )
        self._delete_by = delete_by(decision)

    def release(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """What the requester gets, and what this node learned; checked against the policy."""
        result = self._party.result()
        spec = self._job.spec
        if spec.kind is JobKind.PSI:
            learned: dict[str, Any] = {"requester_set_size": result.left_set_size}
            if spec.reveal_to_provider:
                learned |= {"size": result.size, "items": _items_json(result.items)}
            return self._with_deadline({}), learned
        size = result.size
        if size < spec.min_cohort:
            raise UsageDeniedError(
                f"the intersection has {size} keys, fewer than the job's min_cohort "
                f"{spec.min_cohort}: nothing more is released"
            )
        self._release_check(size)
        if spec.kind is JobKind.PSI_CARDINALITY:
            learned = {"size": size, "requester_set_size": result.right_set_size}
            return self._with_deadline({"size": size}), learned
        assert result.sum is not None and self._value_type is not None
        total = result.sum
        if spec.epsilon is not None:
            noise = discrete_laplace(spec.value_bound / float(spec.epsilon), 1, fresh_rng())
            total += int(noise[0])
        released = {"size": size, "sum": from_units(total, self._value_type)}
        learned = {**released, "requester_set_size": result.left_set_size}
        return self._with_deadline(released), learned

    def _with_deadline(self, released: dict[str, Any]) -> dict[str, Any]:
        if self._delete_by is None:
            return released
        return released | {"delete_by": self._delete_by.isoformat()}


_MATCHABLE = (RightKey, RightPoints, OprfOutputs)
_MATCHABLE_TYPES = frozenset(kind.TYPE for kind in _MATCHABLE)


def _lets_requester_match(message: Message) -> bool:
    """Whether ``message`` (in a bucketed join, the one inside it) carries the provider's
    own points or OPRF outputs."""
    if isinstance(message, BucketMessage):
        return message.inner[1] in _MATCHABLE_TYPES
    return isinstance(message, _MATCHABLE)


def _items_json(items: Any) -> list[Any]:
    return [list(item) if isinstance(item, tuple) else item for item in items or ()]
