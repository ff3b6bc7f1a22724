"""Python source building blocks for emitters: expressions laid out as ``ruff format`` does.

An emitted module must pass ``ruff format --check`` with no formatter at hand, so layout is
decided here, with one rule that is stable under the formatter at any line length from 88
up: an expression that fits stays on one line; one that does not is exploded, one item per
line, each followed by a comma (a "magic trailing comma", which the formatter preserves).
Text from a spec reaches a docstring or comment only through ``codegen.escape``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from archspec.codegen.escape import comment_line, docstring_line, identifier

WIDTH = 88
"""ruff's default line length: a file laid out for 88 also passes at 100."""

INDENT = "    "


@dataclass(frozen=True)
class Bracket:
    """``head(items)``: a call (head ``nn.Conv2d(``), a list (``[``) or a tuple (``(``)."""

    head: str
    items: tuple[Expr, ...]
    close: str = ")"

    def flat(self) -> str:
        return self.head + ", ".join(flat(item) for item in self.items) + self.close


@dataclass(frozen=True)
class Keyword:
    """``name=value`` inside a call."""

    name: str
    value: Expr

    def flat(self) -> str:
        return f"{identifier(self.name)}={flat(self.value)}"


@dataclass(frozen=True)
class Repeat:
    """``*(item for _ in range(count))``: ``count`` equal items in a call, written once;
    the count a number, or an expression of the constructor's arguments (``n - 1``).
    Copies of several items each: ``*(module for _ in range(count) for module in (a, b))``.
    Copies that read their index: ``index`` names it, counted from ``start``; ``opener``
    and ``closer`` make them a dict's entries (``**{f"unit{i + 1}": ... for i in ...}``)."""

    items: tuple[Expr, ...]
    count: int | str
    index: str = "_"
    start: int = 0
    opener: str = "*("
    closer: str = ")"

    @property
    def single(self) -> bool:
        """One item that is a module (a starred item needs the loop over a tuple)."""
        return len(self.items) == 1 and not isinstance(self.items[0], Present)

    @property
    def span(self) -> Bracket:
        """``range(count)`` or ``range(start, count)``."""
        return call("range", *([str(self.start)] if self.start else []), str(self.count))

    def flat(self) -> str:
        copies = f"for {self.index} in {self.span.flat()}"
        if self.single:
            return f"{self.opener}{flat(self.items[0])} {copies}{self.closer}"
        return f"*({REPEATED} {copies} for {REPEATED} in ({tuple_of(self.items)}))"


@dataclass(frozen=True)
class NamedCopies:
    """Copies of one module in a named sequential, ``range(start, count)``, each named by
    ``name``: an expression of the copy's index ``i`` (``escape.formatted``). Each dialect
    writes them as its container's entries (``Repeat`` with ``index``)."""

    name: str
    module: Expr
    count: str
    start: int


COPY_INDEX = "i"
"""The variable named copies run over (a constructor local, as torchvision's ``for i``)."""


@dataclass(frozen=True)
class Present:
    """``*((a, b) if condition else ())``: items that exist at one value of a truth-value
    keyword (``codegen.switches``), in a call's arguments or a repeat's copy; a dict's
    entries where ``mapping`` (``**({"drop": ...} if p > 0 else {})``)."""

    items: tuple[Expr, ...]
    condition: str
    mapping: bool = False

    def flat(self) -> str:
        if self.mapping:
            entries = ", ".join(flat(item) for item in self.items)
            return f"**({{{entries}}} if {self.condition} else {{}})"
        return f"*(({tuple_of(self.items)}) if {self.condition} else ())"


def tuple_of(items: tuple[Expr, ...]) -> str:
    """The inside of a tuple's parentheses, on one line: ``a, b`` or ``a,``."""
    return ", ".join(flat(item) for item in items) + ("," if len(items) == 1 else "")


REPEATED = "module"
"""The variable a repeat of several items per copy runs over (a constructor local)."""


Expr = str | Bracket | Keyword | Repeat | Present


def flat(expr: Expr) -> str:
    return expr if isinstance(expr, str) else expr.flat()


def call(function: str, *args: Expr, **keywords: Expr) -> Bracket:
    """``function(args..., key=value...)`` with keywords in the order given."""
    items = args + tuple(Keyword(name, value) for name, value in keywords.items())
    return Bracket(function + "(", items)


def fits(line: str) -> bool:
    return len(line) <= WIDTH


def lay_out(expr: Expr, depth: int, prefix: str = "", suffix: str = "") -> list[str]:
    """Lines for ``prefix + expr + suffix`` at indentation ``depth``."""
    indent = INDENT * depth
    line = indent + prefix + flat(expr) + suffix
    if fits(line) or isinstance(expr, str):
        return [line]
    if isinstance(expr, Keyword):
        return lay_out(expr.value, depth, f"{prefix}{expr.name}=", suffix)
    if isinstance(expr, Repeat) and isinstance(expr.count, int):  # write every item
        items = [item for _ in range(expr.count) for item in expr.items]
        return [line for item in items for line in lay_out(item, depth, "", suffix)]
    if isinstance(expr, Repeat):  # split as ruff splits a generator, and kept split at any
        # line length by a magic trailing comma: the copy's, else one in range(...)
        loop, copies = expr.span, f"for {expr.index} in "
        if not expr.single:
            lines = [f"{INDENT * (depth + 1)}{REPEATED}"]
            lines += lay_out(loop, depth + 1, copies)
            lines += explode(Bracket("(", expr.items), depth + 1, f"for {REPEATED} in ")
        elif isinstance(expr.items[0], Bracket) and expr.items[0].items:
            lines = [*explode(expr.items[0], depth + 1), *lay_out(loop, depth + 1, copies)]
        else:
            lines = [*lay_out(expr.items[0], depth + 1), *explode(loop, depth + 1, copies)]
        return [f"{indent}{prefix}{expr.opener}", *lines, f"{indent}{expr.closer}{suffix}"]
    if isinstance(expr, Present):  # as ruff splits it; a magic trailing comma keeps it
        inner = INDENT * (depth + 1)
        first = expr.items[0] if len(expr.items) == 1 else None
        if expr.mapping:
            rows = explode(Bracket("{", expr.items, "}"), depth + 1)
        elif isinstance(first, Bracket) and first.items:
            rows = [f"{inner}(", *explode(first, depth + 2, suffix=","), f"{inner})"]
        else:
            rows = explode(Bracket("(", expr.items), depth + 1)
        empty = "{}" if expr.mapping else "()"
        ends = [f"{inner}if {expr.condition}", f"{inner}else {empty}", f"{indent}){suffix}"]
        return [f"{indent}{prefix}{'**' if expr.mapping else '*'}(", *rows, *ends]
    return explode(expr, depth, prefix, suffix)


def explode(expr: Bracket, depth: int, prefix: str = "", suffix: str = "") -> list[str]:
    """``expr`` one item a line, each followed by a comma (which ruff keeps exploded)."""
    indent = INDENT * depth
    lines = [indent + prefix + expr.head]
    for item in expr.items:
        lines.extend(lay_out(item, depth + 1, suffix=","))
    lines.append(indent + expr.close + suffix)
    return lines


def docstring(text: str, depth: int) -> list[str]:
    """A docstring: paragraphs apart by blank lines, lines kept, each escaped and wrapped
    to fit. Any text is safe here: ``docstring_line`` leaves no quote or break unescaped."""
    indent = INDENT * depth
    paragraphs = [
        [docstring_line(line.strip()) for line in p.strip().split("\n")]
        for p in text.strip().split("\n\n")
    ]
    if len(paragraphs) == 1 and len(paragraphs[0]) == 1:
        line = f'{indent}"""{paragraphs[0][0]}"""'
        if fits(line):
            return [line]
    lines: list[str] = []
    for paragraph in paragraphs:
        if lines:
            lines.append("")
        for raw in paragraph:
            first = indent + ('"""' if not lines else "")
            lines.extend(wrap(raw, first, indent))
    if len(lines) == 1:  # ruff joins a one-line docstring with its quotes: make it two
        lines = wrap(paragraphs[0][0], f'{indent}"""', indent, WIDTH - 3)
        if len(lines) == 1:
            return [lines[0] + '"""']
    lines.append(f'{indent}"""')
    return lines


def wrap(text: str, first: str, rest: str, width: int = WIDTH) -> list[str]:
    pieces = textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return pieces or [first.rstrip()]


def comment(text: str, depth: int) -> list[str]:
    """``# text`` wrapped to fit at ``depth``."""
    indent = INDENT * depth + "# "
    width = WIDTH - len(indent)
    return [
        indent + piece for piece in textwrap.wrap(comment_line(text), width, break_on_hyphens=False)
    ]


def top_level_source(text: str, name: str) -> str:
    """The source of one top-level class or function of a module's text, decorators
    included: how emitters copy runtime helpers without importing their framework."""
    import ast

    for node in ast.parse(text).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = text.splitlines()[first - 1 : node.end_lineno]
            return "\n".join(lines)
    raise KeyError(name)


def repeats(items: list[Expr]) -> list[Expr]:
    """Runs of three or more identical items become ``*(item for _ in range(n))``."""
    out: list[Expr] = []
    index = 0
    while index < len(items):
        end = index
        while end < len(items) and items[end] == items[index]:
            end += 1
        count = end - index
        if count >= 3:
            out.append(Repeat((items[index],), count))
        else:
            out.extend(items[index:end])
        index = end
    return out
