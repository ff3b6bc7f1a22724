"""The Flax NNX backend's in-memory models: generic modules driven by the IR.

``build(network)`` makes generic modules driven by the IR, with the attribute names and
state paths of ``layout``; the emitted module writes one class per block type instead.
Both construct ops as ``dialect.LOWERINGS`` says, with the helpers of ``runtime``, and
the tests check they give the same outputs for the same weights.

Layout is NHWC: call a model on ``(batch, height, width, channels)`` arrays. Batch norm
follows PyTorch (see ``runtime.BatchNorm2d``); ``model.train()`` / ``model.eval()``
switch it (and dropout), as in torch. New models start in training mode, as torch's do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from archspec import ir
from archspec.backends.nnx import runtime
from archspec.backends.nnx.dialect import LOWERINGS
from archspec.backends.nnx.layout import FlaxPath, attribute_name
from archspec.backends.weights import check_flax_arrays, flax_to_torch, torch_to_flax
from archspec.codegen.classes import is_class, numbered
from archspec.codegen.dialect import lowering_for

Layer = Callable[[jax.Array], jax.Array]
Program = tuple[Any, ...]
"""A flow as data: ("member", attribute), ("bare", attribute, how) for a bare tensor, or
("parallel", combine, branches) steps."""


def callee(name: str) -> Callable[..., Any]:
    """What a lowering's callee names: ``nnx.X`` in flax's ``nnx``, else a runtime helper."""
    root, _, attribute = name.rpartition(".")
    return getattr(nnx if root == "nnx" else runtime, attribute)  # type: ignore[no-any-return]


def build_layer(layer: ir.Layer, rngs: nnx.Rngs) -> Layer:
    """A module for an op with state; else its function, with the arguments bound."""
    lowering = lowering_for(LOWERINGS, layer)
    kwargs: dict[str, Any] = dict(lowering.fixed)
    for argument in lowering.arguments:
        value = argument.value(getattr(layer.op, argument.field))
        kwargs[argument.keyword] = (value, value) if argument.pair else value
    function = callee(lowering.callee)
    if lowering.module:
        return function(**kwargs, **({"rngs": rngs} if lowering.rngs else {}))  # type: ignore[no-any-return]
    return partial(function, **kwargs) if kwargs else function


def build_member(node: ir.Node, rngs: nnx.Rngs, abstract: bool = False) -> Layer:
    """The module (or bound function) for any node; ``abstract``: shapes only.

    An abstract build traces each class and each layer with state on its own: one trace
    of a whole ResNet-1202 takes a minute, as every variable written during tracing
    searches the growing trace.
    """
    if abstract and ((isinstance(node, ir.Group) and is_class(node)) or _has_state(node)):
        return nnx.eval_shape(lambda: build_member(node, nnx.Rngs(0)))
    if isinstance(node, ir.Layer):
        return build_layer(node, rngs)
    if is_class(node):
        return FlowModule(node.members, node.flow, rngs=rngs)
    items = [build_member(m.node, rngs, abstract) for m in node.members]
    if numbered(node):
        return nnx.Sequential(*items)
    return runtime.NamedSequential(
        {m.name: item for m, item in zip(node.members, items, strict=True)}
    )


def _has_state(node: ir.Node) -> bool:
    return isinstance(node, ir.Layer) and lowering_for(LOWERINGS, node).module


def program(chain: ir.Chain) -> Program:
    steps: list[tuple[Any, ...]] = []
    for step in chain.steps:
        if isinstance(step, ir.Member):
            how = ir.bare(step.node)
            attribute = attribute_name(step.name)
            steps.append(("member", attribute) if how is None else ("bare", attribute, how))
        else:
            branches = tuple(program(b) for b in step.branches)
            steps.append(("parallel", step.combine, branches))
    return tuple(steps)


class FlowModule(nnx.Module):
    """A group with its own namespace (a block, a group with branches, the network),
    running its flow: members in order, branches combined on the channel axis."""

    def __init__(
        self,
        members: tuple[ir.Member, ...],
        flow: ir.Chain,
        *,
        rngs: nnx.Rngs,
        abstract: bool = False,
    ) -> None:
        for member in members:
            setattr(self, attribute_name(member.name), build_member(member.node, rngs, abstract))
        self._flow = program(flow)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._run(self._flow, x)

    def _run(self, flow: Program, x: jax.Array) -> jax.Array:
        for step in flow:
            if step[0] == "member":
                x = getattr(self, step[1])(x)
                continue
            if step[0] == "bare":
                x = apply_bare(step[2], getattr(self, step[1])[...], x)
                continue
            _, combine, branches = step
            outs = [self._run(branch, x) for branch in branches]
            if combine == "concat":
                x = jnp.concatenate(outs, axis=-1)
            else:
                x = outs[0]
                for out in outs[1:]:
                    x = x + out if combine == "add" else x * out
        return x


def apply_bare(how: str, tensor: jax.Array, x: jax.Array) -> jax.Array:
    """A bare tensor (``Op.BARE``) applied: multiplied, added, or put before the tokens."""
    if how == "multiply":
        return x * tensor
    if how == "add":
        return x + tensor
    return runtime.prepend_token(tensor, x)


class Network(FlowModule):
    """The whole network, on NHWC input."""

    def __init__(self, network: ir.Network, *, rngs: nnx.Rngs, abstract: bool = False) -> None:
        super().__init__(network.members, network.flow, rngs=rngs, abstract=abstract)


def build(
    network: ir.Network,
    *,
    seed: int = 0,
    rngs: nnx.Rngs | None = None,
    weights: Mapping[Any, Any] | None = None,
    abstract: bool = False,
) -> Network:
    """An ``nnx.Module`` for ``network``.

    ``weights``: a torch state_dict (``str`` keys) or flax arrays (path keys) to load,
    without random initialisation. ``abstract``: shapes only (``nnx.eval_shape``), a target
    to load weights or a checkpoint into. Otherwise parameters are drawn from ``rngs``
    (default ``nnx.Rngs(seed)``) in one compiled program: eager initialisation compiles
    every kernel shape separately, seconds for a ResNet.
    """
    rngs = rngs if rngs is not None else nnx.Rngs(seed)

    def construct(rngs: nnx.Rngs) -> Network:
        return Network(network, rngs=rngs)

    if abstract or weights is not None:
        model = Network(network, rngs=rngs, abstract=True)
        if weights is not None:
            load_weights(model, network, weights, construct=lambda: construct(nnx.Rngs(seed)))
        return model
    return nnx.jit(construct)(rngs)


def weights_and_statistics(model: nnx.Module) -> nnx.State[Any, Any]:
    return nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))


def flax_arrays(model: nnx.Module) -> dict[FlaxPath, np.ndarray]:
    """Parameters and batch statistics by state path, as numpy arrays."""
    return {
        cast(FlaxPath, path): np.asarray(variable.get_value())
        for path, variable in nnx.to_flat_state(weights_and_statistics(model))
    }


def load_weights(
    model: nnx.Module,
    network: ir.Network,
    weights: Mapping[Any, Any],
    construct: Callable[[], nnx.Module] | None = None,
) -> None:
    """Set every parameter and statistic of ``model`` (which may be abstract) in place.

    Other abstract state (the random streams of dropout) is made as a fresh model would
    make it, by ``construct`` under jit, where the compiler drops the unused initialisers.
    """
    keys = list(weights)
    arrays = torch_to_flax(network, weights) if keys and isinstance(keys[0], str) else dict(weights)
    check_flax_arrays(network, arrays)
    state = nnx.state(model)
    flat = dict(nnx.to_flat_state(state))
    for path, value in arrays.items():
        flat[path].set_value(jnp.asarray(value))
    missing = [p for p, v in flat.items() if isinstance(v.get_value(), jax.ShapeDtypeStruct)]
    if missing and construct is not None:
        fresh = jax.jit(
            lambda: nnx.state(construct(), nnx.Not(nnx.Any(nnx.Param, nnx.BatchStat)))
        )()
        for path, variable in nnx.to_flat_state(fresh):
            flat[path].set_value(variable.get_value())
    nnx.update(model, nnx.from_flat_state(flat))


def torch_state_dict(network: ir.Network, model: nnx.Module) -> dict[str, Any]:
    """A state_dict of torch tensors from a flax model, bit for bit; needs torch."""
    import torch

    arrays = flax_to_torch(network, flax_arrays(model))
    return {key: torch.from_numpy(array) for key, array in arrays.items()}
