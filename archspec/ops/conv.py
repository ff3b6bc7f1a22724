"""Convolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.counts import Counts
from archspec.ops.base import (
    MAX_WINDOW,
    Op,
    Shape,
    ShapeProblem,
    Tensor,
    divisible,
    feature_map,
    flag,
    size,
    strided,
    window_output,
)
from archspec.ops.registry import register


@register
@dataclass(frozen=True, slots=True)
class Conv2d(Op):
    NAME = "conv"
    DOC = "2-D convolution. Input channels come from the incoming shape."
    ARGUMENTS = (
        size("channels", "output channels", required=True),
        size("kernel", "kernel size (square)", default=3, maximum=MAX_WINDOW),
        size("stride", "step", default=1, maximum=MAX_WINDOW),
        size(
            "padding",
            "zeros on each side; defaults to (kernel - 1) // 2 x dilation, "
            "which keeps the size at stride 1",
            minimum=0,
            maximum=MAX_WINDOW,
        ),
        size("dilation", "spacing of kernel taps", default=1, maximum=MAX_WINDOW),
        size("groups", "grouped convolution; must divide both channel counts", default=1),
        flag("bias", "add a learned bias (off: a BN follows)", False),
    )
    ROLES = {"in_channels": "in", "out_channels": "out"}
    COMPUTED_DEFAULTS = {"padding": ("kernel", "dilation")}

    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = False

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Conv2d:
        kernel, dilation = arguments["kernel"], arguments["dilation"]
        padding = arguments["padding"]
        return cls(
            in_channels=input[0],
            out_channels=arguments["channels"],
            kernel=kernel,
            stride=arguments["stride"],
            padding=(kernel - 1) // 2 * dilation if padding is None else padding,
            dilation=dilation,
            groups=arguments["groups"],
            bias=arguments["bias"],
        )

    def shape(self, input: Shape) -> Shape:
        channels, height, width = feature_map(input, "conv")
        for count, side in ((channels, "input"), (self.out_channels, "output")):
            if not divisible(count, self.groups):
                raise ShapeProblem(
                    "E310",
                    f"groups={self.groups} does not divide the {side} channels ({count})",
                    "choose groups that divide both channel counts",
                )
        window = (self.kernel, self.stride, self.padding, self.dilation)
        return (self.out_channels, window_output(height, *window), window_output(width, *window))

    def label(self) -> str:
        extras = [f"groups {self.groups}"] if self.groups != 1 else []
        extras += [f"dilation {self.dilation}"] if self.dilation != 1 else []
        extras += ["bias"] if self.bias else []
        kernel = f"{self.kernel}x{self.kernel}{strided(self.stride)}"
        tail = "".join(f", {e}" for e in extras)
        return f"conv {kernel}, {self.in_channels}->{self.out_channels}{tail}"

    def weight_shape(self) -> Shape:
        return (self.out_channels, self.in_channels // self.groups, self.kernel, self.kernel)

    def cost(self, input: Shape, output: Shape) -> Counts:
        weights = self.out_channels * (self.in_channels // self.groups) * self.kernel**2
        return Counts(
            params=weights + (self.out_channels if self.bias else 0),
            macs=weights * output[1] * output[2],
            activations=output[0] * output[1] * output[2],
        )

    def tensors(self) -> tuple[Tensor, ...]:
        weight = Tensor("weight", self.weight_shape(), "OIHW")
        return (weight, Tensor("bias", (self.out_channels,), "O")) if self.bias else (weight,)
