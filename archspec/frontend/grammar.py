"""The grammar (archspec.lark), its keywords, and where parsed text lies in its file."""

from __future__ import annotations

from functools import lru_cache

from lark import Lark

from archspec.diagnostics import Diagnostic
from archspec.frontend import table
from archspec.source import Source, Span

KEYWORDS = frozenset(
    [
        "network",
        "display",
        "input",
        "shortcut",
        "param",
        "paper",
        "stem",
        "stage",
        "head",
        "block",
        "projection",
        "let",
        "identity",
        "x",
        "if",
        "else",
        "and",
        "or",
        "not",
        "true",
        "false",
        "as",
        "add",
        "concat",
        "mul",
    ]
)


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, from the shipped tables (``table``): built once per process."""
    return table.load()


class Locator:
    """Maps offsets in a parsed text to spans in its source file."""

    def __init__(self, source: Source, offsets: list[int] | None = None) -> None:
        self.source = source
        self.offsets = offsets

    def file_offset(self, offset: int) -> int:
        if self.offsets is None:
            return offset
        if not self.offsets:
            return 0
        return self.offsets[min(max(offset, 0), len(self.offsets) - 1)]

    def span(self, start: int, end: int) -> Span:
        first = self.file_offset(start)
        last = self.file_offset(max(start, end - 1)) + 1
        return self.source.span_of(first, last)


class SyntaxProblem(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
