"""Lowering one layer: its arguments bound and checked, its op made, its shape inferred;
and the layer a layer-valued parameter (``act=silu``) stands for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from archspec import ir
from archspec.frontend import syntax as s
from archspec.lower.arguments import Scope, bind, check_value
from archspec.lower.context import Shape
from archspec.lower.evaluate import describe
from archspec.ops import Op, ShapeProblem
from archspec.ops.base import describe as shape_text

if TYPE_CHECKING:
    from archspec.lower.lowerer import Lowerer


def lower_layer(
    lowerer: Lowerer,
    op: type[Op],
    call: s.Call,
    scope: Scope,
    shape: Shape,
    path: str,
    overrides: Mapping[str, s.Value],
) -> tuple[ir.Layer | None, Shape]:
    names = [a.name for a in op.ARGUMENTS]
    if overrides and "stride" not in names:
        lowerer.error(
            "E314", f"{op.NAME} has no stride, so a stage cannot downsample with it", call.span
        )
        return None, None
    bound = bind(lowerer, call, names, scope, op.NAME, overrides)
    if bound is None:
        return None, None
    arguments: dict[str, s.Value] = {}
    for argument in op.ARGUMENTS:
        if argument.name not in bound:
            if argument.required:
                lowerer.error(
                    "E302",
                    f"{op.NAME} needs its '{argument.name}' argument ({argument.doc})",
                    call.span,
                    f"e.g. {op.NAME}(...) with {argument.name} first",
                    "missing",
                )
                return None, None
            arguments[argument.name] = argument.default
            continue
        value = check_value(lowerer, bound[argument.name], argument, op.NAME, call)
        if value is None:
            return None, None
        arguments[argument.name] = value
    lowerer.spend(1, call.span)
    if shape is None:
        return None, None
    made = op.make(arguments, shape)
    try:
        out = made.shape(shape)
    except ShapeProblem as problem:
        lowerer.error(
            problem.code,
            f"{problem.message} in '{path}'",
            call.span,
            problem.help,
            f"input is {shape_text(shape)}",
        )
        return None, None
    return ir.Layer(made, shape, out, lowerer.visible(call.span)), out


def layer_value(lowerer: Lowerer, call: s.Call, value: s.Value) -> s.Call | None:
    """The call a layer-valued parameter stands for: the layer, with the value's own
    arguments and then the call's. A string naming a layer (from YAML or -D) counts."""
    if isinstance(value, str) and value in lowerer.layers:
        value = s.LayerRef(value)
    if not isinstance(value, s.LayerRef):
        lowerer.error(
            "E303",
            f"'{call.name}' is {describe(value)}, not a layer",
            call.name_span,
            "give it a layer: act=relu, norm=bn(eps=0.001)",
        )
        return None
    bound = tuple(
        s.Argument(keyword, s.Literal(argument, call.span), call.span)
        for keyword, argument in value.arguments
    )
    return s.Call(value.name, bound + call.arguments, call.span, call.name_span)
