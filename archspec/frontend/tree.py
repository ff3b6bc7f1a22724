"""Lark's parse tree -> the located syntax tree (``archspec.frontend.syntax``).

One method per grammar rule, named after it; every node gets the span of its text in the
spec file, through the caller's ``Locator``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lark import Token, Tree

from archspec.frontend import syntax as s
from archspec.source import Span

if TYPE_CHECKING:
    from archspec.frontend.dsl import Locator

ParseTree = Tree[Token]


def _tree(node: ParseTree | Token | None) -> ParseTree:
    """A child the grammar guarantees to be a subtree (an internal invariant, not input)."""
    assert isinstance(node, Tree), node
    return node


class TreeBuilder:
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
