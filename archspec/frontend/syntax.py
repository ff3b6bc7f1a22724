"""The located syntax tree both frontends produce and lowering consumes.

Every node carries the Span of the text it came from, in the spec file itself (YAML
positions included), so any later stage can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from archspec.source import Span


@dataclass(frozen=True)
class LayerRef:
    """A layer or block as a value: ``act=silu``, ``norm=bn(eps=0.001)``. An item that
    names a parameter holding one (``act1=act``) is that layer, called with these
    arguments (and its own after them)."""

    name: str
    arguments: tuple[tuple[str | None, Scalar], ...] = ()

    def __str__(self) -> str:
        if not self.arguments:
            return self.name
        shown = ", ".join(f"{k}={v}" if k else str(v) for k, v in self.arguments)
        return f"{self.name}({shown})"


Scalar = bool | int | float | str
Value = bool | int | float | str | LayerRef

MAX_NUMBER_LENGTH = 100
"""Characters of a number literal (either form): longer ones are mistakes, and Python
refuses to read an integer of over 4300 digits."""
NUMBER_TOO_LONG = "a number of {length:,} characters is absurdly large"
NUMBER_HELP = f"numbers in specs have at most {MAX_NUMBER_LENGTH} characters"
MAX_EXPRESSION_DEPTH = 100
"""Levels of one expression: evaluating it recurses once per level."""
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
"""A name of the language, as the grammar's NAME: a parameter, a ``let``, a layer."""
DISPLAY_PATTERN = "^[A-Za-z][A-Za-z0-9 ._/+-]{0,63}$"
"""A display name (``ResNet-50``): printable ASCII a class name can be made from."""


@dataclass(frozen=True)
class Literal:
    value: Value
    span: Span


@dataclass(frozen=True)
class Name:
    name: str
    span: Span


@dataclass(frozen=True)
class Unary:
    operator: str  # "-" or "not"
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Binary:
    operator: str  # arithmetic, comparison, "and", "or"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Ternary:
    then: Expr
    condition: Expr
    otherwise: Expr
    span: Span


@dataclass(frozen=True)
class Apply:
    """A call inside an expression: a built-in function (``make_divisible(w * 1.4, 8)``),
    or a layer or block taken as a value (``bn(eps=0.001)``)."""

    function: str
    arguments: tuple[Argument, ...]
    span: Span
    name_span: Span


Expr = Literal | Name | Unary | Binary | Ternary | Apply


def operands(expr: Expr) -> tuple[Expr, ...]:
    """The expressions directly inside one."""
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Ternary):
        return (expr.then, expr.condition, expr.otherwise)
    if isinstance(expr, Apply):
        return tuple(argument.value for argument in expr.arguments)
    return ()


def depth(expr: Expr) -> int:
    """Levels of an expression tree, counted without recursion (it may be very deep)."""
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack += [(operand, level + 1) for operand in operands(node)]
    return deepest


@dataclass(frozen=True)
class Argument:
    keyword: str | None
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    """An op or block by name, with arguments: ``conv(64, 3, stride=2)``."""

    name: str
    arguments: tuple[Argument, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Group:
    """``( items )``: spliced into its sequence, or a submodule when named."""

    items: tuple[Item, ...]
    span: Span


@dataclass(frozen=True)
class Branches:
    """``add(...)``, ``concat(...)`` or ``mul(...)``: branches from one input, combined.

    A branch is a sequence of items, ``"identity"`` (the input itself) or ``"shortcut"``
    (what the shortcut option in force makes of the input).
    """

    combine: str
    branches: tuple[tuple[Item, ...] | str, ...]
    span: Span
    shortcut_name: str = "downsample"  # `proj=shortcut` names the shortcut's module


@dataclass(frozen=True)
class Item:
    """``[name=] call-or-group-or-branches [x count [/stride] [as "names"]] [if condition]``.

    Unnamed, the copies are spliced into the sequence; named, they form a submodule of
    that name, numbered (or named by the template) as a stage's blocks are."""

    target: Call | Group | Branches
    span: Span
    name: str | None = None
    name_span: Span | None = None
    repeat: Expr | None = None
    condition: Expr | None = None
    stride: Expr | None = None
    """``x 3 /2``: the first copy's stride, as a stage's."""
    naming: str | None = None
    """``x 6 as "denselayer{n}"``: how the copies of a named item are named."""


@dataclass(frozen=True)
class Formal:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class BlockDef:
    """``block NAME(formals) = body [+ shortcut|identity] [-> after]``."""

    name: str
    formals: tuple[Formal, ...]
    lets: tuple[Let, ...]
    body: tuple[Item, ...]
    addition: str | None  # "shortcut", "identity", or None for a plain block
    after: tuple[Item, ...]
    span: Span
    shortcut_name: str = "downsample"  # `+ proj=shortcut` names the shortcut's module


@dataclass(frozen=True)
class ProjectionDef:
    """``projection NAME(channels, stride) = sequence``: a shape-changing shortcut."""

    name: str
    formals: tuple[Formal, ...]
    lets: tuple[Let, ...]
    body: tuple[Item, ...]
    span: Span


Definition = BlockDef | ProjectionDef


@dataclass(frozen=True)
class Stage:
    """``block(args) x depth [/stride] [shortcut=option]``."""

    call: Call
    span: Span
    depth: Expr | None = None
    stride: Expr | None = None
    shortcut: str | None = None
    shortcut_span: Span | None = None


@dataclass(frozen=True)
class Located:
    value: Value
    span: Span


@dataclass(frozen=True)
class SpecTree:
    """A whole spec, from either frontend.

    A piece whose text did not parse is None (its error is already reported): lowering
    still checks the other pieces, so independent mistakes are all reported in one run.
    """

    name: Located
    input: Located  # the shape text, e.g. "3x224x224"
    display_name: Located | None  # how people write the name, e.g. "ResNet-50"
    shortcut: Located | None
    parameters: tuple[Formal, ...]
    paper: dict[str, Located]
    definitions: tuple[Definition, ...]
    stem: tuple[Item, ...] | None
    stages: tuple[tuple[Located, Stage | None], ...]
    head: tuple[Item, ...] | None
    description: str = ""
    lets: tuple[Let, ...] = ()  # names computed from the parameters, for stem/stages/head
    extra: dict[str, Located] = field(default_factory=dict)
