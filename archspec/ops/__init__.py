"""The op registry: every primitive op of the language, one class each (see ``base``).

Importing this package registers the standard families; ``OPS`` maps a language name to
its class. Adding an op is one class in one of these files (or your own, registered with
``register``) plus one lowering entry per backend.
"""

from archspec.ops import activation, attention, conv, linear, norm, pool, structure, tokens
from archspec.ops.activation import ReLU, Sigmoid
from archspec.ops.attention import Attention, MultiheadAttention, SelfAttention
from archspec.ops.base import Argument, Op, Role, Shape, ShapeProblem, Tensor
from archspec.ops.conv import Conv2d
from archspec.ops.linear import ChannelLinear, Linear
from archspec.ops.norm import BatchNorm2d, LayerNorm, Scale
from archspec.ops.pool import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool, MaxPool2d
from archspec.ops.registry import INTERNAL, OPS, language_ops, register
from archspec.ops.structure import (
    ChannelShuffle,
    Chunk,
    Dropout,
    Flatten,
    StochasticDepth,
    ZeroPadShortcut,
)
from archspec.ops.tokens import ClassToken, PositionEmbedding, TokenPool, Tokens

__all__ = [
    "INTERNAL",
    "AdaptiveAvgPool2d",
    "Attention",
    "AvgPool2d",
    "BatchNorm2d",
    "ChannelLinear",
    "ChannelShuffle",
    "ClassToken",
    "Chunk",
    "Conv2d",
    "Dropout",
    "Flatten",
    "GlobalAvgPool",
    "LayerNorm",
    "Linear",
    "MaxPool2d",
    "MultiheadAttention",
    "PositionEmbedding",
    "ReLU",
    "Scale",
    "SelfAttention",
    "Sigmoid",
    "StochasticDepth",
    "TokenPool",
    "Tokens",
    "ZeroPadShortcut",
    "OPS",
    "Argument",
    "Op",
    "Role",
    "Shape",
    "ShapeProblem",
    "Tensor",
    "activation",
    "attention",
    "conv",
    "language_ops",
    "linear",
    "norm",
    "pool",
    "register",
    "structure",
    "tokens",
]
