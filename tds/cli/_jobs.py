"""``tds job``: joint computations with peers, from asking for one to reading its result.

This node is the *requester* of the jobs it starts (``tds job start``) and a *provider* of
the jobs peers start on its datasets. Either way ``tds job list`` and ``tds job status``
show them; a provider approves or rejects the jobs that wait for a person, and a requester
cancels its own.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import io
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from tds.cli._client import node_client
from tds.cli._common import (
    ConfigOption,
    DirOption,
    JsonOption,
    emit,
    fail,
    format_time,
    read_input,
)
from tds.connector import Client
from tds.connector._job_store import Job
from tds.connector._jobs import JobKind, JobRole, JobState
from tds.errors import ConfigError, StorageError, TdsError
from tds.progress import Progress

__all__ = ["app"]

app = typer.Typer(
    help="Jobs: compute with peers' data under your agreements, without seeing their rows.\n\n"
    "`tds job start` runs one and waits for its result; the providers check each job "
    "against the agreement and their own policy.",
    no_args_is_help=True,
)

JobArgument = Annotated[str, typer.Argument(help="The job's id (32 hex digits).")]
ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why, for the other nodes of the job to read.")
]

# At most one progress line per stage this often, besides its first and its last.
PROGRESS_INTERVAL_SECONDS = 1.0
# The human summary shows this many shared keys of a psi job; `tds job result` shows all.
SHOWN_ITEMS = 20


# -- start ------------------------------------------------------------------------------------


@app.command("start")
def start(
    kind: Annotated[
        JobKind,
        typer.Argument(
            metavar="KIND",
            help="What to compute: aggregate, psi, psi-cardinality or psi-sum.",
            case_sensitive=False,
            show_default=False,
        ),
    ],
    purpose: Annotated[
        str,
        typer.Option(
            "--purpose",
            metavar="TEXT",
            help="The purpose you declare to every provider's policy (e.g. medical-research).",
            show_default=False,
        ),
    ],
    target: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PROVIDER DATASET",
            help="psi kinds: the provider (a name from [peers], or NAME@HOST:PORT) and its "
            "dataset. An aggregate names its providers with --from instead.",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="COLUMN",
            help="psi kinds: a join key column of the provider's dataset (repeat for several).",
            show_default=False,
        ),
    ] = None,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            metavar="COLUMN",
            help="psi-sum: the provider's column added up over the shared keys.",
            show_default=False,
        ),
    ] = None,
    mine: Annotated[
        Path | None,
        typer.Option(
            "--mine",
            metavar="FILE.csv",
            help="psi kinds: this node's own keys, a CSV file with a header row; one key per "
            "row. It never leaves this node.",
            show_default=False,
        ),
    ] = None,
    mine_key: Annotated[
        list[str] | None,
        typer.Option(
            "--mine-key",
            metavar="COLUMN",
            help="psi kinds: the key column(s) of --mine, in the order of --key (default: "
            "the same names as --key).",
            show_default=False,
        ),
    ] = None,
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            metavar="auto|ecdh|oprf",
            help="psi: ecdh, or oprf (the faster OPRF join); auto takes oprf from 4096 keys.",
        ),
    ] = "auto",
    bucket_items: Annotated[
        int | None,
        typer.Option(
            "--bucket-items",
            metavar="N",
            help="psi: join in buckets of about N keys of the larger set (0: one join); "
            "default: buckets of 2^20 when --mine holds more keys than that.",
            show_default=False,
        ),
    ] = None,
    reveal_to_provider: Annotated[
        bool,
        typer.Option("--reveal-to-provider", help="psi: the provider learns the shared keys too."),
    ] = False,
    agreement: Annotated[
        str | None,
        typer.Option(
            "--agreement",
            metavar="ID",
            help="psi kinds: the agreement to use (default: the newest on the dataset).",
            show_default=False,
        ),
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option(
            "--from",
            metavar="PROVIDER=DATASET",
            help="aggregate: a provider and its dataset; repeat for each, in chain order.",
            show_default=False,
        ),
    ] = None,
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            "--group-by",
            metavar="COLUMN",
            help="aggregate: count (and sum) per value of this column; repeat for several.",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            metavar="VALUE[,VALUE...]",
            help="aggregate: one group to report, one value per --group-by column, "
            "comma-separated (CSV quoting for a value with a comma); repeat for each group.",
            show_default=False,
        ),
    ] = None,
    sums: Annotated[
        list[str] | None,
        typer.Option(
            "--sum",
            metavar="COLUMN",
            help="aggregate: add up this integer or decimal column; repeat for several.",
            show_default=False,
        ),
    ] = None,
    min_cohort: Annotated[
        int,
        typer.Option(
            "--min-cohort",
            metavar="N",
            help="Release no group (aggregate) or intersection (psi kinds) of fewer than N "
            "rows; policies often ask for 10 or more.",
        ),
    ] = 1,
    epsilon: Annotated[
        str | None,
        typer.Option(
            "--epsilon",
            metavar="X",
            help="aggregate, psi-sum: the providers add differential-privacy noise for this "
            "budget.",
            show_default=False,
        ),
    ] = None,
    value_bound: Annotated[
        int,
        typer.Option(
            "--value-bound",
            metavar="N",
            help="With --epsilon: clip each summed value to N (in hundredths for a decimal "
            "column).",
        ),
    ] = 2**31,
    area: Annotated[
        str | None,
        typer.Option(
            "--area",
            metavar="WEST,SOUTH,EAST,NORTH",
            help="aggregate: only rows inside this box (degrees), for datasets with location "
            "columns; policies with a spatial constraint require it.",
            show_default=False,
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            metavar="START/END",
            help="aggregate: only rows from START up to (not including) END, ISO 8601 dates or "
            "times (UTC unless they say otherwise), for datasets with a time column; policies "
            "with an embargo (dataAge) require it.",
            show_default=False,
        ),
    ] = None,
    scheme: Annotated[
        str | None,
        typer.Option(
            "--scheme",
            metavar="paillier|ou",
            help="aggregate: the additive scheme of this node's key; ou (Okamoto-Uchiyama) is "
            "several times faster. Default: the node's [compute] scheme.",
            show_default=False,
        ),
    ] = None,
    consent_obtained: Annotated[
        bool,
        typer.Option(
            "--consent-obtained",
            help="Attest that this node obtained the consent the agreements ask for "
            "(obtainConsent duties); each provider records the attestation in its audit log.",
        ),
    ] = False,
    deadline: Annotated[
        int,
        typer.Option("--deadline", metavar="SECONDS", help="Give up after this long."),
    ] = 600,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a job with peers and wait for its result.

    A secure join (psi, psi-cardinality, psi-sum) matches this node's keys, read from a CSV
    file, with the keys of one provider's dataset:

    \b
      tds job start psi-sum hospital visits --key patient_id --value cost \\
          --mine patients.csv --mine-key id --purpose medical-research --min-cohort 10

    psi tells this node the shared keys, psi-cardinality only how many there are, psi-sum
    how many and the sum of the provider's --value column over them.

    An aggregate counts rows, and adds up --sum columns, per group across providers, each
    encrypted so that this node learns only the total:

    \b
      tds job start aggregate --from hospital=visits --from clinic=visits \\
          --group-by region --group north --group south --sum cost \\
          --purpose medical-research --min-cohort 10

    Progress goes to stderr, the result to stdout. You need an agreement on each dataset
    (`tds negotiate PROVIDER DATASET`). Exit code 0 once the job succeeded, 1 when it failed
    or a provider refused it, 2 for a bad option or file.
    """
    with node_client(directory, config) as client:
        if kind is JobKind.AGGREGATE:
            _no_psi_options(
                target=target,
                key=key,
                value=value,
                mine=mine,
                mine_key=mine_key,
                reveal_to_provider=reveal_to_provider,
                agreement=agreement,
                protocol=protocol != "auto",
                bucket_items=bucket_items is not None,
            )
            datasets = _sources(sources or [])
            groups = _groups(group or [], group_by or [])
            interval = None if period is None else _period(period)
        else:
            _no_aggregate_options(
                kind,
                sources=sources,
                group_by=group_by,
                group=group,
                sums=sums,
                area=area,
                period=period,
                scheme=scheme,
            )
            provider, dataset_id = _psi_target(kind, target or [])
            if not key:
                raise ConfigError(
                    f"a {kind} job names the provider's join key column(s): --key COLUMN"
                )
            if kind is JobKind.PSI_SUM and value is None:
                raise ConfigError("a psi-sum job names the provider's column to add up: --value")
            if kind is not JobKind.PSI_SUM and value is not None:
                raise ConfigError(f"--value is for psi-sum jobs; a {kind} job adds up nothing")
            if reveal_to_provider and kind is not JobKind.PSI:
                raise ConfigError(f"--reveal-to-provider is for psi jobs, not {kind}")
            if mine is None:
                raise ConfigError(
                    f"a {kind} job needs this node's own keys: --mine FILE.csv (with "
                    "--mine-key COLUMN unless its columns are named as --key)"
                )
            items = _read_keys(mine, mine_key or key, len(key))
        progress = None if as_json else _ProgressLines()
        before = {job.id for job in client.jobs(role=JobRole.REQUESTER)}
        try:
            if kind is JobKind.AGGREGATE:
                job = client.aggregate(
                    datasets,
                    purpose=purpose,
                    sums=sums or (),
                    group_by=group_by or (),
                    groups=groups,
                    min_cohort=min_cohort,
                    epsilon=epsilon,
                    value_bound=value_bound,
                    consent_obtained=consent_obtained,
                    area=area,
                    period=interval,
                    deadline_seconds=deadline,
                    progress=progress,
                    scheme=scheme,  # type: ignore[arg-type]  # the client checks it
                )
            else:
                job = client.secure_join(
                    provider,
                    dataset_id,
                    items,
                    key_columns=key,
                    purpose=purpose,
                    kind=kind,
                    value_column=value,
                    min_cohort=min_cohort,
                    epsilon=epsilon,
                    value_bound=value_bound,
                    reveal_to_provider=reveal_to_provider,
                    agreement_id=agreement,
                    consent_obtained=consent_obtained,
                    deadline_seconds=deadline,
                    progress=progress,
                    protocol=protocol,
                    bucket_items=bucket_items,
                )
        except TdsError as error:
            _report_failure(client, before, kind, error, as_json)
        except KeyboardInterrupt:
            _report_failure(client, before, kind, "interrupted", as_json, code=130)
        emit(job.to_dict(), as_json, lambda: _summary(job, client.name))
    if job.state is not JobState.SUCCEEDED:
        raise typer.Exit(1)


def _report_failure(
    client: Client,
    before: set[str],
    kind: JobKind,
    error: TdsError | str,
    as_json: bool,
    *,
    code: int | None = None,
) -> NoReturn:
    """Exit with the error, naming the job it ended (and printing it with --json) if any."""
    if code is None:
        code = 2 if isinstance(error, ConfigError) else 1
    job = _new_job(client, before, kind)
    if job is None:
        fail(str(error), code=code)
    if as_json:
        emit(job.to_dict(), True, "")
    fail(f"job {job.id} {job.state}: {job.reason or error}", code=code)


def _new_job(client: Client, before: set[str], kind: JobKind) -> Job | None:
    """The job this command started, if it got as far as recording one."""
    try:
        started = [
            job
            for job in client.jobs(role=JobRole.REQUESTER)
            if job.id not in before and job.kind is kind
        ]
    except TdsError:
        return None
    return started[-1] if started else None


def _no_psi_options(**given: object) -> None:
    for name, value in given.items():
        if value:
            option = "PROVIDER DATASET" if name == "target" else "--" + name.replace("_", "-")
            raise ConfigError(
                f"{option} is for psi kinds; an aggregate names its providers with "
                "--from PROVIDER=DATASET (repeat it, in chain order)"
            )


def _no_aggregate_options(kind: JobKind, **given: object) -> None:
    for name, value in given.items():
        if value:
            option = {"sources": "--from", "group_by": "--group-by", "sums": "--sum"}.get(
                name, f"--{name}"
            )
            raise ConfigError(
                f"{option} is for aggregate jobs; a {kind} job names PROVIDER DATASET and "
                "--key COLUMN"
            )


def _period(text: str) -> tuple[dt.datetime, dt.datetime]:
    """``START/END`` as two aware datetimes; a date is its midnight, and UTC is the default."""
    bounds = text.split("/")
    if len(bounds) != 2:
        raise ConfigError(f"--period is START/END, e.g. 2026-09-01/2026-10-01, not {text!r:.80}")
    instants = []
    for bound in bounds:
        try:
            instant = dt.datetime.fromisoformat(bound.strip())
        except ValueError:
            raise ConfigError(f"--period: {bound!r:.40} is not an ISO 8601 date or time") from None
        instants.append(instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC))
    return instants[0], instants[1]


def _psi_target(kind: JobKind, target: Sequence[str]) -> tuple[str, str]:
    if len(target) != 2:
        raise ConfigError(
            f"a {kind} job names the provider and its dataset: "
            f"`tds job start {kind} PROVIDER DATASET --key COLUMN ...`"
        )
    return target[0], target[1]


def _sources(sources: Sequence[str]) -> dict[str, str]:
    """``--from PROVIDER=DATASET`` options, in chain order."""
    if not sources:
        raise ConfigError(
            "an aggregate names each provider and its dataset: --from PROVIDER=DATASET "
            "(repeat it, in chain order)"
        )
    datasets: dict[str, str] = {}
    for source in sources:
        provider, equals, dataset_id = source.partition("=")
        if not equals or not provider or not dataset_id:
            raise ConfigError(f"--from {source!r} is not PROVIDER=DATASET")
        name = provider.partition("@")[0]
        if any(other.partition("@")[0] == name for other in datasets):
            raise ConfigError(f"--from names provider {name} twice: one dataset per provider")
        datasets[provider] = dataset_id
    return datasets


def _groups(groups: Sequence[str], group_by: Sequence[str]) -> list[tuple[str, ...]]:
    """``--group`` options, each one value per ``--group-by`` column, comma-separated."""
    if groups and not group_by:
        raise ConfigError("--group lists values of the --group-by columns: give --group-by")
    if group_by and not groups:
        raise ConfigError(
            f"list the groups to report with --group VALUE (one value per --group-by column: "
            f"{', '.join(group_by)}); repeat it for each group"
        )
    parsed = []
    for text in groups:
        try:
            values = next(csv.reader([text]), [])
        except csv.Error as error:
            raise ConfigError(f"--group {text!r} is not comma-separated values: {error}") from None
        if len(values) != len(group_by):
            raise ConfigError(
                f"--group {text!r} has {len(values)} value(s); give one per --group-by column "
                f"({', '.join(group_by)}), comma-separated"
            )
        parsed.append(tuple(values))
    return parsed


def _read_keys(path: Path, columns: Sequence[str], arity: int) -> list[object]:
    """This node's join keys from a CSV file: a text per row for one column, else a tuple."""
    if len(columns) != arity:
        raise ConfigError(
            f"give one --mine-key per --key column ({arity}), in the same order, not {len(columns)}"
        )
    data = read_input(path, "the CSV file of this node's keys")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        missing = [column for column in columns if column not in header]
        if missing:
            raise ConfigError(
                f"{path} has no column {missing[0]} (its header: {', '.join(header) or 'none'});"
                " name the key columns with --mine-key"
            )
        items: list[object] = []
        for row in reader:
            values = [row[column] for column in columns]
            if any(value is None for value in values):
                raise ConfigError(f"{path}, line {reader.line_num}: too few fields")
            items.append(values[0] if len(values) == 1 else tuple(values))
    except csv.Error as error:
        raise ConfigError(f"{path}, line {reader.line_num}: {error}") from None
    return items


class _ProgressLines:
    """Progress on stderr: a line when a stage starts and ends, and now and then between."""

    def __init__(self) -> None:
        self._stage: tuple[str, str] | None = None
        self._shown: tuple[int, int] | None = None
        self._at = 0.0

    def __call__(self, report: Progress) -> None:
        stage = (report.role, report.stage)
        now = time.monotonic()
        finished = report.done >= report.total
        if stage == self._stage:
            if (report.done, report.total) == self._shown:
                return
            if not finished and now - self._at < PROGRESS_INTERVAL_SECONDS:
                return
        self._stage, self._shown, self._at = stage, (report.done, report.total), now
        typer.echo(f"{report.stage}: {report.done}/{report.total}", err=True)


# -- what a job means -------------------------------------------------------------------------


def _parties(job: Job) -> str:
    spec = job.spec
    datasets = " and ".join(f"{part.node}'s '{part.dataset_id}'" for part in spec.providers)
    if job.role is JobRole.REQUESTER:
        return f"{spec.requester} with {datasets}"
    return f"{spec.requester} with {datasets} (this node)"


def _headline(job: Job) -> str:
    return f"job {job.id}: {job.kind} of {_parties(job)}, purpose {job.spec.purpose}"


def _state_line(job: Job) -> str:
    return f"{job.state}" + (f": {job.reason}" if job.reason else "")


def _progress_line(job: Job) -> str:
    if not job.stage:
        return "not started"
    return f"{job.stage} {job.done}/{job.total}" if job.total else job.stage


def _learned(job: Job, me: str) -> list[str]:
    """Who learned what from a job that succeeded, as this node's record says."""
    result = dict(job.result or {})
    spec = job.spec
    requester = spec.requester
    provider = spec.providers[0].node
    noise = f", with noise (epsilon {spec.epsilon})" if spec.epsilon is not None else ""
    if job.role is JobRole.PROVIDER:
        return _provider_learned(job, me, result)
    if job.kind is JobKind.AGGREGATE:
        what = "counts and sums" if spec.sums else "counts"
        providers = ", ".join(part.node for part in spec.providers)
        return [
            f"{requester} learned the {what} below, added up over {providers}{noise}; each "
            f"provider left out its groups of fewer than {spec.min_cohort} rows.",
            "The providers learned nothing of each other's rows, nor the total.",
        ]
    size = result.get("size")
    held = f"{provider} holds {result.get('provider_set_size')} keys"
    if job.kind is JobKind.PSI:
        lines = [f"{requester} learned the {size} shared key(s) ({held})."]
        if spec.reveal_to_provider:
            lines.append(f"{provider} learned them too, and how many keys {requester} sent.")
        else:
            lines.append(f"{provider} learned only how many keys {requester} sent.")
        return lines
    if job.kind is JobKind.PSI_CARDINALITY:
        return [
            f"{requester} learned that {size} key(s) are shared ({held}).",
            f"{provider} learned the same count and how many keys {requester} sent.",
        ]
    column = spec.providers[0].value_column
    noisy = f"with noise, epsilon {spec.epsilon}; " if spec.epsilon is not None else ""
    return [
        f"{requester} learned that {size} key(s) are shared and that {column} adds up to "
        f"{result.get('sum')} over them ({noisy}{held}).",
        f"{provider} learned the same count and sum, and how many keys {requester} sent.",
    ]


def _provider_learned(job: Job, me: str, result: dict[str, Any]) -> list[str]:
    requester = job.spec.requester
    if job.kind is JobKind.AGGREGATE:
        return [
            f"{me} added its encrypted counts and sums to the chain and learned no result "
            f"({result.get('suppressed_groups', 0)} group(s) under {job.spec.min_cohort} rows "
            "left out here).",
            f"{requester} learned the total.",
        ]
    sent = f"{requester} sent {result.get('requester_set_size')} keys"
    if job.kind is JobKind.PSI:
        if "items" in result:
            return [f"{me} learned the {result.get('size')} shared key(s) ({sent})."]
        return [f"{me} learned only that {sent}; {requester} learned the shared keys."]
    learned = f"{me} learned that {result.get('size')} key(s) are shared"
    if job.kind is JobKind.PSI_SUM:
        learned += f" and that they add up to {result.get('sum')}"
    return [f"{learned} ({sent}); {requester} learned the same."]


def _result_text(job: Job) -> str:
    """The result for people: a table, the shared keys, or the numbers."""
    result = _answer(job)
    if "columns" in result:
        return _table(result["columns"], result["rows"], numbers_from=len(job.spec.group_by))
    if "items" in result:
        return "\n".join(_key_text(item) for item in result["items"]) or "(no shared keys)"
    return "\n".join(f"{name}: {value}" for name, value in sorted(result.items()))


def _answer(job: Job) -> dict[str, Any]:
    """The job's result without the traffic it took (``wire``)."""
    result = dict(job.result or {})
    result.pop("wire", None)
    return result


def _key_text(item: object) -> str:
    return ", ".join(item) if isinstance(item, list) else str(item)


def _table(columns: Sequence[str], rows: Sequence[Sequence[object]], *, numbers_from: int) -> str:
    cells = [[str(column) for column in columns]] + [[str(v) for v in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for line in cells:
        fields = [
            cell.rjust(width) if i >= numbers_from else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(fields).rstrip())
    return "\n".join(lines)


def _summary(job: Job, me: str) -> str:
    """What ``tds job start`` prints at the end."""
    lines = [_headline(job), _state_line(job)]
    if job.state is not JobState.SUCCEEDED:
        return "\n".join(lines)
    lines += _learned(job, me)
    result = dict(job.result or {})
    if "columns" in result:
        lines.append(_result_text(job))
    elif "items" in result:
        items = result["items"]
        lines += [_key_text(item) for item in items[:SHOWN_ITEMS]]
        if len(items) > SHOWN_ITEMS:
            lines.append(
                f"... and {len(items) - SHOWN_ITEMS} more: `tds job result {job.id} --csv FILE`"
            )
    return "\n".join(lines)


# -- the other commands -----------------------------------------------------------------------


def _line(job: Job) -> str:
    spec = job.spec
    if job.role is JobRole.REQUESTER:
        peers = "with " + ", ".join(part.node for part in spec.providers)
    else:
        peers = f"for {spec.requester}"
    return (
        f"{job.id}  {job.state:<17}  {job.kind:<15}  {job.role:<9}  {peers}, purpose "
        f"{spec.purpose}  ({format_time(job.updated_at)})"
    )


@app.command("list")
def list_jobs(
    role: Annotated[
        JobRole | None,
        typer.Option("--role", help="Only jobs this node requested, or provides for."),
    ] = None,
    state: Annotated[JobState | None, typer.Option("--state", help="Only this state.")] = None,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """This node's jobs, as requester or provider, oldest first."""
    with node_client(directory, config) as client:
        jobs = client.jobs(role=role, state=state)
        emit(
            [job.to_dict() for job in jobs],
            as_json,
            lambda: (
                "\n".join(_line(job) for job in jobs)
                or "no jobs yet: start one with `tds job start KIND ...`"
            ),
        )


@app.command("status")
def status(
    job_id: JobArgument,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One job: its state and why, how far it got, and what to do next."""
    with node_client(directory, config) as client:
        job = client.job(job_id)
        emit(job.to_dict(), as_json, lambda: _status_text(job, client.name))


@app.command("watch")
def watch(
    job_id: JobArgument,
    peer: Annotated[
        str | None,
        typer.Option(
            "--peer",
            help="Watch the job as this other node of it records it (a name from [peers], "
            "or NAME@HOST:PORT), e.g. a provider's progress from the requester.",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Stop watching after this many seconds.")
    ] = 3600,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follow a job until it ends: its progress on stderr, its state changes on stdout.

    With --json, one JSON object per change (JSON Lines). Exit code 0 once it succeeded, 1
    when it failed, was cancelled, or was still running when --timeout passed.
    """
    lines = _ProgressLines()
    last_state = None
    with node_client(directory, config) as client:
        for status in client.watch_job(job_id, peer=peer, timeout=timeout):
            if as_json:
                typer.echo(json.dumps(dataclasses.asdict(status), sort_keys=True))
                last_state = status.state
                continue
            if status.total:
                lines(Progress(peer or client.name, status.stage, status.done, status.total))
            if status.state != last_state:
                reason = f": {status.reason}" if status.reason else ""
                typer.echo(f"{status.state}{reason}")
                last_state = status.state
    if last_state is not JobState.SUCCEEDED:
        raise typer.Exit(1)


def _status_text(job: Job, me: str) -> str:
    lines = [
        _headline(job),
        f"state: {_state_line(job)}",
        f"progress: {_progress_line(job)}",
        f"started {format_time(job.created_at)}, last change {format_time(job.updated_at)}",
    ]
    if job.state is JobState.SUCCEEDED:
        lines += _learned(job, me)
        if job.role is JobRole.REQUESTER:
            lines.append(f"see the result with `tds job result {job.id}`")
    elif job.state is JobState.AWAITING_APPROVAL and job.role is JobRole.PROVIDER:
        lines.append(
            f"approve it with `tds job approve {job.id}`, or reject it with "
            f"`tds job reject {job.id} --reason TEXT`"
        )
    elif not job.is_final and job.role is JobRole.REQUESTER:
        lines.append(f"cancel it with `tds job cancel {job.id} --reason TEXT`")
    return "\n".join(lines)


def _csv_rows(job: Job) -> list[list[object]]:
    """A job's result as CSV rows, header first."""
    result = _answer(job)
    if "columns" in result:
        return [list(result["columns"]), *[list(row) for row in result["rows"]]]
    if "items" in result:
        header = list(job.spec.providers[0].key_columns)
        items = result["items"]
        return [header, *[item if isinstance(item, list) else [item] for item in items]]
    names = sorted(result)
    return [names, [result[name] for name in names]]


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically, readable by this user only: results can be sensitive."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        raise StorageError(f"cannot write in {path.parent}: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {error.strerror or error}") from None


class OutputFormat(enum.StrEnum):
    TEXT = "text"
    CSV = "csv"


@app.command("result")
def result(
    job_id: JobArgument,
    out: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            metavar="FILE",
            help="Write the result to this CSV file (readable by you only).",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="How to print the result: text for people, or csv (a header row, then one "
            "row per group, or per shared key of a psi job).",
        ),
    ] = OutputFormat.TEXT,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """What a job that succeeded released to this node.

    An aggregate is a table (group columns, count, sum_COLUMN); a psi job the shared keys,
    one per line; psi-cardinality and psi-sum their numbers. Exit code 1 if the job has no
    result (yet).
    """
    with node_client(directory, config) as client:
        if output_format is OutputFormat.CSV and as_json:
            raise ConfigError("give --json or --format csv, not both")
        job = client.job(job_id)
        if job.state is not JobState.SUCCEEDED or job.result is None:
            detail = f": {job.reason}" if job.reason else ""
            fail(f"job {job.id} is {job.state}{detail}; it has no result")
        rows = _csv_rows(job)
        if out is not None:
            _write_private(out, _csv_text(rows).encode("utf-8"))
            written = f"wrote {len(rows) - 1} row(s) of job {job.id}'s result to {out}"
            if as_json:
                emit(dict(job.result), True, "")
            elif output_format is OutputFormat.CSV:
                typer.echo(_csv_text(rows), nl=False)
            else:
                typer.echo(written)
            return
        if output_format is OutputFormat.CSV:
            typer.echo(_csv_text(rows), nl=False)
        else:
            emit(dict(job.result), as_json, lambda: _result_text(job))


@app.command("approve")
def approve(
    job_id: JobArgument,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a job that waits for a person here (as its provider); it then runs."""
    with node_client(directory, config) as client:
        job = client.approve_job(job_id)
        emit(
            job.to_dict(),
            as_json,
            lambda: (
                f"approved job {job.id} ({job.kind} for {job.spec.requester}, purpose "
                f"{job.spec.purpose}): it runs when {job.spec.requester} next asks"
            ),
        )


@app.command("reject")
def reject(
    job_id: JobArgument,
    reason: ReasonOption,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a job that waits for a person here; its requester learns the reason."""
    with node_client(directory, config) as client:
        job = client.reject_job(job_id, reason)
        emit(
            job.to_dict(),
            as_json,
            lambda: f"rejected job {job.id} of {job.spec.requester}: {job.reason}",
        )


@app.command("cancel")
def cancel(
    job_id: JobArgument,
    reason: ReasonOption,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a job this node requested; its providers are told why."""
    with node_client(directory, config) as client:
        job = client.cancel_job(job_id, reason)
        providers = ", ".join(part.node for part in job.spec.providers)
        emit(
            job.to_dict(),
            as_json,
            lambda: f"cancelled job {job.id}; told {providers}: {reason}",
        )
