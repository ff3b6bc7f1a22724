"""Block instantiation and the paper's shortcut rules.

A block is ``after(body(x) + shortcut(x))``. Which shortcut it gets depends on the
option in force (the stage's, else the network's) and on whether the body changes the
shape, exactly as in He et al. 2015, section 3.3:
  A    identity; where the shape changes, subsample by the stride and zero-pad channels
  B    identity; where the shape changes, a projection (1x1 conv + BN)
  C    a projection on every shortcut
  none no shortcut at all (the plain baselines)
  NAME a user `projection` where the shape changes (e.g. ResNet-D's avgpool + 1x1 conv)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from archspec import ir
from archspec.evaluate import describe
from archspec.frontend import syntax as s
from archspec.shapes import describe as shape_text

if TYPE_CHECKING:
    from archspec.lower import Lowerer, Scope, Shape

BUILTIN_PROJECTION = "conv1x1"
"""The standard library's projection for options B and C."""


def bind_definition(
    lowerer: Lowerer,
    definition: s.BlockDef | s.ProjectionDef,
    call: s.Call,
    scope: Scope,
    overrides: dict[str, s.Value],
) -> dict[str, s.Value] | None:
    """Arguments, then defaults (which may use earlier parameters), then `let`s."""
    lowerer.instantiated.add(definition.name)
    names = [f.name for f in definition.formals]
    what = (
        f"block {definition.name}"
        if isinstance(definition, s.BlockDef)
        else f"projection {definition.name}"
    )
    if overrides and "stride" not in names:
        lowerer.error(
            "E314",
            f"{what} has no 'stride' parameter, so a stage cannot downsample with it",
            call.span,
            "add `stride=1` to its parameters and use it in a convolution",
        )
        return None
    bound = lowerer.bind(call, names, scope, what, overrides)
    if bound is None:
        return None
    local: dict[str, s.Value] = {}
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


def lower_block(
    lowerer: Lowerer,
    definition: s.BlockDef,
    call: s.Call,
    scope: Scope,
    shape: Shape,
    local: str,
    path: str,
    option: str,
    overrides: dict[str, s.Value],
) -> tuple[ir.Module | None, Shape]:
    if definition.name in lowerer.active:
        lowerer.error(
            "E318", f"block '{definition.name}' uses itself", call.span, "blocks cannot recurse"
        )
        return None, None
    # The same call in the same scope always builds the same block: skip even the binding.
    site = (
        id(call),
        id(scope),
        tuple(overrides.items()),
        shape,
        option,
        lowerer.visible(call.span),
    )
    seen = lowerer.built_calls.get(site)
    if seen is not None and seen[2] is scope:
        return _reuse(lowerer, seen[0], seen[1], call, path, local)
    inner = bind_definition(lowerer, definition, call, scope, overrides)
    if inner is None:
        return None, None
    key = (
        definition.name,
        id(definition),
        tuple(inner.items()),
        shape,
        option,
        lowerer.visible(call.span),
    )
    built = lowerer.built_blocks.get(key)
    if built is None:
        before = lowerer.layers_left
        block, out = _build_block(lowerer, definition, call, inner, shape, local, path, option)
        if block is None:
            return None, None
        built = lowerer.built_blocks[key] = (block, before - lowerer.layers_left)
    else:
        block, out = _reuse(lowerer, built[0], built[1], call, path, local)
    lowerer.built_calls[site] = (built[0], built[1], scope)  # keeps scope alive: ids stay unique
    return block, out


def _reuse(
    lowerer: Lowerer, template: ir.Block, layer_count: int, call: s.Call, path: str, local: str
) -> tuple[ir.Block, Shape]:
    lowerer.spend(layer_count, call.span)
    return ir.moved(template, path, local), template.output


def _build_block(
    lowerer: Lowerer,
    definition: s.BlockDef,
    call: s.Call,
    inner: dict[str, s.Value],
    shape: Shape,
    local: str,
    path: str,
    option: str,
) -> tuple[ir.Block | None, Shape]:
    lowerer.active.append(definition.name)
    try:
        used: set[str] = {"downsample"} if definition.addition else set()
        body, branch, index = lowerer.lower_entries(
            lowerer.expand(definition.body, inner), shape, path, 0, used, option
        )
        kind, downsample = _shortcut(
            lowerer, definition, call, shape, branch, path, option, _stride(body)
        )
        merged = branch if kind is not None else None
        after, out, _ = lowerer.lower_entries(
            lowerer.expand(definition.after, inner), merged, path, index, used, option
        )
    finally:
        lowerer.active.pop()
    if shape is None or out is None or kind is None:
        return None, None
    arguments = tuple((k, v) for k, v in inner.items() if k in {f.name for f in definition.formals})
    block = ir.construct(
        ir.Block,
        name=local,
        path=path,
        input=shape,
        output=out,
        span=lowerer.visible(call.span),
        block=definition.name,
        arguments=arguments,
        body=tuple(body),
        shortcut=kind,
        downsample=downsample,
        after=tuple(after),
    )
    return block, out


def _shortcut(
    lowerer: Lowerer,
    definition: s.BlockDef,
    call: s.Call,
    shape: Shape,
    branch: Shape,
    path: str,
    option: str,
    stride: int,
) -> tuple[ir.ShortcutKind | None, ir.Module | None]:
    """Decide the shortcut; None as kind means an error was reported. A shortcut
    subsamples by ``stride``, the body's, and must then meet the branch's shape."""
    if definition.addition is None or option == "none":
        return "none", None
    if shape is None or branch is None:
        return None, None
    same = shape == branch
    if definition.addition == "identity" or (same and option != "C"):
        if same:
            return "identity", None
        _mismatch(lowerer, call, shape, branch, path, "an identity shortcut")
        return None, None
    if len(shape) != 3 or len(branch) != 3 or branch[1:] != _subsampled(shape, stride):
        _mismatch(
            lowerer,
            call,
            shape,
            branch,
            path,
            f"a shortcut subsampling by the body's stride ({stride})",
            "a shortcut subsamples only by the strides of the body's layers; "
            "pool globally after the blocks, in the head",
        )
        return None, None
    if option == "A":
        if branch[0] < shape[0]:
            lowerer.error(
                "E305",
                f"shortcut A cannot reduce channels ({shape[0]} -> {branch[0]}) at {path}",
                call.span,
                "use shortcut B (a 1x1 projection) for this stage",
                f"the block's input has {shape[0]} channels",
            )
            return None, None
        op = ir.ZeroPadShortcut(stride=stride, in_channels=shape[0], out_channels=branch[0])
        layer = ir.construct(
            ir.Layer,
            name="downsample",
            path=f"{path}.downsample",
            input=shape,
            output=branch,
            span=lowerer.visible(call.span),
            op=op,
        )
        return "zero_pad", layer
    return _projection(lowerer, call, shape, branch, path, option, stride)


def _projection(
    lowerer: Lowerer,
    call: s.Call,
    shape: ir.Shape,
    branch: ir.Shape,
    path: str,
    option: str,
    stride: int,
) -> tuple[ir.ShortcutKind | None, ir.Module | None]:
    name = BUILTIN_PROJECTION if option in ("B", "C") else option
    definition = lowerer.definitions.get(name)
    if not isinstance(definition, s.ProjectionDef):
        lowerer.error("E300", f"unknown shortcut option '{option}'", call.span)
        return None, None
    arguments = (
        s.Argument(None, s.Literal(branch[0], call.span), call.span),
        s.Argument(None, s.Literal(stride, call.span), call.span),
    )
    projection_call = s.Call(name, arguments, call.span, call.name_span)
    inner = bind_definition(lowerer, definition, projection_call, {}, {})
    if inner is None:
        return None, None
    where = f"{path}.downsample"
    children, out = lowerer.lower_sequence(definition.body, inner, shape, where, option)
    if out is None:
        return None, None
    if out != branch:
        lowerer.error(
            "E306",
            f"projection {name} gives {shape_text(out)} but the branch gives "
            f"{shape_text(branch)} at {path}",
            call.span,
            "a projection(channels, stride) must map the block input to the branch's shape",
        )
        return None, None
    module = ir.construct(
        ir.Sequence,
        name="downsample",
        path=where,
        input=shape,
        output=out,
        span=lowerer.visible(call.span),
        children=tuple(children),
    )
    return "projection", module


def _stride(body: Iterable[ir.Module]) -> int:
    """How much a residual branch subsamples: the product of its layers' strides (of a
    nested block's own branch: its shortcut subsamples alongside)."""
    stride = 1
    for module in body:
        if isinstance(module, ir.Layer):
            stride *= getattr(module.op, "stride", 1)
        elif isinstance(module, ir.Block):
            stride *= _stride(module.body + module.after)
        else:
            stride *= _stride(module.children)
    return stride


def _subsampled(shape: ir.Shape, stride: int) -> ir.Shape:
    """Height and width after taking every ``stride``-th pixel (a strided 1x1 conv)."""
    return (-(-shape[1] // stride), -(-shape[2] // stride))


def _mismatch(
    lowerer: Lowerer,
    call: s.Call,
    shape: ir.Shape,
    branch: ir.Shape,
    path: str,
    what: str,
    help: str = "let the shortcut option decide: `+ shortcut` with shortcut A, B or C",
) -> None:
    code = "E306" if shape[0] != branch[0] and shape[1:] == branch[1:] else "E307"
    detail = "channels" if code == "E306" else "sizes"
    lowerer.error(
        code,
        f"{detail} differ at the addition in {path}: input {shape_text(shape)}, "
        f"branch {shape_text(branch)}, and {what} cannot match them",
        call.span,
        help,
        f"block {describe(call.name)}",
    )
