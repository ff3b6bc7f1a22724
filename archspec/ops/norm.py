"""Normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.counts import Counts
from archspec.ops.base import (
    Argument,
    Op,
    Shape,
    Tensor,
    channels,
    elements,
    feature_map,
    flag,
)
from archspec.ops.registry import register


@register
@dataclass(frozen=True, slots=True)
class BatchNorm2d(Op):
    NAME = "bn"
    DOC = "Batch normalization over channels (PyTorch's eps and momentum conventions)."
    ARGUMENTS = (
        Argument("eps", float, "added to the variance", 1e-5, minimum=0.0),
        Argument(
            "momentum",
            float,
            "running-statistics update rate, as PyTorch",
            0.1,
            minimum=0.0,
            maximum=1.0,
        ),
        flag("zero_init", "start with weight 0: the last BN of a residual branch", False),
    )
    ROLES = {"channels": "in"}

    channels: int
    eps: float = 1e-5
    momentum: float = 0.1
    zero_init: bool = False

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> BatchNorm2d:
        return cls(input[0], arguments["eps"], arguments["momentum"], arguments["zero_init"])

    def shape(self, input: Shape) -> Shape:
        feature_map(input, "bn")
        return input

    def cost(self, input: Shape, output: Shape) -> Counts:
        # fvcore (eval mode, affine): one normalise and one scale-shift per element.
        return Counts(
            params=2 * self.channels, norm=2 * elements(input), activations=elements(output)
        )

    def label(self) -> str:
        return f"bn {self.channels}" + (", zero-init" if self.zero_init else "")

    def tensors(self) -> tuple[Tensor, ...]:
        channels = (self.channels,)
        return (
            Tensor("weight", channels, "C"),
            Tensor("bias", channels, "C"),
            Tensor("running_mean", channels, "C", "buffer"),
            Tensor("running_var", channels, "C", "buffer"),
            Tensor("num_batches_tracked", (), "", "count"),
        )


@register
@dataclass(frozen=True, slots=True)
class LayerNorm(Op):
    NAME = "layernorm"
    DOC = (
        "Layer normalization over the channels of each pixel (ConvNeXt's norm: "
        "torchvision's LayerNorm2d), over flat features, or over the features of each "
        "token (ViT's norm); emitted as the framework's own (torch.nn.LayerNorm(D), "
        "nnx.LayerNorm) except on an NCHW map."
    )
    ARGUMENTS = (Argument("eps", float, "added to the variance", 1e-5, minimum=0.0),)
    ROLES = {"channels": "in"}

    channels: int
    eps: float = 1e-5

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> LayerNorm:
        return cls(channels(input), arguments["eps"])

    def shape(self, input: Shape) -> Shape:
        if len(input) not in (1, 2):
            feature_map(input, "layernorm")
        return input

    def cost(self, input: Shape, output: Shape) -> Counts:
        # fvcore's layer_norm with an affine transform: 5 per element.
        return Counts(
            params=2 * self.channels, norm=5 * elements(input), activations=elements(output)
        )

    def label(self) -> str:
        return f"layernorm {self.channels}"

    def tensors(self) -> tuple[Tensor, ...]:
        return (Tensor("weight", (self.channels,), "C"), Tensor("bias", (self.channels,), "C"))


@register
@dataclass(frozen=True, slots=True)
class Scale(Op):
    NAME = "scale"
    DOC = (
        "A learned scale per channel, multiplied into the input; one tensor, held by the "
        "enclosing module under the item's name (ConvNeXt's `layer_scale`: "
        "`features.1.0.layer_scale`, not a submodule's `.weight`)."
    )
    ARGUMENTS = (Argument("init", float, "the initial value of every channel", 1.0),)
    ROLES = {"channels": "in"}
    BARE = "multiply"

    channels: int
    init: float = 1.0

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Scale:
        return cls(input[0], arguments["init"])

    def shape(self, input: Shape) -> Shape:
        feature_map(input, self.NAME)
        return input

    def cost(self, input: Shape, output: Shape) -> Counts:
        return Counts(params=self.channels, activations=elements(output))

    def label(self) -> str:
        return f"scale {self.channels}"

    def tensors(self) -> tuple[Tensor, ...]:
        return (Tensor("", (self.channels, 1, 1), "CHW"),)
