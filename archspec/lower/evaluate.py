"""Evaluating DSL expressions: arithmetic on block parameters, conditions, defaults.

No Python eval: a small interpreter over the syntax tree, with the same error path as
everything else.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from archspec import symbolic
from archspec.diagnostics import did_you_mean
from archspec.frontend import syntax as s
from archspec.lower.functions import FUNCTIONS
from archspec.source import Span
from archspec.terms import COMPARISONS

MAX_MAGNITUDE = 1 << 62


class EvalProblem(Exception):
    def __init__(self, code: str, message: str, span: Span, help: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.span, self.help = code, message, span, help


def _floordiv(a: Any, b: Any) -> Any:
    return a // b


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": _floordiv,
    "/": operator.truediv,
    "%": operator.mod,
}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def unknown_name(name: s.Name, scope: Iterable[str]) -> EvalProblem:
    return EvalProblem(
        "E304",
        f"unknown name '{name.name}'",
        name.span,
        did_you_mean(name.name, scope) or "define it as a parameter or a `let`",
    )


def evaluate(
    expr: s.Expr, scope: Mapping[str, s.Value], layers: Container[str] = frozenset()
) -> s.Value:
    """The value of an expression; ``layers`` are the names of layers and blocks, which
    an expression may take as values (``act=silu``)."""
    if isinstance(expr, s.Literal):
        return _bounded(expr.value, expr.span)
    if isinstance(expr, s.Name):
        if expr.name in scope:
            return _bounded(scope[expr.name], expr.span)
        if expr.name in layers:
            return s.LayerRef(expr.name)
        raise unknown_name(expr, scope)
    if isinstance(expr, s.Unary):
        value = evaluate(expr.operand, scope, layers)
        if expr.operator == "not":
            return not _truth(value, expr.operand.span)
        _require_number(value, expr.operand.span)
        return -value  # type: ignore[operator]
    if isinstance(expr, s.Apply):
        values = [(a.keyword, evaluate(a.value, scope, layers)) for a in expr.arguments]
        if makes_layer(expr, layers):
            return _layer(expr, values)
        return _apply(expr, values)
    if isinstance(expr, s.Ternary):
        chosen = (
            expr.then
            if _truth(evaluate(expr.condition, scope, layers), expr.condition.span)
            else expr.otherwise
        )
        return evaluate(chosen, scope, layers)
    if expr.operator in ("and", "or"):
        left = _truth(evaluate(expr.left, scope, layers), expr.left.span)
        if (expr.operator == "and") != left:
            return left
        return _truth(evaluate(expr.right, scope, layers), expr.right.span)
    left_value = evaluate(expr.left, scope, layers)
    right_value = evaluate(expr.right, scope, layers)
    if expr.operator in COMPARISONS:
        ordered = expr.operator not in ("==", "!=")
        if ordered and not (
            (_is_number(left_value) and _is_number(right_value))
            or (isinstance(left_value, str) and isinstance(right_value, str))
        ):
            raise EvalProblem(
                "E303",
                f"cannot order {describe(left_value)} and {describe(right_value)}",
                expr.span,
                "compare numbers with numbers, or strings with strings",
            )
        if symbolic.is_traced(left_value) or symbolic.is_traced(right_value):  # 0.5 < w too
            return symbolic.compare(expr.operator, left_value, right_value)
        return COMPARISONS[expr.operator](left_value, right_value)
    _require_number(left_value, expr.left.span)
    _require_number(right_value, expr.right.span)
    if expr.operator in ("//", "/", "%") and symbolic.plain(right_value) == 0:  # a check
        raise EvalProblem("E316", "division by zero", expr.right.span)
    if expr.operator == "**":
        return _power(left_value, right_value, expr)  # type: ignore[arg-type]
    arithmetic = _ARITHMETIC[expr.operator]
    if symbolic.is_traced(left_value) or symbolic.is_traced(right_value):  # 0.5 * w too
        result = symbolic.apply(expr.operator, arithmetic, left_value, right_value)
    else:
        result = arithmetic(left_value, right_value)
    return _bounded(result, expr.span)


def _power(base: float, exponent: float, expr: s.Binary) -> s.Value:
    """``base ** exponent``, bounded before it is computed (``9 ** 9 ** 9`` is refused)."""
    low, high = symbolic.plain(base), symbolic.plain(exponent)  # checks: they decide nothing
    if low == 0 and high < 0:
        raise EvalProblem("E316", "division by zero", expr.span)
    if abs(low) > 1 and abs(high) * math.log2(abs(low)) > 62:
        raise EvalProblem("E313", "the power is absurdly large", expr.span)
    traced = symbolic.is_traced(base) or symbolic.is_traced(exponent)
    result = symbolic.apply("**", operator.pow, base, exponent) if traced else base**exponent
    if isinstance(result, complex):
        raise EvalProblem("E316", "a negative number to a fractional power", expr.span)
    return _bounded(result, expr.span)


def makes_layer(expr: s.Apply, layers: Container[str]) -> bool:
    """Whether an application is a layer or block taken as a value (``bn(eps=0.001)``),
    not a function's result."""
    return expr.function not in FUNCTIONS and expr.function in layers


def _layer(expr: s.Apply, values: list[tuple[str | None, s.Value]]) -> s.LayerRef:
    """``bn(eps=0.001)`` as a value: the layer with its arguments (checked where used)."""
    for (_, value), argument in zip(values, expr.arguments, strict=True):
        if isinstance(value, s.LayerRef):
            raise EvalProblem(
                "E303", "a layer's argument cannot be a layer", argument.span, "pass a number"
            )
    return s.LayerRef(expr.function, tuple(values))  # type: ignore[arg-type]


def _apply(expr: s.Apply, arguments: list[tuple[str | None, s.Value]]) -> s.Value:
    """A built-in function on checked arguments; its domain errors are located errors."""
    function = FUNCTIONS.get(expr.function)
    if function is None:
        raise EvalProblem(
            "E304",
            f"unknown function '{expr.function}'",
            expr.name_span,
            did_you_mean(expr.function, FUNCTIONS) or "the functions are listed in the docs",
        )
    keyword = next((a for a in expr.arguments if a.keyword), None)
    if keyword is not None:
        raise EvalProblem(
            "E301", f"{expr.function} takes no keyword arguments", keyword.span, function.doc
        )
    values = [value for _, value in arguments]
    if not function.least <= len(values) <= function.most:
        wanted = (
            str(function.least)
            if function.least == function.most
            else f"{function.least} to {function.most}"
        )
        raise EvalProblem(
            "E302",
            f"{expr.function} takes {wanted} arguments, found {len(values)}",
            expr.span,
            function.doc,
        )
    for value, argument in zip(values, expr.arguments, strict=True):
        _require_number(value, argument.span)
    same: s.Value | None = function.unchanged(tuple(values)) if function.unchanged else None
    if same is not None:
        return same
    try:
        result = symbolic.apply(expr.function, function.apply, *values, spelling=function.python)
    except (ValueError, ZeroDivisionError, OverflowError) as error:
        raise EvalProblem(
            "E316", f"{expr.function} cannot take these arguments: {error}", expr.span
        ) from None
    return _bounded(result, expr.span)


def _bounded(value: s.Value, span: Span) -> s.Value:
    """Numbers stay finite and below MAX_MAGNITUDE (values from YAML and -D come here too).
    A check: it reads a traced number's value (``archspec.symbolic``) and decides nothing."""
    number = symbolic.plain(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise EvalProblem("E313", f"{describe(number)} is not a finite number", span)
    if (
        isinstance(number, (int, float))
        and not isinstance(number, bool)
        and abs(number) > MAX_MAGNITUDE
    ):
        raise EvalProblem("E313", f"value {describe(number)} is absurdly large", span)
    return value


def _require_number(value: s.Value, span: Span) -> None:
    if not _is_number(value):
        raise EvalProblem("E303", f"expected a number, found {describe(value)}", span)


def _truth(value: s.Value, span: Span) -> bool:
    if not isinstance(value, bool):
        raise EvalProblem("E303", f"expected true or false, found {describe(value)}", span)
    return value


def describe(value: s.Value) -> str:
    if isinstance(value, s.LayerRef):
        return f"the layer {value}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, int) and value.bit_length() > 128:  # str() refuses over 4300 digits
        return f"a number of about {value.bit_length() * 3 // 10:,} digits"
    return str(value)
