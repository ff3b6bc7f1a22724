"""Ops that move, drop or select values: flatten, dropout, channel chunks and shuffles,
option A."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.ops.base import (
    MAX_CHANNELS,
    Free,
    Shape,
    ShapeProblem,
    choice,
    divisible,
    elements,
    feature_map,
    fraction,
    refused,
    size,
    strided,
)
from archspec.ops.registry import register, register_internal


@register
@dataclass(frozen=True, slots=True)
class Flatten(Free):
    NAME = "flatten"
    DOC = "CxHxW -> C*H*W features."

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Flatten:
        return cls()

    def shape(self, input: Shape) -> Shape:
        return (elements(input),)


@register
@dataclass(frozen=True, slots=True)
class Dropout(Free):
    NAME = "dropout"
    DOC = "Dropout (active in training mode only)."
    ARGUMENTS = (fraction("p", "probability of zeroing an element", 0.5),)

    p: float = 0.5

    def label(self) -> str:
        return f"dropout {self.p:g}"

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Dropout:
        return cls(arguments["p"])

    def shape(self, input: Shape) -> Shape:
        return input


@register
@dataclass(frozen=True, slots=True)
class StochasticDepth(Free):
    NAME = "stochastic_depth"
    DOC = (
        "Stochastic depth (Huang et al. 2016) on a residual branch, as "
        "torchvision.ops.StochasticDepth: in training, zero the branch with probability `p` "
        'for each sample (`mode="row"`) or for the whole batch (`"batch"`) and scale '
        "what is kept by 1 / (1 - p); the identity in eval."
    )
    ARGUMENTS = (
        fraction("p", "probability of dropping the branch", 0.0),
        choice("mode", "what one draw drops: a sample or the batch", ("row", "batch")),
    )

    p: float = 0.0
    mode: str = "row"

    def label(self) -> str:
        return f"stochastic depth {self.p:g}"

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> StochasticDepth:
        return cls(arguments["p"], arguments["mode"])

    def shape(self, input: Shape) -> Shape:
        feature_map(input, self.NAME)
        return input


@register
@dataclass(frozen=True, slots=True)
class Chunk(Free):
    NAME = "chunk"
    DOC = (
        "One of `chunks` equal slices of the channels, `index` counted from 0 "
        "(ShuffleNet's channel split: `concat(chunk(2, 0), (chunk(2, 1) ...))`)."
    )
    ARGUMENTS = (
        size("chunks", "how many equal slices", required=True),
        size("index", "which slice, from 0", required=True, minimum=0, maximum=MAX_CHANNELS),
    )

    chunks: int
    index: int

    def label(self) -> str:
        return f"chunk {self.index + 1} of {self.chunks}"

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Chunk:
        return cls(arguments["chunks"], arguments["index"])

    def shape(self, input: Shape) -> Shape:
        channels, height, width = feature_map(input, self.NAME)
        if not divisible(channels, self.chunks) or refused(lambda: self.index >= self.chunks):
            raise ShapeProblem(
                "E310",
                f"chunk({self.chunks}, {self.index}) needs {self.chunks} equal slices of "
                f"{channels} channels and an index below {self.chunks}",
            )
        return (channels // self.chunks, height, width)


@register
@dataclass(frozen=True, slots=True)
class ChannelShuffle(Free):
    NAME = "channel_shuffle"
    DOC = (
        "Interleave `groups` equal groups of channels: channel i of group g moves to "
        "i * groups + g (ShuffleNet's shuffle: `concat(...) channel_shuffle(2)`)."
    )
    ARGUMENTS = (size("groups", "how many groups of channels", required=True),)

    groups: int

    def label(self) -> str:
        return f"shuffle {self.groups}"

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> ChannelShuffle:
        return cls(arguments["groups"])

    def shape(self, input: Shape) -> Shape:
        channels, _, _ = feature_map(input, self.NAME)
        if not divisible(channels, self.groups):
            raise ShapeProblem(
                "E310",
                f"channel_shuffle({self.groups}) needs channels in {self.groups} equal "
                f"groups, found {channels}",
            )
        return input


@register_internal
@dataclass(frozen=True, slots=True)
class ZeroPadShortcut(Free):
    """Option A: keep every ``stride``-th pixel, then append zero channels."""

    NAME = "zero_pad"
    DOC = "Option A's shortcut: subsample by the stride, append zero channels."
    ROLES = {"in_channels": "in", "out_channels": "out"}

    stride: int
    in_channels: int
    out_channels: int

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> ZeroPadShortcut:
        return cls(arguments["stride"], input[0], arguments["channels"])

    def label(self) -> str:
        return f"zero-pad{strided(self.stride)}, {self.in_channels}->{self.out_channels}"

    def shape(self, input: Shape) -> Shape:
        _, height, width = feature_map(input, "shortcut")
        return (self.out_channels, -(-height // self.stride), -(-width // self.stride))
