"""The Python snippets of README.md and docs/ run as tests, each as if pasted alone.

Sybil collects every fenced ``python`` block. Each block starts from an empty namespace, so
a block that leans on names from an earlier one fails here exactly as it would for a reader
who pastes it into a fresh interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown import PythonCodeBlockParser


class _PastedAlone(PythonCodeBlockParser):
    def __call__(self, document: Document) -> Iterable[Region]:
        for region in super().__call__(document):
            region.evaluator = _in_fresh_namespace(region.evaluator)
            yield region


def _in_fresh_namespace(evaluator: Callable) -> Callable:
    def evaluate(example: Example) -> object:
        example.namespace.clear()
        return evaluator(example)

    return evaluate


pytest_collect_file = Sybil(
    parsers=[_PastedAlone()], patterns=["README.md", "docs/*.md", "docs/sectors/*.md"]
).pytest()
