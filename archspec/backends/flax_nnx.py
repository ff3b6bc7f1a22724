"""The Flax NNX backend: models built in memory from the IR, and the emitted source.

``build(network)`` makes generic modules driven by the IR, with the attribute names and
state paths of ``flax_layout``; the emitted module (``emit_source``) writes one class per
block type instead. Both use the layers of ``flax_layers`` and the functions of
``flax_ops``, and the tests check they give the same outputs for the same weights.

Layout is NHWC: call a model on ``(batch, height, width, channels)`` arrays. Batch norm
follows PyTorch (see ``flax_ops.BatchNorm2d``); ``model.train()`` / ``model.eval()``
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
from archspec.backends import check_names, flax_ops
from archspec.backends.flax_layers import flax_layer
from archspec.backends.flax_layout import FlaxPath, attribute_name, is_numbered
from archspec.codegen.verify import checked_module
from archspec.cost import Counts

CALLEES: dict[str, Callable[..., Any]] = {
    "nnx.Conv": nnx.Conv,
    "nnx.Linear": nnx.Linear,
    "nnx.Dropout": nnx.Dropout,
    "nnx.relu": nnx.relu,
    "BatchNorm2d": flax_ops.BatchNorm2d,
    "max_pool2d": flax_ops.max_pool2d,
    "avg_pool2d": flax_ops.avg_pool2d,
    "adaptive_avg_pool2d": flax_ops.adaptive_avg_pool2d,
    "flatten": flax_ops.flatten,
    "zero_pad_shortcut": flax_ops.zero_pad_shortcut,
}
"""What each callee of ``flax_layers`` names."""

Layer = Callable[[jax.Array], jax.Array]


def build_layer(layer: ir.Layer, rngs: nnx.Rngs) -> Layer:
    """A module for an op with state; else its function, with the arguments bound."""
    spec = flax_layer(layer.op)
    callee = CALLEES[spec.callee]
    kwargs: dict[str, Any] = {}
    for argument in spec.arguments:
        value = getattr(layer.op, argument.field)
        kwargs[argument.keyword] = (value, value) if argument.pair else value
    if isinstance(layer.op, ir.BatchNorm2d) and layer.op.zero_init:
        kwargs["zero_init"] = True
    if spec.module:
        return callee(**kwargs, **({"rngs": rngs} if spec.rngs else {}))  # type: ignore[no-any-return]
    return partial(callee, **kwargs) if kwargs else callee


def build_module(node: ir.Module, rngs: nnx.Rngs, abstract: bool = False) -> Layer:
    """The module (or bound function) for any node; ``abstract``: shapes only.

    An abstract build traces each block and each layer with state on its own: one trace
    of a whole ResNet-1202 takes a minute, as every variable written during tracing
    searches the growing trace.
    """
    if abstract and (isinstance(node, ir.Block) or _has_state(node)):
        return nnx.eval_shape(lambda: build_module(node, nnx.Rngs(0)))
    if isinstance(node, ir.Layer):
        return build_layer(node, rngs)
    if isinstance(node, ir.Block):
        return Block(node, rngs=rngs)
    items = [build_module(child, rngs, abstract) for child in node.children]
    if is_numbered(node):
        return nnx.Sequential(*items)
    return flax_ops.NamedSequential(
        {child.name: item for child, item in zip(node.children, items, strict=True)}
    )


def _has_state(node: ir.Module) -> bool:
    return isinstance(node, ir.Layer) and flax_layer(node.op).module


def add_children(
    owner: nnx.Module, children: tuple[ir.Module, ...], rngs: nnx.Rngs, abstract: bool = False
) -> tuple[str, ...]:
    """Set each child as an attribute of ``owner``; the attribute names, in order."""
    names = []
    for child in children:
        name = attribute_name(child.name)
        setattr(owner, name, build_module(child, rngs, abstract))
        names.append(name)
    return tuple(names)


def run(owner: nnx.Module, names: tuple[str, ...], x: jax.Array) -> jax.Array:
    for name in names:
        x = getattr(owner, name)(x)
    return x


class Block(nnx.Module):
    """``after(body(x) + shortcut(x))``; no addition for a plain block."""

    def __init__(self, node: ir.Block, *, rngs: nnx.Rngs) -> None:
        self._body = add_children(self, node.body, rngs)
        self._shortcut = add_children(self, (node.downsample,), rngs) if node.downsample else ()
        self._after = add_children(self, node.after, rngs)
        self._residual = node.shortcut != "none"

    def __call__(self, x: jax.Array) -> jax.Array:
        out = run(self, self._body, x)
        if self._residual:
            out = out + run(self, self._shortcut, x)
        return run(self, self._after, out)


class Network(nnx.Module):
    """The whole network: its top-level modules applied in order, on NHWC input."""

    def __init__(self, network: ir.Network, *, rngs: nnx.Rngs, abstract: bool = False) -> None:
        self._steps = add_children(self, network.children, rngs, abstract)

    def __call__(self, x: jax.Array) -> jax.Array:
        return run(self, self._steps, x)


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
    check_names(network)
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
    from archspec.backends.convert import check_flax_arrays, torch_to_flax

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


def emit_source(network: ir.Network, counts: Counts) -> str:
    """One standalone module (jax and flax only) that defines this network."""
    from archspec.backends.flax_emit import emit_source as emit

    check_names(network)
    return checked_module(lambda: emit(network, counts), "flax")
