"""Analytic counts: one formula per op, summed once over the IR.

``macs`` are the multiply-adds of convolutions and fully connected layers, what the
ResNet paper calls FLOPs. ``norm`` and ``pool`` are what fvcore adds on top by default
(batch norm and adaptive average pooling), so ``fvcore`` reproduces its total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache, singledispatch

from archspec import ir


@dataclass(frozen=True, slots=True)
class Counts:
    """Exact integer counts for one module (a plain dataclass: it is summed thousands of times)."""

    params: int = 0
    macs: int = 0
    activations: int = 0
    norm: int = 0
    pool: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.params + other.params,
            self.macs + other.macs,
            self.activations + other.activations,
            self.norm + other.norm,
            self.pool + other.pool,
        )

    @property
    def fvcore(self) -> int:
        """fvcore's default total: conv + linear + batch_norm + adaptive_avg_pool2d."""
        return self.macs + self.norm + self.pool


@singledispatch
def _op_counts(op: object, input: ir.Shape, output: ir.Shape) -> Counts:
    return Counts()


@_op_counts.register
def _conv(op: ir.Conv2d, input: ir.Shape, output: ir.Shape) -> Counts:
    weights = op.out_channels * (op.in_channels // op.groups) * op.kernel * op.kernel
    return Counts(
        params=weights + (op.out_channels if op.bias else 0), macs=weights * output[1] * output[2]
    )


@_op_counts.register
def _bn(op: ir.BatchNorm2d, input: ir.Shape, output: ir.Shape) -> Counts:
    # fvcore (eval mode, affine): one normalise and one scale-shift per element.
    return Counts(params=2 * op.channels, norm=2 * math.prod(input))


@_op_counts.register
def _linear(op: ir.Linear, input: ir.Shape, output: ir.Shape) -> Counts:
    weights = op.in_features * op.out_features
    return Counts(params=weights + (op.out_features if op.bias else 0), macs=weights)


@_op_counts.register
def _adaptive(op: ir.AdaptiveAvgPool2d, input: ir.Shape, output: ir.Shape) -> Counts:
    return Counts(pool=math.prod(input))


def count_layer(layer: ir.Layer) -> Counts:
    return _counts_of(layer.op, layer.input, layer.output)


@lru_cache(maxsize=4096)
def _counts_of(op: ir.Op, input: ir.Shape, output: ir.Shape) -> Counts:
    """Counts depend only on the op and its shapes: deep nets repeat a few dozen layers."""
    return _op_counts(op, input, output) + Counts(activations=math.prod(output))


def count(node: ir.Layer | ir.Sequence | ir.Block | ir.Network) -> Counts:
    """Totals for any subtree; identical blocks (a deep stage repeats one) are counted once."""
    seen: dict[tuple[object, ...], Counts] = {}

    def visit(n: ir.Layer | ir.Sequence | ir.Block | ir.Network) -> Counts:
        if isinstance(n, ir.Layer):
            return count_layer(n)
        key = _block_identity(n) if isinstance(n, ir.Block) else None
        if key is not None and key in seen:
            return seen[key]
        total = Counts()
        for child in ir.children_of(n):
            total = total + visit(child)
        if key is not None:
            seen[key] = total
        return total

    return visit(node)


def _block_identity(block: ir.Block) -> tuple[object, ...]:
    """What determines a block's contents within one network: its definition's name and
    arguments, its input, and its shortcut (whose ops depend on the option in force)."""
    shortcut = tuple(layer.op for layer in ir.layers(block.downsample)) if block.downsample else ()
    return block.block, block.arguments, block.input, block.shortcut, shortcut


def count_all(network: ir.Network) -> dict[str, Counts]:
    """Counts for every module path (layers, blocks, stages) and '' for the network, in one pass."""
    table: dict[str, Counts] = {}

    def visit(node: ir.Layer | ir.Sequence | ir.Block) -> Counts:
        if isinstance(node, ir.Layer):
            total = count_layer(node)
        else:
            total = Counts()
            for child in ir.children_of(node):
                total = total + visit(child)
        table[node.path] = total
        return total

    grand = Counts()
    for child in network.children:
        grand = grand + visit(child)
    table[""] = grand
    return table
