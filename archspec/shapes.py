"""Shape inference: one rule per op, from an input shape to an output shape.

Rules raise ShapeProblem; lowering turns it into a located diagnostic, since only
lowering knows which spec text produced the op.
"""

from __future__ import annotations

import math
from functools import singledispatch

from archspec import ir


class ShapeProblem(Exception):
    def __init__(self, code: str, message: str, help: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.help = help


def describe(shape: ir.Shape) -> str:
    return "x".join(str(d) for d in shape)


def window_output(
    size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a sliding window, with PyTorch's rounding (ceil_mode included)."""
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span
    if room < 0:
        raise ShapeProblem(
            "E308",
            f"kernel {kernel} is larger than its padded input ({size} + 2x{padding})",
            "use a smaller kernel, more padding, or a larger input",
        )
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # PyTorch: the last window must start inside the input or left padding
    return out


def _feature_map(shape: ir.Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeProblem(
            "E317",
            f"{what} needs a CxHxW feature map, found flat features of size {describe(shape)}",
            "put it before flatten",
        )
    return shape[0], shape[1], shape[2]


def _spatial(
    shape: ir.Shape,
    what: str,
    kernel: int,
    stride: int,
    padding: int,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> tuple[int, int]:
    _, height, width = _feature_map(shape, what)
    if padding * 2 > kernel and what != "conv":
        raise ShapeProblem(
            "E312", f"{what} padding {padding} is more than half its kernel {kernel}"
        )
    return (
        window_output(height, kernel, stride, padding, dilation, ceil_mode),
        window_output(width, kernel, stride, padding, dilation, ceil_mode),
    )


@singledispatch
def output_shape(op: object, shape: ir.Shape) -> ir.Shape:
    raise TypeError(f"no shape rule for {type(op).__name__}")


@output_shape.register
def _conv(op: ir.Conv2d, shape: ir.Shape) -> ir.Shape:
    channels, _, _ = _feature_map(shape, "conv")
    for count, side in ((channels, "input"), (op.out_channels, "output")):
        if count % op.groups:
            raise ShapeProblem(
                "E310",
                f"groups={op.groups} does not divide the {side} channels ({count})",
                "choose groups that divide both channel counts",
            )
    height, width = _spatial(shape, "conv", op.kernel, op.stride, op.padding, op.dilation)
    return (op.out_channels, height, width)


@output_shape.register
def _bn(op: ir.BatchNorm2d, shape: ir.Shape) -> ir.Shape:
    _feature_map(shape, "bn")
    return shape


@output_shape.register(ir.ReLU)
@output_shape.register(ir.Dropout)
def _same(op: ir.ReLU | ir.Dropout, shape: ir.Shape) -> ir.Shape:
    return shape


@output_shape.register(ir.MaxPool2d)
@output_shape.register(ir.AvgPool2d)
def _pool(op: ir.MaxPool2d | ir.AvgPool2d, shape: ir.Shape) -> ir.Shape:
    height, width = _spatial(shape, op.op, op.kernel, op.stride, op.padding, 1, op.ceil_mode)
    return (shape[0], height, width)


@output_shape.register
def _adaptive(op: ir.AdaptiveAvgPool2d, shape: ir.Shape) -> ir.Shape:
    channels, _, _ = _feature_map(shape, op.op)
    return (channels, op.size, op.size)


@output_shape.register
def _flatten(op: ir.Flatten, shape: ir.Shape) -> ir.Shape:
    return (math.prod(shape),)


@output_shape.register
def _linear(op: ir.Linear, shape: ir.Shape) -> ir.Shape:
    if len(shape) != 1:
        raise ShapeProblem(
            "E317",
            f"fc needs flat features, found a {describe(shape)} feature map",
            "insert flatten (after a global average pool) before fc",
        )
    return (op.out_features,)


@output_shape.register
def _zero_pad(op: ir.ZeroPadShortcut, shape: ir.Shape) -> ir.Shape:
    channels, height, width = _feature_map(shape, "shortcut")
    return (op.out_channels, -(-height // op.stride), -(-width // op.stride))
