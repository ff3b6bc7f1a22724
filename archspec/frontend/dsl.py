"""The DSL parser: text -> located syntax tree, with parser errors made human.

The same grammar reads whole .arch files and the DSL values inside YAML specs. A
Locator maps offsets in the parsed text back to the spec file, so a position inside a
YAML string is reported at its real line and column.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib.resources import files
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from archspec.diagnostics import Diagnostic
from archspec.frontend import syntax as s
from archspec.source import Source, Span

ParseTree = Tree[Token]

START_RULES = ("file", "definitions", "sequence", "stage", "shape", "expr")
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
    grammar = files("archspec.frontend").joinpath("archspec.lark").read_text()
    return Lark(grammar, parser="lalr", start=list(START_RULES), propagate_positions=True)


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
        return _Builder(locator).build(parse_tree(text, start))
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


def _tree(node: ParseTree | Token | None) -> ParseTree:
    """A child the grammar guarantees to be a subtree (an internal invariant, not input)."""
    assert isinstance(node, Tree), node
    return node


class _Builder:
    """Turns a lark parse tree into archspec.frontend.syntax nodes with spans."""

    def __init__(self, locator: Locator) -> None:
        self.locator = locator

    def span(self, node: ParseTree | Token) -> Span:
        if isinstance(node, Token):
            return self.locator.span(node.start_pos or 0, node.end_pos or 0)
        return self.locator.span(node.meta.start_pos, node.meta.end_pos)

    def build(self, tree: ParseTree) -> Any:
        method: Callable[[ParseTree], Any] = getattr(self, f"_{tree.data}")
        return method(tree)

    # -- expressions --
    def expr(self, node: ParseTree | Token) -> s.Expr:
        result = self.build(_tree(node))
        assert isinstance(result, (s.Literal, s.Name, s.Unary, s.Binary, s.Ternary))
        return result

    def _number(self, tree: ParseTree) -> s.Literal:
        text = str(tree.children[0])
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        return s.Literal(value, self.span(tree))

    def _name(self, tree: ParseTree) -> s.Name:
        return s.Name(str(tree.children[0]), self.span(tree))

    def _string(self, tree: ParseTree) -> s.Literal:
        return s.Literal(str(tree.children[0])[1:-1], self.span(tree))

    def _true(self, tree: ParseTree) -> s.Literal:
        return s.Literal(True, self.span(tree))

    def _false(self, tree: ParseTree) -> s.Literal:
        return s.Literal(False, self.span(tree))

    def _minus(self, tree: ParseTree) -> s.Unary:
        return s.Unary("-", self.expr(tree.children[0]), self.span(tree))

    def _negation(self, tree: ParseTree) -> s.Unary:
        return s.Unary("not", self.expr(tree.children[0]), self.span(tree))

    def _ternary(self, tree: ParseTree) -> s.Ternary:
        then, condition, otherwise = (self.expr(c) for c in tree.children)
        return s.Ternary(then, condition, otherwise, self.span(tree))

    def _chain(self, tree: ParseTree, operator: str | None = None) -> s.Expr:
        """Left-associative chains: ``a op b op c`` (operator tokens inline, or fixed)."""
        children = list(tree.children)
        result = self.expr(children.pop(0))
        while children:
            op = operator if operator else str(children.pop(0))
            right = self.expr(children.pop(0))
            start = result.span
            span = Span(
                file=start.file,
                line=start.line,
                column=start.column,
                end_line=right.span.end_line,
                end_column=right.span.end_column,
            )
            result = s.Binary(op, result, right, span)
        return result

    def _arith(self, tree: ParseTree) -> s.Expr:
        return self._chain(tree)

    _term = _arith
    _comparison = _arith

    def _or_test(self, tree: ParseTree) -> s.Expr:
        return self._chain(tree, "or")

    def _and_test(self, tree: ParseTree) -> s.Expr:
        return self._chain(tree, "and")

    # -- calls and sequences --
    def _call(self, tree: ParseTree) -> s.Call:
        name, arguments = tree.children
        args = (
            tuple(self._argument(_tree(a)) for a in _tree(arguments).children) if arguments else ()
        )
        return s.Call(str(name), args, self.span(tree), self.span(name))

    def _argument(self, tree: ParseTree) -> s.Argument:
        keyword, value = tree.children
        return s.Argument(str(keyword) if keyword else None, self.expr(value), self.span(tree))

    def _branches(self, tree: ParseTree) -> s.Branches:
        combine, *branches = tree.children
        return s.Branches(
            str(combine.children[0]) if isinstance(combine, Tree) else str(combine),
            tuple(self._branch(_tree(b)) for b in branches if b is not None),
            self.span(tree),
        )

    def _branch(self, tree: ParseTree) -> tuple[s.Item, ...] | str:
        if tree.data == "identity_branch":
            return "identity"
        if tree.data == "shortcut_branch":
            return "shortcut"
        return self._sequence(_tree(tree.children[0]))

    def _group(self, tree: ParseTree) -> s.Group:
        return s.Group(self._sequence(_tree(tree.children[0])), self.span(tree))

    def _sequence(self, tree: ParseTree) -> tuple[s.Item, ...]:
        return tuple(self._item(_tree(c)) for c in tree.children)

    def _item(self, tree: ParseTree) -> s.Item:
        name, target, repeat, condition = tree.children
        return s.Item(
            target=self.build(_tree(target)),
            span=self.span(tree),
            name=str(name) if name else None,
            name_span=self.span(name) if name else None,
            repeat=self.expr(repeat) if repeat is not None else None,
            condition=self.expr(condition) if condition is not None else None,
        )

    def _stage(self, tree: ParseTree) -> s.Stage:
        call, depth, _slash, stride, shortcut = tree.children
        return s.Stage(
            call=self._call(_tree(call)),
            span=self.span(tree),
            depth=self.expr(depth) if depth is not None else None,
            stride=self.expr(stride) if stride is not None else None,
            shortcut=str(shortcut) if shortcut else None,
            shortcut_span=self.span(shortcut) if shortcut else None,
        )

    # -- definitions --
    def _formals(self, tree: ParseTree | None) -> tuple[s.Formal, ...]:
        if tree is None:
            return ()
        return tuple(self._formal(_tree(f)) for f in tree.children)

    def _formal(self, tree: ParseTree) -> s.Formal:
        name, default = tree.children
        return s.Formal(
            str(name), self.expr(default) if default is not None else None, self.span(tree)
        )

    def _let(self, tree: ParseTree) -> s.Let:
        name, value = tree.children
        return s.Let(str(name), self.expr(value), self.span(tree))

    def _split_definition(
        self, tree: ParseTree
    ) -> tuple[str, tuple[s.Formal, ...], tuple[s.Let, ...], list[Any]]:
        name, formals, *rest = tree.children
        lets = tuple(self._let(c) for c in rest if isinstance(c, Tree) and c.data == "let")
        others = [c for c in rest if not (isinstance(c, Tree) and c.data == "let")]
        return (
            str(name),
            self._formals(_tree(formals) if formals is not None else None),
            lets,
            others,
        )

    def _block_def(self, tree: ParseTree) -> s.BlockDef:
        name, formals, lets, (body, addition, after) = self._split_definition(tree)
        return s.BlockDef(
            name=name,
            formals=formals,
            lets=lets,
            body=self._sequence(body),
            addition=str(addition.children[0]) if addition is not None else None,
            after=self._sequence(after) if after is not None else (),
            span=self.span(tree.children[0]),
        )

    def _projection_def(self, tree: ParseTree) -> s.ProjectionDef:
        name, formals, lets, (body,) = self._split_definition(tree)
        return s.ProjectionDef(
            name, formals, lets, self._sequence(body), self.span(tree.children[0])
        )

    def _definitions(self, tree: ParseTree) -> tuple[s.Definition, ...]:
        return tuple(self.build(_tree(c)) for c in tree.children)

    def _shape(self, tree: ParseTree) -> s.Located:
        return s.Located(str(tree.children[0]), self.span(tree))

    # -- whole .arch files: (keyword, payload) statements, assembled by archfile.py --
    def _file(self, tree: ParseTree) -> list[tuple[str, Any, Span]]:
        return [(_tree(c).data, self.build(_tree(c)), self.span(c)) for c in tree.children]

    def _network(self, tree: ParseTree) -> s.Located:
        return s.Located(str(tree.children[0]), self.span(tree.children[0]))

    def _input(self, tree: ParseTree) -> s.Located:
        return s.Located(str(tree.children[0]), self.span(tree.children[0]))

    _shortcut = _network

    def _param(self, tree: ParseTree) -> tuple[s.Formal, ...]:
        return tuple(self._formal(_tree(f)) for f in tree.children)

    def _paper(self, tree: ParseTree) -> dict[str, s.Located]:
        figures = {}
        for item in tree.children:
            key, value = _tree(item).children
            text = str(value)
            is_string = isinstance(value, Token) and value.type == "STRING"
            parsed: s.Value = text[1:-1] if is_string else float(text)
            figures[str(key)] = s.Located(parsed, self.span(item))
        return figures

    def _stem(self, tree: ParseTree) -> tuple[s.Item, ...]:
        return self._sequence(_tree(tree.children[0]))

    _head = _stem

    def _stage_stmt(self, tree: ParseTree) -> tuple[s.Located, s.Stage]:
        name, stage = tree.children
        return s.Located(str(name), self.span(name)), self._stage(_tree(stage))
