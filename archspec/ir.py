"""The intermediate representation: a frozen tree of named modules over primitive ops.

Lowering has already decided everything (shortcut kind, stride placement, channel
counts), so shapes, costs, graphs and every backend only read this tree. Each node
knows its module path (``layer1.0.conv1``), which is also its name in every backend,
its input and output shape, and the span of spec text it came from.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Annotated, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from archspec.source import Span

Shape = tuple[int, ...]
"""``(channels, height, width)`` for feature maps, ``(features,)`` after flatten."""

Scalar = bool | int | float | str


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


F = TypeVar("F", bound=Frozen)
N = TypeVar("N", bound="Layer | Sequence | Block")


class Conv2d(Frozen):
    op: Literal["conv"] = "conv"
    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = False


class BatchNorm2d(Frozen):
    op: Literal["bn"] = "bn"
    channels: int
    eps: float = 1e-5
    momentum: float = 0.1
    zero_init: bool = Field(False, description="start with weight 0 (last BN of a residual branch)")


class ReLU(Frozen):
    op: Literal["relu"] = "relu"


class MaxPool2d(Frozen):
    op: Literal["maxpool"] = "maxpool"
    kernel: int
    stride: int
    padding: int = 0
    ceil_mode: bool = False


class AvgPool2d(Frozen):
    op: Literal["avgpool"] = "avgpool"
    kernel: int
    stride: int
    padding: int = 0
    ceil_mode: bool = False
    count_include_pad: bool = True


class AdaptiveAvgPool2d(Frozen):
    op: Literal["adaptive_avgpool"] = "adaptive_avgpool"
    size: int


class Flatten(Frozen):
    op: Literal["flatten"] = "flatten"


class Linear(Frozen):
    op: Literal["fc"] = "fc"
    in_features: int
    out_features: int
    bias: bool = True


class Dropout(Frozen):
    op: Literal["dropout"] = "dropout"
    p: float = 0.5


class ZeroPadShortcut(Frozen):
    """Option A: keep every ``stride``-th pixel, then append zero channels."""

    op: Literal["zero_pad"] = "zero_pad"
    stride: int
    in_channels: int
    out_channels: int


Op = Annotated[
    Conv2d
    | BatchNorm2d
    | ReLU
    | MaxPool2d
    | AvgPool2d
    | AdaptiveAvgPool2d
    | Flatten
    | Linear
    | Dropout
    | ZeroPadShortcut,
    Field(discriminator="op"),
]


class Node(Frozen):
    name: str = Field(description="local name: an identifier, or a position for unnamed items")
    path: str = Field(description="dotted module path from the network root")
    input: Shape
    output: Shape
    span: Span | None = None


class Layer(Node):
    """One primitive op."""

    kind: Literal["layer"] = "layer"
    op: Op


class Sequence(Node):
    """Children applied in order: a stage, or a named group."""

    kind: Literal["sequence"] = "sequence"
    stage: bool = False
    children: tuple[Module, ...]


ShortcutKind = Literal["none", "identity", "zero_pad", "projection"]


class Block(Node):
    """``after(body(x) + shortcut(x))``; a plain block (shortcut "none") is ``after(body(x))``.

    ``body``, ``downsample`` and ``after`` share the block's namespace, as in torchvision
    (``layer2.0.conv1``, ``layer2.0.downsample.0``).
    """

    kind: Literal["block"] = "block"
    block: str = Field(description="the block type, e.g. 'basic'")
    arguments: tuple[tuple[str, Scalar], ...] = ()
    body: tuple[Module, ...]
    shortcut: ShortcutKind
    downsample: Module | None = Field(None, description="the shortcut's module unless identity")
    after: tuple[Module, ...] = ()

    def children(self) -> tuple[Module, ...]:
        extra = (self.downsample,) if self.downsample is not None else ()
        return self.body + extra + self.after


Module = Annotated[Layer | Sequence | Block, Field(discriminator="kind")]


class PaperFigures(Frozen):
    """What the paper reports for this network, to compare against."""

    macs: float | None = Field(None, description="multiply-adds ('FLOPs' in the paper)")
    params: float | None = None
    source: str = ""


class Network(Frozen):
    name: str
    input: Shape
    output: Shape
    children: tuple[Module, ...]
    shortcut: str = Field(description="the network's default shortcut option")
    parameters: tuple[tuple[str, Scalar], ...] = ()
    paper: PaperFigures | None = None
    file: str = ""

    def stages(self) -> tuple[Sequence, ...]:
        return tuple(c for c in self.children if isinstance(c, Sequence) and c.stage)


def moved(node: N, path: str, name: str) -> N:
    """The same module at another path (its children follow), without revalidation.

    Lowering builds each distinct block once and moves copies into place: a ResNet-152
    has 50 blocks but only a handful of distinct ones.
    """
    prefix = len(node.path)

    def move(n: Module, local: str) -> Module:
        fields = dict(n.__dict__, path=path + n.path[prefix:], name=local)
        if isinstance(n, Sequence):
            fields["children"] = tuple(move(c, c.name) for c in n.children)
        elif isinstance(n, Block):
            fields["body"] = tuple(move(c, c.name) for c in n.body)
            fields["after"] = tuple(move(c, c.name) for c in n.after)
            if n.downsample is not None:
                fields["downsample"] = move(n.downsample, n.downsample.name)
        return _unchecked(type(n), fields, n.__pydantic_fields_set__)

    return cast(N, move(node, name))  # a copy of the same class


def construct(cls: type[F], **fields: object) -> F:
    """A node from values the compiler has already checked: defaults filled, no validation.

    pydantic's model_construct does the same with per-field bookkeeping that cost a third
    of lowering; tests validate the whole IR of every spec against the schema.
    """
    return _unchecked(cls, {**_defaults(cls), **fields}, set(fields))


@functools.cache
def _defaults(cls: type[Frozen]) -> dict[str, object]:
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
        if not field.is_required()
    }


def _unchecked(cls: type[F], fields: dict[str, object], fields_set: set[str]) -> F:
    """What pydantic's model_construct does, minus its per-field bookkeeping: ~10x faster.

    Only for copies of nodes that were valid already; tests validate the whole IR.
    """
    node = object.__new__(cls)
    object.__setattr__(node, "__dict__", fields)
    object.__setattr__(node, "__pydantic_fields_set__", fields_set)
    object.__setattr__(node, "__pydantic_extra__", None)
    object.__setattr__(node, "__pydantic_private__", None)
    return node


def children_of(node: Layer | Sequence | Block | Network) -> tuple[Module, ...]:
    """The direct submodules of any node, in execution order (shortcut before after)."""
    if isinstance(node, Layer):
        return ()
    if isinstance(node, Block):
        return node.children()
    return node.children


def walk(node: Layer | Sequence | Block | Network) -> Iterator[Layer | Sequence | Block]:
    """Every module below ``node`` in depth-first order, containers before their children."""
    for child in children_of(node):
        yield child
        yield from walk(child)


def layers(node: Layer | Sequence | Block | Network) -> Iterator[Layer]:
    """Every primitive op below ``node``, in module order."""
    return (m for m in walk(node) if isinstance(m, Layer))


Sequence.model_rebuild()
Block.model_rebuild()
Network.model_rebuild()
