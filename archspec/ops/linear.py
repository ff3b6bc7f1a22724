"""Fully connected layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.counts import Counts
from archspec.ops.base import Op, Shape, ShapeProblem, Tensor, describe, flag, size
from archspec.ops.registry import register


@register
@dataclass(frozen=True, slots=True)
class Linear(Op):
    NAME = "fc"
    DOC = "Fully connected layer on flat features."
    ARGUMENTS = (
        size("features", "output features", required=True),
        flag("bias", "add a learned bias", True),
    )
    ROLES = {"in_features": "in", "out_features": "out"}

    in_features: int
    out_features: int
    bias: bool = True

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Linear:
        return cls(input[0], arguments["features"], arguments["bias"])

    def shape(self, input: Shape) -> Shape:
        if len(input) != 1:
            raise ShapeProblem(
                "E317",
                f"fc needs flat features, found a {describe(input)} feature map",
                "insert flatten (after a global average pool) before fc",
            )
        return (self.out_features,)

    def cost(self, input: Shape, output: Shape) -> Counts:
        weights = self.in_features * self.out_features
        return Counts(
            params=weights + (self.out_features if self.bias else 0),
            macs=weights,
            activations=self.out_features,
        )

    def label(self) -> str:
        return f"fc {self.in_features}->{self.out_features}"

    def tensors(self) -> tuple[Tensor, ...]:
        weight = Tensor("weight", (self.out_features, self.in_features), "OI")
        return (weight, Tensor("bias", (self.out_features,), "O")) if self.bias else (weight,)
