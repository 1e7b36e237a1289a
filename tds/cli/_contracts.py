"""``tds negotiate``, ``tds negotiation``, ``tds agreements`` and ``tds agreement``: contracts
with peers, from the first request to the agreement both sides signed."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tds.cli._client import node_client
from tds.cli._common import ConfigOption, DirOption, JsonOption, emit, reporting_errors
from tds.connector._agreement import SignedAgreement
from tds.connector._negotiation import Negotiation, NegotiationRole, NegotiationState
from tds.connector._trust import TrustStore
from tds.errors import ConfigError
from tds.policy import Policy

__all__ = ["agreement_app", "agreements", "negotiate", "negotiation_app"]

negotiation_app = typer.Typer(
    help="Negotiations with peers: list, show, accept a counter-offer, or end one.",
    no_args_is_help=True,
)
agreement_app = typer.Typer(
    help="Agreements: show one, save it to a file, or verify a saved one offline.",
    no_args_is_help=True,
)

PeerArgument = Annotated[
    str, typer.Argument(help="The peer: a name from [peers], or NAME@HOST:PORT.")
]
NegotiationArgument = Annotated[str, typer.Argument(help="The negotiation's id.")]


class StateChoice(enum.StrEnum):
    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


class RoleChoice(enum.StrEnum):
    PROVIDER = "provider"
    CONSUMER = "consumer"


def negotiation_summary(negotiation: Negotiation) -> dict[str, Any]:
    """A negotiation as the ``--json`` output shows it."""
    return {
        "id": negotiation.id,
        "role": negotiation.role.value,
        "peer": negotiation.peer,
        "dataset_id": negotiation.dataset_id,
        "state": negotiation.state.value,
        "reason": negotiation.reason,
        "policy": negotiation.policy.uid,
        "agreement_id": negotiation.agreement_id,
        "created_at": negotiation.created_at,
        "updated_at": negotiation.updated_at,
    }


def outcome(negotiation: Negotiation) -> str:
    """What a negotiation's state means for this node, and what to do next."""
    other = negotiation.peer
    if negotiation.role is NegotiationRole.CONSUMER:
        subject = f"'{negotiation.dataset_id}' from {other}"
    else:
        subject = f"'{negotiation.dataset_id}' for {other}"
    state = negotiation.state
    if state is NegotiationState.FINALIZED:
        return (
            f"agreed: {subject}, agreement {negotiation.agreement_id}, signed by both nodes. "
            f"See it with `tds agreement show {negotiation.agreement_id}`."
        )
    if state is NegotiationState.TERMINATED:
        return f"no agreement on {subject}: {negotiation.reason}"
    if state is NegotiationState.OFFERED and negotiation.role is NegotiationRole.CONSUMER:
        return (
            f"{other} counter-offers {subject}: {negotiation.reason}\n"
            f"Accept it with `tds negotiation accept {negotiation.id}`, or end it with "
            f"`tds negotiation terminate {negotiation.id} --reason TEXT`."
        )
    return f"negotiation {negotiation.id} on {subject} is {state}" + (
        f": {negotiation.reason}" if negotiation.reason else ""
    )


def _line(negotiation: Negotiation) -> str:
    direction = "from" if negotiation.role is NegotiationRole.CONSUMER else "for"
    return (
        f"{negotiation.id}  {negotiation.state:<10}  '{negotiation.dataset_id}' {direction} "
        f"{negotiation.peer}  ({negotiation.updated_at:%Y-%m-%d %H:%M} UTC)"
    )


def _read_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the policy {path}: {error}") from None
    return Policy.from_odrl(text)


def negotiate(
    peer: PeerArgument,
    dataset_id: Annotated[str, typer.Argument(help="The dataset's id in the peer's catalog.")],
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Ask for this ODRL policy (JSON) instead of the offer in the peer's catalog.",
        ),
    ] = None,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask a peer for a contract on one of its datasets.

    Without --policy this asks for exactly what the peer's catalog offers, which the peer
    agrees to at once. Exit code 0 once agreed or counter-offered, 1 when refused.
    """
    with node_client(directory, config) as client:
        requested = None if policy is None else _read_policy(policy)
        record = client.negotiate(peer, dataset_id, requested)
        emit(negotiation_summary(record), as_json, lambda: outcome(record))
    if record.state is NegotiationState.TERMINATED:
        raise typer.Exit(1)


@negotiation_app.command("list")
def list_negotiations(
    state: Annotated[StateChoice | None, typer.Option("--state", help="Only this state.")] = None,
    role: Annotated[RoleChoice | None, typer.Option("--role", help="This node's side.")] = None,
    peer: Annotated[str | None, typer.Option("--peer", help="Only with this peer.")] = None,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """This node's negotiations, oldest first."""
    filters = {
        key: value
        for key, value in (
            ("state", None if state is None else NegotiationState(state.value)),
            ("role", None if role is None else NegotiationRole(role.value)),
            ("peer", peer),
        )
        if value is not None
    }
    with node_client(directory, config) as client:
        records = client.negotiations(**filters)
        emit(
            [negotiation_summary(record) for record in records],
            as_json,
            lambda: "\n".join(_line(record) for record in records) or "no negotiations yet",
        )


@negotiation_app.command("show")
def show_negotiation(
    negotiation_id: NegotiationArgument,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One negotiation: its state, why, and what to do next."""
    with node_client(directory, config) as client:
        record = client.negotiation(negotiation_id)
        emit(negotiation_summary(record), as_json, lambda: f"{_line(record)}\n{outcome(record)}")


@negotiation_app.command("accept")
def accept(
    negotiation_id: NegotiationArgument,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accept a peer's counter-offer; both nodes then sign the agreement."""
    with node_client(directory, config) as client:
        record = client.accept_offer(negotiation_id)
        emit(negotiation_summary(record), as_json, lambda: outcome(record))
    if record.state is NegotiationState.TERMINATED:
        raise typer.Exit(1)


@negotiation_app.command("terminate")
def terminate(
    negotiation_id: NegotiationArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the peer to read.")],
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """End a negotiation that is not final yet; the peer is told why."""
    with node_client(directory, config) as client:
        record = client.terminate(negotiation_id, reason)
        emit(negotiation_summary(record), as_json, lambda: outcome(record))


def agreement_summary(signed: SignedAgreement) -> dict[str, Any]:
    """An agreement as the ``--json`` output of the listing shows it."""
    agreement = signed.agreement
    return {
        "id": agreement.id,
        "provider": agreement.provider,
        "consumer": agreement.consumer,
        "dataset_id": agreement.dataset_id,
        "negotiation_id": agreement.negotiation_id,
        "agreed_at": agreement.agreed_at,
        "policy": agreement.policy.uid,
        "policy_hash": agreement.policy.content_hash,
    }


def _agreement_line(signed: SignedAgreement) -> str:
    agreement = signed.agreement
    return (
        f"{agreement.id}  '{agreement.dataset_id}' of {agreement.provider} for "
        f"{agreement.consumer}  (agreed {agreement.agreed_at:%Y-%m-%d %H:%M} UTC)"
    )


def agreements(
    peer: Annotated[str | None, typer.Option("--peer", help="Only with this peer.")] = None,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The agreements this node made, as provider or consumer, oldest first."""
    with node_client(directory, config) as client:
        signed = client.agreements(peer=peer)
        emit(
            [agreement_summary(item) for item in signed],
            as_json,
            lambda: (
                "\n".join(_agreement_line(item) for item in signed)
                or "no agreements yet: ask a peer with `tds negotiate PEER DATASET`"
            ),
        )


@agreement_app.command("show")
def show_agreement(
    agreement_id: Annotated[str, typer.Argument(help="The agreement's id.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also save the signed agreement to this file."),
    ] = None,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One agreement with its ODRL policy; --out saves the signed document for others."""
    with node_client(directory, config) as client:
        signed = client.agreement(agreement_id)
        if out is not None:
            _save(out, signed.to_json())
        summary = {**agreement_summary(signed), "odrl": signed.agreement.policy.to_odrl()}

        def text() -> str:
            lines = [
                _agreement_line(signed),
                json.dumps(signed.agreement.policy.to_odrl(), indent=2, ensure_ascii=False),
            ]
            if out is not None:
                lines.append(f"saved the signed agreement to {out}")
            return "\n".join(lines)

        emit(summary, as_json, text)


@agreement_app.command("violated")
def record_violation(
    agreement_id: Annotated[str, typer.Argument(help="An agreement this node provides.")],
    duty: Annotated[
        str,
        typer.Argument(help="The compensate duty's uid, or its path (permission[0].duty[0])."),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why, for the audit log (e.g. the unpaid invoice).")
    ],
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record that the consumer did not compensate as the agreement asks: its permission grants
    nothing more from now on."""
    with node_client(directory, config) as client:
        client.record_violation(agreement_id, duty, reason)
        summary = {"agreement": agreement_id, "duty": duty, "violated": True}
        emit(
            summary,
            as_json,
            lambda: f"recorded: {duty} of {agreement_id} was violated; no further use under it",
        )


def _save(path: Path, document: str) -> None:
    try:
        path.write_text(document, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error}") from None


@agreement_app.command("verify")
def verify_agreement(
    document: Annotated[Path, typer.Argument(help="A signed agreement saved with --out.")],
    ca: Annotated[
        Path,
        typer.Option(
            "--ca", help="The data space CA directory (or any node directory holding its CA)."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Check a saved agreement offline: both signatures, by certificates of this data space
    that were not revoked."""
    with reporting_errors():
        try:
            text = document.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"cannot read {document}: {error}") from None
        signed = SignedAgreement.from_json(text)
        signed.verify(TrustStore.load(ca))
        agreement = signed.agreement
        emit(
            {**agreement_summary(signed), "valid": True},
            as_json,
            f"valid: {agreement.provider} and {agreement.consumer} both signed agreement "
            f"{agreement.id} on '{agreement.dataset_id}'",
        )
