"""Lowering a stage (`layer2: basic(128) x 4 /2 shortcut=B`) and checking a shortcut option."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archspec import ir
from archspec.diagnostics import did_you_mean
from archspec.frontend import syntax as s
from archspec.lower.arguments import Scope
from archspec.lower.context import Abort, Entry, Shape
from archspec.lower.shortcuts import OPTIONS
from archspec.source import Span

if TYPE_CHECKING:
    from archspec.lower.lowerer import Lowerer


def lower_stage(
    lowerer: Lowerer,
    name: str,
    stage: s.Stage,
    scope: Scope,
    shape: Shape,
    option: str,
) -> tuple[ir.Group | None, Shape]:
    """A stage's group of copies."""
    if stage.shortcut is not None:
        option = stage.shortcut
        if not known_option(lowerer, stage.shortcut, stage.shortcut_span):
            return None, None
    depth = 1 if stage.depth is None else lowerer.count(stage.depth, scope, "a stage depth")
    stride = (
        None
        if stage.stride is None
        else lowerer.count(stage.stride, scope, "a stage stride", 1 << 12)
    )
    if depth is None or (stage.stride is not None and stride is None):
        return None, None
    if depth > lowerer.layers_left:
        lowerer.error(
            "E313",
            f"a depth of {depth:,} exceeds the size limit",
            stage.depth.span if stage.depth else None,
        )
        raise Abort
    item = s.Item(target=stage.call, span=stage.span, repeat=stage.depth)
    entry = Entry(name, stage.call, item, scope, stride, depth)
    return lowerer.lower_copies(entry, shape, name, option, stage=True)


def known_option(lowerer: Lowerer, option: str, span: Span | None) -> bool:
    projections = [n for n, d in lowerer.definitions.items() if isinstance(d, s.ProjectionDef)]
    if option in OPTIONS or option in projections:
        return True
    lowerer.error(
        "E300",
        f"unknown shortcut option '{option}'",
        span,
        did_you_mean(option, list(OPTIONS) + projections)
        or "expected A, B, C, same, none or a projection defined in `define`",
    )
    return False
