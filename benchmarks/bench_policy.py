"""Usage policies: evaluating the healthcare template with tds.policy against a plain dict walk.

The peer is the least a hand-written check could do: walk the policy's ODRL JSON and compare the
request field by field (with a year taken as 365 days and a bare counter). tds.policy does the
same work plus everything the peer skips: typed values, the action hierarchy, a compliance report
with a reason per constraint, a locked check-and-spend of the use counter. Timings are reported,
not asserted; the target is well under a millisecond per decision.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks.conftest import compare, size
from tds.policy import InMemoryUsageState, Policy, Request, UsageKey, _odrl, evaluate
from tds.sectors import healthcare

GROUP = "evaluate the healthcare template, one decision"
AGREED = datetime(2026, 3, 1, tzinfo=UTC)
UNIVERSITY = "urn:party:university"
DECISIONS = size(2000, 3)  # per round; compare() times a few rounds
POLICIES = size(200, 2)


@pytest.fixture(scope="module")
def setup():
    policy = healthcare.medical_research(
        uid="urn:policy:visits-research",
        assigner="urn:party:hospital",
        assignee=UNIVERSITY,
        target="urn:ds:visits",
        max_uses=10**9,  # every benchmark round spends a use; it must not run out
    )
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, AGREED)
    state.record_fulfilment(UsageKey(policy.content_hash, f"{policy.uid}#consent", UNIVERSITY))
    request = Request(
        assignee=UNIVERSITY,
        action="join-sum",
        target="urn:ds:visits",
        time=AGREED + timedelta(days=40),
        purpose="medical-research/oncology",
        cohort_size=25,
    )
    return policy, state, request


def naive_permits(document: dict[str, Any], request: dict[str, Any], usage: dict) -> bool:
    """A hand-written check of the same document: what one might write without tds.policy."""
    for rule in document.get("prohibition", []):
        if rule["action"] in ("use", request["action"]):
            return False
    for index, rule in enumerate(document["permission"]):
        if rule["action"] not in ("use", request["action"]):
            continue
        uses = usage.get(index, 0)
        permitted = True
        for constraint in rule.get("constraint", []):
            left, right = constraint["leftOperand"], constraint["rightOperand"]
            if left == "purpose":
                value = request["purpose"]
                permitted = value == right or value.startswith(right + "/")
            elif left == "operation":
                permitted = request["action"] in right
            elif left == "minCohort":
                permitted = request["cohort_size"] >= right
            elif left == "count":
                permitted = uses + 1 <= right
            elif left == "elapsedTime":
                permitted = request["time"] <= request["agreed_at"] + timedelta(days=365)
            else:
                permitted = False
            if not permitted:
                break
        for duty in rule.get("duty", []):
            if duty["action"] == "obtainConsent" and not request["consented"]:
                permitted = False
        if permitted:
            usage[index] = uses + 1
            return True
    return False


def test_evaluate_peer_dict_walk(benchmark, setup) -> None:
    policy, _, request = setup
    document = policy.to_odrl()
    plain = {
        "action": request.action.value,
        "purpose": request.purpose,
        "cohort_size": request.cohort_size,
        "time": request.time,
        "agreed_at": AGREED,
        "consented": True,
    }
    usage: dict[int, int] = {}
    decisions = compare(
        benchmark,
        GROUP,
        "plain Python dict walk",
        lambda: [naive_permits(document, plain, usage) for _ in range(DECISIONS)],
        items=DECISIONS,
        unit="decision",
    )
    assert all(decisions)
    assert naive_permits(document, {**plain, "cohort_size": 5}, usage) is False


def test_evaluate_tds_policy(benchmark, setup) -> None:
    policy, state, request = setup
    decisions = compare(
        benchmark,
        GROUP,
        "tds.policy evaluate",
        lambda: [evaluate(policy, request, state) for _ in range(DECISIONS)],
        items=DECISIONS,
        unit="decision",
    )
    assert all(d.permitted and d.consumed for d in decisions)
    assert [duty.action.value for duty in decisions[0].duties] == ["log"]
    denied = evaluate(policy, Request(**{**vars(request), "cohort_size": 5}), state)
    assert not denied.permitted


def test_evaluate_tds_policy_dry_run(benchmark, setup) -> None:
    policy, state, request = setup
    decisions = compare(
        benchmark,
        GROUP,
        "tds.policy evaluate, dry run",
        lambda: [evaluate(policy, request, state, consume=False) for _ in range(DECISIONS)],
        items=DECISIONS,
        unit="decision",
    )
    assert all(d.permitted and not d.consumed for d in decisions)


@pytest.mark.parametrize("cached", [False, True], ids=["first read", "read again"])
def test_parse_odrl(benchmark, setup, cached: bool) -> None:
    policy, _, _ = setup
    document = policy.to_odrl()

    def read() -> Policy:
        if not cached:
            _odrl._read.cache_clear()  # every read a first one: JSON-LD processing included
        return Policy.from_odrl(document)

    name = "tds.policy Policy.from_odrl, " + ("read again (cached)" if cached else "first read")
    parsed = compare(
        benchmark,
        "read the healthcare template from ODRL JSON-LD",
        name,
        lambda: [read() for _ in range(POLICIES)],
        items=POLICIES,
        unit="policy",
    )
    assert parsed[-1] == policy


def test_content_hash(benchmark) -> None:
    # Fresh policies each time: a Policy caches its hash, and the cache is not what is timed.
    templates = [
        healthcare.medical_research(uid=f"urn:policy:{i}", assigner="urn:a", target="urn:t")
        for i in range(POLICIES * 4)
    ]
    fresh = iter(templates)
    hashes = compare(
        benchmark,
        "content hash of the healthcare template",
        "tds.policy content_hash",
        lambda: [next(fresh).content_hash for _ in range(POLICIES)],
        items=POLICIES,
        unit="policy",
    )
    assert all(len(digest) == 64 for digest in hashes)
