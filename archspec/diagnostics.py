"""Diagnostics: located, coded error messages, collected and raised once as SpecError.

Codes are stable and grouped by stage: E1xx syntax, E2xx schema, E3xx shapes and
semantics, E4xx backends and output.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from archspec.source import Source, Span


class Diagnostic(BaseModel):
    """One problem found in a spec: what, where, and how to fix it."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    span: Span | None = None
    label: str = ""
    help: str = ""

    def short(self) -> str:
        """The one-line form for editors and CI: ``file:line:col: error[E300]: ...``."""
        where = f"{self.span}: " if self.span else ""
        return f"{where}error[{self.code}]: {self.message}"

    def render(self, sources: dict[str, Source]) -> str:
        lines = [f"error[{self.code}]: {self.message}"]
        if self.span:
            lines.append(f" --> {self.span}")
            source = sources.get(self.span.file)
            if source is not None:
                excerpt = source.excerpt(self.span, self.label)
                if excerpt:
                    lines.append(excerpt)
        if self.help:
            lines.append(f"  = help: {self.help}")
        return "\n".join(lines)


class SpecError(Exception):
    """A spec could not be compiled; carries every diagnostic found, sorted by position."""

    def __init__(
        self, diagnostics: Iterable[Diagnostic], sources: dict[str, Source] | None = None
    ) -> None:
        self.diagnostics = sorted(diagnostics, key=_position)
        self.sources = dict(sources or {})
        super().__init__(self.render())

    @property
    def span(self) -> Span | None:
        """The location of the first problem."""
        return self.diagnostics[0].span if self.diagnostics else None

    @property
    def code(self) -> str:
        return self.diagnostics[0].code if self.diagnostics else ""

    def render(self) -> str:
        return "\n\n".join(d.render(self.sources) for d in self.diagnostics)

    def short(self) -> str:
        return "\n".join(d.short() for d in self.diagnostics)

    def as_json(self) -> list[dict[str, object]]:
        """Every diagnostic as plain data (code, message, span, label, help), for tools."""
        return [d.model_dump(mode="json") for d in self.diagnostics]


def _position(diagnostic: Diagnostic) -> tuple[str, int, int]:
    span = diagnostic.span
    return (span.file, span.line, span.column) if span else ("", 0, 0)


def did_you_mean(word: str, choices: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    """A 'did you mean' hint, from known aliases first, then from spelling."""
    options = sorted(set(choices))
    if aliases and aliases.get(word) in options:
        return f"did you mean '{aliases[word]}'?"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if 0 < len(options) <= 12:
        return "expected one of " + ", ".join(f"'{o}'" for o in options)
    return ""


class Collector:
    """Gathers independent diagnostics so that one run reports them all."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(
        self, code: str, message: str, span: Span | None, label: str = "", help: str = ""
    ) -> None:
        self.diagnostics.append(
            Diagnostic(code=code, message=message, span=span, label=label, help=help)
        )

    def raise_if_any(self, sources: dict[str, Source]) -> None:
        if self.diagnostics:
            raise SpecError(self.diagnostics, sources)
