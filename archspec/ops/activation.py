"""Activation functions: elementwise, no parameters, the shape unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.ops.base import Free, Shape, flag
from archspec.ops.registry import register


@dataclass(frozen=True, slots=True)
class Activation(Free):
    """What every activation shares; a subclass names itself and documents its formula."""

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Activation:
        return cls()

    def shape(self, input: Shape) -> Shape:
        return input


@register
@dataclass(frozen=True, slots=True)
class ReLU(Activation):
    NAME = "relu"
    DOC = "Rectified linear unit: max(x, 0)."


@register
@dataclass(frozen=True, slots=True)
class Sigmoid(Activation):
    NAME = "sigmoid"
    DOC = "Logistic sigmoid 1 / (1 + exp(-x)): the gate of squeeze-and-excitation."


@register
@dataclass(frozen=True, slots=True)
class ReLU6(Activation):
    NAME = "relu6"
    DOC = "min(max(x, 0), 6): MobileNet's bounded ReLU."


@register
@dataclass(frozen=True, slots=True)
class SiLU(Activation):
    NAME = "silu"
    DOC = "x * sigmoid(x) (swish): EfficientNet's activation."


@register
@dataclass(frozen=True, slots=True)
class Hardswish(Activation):
    NAME = "hardswish"
    DOC = "x * relu6(x + 3) / 6: MobileNetV3's cheap swish."


@register
@dataclass(frozen=True, slots=True)
class Hardsigmoid(Activation):
    NAME = "hardsigmoid"
    DOC = "relu6(x + 3) / 6: MobileNetV3's cheap gate."


@register
@dataclass(frozen=True, slots=True)
class Tanh(Activation):
    NAME = "tanh"
    DOC = "Hyperbolic tangent."


@register
@dataclass(frozen=True, slots=True)
class GELU(Activation):
    NAME = "gelu"
    DOC = "x * Phi(x), Phi the normal distribution; `tanh=true`: its tanh approximation."
    ARGUMENTS = (flag("tanh", "the tanh approximation (PyTorch's approximate='tanh')", False),)

    tanh: bool = False

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> GELU:
        return cls(arguments["tanh"])

    def label(self) -> str:
        return "gelu (tanh)" if self.tanh else "gelu"
