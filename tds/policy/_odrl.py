"""ODRL JSON-LD in and out.

tds reads every JSON-LD form of a policy: a JSON-LD processor (``_jsonld``) first brings it
into one compact form (terms as ``{"@id": "odrl:..."}``, classes as bare names, typed or plain
literals, a single value or an array), which this module reads strictly, and it writes one
canonical compact form. Anything it does not understand is an error naming its path, never
skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

from tds.errors import PolicySyntaxError
from tds.policy._jsonld import DEFAULT_CONTEXT, UndefinedProperty, compact_policy, defined_terms
from tds.policy._model import (
    MAX_NESTING,
    AnyConstraint,
    Collection,
    Constraint,
    Duty,
    LogicalConstraint,
    Permission,
    Policy,
    Prohibition,
    check_operator,
    takes_set,
)
from tds.policy._profile import (
    DATATYPES,
    ODRL_NS,
    OPERANDS,
    PREFIXES,
    PROFILE_IRI,
    TDS_NS,
    Action,
    Conflict,
    DutyAction,
    LeftOperand,
    LogicalOperator,
    Operator,
    PolicyType,
    ValueKind,
    compact_iri,
    resolve_term,
)
from tds.policy._values import (
    BoundingBox,
    Day,
    Duration,
    Rate,
    format_datetime,
    format_decimal,
    is_text,
    parse_datetime,
    shown,
    to_decimal,
)

# ODRL features outside the tds profile: named so the error says "not supported", not "unknown".
_UNSUPPORTED = {
    "obligation": "policy-level obligations",
    "inheritFrom": "policy inheritance",
    "remedy": "remedies",
    "andSequence": "andSequence",
    "unit": "units",
    "dataType": "dataType",
    "rightOperandReference": "right operand references",
    "status": "constraint status",
    "output": "action outputs",
    "attributedParty": "attributed parties",
    "trackingParty": "tracking parties",
    "informedParty": "informed parties",
    "compensatedParty": "compensated parties",
    "consentingParty": "consenting parties",
}


# Duties other ODRL stacks use that tds cannot check: refused, with why and what to write.
_REFUSED_DUTIES = {
    "attribute": "attribution is owed by whoever publishes a result, which tds cannot see",
    "acceptTracking": "every use is recorded in the provider's audit log anyway; write the "
    "tds:log duty to say so",
    "inform": "write the tds:notify duty: the provider's log records a notice of each use",
    "nextPolicy": "tds enforces one policy per agreement and passes none on",
    "reviewPolicy": "tds enforces one policy per agreement and passes none on",
    "watermark": "it concerns copies of the asset, and tds never hands the asset out",
    "ensureExclusivity": "it concerns copies of the asset, and tds never hands the asset out",
    "install": "it concerns copies of the asset, and tds never hands the asset out",
    "uninstall": "it concerns copies of the asset, and tds never hands the asset out",
    "include": "it concerns copies of the asset, and tds never hands the asset out",
}


def policy_from_odrl(document: dict[str, Any] | list[Any] | str | bytes) -> Policy:
    if isinstance(document, bytes):
        try:
            # JSON exchanged between systems is UTF-8 (RFC 8259); json.loads would also guess
            # UTF-16 or UTF-32 and let encoded surrogates through.
            document = document.decode("utf-8")
        except UnicodeDecodeError as error:
            raise PolicySyntaxError(f"JSON text must be UTF-8: {error}") from None
    if isinstance(document, str):
        try:
            document = json.loads(
                document, object_pairs_hook=_json_object, parse_constant=_refuse_constant
            )
        except PolicySyntaxError:
            raise
        except (ValueError, RecursionError) as error:
            raise PolicySyntaxError(f"not valid JSON: {error}") from None
    if not isinstance(document, dict | list):
        raise PolicySyntaxError(
            f"a policy is a JSON object (or a JSON-LD array of nodes), got "
            f"{type(document).__name__}"
        )
    _check_document(document)
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise PolicySyntaxError(f"not JSON: {error}") from None
    return _read(text)


@lru_cache(maxsize=1024)
def _read(text: str) -> Policy:
    """The policy in a checked JSON document. Cached: JSON-LD processing takes milliseconds,
    stores read the same policies again and again, and a Policy is an immutable value."""
    document = json.loads(text)
    try:
        compacted = compact_policy(document)
    except UndefinedProperty as error:
        named = "a property mapped to null" if error.term is None else shown(error.term)
        raise PolicySyntaxError(
            f"unknown property {named}: no @context defines it, so JSON-LD would drop it",
            path=_key_path(document, error.term),
        ) from None
    return _policy(compacted)


def _key_path(document: dict[str, Any] | list[Any], key: str | None) -> str:
    """Where ``key`` first occurs in the document, in document order ("" if nowhere)."""
    pending: list[tuple[object, str]] = [(document, "")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, list):
            pending.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node))))
        elif isinstance(node, dict):
            if key in node:
                return _join(path, key)
            pending.extend((value, _join(path, name)) for name, value in reversed(node.items()))
    return ""


class _RepeatedKey(dict[str, Any]):
    """A JSON object in which ``key`` appeared more than once (json.loads keeps the last)."""

    key: str


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    node = dict(pairs)
    if len(node) == len(pairs):
        return node
    # Reported by _check_document, which knows where the object is.
    marked = _RepeatedKey(node)
    counts = Counter(key for key, _ in pairs)
    marked.key = next(key for key, count in counts.items() if count > 1)
    return marked


def _refuse_constant(name: str) -> None:
    raise PolicySyntaxError(f"{name} is not JSON; write numbers as finite literals")


# Deep enough for logical constraints nested to MAX_NESTING in any of their forms, shallow enough
# for the JSON-LD processor's recursion.
MAX_DOCUMENT_DEPTH = 8 + 3 * MAX_NESTING

_NOT_TEXT = (
    "contains a lone surrogate (such as \\ud800), which is not Unicode text and cannot be "
    "written as UTF-8; JSON text must hold whole characters"
)


def _check_document(document: dict[str, Any] | list[Any]) -> None:
    """Refuse what the parser could read one way while another reader reads it another way.

    Walks the whole document, including values the parser never reads, without recursion (a
    dict built in Python may nest deeper than the stack, or contain itself).
    """
    pending: list[tuple[object, str, int]] = [(document, "", 0)]
    visited: set[int] = set()
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, str) and not is_text(node):
            raise PolicySyntaxError(_NOT_TEXT, path=path)
        if not isinstance(node, dict | list) or id(node) in visited:
            continue
        if depth > MAX_DOCUMENT_DEPTH:
            raise PolicySyntaxError(
                f"objects and arrays nest more than {MAX_DOCUMENT_DEPTH} deep", path=path
            )
        visited.add(id(node))
        if isinstance(node, list):
            pending.extend(
                (item, f"{path}[{i}]", depth + 1) for i, item in reversed(list(enumerate(node)))
            )
            continue
        if isinstance(node, _RepeatedKey):
            raise PolicySyntaxError(
                f"key {shown(node.key)} appears more than once in one object; a JSON reader keeps "
                "only one of its values, so write it once",
                path=_join(path, node.key),
            )
        children = []
        for key, value in node.items():
            if not isinstance(key, str):
                raise PolicySyntaxError(f"keys must be strings, got {shown(key)}", path=path)
            if not is_text(key):
                # Escaped, so that the error itself can be logged as UTF-8.
                escaped = key.encode("utf-8", "backslashreplace").decode("utf-8")
                raise PolicySyntaxError(_NOT_TEXT, path=_join(path, escaped))
            children.append((value, _join(path, key), depth + 1))
        pending.extend(reversed(children))


def policy_to_odrl(policy: Policy) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": list(DEFAULT_CONTEXT),
        "@type": policy.type.value,
        "uid": policy.uid,
        "profile": PROFILE_IRI,
        # Always written, so that other ODRL processors resolve conflicts as tds does.
        "conflict": policy.conflict.value,
    }
    _put_parties(document, policy, policy)
    if policy.permissions:
        document["permission"] = [_rule_out(rule, policy) for rule in policy.permissions]
    if policy.prohibitions:
        document["prohibition"] = [_rule_out(rule, policy) for rule in policy.prohibitions]
    return document


# -- reading ------------------------------------------------------------------------------------


@contextmanager
def _at(path: str) -> Iterator[None]:
    """Re-raise PolicySyntaxErrors from the model with their path inside the document."""
    try:
        yield
    except PolicySyntaxError as error:
        message = str(error)
        if error.path and message.startswith(f"{error.path}: "):
            message = message[len(error.path) + 2 :]
        raise PolicySyntaxError(message, path=_join(path, error.path)) from None


def _join(path: str, child: str) -> str:
    if not child:
        return path
    if not path:
        return child
    return f"{path}{child}" if child.startswith("[") else f"{path}.{child}"


def _names_class(spelling: object, name: str) -> bool:
    """Whether ``spelling`` names the ODRL class ``name`` (bare, ``odrl:`` prefixed or an IRI)."""
    return isinstance(spelling, str) and spelling in (name, f"odrl:{name}", ODRL_NS + name)


def _check_type(node: dict[str, Any], expected: str, path: str) -> None:
    """An optional ``@type`` must name what the node's position says it is."""
    if "@type" in node and not _names_class(node["@type"], expected):
        raise PolicySyntaxError(
            f"expected @type {expected}, got {shown(node['@type'])}", path=_join(path, "@type")
        )


# Dublin Core terms that describe a policy or rule and decide nothing: read, and not kept. Others
# (dct:valid, dct:accessRights, ...) could restrict a use, so they stay unknown properties.
_DESCRIPTIVE = frozenset(
    f"dct:{name}"
    for name in ("title", "description", "source", "creator", "created", "issued", "modified")
)


def _check_keys(node: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in node:
        if key in allowed or key in _DESCRIPTIVE:
            continue
        if key in _UNSUPPORTED:
            message = f"{_UNSUPPORTED[key]} are not supported by the tds profile"
        else:
            message = f"unknown property {shown(key)}"
        raise PolicySyntaxError(message, path=_join(path, key))


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicySyntaxError(f"expected a JSON object, got {shown(value)}", path=path)
    return value


def _many(value: object) -> list[Any]:
    """A JSON-LD property value as a list: one value and a one-element array mean the same."""
    if isinstance(value, dict) and set(value) == {"@list"}:
        value = value["@list"]
    return value if isinstance(value, list) else [value]


def _one(value: object, path: str) -> Any:
    values = _many(value)
    if len(values) != 1:
        raise PolicySyntaxError(f"expected exactly one value, got {len(values)}", path=path)
    return values[0]


def _uid(node: dict[str, Any], path: str) -> str | None:
    uid, node_id = node.get("uid"), node.get("@id")
    if uid is not None and node_id is not None and uid != node_id:
        raise PolicySyntaxError("uid and @id differ", path=_join(path, "uid"))
    value = uid if uid is not None else node_id
    if value is not None and (not isinstance(value, str) or not value):
        raise PolicySyntaxError(f"expected an IRI, got {shown(value)}", path=_join(path, "uid"))
    return value


def _iri(value: object, path: str) -> str:
    """An IRI given as a string or as a node reference ``{"@id": ...}`` / ``{"uid": ...}``."""
    value = _one(value, path)
    if isinstance(value, dict):
        keys = set(value)
        if len(keys) != 1 or not keys <= {"@id", "uid"}:
            raise PolicySyntaxError('expected an IRI or {"@id": IRI}', path=path)
        value = value[keys.pop()]
    if not isinstance(value, str) or not value:
        raise PolicySyntaxError(f"expected an IRI, got {shown(value)}", path=path)
    return value


# What each party or asset position holds, with an article for the messages.
_NODE_CLASSES = {
    "target": ("Asset", "an asset"),
    "assigner": ("Party", "a party"),
    "assignee": ("Party", "a party"),
}


def _party_or_asset(node: dict[str, Any], name: str, path: str) -> str:
    """The IRI of the party or asset ``node[name]``, which may say it is a plain Party/Asset,
    or a PartyCollection/AssetCollection (:func:`_collection_at` reads what that adds).

    Any other ``@type`` is refused: dropping it could read a group as a single member, so
    that a prohibition of the group would reach none of its members.
    """
    collection = _collection_at(node, name, path)
    if collection is not None:
        return collection.uid
    path = _join(path, name)
    value = _one(node[name], path)
    if isinstance(value, dict) and "@type" in value:
        expected, described = _NODE_CLASSES[name]
        spelling, type_path = value["@type"], _join(path, "@type")
        if not _names_class(spelling, expected):
            raise PolicySyntaxError(
                f"tds models {described} as one IRI (@type {expected}) or a collection "
                f"(@type {expected}Collection), not {shown(spelling)}",
                type_path,
            )
        value = {key: item for key, item in value.items() if key != "@type"}
    return _iri(value, path)


def _collection_node(value: dict[str, Any], name: str, path: str) -> Collection:
    """The collection a ``{"@type": "PartyCollection" | "AssetCollection", ...}`` node names."""
    if name == "assigner":
        raise PolicySyntaxError(
            "an assigner is one party, not a PartyCollection", _join(path, "@type")
        )
    _check_keys(value, {"@type", "uid", "@id", "source", "refinement"}, path)
    if "refinement" in value:
        raise PolicySyntaxError(
            "refinements of a collection are not supported: who is a member is a fact the "
            "enforcing side supplies, not a constraint in the policy",
            _join(path, "refinement"),
        )
    identity = {key: item for key, item in value.items() if key in ("uid", "@id")}
    uid = _iri(identity, path)
    source = _iri(value["source"], _join(path, "source")) if "source" in value else None
    with _at(path):
        return Collection(uid, "asset" if name == "target" else "party", source)


def _collection_at(node: dict[str, Any], name: str, path: str) -> Collection | None:
    """The collection ``node[name]`` declares, or None for a single party or asset."""
    value = _one(node[name], _join(path, name))
    if not isinstance(value, dict) or "@type" not in value:
        return None
    expected = _NODE_CLASSES[name][0]
    if not _names_class(value["@type"], f"{expected}Collection"):
        return None
    return _collection_node(value, name, _join(path, name))


def _collections(node: dict[str, Any]) -> tuple[Collection, ...]:
    """Every collection the policy declares, at policy level and in its rules."""
    owners = [("", node)] + [
        (f"{kind}[{index}]", item)
        for kind in ("permission", "prohibition")
        for index, item in enumerate(_many(node.get(kind, [])))
    ]
    found: dict[str, tuple[Collection, str]] = {}
    for path, owner in owners:
        for name in ("target", "assignee"):
            collection = _collection_at(owner, name, path) if name in owner else None
            if collection is None:
                continue
            earlier = found.setdefault(collection.uid, (collection, _join(path, name)))
            if earlier[0] != collection:
                raise PolicySyntaxError(
                    f"{collection.uid} is declared differently at {earlier[1]}", _join(path, name)
                )
    return tuple(collection for collection, _ in found.values())


def _spelling(value: object) -> object:
    """A term's name, whether written bare or as ``{"@id": name}``."""
    return value.get("@id") if isinstance(value, dict) and set(value) == {"@id"} else value


def _term_at(kind: type[Any], value: object, path: str, label: str) -> Any:
    spelling = _spelling(value)
    member = resolve_term(kind, spelling) if isinstance(spelling, str) else None
    if member is None:
        hint = _NAMESAKES.get(spelling, "") if isinstance(spelling, str) else ""
        raise PolicySyntaxError(
            f"unknown {label} {shown(spelling)} in the tds profile{hint}", path=path
        )
    return member


# ODRL's spatial, which a document naming only the ODRL context means by "spatial".
_NAMESAKES = dict.fromkeys(
    ("odrl:spatial",),
    "; ODRL's spatial names a place, which tds cannot check: write tds:spatial, a bounding box "
    "(or list the tds context after ODRL's)",
)


def _check_profile(profiles: object) -> None:
    # ODRL: a processor that does not understand a policy's profile must not process it.
    for index, profile in enumerate(_many(profiles)):
        path = f"profile[{index}]" if isinstance(profiles, list) else "profile"
        iri = _iri(profile, path)
        if iri != PROFILE_IRI:
            raise PolicySyntaxError(
                f"tds reads only policies of the tds profile ({PROFILE_IRI}) or of no profile; "
                f"it does not implement {shown(iri)}",
                path,
            )


def _policy(node: dict[str, Any]) -> Policy:
    if node.get("obligation") == []:
        # Eclipse EDC writes an empty list of obligations into every policy.
        node = {key: value for key, value in node.items() if key != "obligation"}
    _check_keys(
        node,
        {
            "@type",
            "uid",
            "@id",
            "profile",
            "conflict",
            "permission",
            "prohibition",
            "target",
            "assigner",
            "assignee",
        },
        "",
    )
    uid = _uid(node, "")
    if uid is None:
        raise PolicySyntaxError("a policy needs a uid", path="uid")
    if "@type" not in node:
        raise PolicySyntaxError("a policy needs an @type (Set, Offer or Agreement)", "@type")
    type_name = _one(node["@type"], "@type")
    # ODRL: Set is the default subclass, so a plain Policy is a Set.
    if _names_class(type_name, "Policy"):
        type_name = PolicyType.SET.value
    policy_type = _term_at(PolicyType, type_name, "@type", "policy type")
    _check_profile(node.get("profile", []))
    # ODRL 2.2: a policy that names no strategy is void wherever its rules conflict.
    conflict = Conflict.INVALID
    if "conflict" in node:
        spelling = _one(node["conflict"], "conflict")
        conflict = _term_at(Conflict, spelling, "conflict", "conflict strategy")
    permissions = [
        _permission(_object(item, f"permission[{index}]"), f"permission[{index}]")
        for index, item in enumerate(_many(node.get("permission", [])))
    ]
    prohibitions = [
        _prohibition(_object(item, f"prohibition[{index}]"), f"prohibition[{index}]")
        for index, item in enumerate(_many(node.get("prohibition", [])))
    ]
    parties = {
        name: _party_or_asset(node, name, "")
        for name in ("target", "assigner", "assignee")
        if name in node
    }
    with _at(""):
        return Policy(
            uid=uid,
            type=policy_type,
            conflict=conflict,
            collections=_collections(node),
            permissions=tuple(permissions),
            prohibitions=tuple(prohibitions),
            **parties,
        )


_RULE_KEYS = {"uid", "@id", "@type", "target", "assigner", "assignee", "action", "constraint"}


def _rule_fields(node: dict[str, Any], path: str) -> dict[str, Any]:
    if set(node) == {"@id"}:
        raise PolicySyntaxError(
            f"rules referenced by IRI ({shown(node['@id'])}) are not supported; write the rule "
            "inline",
            path=path,
        )
    if "action" not in node:
        raise PolicySyntaxError("a rule needs an action", path=_join(path, "action"))
    action, refinements = _action(node["action"], _join(path, "action"), Action)
    return {
        "action": action,
        "refinements": refinements,
        "constraints": _constraints(node.get("constraint", []), _join(path, "constraint")),
        "uid": _uid(node, path),
        **{
            name: _party_or_asset(node, name, path)
            for name in ("target", "assigner", "assignee")
            if name in node
        },
    }


def _permission(node: dict[str, Any], path: str) -> Permission:
    _check_keys(node, _RULE_KEYS | {"duty"}, path)
    _check_type(node, "Permission", path)
    fields = _rule_fields(node, path)
    duties = tuple(
        _duty(_object(item, f"{path}.duty[{index}]"), f"{path}.duty[{index}]")
        for index, item in enumerate(_many(node.get("duty", [])))
    )
    with _at(path):
        return Permission(duties=duties, **fields)


def _prohibition(node: dict[str, Any], path: str) -> Prohibition:
    _check_keys(node, _RULE_KEYS, path)
    _check_type(node, "Prohibition", path)
    fields = _rule_fields(node, path)
    with _at(path):
        return Prohibition(**fields)


def _duty(node: dict[str, Any], path: str) -> Duty:
    _check_keys(node, {"uid", "@id", "@type", "action", "constraint", "consequence"}, path)
    _check_type(node, "Duty", path)
    if "action" not in node:
        raise PolicySyntaxError("a duty needs an action", path=_join(path, "action"))
    action, refinements = _action(node["action"], _join(path, "action"), DutyAction)
    consequences = tuple(
        _duty(_object(item, f"{path}.consequence[{index}]"), f"{path}.consequence[{index}]")
        for index, item in enumerate(_many(node.get("consequence", [])))
    )
    constraints = _constraints(node.get("constraint", []), _join(path, "constraint"))
    uid = _uid(node, path)
    with _at(path):
        return Duty(
            action=action,
            refinements=refinements,
            constraints=constraints,
            consequences=consequences,
            uid=uid,
        )


def _action(value: object, path: str, kind: type[Any]) -> tuple[Any, tuple[AnyConstraint, ...]]:
    value = _one(value, path)
    if isinstance(value, dict) and "rdf:value" in value:
        _check_keys(value, {"rdf:value", "refinement", "@type"}, path)
        _check_type(value, "Action", path)
        action = _action_term(kind, _one(value["rdf:value"], path), _join(path, "rdf:value"))
        refinements = _constraints(value.get("refinement", []), _join(path, "refinement"))
        return action, refinements
    return _action_term(kind, value, path), ()


def _action_term(kind: type[Any], value: object, path: str) -> Any:
    spelling = _spelling(value)
    vocabulary = resolve_term(Action, spelling) if isinstance(spelling, str) else None
    if kind is DutyAction and vocabulary is not None and vocabulary.value in _REFUSED_DUTIES:
        raise PolicySyntaxError(
            f"the duty {vocabulary.value} is not supported: {_REFUSED_DUTIES[vocabulary.value]}",
            path=path,
        )
    return _term_at(kind, value, path, "action")


def _constraints(value: object, path: str, depth: int = 0) -> tuple[AnyConstraint, ...]:
    items = _many(value)
    return tuple(
        _constraint(_object(item, f"{path}[{index}]"), f"{path}[{index}]", depth)
        for index, item in enumerate(items)
    )


def _constraint(node: dict[str, Any], path: str, depth: int) -> AnyConstraint:
    logical = [key for key in node if resolve_term(LogicalOperator, key) is not None]
    if logical:
        # Checked on the way down: the model's own check comes only after the recursion.
        if depth >= MAX_NESTING:
            raise PolicySyntaxError(f"logical constraints nest more than {MAX_NESTING} deep", path)
        return _logical_constraint(node, logical, path, depth)
    _check_keys(node, {"uid", "@id", "@type", "leftOperand", "operator", "rightOperand"}, path)
    _check_type(node, "Constraint", path)
    if set(node) <= {"@id", "uid"}:
        raise PolicySyntaxError("referenced constraints are not supported; write them inline", path)
    for key in ("leftOperand", "operator", "rightOperand"):
        if key not in node:
            raise PolicySyntaxError(f"a constraint needs a {key}", path=_join(path, key))
    operand = _term_at(
        LeftOperand, _one(node["leftOperand"], path), _join(path, "leftOperand"), "left operand"
    )
    operator = _term_at(Operator, _one(node["operator"], path), _join(path, "operator"), "operator")
    with _at(path):
        check_operator(operand, operator)
    right = _right_operand(node["rightOperand"], operand, operator, _join(path, "rightOperand"))
    with _at(path):
        return Constraint(operand, operator, right, uid=_uid(node, path))


def _logical_constraint(
    node: dict[str, Any], logical: list[str], path: str, depth: int
) -> LogicalConstraint:
    if len(logical) != 1:
        raise PolicySyntaxError("a logical constraint has exactly one of and, or, xone", path)
    key = logical[0]
    _check_keys(node, {key, "uid", "@id", "@type"}, path)
    _check_type(node, "LogicalConstraint", path)
    operator = resolve_term(LogicalOperator, key)
    operands = _constraints(node[key], _join(path, key), depth + 1)
    with _at(path):
        return LogicalConstraint(operator, operands, uid=_uid(node, path))


def _right_operand(value: object, operand: LeftOperand, operator: Operator, path: str) -> Any:
    kind = OPERANDS[operand].kind
    values = _many(value)
    if not values:
        raise PolicySyntaxError("rightOperand has no value", path=path)
    if takes_set(operand, operator):
        if len(values) == 1:
            return [_literal(values[0], kind, path)]
        return [_literal(item, kind, f"{path}[{index}]") for index, item in enumerate(values)]
    if len(values) != 1:
        raise PolicySyntaxError(f"{operator} takes one value, got {len(values)}", path=path)
    return _literal(values[0], kind, path)


_ACCEPTED_TYPES: dict[ValueKind, frozenset[str | None]] = {
    ValueKind.IDENTIFIER: frozenset({None, "@id", "string", "anyURI"}),
    ValueKind.HIERARCHY: frozenset({None, "@id", "string", "anyURI"}),
    ValueKind.STRING_SET: frozenset({None, "string"}),
    ValueKind.ACTION: frozenset({None, "@id"}),
    ValueKind.INTEGER: frozenset({None, "integer", "nonNegativeInteger"}),
    ValueKind.DECIMAL: frozenset({None, "decimal", "double", "integer"}),
    ValueKind.DATETIME: frozenset({None, "dateTime", "date"}),
    ValueKind.DURATION: frozenset({None, "duration", "dayTimeDuration", "yearMonthDuration"}),
    ValueKind.RATE: frozenset({None, "Rate"}),
    ValueKind.BOUNDING_BOX: frozenset({None, "BoundingBox"}),
}


def _datatype(spelling: object, path: str) -> str:
    for local, namespace in DATATYPES.items():
        prefix = next(p for p, ns in PREFIXES.items() if ns == namespace)
        # The tds context defines its datatypes as terms, so JSON-LD compacts them to bare names.
        bare = local if namespace == TDS_NS else None
        if spelling in (f"{prefix}:{local}", f"{namespace}{local}", bare):
            return local
    raise PolicySyntaxError(f"unknown datatype {shown(spelling)}", path=_join(path, "@type"))


def _literal(raw: object, kind: ValueKind, path: str) -> Any:
    datatype: str | None = None
    if isinstance(raw, dict):
        if set(raw) == {"@id"}:
            raw, datatype = raw["@id"], "@id"
        elif "@value" in raw and set(raw) <= {"@value", "@type"}:
            if "@type" in raw:
                datatype = _datatype(raw["@type"], path)
            raw = raw["@value"]
        else:
            raise PolicySyntaxError(
                f'expected a literal, {{"@value": ...}} or {{"@id": ...}}, got {shown(raw)}', path
            )
    if datatype not in _ACCEPTED_TYPES[kind]:
        raise PolicySyntaxError(f"a {kind.value} value cannot have datatype {datatype}", path)
    with _at(path):
        return _typed_value(raw, kind, datatype)


def _typed_value(raw: object, kind: ValueKind, datatype: str | None) -> Any:
    if kind is ValueKind.ACTION:
        return _term_at(Action, raw, "", "action")
    if kind is ValueKind.INTEGER:
        if isinstance(raw, str) and datatype is not None and raw.isdigit():
            # isdigit() also admits digits such as "²" that int() rejects, and int() refuses
            # very long numbers.
            with suppress(ValueError):
                return int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise PolicySyntaxError(f"expected a non-negative integer, got {shown(raw)}")
        return raw
    if kind is ValueKind.DECIMAL:
        if isinstance(raw, str) and datatype is None:
            raise PolicySyntaxError(
                f"expected a number or an xsd:decimal literal, got {shown(raw)}"
            )
        if not isinstance(raw, int | float | str):
            raise PolicySyntaxError(f"expected a number, got {shown(raw)}")
        return to_decimal(raw, what="value")
    if not isinstance(raw, str):
        raise PolicySyntaxError(f"expected a string, got {shown(raw)}")
    if kind is ValueKind.DATETIME:
        if datatype == "date" or (datatype is None and "T" not in raw):
            return Day.parse(raw)
        return parse_datetime(raw)
    if kind is ValueKind.DURATION:
        return Duration.parse(raw)
    if kind is ValueKind.RATE:
        return Rate.parse(raw)
    if kind is ValueKind.BOUNDING_BOX:
        return BoundingBox.parse(raw)
    return raw


# -- writing ------------------------------------------------------------------------------------


def _put_parties(
    node: dict[str, Any], owner: Policy | Permission | Prohibition, policy: Policy
) -> None:
    for name in ("target", "assigner", "assignee"):
        value = getattr(owner, name)
        collection = policy.collection(value)
        if collection is not None:
            kind = "AssetCollection" if collection.kind == "asset" else "PartyCollection"
            node[name] = {"@type": kind, "uid": value}
            if collection.source is not None:
                node[name]["source"] = collection.source
        elif value is not None:
            node[name] = value


def _rule_out(rule: Permission | Prohibition, policy: Policy) -> dict[str, Any]:
    node: dict[str, Any] = {}
    if rule.uid is not None:
        node["uid"] = rule.uid
    _put_parties(node, rule, policy)
    node["action"] = _action_out(rule.action, rule.refinements)
    if rule.constraints:
        node["constraint"] = [_constraint_out(c) for c in rule.constraints]
    if isinstance(rule, Permission) and rule.duties:
        node["duty"] = [duty_to_odrl(duty) for duty in rule.duties]
    return node


def duty_to_odrl(duty: Duty) -> dict[str, Any]:
    node: dict[str, Any] = {}
    if duty.uid is not None:
        node["uid"] = duty.uid
    node["action"] = _action_out(duty.action, duty.refinements)
    if duty.constraints:
        node["constraint"] = [_constraint_out(c) for c in duty.constraints]
    if duty.consequences:
        node["consequence"] = [duty_to_odrl(consequence) for consequence in duty.consequences]
    return node


def _action_out(action: Action | DutyAction, refinements: tuple[AnyConstraint, ...]) -> Any:
    if not refinements:
        # A name the ODRL context leaves out (synchronize) is written with its prefix.
        return action.value if action.value in defined_terms() else compact_iri(action)
    return {
        "rdf:value": {"@id": compact_iri(action)},
        "refinement": [_constraint_out(c) for c in refinements],
    }


def _constraint_out(constraint: AnyConstraint) -> dict[str, Any]:
    node: dict[str, Any] = {}
    if constraint.uid is not None:
        node["uid"] = constraint.uid
    if isinstance(constraint, LogicalConstraint):
        node[constraint.operator.value] = {
            "@list": [_constraint_out(c) for c in constraint.constraints]
        }
        return node
    kind = OPERANDS[constraint.left_operand].kind
    value = constraint.right_operand
    node["leftOperand"] = constraint.left_operand.value
    node["operator"] = constraint.operator.value
    if isinstance(value, tuple):
        node["rightOperand"] = [_value_out(kind, item) for item in value]
    else:
        node["rightOperand"] = _value_out(kind, value)
    return node


_TYPED_OUT = {
    ValueKind.DURATION: "xsd:duration",
    ValueKind.RATE: "tds:Rate",
    ValueKind.BOUNDING_BOX: "tds:BoundingBox",
}


def _value_out(kind: ValueKind, value: Any) -> Any:
    if kind is ValueKind.DECIMAL:
        return {"@value": format_decimal(value), "@type": "xsd:decimal"}
    if kind is ValueKind.DATETIME:
        if isinstance(value, Day):
            return {"@value": str(value), "@type": "xsd:date"}
        return {"@value": format_datetime(value), "@type": "xsd:dateTime"}
    if kind in _TYPED_OUT:
        return {"@value": str(value), "@type": _TYPED_OUT[kind]}
    if kind is ValueKind.ACTION:
        return value.value
    return value
