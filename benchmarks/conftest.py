"""Side-by-side benchmarks: every group times a peer and tds in one run.

Each benchmark calls :func:`compare` with its group, implementation and how
many items one round processes. At the end of the session a table per group
gives time per item and the speed-up of tds over the peer measured in the
same run (also stored in each tds benchmark's ``extra_info``).

``TDS_BENCH_SMOKE=1`` shrinks every size so that ``make test`` can run the
files as plain tests (with ``--benchmark-disable``) and keep them working.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

SMOKE = os.environ.get("TDS_BENCH_SMOKE") == "1"


def size(full: int, smoke: int) -> int:
    """The size for this run: ``full`` under ``make bench``, ``smoke`` under ``make test``."""
    return smoke if SMOKE else full


@dataclass
class Group:
    peer: str = ""
    per_item: dict[str, float] = field(default_factory=dict)
    unit: str = "item"


_groups: dict[str, Group] = {}


def compare(
    benchmark,
    group: str,
    implementation: str,
    function: Callable[[], Any],
    *,
    items: int,
    unit: str = "item",
    rounds: int = 3,
) -> Any:
    """Time ``function`` (which handles ``items`` items) as one implementation in ``group``.

    The first implementation timed in a group is the peer the others are compared with.
    """
    benchmark.group = group
    result = benchmark.pedantic(function, rounds=rounds)
    _record(benchmark, group, implementation, items, unit)
    return result


def _record(benchmark, group: str, implementation: str, items: int, unit: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: nothing was timed
        return
    entry = _groups.setdefault(group, Group(peer=implementation, unit=unit))
    per_item = stats.stats.median / items
    entry.per_item[implementation] = per_item
    benchmark.extra_info["seconds_per_" + unit] = per_item
    if implementation != entry.peer and entry.peer in entry.per_item:
        speedup = entry.per_item[entry.peer] / per_item
        benchmark.extra_info[f"speedup_vs_{entry.peer}"] = round(speedup, 2)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _groups:
        return
    write = terminalreporter.write_line
    write("")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    write(f"side by side ({machine})")
    for name, group in _groups.items():
        write(f"  {name}")
        peer_time = group.per_item.get(group.peer)
        for implementation, per_item in group.per_item.items():
            ratio = f"{peer_time / per_item:9.3g}x" if peer_time else ""
            write(f"    {implementation:<28} {per_item * 1e6:14.2f} us/{group.unit}  {ratio}")
