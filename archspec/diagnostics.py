"""Diagnostics: located, coded error messages, collected and raised once as SpecError.

Codes are stable and grouped by stage: E1xx syntax, E2xx schema, E3xx shapes and
semantics, E4xx backends and output. Output is bounded: identical diagnostics are merged
into one with a count, at most MAX_SHOWN are printed, and compiling stops after
MAX_COLLECTED distinct ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

from archspec.source import Source, Span, printable

MAX_SHOWN = 50
"""Diagnostics printed for one spec; the rest are counted ("... and 12 more errors")."""
MAX_COLLECTED = 1000
"""Distinct diagnostics gathered before compiling stops: a spec full of mistakes is
reported in bounded time and memory."""
MAX_TEXT = 300
"""Characters of a message, label or help kept: a 1 MiB name is not printed whole."""
MAX_HINT_WORD = 64
"""Longer words get no spelling hint (matching costs the product of the lengths)."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a spec: what, where, and how to fix it."""

    code: str
    message: str
    span: Span | None = None
    label: str = ""
    help: str = ""

    def short(self) -> str:
        """The one-line form for editors and CI: ``file:line:col: error[E300]: ...``."""
        where = f"{self.span}: " if self.span else ""
        return printable(f"{where}error[{self.code}]: {self.message}")

    def render(self, sources: dict[str, Source]) -> str:
        lines = [printable(f"error[{self.code}]: {self.message}")]
        if self.span:
            lines.append(printable(f" --> {self.span}"))
            source = sources.get(self.span.file)
            if source is not None:
                excerpt = source.excerpt(self.span, self.label)
                if excerpt:
                    lines.append(excerpt)
        if self.help:
            lines.append(printable(f"  = help: {self.help}"))
        return "\n".join(lines)


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def _repeated(diagnostic: Diagnostic, times: int) -> Diagnostic:
    """One diagnostic standing for ``times`` identical ones."""
    if times == 1:
        return diagnostic
    return replace(diagnostic, message=f"{diagnostic.message} ({times:,} times)")


class SpecError(Exception):
    """A spec could not be compiled; carries every diagnostic found, identical ones
    merged, sorted by position. ``complete`` is False when compiling stopped early."""

    def __init__(
        self,
        diagnostics: Iterable[Diagnostic],
        sources: dict[str, Source] | None = None,
        complete: bool = True,
    ) -> None:
        counts: dict[Diagnostic, int] = {}
        for diagnostic in diagnostics:
            counts[diagnostic] = counts.get(diagnostic, 0) + 1
        self.diagnostics = sorted(
            (_repeated(d, times) for d, times in counts.items()), key=_position
        )
        self.sources = dict(sources or {})
        self.complete = complete
        super().__init__(self.render())

    @property
    def span(self) -> Span | None:
        """The location of the first problem."""
        return self.diagnostics[0].span if self.diagnostics else None

    @property
    def code(self) -> str:
        return self.diagnostics[0].code if self.diagnostics else ""

    def _more(self) -> list[str]:
        """The closing line for what is not shown, if anything is not."""
        hidden = len(self.diagnostics) - MAX_SHOWN
        note = "" if self.complete else f"; stopped after {MAX_COLLECTED:,} distinct errors"
        if hidden > 0:
            return [f"... and {hidden:,} more error{'s' if hidden != 1 else ''}{note}"]
        return [note[2:]] if note else []

    def render(self) -> str:
        shown = [d.render(self.sources) for d in self.diagnostics[:MAX_SHOWN]]
        return "\n\n".join(shown + self._more())

    def short(self) -> str:
        return "\n".join([d.short() for d in self.diagnostics[:MAX_SHOWN]] + self._more())

    def as_json(self) -> list[dict[str, object]]:
        """Every diagnostic as plain data (code, message, span, label, help), for tools."""
        return [{**asdict(d), "span": d.span and asdict(d.span)} for d in self.diagnostics]


def _position(diagnostic: Diagnostic) -> tuple[str, int, int]:
    span = diagnostic.span
    return (span.file, span.line, span.column) if span else ("", 0, 0)


def did_you_mean(word: str, choices: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    """A 'did you mean' hint, from known aliases first, then from spelling."""
    return _hint(word, tuple(sorted(set(choices))), (aliases or {}).get(word))


@lru_cache(maxsize=4096)
def _hint(word: str, options: tuple[str, ...], alias: str | None) -> str:
    """Memoized: one misspelt name repeated x 100000 is matched once."""
    if alias in options:
        return f"did you mean '{alias}'?"
    close = (
        difflib.get_close_matches(word, options, n=1, cutoff=0.6)
        if len(word) <= MAX_HINT_WORD
        else []
    )
    if close:
        return f"did you mean '{close[0]}'?"
    if 0 < len(options) <= 12:
        return "expected one of " + ", ".join(f"'{o}'" for o in options)
    return ""


class TooManyErrors(Exception):
    """The collector holds MAX_COLLECTED distinct diagnostics: compiling stops here."""


ErrorKey = tuple[str, str, Span | None, str, str]


class Collector:
    """Gathers independent diagnostics so that one run reports them all; identical ones
    are counted, not stored again (cheaply: a mistake repeated x 100000 costs a tuple)."""

    def __init__(self) -> None:
        self.found: dict[ErrorKey, Diagnostic] = {}
        self.counts: dict[ErrorKey, int] = {}
        self.log: list[ErrorKey] = []  # every error as it came, for ``since`` and ``repeat``

    def since(self, mark: int) -> list[ErrorKey]:
        """The errors reported since ``len(self.log)`` was ``mark``."""
        return self.log[mark:]

    def repeat(self, keys: list[ErrorKey], times: int) -> None:
        """Report these errors ``times`` more times, as the same mistake repeated would."""
        for key in keys:
            self.counts[key] += times
        self.log += keys * times

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return list(self.found.values())

    def add(self, diagnostic: Diagnostic) -> None:
        d = diagnostic
        self._count((d.code, d.message, d.span, d.label, d.help), lambda: d)

    def error(
        self, code: str, message: str, span: Span | None, label: str = "", help: str = ""
    ) -> None:
        self._count(
            (code, message, span, label, help),
            lambda: Diagnostic(code=code, message=message, span=span, label=label, help=help),
        )

    def _count(self, key: ErrorKey, make: Callable[[], Diagnostic]) -> None:
        self.log.append(key)
        if key in self.counts:
            self.counts[key] += 1
            return
        if len(self.counts) >= MAX_COLLECTED:
            raise TooManyErrors
        diagnostic = make()
        if max(len(diagnostic.message), len(diagnostic.label), len(diagnostic.help)) > MAX_TEXT:
            diagnostic = replace(
                diagnostic,
                message=_clipped(diagnostic.message),
                label=_clipped(diagnostic.label),
                help=_clipped(diagnostic.help),
            )
        self.found[key] = diagnostic
        self.counts[key] = 1

    def raise_if_any(self, sources: dict[str, Source], complete: bool = True) -> None:
        if self.found:
            raise SpecError(
                [_repeated(self.found[key], times) for key, times in self.counts.items()],
                sources,
                complete,
            )
