"""Analytic counts: one formula per op, summed once over the IR.

``macs`` are the multiply-adds of convolutions and fully connected layers, what the
ResNet paper calls FLOPs. ``norm`` and ``pool`` are what fvcore adds on top by default
(batch norm and adaptive average pooling), so ``fvcore`` reproduces its total.
"""

from __future__ import annotations

import math
from functools import singledispatch

from pydantic import BaseModel, ConfigDict

from archspec import ir


class Counts(BaseModel):
    model_config = ConfigDict(frozen=True)

    params: int = 0
    macs: int = 0
    activations: int = 0
    norm: int = 0
    pool: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{k: getattr(self, k) + getattr(other, k) for k in Counts.model_fields})

    @property
    def fvcore(self) -> int:
        """fvcore's default total: conv + linear + batch_norm + adaptive_avg_pool2d."""
        return self.macs + self.norm + self.pool


@singledispatch
def _op_counts(op: object, layer: ir.Layer) -> Counts:
    return Counts()


@_op_counts.register
def _conv(op: ir.Conv2d, layer: ir.Layer) -> Counts:
    weights = op.out_channels * (op.in_channels // op.groups) * op.kernel * op.kernel
    return Counts(
        params=weights + (op.out_channels if op.bias else 0),
        macs=weights * layer.output[1] * layer.output[2],
    )


@_op_counts.register
def _bn(op: ir.BatchNorm2d, layer: ir.Layer) -> Counts:
    # fvcore (eval mode, affine): one normalise and one scale-shift per element.
    return Counts(params=2 * op.channels, norm=2 * math.prod(layer.input))


@_op_counts.register
def _linear(op: ir.Linear, layer: ir.Layer) -> Counts:
    weights = op.in_features * op.out_features
    return Counts(params=weights + (op.out_features if op.bias else 0), macs=weights)


@_op_counts.register
def _adaptive(op: ir.AdaptiveAvgPool2d, layer: ir.Layer) -> Counts:
    return Counts(pool=math.prod(layer.input))


def count_layer(layer: ir.Layer) -> Counts:
    own = _op_counts(layer.op, layer)
    return own + Counts(activations=math.prod(layer.output))


def count(node: ir.Layer | ir.Sequence | ir.Block | ir.Network) -> Counts:
    """Totals for any subtree."""
    total = count_layer(node) if isinstance(node, ir.Layer) else Counts()
    for layer in ir.layers(node):
        total = total + count_layer(layer)
    return total


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
