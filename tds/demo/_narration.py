"""How a demo talks: numbered steps, indented plain-language lines, aligned tables and bars.

Everything goes through one ``echo`` callable (``print`` by default), so that tests can read
the story, and progress bars appear only on a terminal.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence

from tds.progress import Progress, ProgressCallback

__all__ = ["Narrator"]

_WIDTH = 92
_INDENT = "   "


class Narrator:
    """Tells a demo's story through ``echo``; ``bars`` draws progress bars (on a terminal)."""

    def __init__(self, echo: Callable[[str], None] = print, *, bars: bool = True) -> None:
        self._echo = echo
        self._bars = bars
        self._steps = 0
        # The terms said last, so that a dataset offered on the same terms need not repeat them.
        self.last_terms: tuple[str, ...] = ()

    def step(self, title: str) -> None:
        """A new numbered step."""
        self._steps += 1
        self._echo(f"\n{self._steps}. {title}")

    def heading(self, title: str) -> None:
        """An unnumbered section (setting up, cleaning up)."""
        self._echo(f"\n{title}")

    def say(self, text: str, *, bullet: bool = False) -> None:
        """A paragraph, wrapped and indented; ``bullet`` starts it with a dash."""
        first = _INDENT + ("- " if bullet else "")
        rest = _INDENT + ("  " if bullet else "")
        self._echo(
            textwrap.fill(
                text,
                _WIDTH,
                initial_indent=first,
                subsequent_indent=rest,
                break_on_hyphens=False,
                break_long_words=False,
            )
        )

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """Rows under a header: text left-aligned, numbers right-aligned with separators."""
        cells = [[_cell(value) for value in row] for row in rows]
        numeric = [
            all(_is_number(row[column]) for row in rows) if rows else False
            for column in range(len(header))
        ]
        widths = [
            max([len(header[column]), *(len(row[column]) for row in cells)])
            for column in range(len(header))
        ]

        def line(values: Sequence[str]) -> str:
            parts = [
                value.rjust(width) if right else value.ljust(width)
                for value, width, right in zip(values, widths, numeric, strict=True)
            ]
            return (_INDENT + "  ".join(parts)).rstrip()

        self._echo(line(header))
        for row in cells:
            self._echo(line(row))

    def progress(self) -> ProgressCallback | None:
        """A callback drawing a bar per stage on a terminal; None elsewhere."""
        if not self._bars or not sys.stderr.isatty():
            return None
        from tds.progress import progress_bar

        bar = progress_bar(leave=False)

        def report(update: Progress) -> None:
            if update.total:
                bar(update)

        return report


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
