"""Activation functions: elementwise, no parameters, the shape unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.ops.base import Free, Shape
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
