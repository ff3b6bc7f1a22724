"""Arguments: matching a call's arguments to parameters, and checking their values.

A call's arguments are evaluated in the caller's scope; a block's defaults and ``let``s
in the block's own scope, in order, so that a default may use an earlier parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from archspec import symbolic
from archspec.frontend import syntax as s
from archspec.lower.evaluate import describe
from archspec.ops.base import Argument

if TYPE_CHECKING:
    from archspec.lower.lowerer import Lowerer

Scope = Mapping[str, s.Value]

ALIASES = {
    "k": "kernel",
    "s": "stride",
    "p": "padding",
    "pad": "padding",
    "g": "groups",
    "out": "channels",
    "filters": "channels",
    "ceil_mode": "ceil",
}
"""Common spellings from other libraries, for 'did you mean' hints."""


def keys(call: s.Call, names: list[str]) -> list[str | None]:
    """The parameter each argument names: its keyword, else the one at its position
    (None past the last)."""
    return [
        argument.keyword or (names[position] if position < len(names) else None)
        for position, argument in enumerate(call.arguments)
    ]


def match(
    lowerer: Lowerer, call: s.Call, names: list[str], what: str
) -> tuple[dict[str, s.Argument], bool]:
    """Which parameter each argument gives, and whether all matched (E301, E302).

    Apart from evaluation, so that a block nothing calls can be checked too (``unused``).
    """
    from archspec.diagnostics import did_you_mean

    matched: dict[str, s.Argument] = {}
    for argument, key in zip(call.arguments, keys(call, names), strict=True):
        if key is None:
            most = f"at most {len(names)}" if names else "no"
            lowerer.error(
                "E302",
                f"{what} takes {most} positional argument"
                f"{'s' if len(names) != 1 else ''}, found {len(call.arguments)}",
                argument.span,
            )
        elif key not in names:
            hint = did_you_mean(key, names, ALIASES)
            lowerer.error(
                "E301", f"unknown argument '{key}' of {what}", argument.span, hint, "unknown"
            )
        elif key in matched:
            lowerer.error("E302", f"argument '{key}' of {what} is given twice", argument.span)
        else:
            matched[key] = argument
    return matched, len(matched) == len(call.arguments)


def bind(
    lowerer: Lowerer,
    call: s.Call,
    names: list[str],
    scope: Scope,
    what: str,
    overrides: Mapping[str, s.Value],
) -> dict[str, s.Value] | None:
    """Match a call's arguments to parameter names; values evaluated in the caller's scope.

    ``overrides`` are set by the stage (its ``/stride``) and may not be given again.
    """
    matched, ok = match(lowerer, call, names, what)
    bound: dict[str, s.Value] = {}
    for key, argument in matched.items():
        value = lowerer.value(argument.value, scope)
        if value is None:
            ok = False
            continue
        bound[key] = value
    for key, value in overrides.items():
        if key in bound:
            lowerer.error(
                "E302",
                f"'{key}' of {what} is set by the stage already",
                call.span,
                "drop it from the arguments; the stage's /N sets the first block's stride",
            )
            ok = False
        bound[key] = value
    return bound if ok else None


def bind_definition(
    lowerer: Lowerer,
    definition: s.BlockDef | s.ProjectionDef,
    call: s.Call,
    scope: Scope,
    overrides: Mapping[str, s.Value],
    channels: int | None = None,
) -> dict[str, s.Value] | None:
    """A block's (or projection's) scope: arguments, then defaults, then ``let``s; and
    ``in_channels``, the channels coming in, unless a parameter takes that name."""
    lowerer.instantiate(definition.name)
    names = [f.name for f in definition.formals]
    kind = "block" if isinstance(definition, s.BlockDef) else "projection"
    what = f"{kind} {definition.name}"
    if overrides and "stride" not in names:
        lowerer.error(
            "E314",
            f"{what} has no 'stride' parameter, so a stage cannot downsample with it",
            call.span,
            "add `stride=1` to its parameters and use it in a convolution",
        )
        return None
    bound = bind(lowerer, call, names, scope, what, overrides)
    if bound is None:
        return None
    local: dict[str, s.Value] = {}
    if channels is not None and "in_channels" not in names:
        local["in_channels"] = channels
    for formal in definition.formals:
        if formal.name in bound:
            local[formal.name] = bound[formal.name]
        elif formal.default is not None:
            value = lowerer.value(formal.default, local)
            if value is None:
                return None
            local[formal.name] = value
        else:
            lowerer.error(
                "E302", f"{what} needs its '{formal.name}' argument", call.span, label="missing"
            )
            return None
    for let in definition.lets:
        value = lowerer.value(let.value, local)
        if value is None:
            return None
        local[let.name] = value
    return local


def check_value(
    lowerer: Lowerer, value: s.Value, argument: Argument, what: str, call: s.Call
) -> s.Value | None:
    """A value of the argument's type within its limits, or a located complaint."""
    name = f"'{argument.name}' of {what}"
    if argument.kind is bool:
        if not isinstance(value, bool):
            lowerer.error(
                "E303", f"{name} must be true or false, found {describe(value)}", call.span
            )
            return None
        return value
    if argument.kind is str:
        if value not in argument.choices:
            options = ", ".join(f'"{c}"' for c in argument.choices)
            lowerer.error(
                "E303", f"{name} must be one of {options}, found {describe(value)}", call.span
            )
            return None
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        lowerer.error("E303", f"{name} must be a number, found {describe(value)}", call.span)
        return None
    if argument.kind is int:
        if isinstance(value, float) and not value.is_integer():
            lowerer.error("E315", f"{name} must be a whole number, found {value}", call.span)
            return None
        value = symbolic.as_int(value)
    else:
        value = symbolic.as_float(value)
    number = symbolic.plain(value)  # the checks below refuse a value and decide nothing
    if argument.minimum is not None and number < argument.minimum:
        lowerer.error(
            "E312", f"{name} must be at least {argument.minimum:g}, found {number}", call.span
        )
        return None
    if argument.maximum is not None and number > argument.maximum:
        lowerer.error(
            "E313",
            f"{name} is absurdly large: {number} (the limit is {argument.maximum:g})",
            call.span,
        )
        return None
    return value
