"""The sector pages in docs/sectors say what the code does: terms, schemas, areas and links.

Each page marks what it documents with HTML comments, which Markdown does not show:

- ``<!-- policy: TEMPLATE NODE/DATASET [NODE/DATASET ...] -->`` before a bullet list: the list is
  ``describe()`` of the policy the demo offers for each dataset named (the same for all);
- ``<!-- odrl: TEMPLATE NODE/DATASET -->`` right before a ```json block: the block is that
  policy's ``to_odrl()``;
- ``<!-- schema: SECTOR.CONSTANT -->`` before a table of columns (name, type, meaning) and the
  lines naming the subject, time and location columns;
- ``<!-- areas: ocean.CONSTANT -->`` before a table of boxes (west, south, east, north).

TEMPLATE is ``sector.function`` in :mod:`tds.sectors`, built below with the parameters the demo
uses; a test checks that the demo offers exactly these policies, so that the pages follow both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tds.connector import dataset_target, node_uri
from tds.demo import _healthcare, _ocean, _power
from tds.demo._narration import Narrator
from tds.policy import BoundingBox, Policy, describe
from tds.sectors import healthcare, ocean, power
from tds.sectors._tables import GeneratedTable, TableSchema

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "sectors"
SECTORS = {"healthcare": healthcare, "ocean": ocean, "power": power}
DEMOS = {"healthcare": _healthcare, "ocean": _ocean, "power": _power}

# Each template's parameters as the demos pass them, beyond the ids (by the offering node).
PARAMETERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "healthcare.medical_research": lambda node: {"min_cohort": 10},
    "ocean.observations": lambda node: {
        "area": ocean.RANCH_AREAS[node],
        "aggregate_embargo": "P30D",
    },
    "ocean.catch_statistics": lambda node: {"min_vessels": 3},
    "ocean.vessel_registry": lambda node: {},
    "power.household_aggregates": lambda node: {
        "purposes": ("grid-planning", "carbon-accounting"),
        "min_meters": 20,
        "epsilon_budget": Decimal("1.0"),
    },
    "power.enterprise_indicators": lambda node: {},
}

# The schemas each page documents: every table the sector's generator writes.
SCHEMAS = {
    "healthcare": ("VISITS", "CLAIMS"),
    "ocean": ("OBSERVATIONS", "CATCH_LOGS", "VESSEL_REGISTRY"),
    "power": ("METER_READINGS", "ENTERPRISE_CONSUMPTION", "LOAN_BOOK"),
}

_MARKER = re.compile(r"^<!-- (policy|odrl|schema|areas): (.+?) -->$")
_JSON_BLOCK = re.compile(r"^```json\n(.*?)^```$", re.S | re.M)
_FENCE = re.compile(r"^```.*?^```$", re.S | re.M)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]*)\)")


def build(template: str, node: str, dataset: str) -> Policy:
    """The policy the demo offers for ``dataset`` of ``node`` under ``template``."""
    sector, function = template.split(".")
    return getattr(SECTORS[sector], function)(
        uid=f"urn:tds:policy:{node}:{dataset}",
        assigner=node_uri(node),
        target=dataset_target(node, dataset),
        **PARAMETERS[template](node),
    )


def page(sector: str) -> str:
    return (PAGES / f"{sector}.md").read_text(encoding="utf-8")


def marked(text: str, kind: str) -> list[tuple[str, list[str]]]:
    """Each ``kind`` marker's argument, and the lines that follow it up to the next marker."""
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        match = _MARKER.match(line)
        if match:
            found.append((match.group(2) if match.group(1) == kind else "", []))
        elif found:
            found[-1][1].append(line)
    return [(argument, lines) for argument, lines in found if argument]


def bullets(lines: list[str]) -> tuple[str, ...]:
    """The first bullet list in ``lines``, each item on one line (continuations joined)."""
    items: list[str] = []
    for line in lines:
        if line.startswith("- "):
            items.append(line[2:])
        elif items and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        elif items or line.strip():
            break
    return tuple(items)


def table_rows(lines: list[str]) -> list[list[str]]:
    """The cells of the first Markdown table in ``lines``, header and rule left out."""
    rows = []
    for line in lines:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows or line.strip():
            break
    assert len(rows) >= 2 and set(rows[1]) <= {"---"}, "a table with a header and a rule"
    return rows[2:]


def documented(sector: str) -> dict[tuple[str, str], str]:
    """(node, dataset) to the template its page documents it under."""
    datasets: dict[tuple[str, str], str] = {}
    for argument, _ in marked(page(sector), "policy"):
        template, *items = argument.split()
        for item in items:
            node, dataset = item.split("/")
            assert (node, dataset) not in datasets, f"{item} is documented twice"
            datasets[node, dataset] = template
    return datasets


@pytest.mark.parametrize("sector", SECTORS)
def test_the_terms_in_words_are_what_describe_prints(sector: str) -> None:
    policies = marked(page(sector), "policy")
    assert policies, f"docs/sectors/{sector}.md documents no policy"
    for argument, lines in policies:
        template, *items = argument.split()
        assert template.startswith(f"{sector}."), argument
        for item in items:
            node, dataset = item.split("/")
            assert bullets(lines) == describe(build(template, node, dataset)), argument


@pytest.mark.parametrize("sector", SECTORS)
def test_each_json_block_is_the_policy_it_is_marked_with(sector: str) -> None:
    text = page(sector)
    blocks = list(_JSON_BLOCK.finditer(text))
    assert blocks, f"docs/sectors/{sector}.md has no policy in ODRL"
    templates = set()
    for block in blocks:
        before = [line for line in text[: block.start()].splitlines() if line.strip()]
        marker = _MARKER.match(before[-1]) if before else None
        assert marker and marker.group(1) == "odrl", (
            f"the json block at offset {block.start()} has no <!-- odrl: ... --> line before it"
        )
        template, item = marker.group(2).split()
        node, dataset = item.split("/")
        assert json.loads(block.group(1)) == build(template, node, dataset).to_odrl(), item
        templates.add(template)
    # Every template the page uses is shown in ODRL at least once.
    assert templates == set(documented(sector).values())


@pytest.mark.parametrize("sector", SECTORS)
def test_the_pages_document_what_the_demo_offers(
    sector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's own offer step, run without a data space, publishes exactly these terms."""
    offered: dict[tuple[str, str], Policy] = {}

    def publish(narrator: object, space: object, table: GeneratedTable, policy: Policy, *_: object):
        offered[table.node, table.schema.name] = policy

    demo = DEMOS[sector]
    monkeypatch.setattr(demo, "publish", publish)
    monkeypatch.setattr(demo, "agree", lambda *arguments: None)
    tables = [
        GeneratedTable(node, schema, Path(f"{node}-{schema.name}.csv"), 0)
        for node, schema in _demo_tables(sector)
    ]
    if sector == "healthcare":
        demo.offer(Narrator(lambda _: None, bars=False), None, {t.node: t for t in tables})
    elif sector == "ocean":
        keyed = {(t.node, t.schema.name): t for t in tables}
        demo.offer(Narrator(lambda _: None, bars=False), None, keyed)
    else:
        keyed = {t.schema.name: t for t in tables}
        demo.offer(Narrator(lambda _: None, bars=False), None, keyed)

    pages = documented(sector)
    assert set(offered) == set(pages)
    for (node, dataset), policy in offered.items():
        assert policy == build(pages[node, dataset], node, dataset), (node, dataset)


def _demo_tables(sector: str) -> list[tuple[str, TableSchema]]:
    if sector == "healthcare":
        return [(node, healthcare.VISITS) for node in healthcare.HOSPITALS] + [
            (healthcare.INSURER, healthcare.CLAIMS)
        ]
    if sector == "ocean":
        return [
            (ranch, schema)
            for ranch in ocean.RANCHES
            for schema in (ocean.OBSERVATIONS, ocean.CATCH_LOGS)
        ] + [(ocean.PORT, ocean.VESSEL_REGISTRY)]
    return [
        (power.GRID, power.METER_READINGS),
        (power.GRID, power.ENTERPRISE_CONSUMPTION),
        (power.BANK, power.LOAN_BOOK),
    ]


@pytest.mark.parametrize("sector", SECTORS)
def test_the_column_tables_follow_the_schemas(sector: str) -> None:
    schemas = marked(page(sector), "schema")
    assert [argument for argument, _ in schemas] == [f"{sector}.{name}" for name in SCHEMAS[sector]]
    for argument, lines in schemas:
        schema: TableSchema = getattr(SECTORS[sector], argument.split(".")[1])
        rows = table_rows(lines)
        assert [(name, kind) for name, kind, _ in rows] == [
            (f"`{column.name}`", column.type.value) for column in schema.columns
        ], argument
        assert all(meaning for _, _, meaning in rows), argument

        def shown(*names: str | None) -> str:
            return ", ".join(f"`{name}`" for name in names if name) or "none"

        expected = (
            f"Subject column: {shown(schema.subject_column)}",
            f"Time column: {shown(schema.time_column)}",
            f"Location columns: {shown(*(schema.location_columns or ()))}",
        )
        assert bullets(lines[len(rows) + 3 :]) == expected, argument


def test_the_area_tables_follow_the_boxes() -> None:
    areas = marked(page("ocean"), "areas")
    assert [argument for argument, _ in areas] == ["ocean.RANCH_AREAS", "ocean.SEA_AREAS"]
    for argument, lines in areas:
        boxes: dict[str, BoundingBox] = getattr(ocean, argument.split(".")[1])
        shown = {
            name.strip("`"): tuple(Decimal(value) for value in values)
            for name, *values in table_rows(lines)
        }
        assert shown == {
            name: tuple(Decimal(str(edge)) for edge in (box.west, box.south, box.east, box.north))
            for name, box in boxes.items()
        }, argument


@pytest.mark.parametrize("sector", SECTORS)
def test_each_page_says_how_to_run_its_story(sector: str) -> None:
    text = page(sector)
    assert f"tds demo {sector}" in text
    assert f"](../../examples/{sector}.ipynb)" in text
    assert 'pip install -e ".[notebooks]"' in text
    assert f"{sector}.generate(" in text


@pytest.mark.parametrize("name", ["README.md", "healthcare.md", "ocean.md", "power.md"])
def test_every_link_is_to_a_file_in_the_repository(name: str) -> None:
    path = PAGES / name
    prose = _FENCE.sub("", path.read_text(encoding="utf-8"))
    assert "://" not in prose, f"{name} links outside the repository"
    links = _LINK.findall(prose)
    assert links, f"{name} links nowhere"
    for link in links:
        target = (path.parent / link.split("#")[0]).resolve()
        assert target.is_relative_to(ROOT) and target.exists(), f"{name}: {link} is not a file here"


def test_the_index_links_every_sector_page_and_notebook() -> None:
    text = (PAGES / "README.md").read_text(encoding="utf-8")
    for sector in SECTORS:
        assert f"]({sector}.md)" in text
        assert f"](../../examples/{sector}.ipynb)" in text
    assert "tds demo SECTOR" in text


def test_the_repository_readme_links_the_sector_pages() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/sectors/README.md)" in readme
