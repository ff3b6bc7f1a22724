"""The DSL parser: text -> located syntax tree, with parser errors made human.

The same grammar reads whole .arch files and the DSL values inside YAML specs. A
Locator maps offsets in the parsed text back to the spec file, so a position inside a
YAML string is reported at its real line and column.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from archspec.diagnostics import Diagnostic
from archspec.frontend import syntax as s
from archspec.frontend import table
from archspec.frontend.tree import TreeBuilder
from archspec.source import Source, Span

ParseTree = Tree[Token]

KEYWORDS = frozenset(
    [
        "network",
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


@lru_cache(maxsize=1024)
def parse_tree(text: str, start: str) -> ParseTree:
    """Lark's tree for a text, which depends on the text alone: a family of specs, a sweep
    over a parameter, or an editor checking again parses each distinct text once.
    Positions are mapped to the file per load, so spans are always the caller's own."""
    return parser().parse(text, start=start)


def parse(text: str, start: str, locator: Locator) -> Any:
    """Parse ``text`` from a start rule into syntax nodes; raises SyntaxProblem."""
    try:
        return TreeBuilder(locator).build(parse_tree(text, start))
    except UnexpectedInput as error:
        raise SyntaxProblem(_describe(error, text, locator)) from None
    except RecursionError:
        depth = max(text.count("("), text.count("-"))
        diagnostic = Diagnostic(
            code="E313",
            message=f"the text is nested absurdly deep (about {depth} levels)",
            span=locator.span(0, 1),
            help="flatten the parentheses; groups rarely need more than a few levels",
        )
        raise SyntaxProblem(diagnostic) from None


def parse_literal(text: str) -> s.Value:
    """A command-line value: a number or boolean in DSL syntax, else the text itself."""
    source = Source("<command line>", text)
    try:
        node = parse(text, "expr", Locator(source))
    except SyntaxProblem:
        return text
    if isinstance(node, s.Literal):
        return node.value
    if isinstance(node, s.Unary) and node.operator == "-" and isinstance(node.operand, s.Literal):
        value = node.operand.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
    return text


def _terminal_text(name: str) -> str:
    friendly = {
        "NAME": "a name",
        "NUMBER": "a number",
        "STRING": "a string",
        "SHAPE": "a shape like 3x224x224",
        "COMPARE": "a comparison",
        "ADD": "'+' or '-'",
        "MUL": "'*', '//' or '%'",
        "SLASH": "'/'",
        "SHORTCUT_KIND": "'shortcut' or 'identity'",
        "$END": "the end of the text",
    }
    if name in friendly:
        return friendly[name]
    for terminal in parser().terminals:
        if terminal.name == name and terminal.pattern.type == "str":
            return f"'{terminal.pattern.value}'"
    return name.lower()


def _expected(names: set[str]) -> str:
    shown = sorted({_terminal_text(n) for n in names})
    if len(shown) > 8:
        shown = [*shown[:8], "..."]
    return ", ".join(shown)


def _describe(error: UnexpectedInput, text: str, locator: Locator) -> Diagnostic:
    position = getattr(error, "pos_in_stream", None)
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        position = len(text)
    if isinstance(error, UnexpectedEOF) or position is None:
        position = len(text)
    length = 1
    found = text[position : position + 1]
    hint = ""
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        found = str(error.token)
        length = max(1, len(found))
        expected = _expected(set(error.accepts or error.expected or ())) or "another item"
        if found == ")":
            hint = "this ')' has no matching '('"
        elif found in KEYWORDS and "NAME" in (error.accepts or error.expected or ()):
            hint = f"'{found}' is a keyword and cannot be used as a name"
    elif isinstance(error, UnexpectedCharacters):
        expected = _expected(set(error.allowed or ()))
        if found == ":":
            hint = "name items and pass arguments with '=', e.g. conv1=conv(64, 3, stride=2)"
        elif found == "[":
            hint = "group items with parentheses: features=(conv(64, 3) relu)"
    else:
        expected = _expected(set(getattr(error, "expected", ()) or ()))
        found = ""
    if not found:
        message = f"unexpected end of text; expected {expected}"
        if text.count("(") > text.count(")"):
            hint = "a '(' is not closed"
        start = max(0, len(text) - 1)
        span = locator.span(start, start + 1)
    else:
        message = f"unexpected '{found}'; expected {expected}"
        span = locator.span(position, position + length)
    label = "not expected here" if found else "the text ends here"
    return Diagnostic(code="E100", message=message, span=span, label=label, help=hint)
