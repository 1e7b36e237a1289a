"""Sector templates: the healthcare, power and ocean terms do what their docstrings say."""

from datetime import UTC, datetime, timedelta

import pytest

from tds.errors import PolicySyntaxError
from tds.policy import (
    Action,
    BoundingBox,
    DutyAction,
    InMemoryUsageState,
    PolicyType,
    Request,
    UsageKey,
    evaluate,
)
from tds.sectors import healthcare, ocean, power

HOSPITAL, UNIVERSITY = "urn:party:hospital", "urn:party:university"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def research_setup(max_uses=100, consent=True):
    policy = healthcare.medical_research(
        uid="urn:policy:visits-research",
        assigner=HOSPITAL,
        assignee=UNIVERSITY,
        target="urn:ds:visits",
        max_uses=max_uses,
    )
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, T0)
    if consent:
        state.record_fulfilment(
            UsageKey(policy.content_hash, "urn:policy:visits-research#consent", UNIVERSITY)
        )
    return policy, state


def research_request(**fields):
    values = {
        "assignee": UNIVERSITY,
        "action": "aggregate",
        "target": "urn:ds:visits",
        "time": T0 + timedelta(days=30),
        "purpose": "medical-research/oncology",
        "cohort_size": 12,
    }
    values.update(fields)
    return Request(**values)


def test_healthcare_permits_research_aggregates_and_owes_a_log():
    policy, state = research_setup()
    assert policy.type is PolicyType.AGREEMENT
    for action in ("aggregate", "join-sum"):
        decision = evaluate(policy, research_request(action=action), state)
        assert decision.permitted, decision.reasons
        assert [duty.action for duty in decision.duties] == [DutyAction.LOG]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"action": "read"}, "operation 'read' is none of ['aggregate', 'join-sum']"),
        ({"action": "join"}, "operation 'join' is none of"),
        ({"purpose": "marketing"}, "purpose 'marketing' is not a kind of 'medical-research'"),
        ({"cohort_size": 9}, "smallest cohort 9 is not at least 10"),
        ({"cohort_size": None}, "the request gives no cohort_size"),
        (
            {"time": T0 + timedelta(days=365, seconds=1)},
            "(365 days 1 second) is not at most 1 year",
        ),
        ({"assignee": "urn:party:insurer"}, "is assigned to urn:party:university"),
    ],
)
def test_healthcare_denies_everything_else(fields, reason):
    policy, state = research_setup()
    decision = evaluate(policy, research_request(**fields), state)
    assert not decision.permitted
    assert any(reason in line for line in decision.reasons), decision.reasons


def test_healthcare_requires_recorded_consent_and_caps_uses():
    policy, state = research_setup(consent=False)
    assert "obtainConsent" in evaluate(policy, research_request(), state).reasons[0]
    policy, state = research_setup(max_uses=2)
    outcomes = [evaluate(policy, research_request(), state).permitted for _ in range(3)]
    assert outcomes == [True, True, False]


def test_healthcare_without_consent_requirement_has_no_prior_duty():
    policy = healthcare.medical_research(
        uid="urn:p", assigner=HOSPITAL, target="urn:ds:visits", consent_required=False
    )
    assert policy.type is PolicyType.OFFER
    assert [duty.action for duty in policy.permissions[0].duties] == [DutyAction.LOG]


def meters_request(**fields):
    values = {
        "assignee": "urn:party:bank",
        "action": "aggregate",
        "target": "urn:ds:meters",
        "purpose": "credit-assessment",
        "cohort_size": 20,
        "time": T0,
    }
    values.update(fields)
    return Request(**values)


@pytest.mark.parametrize(
    ("fields", "permitted"),
    [
        ({}, True),
        ({"cohort_size": 19}, False),
        ({"purpose": "marketing"}, False),
        ({"action": "read"}, False),
        ({"action": "join"}, False),
        ({"action": "cardinality"}, False),
    ],
)
def test_power_household_readings_only_in_aggregates_over_20_meters(fields, permitted):
    policy = power.household_aggregates(uid="urn:p", assigner="urn:grid", target="urn:ds:meters")
    assert evaluate(policy, meters_request(**fields)).permitted is permitted


def test_power_rejects_purposes_given_as_one_string():
    # A string is a sequence of characters: it would have allowed the purpose "c".
    with pytest.raises(PolicySyntaxError, match="takes a list of values"):
        power.household_aggregates(
            uid="urn:p", assigner="urn:grid", target="urn:ds:meters", purposes="carbon-accounting"
        )


def test_power_prohibits_rows_and_joins_even_beside_a_broad_permission():
    policy = power.household_aggregates(uid="urn:p", assigner="urn:grid", target="urn:ds:meters")
    decision = evaluate(policy, meters_request(action="read"))
    assert decision.reasons[0] == "prohibition 1 forbids read on urn:ds:meters"


def test_power_epsilon_budget_is_spent_and_noise_is_owed():
    policy = power.household_aggregates(
        uid="urn:p", assigner="urn:grid", target="urn:ds:meters", epsilon_budget=1.0
    )
    state = InMemoryUsageState()
    first = evaluate(policy, meters_request(epsilon=0.6), state)
    assert first.permitted
    assert [duty.action for duty in first.duties] == [DutyAction.LOG, DutyAction.ADD_NOISE]
    assert not evaluate(policy, meters_request(epsilon=0.6), state).permitted


AREA = BoundingBox(120.0, 29.0, 123.0, 31.5)  # waters off Zhoushan


def observation_request(**fields):
    values = {
        "assignee": "urn:party:institute",
        "action": "read",
        "target": "urn:ds:buoys",
        "time": T0,
        "location": (30.0, 122.2),
        "data_time": T0 - timedelta(days=30),
    }
    values.update(fields)
    return Request(**values)


@pytest.mark.parametrize(
    ("fields", "permitted"),
    [
        ({}, True),
        ({"data_time": T0 - timedelta(days=29)}, False),
        ({"location": (35.0, 122.2)}, False),
        ({"data_time": None}, False),
        ({"action": "aggregate", "data_time": T0}, True),  # aggregates carry no embargo
        ({"action": "aggregate", "location": (0.0, 0.0)}, False),
        ({"action": "join"}, False),
    ],
)
def test_ocean_area_and_embargo(fields, permitted):
    policy = ocean.observations(uid="urn:p", assigner="urn:buoys", target="urn:ds:buoys", area=AREA)
    decision = evaluate(policy, observation_request(**fields))
    assert decision.permitted is permitted
    if permitted:
        assert [duty.action for duty in decision.duties] == [DutyAction.LOG]


def test_templates_return_offers_or_agreements():
    offer = ocean.observations(uid="urn:p", assigner="urn:a", target="urn:t", area=AREA)
    agreement = ocean.observations(
        uid="urn:p", assigner="urn:a", target="urn:t", area=AREA, assignee="urn:b"
    )
    assert (offer.type, agreement.type) == (PolicyType.OFFER, PolicyType.AGREEMENT)
    assert offer.content_hash != agreement.content_hash
    assert [p.action for p in offer.permissions] == [Action.READ, Action.AGGREGATE]


@pytest.mark.parametrize(
    ("fields", "permitted"),
    [
        ({"data_time": T0 - timedelta(days=7)}, True),
        ({"data_time": T0 - timedelta(days=6, hours=23)}, False),
        ({"data_time": T0}, False),
        ({"data_time": None}, False),
        ({"location": (35.0, 122.2)}, False),
    ],
)
def test_ocean_aggregate_embargo_holds_back_fresh_aggregates(fields, permitted):
    policy = ocean.observations(
        uid="urn:p", assigner="urn:ranch", target="urn:ds:buoys", area=AREA, aggregate_embargo="P7D"
    )
    decision = evaluate(policy, observation_request(action="aggregate", **fields))
    assert decision.permitted is permitted, decision.reasons
    # Rows keep their own, longer embargo.
    assert not evaluate(policy, observation_request(**fields)).permitted


LAOSHAN = BoundingBox(120.6, 35.3, 121.9, 36.45)  # Laoshan Bay and the waters off Qingdao


def catch_request(**fields):
    values = {
        "assignee": "urn:party:fisheries-bureau",
        "action": "aggregate",
        "target": "urn:ds:catch-logs",
        "time": T0,
        "purpose": "stock-assessment",
        "cohort_size": 3,
        "location": (36.0, 121.0),
        "data_time": T0 - timedelta(days=90),
    }
    values.update(fields)
    return Request(**values)


def catch_policy(**arguments):
    return ocean.catch_statistics(
        uid="urn:p", assigner="urn:ranch", target="urn:ds:catch-logs", **arguments
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"purpose": "fisheries-management"}, None),
        ({"location": (37.5, 122.6)}, "is not within the box west 120.6"),
        ({"location": None}, "the request gives no location"),
        ({"cohort_size": 2}, "smallest cohort 2 is not at least 3"),
        ({"purpose": "marketing"}, "purpose 'marketing' is none of"),
        ({"data_time": T0 - timedelta(days=89)}, "(89 days) is not at least 90 days"),
        ({"action": "read"}, "prohibition 1 forbids read on urn:ds:catch-logs"),
        ({"action": "join"}, "no permission"),
        ({"action": "cardinality"}, "no permission"),
    ],
)
def test_ocean_catch_statistics_only_as_aggregates_over_enough_vessels(fields, reason):
    policy = catch_policy(area=LAOSHAN, embargo="P90D")
    assert policy.type is PolicyType.OFFER
    decision = evaluate(policy, catch_request(**fields))
    if reason is None:
        assert decision.permitted, decision.reasons
        assert [duty.action for duty in decision.duties] == [DutyAction.LOG]
    else:
        assert not decision.permitted
        assert any(reason in line for line in decision.reasons), decision.reasons


def test_ocean_catch_statistics_without_area_or_embargo_asks_neither():
    policy = catch_policy(min_vessels=5, assignee="urn:party:fisheries-bureau")
    assert policy.type is PolicyType.AGREEMENT
    request = catch_request(location=None, data_time=None, cohort_size=5)
    assert evaluate(policy, request).permitted
    assert not evaluate(policy, catch_request(cohort_size=4)).permitted
    assert [p.action for p in policy.permissions] == [Action.AGGREGATE]
    assert [p.action for p in policy.prohibitions] == [Action.READ]


def registry_request(**fields):
    values = {
        "assignee": "urn:party:laoshan-ranch",
        "action": "join",
        "target": "urn:ds:vessel-registry",
        "time": T0,
        "purpose": "catch-verification",
        "peer_set_size": 20,
    }
    values.update(fields)
    return Request(**values)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"action": "cardinality", "peer_set_size": 5_000}, None),
        ({"action": "join-sum"}, "no permission"),
        ({"action": "read"}, "no permission"),
        ({"action": "aggregate"}, "no permission"),
        ({"peer_set_size": 19}, "19 is not at least 20"),
        ({"action": "cardinality", "peer_set_size": 3}, "3 is not at least 20"),
        ({"peer_set_size": None}, "the request gives no peer_set_size"),
        ({"purpose": "marketing"}, "purpose 'marketing' is none of"),
    ],
)
def test_ocean_vessel_registry_permits_joins_against_enough_vessels(fields, reason):
    policy = ocean.vessel_registry(
        uid="urn:p", assigner="urn:port", target="urn:ds:vessel-registry"
    )
    decision = evaluate(policy, registry_request(**fields))
    if reason is None:
        assert decision.permitted, decision.reasons
        assert [duty.action for duty in decision.duties] == [DutyAction.LOG]
    else:
        assert not decision.permitted
        assert any(reason in line for line in decision.reasons), decision.reasons


def test_ocean_templates_reject_a_single_purpose_string_and_a_bad_uid():
    with pytest.raises(PolicySyntaxError, match="takes a list of values"):
        catch_policy(purposes="stock-assessment")
    with pytest.raises(PolicySyntaxError, match="uid"):
        ocean.vessel_registry(uid="", assigner="urn:port", target="urn:t")


def indicators_request(**fields):
    values = {
        "assignee": "urn:party:bank",
        "action": "join-sum",
        "target": "urn:ds:consumption",
        "purpose": "credit-assessment",
        "cohort_size": 10,
        "peer_set_size": 50,
        "time": T0,
    }
    values.update(fields)
    return Request(**values)


def indicators_policy(**parameters):
    return power.enterprise_indicators(
        uid="urn:p", assigner="urn:grid", target="urn:ds:consumption", **parameters
    )


@pytest.mark.parametrize("action", ["join-sum", "cardinality"])
def test_power_enterprise_indicators_permit_joined_sums_and_counts(action):
    decision = evaluate(indicators_policy(), indicators_request(action=action))
    assert decision.permitted, decision.reasons
    assert [duty.action for duty in decision.duties] == [DutyAction.LOG]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"action": "join"}, "prohibition 1 forbids join on urn:ds:consumption"),
        ({"action": "read"}, "prohibition 2 forbids read on urn:ds:consumption"),
        ({"action": "aggregate"}, "no permission covers aggregate"),
        ({"cohort_size": 9}, "smallest cohort 9 is not at least 10"),
        ({"cohort_size": None}, "the request gives no cohort_size"),
        ({"peer_set_size": 49}, "the other party brings 49 is not at least 50"),
        ({"peer_set_size": None}, "the request gives no peer_set_size"),
        ({"purpose": "marketing"}, "purpose 'marketing' is none of ['credit-assessment']"),
    ],
)
def test_power_enterprise_indicators_refuse_everything_else(fields, reason):
    decision = evaluate(indicators_policy(), indicators_request(**fields))
    assert not decision.permitted
    assert any(reason in line for line in decision.reasons), decision.reasons


def test_power_enterprise_indicators_refuse_a_join_even_beside_a_broad_permission():
    policy = indicators_policy()
    assert [p.action for p in policy.prohibitions] == [Action.JOIN, Action.READ]
    # With every constraint met, the join is still refused: the shared list never leaves.
    decision = evaluate(policy, indicators_request(action="join", cohort_size=10**6))
    assert decision.reasons[0] == "prohibition 1 forbids join on urn:ds:consumption"


def test_power_enterprise_indicators_take_their_thresholds_and_purposes():
    policy = indicators_policy(
        purposes=("credit-assessment", "green-finance"), min_shared=25, min_peer_set=200
    )
    fine = {"cohort_size": 25, "peer_set_size": 200}
    assert evaluate(policy, indicators_request(purpose="green-finance", **fine)).permitted
    assert not evaluate(policy, indicators_request(cohort_size=24, peer_set_size=200)).permitted
    assert not evaluate(policy, indicators_request(cohort_size=25, peer_set_size=199)).permitted
    assert policy.type is PolicyType.OFFER
    agreement = indicators_policy(assignee="urn:party:bank")
    assert agreement.type is PolicyType.AGREEMENT
    assert evaluate(agreement, indicators_request()).permitted
    assert not evaluate(agreement, indicators_request(assignee="urn:party:other")).permitted
    with pytest.raises(PolicySyntaxError, match="takes a list of values"):
        indicators_policy(purposes="credit-assessment")
