"""What an op is: one class holds its IR fields, its language, its shape, cost and tensors.

An op is a frozen dataclass (its IR fields) subclassing ``Op``. Its class attributes say
how the language writes it (``NAME``, ``DOC``, ``ARGUMENTS``) and how its fields relate
to the data flow (``ROLES``); its methods are its rules:

- ``make(arguments, input)``: the op from checked language arguments and the input shape;
- ``shape(input)``: the output shape, or a ``ShapeProblem`` that lowering locates;
- ``cost(input, output)``: exact ``Counts``;
- ``tensors()``: its parameters and buffers, in PyTorch's names and layouts, which weight
  conversion maps onto each backend's own.

Every rule is abstract here: an op that forgets one fails at its first use, and
``tests/test_registry.py`` lists every gap in any op or backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from archspec import symbolic
from archspec.counts import Counts

Shape = tuple[int, ...]
Role = Literal["in", "out"]
Bare = Literal["multiply", "add", "prepend"]
"""How a bare tensor (``Op.BARE``) meets the input: multiplied in (a layer scale), added
(a position embedding) or put before the first token (a class token, one per sample)."""
"""How a field follows the data flow: ``in`` is the channels (or features) coming in,
``out`` the channels it produces. Code generation threads these through a block."""

MAX_CHANNELS = 1 << 20
MAX_WINDOW = 1 << 12


class ShapeProblem(Exception):
    """An op cannot take its input; lowering reports it at the spec's location."""

    def __init__(self, code: str, message: str, help: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.help = help


@dataclass(frozen=True)
class Argument:
    """One argument of an op in the language: its name, type, default and limits."""

    name: str
    kind: type
    doc: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    """The values a text argument (``kind`` str) may take."""

    def describe_default(self) -> str:
        if self.required:
            return "required"
        if self.default is None:
            return "see text"
        if isinstance(self.default, str):
            return f'"{self.default}"'
        return str(self.default).lower() if isinstance(self.default, bool) else str(self.default)


def size(
    name: str,
    doc: str,
    required: bool = False,
    default: int | None = None,
    minimum: int = 1,
    maximum: int = MAX_CHANNELS,
) -> Argument:
    """A whole-number argument: channels, kernel sizes, strides."""
    return Argument(name, int, doc, default, required, minimum, maximum)


def flag(name: str, doc: str, default: bool) -> Argument:
    return Argument(name, bool, doc, default)


def choice(name: str, doc: str, choices: tuple[str, ...]) -> Argument:
    """A text argument: one of ``choices``, the first the default."""
    return Argument(name, str, doc, choices[0], choices=choices)


def fraction(name: str, doc: str, default: float, maximum: float = 1.0) -> Argument:
    return Argument(name, float, doc, default, minimum=0.0, maximum=maximum)


@dataclass(frozen=True)
class Tensor:
    """A parameter or buffer of an op, as PyTorch names and lays it out.

    ``layout`` names the axes (``OIHW`` for a convolution's weight, ``OI`` for a linear
    layer's); a backend with another layout states its own and conversion transposes.
    ``kind`` is ``param`` (learned), ``buffer`` (running statistics) or ``count`` (an
    integer counter such as ``num_batches_tracked``).
    """

    name: str
    shape: Shape
    layout: str
    kind: Literal["param", "buffer", "count"] = "param"


@dataclass(frozen=True, slots=True)
class Op:
    """The base of every op: the registry's contract (see the module docstring)."""

    NAME: ClassVar[str]
    DOC: ClassVar[str]
    ARGUMENTS: ClassVar[tuple[Argument, ...]] = ()
    COMPUTED_DEFAULTS: ClassVar[dict[str, tuple[str, ...]]] = {}
    """An argument whose default ``make`` computes from others (a convolution's padding
    from its kernel and dilation), with those: where it is not given, they are not
    whole arguments (``lower.keywords``), as a keyword may stand only for those."""
    ROLES: ClassVar[dict[str, Role]] = {}
    BARE: ClassVar[Bare | None] = None
    """Set when the op is one learned tensor (``tensors()`` names it ``""``) held by the
    enclosing module under the item's name, as a bare ``nn.Parameter`` attribute is
    (ConvNeXt's ``layer_scale``, ViT's ``class_token``): its state key is the item's path,
    and the value says how it meets the input."""

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> Op:
        raise NotImplementedError(f"op '{cls.NAME}' has no make rule")

    def shape(self, input: Shape) -> Shape:
        raise NotImplementedError(f"op '{self.NAME}' has no shape rule")

    def cost(self, input: Shape, output: Shape) -> Counts:
        raise NotImplementedError(f"op '{self.NAME}' has no cost rule")

    def tensors(self) -> tuple[Tensor, ...]:
        raise NotImplementedError(f"op '{self.NAME}' has no tensors rule")

    def label(self) -> str:
        """The op and its key arguments in a few characters, for tables and pictures."""
        return self.NAME


def strided(stride: int) -> str:
    return f" /{stride}" if stride != 1 else ""


@dataclass(frozen=True, slots=True)
class Free(Op):
    """An op with no parameters and no arithmetic to count (an activation, a window, a
    reshape): its cost is its output's elements, as activations. A subclass opts in."""

    def cost(self, input: Shape, output: Shape) -> Counts:
        return Counts(activations=elements(output))

    def tensors(self) -> tuple[Tensor, ...]:
        return ()


def elements(shape: Shape) -> int:
    return math.prod(shape)


def describe(shape: Shape) -> str:
    """``64x56x56`` (a feature map), ``1000`` (flat features), ``197x768 tokens``."""
    text = "x".join(str(d) for d in shape)
    return f"{text} tokens" if len(shape) == 2 else text


def channels(shape: Shape) -> int:
    """The channel (feature) axis: the first of a feature map or flat features, the last
    of tokens (``L x D``: a sequence of ``L`` tokens of ``D`` features)."""
    return shape[-1] if len(shape) == 2 else shape[0]


def found(shape: Shape) -> str:
    """What a shape is, for a complaint: ``flat features of size 1000``, ``197x768 tokens``."""
    kinds = {1: "flat features of size ", 2: "", 3: "a feature map of size "}
    return kinds.get(len(shape), "") + describe(shape)


def refused(check: Callable[[], object]) -> bool:
    """Whether a check refuses the input. A check decides nothing about the network built,
    so it may read a traced number (``archspec.symbolic``) without making it structural."""
    with symbolic.checking():
        return bool(check())


def divisible(count: int, by: int) -> bool:
    """Whether ``by`` divides ``count``: a check (see ``refused``)."""
    return bool(symbolic.plain(count) % symbolic.plain(by) == 0)


def feature_map(shape: Shape, what: str) -> tuple[int, int, int]:
    """The (C, H, W) of a feature map, or a located complaint about what came instead."""
    if len(shape) != 3:
        raise ShapeProblem(
            "E317",
            f"{what} needs a CxHxW feature map, found {found(shape)}",
            "put it before flatten" if len(shape) == 1 else "put it before `tokens`",
        )
    return shape[0], shape[1], shape[2]


def token_sequence(shape: Shape, what: str) -> tuple[int, int]:
    """The (L, D) of a token sequence, or a located complaint about what came instead."""
    if len(shape) != 2:
        raise ShapeProblem(
            "E317",
            f"{what} needs tokens (a sequence of L tokens of D features), found {found(shape)}",
            "make a feature map into tokens with `tokens` (after the patch convolution)"
            if len(shape) == 3
            else "put it before the tokens are pooled",
        )
    return shape[0], shape[1]


def window_output(
    size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a sliding window, with PyTorch's rounding (ceil_mode included)."""
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span
    if refused(lambda: room < 0):
        raise ShapeProblem(
            "E308",
            f"kernel {kernel} is larger than its padded input ({size} + 2x{padding})",
            "use a smaller kernel, more padding, or a larger input",
        )
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # PyTorch: the last window must start inside the input or left padding
    return out
