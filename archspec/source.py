"""Source text and spans: where a piece of a spec came from, and how to show it."""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

WIDEST_LINE = 100
"""Longer source lines are shown as a window around the caret."""

_UNUSUAL = re.compile(r"[^\n\x20-\x7e]")
"""Characters other than newline and printable ASCII: looked at one by one."""
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories a terminal acts on or hides: controls, formats (bidirectional
overrides, zero-width characters), lone surrogates, line and paragraph separators."""


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    if unicodedata.category(char) not in _HIDDEN:
        return char
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def printable(text: str) -> str:
    """Text as it may reach a terminal: every control or format character (ESC, CR, TAB,
    a bidirectional override, a lone surrogate) is shown as an escape such as ``\\x1b``, so
    a spec can neither drive the terminal nor hide text. Newlines are kept. Every
    renderer of spec text (diagnostics, summary, diff, the command line) goes through it."""
    return _UNUSUAL.sub(_shown, text)


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
    """The text of one spec, kept so diagnostics can quote it; ``path`` is the file it was
    read from (None for text given directly or on standard input)."""

    def __init__(self, name: str, text: str, path: Path | None = None) -> None:
        self.name = name
        self.text = text
        self.path = path
        self.lines = [line.removesuffix("\r") for line in text.split("\n")]
        """Split at newlines only, as positions count them (not at form feeds or U+2028)."""
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
        """Render the spanned line with a caret underline, rustc style: a long line as a
        window around the caret, control characters made visible, the caret under them."""
        if not 1 <= span.line <= len(self.lines):
            return ""
        raw = self.lines[span.line - 1]
        first = min(span.column - 1, len(raw))
        last = min(span.end_column - 1, len(raw)) if span.end_line == span.line else len(raw)
        prefix = suffix = ""
        if len(raw) > WIDEST_LINE:
            start = max(0, first - WIDEST_LINE // 3)
            prefix = "..." if start else ""
            suffix = "..." if start + WIDEST_LINE < len(raw) else ""
            raw = raw[start : start + WIDEST_LINE]
            first, last = first - start, min(last - start, len(raw))
        shown = [" " if char == "\t" else printable(char) for char in raw]
        offsets = list(accumulate((len(piece) for piece in shown), initial=0))
        width = max(1, offsets[max(first, last)] - offsets[first])
        gutter = " " * len(str(span.line))
        marker = " " * (len(prefix) + offsets[first]) + "^" * width
        return "\n".join(
            [
                f"{gutter} |",
                f"{span.line} | {prefix}{''.join(shown)}{suffix}",
                f"{gutter} | {marker}{' ' + printable(label) if label else ''}",
            ]
        )
