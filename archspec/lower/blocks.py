"""Blocks and branches: instantiating a block definition, combining branches, shortcuts.

A block ``body + shortcut -> after`` becomes a group whose flow is
``add(body, shortcut)`` followed by ``after``; ``add(...)``, ``concat(...)`` and
``mul(...)`` in a sequence become a ``Parallel`` step. Where a shortcut goes, what it is
comes from ``shortcuts.decide``; this module only builds it.

Each distinct block is built once and the same node stands at every place it is used
(a deep stage repeats one block): see ``lower_block``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from archspec import ir, symbolic
from archspec.frontend import syntax as s
from archspec.lower.arguments import Scope, bind_definition
from archspec.lower.context import Namespace, Shape
from archspec.lower.evaluate import describe
from archspec.lower.names import refused_module_name
from archspec.lower.shortcuts import Decision, decide
from archspec.ops.base import describe as shape_text
from archspec.ops.structure import ZeroPadShortcut

if TYPE_CHECKING:
    from archspec.lower.lowerer import Lowerer


def lower_block(
    lowerer: Lowerer,
    definition: s.BlockDef,
    call: s.Call,
    scope: Scope,
    shape: Shape,
    path: str,
    option: str,
    overrides: Mapping[str, s.Value],
) -> tuple[ir.Group | None, Shape]:
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
    if seen is not None and seen[1] is scope:
        again = lowerer.reuse(seen[0], call.span)
        return again, again.output
    channels = None if shape is None else shape[-1] if len(shape) == 2 else shape[0]
    inner = bind_definition(lowerer, definition, call, scope, overrides, channels)
    if inner is None:
        return None, None
    key = (id(definition), tuple(inner.items()), shape, option, lowerer.visible(call.span))
    built = lowerer.built_blocks.get(key)
    if built is None:
        before = lowerer.layers_left
        lowerer.building.append(set())
        try:
            block = build_block(lowerer, definition, call, inner, shape, path, option)
        finally:
            used = lowerer.building.pop()
        if block is None:
            return None, None
        used.add(definition.name)
        built = lowerer.built_blocks[key] = (block, before - lowerer.layers_left, frozenset(used))
    else:
        lowerer.reuse(built, call.span)
    lowerer.built_calls[site] = (built, scope)  # keeps scope alive: ids stay unique
    return built[0], built[0].output


def build_block(
    lowerer: Lowerer,
    definition: s.BlockDef,
    call: s.Call,
    inner: dict[str, s.Value],
    shape: Shape,
    path: str,
    option: str,
) -> ir.Group | None:
    lowerer.active.append(definition.name)
    try:
        ns = Namespace(path, {definition.shortcut_name} if definition.addition else set())
        body, branch = lowerer.lower_items(definition.body, inner, shape, ns, option)
        steps: list[ir.Step] = body
        merged: Shape = branch
        if definition.addition is not None:
            residual = add_shortcut(lowerer, definition, body, shape, branch, path, option, call)
            if residual is None:
                merged = None
            elif isinstance(residual, ir.Parallel):
                steps = [residual]
        after, out = lowerer.lower_items(definition.after, inner, merged, ns, option)
    finally:
        lowerer.active.pop()
    if shape is None or out is None:
        return None
    formals = {f.name for f in definition.formals}
    return ir.Group(
        ir.Chain(tuple(steps + after)),
        shape,
        out,
        lowerer.visible(call.span),
        definition=definition.name,
        arguments=tuple((k, scalar(v)) for k, v in inner.items() if k in formals),
    )


def scalar(value: s.Value) -> ir.Scalar:
    """A value as the IR records it: a layer taken as a value by its text (``silu``). The
    text records the numbers in it and decides nothing (``archspec.symbolic``)."""
    if not isinstance(value, s.LayerRef):
        return value
    with symbolic.checking():
        return str(value)


def add_shortcut(
    lowerer: Lowerer,
    definition: s.BlockDef,
    body: list[ir.Step],
    shape: Shape,
    branch: Shape,
    path: str,
    option: str,
    call: s.Call,
) -> ir.Parallel | bool | None:
    """``body + shortcut``: the Parallel step, True for a plain block, None on an error."""
    if shape is None or branch is None:
        return None
    assert definition.addition is not None
    decision = decide(option, definition.addition, shape, branch, chain_stride(body), path)
    if decision.kind == "none":
        return True
    name = definition.shortcut_name
    shortcut = shortcut_branch(lowerer, name, decision, shape, branch, path, option, call)
    if shortcut is None:
        return None
    return ir.Parallel(
        (ir.Chain(tuple(body)), shortcut),
        "add",
        shape,
        branch,
        lowerer.visible(call.span),
        shortcut=decision.kind,  # type: ignore[arg-type]
    )


def shortcut_branch(
    lowerer: Lowerer,
    name: str,
    decision: Decision,
    shape: ir.Shape,
    branch: ir.Shape,
    path: str,
    option: str,
    call: s.Call,
) -> ir.Chain | None:
    """The shortcut the decision asks for, as a branch: empty for the identity."""
    span = lowerer.visible(call.span)
    if decision.kind == "error":
        label = decision.label or f"block {describe(call.name)}"
        lowerer.error(decision.code, decision.message, call.span, decision.help, label)
        return None
    if decision.kind == "identity":
        return ir.Chain(())
    if reason := refused_module_name(name):  # `+ "a.b"=shortcut`: checked where it is built
        lowerer.error("E311", f"'{name}' cannot name the shortcut's module: {reason}", call.span)
        return None
    if decision.kind == "zero_pad":
        op = ZeroPadShortcut(decision.stride, shape[0], branch[0])
        return ir.Chain((ir.Member(name, ir.Layer(op, shape, branch, span)),))
    projection = lowerer.definitions.get(decision.projection)
    if not isinstance(projection, s.ProjectionDef):
        lowerer.error("E300", f"unknown shortcut option '{option}'", call.span)
        return None
    arguments = (
        s.Argument(None, s.Literal(branch[0], call.span), call.span),
        s.Argument(None, s.Literal(decision.stride, call.span), call.span),
    )
    projection_call = s.Call(decision.projection, arguments, call.span, call.name_span)
    inner = bind_definition(lowerer, projection, projection_call, {}, {})
    if inner is None:
        return None
    where = f"{path}.{name}" if path else name
    steps, out = lowerer.lower_items(projection.body, inner, shape, Namespace(where), option)
    if out is None:
        return None
    if out != branch:
        lowerer.error(
            "E306",
            f"projection {decision.projection} gives {shape_text(out)} but the branch gives "
            f"{shape_text(branch)} at {path}",
            call.span,
            "a projection(channels, stride) must map the block input to the branch's shape",
        )
        return None
    group = ir.Group(ir.Chain(tuple(steps)), shape, out, span)
    return ir.Chain((ir.Member(name, group),))


def chain_stride(steps: Iterable[ir.Step]) -> int:
    """How much a branch subsamples: the product of its layers' strides (a nested group's
    own flow counted the same way; of parallel branches, the first that does anything)."""
    stride = 1
    for step in steps:
        if isinstance(step, ir.Parallel):
            first = next((b for b in step.branches if b.steps), None)
            stride *= chain_stride(first.steps) if first else 1
        elif isinstance(step.node, ir.Layer):
            stride *= getattr(step.node.op, "stride", 1)
        else:
            stride *= chain_stride(step.node.flow.steps)
    return stride


def lower_branches(
    lowerer: Lowerer,
    branches: s.Branches,
    scope: Scope,
    shape: Shape,
    ns: Namespace,
    option: str,
) -> tuple[ir.Parallel | None, Shape]:
    """``add(...)``, ``concat(...)``, ``mul(...)``: each branch from the same input."""
    chains: list[ir.Chain | None] = []
    outputs: list[Shape] = []
    shortcut_at = None
    for index, branch in enumerate(branches.branches):
        if branch == "shortcut":
            shortcut_at = index
            chains.append(None)
            outputs.append(None)
        elif branch == "identity":
            chains.append(ir.Chain(()))
            outputs.append(shape)
        else:
            steps, out = lowerer.lower_items(branch, scope, shape, ns, option)  # type: ignore[arg-type]
            chains.append(ir.Chain(tuple(steps)))
            outputs.append(out)
    if shape is None or any(out is None for i, out in enumerate(outputs) if i != shortcut_at):
        return None, None
    span = lowerer.visible(branches.span)
    kind: str | None = None
    if shortcut_at is not None:
        others = [out for i, out in enumerate(outputs) if i != shortcut_at]
        if branches.combine != "add" or len(others) != 1:
            lowerer.error(
                "E320",
                "a `shortcut` branch needs `add` and exactly one other branch",
                branches.span,
                "write add(body..., shortcut)",
            )
            return None, None
        target = others[0]
        assert target is not None
        body = next(c for i, c in enumerate(chains) if i != shortcut_at)
        assert body is not None
        where = ns.path or "the network"
        decision = decide(option, "shortcut", shape, target, chain_stride(body.steps), where)
        if decision.kind == "none":
            chains.pop(shortcut_at)
            outputs.pop(shortcut_at)
        else:
            chains[shortcut_at] = _named_shortcut(
                lowerer, decision, shape, target, ns, option, branches
            )
            outputs[shortcut_at] = target
            kind = decision.kind
    if any(chain is None for chain in chains):
        return None, None
    out = combined_shape(lowerer, branches, [o for o in outputs if o is not None])
    if out is None:
        return None, None
    return ir.Parallel(
        tuple(c for c in chains if c is not None),
        branches.combine,  # type: ignore[arg-type]
        shape,
        out,
        span,
        shortcut=kind,  # type: ignore[arg-type]
    ), out


def _named_shortcut(
    lowerer: Lowerer,
    decision: Decision,
    shape: ir.Shape,
    target: ir.Shape,
    ns: Namespace,
    option: str,
    branches: s.Branches,
) -> ir.Chain | None:
    """A shortcut branch inside a namespace: its module takes the name ``downsample``."""
    call = s.Call("shortcut", (), branches.span, branches.span)
    if decision.kind not in ("identity", "error"):
        name = branches.shortcut_name
        if name in ns.used:
            lowerer.error(
                "E311",
                f"duplicate name '{name}' in {ns.path or 'the network'}",
                branches.span,
                f"the shortcut's module is called {name}: name it (proj=shortcut) or rename "
                "the other one",
            )
            return None
        ns.used.add(name)
    return shortcut_branch(
        lowerer, branches.shortcut_name, decision, shape, target, ns.path, option, call
    )


def combined_shape(
    lowerer: Lowerer, branches: s.Branches, outputs: list[ir.Shape]
) -> ir.Shape | None:
    """The shape branches combine to: equal for add, broadcast for mul, summed channels
    (the first axis of a feature map, the last of tokens) for concat; None, reported,
    when they cannot combine."""
    with symbolic.checking():  # a combination only checks its shapes (``archspec.symbolic``)
        return _combined(lowerer, branches, outputs)


def _combined(lowerer: Lowerer, branches: s.Branches, outputs: list[ir.Shape]) -> ir.Shape | None:
    first = outputs[0]
    same_rank = all(len(o) == len(first) for o in outputs)
    if branches.combine == "concat":
        axis = len(first) - 1 if len(first) == 2 else 0
        rest = {o[:axis] + o[axis + 1 :] for o in outputs}
        if same_rank and len(rest) == 1:
            return first[:axis] + (sum(o[axis] for o in outputs),) + first[axis + 1 :]
        hint = "concatenate: all sizes but the channels must match"
    elif branches.combine == "mul":
        out = tuple(max(dims) for dims in zip(*outputs, strict=True)) if same_rank else ()
        if out and all(d in (1, m) for o in outputs for d, m in zip(o, out, strict=True)):
            return out
        hint = "multiply: each size must match or be 1"
    else:
        if len(set(outputs)) == 1:
            return first
        hint = "add: the shapes must match"
    shapes = ", ".join(shape_text(o) for o in outputs)
    message = f"branches give {shapes}, which {branches.combine} cannot combine"
    lowerer.error("E321", message, branches.span, hint)
    return None
