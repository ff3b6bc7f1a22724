"""Numbers that remember how they were computed from the spec's parameters.

The emitted network class takes a spec parameter as a keyword only where it can compute
what the spec computes from it (``ResNeXt(groups=32, width_per_group=4)`` writes
``Bottleneck(256, 256, 2 * width_per_group * groups, ...)``). Lowering finds those
expressions by running on traced numbers: each parameter enters as a ``SymInt`` or
``SymFloat`` holding its ``Term``, arithmetic and the built-in functions give traced
results, and every field of the IR built from them holds the expression it came from.

A value is fine to compute; a decision on it is recorded. A comparison of two numbers
(a condition ``if e != in_channels``, option ``same``'s residual where two widths agree)
is recorded as the comparison that held (``Trace.guards``): wherever every guard holds,
lowering takes the same path and builds the same structure, so the emitted class may take
the parameter and check its guards (``codegen.formulas``). Any other decision (a count, a
truth value, a dictionary key, a name, an exact conversion) pins the parameters it reads
to their values (``Trace.decided``): they are no keyword. Checks that only refuse a value
(a width at least 1, a head count that divides the width) run under ``checking()``: they
decide nothing about the network built.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from archspec.terms import (
    BINARY,
    COMPARISONS,
    NEGATED,
    Number,
    Term,
    compared,
    constant,
    simplified,
)


@dataclass
class Trace:
    """What one traced lowering saw: the parameters a decision pinned, and the comparisons
    that held (each once, in the order met)."""

    decided: set[str] = field(default_factory=set)
    guards: dict[Term, None] = field(default_factory=dict)
    checking: int = 0
    counted: set[str] = field(default_factory=set)
    """The parameters a run's count pinned (``x n``, ``pinned(counting="n")``): the
    depth rule on traced numbers (``codegen.indexed``) sees what else they do."""
    counts: dict[str, Term] = field(default_factory=dict)
    """Each count's term by the name it is written as (``x n2``, ``let n2 = ceil(2 * d)``)."""


_TRACE: ContextVar[Trace | None] = ContextVar("archspec_trace", default=None)


@contextmanager
def tracing() -> Iterator[Trace]:
    trace = Trace()
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


_INDEXING: ContextVar[bool] = ContextVar("archspec_indexing", default=False)
INDEX = "i"
"""The name a copy's index is traced as, under ``indexing()``."""


@contextmanager
def indexing() -> Iterator[None]:
    """Traces each copy's index ``i`` too (``copy_index``): what the copies compute from
    it reads ``i``, and a decision on it is recorded (``codegen.indexed``)."""
    token = _INDEXING.set(True)
    try:
        yield
    finally:
        _INDEXING.reset(token)


def copy_index(index: int) -> int:
    """A copy's index as its scope binds it: traced under ``indexing()``."""
    if _INDEXING.get() and _TRACE.get() is not None:
        traced_index: int = SymInt(index, Term("name", name=INDEX))
        return traced_index
    return index


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
            trace.decided.update(value.term.reads)


def compare(kind: str, left: Any, right: Any) -> bool:
    """``left kind right`` on numbers, recorded as the comparison that held where either
    is traced (a plain float meets a traced whole number here, not in its methods:
    ``0.5 < w`` is ``float.__lt__``'s, which would see only the number)."""
    held = COMPARISONS[kind](plain(left), plain(right))
    trace = _TRACE.get()
    if trace is None or trace.checking or not (is_traced(left) or is_traced(right)):
        return held
    if not (isinstance(left, (int, float)) and isinstance(right, (int, float))):
        return held  # a number is never text: the same at every value
    terms = as_term(left), as_term(right)
    if terms[0] != terms[1]:  # x == x holds at every value
        whole = all(isinstance(plain(side), int) for side in (left, right))
        trace.guards[compared(kind if held else NEGATED[kind], *terms, whole=whole)] = None
    return held


def pinned(value: int, counting: str = "") -> int:
    """A traced whole number used as a count (``x n``): the structure is made for this
    value alone. Python takes an ``int`` subclass as a size or an index without calling
    its methods (``range(n)``, ``[s] * n``), so a count says so here. A run's own count
    (``counting``: the name it is written as) is recorded apart, with its term: a depth
    keyword may be read elsewhere too, or computed (``let n2 = ceil(2 * depth_mult)``)."""
    trace = _TRACE.get()
    if counting and trace is not None and isinstance(value, SymInt) and not trace.checking:
        trace.counted.update(value.term.reads)
        trace.counts[counting] = value.term
    else:
        _decide(value)
    return plain(value)  # type: ignore[no-any-return]


def equal(left: tuple[Any, ...], right: tuple[Any, ...]) -> bool:
    """``left == right`` for shapes, the untraced places compared first: where a map's
    size differs, no comparison of traced widths is recorded (it decided nothing)."""
    if len(left) != len(right):
        return False
    pairs = list(zip(left, right, strict=True))
    untraced = [(a, b) for a, b in pairs if not (is_traced(a) or is_traced(b))]
    return all(a == b for a, b in untraced) and all(a == b for a, b in pairs)


def is_traced(value: object) -> bool:
    kind = type(value)  # compared, not isinstance: this runs for every number evaluated
    return kind is SymInt or kind is SymFloat


def _comparing(kind: str) -> Callable[[Any, Any], Any]:
    def method(self: Any, other: Any) -> Any:
        if not isinstance(other, (int, float)):
            return NotImplemented
        return compare(kind, self, other)

    return method


def term_of(value: object) -> Term | None:
    return value.term if isinstance(value, (SymInt, SymFloat)) else None


def as_term(value: object) -> Term:
    """A traced number's term, a plain number's constant."""
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


def apply(kind: str, function: Callable[..., Any], *operands: Any, spelling: str = "") -> Any:
    """``function`` on the operands, traced where any of them is; ``spelling``: how an
    emitted file calls a built-in function (``Term.spelling``)."""
    result = function(*(plain(o) for o in operands))
    if not any(term_of(o) is not None for o in operands) or isinstance(result, bool):
        return result
    terms = tuple(as_term(o) for o in operands)
    if kind in BINARY:
        whole = isinstance(result, int) and all(isinstance(plain(o), int) for o in operands)
        left, right = terms
        return traced(result, simplified(kind, left, right, whole=whole))
    computes = None if kind == "neg" else function
    return traced(result, Term(kind, terms, function=computes, spelling=spelling))


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
    name = kind.__name__
    return traced(kind(number), Term(name, (term,), function=kind, spelling=name))


def _binary(kind: str, reflected: bool = False) -> Callable[[Any, Any], Any]:
    function = BINARY[kind]

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

    __eq__ = _comparing("==")
    __ne__ = _comparing("!=")
    __lt__ = _comparing("<")
    __le__ = _comparing("<=")
    __gt__ = _comparing(">")
    __ge__ = _comparing(">=")


_DECIDING = (
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
)


class SymInt(_Traced, int):
    """A whole number and the term it was computed by."""


class SymFloat(_Traced, float):
    """A number and the term it was computed by."""


for _cls, _base in ((SymInt, int), (SymFloat, float)):
    for _method in _DECIDING:
        if hasattr(_base, _method):
            setattr(_cls, _method, _deciding(_base, _method))
