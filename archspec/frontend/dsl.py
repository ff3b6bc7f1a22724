"""The DSL parser: text -> located syntax tree (errors made human in parse_errors).

The same grammar reads whole .arch files and the DSL values inside YAML specs. A
Locator maps offsets in the parsed text back to the spec file, so a position inside a
YAML string is reported at its real line and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from archspec.diagnostics import Diagnostic
from archspec.frontend import syntax as s
from archspec.frontend.grammar import KEYWORDS as KEYWORDS  # names.py imports it from here
from archspec.frontend.grammar import Locator, SyntaxProblem, parser
from archspec.frontend.parse_errors import describe_error
from archspec.source import Source, Span

ParseTree = Tree[Token]


@lru_cache(maxsize=1024)
def parse_tree(text: str, start: str) -> ParseTree:
    """Lark's tree for a text, which depends on the text alone: a family of specs, a sweep
    over a parameter, or an editor checking again parses each distinct text once.
    Positions are mapped to the file per load, so spans are always the caller's own."""
    return parser().parse(text, start=start)


MAX_CACHED_TEXT = 1 << 16
"""Longer texts are parsed afresh each time: the cache holds at most 1024 small trees."""


def parse(text: str, start: str, locator: Locator) -> Any:
    """Parse ``text`` from a start rule into syntax nodes; raises SyntaxProblem."""
    try:
        tree = (
            parse_tree(text, start)
            if len(text) <= MAX_CACHED_TEXT
            else parser().parse(text, start=start)
        )
        builder = _Builder(locator)
        return builder.whole_expr(tree) if start == "expr" else builder.build(tree)
    except UnexpectedInput as error:
        raise SyntaxProblem(describe_error(error, text, locator)) from None
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
    """A command-line value: a number or boolean in DSL syntax, else the text itself.
    Raises SyntaxProblem for what can only be a mistake (a number of 5000 digits)."""
    source = Source("<command line>", text)
    try:
        node = parse(text, "expr", Locator(source))
    except SyntaxProblem as problem:
        if problem.diagnostic.code == "E100":
            return text
        raise
    if isinstance(node, s.Literal):
        return node.value
    if isinstance(node, s.Unary) and node.operator == "-" and isinstance(node.operand, s.Literal):
        value = node.operand.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
    return text


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

    def too_large(self, message: str, node: ParseTree | Token, help: str) -> SyntaxProblem:
        return SyntaxProblem(
            Diagnostic(code="E313", message=message, span=self.span(node), help=help)
        )

    def too_deep(self, node: ParseTree | Token) -> SyntaxProblem:
        return self.too_large(
            f"an expression is nested more than {s.MAX_EXPRESSION_DEPTH} levels deep",
            node,
            "name the parts with `let` or parameters",
        )

    # -- expressions --
    def expr(self, node: ParseTree | Token) -> s.Expr:
        result = self.build(_tree(node))
        assert isinstance(result, (s.Literal, s.Name, s.Unary, s.Binary, s.Ternary, s.Apply))
        return result

    def whole_expr(self, node: ParseTree | Token) -> s.Expr:
        """An expression that is a whole argument, condition, count or default: its depth
        is bounded, since evaluating it recurses once per level."""
        result = self.expr(node)
        if s.depth(result) > s.MAX_EXPRESSION_DEPTH:
            raise self.too_deep(node)
        return result

    def _number(self, tree: ParseTree) -> s.Literal:
        text = str(tree.children[0])
        if len(text) > s.MAX_NUMBER_LENGTH:
            raise self.too_large(s.NUMBER_TOO_LONG.format(length=len(text)), tree, s.NUMBER_HELP)
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        return s.Literal(value, self.span(tree))

    def _name(self, tree: ParseTree) -> s.Name:
        return s.Name(str(tree.children[0]), self.span(tree))

    def _string(self, tree: ParseTree) -> s.Literal:
        return s.Literal(_inside_quotes(tree.children[0]), self.span(tree))

    def _true(self, tree: ParseTree) -> s.Literal:
        return s.Literal(True, self.span(tree))

    def _false(self, tree: ParseTree) -> s.Literal:
        return s.Literal(False, self.span(tree))

    def _apply(self, tree: ParseTree) -> s.Apply:
        name, arguments = tree.children
        values = (
            tuple(self._argument(_tree(a)) for a in _tree(arguments).children) if arguments else ()
        )
        return s.Apply(str(name), values, self.span(tree), self.span(name))

    def _raised(self, tree: ParseTree) -> s.Binary:
        base, _, exponent = tree.children
        return s.Binary("**", self.expr(base), self.expr(exponent), self.span(tree))

    def _minus(self, tree: ParseTree) -> s.Unary:
        return s.Unary("-", self.expr(tree.children[0]), self.span(tree))

    def _negation(self, tree: ParseTree) -> s.Unary:
        return s.Unary("not", self.expr(tree.children[0]), self.span(tree))

    def _ternary(self, tree: ParseTree) -> s.Ternary:
        then, condition, otherwise = (self.expr(c) for c in tree.children)
        return s.Ternary(then, condition, otherwise, self.span(tree))

    def _chain(self, tree: ParseTree, operator: str | None = None) -> s.Expr:
        """Left-associative chains: ``a op b op c`` (operator tokens inline, or fixed)."""
        operators = len(tree.children) - 1 if operator else len(tree.children) // 2
        if operators > s.MAX_EXPRESSION_DEPTH:  # as deep as it is long: refused unbuilt
            raise self.too_deep(tree)
        children = iter(tree.children)
        result = self.expr(next(children))
        for child in children:
            op = operator if operator else str(child)
            right = self.expr(child if operator else next(children))
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
        return s.Argument(
            str(keyword) if keyword else None, self.whole_expr(value), self.span(tree)
        )

    def _branches(self, tree: ParseTree) -> s.Branches:
        combine, *branches = tree.children
        named = [
            _name_text(_tree(b.children[0]).children[0])
            for b in branches
            if isinstance(b, Tree) and b.data == "shortcut_branch" and b.children[0] is not None
        ]
        return s.Branches(
            str(_tree(combine).children[0]),
            tuple(self._branch(_tree(b)) for b in branches if b is not None),
            self.span(tree),
            named[0] if named else "downsample",
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
        count = stride = naming = None
        if repeat is not None:
            count, _slash, stride, naming = _tree(repeat).children
        token = _tree(name).children[0] if name is not None else None
        return s.Item(
            target=self.build(_tree(target)),
            span=self.span(tree),
            name=_name_text(token) if token is not None else None,
            name_span=self.span(token) if token is not None else None,
            repeat=self.whole_expr(count) if count is not None else None,
            condition=self.whole_expr(condition) if condition is not None else None,
            stride=self.whole_expr(stride) if stride is not None else None,
            naming=_inside_quotes(naming) if naming is not None else None,
        )

    def _stage(self, tree: ParseTree) -> s.Stage:
        call, depth, _slash, stride, shortcut = tree.children
        return s.Stage(
            call=self._call(_tree(call)),
            span=self.span(tree),
            depth=self.whole_expr(depth) if depth is not None else None,
            stride=self.whole_expr(stride) if stride is not None else None,
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
            str(name), self.whole_expr(default) if default is not None else None, self.span(tree)
        )

    def _let(self, tree: ParseTree) -> s.Let:
        name, value = tree.children
        return s.Let(str(name), self.whole_expr(value), self.span(tree))

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
        kind, shortcut_name = None, "downsample"
        if addition is not None:  # "+ shortcut", "+ identity", "+ proj = shortcut"
            found = ADDITION.match(str(addition.children[0]))
            if found is None:  # cannot happen: the pattern is the grammar's ADDITION token's
                raise SyntaxProblem(
                    Diagnostic(code="E100", message="unreadable addition", span=self.span(addition))
                )
            kind = found["kind"]
            if found["name"]:
                shortcut_name = found["name"].strip("\"'")
        return s.BlockDef(
            name=name,
            formals=formals,
            lets=lets,
            body=self._sequence(body),
            addition=kind,
            after=self._sequence(after) if after is not None else (),
            span=self.span(tree.children[0]),
            shortcut_name=shortcut_name,
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

    def _display(self, tree: ParseTree) -> s.Located:
        return s.Located(_inside_quotes(tree.children[0]), self.span(tree.children[0]))

    _shortcut = _network

    def _param(self, tree: ParseTree) -> tuple[s.Formal, ...]:
        return tuple(self._formal(_tree(f)) for f in tree.children)

    def _paper(self, tree: ParseTree) -> dict[str, s.Located]:
        figures = {}
        for item in tree.children:
            key, value = _tree(item).children
            is_string = isinstance(value, Token) and value.type == "STRING"
            parsed: s.Value = _inside_quotes(value) if is_string else float(str(value))
            figures[str(key)] = s.Located(parsed, self.span(item))
        return figures

    def _stem(self, tree: ParseTree) -> tuple[s.Item, ...]:
        return self._sequence(_tree(tree.children[0]))

    _head = _stem

    def _stage_stmt(self, tree: ParseTree) -> tuple[s.Located, s.Stage]:
        name, stage = tree.children
        return s.Located(str(name), self.span(name)), self._stage(_tree(stage))


ADDITION = re.compile(
    r"\+(?:\s|#[^\n]*)*"
    r"(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*|\"[^\"\n]*\"|'[^'\n]*')\s*=\s*)?"
    r"(?P<kind>shortcut|identity)"
)
"""The parts of a block's addition token (``+ proj=shortcut``): the grammar's ADDITION
pattern with its groups named, comments between the ``+`` and the rest included."""


def _name_text(token: Token | ParseTree) -> str:
    """An item's name as written: an identifier, or the text inside quotes."""
    is_string = isinstance(token, Token) and token.type == "STRING"
    return _inside_quotes(token) if is_string else str(token)


def _inside_quotes(token: Token | ParseTree) -> str:
    """A STRING token's text without its quotes (the grammar allows no escapes in it)."""
    return str(token)[1:-1]
