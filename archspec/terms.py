"""Expressions over a spec's parameters: what a traced number was computed by.

A ``Term`` is data: a parameter's name, a constant, an operator, a comparison or a
built-in function applied to terms. ``value_at`` computes one at other values as lowering
computes it; ``render`` writes it as Python for the emitted class, a built-in function as
the emitted file calls it (``math.ceil``, ``make_divisible``: ``Term.spelling``, from the
function's entry in ``lower.functions``).
``archspec.symbolic`` makes terms as lowering runs on traced numbers.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Number = int | float


@dataclass(frozen=True, slots=True)
class Term:
    """An expression over the spec's parameters: a ``name``, a constant (``value``), a
    unary minus, an operator or a built-in function applied to ``operands``."""

    kind: str
    operands: tuple[Term, ...] = ()
    name: str = ""
    value: Number = 0
    function: Callable[..., Any] | None = field(default=None, compare=False)
    """What a built-in function term computes (``lower.functions``)."""
    spelling: str = field(default="", compare=False)
    """How an emitted file calls that function; '' where it cannot."""
    reads: frozenset[str] = field(init=False, compare=False)
    """The parameters the term reads, found once (rendering asks at every part)."""

    def __post_init__(self) -> None:
        reads = frozenset((self.name,)) if self.kind == "name" else frozenset()
        object.__setattr__(self, "reads", reads.union(*(o.reads for o in self.operands)))


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_SIMPLE_OPERAND = re.compile(r"[A-Za-z_]\w*(\.\w+)*|-?\d[\w.]*([eE][+-]?\d+)?")
"""A name, a dotted name or a number: ruff writes ``**`` between two without spaces."""
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "neg": 3, "**": 4}
_PRECEDENCE.update(dict.fromkeys(COMPARISONS, 0))


def constant(value: Number) -> Term:
    return Term("const", value=value)


def name(parameter: str) -> Term:
    return Term("name", name=parameter)


def value_at(term: Term, values: Mapping[str, Number]) -> Number:
    """The term's value with the parameters at ``values``, computed as lowering does."""
    if term.kind == "const":
        return term.value
    if term.kind == "name":
        return values[term.name]
    operands = [value_at(o, values) for o in term.operands]
    if term.kind == "neg":
        return -operands[0]
    if term.kind in BINARY:
        return BINARY[term.kind](*operands)  # type: ignore[no-any-return]
    if term.kind in COMPARISONS:
        return COMPARISONS[term.kind](*operands)
    assert term.function is not None, "a function term holds its function"
    result: Number = term.function(*operands)
    return result


def computed(term: Term, values: Mapping[str, Number]) -> Number | None:
    """``value_at``, or None where ``values`` cannot compute the term: a division by
    zero, a complex power, a name they do not give."""
    try:
        return value_at(term, values)
    except (ArithmeticError, KeyError, TypeError, ValueError):
        return None


def renderable(term: Term) -> bool:
    """Whether an emitted file can write the term (each function it calls has a
    ``spelling``)."""
    if term.kind in ("const", "name"):
        return True
    known = term.kind in _PRECEDENCE or bool(term.spelling)
    return known and all(renderable(o) for o in term.operands)


def render(
    term: Term,
    keywords: Mapping[str, str],
    values: Mapping[str, Number],
    literal: Callable[[Number], str],
    named: Mapping[Term, str] | None = None,
    used: set[str] | None = None,
) -> str:
    """Python source for the term: a parameter in ``keywords`` as the name given there, a
    part that reads none of them as its value (a literal), a part in ``named`` as that
    name (a local computed before); the fewest parentheses that keep the order of
    operations. The functions it calls, as spelled, are added to ``used``."""
    return _render(term, keywords, values, literal, named or {}, set() if used is None else used)[0]


def _render(
    term: Term,
    keywords: Mapping[str, str],
    values: Mapping[str, Number],
    literal: Callable[[Number], str],
    named: Mapping[Term, str],
    used: set[str],
) -> tuple[str, int]:
    atom = 9
    if term in named:
        return named[term], atom
    if term.kind == "name" and term.name in keywords:
        return keywords[term.name], atom
    if term.kind == "const" or not term.reads & keywords.keys():
        value = value_at(term, values)
        return literal(value), (atom if value >= 0 else 0)
    parts = [_render(o, keywords, values, literal, named, used) for o in term.operands]
    if term.kind == "neg":
        text, level = parts[0]
        return "-" + (text if level >= 3 else f"({text})"), 3
    if term.kind in _PRECEDENCE:
        level = _PRECEDENCE[term.kind]
        (left, left_level), (right, right_level) = parts
        right_assoc = term.kind == "**"
        chained = term.kind in COMPARISONS  # never chained: ``a < b < c`` means two
        left_ok = left_level > level or (left_level == level and not right_assoc and not chained)
        right_ok = right_level > level or (right_level == level and right_assoc)
        left = left if left_ok else f"({left})"
        right = right if right_ok else f"({right})"
        if right_assoc and all(_SIMPLE_OPERAND.fullmatch(side) for side in (left, right)):
            return f"{left}**{right}", level  # as ruff writes a power of simple operands
        return f"{left} {term.kind} {right}", level
    used.add(term.spelling)
    return f"{term.spelling}({', '.join(text for text, _ in parts)})", atom


def simplified(kind: str, left: Term, right: Term, whole: bool) -> Term:
    """``left kind right``, without what adds nothing (``1 * x``, ``x + 0``) and with a
    whole number's constants added up (``(x - 1) + 1`` is ``x``): the emitted expression
    reads as the spec's, not as the shape rule's arithmetic."""
    if kind == "*" and _is(left, 1):
        return right
    if kind == "*" and whole and left == right and left.kind != "const":
        return Term("**", (left, constant(2)))
    if kind in ("*", "//") and _is(right, 1) and whole:
        return left
    if kind == "+" and _is(left, 0):
        return right
    if kind in ("+", "-") and _is(right, 0):
        return left
    if whole and kind == "//" and left.kind == "*" and _whole(right) and right.value:
        factor, other = left.operands  # (k * x) // m is (k // m) * x where m divides k
        if _whole(factor) and factor.value % right.value == 0:
            return simplified("*", constant(factor.value // right.value), other, whole)
    if whole and kind == "+":
        times = _times(left, right)
        if times is not None:  # x + x, 3 * x + x
            return Term("*", (constant(times + 1), right))
        last = _times(left.operands[1], right) if left.kind == "+" else None
        if last is not None:  # a + x + x, a + 3 * x + x
            return Term("+", (left.operands[0], Term("*", (constant(last + 1), right))))
    if whole and kind in ("+", "-") and right.kind == "const" and left.kind in ("+", "-"):
        inner, offset = left.operands
        if offset.kind == "const" and isinstance(offset.value, int):
            total = (offset.value if left.kind == "+" else -offset.value) + (
                right.value if kind == "+" else -right.value
            )
            if total == 0:
                return inner
            return Term("+" if total > 0 else "-", (inner, constant(abs(total))))
    return Term(kind, (left, right))


def compared(kind: str, left: Term, right: Term, whole: bool) -> Term:
    """``left kind right``; for whole numbers, ``a * x == b * x`` (a and b distinct) is
    ``x == 0``, and so for ``!=``: ResNet-D's projection, chosen where ``width * 4``
    differs from ``width``, is checked as ``width != 0``."""
    if whole and kind in ("==", "!="):
        for of in (left, right, *left.operands, *right.operands):
            times = _times(left, of), _times(right, of)
            if None not in times and times[0] != times[1]:
                return Term(kind, (of, constant(0)))
    return Term(kind, (left, right))


def _times(term: Term, of: Term) -> int | None:
    """``k`` where ``term`` is ``k * of`` or ``of * k`` (a whole ``k``), 1 where it is
    ``of`` itself."""
    if term == of:
        return 1
    if term.kind != "*":
        return None
    for factor, other in (term.operands, term.operands[::-1]):
        if _whole(factor) and other == of:
            return int(factor.value)
    return None


def _is(term: Term, value: int) -> bool:
    return _whole(term) and term.value == value


def _whole(term: Term) -> bool:
    """Whether the term is a whole-number constant."""
    return term.kind == "const" and type(term.value) is int
