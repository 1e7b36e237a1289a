"""Policies in the JSON-LD forms other stacks write, brought into tds's own compact form.

A real JSON-LD processor (PyLD) expands each document with the contexts it names and compacts it
with the ODRL and tds contexts, so that prefixed names, full IRIs, ``@id`` objects, ``@vocab``
and inline contexts all mean what JSON-LD says they mean. It never touches the network: the ODRL
and tds contexts are bundled, and any other remote context is refused. What expansion would
silently drop (a property the contexts leave undefined) is an error, never skipped.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pyld import jsonld
from pyld.documentloader.frozen import FrozenDocumentLoader

from tds.errors import PolicySyntaxError
from tds.policy._profile import (
    CONTEXT_IRI,
    ODRL_CONTEXT_IRIS,
    ODRL_NS,
    bundled_terms,
    profile_context,
)
from tds.policy._values import shown

ODRL_CONTEXT = "http://www.w3.org/ns/odrl.jsonld"
# Eclipse EDC's namespace, in which its management API wraps a policy in a PolicyDefinition.
EDC_NS = "https://w3id.org/edc/v0.0.1/ns/"

# What every document is read under before its own @context: ODRL's terms, then tds's (which win
# on aggregate and spatial, as in every policy tds writes). A document that names the ODRL context
# alone so means ODRL's aggregate; one that names none means tds's.
DEFAULT_CONTEXT = [ODRL_CONTEXT, CONTEXT_IRI]
_ODRL_FILE, _TDS_FILE = "odrl-context.jsonld", "tds-profile.jsonld"


@cache
def _loader() -> FrozenDocumentLoader:
    odrl = {"@context": dict(bundled_terms(_ODRL_FILE))}
    documents = {iri: odrl for iri in ODRL_CONTEXT_IRIS}
    documents[CONTEXT_IRI] = profile_context()
    return FrozenDocumentLoader(documents)


@cache
def defined_terms() -> frozenset[str]:
    """The names the ODRL and tds contexts define, which tds may write bare."""
    return frozenset(bundled_terms(_ODRL_FILE)) | frozenset(bundled_terms(_TDS_FILE))


@cache
def _compact_context() -> dict[str, Any]:
    """The context of the form _odrl reads: every ODRL property as a plain term, so that each
    keeps its name whatever the shape of its value (a term coerced to @id or @vocab is chosen
    only for a bare IRI, and a refined action or a collection would come out as odrl:action or
    odrl:assignee), and @type written as such rather than as ODRL's alias "type"."""
    terms: dict[str, Any] = {}
    for term, definition in bundled_terms(_ODRL_FILE).items():
        if term == "type":
            continue
        plain = isinstance(definition, dict) and term != "uid"
        terms[term] = definition["@id"] if plain else definition
    return {"@context": [terms, dict(bundled_terms(_TDS_FILE))]}


def compact_policy(document: dict[str, Any] | list[Any]) -> dict[str, Any]:
    """``document`` in tds's compact form, without its ``@context``."""
    expanded = _expand(document)
    options = {"documentLoader": _loader(), "compactArrays": True, "base": None}
    try:
        if len(expanded) == 1:
            node = _unwrap_edc_definition(expanded[0])
            compacted: dict[str, Any] = jsonld.compact(node, _compact_context(), options)
        else:
            compacted = _framed_policy(expanded, options)
    except _PROCESSOR_ERRORS as error:
        raise _refusal(error) from None
    compacted.pop("@context", None)
    return compacted


_POLICY_CLASSES = [f"{ODRL_NS}{name}" for name in ("Set", "Offer", "Agreement", "Policy")]


def _framed_policy(nodes: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """The one policy of a flattened graph (as RDF tools write it: every rule, constraint and
    duty a node of its own, referenced by IRI), with those nodes embedded where referenced."""
    frame = {**_compact_context(), "@type": _POLICY_CLASSES}
    framed: dict[str, Any] = jsonld.frame(nodes, frame, {**options, "omitGraph": True})
    found = len(framed.get("@graph", [framed])) if set(framed) - {"@context"} else 0
    if found != 1:
        raise PolicySyntaxError(
            f"a policy document holds exactly one policy (a Set, Offer or Agreement), this one "
            f"holds {found}"
        )
    return framed


class UndefinedProperty(Exception):
    """A property no context defines, which JSON-LD expansion would drop (``term`` is the key as
    written, or None for one the document maps to null)."""

    def __init__(self, term: str | None) -> None:
        super().__init__(term)
        self.term = term


# PyLD reports malformed input with its own error, and some input it trips over with these.
_PROCESSOR_ERRORS = (
    jsonld.JsonLdError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
)


def _expand(document: dict[str, Any] | list[Any]) -> list[dict[str, Any]]:
    def refuse_dropped(term: str | None) -> None:
        raise UndefinedProperty(term)

    options = {
        "documentLoader": _loader(),
        "expandContext": {"@context": DEFAULT_CONTEXT},
        # Relative IRIs stay relative, not resolved against a made-up base.
        "base": None,
    }
    try:
        expanded: list[dict[str, Any]] = jsonld.expand(
            document, options, on_property_dropped=refuse_dropped
        )
    except _PROCESSOR_ERRORS as error:
        raise _refusal(error) from None
    return expanded


def _refusal(error: Exception) -> PolicySyntaxError:
    """The PolicySyntaxError for what PyLD refused, with its innermost reason."""
    if not isinstance(error, jsonld.JsonLdError):
        return PolicySyntaxError(f"not valid JSON-LD: {error or type(error).__name__}")
    innermost = error
    while True:
        details = innermost.details if isinstance(innermost.details, dict) else {}
        inner = innermost.__cause__ or details.get("cause")
        if not isinstance(inner, jsonld.JsonLdError):
            break
        innermost = inner
    if innermost.code in ("loading document failed", "loading remote context failed"):
        return PolicySyntaxError(
            f"the context {shown(details.get('url'))} is not one tds bundles (the ODRL context "
            f"and {CONTEXT_IRI}), and tds never fetches one; write it inline",
            path="@context",
        )
    message = innermost.args[0] if innermost.args else "invalid"
    return PolicySyntaxError(f"not valid JSON-LD: {innermost.code or innermost.type}: {message}")


def _unwrap_edc_definition(node: dict[str, Any]) -> dict[str, Any]:
    """The policy inside an EDC PolicyDefinition, identified by the definition when it has no
    uid of its own; any other node as it is."""
    if node.get("@type") != [f"{EDC_NS}PolicyDefinition"]:
        return node
    extra = set(node) - {"@id", "@type", f"{EDC_NS}policy", f"{EDC_NS}createdAt"}
    if extra:
        raise PolicySyntaxError(
            f"unknown property {shown(sorted(extra)[0])} of an EDC PolicyDefinition"
        )
    policies = node.get(f"{EDC_NS}policy", [])
    if len(policies) != 1 or not isinstance(policies[0], dict):
        raise PolicySyntaxError("an EDC PolicyDefinition holds exactly one policy")
    policy = dict(policies[0])
    if "@id" not in policy and "http://www.w3.org/ns/odrl/2/uid" not in policy and "@id" in node:
        policy["@id"] = node["@id"]
    return policy
