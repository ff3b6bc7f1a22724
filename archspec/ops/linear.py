"""Fully connected layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.counts import Counts
from archspec.ops.base import (
    Op,
    Shape,
    ShapeProblem,
    Tensor,
    channels,
    describe,
    elements,
    feature_map,
    flag,
    size,
)
from archspec.ops.registry import register


@register
@dataclass(frozen=True, slots=True)
class Linear(Op):
    NAME = "fc"
    DOC = "Fully connected layer on flat features, or on the features of each token."
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
        return cls(channels(input), arguments["features"], arguments["bias"])

    def shape(self, input: Shape) -> Shape:
        if len(input) == 3:
            raise ShapeProblem(
                "E317",
                f"fc needs flat features or tokens, found a {describe(input)} feature map",
                "insert flatten (after a global average pool) before fc, `tokens` before a "
                "transformer's, or use channel_fc on the map",
            )
        return (*input[:-1], self.out_features)

    def cost(self, input: Shape, output: Shape) -> Counts:
        weights = self.in_features * self.out_features
        positions = elements(input[:-1])  # one per token; 1 for flat features
        return Counts(
            params=weights + (self.out_features if self.bias else 0),
            macs=weights * positions,
            activations=elements(output),
        )

    def label(self) -> str:
        return f"fc {self.in_features}->{self.out_features}"

    def tensors(self) -> tuple[Tensor, ...]:
        weight = Tensor("weight", (self.out_features, self.in_features), "OI")
        return (weight, Tensor("bias", (self.out_features,), "O")) if self.bias else (weight,)


@register
@dataclass(frozen=True, slots=True)
class ChannelLinear(Linear):
    """fc's fields, arguments and tensors, applied at every pixel of a feature map."""

    NAME = "channel_fc"
    DOC = (
        "Fully connected layer over the channels of each pixel of a feature map (a 1x1 "
        "convolution holding torch.nn.Linear's weight): ConvNeXt's MLP."
    )

    def shape(self, input: Shape) -> Shape:
        _, height, width = feature_map(input, self.NAME)
        return (self.out_features, height, width)

    def cost(self, input: Shape, output: Shape) -> Counts:
        per_pixel = Linear.cost(self, (self.in_features,), (self.out_features,))
        pixels = output[1] * output[2]
        return Counts(
            params=per_pixel.params, macs=per_pixel.macs * pixels, activations=elements(output)
        )

    def label(self) -> str:
        return f"channel fc {self.in_features}->{self.out_features}"
