"""Exact integer counts for one module, summed over the IR by ``archspec.analysis.cost``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Counts:
    """Parameters, multiply-adds and activations (a plain dataclass: summed thousands of times).

    ``macs`` are the multiply-adds of convolutions, linear layers and matrix products: what
    the ResNet paper calls FLOPs. ``norm`` and ``pool`` are what fvcore adds on top by
    default (normalisation layers and adaptive average pooling); ``attention`` is the part
    of ``macs`` in attention's two matrix products (QK^T, weights x V), which fvcore does
    not count (it has no rule for scaled_dot_product_attention); so ``fvcore`` is its total.
    """

    params: int = 0
    macs: int = 0
    activations: int = 0
    norm: int = 0
    pool: int = 0
    attention: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts.weighted(((self, 1), (other, 1)))

    def __mul__(self, times: int) -> Counts:
        return Counts.weighted(((self, times),))

    @staticmethod
    def weighted(parts: Iterable[tuple[Counts, int]]) -> Counts:
        """The sum of each part times its number, made at once: a network's total is a
        sum over hundreds of nodes, and no Counts is made for a partial sum."""
        params = macs = activations = norm = pool = attention = 0
        for counts, times in parts:
            params += counts.params * times
            macs += counts.macs * times
            activations += counts.activations * times
            norm += counts.norm * times
            pool += counts.pool * times
            attention += counts.attention * times
        return Counts(params, macs, activations, norm, pool, attention)

    @property
    def fvcore(self) -> int:
        """fvcore's default total: conv + linear + matmul + norms + adaptive_avg_pool2d."""
        return self.macs - self.attention + self.norm + self.pool

    @property
    def macs_of(self) -> str:
        """What ``macs`` counts, in words (attention's products where there are some)."""
        return "conv + fc + attention products" if self.attention else "conv + fc"
