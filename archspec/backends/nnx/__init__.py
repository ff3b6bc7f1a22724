"""The Flax NNX backend: ``build(network)`` gives an ``nnx.Module``, ``emit_source`` a file.

Layout is NHWC; names, paddings and batch norm follow the PyTorch backend, so weights
convert exactly (``archspec.backends.weights``). Emitting imports no jax.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from archspec import ir
from archspec.counts import Counts

if TYPE_CHECKING:
    from archspec.codegen.knobs import Knob


def build(
    network: ir.Network,
    *,
    seed: int = 0,
    rngs: Any = None,
    weights: Mapping[Any, Any] | None = None,
    abstract: bool = False,
) -> Any:
    """An ``nnx.Module`` for ``network`` (see ``builder.build``)."""
    from archspec.backends import check_names
    from archspec.backends.nnx.builder import build as build_model

    check_names(network)
    return build_model(network, seed=seed, rngs=rngs, weights=weights, abstract=abstract)


def emit_source(network: ir.Network, counts: Counts, knobs: tuple[Knob, ...] = ()) -> str:
    """One standalone module (jax and flax only) that defines this network."""
    from archspec.backends import check_names
    from archspec.backends.nnx.dialect import FlaxDialect
    from archspec.codegen.emitter import Emitter
    from archspec.codegen.verify import checked_module

    check_names(network)
    return checked_module(
        lambda: Emitter(network, counts, FlaxDialect(network), knobs).source(), "flax"
    )
