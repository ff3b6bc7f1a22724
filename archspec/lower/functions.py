"""The built-in functions of expressions: rounding, and the width rules of the papers.

Width multipliers (MobileNet, EfficientNet) and quantised widths (RegNet) are written in
a spec as the reference computes them, with the same rounding, so that a member of a
family is one parameter away: ``conv(make_divisible(32 * width, 8), 3)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archspec import symbolic
from archspec.terms import Term

Number = int | float


def make_divisible(value: float, divisor: float, minimum: float | None = None) -> int:
    """The nearest multiple of ``divisor`` to ``value``, at least ``minimum`` (default the
    divisor) and never below 90% of ``value``: torchvision's and the TensorFlow models'
    ``_make_divisible``, which MobileNet and EfficientNet widths go through. An emitted
    class that computes a width with it carries this definition (``codegen.checks``)."""
    floor = divisor if minimum is None else minimum
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * value else rounded)


def round_half_even(value: Number, digits: int = 0) -> Number:
    """Python's (and PyTorch's) rounding: halves go to the even neighbour."""
    return round(value) if digits == 0 else round(value, digits)


def whole_already(operands: tuple[Any, ...]) -> Any:
    """``round(n)``, ``floor(n)``, ``ceil(n)``, ``int(n)`` of a whole number: ``n`` itself,
    so that a traced width keeps the spec's expression; None otherwise."""
    only = operands[0] if len(operands) == 1 else None
    return only if type(symbolic.plain(only)) is int else None


def rounded_already(operands: tuple[Any, ...]) -> Any:
    """``make_divisible(m, d)`` of ``m = k * make_divisible(x, d)``, ``k`` a whole number
    from 1 (MobileNet's expansion of a rounded width by 6) or absent, ``d`` a constant
    whole number above 0: a multiple of ``d``, at least ``d``, is its own rounding; None
    otherwise. Not so with a minimum given, nor for a divisor such as 0.3, where the
    rounding truncates to a number that is not a multiple (``make_divisible(4, 0.3)`` is
    3)."""
    if len(operands) != 2 or (outer := symbolic.term_of(operands[0])) is None:
        return None
    divisor = symbolic.as_term(operands[1])
    factors = outer.operands if outer.kind == "*" else (outer,)
    rounded = [f for f in factors if f.kind == "make_divisible" and f.operands[1:] == (divisor,)]
    others = [f for f in factors if f not in rounded]
    if len(rounded) != 1 or not whole_above_zero(divisor, (int, float)):
        return None
    return operands[0] if all(whole_above_zero(k, (int,)) for k in others) else None


def whole_above_zero(term: Term, kinds: tuple[type, ...]) -> bool:
    """Whether the term is a constant whole number above 0 of one of these types (a
    divisor may be ``8.0``; a factor of ``6.0`` would make the product a float)."""
    value = term.value if term.kind == "const" and type(term.value) in kinds else 0
    return value > 0 and float(value).is_integer()


@dataclass(frozen=True)
class Function:
    """A built-in: its arity (fewest and most arguments), what it does, its help, and how
    an emitted class calls it (``python``: a builtin, ``math``'s, or one of this module's
    that the file carries, ``copied``), computing the same numbers. ``unchanged``: the
    operand the result is, where it gives one back as it is (``whole_already``)."""

    least: int
    most: int
    apply: Callable[..., Number]
    doc: str
    python: str
    copied: bool = False
    unchanged: Callable[[tuple[Any, ...]], Any] | None = None


FUNCTIONS: dict[str, Function] = {
    "round": Function(
        1,
        2,
        round_half_even,
        "round(x[, digits]): to the nearest, halves to even",
        "round",
        unchanged=whole_already,
    ),
    "floor": Function(
        1,
        1,
        math.floor,
        "floor(x): the largest whole number <= x",
        "math.floor",
        unchanged=whole_already,
    ),
    "ceil": Function(
        1,
        1,
        math.ceil,
        "ceil(x): the smallest whole number >= x",
        "math.ceil",
        unchanged=whole_already,
    ),
    "int": Function(
        1, 1, int, "int(x): x without its fraction, toward zero", "int", unchanged=whole_already
    ),
    "abs": Function(1, 1, abs, "abs(x)", "abs"),
    "min": Function(2, 16, min, "min(a, b, ...)", "min"),
    "max": Function(2, 16, max, "max(a, b, ...)", "max"),
    "log": Function(1, 1, math.log, "log(x): the natural logarithm, x > 0", "math.log"),
    "sqrt": Function(1, 1, math.sqrt, "sqrt(x), x >= 0", "math.sqrt"),
    "make_divisible": Function(
        2,
        3,
        make_divisible,
        "make_divisible(x, divisor[, minimum]): torchvision's width rounding",
        "make_divisible",
        copied=True,
        unchanged=rounded_already,
    ),
}
"""Every function an expression may call, by name."""

COPIED = frozenset(f.python for f in FUNCTIONS.values() if f.copied)
"""The functions an emitted class that calls them carries, copied from this module."""
