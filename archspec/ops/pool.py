"""Pooling: windows (max, average) and adaptive average pooling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from archspec.counts import Counts
from archspec.ops.base import (
    MAX_WINDOW,
    Argument,
    Free,
    Shape,
    ShapeProblem,
    elements,
    feature_map,
    flag,
    refused,
    size,
    strided,
    window_output,
)
from archspec.ops.registry import register

WINDOW_ARGUMENTS: tuple[Argument, ...] = (
    size("kernel", "window size", required=True, maximum=MAX_WINDOW),
    size("stride", "step; defaults to the kernel size", maximum=MAX_WINDOW),
    size(
        "padding",
        "zeros (or -inf for max) added on each side",
        default=0,
        minimum=0,
        maximum=MAX_WINDOW,
    ),
    flag("ceil", "round the output size up, as PyTorch's ceil_mode", False),
)


@dataclass(frozen=True, slots=True)
class Window(Free):
    """A sliding window over each channel; what max and average pooling share."""

    ARGUMENTS = WINDOW_ARGUMENTS

    kernel: int
    stride: int
    padding: int = 0
    ceil_mode: bool = False

    @staticmethod
    def window(arguments: dict[str, Any]) -> dict[str, Any]:
        stride = arguments["stride"]
        return {
            "kernel": arguments["kernel"],
            "stride": arguments["kernel"] if stride is None else stride,
            "padding": arguments["padding"],
            "ceil_mode": arguments["ceil"],
        }

    def shape(self, input: Shape) -> Shape:
        channels, height, width = feature_map(input, self.NAME)
        if refused(lambda: self.padding * 2 > self.kernel):
            raise ShapeProblem(
                "E312", f"{self.NAME} padding {self.padding} is more than half its kernel"
            )
        window = (self.kernel, self.stride, self.padding, 1, self.ceil_mode)
        return (channels, window_output(height, *window), window_output(width, *window))

    def label(self) -> str:
        return f"{self.NAME} {self.kernel}x{self.kernel}{strided(self.stride)}"


@register
@dataclass(frozen=True, slots=True)
class MaxPool2d(Window):
    NAME = "maxpool"
    DOC = "Max pooling."

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> MaxPool2d:
        return cls(**cls.window(arguments))


@register
@dataclass(frozen=True, slots=True)
class AvgPool2d(Window):
    NAME = "avgpool"
    DOC = "Average pooling."
    ARGUMENTS = (
        *WINDOW_ARGUMENTS,
        flag("count_include_pad", "average over padding zeros too", True),
    )

    count_include_pad: bool = True

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> AvgPool2d:
        return cls(**cls.window(arguments), count_include_pad=arguments["count_include_pad"])


@register
@dataclass(frozen=True, slots=True)
class AdaptiveAvgPool2d(Free):
    NAME = "adaptive_avgpool"
    DOC = "Adaptive average pooling to a fixed size x size map (VGG's 7x7)."
    ARGUMENTS: ClassVar[tuple[Argument, ...]] = (
        size("size", "output height and width", required=True, maximum=MAX_WINDOW),
    )

    size: int

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> AdaptiveAvgPool2d:
        return cls(arguments["size"])

    def shape(self, input: Shape) -> Shape:
        channels, _, _ = feature_map(input, self.NAME)
        return (channels, self.size, self.size)

    def cost(self, input: Shape, output: Shape) -> Counts:
        return Counts(pool=elements(input), activations=elements(output))

    def label(self) -> str:
        return "global avgpool" if self.size == 1 else f"adaptive avgpool {self.size}x{self.size}"


@register
@dataclass(frozen=True, slots=True)
class GlobalAvgPool(AdaptiveAvgPool2d):
    NAME = "global_avgpool"
    DOC = "Global average pooling to CxXx1x1 (torch AdaptiveAvgPool2d(1)); follow with flatten."
    ARGUMENTS = ()

    size: int = 1

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> GlobalAvgPool:
        return cls()
