"""Source text and spans: where a piece of a spec came from, and how to show it."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

WIDEST_LINE = 100
"""Longer source lines are shown as a window around the caret."""


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based, end-exclusive region of one source file (hashed often: a plain dataclass)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Source:
    """The text of one spec file, kept so diagnostics can quote it."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.lines = text.splitlines()
        self._line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def span_of(self, start: int, end: int) -> Span:
        """The span of characters ``start`` (inclusive) to ``end`` (exclusive)."""
        line, column = self.position(start)
        end_line, end_column = self.position(max(start + 1, end) - 1)
        return self.span(line, column, end_line, end_column + 1)

    def span(self, line: int, column: int, end_line: int, end_column: int) -> Span:
        return Span(
            file=self.name, line=line, column=column, end_line=end_line, end_column=end_column
        )

    def excerpt(self, span: Span, label: str = "") -> str:
        """Render the spanned line with a caret underline, rustc style."""
        if not 1 <= span.line <= len(self.lines):
            return ""
        text = self.lines[span.line - 1].expandtabs(1)
        last = span.end_column if span.end_line == span.line else len(text) + 1
        width = max(1, last - span.column)
        column = span.column
        if len(text) > WIDEST_LINE:  # show a window around the caret, not the whole line
            start = max(0, column - 1 - WIDEST_LINE // 3)
            text = ("..." if start else "") + text[start : start + WIDEST_LINE] + "..."
            column = column - start + (3 if start else 0)
            width = min(width, WIDEST_LINE - (column - 1) + 3)
        gutter = " " * len(str(span.line))
        marker = " " * (column - 1) + "^" * max(1, width)
        return "\n".join(
            [
                f"{gutter} |",
                f"{span.line} | {text}",
                f"{gutter} | {marker}{' ' + label if label else ''}",
            ]
        )
