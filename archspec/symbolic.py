"""Numbers that remember how they were computed from the spec's parameters.

The emitted network class takes a spec parameter as a keyword only where it can compute
what the spec computes from it (``ResNeXt(groups=32, width_per_group=4)`` writes
``Bottleneck(256, 128 * width_per_group // 64 * groups, ...)``). Lowering finds those
expressions by running on traced numbers: each parameter enters as a ``SymInt`` or
``SymFloat`` holding its ``Term``, arithmetic and the built-in functions give traced
results, and every field of the IR built from them holds the expression it came from.

A value is fine to compute, not to decide on: a condition, a count, a comparison, a
dictionary key, a name or an exact conversion that reads a traced number makes the
structure depend on it, so the parameters it reads are recorded (``Trace.decided``) and
are no keyword. Checks that only refuse a value (a width at least 1, a head count that
divides the width) run under ``checking()``: they decide nothing about the network built.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
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
    reads: frozenset[str] = field(init=False, compare=False)
    """The parameters the term reads, found once (rendering asks at every part)."""

    def __post_init__(self) -> None:
        reads = frozenset((self.name,)) if self.kind == "name" else frozenset()
        object.__setattr__(self, "reads", reads.union(*(o.reads for o in self.operands)))

    def parameters(self) -> frozenset[str]:
        return self.reads


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "neg": 3, "**": 4}
RENDERED_FUNCTIONS = frozenset({"int", "float", "round", "abs", "min", "max"})
"""The built-ins an emitted file writes as Python's own (the others have no keyword)."""


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
    if term.kind in _BINARY:
        return _BINARY[term.kind](*operands)  # type: ignore[no-any-return]
    assert term.function is not None, "a function term holds its function"
    result: Number = term.function(*operands)
    return result


def renderable(term: Term) -> bool:
    """Whether Python writes the term with builtins alone."""
    if term.kind in ("const", "name"):
        return True
    known = term.kind in _BINARY or term.kind == "neg" or term.kind in RENDERED_FUNCTIONS
    return known and all(renderable(o) for o in term.operands)


def render(
    term: Term,
    keywords: Mapping[str, str],
    values: Mapping[str, Number],
    literal: Callable[[Number], str],
    named: Mapping[Term, str] | None = None,
) -> str:
    """Python source for the term: a parameter in ``keywords`` as the name given there, a
    part that reads none of them as its value (a literal), a part in ``named`` as that
    name (a local computed before); the fewest parentheses that keep the order of
    operations."""
    return _render(term, keywords, values, literal, named or {})[0]


def _render(
    term: Term,
    keywords: Mapping[str, str],
    values: Mapping[str, Number],
    literal: Callable[[Number], str],
    named: Mapping[Term, str],
) -> tuple[str, int]:
    atom = 9
    if term in named:
        return named[term], atom
    if term.kind == "name" and term.name in keywords:
        return keywords[term.name], atom
    if term.kind == "const" or not term.parameters() & keywords.keys():
        value = value_at(term, values)
        return literal(value), (atom if value >= 0 else 0)
    parts = [_render(o, keywords, values, literal, named) for o in term.operands]
    if term.kind == "neg":
        text, level = parts[0]
        return "-" + (text if level >= 3 else f"({text})"), 3
    if term.kind in _BINARY:
        level = _PRECEDENCE[term.kind]
        (left, left_level), (right, right_level) = parts
        right_assoc = term.kind == "**"
        left_ok = left_level > level or (left_level == level and not right_assoc)
        right_ok = right_level > level or (right_level == level and right_assoc)
        left = left if left_ok else f"({left})"
        right = right if right_ok else f"({right})"
        return f"{left} {term.kind} {right}", level
    return f"{term.kind}({', '.join(text for text, _ in parts)})", atom


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


def _times(term: Term, of: Term) -> int | None:
    """``k`` where ``term`` is ``k * of`` (a whole ``k``), 1 where it is ``of`` itself."""
    if term == of:
        return 1
    if term.kind != "*":
        return None
    factor, other = term.operands
    whole = factor.kind == "const" and type(factor.value) is int
    return int(factor.value) if whole and other == of else None


def _is(term: Term, value: int) -> bool:
    return term.kind == "const" and type(term.value) is int and term.value == value


@dataclass
class Trace:
    """What one traced lowering saw: the parameters something was decided on."""

    decided: set[str] = field(default_factory=set)
    checking: int = 0


_TRACE: ContextVar[Trace | None] = ContextVar("archspec_trace", default=None)


@contextmanager
def tracing() -> Iterator[Trace]:
    trace = Trace()
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


class _Checking:
    """The context of ``checking()``: cheap where nothing is traced (every compile)."""

    def __enter__(self) -> None:
        trace = _TRACE.get()
        if trace is not None:
            trace.checking += 1

    def __exit__(self, *exception: object) -> None:
        trace = _TRACE.get()
        if trace is not None:
            trace.checking -= 1


_CHECKING = _Checking()


def checking() -> _Checking:
    """Reads that only refuse a value (a range, a divisibility): they decide nothing."""
    return _CHECKING


def _decide(*values: object) -> None:
    trace = _TRACE.get()
    if trace is None or trace.checking:
        return
    for value in values:
        if isinstance(value, (SymInt, SymFloat)):
            trace.decided.update(value.term.parameters())


def term_of(value: object) -> Term | None:
    return value.term if isinstance(value, (SymInt, SymFloat)) else None


def _as_term(value: object) -> Term:
    found = term_of(value)
    return found if found is not None else constant(value)  # type: ignore[arg-type]


def traced(value: Number, term: Term) -> Number:
    """``value`` remembering ``term`` (booleans stay plain: they are switches)."""
    if isinstance(value, bool):
        return value
    kind = SymInt if isinstance(value, int) else SymFloat if isinstance(value, float) else None
    made: Number = value if kind is None else kind(value, term)
    return made


def plain(value: Any) -> Any:
    """The number itself, without its term."""
    kind = type(value)  # compared, not isinstance: this runs for every number lowered
    if kind is SymInt:
        return int.__int__(value)
    if kind is SymFloat:
        return float.__float__(value)
    return value


def apply(kind: str, function: Callable[..., Any], *operands: Any) -> Any:
    """``function`` on the operands, traced where any of them is."""
    result = function(*(plain(o) for o in operands))
    if not any(term_of(o) is not None for o in operands) or isinstance(result, bool):
        return result
    terms = tuple(_as_term(o) for o in operands)
    if kind in _BINARY:
        whole = isinstance(result, int) and all(isinstance(plain(o), int) for o in operands)
        left, right = terms
        return traced(result, simplified(kind, left, right, whole=whole))
    computes = None if kind == "neg" else function
    return traced(result, Term(kind, terms, function=computes))


def as_int(value: Any) -> Any:
    """``int(value)`` for a whole number; a traced float becomes ``int(term)``, so the
    emitted expression is a whole number too."""
    return _converted(value, int)


def as_float(value: Any) -> Any:
    """``float(value)``; a traced whole number becomes ``float(term)``."""
    return _converted(value, float)


def _converted(value: Any, kind: type) -> Any:
    number, term = plain(value), term_of(value)
    if term is None:
        return kind(number)
    if type(number) is kind:
        return value
    return traced(kind(number), Term(kind.__name__, (term,), function=kind))


def _binary(kind: str, reflected: bool = False) -> Callable[[Any, Any], Any]:
    function = _BINARY[kind]

    def method(self: Any, other: Any) -> Any:
        if not isinstance(other, (int, float)):
            return NotImplemented
        left, right = (other, self) if reflected else (self, other)
        return apply(kind, function, left, right)

    return method


def _deciding(base: type, method: str) -> Callable[..., Any]:
    original = getattr(base, method)

    def decided(self: Any, *others: Any) -> Any:
        _decide(self, *others)
        return original(plain(self), *(plain(o) for o in others))

    return decided


class _Traced:
    """The operators of a traced number (mixed into ``SymInt`` and ``SymFloat``)."""

    term: Term

    def __new__(cls, value: Number, term: Term) -> Any:
        made = super().__new__(cls, value)  # type: ignore[call-arg]
        made.term = term
        return made

    __add__ = _binary("+")
    __radd__ = _binary("+", reflected=True)
    __sub__ = _binary("-")
    __rsub__ = _binary("-", reflected=True)
    __mul__ = _binary("*")
    __rmul__ = _binary("*", reflected=True)
    __truediv__ = _binary("/")
    __rtruediv__ = _binary("/", reflected=True)
    __floordiv__ = _binary("//")
    __rfloordiv__ = _binary("//", reflected=True)
    __mod__ = _binary("%")
    __rmod__ = _binary("%", reflected=True)

    def __pow__(self, other: Any, modulo: Any = None) -> Any:
        return apply("**", operator.pow, self, other)

    def __rpow__(self, other: Any, modulo: Any = None) -> Any:
        return apply("**", operator.pow, other, self)

    def __neg__(self) -> Any:
        return apply("neg", operator.neg, self)

    def __abs__(self) -> Any:
        return apply("abs", abs, self)


_DECIDING = [
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__bool__",
    "__hash__",
    "__str__",
    "__repr__",
    "__format__",
    "__int__",
    "__float__",
    "__index__",
    "__trunc__",
    "__floor__",
    "__ceil__",
    "__round__",
    "__divmod__",
    "__rdivmod__",
]


class SymInt(_Traced, int):
    """A whole number and the term it was computed by."""


class SymFloat(_Traced, float):
    """A number and the term it was computed by."""


for _cls, _base in ((SymInt, int), (SymFloat, float)):
    for _method in _DECIDING:
        if hasattr(_base, _method):
            setattr(_cls, _method, _deciding(_base, _method))
