"""Multi-head self-attention over a token sequence, in the two tensor layouts the
references hold.

The computation is one: project each token to queries, keys and values (one D -> 3D
linear map), split D into ``heads`` heads, take softmax(QK^T / sqrt(D / heads)) V per
head, project back (D -> D). What differs is where the weights live, and so the state_dict
keys a spec must reproduce: timm (and the ViT paper's code) hold two ``nn.Linear``s,
``qkv`` and ``proj``; torchvision holds ``nn.MultiheadAttention``'s ``in_proj_weight``,
``in_proj_bias`` and ``out_proj``. Hence two ops sharing this module's base class (fields,
shape, cost): each has one fixed set of tensors and one lowering per backend, which an
argument choosing the layout could not give without lowerings that vary by value.

Counting: the four projections' multiply-adds as linear layers (4 L D^2), plus the two
matrix products QK^T and (attention weights) x V, L^2 D each; the activations are the
output and the attention maps, heads x L x L.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.counts import Counts
from archspec.ops.base import (
    Op,
    Shape,
    ShapeProblem,
    Tensor,
    divisible,
    elements,
    flag,
    fraction,
    size,
    token_sequence,
)
from archspec.ops.registry import register

HEADS = size("heads", "attention heads; must divide the token features", required=True)
ATTENTION_DROPOUT = fraction("attention_dropout", "dropout on the attention weights", 0.0)


@dataclass(frozen=True, slots=True)
class SelfAttention(Op):
    """What both layouts share: the fields, the shape rule and the count."""

    ROLES = {"features": "in"}

    features: int
    heads: int
    bias: bool = True
    attention_dropout: float = 0.0

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> SelfAttention:
        """The features from the tokens; every argument is the field of its name."""
        return cls(input[-1], **{a.name: arguments[a.name] for a in cls.ARGUMENTS})

    def shape(self, input: Shape) -> Shape:
        _, features = token_sequence(input, self.NAME)
        if not divisible(features, self.heads):
            raise ShapeProblem(
                "E310",
                f"{self.heads} heads do not divide {features} features",
                "choose heads that divide the token width (ViT-B: 768 features, 12 heads)",
            )
        return input

    def cost(self, input: Shape, output: Shape) -> Counts:
        length, features = input
        products = 2 * length * length * features  # QK^T and attention x V
        return Counts(
            params=sum(elements(tensor.shape) for tensor in self.tensors()),
            macs=4 * length * features * features + products,
            activations=elements(output) + self.heads * length * length,
            attention=products,
        )

    def label(self) -> str:
        return f"attention {self.features}, {self.heads} heads"


@register
@dataclass(frozen=True, slots=True)
class Attention(SelfAttention):
    NAME = "attention"
    DOC = (
        "Multi-head self-attention on tokens holding timm's tensors: `qkv` (D -> 3D) and "
        "`proj` (D -> D) linear layers; written with "
        "torch.nn.functional.scaled_dot_product_attention."
    )
    ARGUMENTS = (
        HEADS,
        flag("bias", "biases on queries, keys and values (timm's qkv_bias; proj has one)", True),
        ATTENTION_DROPOUT,
        fraction("projection_dropout", "dropout after the output projection", 0.0),
    )

    projection_dropout: float = 0.0

    def tensors(self) -> tuple[Tensor, ...]:
        d = self.features
        qkv = [Tensor("qkv.weight", (3 * d, d), "OI")]
        if self.bias:
            qkv.append(Tensor("qkv.bias", (3 * d,), "O"))
        return (*qkv, Tensor("proj.weight", (d, d), "OI"), Tensor("proj.bias", (d,), "O"))


@register
@dataclass(frozen=True, slots=True)
class MultiheadAttention(SelfAttention):
    NAME = "multihead_attention"
    DOC = (
        "Multi-head self-attention on tokens holding torch.nn.MultiheadAttention's tensors "
        "(`in_proj_weight`, `in_proj_bias`, `out_proj`): torchvision's ViT."
    )
    ARGUMENTS = (
        HEADS,
        flag("bias", "biases on the input and output projections", True),
        ATTENTION_DROPOUT,
    )

    def tensors(self) -> tuple[Tensor, ...]:
        d = self.features
        weights = (
            Tensor("in_proj_weight", (3 * d, d), "OI"),
            Tensor("out_proj.weight", (d, d), "OI"),
        )
        if not self.bias:
            return weights
        return (
            weights[0],
            Tensor("in_proj_bias", (3 * d,), "O"),
            weights[1],
            Tensor("out_proj.bias", (d,), "O"),
        )
