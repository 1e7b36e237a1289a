"""Job specs, job states and job frames: what is valid, how they travel, how they move."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tds._proto.v1 import job_pb2
from tds.connector import serde
from tds.connector._job_store import JobStatus
from tds.connector._jobs import (
    MAX_JOB_PROVIDERS,
    Contribution,
    JobFrame,
    JobKind,
    JobSpec,
    JobState,
    ProviderPart,
    check_job_id,
    check_transition,
    new_job_id,
)
from tds.errors import ConfigError, DecodeError, StateTransitionError
from tds.policy import Action, BoundingBox
from tds.psi import Mode

JOB_ID = "0123456789abcdef0123456789abcdef"
OTHER_ID = "fedcba9876543210fedcba9876543210"
KEY = b"\x01\x02paillier-public-key"
S = JobState


def _part(node: str = "alice", **fields: Any) -> ProviderPart:
    values: dict[str, Any] = {
        "node": node,
        "agreement_id": f"agreement-{node}",
        "dataset_id": "visits",
    }
    values.update(fields)
    return ProviderPart(**values)


def _aggregate(**fields: Any) -> JobSpec:
    values: dict[str, Any] = {
        "job_id": JOB_ID,
        "kind": JobKind.AGGREGATE,
        "requester": "bob",
        "providers": (_part("alice"), _part("carol")),
        "purpose": "medical research",
        "group_by": ("region",),
        "sums": ("cost",),
        "groups": (("north",), ("south",)),
        "requester_key": KEY,
    }
    values.update(fields)
    return JobSpec(**values)


def _psi(
    kind: JobKind = JobKind.PSI, *, part: ProviderPart | None = None, **fields: Any
) -> JobSpec:
    if part is None:
        value = "cost" if kind is JobKind.PSI_SUM else None
        part = _part("alice", key_columns=("patient_id",), value_column=value)
    values: dict[str, Any] = {
        "job_id": JOB_ID,
        "kind": kind,
        "requester": "bob",
        "providers": (part,),
        "purpose": "medical research",
    }
    values.update(fields)
    return JobSpec(**values)


# -- kinds, roles and ids ---------------------------------------------------------------------


def test_each_kind_is_evaluated_as_its_own_policy_action() -> None:
    assert JobKind.AGGREGATE.action is Action.AGGREGATE
    assert JobKind.PSI.action is Action.JOIN
    assert JobKind.PSI_CARDINALITY.action is Action.CARDINALITY
    assert JobKind.PSI_SUM.action is Action.JOIN_SUM
    assert [kind.two_party for kind in JobKind] == [False, True, True, True]


def test_secure_join_kinds_map_to_their_psi_modes_and_roles() -> None:
    assert JobKind.PSI.psi_mode() is Mode.INTERSECTION
    assert JobKind.PSI.psi_mode(reveal_to_provider=True) is Mode.BOTH
    assert JobKind.PSI_CARDINALITY.psi_mode() is Mode.CARDINALITY
    assert JobKind.PSI_SUM.psi_mode() is Mode.SUM
    assert [kind.provider_is_left for kind in JobKind] == [False, False, True, False]
    with pytest.raises(ConfigError, match="not a secure join"):
        JobKind.AGGREGATE.psi_mode()


def test_new_job_ids_are_fresh_32_hex_digit_ids() -> None:
    ids = {new_job_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(check_job_id(job_id) == job_id for job_id in ids)


@pytest.mark.parametrize(
    "job_id",
    ["", "0" * 31, "0" * 33, JOB_ID.upper(), "g" * 32, f" {JOB_ID[1:]}", f"{JOB_ID}\n", None, 7],
)
def test_anything_but_32_lowercase_hex_digits_is_not_a_job_id(job_id: object) -> None:
    with pytest.raises(ConfigError, match="not a job id"):
        check_job_id(job_id)


# -- the spec's validation --------------------------------------------------------------------


def test_a_valid_aggregate_and_each_valid_secure_join_are_accepted() -> None:
    spec = _aggregate(groups=[["north"], ["south"]], group_by=["region"], sums=["cost"])
    assert spec.groups == (("north",), ("south",))
    assert spec.group_by == ("region",)
    assert spec.kind is JobKind.AGGREGATE
    assert spec.columns_for(spec.part("carol")) == ("region", "cost")
    for kind in (JobKind.PSI, JobKind.PSI_CARDINALITY, JobKind.PSI_SUM):
        join = _psi(kind)
        assert join.kind is kind
    assert _psi(JobKind.PSI_SUM).columns_for(_psi(JobKind.PSI_SUM).part("alice")) == (
        "patient_id",
        "cost",
    )
    assert _psi(JobKind.PSI, reveal_to_provider=True).reveal_to_provider is True
    assert _psi(JobKind.PSI_SUM, epsilon="0.5").epsilon == Decimal("0.5")
    assert _psi(kind="psi").kind is JobKind.PSI


def test_the_part_of_a_node_that_is_not_a_provider_is_refused() -> None:
    spec = _aggregate()
    assert spec.part("alice").agreement_id == "agreement-alice"
    with pytest.raises(ConfigError, match="bob is not a provider"):
        spec.part("bob")


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown job kind"):
        _aggregate(kind="join")


@pytest.mark.parametrize("job_id", ["", JOB_ID.upper(), "x" * 32])
def test_a_spec_with_a_bad_job_id_is_refused(job_id: str) -> None:
    with pytest.raises(ConfigError, match="not a job id"):
        _aggregate(job_id=job_id)


@pytest.mark.parametrize("requester", ["", "Bob", "-bob", "b" * 64, 5])
def test_a_spec_with_a_bad_requester_name_is_refused(requester: object) -> None:
    with pytest.raises(ConfigError, match="not a node name"):
        _aggregate(requester=requester)


@pytest.mark.parametrize(
    "providers",
    [
        [{"node": "alice"}],
        "alice",
        None,
        (_part("alice"), "carol"),
    ],
)
def test_providers_that_are_not_provider_parts_are_refused(providers: object) -> None:
    with pytest.raises(ConfigError, match="sequence of ProviderPart"):
        _aggregate(providers=providers)


def test_a_job_has_between_one_and_sixteen_providers() -> None:
    with pytest.raises(ConfigError, match="1 to 16 providers, not 0"):
        _aggregate(providers=())
    names = [f"node-{number}" for number in range(MAX_JOB_PROVIDERS + 1)]
    with pytest.raises(ConfigError, match="1 to 16 providers, not 17"):
        _aggregate(providers=tuple(_part(name) for name in names))
    spec = _aggregate(providers=tuple(_part(name) for name in names[:MAX_JOB_PROVIDERS]))
    assert len(spec.providers) == MAX_JOB_PROVIDERS


def test_a_provider_named_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="appears twice"):
        _aggregate(providers=(_part("alice"), _part("carol"), _part("alice", dataset_id="x")))


def test_the_requester_cannot_also_be_a_provider() -> None:
    with pytest.raises(ConfigError, match="bob cannot be requester and provider"):
        _aggregate(providers=(_part("alice"), _part("bob")))


@pytest.mark.parametrize("purpose", ["", "p" * 257, None, b"research"])
def test_a_purpose_of_1_to_256_characters_is_required(purpose: object) -> None:
    with pytest.raises(ConfigError, match="purpose of 1 to 256"):
        _aggregate(purpose=purpose)


def test_a_purpose_of_exactly_256_characters_is_accepted() -> None:
    assert len(_aggregate(purpose="p" * 256).purpose) == 256


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"group_by": "region"}, "group_by must be a list of column names"),
        ({"group_by": ("a", "b", "c", "d", "e"), "groups": ()}, "group_by names 5 columns"),
        ({"group_by": ("1st",)}, "'1st' in group_by is not a column name"),
        ({"group_by": ("region", "region"), "groups": (("n", "n"),)}, "group_by repeats"),
        ({"sums": "cost"}, "sums must be a list of column names"),
        ({"sums": tuple(f"c{n}" for n in range(17))}, "sums names 17 columns; at most 16"),
        ({"sums": ("cost-usd",)}, "in sums is not a column name"),
        ({"sums": ("cost", "cost")}, "sums repeats a column"),
        ({"sums": (3,)}, "3 in sums is not a column name"),
        ({"sums": ("a" * 65,)}, "in sums is not a column name"),
    ],
)
def test_bad_column_lists_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _aggregate(**fields)


def test_column_lists_at_their_limits_are_accepted() -> None:
    spec = _aggregate(
        group_by=("a", "b", "c", "d"),
        groups=(("1", "2", "3", "4"),),
        sums=tuple(f"c{n}" for n in range(16)),
    )
    assert len(spec.group_by) == 4
    assert len(spec.sums) == 16
    assert _aggregate(sums=("a" * 64,)).sums == ("a" * 64,)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("min_cohort", 1, 2**31), ("value_bound", 1, 2**40), ("deadline_seconds", 1, 604800)],
)
def test_numbers_must_be_integers_in_their_ranges(name: str, low: int, high: int) -> None:
    assert getattr(_aggregate(**{name: low}), name) == low
    assert getattr(_aggregate(**{name: high}), name) == high
    for bad in (low - 1, high + 1, True, 5.0, "5", None):
        with pytest.raises(ConfigError, match=f"{name} must be an integer from {low} to {high}"):
            _aggregate(**{name: bad})


@pytest.mark.parametrize(
    ("epsilon", "expected"),
    [("0.5", Decimal("0.5")), (Decimal("100"), Decimal(100)), (2, Decimal(2)), ("1e-3", None)],
)
def test_epsilon_is_parsed_as_a_decimal(epsilon: object, expected: Decimal | None) -> None:
    spec = _aggregate(epsilon=epsilon)
    assert isinstance(spec.epsilon, Decimal)
    assert spec.epsilon == (Decimal(str(epsilon)) if expected is None else expected)


@pytest.mark.parametrize("epsilon", ["abc", "", [1], object()])
def test_an_epsilon_that_is_not_a_number_is_refused(epsilon: object) -> None:
    with pytest.raises(ConfigError, match="epsilon must be a number"):
        _aggregate(epsilon=epsilon)


@pytest.mark.parametrize(
    "epsilon", ["0", "-1", "100.0001", "NaN", "Infinity", "-Infinity", "sNaN", Decimal("1e9")]
)
def test_an_epsilon_outside_0_to_100_or_not_finite_is_refused(epsilon: object) -> None:
    with pytest.raises(ConfigError, match="epsilon must be above 0 and at most 100"):
        _aggregate(epsilon=epsilon)


@pytest.mark.parametrize("reveal", [1, "yes", None])
def test_reveal_to_provider_must_be_a_boolean(reveal: object) -> None:
    with pytest.raises(ConfigError, match="reveal_to_provider must be True or False"):
        _psi(reveal_to_provider=reveal)


@pytest.mark.parametrize("key", ["00ff", bytearray(b"k"), None])
def test_the_requester_key_must_be_bytes(key: object) -> None:
    with pytest.raises(ConfigError, match="requester_key must be bytes"):
        _aggregate(requester_key=key)


# -- what each kind needs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"requester_key": b""}, "carries the requester's Paillier public key"),
        ({"sums": (), "group_by": (), "groups": ()}, "counts rows by group_by columns, sums"),
        ({"groups": ()}, "lists the groups it asks for"),
        ({"groups": (("north", "x"),)}, "one value per group_by column"),
        ({"groups": (("north",), ())}, "one value per group_by column"),
        ({"group_by": (), "groups": (("north",),)}, "one value per group_by column"),
        ({"groups": "north"}, "groups must be a list of groups"),
        ({"groups": (("north",), "south")}, "groups must be a list of groups"),
        ({"groups": ((1,),)}, "groups must be a list of groups"),
        ({"groups": None}, "groups must be a list of groups"),
        ({"reveal_to_provider": True}, "reveal_to_provider and requester_set_size are for secure"),
        ({"requester_set_size": 5}, "reveal_to_provider and requester_set_size are for secure"),
        (
            {"providers": (_part("alice", key_columns=("patient_id",)),)},
            "no join key or value column",
        ),
        ({"providers": (_part("alice", value_column="cost"),)}, "no join key or value column"),
    ],
)
def test_an_aggregation_refuses_what_it_cannot_use(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _aggregate(**fields)


def test_an_aggregation_may_count_only_or_sum_only() -> None:
    counted = _aggregate(sums=())
    assert counted.sums == ()
    summed = _aggregate(group_by=(), groups=())
    assert summed.groups == ()
    assert _aggregate(epsilon="1").epsilon == 1


SECURE_JOINS = (JobKind.PSI, JobKind.PSI_CARDINALITY, JobKind.PSI_SUM)


@pytest.mark.parametrize("kind", SECURE_JOINS)
def test_a_secure_join_is_between_the_requester_and_one_provider(kind: JobKind) -> None:
    value = "cost" if kind is JobKind.PSI_SUM else None
    parts = tuple(_part(n, key_columns=("id",), value_column=value) for n in ("alice", "carol"))
    with pytest.raises(ConfigError, match=f"a {kind} job is between the requester and one"):
        _psi(kind, providers=parts)


@pytest.mark.parametrize("kind", SECURE_JOINS)
@pytest.mark.parametrize(
    "fields", [{"group_by": ("region",)}, {"sums": ("cost",)}, {"groups": (("north",),)}]
)
def test_a_secure_join_has_no_groups_or_sums(kind: JobKind, fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="has no group_by, sums or groups"):
        _psi(kind, **fields)


@pytest.mark.parametrize("kind", SECURE_JOINS)
def test_a_secure_join_names_the_providers_key_columns(kind: JobKind) -> None:
    value = "cost" if kind is JobKind.PSI_SUM else None
    with pytest.raises(ConfigError, match="names the provider's join key columns"):
        _psi(kind, part=_part("alice", value_column=value))


def test_psi_sum_and_only_psi_sum_has_a_value_column() -> None:
    with pytest.raises(ConfigError, match="a psi-sum job, and only it"):
        _psi(JobKind.PSI_SUM, part=_part("alice", key_columns=("id",)))
    for kind in (JobKind.PSI, JobKind.PSI_CARDINALITY):
        with pytest.raises(ConfigError, match="a psi-sum job, and only it"):
            _psi(kind, part=_part("alice", key_columns=("id",), value_column="cost"))


@pytest.mark.parametrize("kind", [JobKind.PSI_CARDINALITY, JobKind.PSI_SUM])
def test_only_a_psi_job_may_reveal_the_keys_to_the_provider(kind: JobKind) -> None:
    with pytest.raises(ConfigError, match="reveal_to_provider applies to a psi job only"):
        _psi(kind, reveal_to_provider=True)


@pytest.mark.parametrize("kind", SECURE_JOINS)
def test_a_secure_join_carries_no_paillier_key(kind: JobKind) -> None:
    with pytest.raises(ConfigError, match="only an aggregation carries"):
        _psi(kind, requester_key=KEY)


@pytest.mark.parametrize("kind", [JobKind.PSI, JobKind.PSI_CARDINALITY])
def test_a_join_that_releases_no_noisy_value_takes_no_epsilon(kind: JobKind) -> None:
    with pytest.raises(ConfigError, match="takes no epsilon"):
        _psi(kind, epsilon="1")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"node": "Alice"}, "not a node name"),
        ({"address": 443}, "must be HOST:PORT text"),
        ({"address": "alice.example"}, "not an address"),
        ({"address": "alice.example:0"}, "not an address"),
        ({"agreement_id": ""}, "is not an agreement id"),
        ({"agreement_id": "a" * 129}, "is not an agreement id"),
        ({"agreement_id": None}, "is not an agreement id"),
        ({"dataset_id": "Visits"}, "not a dataset id"),
        ({"key_columns": "patient_id"}, "key_columns must be a list"),
        ({"key_columns": ("id", "id")}, "key_columns repeats"),
        ({"key_columns": ("patient id",)}, "not a column name"),
        ({"value_column": "cost usd"}, "in value_column is not a column name"),
        ({"value_column": 5}, "in value_column is not a column name"),
    ],
)
def test_a_provider_part_refuses_bad_fields(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _part(**fields)


def test_a_provider_part_accepts_an_address_and_a_128_character_agreement_id() -> None:
    part = _part(address="alice.example:7443", agreement_id="a" * 128, key_columns=["id"])
    assert part.address == "alice.example:7443"
    assert part.key_columns == ("id",)


# -- JSON ---------------------------------------------------------------------------------

_names = st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True)
_columns = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
_epsilons = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(100), places=3)


@st.composite
def _parts(draw: st.DrawFn, nodes: list[str], **fields: Any) -> tuple[ProviderPart, ...]:
    return tuple(
        ProviderPart(
            node=node,
            agreement_id=draw(st.text(min_size=1, max_size=40)),
            dataset_id=draw(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)),
            address=draw(
                st.sampled_from(["", f"{node}.example:7443", "127.0.0.1:1", "[::1]:65535"])
            ),
            **fields,
        )
        for node in nodes
    )


@st.composite
def valid_specs(draw: st.DrawFn) -> JobSpec:
    kind = draw(st.sampled_from(list(JobKind)))
    requester = draw(_names)
    common: dict[str, Any] = {
        "job_id": draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),
        "kind": kind,
        "requester": requester,
        "purpose": draw(st.text(min_size=1, max_size=256)),
        "min_cohort": draw(st.integers(1, 2**31)),
        "value_bound": draw(st.integers(1, 2**40)),
        "deadline_seconds": draw(st.integers(1, 7 * 24 * 3600)),
    }
    if kind is JobKind.AGGREGATE:
        nodes = draw(
            st.lists(_names.filter(lambda n: n != requester), min_size=1, max_size=5, unique=True)
        )
        group_by = draw(st.lists(_columns, max_size=4, unique=True))
        sums = draw(st.lists(_columns, min_size=0 if group_by else 1, max_size=16, unique=True))
        group = st.tuples(*(st.text(max_size=8) for _ in group_by))
        groups = draw(st.lists(group, min_size=1, max_size=6, unique=True)) if group_by else []
        return JobSpec(
            providers=draw(_parts(nodes)),
            group_by=tuple(group_by),
            sums=tuple(sums),
            groups=tuple(groups),
            epsilon=draw(st.none() | _epsilons),
            requester_key=draw(st.binary(min_size=1, max_size=64)),
            **common,
        )
    node = draw(_names.filter(lambda n: n != requester))
    keys = tuple(draw(st.lists(_columns, min_size=1, max_size=3, unique=True)))
    value = draw(_columns) if kind is JobKind.PSI_SUM else None
    return JobSpec(
        providers=draw(_parts([node], key_columns=keys, value_column=value)),
        reveal_to_provider=draw(st.booleans()) if kind is JobKind.PSI else False,
        epsilon=draw(st.none() | _epsilons) if kind is JobKind.PSI_SUM else None,
        requester_set_size=draw(st.integers(0, 2**32)),
        **common,
    )


@settings(max_examples=150, deadline=None)
@given(valid_specs())
def test_a_spec_survives_its_json_and_its_json_is_canonical(spec: JobSpec) -> None:
    text = spec.to_json()
    again = JobSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text
    assert JobSpec.from_json(text.encode()) == spec
    assert JobSpec.from_dict(spec.to_dict()) == spec
    assert json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) == text


@settings(max_examples=60, deadline=None)
@given(valid_specs())
def test_equal_specs_built_differently_give_equal_text(spec: JobSpec) -> None:
    # Lists instead of tuples, the epsilon as text, the parts rebuilt: the same spec. (Only an
    # aggregation turns its groups into tuples; a secure join has none to normalise.)
    groups = spec.groups if spec.kind.two_party else [list(group) for group in spec.groups]
    rebuilt = JobSpec(
        **{
            **{f.name: getattr(spec, f.name) for f in dataclasses.fields(JobSpec)},
            "kind": spec.kind.value,
            "providers": [
                ProviderPart(**{**part.to_dict(), "key_columns": list(part.key_columns)})
                for part in spec.providers
            ],
            "group_by": list(spec.group_by),
            "sums": list(spec.sums),
            "groups": groups,
            "epsilon": None if spec.epsilon is None else str(spec.epsilon),
        }
    )
    assert rebuilt == spec
    assert rebuilt.to_json() == spec.to_json()


def test_different_specs_give_different_text() -> None:
    assert _aggregate().to_json() != _aggregate(min_cohort=2).to_json()
    assert _aggregate().to_json() != _aggregate(groups=(("south",), ("north",))).to_json()


@pytest.mark.parametrize(
    "key", sorted(set(_aggregate().to_dict()) - {"area", "period", "protocol", "bucket_items"})
)
def test_a_spec_document_missing_a_key_is_refused(key: str) -> None:
    document = _aggregate().to_dict()
    del document[key]
    with pytest.raises(ConfigError, match=rf"missing \['{key}'\], unexpected \[\]"):
        JobSpec.from_dict(document)


def test_a_spec_document_with_an_extra_key_is_refused() -> None:
    document = {**_aggregate().to_dict(), "priority": 1}
    with pytest.raises(ConfigError, match=r"missing \[\], unexpected \['priority'\]"):
        JobSpec.from_dict(document)


@pytest.mark.parametrize("key", sorted(_part().to_dict()))
def test_a_provider_document_missing_a_key_is_refused(key: str) -> None:
    document = _aggregate().to_dict()
    del document["providers"][0][key]
    with pytest.raises(ConfigError, match=rf"missing \['{key}'\]"):
        JobSpec.from_dict(document)


def test_a_provider_document_with_an_extra_key_is_refused() -> None:
    document = _aggregate().to_dict()
    document["providers"][1]["port"] = 7443
    with pytest.raises(ConfigError, match=r"unexpected \['port'\]"):
        JobSpec.from_dict(document)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"requester_key": "zz"}, "requester_key must be hex"),
        ({"requester_key": None}, "requester_key must be hex"),
        ({"providers": {"alice": {}}}, "providers must be a list"),
        ({"providers": ["alice"]}, "expected an object, not str"),
        ({"group_by": "region"}, "group_by must be a list"),
        ({"sums": None}, "sums must be a list"),
        ({"groups": {"north": 1}}, "expected a list, not dict"),
        ({"groups": ["north"]}, "a group must be a list"),
        ({"epsilon": 0.5}, "epsilon is written as a decimal string"),
        ({"epsilon": "half"}, "epsilon 'half' is not a number"),
        ({"min_cohort": 1.0}, "min_cohort must be an integer"),
        ({"reveal_to_provider": 0}, "reveal_to_provider must be True or False"),
        ({"kind": "sum"}, "unknown job kind"),
        ({"kind": ["aggregate"]}, "unknown job kind"),
    ],
)
def test_a_spec_document_with_a_bad_value_is_refused(change: dict[str, Any], message: str) -> None:
    document = {**_aggregate().to_dict(), **change}
    with pytest.raises(ConfigError, match=message):
        JobSpec.from_dict(document)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", '"spec"', b"\xff\xfe{", "NaN"])
def test_text_that_is_not_a_spec_object_is_refused(text: str | bytes) -> None:
    with pytest.raises(ConfigError):
        JobSpec.from_json(text)


# -- state transitions ----------------------------------------------------------------------

ALLOWED = {
    (S.PENDING, S.AWAITING_APPROVAL),
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELLED),
    (S.AWAITING_APPROVAL, S.PENDING),
    (S.AWAITING_APPROVAL, S.FAILED),
    (S.AWAITING_APPROVAL, S.CANCELLED),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
}
PAIRS = [(current, target) for current in JobState for target in JobState]


def test_exactly_three_states_are_final() -> None:
    assert {state for state in JobState if state.is_final} == {S.SUCCEEDED, S.FAILED, S.CANCELLED}


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_the_allowed_transitions_pass(current: JobState, target: JobState) -> None:
    check_transition(JOB_ID, current, target)


@pytest.mark.parametrize(
    ("current", "target"), [pair for pair in PAIRS if pair not in ALLOWED and not pair[0].is_final]
)
def test_every_other_transition_from_a_live_state_is_refused(
    current: JobState, target: JobState
) -> None:
    with pytest.raises(StateTransitionError, match=f"is {current}; it cannot become {target}"):
        check_transition(JOB_ID, current, target)


@pytest.mark.parametrize(("current", "target"), [pair for pair in PAIRS if pair[0].is_final])
def test_a_final_state_never_changes(current: JobState, target: JobState) -> None:
    with pytest.raises(StateTransitionError, match=f"job {JOB_ID} is already {current}"):
        check_transition(JOB_ID, current, target)


def test_a_job_may_reach_every_final_state_but_never_skip_running_to_succeed() -> None:
    assert len(ALLOWED) + sum(1 for p in PAIRS if p not in ALLOWED) == 36
    for start in (S.PENDING, S.AWAITING_APPROVAL):
        with pytest.raises(StateTransitionError):
            check_transition(JOB_ID, start, S.SUCCEEDED)


# -- frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{"open": True}, {"psi_message": b"\x01"}, {"result": {}}, {"result": {"n": 3}}]
)
def test_a_frame_with_exactly_one_body_is_accepted(body: dict[str, Any]) -> None:
    frame = JobFrame(JOB_ID, **body)
    assert frame.job_id == JOB_ID


@pytest.mark.parametrize(
    "bodies",
    [
        {},
        {"open": False, "psi_message": b"", "result": None},
        {"open": True, "psi_message": b"\x01"},
        {"open": True, "result": {}},
        {"psi_message": b"\x01", "result": {"n": 1}},
        {"open": True, "psi_message": b"\x01", "result": {"n": 1}},
    ],
)
def test_a_frame_without_exactly_one_body_is_refused(bodies: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        JobFrame(JOB_ID, **bodies)


def test_a_frame_needs_a_job_id() -> None:
    with pytest.raises(ConfigError, match="not a job id"):
        JobFrame("job-1", open=True)


# -- serde ----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(valid_specs())
def test_a_start_request_carries_the_spec(spec: JobSpec) -> None:
    assert serde.decode_start_job(serde.encode_start_job(spec)) == spec


def test_get_cancel_and_contribute_requests_round_trip() -> None:
    assert serde.decode_get_job(serde.encode_get_job(JOB_ID)) == JOB_ID
    assert serde.decode_cancel_job(serde.encode_cancel_job(JOB_ID, "no longer needed")) == (
        JOB_ID,
        "no longer needed",
    )
    assert serde.decode_contribute_request(serde.encode_contribute_request(JOB_ID)) == JOB_ID
    deadline = dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for contribution in (Contribution(b"\x00\x01", 3), Contribution(b"\x02", 1, deadline)):
        encoded = serde.encode_contribution(JOB_ID, contribution)
        assert serde.decode_contribution(encoded) == (JOB_ID, contribution)


@pytest.mark.parametrize("state", list(JobState))
def test_a_job_status_round_trips_in_every_state(state: JobState) -> None:
    status = JobStatus(JOB_ID, state, "why", "encrypting", 3, 2**40)
    assert serde.decode_job_status(serde.encode_job_status(status)) == status


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.just({"open": True}),
        st.binary(min_size=1, max_size=64).map(lambda b: {"psi_message": b}),
        st.dictionaries(
            st.text(max_size=8),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3)
                ),
                max_leaves=8,
            ),
            max_size=4,
        ).map(lambda d: {"result": d}),
    )
)
def test_a_job_frame_round_trips(body: dict[str, Any]) -> None:
    frame = JobFrame(JOB_ID, **body)
    assert serde.decode_job_frame(serde.encode_job_frame(frame)) == frame


MALFORMED = [b"\xff", b"\x0a\x05ab", b"\x0a\x02\xff\xfe"]


@pytest.mark.parametrize("data", MALFORMED)
@pytest.mark.parametrize(
    "decoder",
    [
        serde.decode_start_job,
        serde.decode_get_job,
        serde.decode_cancel_job,
        serde.decode_job_status,
        serde.decode_job_frame,
        serde.decode_contribute_request,
        serde.decode_contribution,
    ],
)
def test_malformed_bytes_are_a_decode_error(decoder: Any, data: bytes) -> None:
    with pytest.raises(DecodeError, match="malformed"):
        decoder(data)


@pytest.mark.parametrize("number", [0, 7, 99])
def test_an_unknown_job_state_number_is_a_decode_error(number: int) -> None:
    data = serde.encode(job_pb2.JobReply(job_id=JOB_ID, state=number))
    with pytest.raises(DecodeError, match=f"unknown job state number {number}"):
        serde.decode_job_status(data)


@pytest.mark.parametrize("job_id", ["", "job-1", JOB_ID.upper(), JOB_ID + "0"])
def test_a_bad_job_id_is_a_decode_error_in_every_message(job_id: str) -> None:
    messages = [
        (serde.decode_get_job, job_pb2.GetJobRequest(job_id=job_id)),
        (serde.decode_cancel_job, job_pb2.CancelJobRequest(job_id=job_id, reason="r")),
        (serde.decode_job_status, job_pb2.JobReply(job_id=job_id, state=1)),
        (serde.decode_job_frame, job_pb2.JobFrame(job_id=job_id, open=True)),
        (serde.decode_contribute_request, job_pb2.ContributeRequest(job_id=job_id)),
        (serde.decode_contribution, job_pb2.Contribution(job_id=job_id, vector=b"v")),
    ]
    for decoder, message in messages:
        with pytest.raises(DecodeError, match="not a job id"):
            decoder(serde.encode(message))


@pytest.mark.parametrize("text", ["[]", "1", '"result"', "null", "true", "{", "{'a': 1}"])
def test_a_result_that_is_not_a_json_object_is_a_decode_error(text: str) -> None:
    data = serde.encode(job_pb2.JobFrame(job_id=JOB_ID, result_json=text))
    with pytest.raises(DecodeError, match="a job result is"):
        serde.decode_job_frame(data)


@pytest.mark.parametrize(
    "message",
    [
        job_pb2.JobFrame(job_id=JOB_ID),
        job_pb2.JobFrame(job_id=JOB_ID, open=False),
        job_pb2.JobFrame(job_id=JOB_ID, psi_message=b""),
    ],
)
def test_a_frame_without_a_body_is_a_decode_error(message: job_pb2.JobFrame) -> None:
    with pytest.raises(DecodeError, match="carries no body"):
        serde.decode_job_frame(serde.encode(message))


def test_a_start_request_without_a_valid_spec_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="the job spec is missing"):
        serde.decode_start_job(serde.encode(job_pb2.StartJobRequest()))
    bad = {**_aggregate().to_dict(), "min_cohort": 0}
    with pytest.raises(DecodeError, match="invalid job spec: min_cohort"):
        serde.decode_start_job(serde.encode(job_pb2.StartJobRequest(spec_json=json.dumps(bad))))
    with pytest.raises(DecodeError, match="invalid job spec"):
        serde.decode_start_job(serde.encode(job_pb2.StartJobRequest(spec_json="{")))
    huge = " " * (1024 * 1024) + _aggregate().to_json()
    with pytest.raises(DecodeError, match="over 1048576 characters"):
        serde.decode_start_job(serde.encode(job_pb2.StartJobRequest(spec_json=huge)))


def test_a_cancel_without_a_reason_and_a_contribution_without_a_vector_are_refused() -> None:
    with pytest.raises(DecodeError, match="reason is missing"):
        serde.decode_cancel_job(serde.encode(job_pb2.CancelJobRequest(job_id=JOB_ID)))
    with pytest.raises(DecodeError, match="carries no vector"):
        serde.decode_contribution(serde.encode(job_pb2.Contribution(job_id=JOB_ID, providers=1)))
    long_reason = serde.encode(job_pb2.JobReply(job_id=JOB_ID, state=5, reason="r" * 5000))
    with pytest.raises(DecodeError, match="reason is 5000 characters long"):
        serde.decode_job_status(long_reason)


# -- what a peer could send in a spec -------------------------------------------------------


@pytest.mark.parametrize("key_columns", [None, 7, "id", {"a": 1}])
def test_malformed_key_columns_from_a_peer_are_a_config_error(key_columns: object) -> None:
    document = _psi().to_dict()
    document["providers"][0]["key_columns"] = key_columns
    with pytest.raises(ConfigError):
        JobSpec.from_dict(document)
    with pytest.raises(DecodeError):
        serde.decode_start_job(
            serde.encode(serde.job_pb2.StartJobRequest(spec_json=json.dumps(document)))
        )


def test_deeply_nested_json_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(ConfigError):
        JobSpec.from_json("[" * 100_000)
    frame = serde.encode(serde.job_pb2.JobFrame(job_id=JOB_ID, result_json="[" * 100_000))
    with pytest.raises(DecodeError):
        serde.decode_job_frame(frame)


def test_equal_epsilons_give_equal_text() -> None:
    one, same = _psi(JobKind.PSI_SUM, epsilon="1.0"), _psi(JobKind.PSI_SUM, epsilon=Decimal(1))
    assert one == same
    assert one.to_json() == same.to_json()
    assert _psi(JobKind.PSI_SUM, epsilon="100").to_dict()["epsilon"] == "100"


@pytest.mark.parametrize("epsilon", [True, False])
def test_a_boolean_epsilon_is_refused(epsilon: bool) -> None:
    with pytest.raises(ConfigError, match="True or False"):
        _psi(JobKind.PSI_SUM, epsilon=epsilon)


def test_a_group_asked_for_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        _aggregate(groups=(("north",), ("north",)))


def test_a_secure_join_keeps_no_groups_whatever_empty_list_it_was_given() -> None:
    spec = _psi(groups=[])
    assert spec.groups == ()
    assert JobSpec.from_json(spec.to_json()) == spec
    assert hash(spec)


AREA = BoundingBox(120.0, 36.0, 121.5, 37.0)
PERIOD = (
    dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 2, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8))),
)


def test_an_area_and_a_period_round_trip_in_utc() -> None:
    spec = _aggregate(area=AREA, period=PERIOD)
    again = JobSpec.from_json(spec.to_json())
    assert again == spec
    assert again.area == AREA
    assert again.period == (PERIOD[0], dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    assert again.data_time == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def test_a_spec_recorded_before_areas_and_periods_still_reads() -> None:
    document = _aggregate().to_dict()
    del document["area"], document["period"], document["protocol"], document["bucket_items"]
    assert JobSpec.from_dict(document) == _aggregate()
    assert _aggregate().data_time is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"area": "120,36,121,37"}, "area must be a BoundingBox"),
        ({"period": (PERIOD[1], PERIOD[0])}, "starts before it ends"),
        ({"period": (PERIOD[0], PERIOD[0])}, "starts before it ends"),
        ({"period": (PERIOD[0],)}, "two timezone-aware datetimes"),
        ({"period": (dt.datetime(2026, 1, 1), PERIOD[1])}, "timezone-aware datetimes"),
        ({"period": ("2026-01-01", PERIOD[1])}, "timezone-aware datetimes"),
    ],
)
def test_a_bad_area_or_period_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _aggregate(**fields)


@pytest.mark.parametrize("fields", [{"area": AREA}, {"period": PERIOD}])
def test_a_secure_join_takes_no_area_or_period(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="aggregation only"):
        _psi(**fields)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("area", [120, 36, 121, 37], "west,south,east,north text"),
        ("area", "120,36,121", "area: not a bounding box"),
        ("period", "2026-01-01", "two ISO 8601 times"),
        ("period", ["2026-01-01T00:00:00+00:00", "later"], "period:"),
    ],
)
def test_a_bad_area_or_period_document_is_refused(key: str, value: object, message: str) -> None:
    document = {**_aggregate().to_dict(), key: value}
    with pytest.raises(ConfigError, match=message):
        JobSpec.from_dict(document)


def test_a_psi_job_may_run_the_oprf_join_and_says_so_in_its_spec() -> None:
    spec = _psi(protocol="oprf")
    assert JobSpec.from_json(spec.to_json()).protocol == "oprf"
    assert _psi().protocol == "ecdh"


def test_a_psi_job_in_buckets_says_so_in_its_spec() -> None:
    spec = _psi(protocol="oprf", bucket_items=2**20)
    assert JobSpec.from_json(spec.to_json()).bucket_items == 2**20
    assert _psi().bucket_items == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _psi(JobKind.PSI_SUM, protocol="oprf"), "psi-sum job runs on ECDH"),
        (lambda: _psi(JobKind.PSI_CARDINALITY, protocol="oprf"), "runs on ECDH"),
        (lambda: _psi(protocol="rr22"), "ecdh or oprf, not 'rr22'"),
        (lambda: _aggregate(protocol="oprf"), "no secure-join protocol"),
        (lambda: _aggregate(bucket_items=1024), "no secure-join protocol or buckets"),
        (lambda: _psi(JobKind.PSI_CARDINALITY, bucket_items=1024), "runs as one join"),
        (lambda: _psi(JobKind.PSI_SUM, bucket_items=1024), "runs as one join"),
        (lambda: _psi(bucket_items=1023), "0 or from 1024 to 16777216"),
        (lambda: _psi(bucket_items=2**24 + 1), "0 or from 1024 to 16777216"),
        (lambda: _psi(bucket_items=True), "a number of items"),
        (lambda: _psi(bucket_items="1024"), "a number of items"),
    ],
)
def test_the_oprf_join_only_where_it_keeps_the_kinds_promise(make, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()
