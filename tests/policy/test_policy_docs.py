"""docs/policy.md stays true: its examples parse and it documents every term of the profile."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tds.errors import PolicySyntaxError
from tds.policy import (
    Action,
    DutyAction,
    InMemoryUsageState,
    LeftOperand,
    Operator,
    Policy,
    Request,
    UsageKey,
    Use,
    evaluate,
)
from tds.sectors import healthcare

DOC = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
JSON_BLOCKS = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, re.S)]


def test_the_canonical_form_shown_is_what_to_odrl_writes():
    shown = JSON_BLOCKS[0]
    policy = healthcare.medical_research(
        uid="urn:policy:visits-research",
        assigner="urn:party:hospital",
        assignee="urn:party:university",
        target="urn:ds:visits",
    )
    assert shown == policy.to_odrl()


@pytest.mark.parametrize("document", JSON_BLOCKS[1:], ids=lambda d: d["uid"])
def test_every_example_is_inside_the_profile(document):
    assert Policy.from_odrl(document).to_odrl()["uid"] == document["uid"]


def test_the_counter_example_is_rejected_as_documented():
    example = JSON_BLOCKS[1]
    document = {**example, "permission": [{**example["permission"][0], "action": "download"}]}
    with pytest.raises(PolicySyntaxError) as caught:
        Policy.from_odrl(document)
    assert f"PolicySyntaxError: {caught.value}" in " ".join(DOC.split())


def section(title: str) -> str:
    return DOC.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]


@pytest.mark.parametrize(
    ("title", "terms"),
    [
        ("Actions", list(Action)),
        ("Left operands", list(LeftOperand)),
        ("Operators", list(Operator)),
        ("Duties", list(DutyAction)),
    ],
)
def test_every_profile_term_is_documented_in_its_section(title, terms):
    text = section(title)
    missing = [str(term) for term in terms if f"`{term}`" not in text]
    assert not missing


def test_the_denied_request_shown_explains_itself_as_documented():
    shown = re.findall(r"```text\n(.*?)```", DOC, re.S)[0].splitlines()
    policy = healthcare.medical_research(
        uid="urn:policy:visits-research",
        assigner="urn:party:hospital",
        assignee="urn:party:university",
        target="urn:ds:visits",
    )
    agreed = datetime(2026, 3, 1, tzinfo=UTC)
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, agreed)
    key = UsageKey(policy.content_hash, "permission[0]", "urn:party:university")
    for _ in range(100):
        state.try_consume(key, lambda ledger: True, Use(agreed))
    request = Request(
        assignee="urn:party:university",
        action="join-sum",
        target="urn:ds:visits",
        purpose="medical-research",
        cohort_size=8,
        time=agreed + timedelta(days=400),
    )
    assert list(evaluate(policy, request, state).reasons) == shown
