"""Contract agreements, signed by the provider and countersigned by the consumer.

An :class:`Agreement` is what a negotiation ends with: the provider's offer turned into an
ODRL Agreement whose rules the provider assigns to the consumer, with the hash of the offer it
came from. Each party signs the agreement's canonical JSON (keys sorted, no insignificant
whitespace, UTF-8) with a detached signature of context ``odrl-agreement``; a
:class:`SignedAgreement` carries the agreement and both signatures. Its JSON document is::

    {
      "format": "tds-signed-agreement-v1",
      "agreement": {"id", "negotiation_id", "provider", "consumer", "dataset_id",
                    "policy": <ODRL JSON-LD>, "offer_hash", "agreed_at"},
      "provider_signature": <detached signature>,
      "consumer_signature": <detached signature> or null
    }

with ``agreed_at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Verification needs only the
document and the data space's CA certificate and revocation list, so it works offline.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from tds.connector._catalog import check_dataset_id, check_offer_policy, dataset_target
from tds.connector._pki import NodeIdentity
from tds.connector._signing import DetachedSignature, sign_detached, verify_detached
from tds.connector._trust import TrustStore, node_uri, validate_node_name
from tds.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    PolicyError,
)
from tds.policy import Policy, PolicyType

__all__ = [
    "AGREEMENT_CONTEXT",
    "AGREEMENT_FORMAT",
    "MAX_AGREEMENT_BYTES",
    "Agreement",
    "SignedAgreement",
    "agreement_from_offer",
    "agreement_id_for",
    "agreement_policy",
]

AGREEMENT_FORMAT = "tds-signed-agreement-v1"
AGREEMENT_CONTEXT = "odrl-agreement"
AGREEMENT_ID_PREFIX = "urn:tds:agreement:"
# An agreement is a policy and two certificates; anything near this size is not one.
MAX_AGREEMENT_BYTES = 1024 * 1024

_HASH = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_AGREEMENT_FIELDS = frozenset(
    {
        "id",
        "negotiation_id",
        "provider",
        "consumer",
        "dataset_id",
        "policy",
        "offer_hash",
        "agreed_at",
    }
)
_DOCUMENT_FIELDS = frozenset({"format", "agreement", "provider_signature", "consumer_signature"})


def check_negotiation_id(value: object) -> str:
    """``value`` if it is a negotiation id (a UUID in canonical form); ConfigError if not."""
    try:
        canonical = str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        canonical = None
    if canonical is None or canonical != value:
        raise ConfigError(
            f"{value!r} is not a negotiation id: use a UUID in canonical form "
            "(lowercase, with hyphens)"
        )
    return value


def agreement_id_for(negotiation_id: str) -> str:
    """The id of the agreement negotiation ``negotiation_id`` leads to."""
    return AGREEMENT_ID_PREFIX + check_negotiation_id(negotiation_id)


def agreement_policy(offer: Policy, *, agreement_id: str, provider: str, consumer: str) -> Policy:
    """The offer as an ODRL Agreement: the same rules, assigned by ``provider`` to ``consumer``.

    Both parties derive it the same way, so each can check that the agreement it is asked to
    sign is the offer that was on the table.
    """
    if not isinstance(offer, Policy):
        raise ConfigError(f"an agreement is made from a Policy, not {type(offer).__name__}")
    return Policy(
        uid=agreement_id,
        type=PolicyType.AGREEMENT,
        permissions=offer.permissions,
        prohibitions=offer.prohibitions,
        target=offer.target,
        assigner=node_uri(provider),
        assignee=node_uri(consumer),
        conflict=offer.conflict,
        collections=offer.collections,
    )


def _format_time(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _parse_time(text: object) -> dt.datetime:
    if not isinstance(text, str) or _TIME.fullmatch(text) is None:
        raise DecodeError(f"agreed_at must be UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ, not {text!r}")
    try:
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    except ValueError:
        raise DecodeError(f"agreed_at {text!r} is not a real date and time") from None


@dataclass(frozen=True)
class Agreement:
    """A contract between ``provider`` and ``consumer`` on one dataset of the provider.

    ``policy`` is an ODRL Agreement with uid ``id`` whose every rule targets the dataset, is
    assigned by the provider and assigned to the consumer; ``offer_hash`` is the content hash
    of the offer it was made from. Construction checks all of it (ConfigError).
    """

    id: str
    negotiation_id: str
    provider: str
    consumer: str
    dataset_id: str
    policy: Policy
    offer_hash: str
    agreed_at: dt.datetime

    def __post_init__(self) -> None:
        check_negotiation_id(self.negotiation_id)
        if self.id != agreement_id_for(self.negotiation_id):
            raise ConfigError(
                f"agreement id {self.id!r} must be {agreement_id_for(self.negotiation_id)!r}, "
                "named after its negotiation"
            )
        validate_node_name(self.provider)
        validate_node_name(self.consumer)
        if self.provider == self.consumer:
            raise ConfigError(f"node {self.provider!r} cannot make an agreement with itself")
        check_dataset_id(self.dataset_id)
        if not isinstance(self.offer_hash, str) or _HASH.fullmatch(self.offer_hash) is None:
            raise ConfigError(
                f"offer_hash must be 64 lowercase hex digits, not {self.offer_hash!r}"
            )
        if (
            not isinstance(self.agreed_at, dt.datetime)
            or self.agreed_at.tzinfo is None
            or self.agreed_at.utcoffset() is None
        ):
            raise ConfigError(
                f"agreed_at must be a timezone-aware datetime, not {self.agreed_at!r}"
            )
        object.__setattr__(self, "agreed_at", self.agreed_at.astimezone(dt.UTC))
        self._check_policy()

    def _check_policy(self) -> None:
        policy = self.policy
        if not isinstance(policy, Policy):
            raise ConfigError(f"an agreement's policy is a Policy, not {type(policy).__name__}")
        if policy.type is not PolicyType.AGREEMENT or policy.uid != self.id:
            raise ConfigError(
                f"an agreement's policy must be an Agreement with uid {self.id!r}, not a "
                f"{policy.type} with uid {policy.uid!r}"
            )
        expected = {
            "target": dataset_target(self.provider, self.dataset_id),
            "assigner": node_uri(self.provider),
            "assignee": node_uri(self.consumer),
        }
        for path, rule in policy.rules():
            actual = {
                "target": policy.target_of(rule),
                "assigner": policy.assigner_of(rule),
                "assignee": policy.assignee_of(rule),
            }
            for role, value in expected.items():
                # A rule for a party collection binds the consumer if the CA certifies it a
                # member, one on an asset collection the dataset if its provider put it there;
                # both are checked at each use, never taken on the agreement's word.
                collective = role != "assigner" and policy.collection(actual[role]) is not None
                if actual[role] != value and not collective:
                    raise ConfigError(
                        f"agreement {self.id}: {path} has {role} {actual[role]!r}, not {value!r}"
                    )

    def to_dict(self) -> dict[str, Any]:
        """The agreement as the JSON object both parties sign."""
        return {
            "id": self.id,
            "negotiation_id": self.negotiation_id,
            "provider": self.provider,
            "consumer": self.consumer,
            "dataset_id": self.dataset_id,
            "policy": self.policy.to_odrl(),
            "offer_hash": self.offer_hash,
            "agreed_at": _format_time(self.agreed_at),
        }

    def canonical_bytes(self) -> bytes:
        """The bytes each signature covers: :meth:`to_dict` as canonical JSON in UTF-8."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    @classmethod
    def from_dict(cls, document: Any) -> Agreement:
        """Read :meth:`to_dict` output from an untrusted source; DecodeError if malformed."""
        if not isinstance(document, dict) or set(document) != _AGREEMENT_FIELDS:
            found = sorted(document) if isinstance(document, dict) else type(document).__name__
            raise DecodeError(
                f"an agreement is an object with exactly the fields {sorted(_AGREEMENT_FIELDS)}, "
                f"not {found}"
            )
        try:
            policy = Policy.from_odrl(document["policy"])
            return cls(
                id=document["id"],
                negotiation_id=document["negotiation_id"],
                provider=document["provider"],
                consumer=document["consumer"],
                dataset_id=document["dataset_id"],
                policy=policy,
                offer_hash=document["offer_hash"],
                agreed_at=_parse_time(document["agreed_at"]),
            )
        except (ConfigError, PolicyError) as error:
            raise DecodeError(f"a malformed agreement: {error}") from None


def agreement_from_offer(
    offer: Policy,
    *,
    negotiation_id: str,
    provider: str,
    consumer: str,
    dataset_id: str,
    agreed_at: dt.datetime | None = None,
) -> Agreement:
    """The agreement negotiation ``negotiation_id`` makes of ``provider``'s ``offer``.

    ConfigError unless ``offer`` is an Offer by ``provider`` for exactly ``dataset_id``.
    ``agreed_at`` defaults to now.
    """
    if not isinstance(offer, Policy):
        raise ConfigError(f"an agreement is made from a Policy, not {type(offer).__name__}")
    check_offer_policy(offer, provider, dataset_id)
    agreement_id = agreement_id_for(negotiation_id)
    return Agreement(
        id=agreement_id,
        negotiation_id=negotiation_id,
        provider=provider,
        consumer=consumer,
        dataset_id=dataset_id,
        policy=agreement_policy(
            offer, agreement_id=agreement_id, provider=provider, consumer=consumer
        ),
        offer_hash=offer.content_hash,
        agreed_at=dt.datetime.now(dt.UTC) if agreed_at is None else agreed_at,
    )


@dataclass(frozen=True)
class SignedAgreement:
    """An agreement with the provider's signature and, once countersigned, the consumer's.

    Make one with :meth:`sign`, add the consumer's signature with :meth:`countersign`, check
    both with :meth:`verify`, move it with :meth:`to_json` and :meth:`from_json`.
    """

    agreement: Agreement
    provider_signature: DetachedSignature
    consumer_signature: DetachedSignature | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.agreement, Agreement):
            raise ConfigError(f"expected an Agreement, not {type(self.agreement).__name__}")
        for signature in (self.provider_signature, self.consumer_signature):
            if signature is not None and not isinstance(signature, DetachedSignature):
                raise ConfigError(
                    f"agreement signatures are DetachedSignature, not {type(signature).__name__}"
                )
        if self.provider_signature is None:
            raise ConfigError("a signed agreement needs the provider's signature")

    @property
    def id(self) -> str:
        return self.agreement.id

    @property
    def negotiation_id(self) -> str:
        return self.agreement.negotiation_id

    @property
    def provider(self) -> str:
        return self.agreement.provider

    @property
    def consumer(self) -> str:
        return self.agreement.consumer

    @property
    def dataset_id(self) -> str:
        return self.agreement.dataset_id

    @property
    def policy(self) -> Policy:
        return self.agreement.policy

    @property
    def agreed_at(self) -> dt.datetime:
        return self.agreement.agreed_at

    @property
    def is_countersigned(self) -> bool:
        """Whether the consumer has signed too."""
        return self.consumer_signature is not None

    @classmethod
    def sign(cls, agreement: Agreement, provider_identity: NodeIdentity) -> SignedAgreement:
        """The agreement signed by its provider, whose identity this must be."""
        if not isinstance(agreement, Agreement):
            raise ConfigError(f"expected an Agreement, not {type(agreement).__name__}")
        _check_signer(provider_identity, agreement.provider, "provider", agreement.id)
        signature = sign_detached(
            agreement.canonical_bytes(), provider_identity, context=AGREEMENT_CONTEXT
        )
        return cls(agreement, signature)

    def countersign(self, consumer_identity: NodeIdentity) -> SignedAgreement:
        """This agreement with the consumer's signature added (a new object).

        AlreadyExistsError if it is countersigned already.
        """
        _check_signer(consumer_identity, self.consumer, "consumer", self.id)
        if self.consumer_signature is not None:
            raise AlreadyExistsError(f"agreement {self.id} is countersigned already")
        signature = sign_detached(
            self.agreement.canonical_bytes(), consumer_identity, context=AGREEMENT_CONTEXT
        )
        return dataclasses.replace(self, consumer_signature=signature)

    def verify(
        self,
        trust: TrustStore,
        *,
        require_consumer: bool = True,
        valid_at: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        """Check that the provider (and the consumer) signed exactly this agreement.

        Each signer's certificate must come from ``trust``'s CA, be unrevoked and name that
        party (see :func:`~tds.connector._signing.verify_detached` for ``valid_at`` and
        ``now``). Without ``require_consumer`` a missing consumer signature is accepted, but
        one that is present must still verify. Raises AuthenticationError saying which
        signature failed and why.
        """
        if not isinstance(trust, TrustStore):
            raise ConfigError(f"trust must be a TrustStore, not {type(trust).__name__}")
        data = self.agreement.canonical_bytes()
        parties = [("provider", self.provider, self.provider_signature)]
        if self.consumer_signature is not None:
            parties.append(("consumer", self.consumer, self.consumer_signature))
        elif require_consumer:
            raise AuthenticationError(
                f"agreement {self.id} is not countersigned by its consumer {self.consumer!r}"
            )
        for role, name, signature in parties:
            try:
                verify_detached(
                    data,
                    signature,
                    trust,
                    context=AGREEMENT_CONTEXT,
                    expected_signer=name,
                    valid_at=valid_at,
                    now=now,
                )
            except AuthenticationError as error:
                raise AuthenticationError(
                    f"the {role} signature of agreement {self.id} (by {name!r}) is not valid: "
                    f"{error}"
                ) from None

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON object (see the module docstring)."""
        return {
            "format": AGREEMENT_FORMAT,
            "agreement": self.agreement.to_dict(),
            "provider_signature": self.provider_signature.to_dict(),
            "consumer_signature": None
            if self.consumer_signature is None
            else self.consumer_signature.to_dict(),
        }

    def to_json(self) -> str:
        """The signed agreement as a JSON document, e.g. for a file."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedAgreement:
        """Read :meth:`to_json` output from an untrusted source, without verifying it.

        DecodeError for anything malformed: not UTF-8 JSON, over :data:`MAX_AGREEMENT_BYTES`,
        repeated keys, missing or extra fields, another format, a bad policy or signature.
        """
        if isinstance(text, str):
            raw = text.encode("utf-8", "surrogatepass")
        elif isinstance(text, bytes | bytearray | memoryview):
            raw = bytes(text)
        else:
            raise DecodeError(f"a signed agreement is JSON text, not {type(text).__name__}")
        if len(raw) > MAX_AGREEMENT_BYTES:
            raise DecodeError(
                f"a signed agreement of {len(raw)} bytes is over the {MAX_AGREEMENT_BYTES} allowed"
            )
        try:
            document = json.loads(
                raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant
            )
        except RecursionError:
            raise DecodeError("a signed agreement nests too deeply") from None
        except ValueError as error:
            raise DecodeError(f"a signed agreement is UTF-8 JSON: {error}") from None
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: Any) -> SignedAgreement:
        """Read :meth:`to_dict` output from an untrusted source; DecodeError if malformed."""
        if not isinstance(document, dict) or set(document) != _DOCUMENT_FIELDS:
            found = sorted(document) if isinstance(document, dict) else type(document).__name__
            raise DecodeError(
                f"a signed agreement is an object with exactly the fields "
                f"{sorted(_DOCUMENT_FIELDS)}, not {found}"
            )
        if document["format"] != AGREEMENT_FORMAT:
            raise DecodeError(
                f"unknown signed agreement format {document['format']!r}; this tds reads "
                f"{AGREEMENT_FORMAT!r}"
            )
        consumer = document["consumer_signature"]
        return cls(
            agreement=Agreement.from_dict(document["agreement"]),
            provider_signature=DetachedSignature.from_dict(document["provider_signature"]),
            consumer_signature=None if consumer is None else DetachedSignature.from_dict(consumer),
        )


def _check_signer(identity: object, party: str, role: str, agreement_id: str) -> None:
    if not isinstance(identity, NodeIdentity):
        raise ConfigError(f"sign with a NodeIdentity, not {type(identity).__name__}")
    if identity.name != party:
        raise ConfigError(
            f"node {identity.name!r} cannot sign agreement {agreement_id} as its {role}: "
            f"the {role} is {party!r}"
        )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a key is repeated in an object")
    return document


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
