"""Token sequences: a feature map made tokens, the learned class token and position
embedding of a vision transformer, and the pooling back to flat features.

A token sequence is the shape ``(L, D)``: ``L`` tokens of ``D`` features each (the batch
is not part of it), as torch holds it, ``(batch, L, D)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.counts import Counts
from archspec.ops.base import (
    Free,
    Op,
    Shape,
    ShapeProblem,
    Tensor,
    choice,
    elements,
    feature_map,
    refused,
    size,
    token_sequence,
)
from archspec.ops.registry import register


@register
@dataclass(frozen=True, slots=True)
class Tokens(Free):
    NAME = "tokens"
    DOC = (
        "CxHxW map -> (H*W)xC tokens, one per pixel in row-major order (torch's "
        "`x.flatten(2).transpose(1, 2)`): after a ViT's patch convolution."
    )

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Tokens:
        return cls()

    def shape(self, input: Shape) -> Shape:
        channels, height, width = feature_map(input, self.NAME)
        return (height * width, channels)


@register
@dataclass(frozen=True, slots=True)
class ClassToken(Op):
    NAME = "class_token"
    DOC = (
        "A learned token put before the first: LxD -> (L+1)xD. One (1, 1, D) tensor held "
        "by the enclosing module under the item's name, as `scale` (torchvision's "
        "`class_token`, timm's `cls_token`)."
    )
    ROLES = {"features": "in"}
    BARE = "prepend"

    features: int

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> ClassToken:
        return cls(input[-1])

    def shape(self, input: Shape) -> Shape:
        length, features = token_sequence(input, self.NAME)
        return (length + 1, features)

    def cost(self, input: Shape, output: Shape) -> Counts:
        return Counts(params=self.features, activations=elements(output))

    def label(self) -> str:
        return f"class token {self.features}"

    def tensors(self) -> tuple[Tensor, ...]:
        return (Tensor("", (1, 1, self.features), "NLD"),)


@register
@dataclass(frozen=True, slots=True)
class PositionEmbedding(Op):
    NAME = "position_embedding"
    DOC = (
        "A learned embedding added to the tokens, one per position: a (1, L, D) tensor "
        "held by the enclosing module under the item's name, as `scale` (torchvision's "
        "`encoder.pos_embedding`, timm's `pos_embed`)."
    )
    ARGUMENTS = (size("length", "the sequence length it holds; must equal the incoming one"),)
    ROLES = {"features": "in"}
    BARE = "add"

    length: int
    features: int

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> PositionEmbedding:
        length = arguments["length"]
        return cls(input[0] if length is None else length, input[-1])

    def shape(self, input: Shape) -> Shape:
        length, _ = token_sequence(input, self.NAME)
        if refused(lambda: length != self.length):
            raise ShapeProblem(
                "E322",
                f"position_embedding holds {self.length} positions, the sequence has {length}",
                "leave out `length` to take the sequence's, or check the input size, the "
                "patch size and the class token",
            )
        return input

    def cost(self, input: Shape, output: Shape) -> Counts:
        return Counts(params=self.length * self.features, activations=elements(output))

    def label(self) -> str:
        return f"position embedding {self.length}x{self.features}"

    def tensors(self) -> tuple[Tensor, ...]:
        return (Tensor("", (1, self.length, self.features), "NLD"),)


@register
@dataclass(frozen=True, slots=True)
class TokenPool(Free):
    NAME = "token_pool"
    DOC = (
        'LxD tokens -> D features: the first token (`"class"`, x[:, 0]: the class token) '
        'or the mean over the tokens after the first `skip` (`"mean"`; timm\'s average '
        'pool skips the class token: `token_pool("mean", skip=1)`).'
    )
    ARGUMENTS = (
        choice("mode", "which token, or the mean", ("class", "mean")),
        size("skip", "tokens left out of the mean", default=0, minimum=0),
    )

    mode: str = "class"
    skip: int = 0

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> TokenPool:
        return cls(arguments["mode"], arguments["skip"])

    def shape(self, input: Shape) -> Shape:
        length, features = token_sequence(input, self.NAME)
        if self.mode == "mean" and refused(lambda: self.skip >= length):
            raise ShapeProblem(
                "E312",
                f"token_pool skips {self.skip} of {length} tokens, leaving none to average",
            )
        return (features,)

    def label(self) -> str:
        return "class token" if self.mode == "class" else f"mean of tokens {self.skip}.."
