"""The sector demos behind ``tds demo``: a whole data space on this machine, one story each.

Each demo starts a local data space (a certificate authority and one daemon process per
node), writes synthetic data for its sector with :mod:`tds.sectors`, publishes it under the
sector's terms, negotiates agreements, runs real jobs between the daemons, checks every
answer against the same computation done in the open, and stops and removes everything at
the end. The example notebooks tell the same stories step by step.
"""

from __future__ import annotations

from collections.abc import Callable

from tds.demo import _healthcare, _ocean, _power
from tds.demo._common import open_space
from tds.demo._narration import Narrator
from tds.errors import ConfigError

__all__ = ["SECTORS", "run"]

_STORIES = {"healthcare": _healthcare, "ocean": _ocean, "power": _power}
SECTORS = tuple(_STORIES)


def run(sector: str, *, echo: Callable[[str], None] = print, bars: bool = True) -> None:
    """Run ``sector``'s demo, telling it through ``echo``; ``bars`` draws progress bars."""
    story = _STORIES.get(sector)
    if story is None:
        raise ConfigError(f"no demo for {sector!r:.40}; choose one of {', '.join(SECTORS)}")
    narrator = Narrator(echo, bars=bars)
    space = open_space(narrator, story.NODES, story.NAME)
    try:
        story.run(narrator, space)
    finally:
        space.stop()
    narrator.heading(f"All {len(story.NODES)} daemons stopped; the data space is removed.")
