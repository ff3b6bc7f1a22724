"""What each IR op becomes in PyTorch: one table shared by the emitter and the in-memory build.

Nothing here imports torch, so emitting source needs only the IR. The table names the
``torch.nn`` class and how each IR field becomes a constructor argument; both backends
read it, so the file on disk and ``to_torch()`` cannot disagree on a layer's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archspec import ir

Role = Literal["in", "out", "stride", "other"]
"""How the emitter names an argument inside a block class: ``in`` takes the channels
flowing in, ``out`` sets them, ``stride`` matches a stride parameter, ``other`` a parameter
of the same name."""


@dataclass(frozen=True)
class Argument:
    keyword: str  # the torch constructor's keyword
    field: str  # the IR op's field
    default: ir.Scalar | None = None  # torch's default: left out when equal; None: always given
    positional: bool = False
    role: Role = "other"


def _channels(keyword: str, field: str, role: Role) -> Argument:
    return Argument(keyword, field, positional=True, role=role)


_POOL = (
    Argument("kernel_size", "kernel"),
    Argument("stride", "stride", role="stride"),
    Argument("padding", "padding", 0),
    Argument("ceil_mode", "ceil_mode", False),
)

TORCH_LAYERS: dict[str, tuple[str, tuple[Argument, ...]]] = {
    "conv": (
        "nn.Conv2d",
        (
            _channels("in_channels", "in_channels", "in"),
            _channels("out_channels", "out_channels", "out"),
            Argument("kernel_size", "kernel"),
            Argument("stride", "stride", 1, role="stride"),
            Argument("padding", "padding", 0),
            Argument("dilation", "dilation", 1),
            Argument("groups", "groups", 1),
            Argument("bias", "bias", True),
        ),
    ),
    "bn": (
        "nn.BatchNorm2d",
        (
            _channels("num_features", "channels", "in"),
            Argument("eps", "eps", 1e-5),
            Argument("momentum", "momentum", 0.1),
        ),
    ),
    "relu": ("nn.ReLU", ()),
    "maxpool": ("nn.MaxPool2d", _POOL),
    "avgpool": ("nn.AvgPool2d", (*_POOL, Argument("count_include_pad", "count_include_pad", True))),
    "adaptive_avgpool": (
        "nn.AdaptiveAvgPool2d",
        (Argument("output_size", "size", positional=True),),
    ),
    "flatten": ("nn.Flatten", ()),
    "fc": (
        "nn.Linear",
        (
            _channels("in_features", "in_features", "in"),
            _channels("out_features", "out_features", "out"),
            Argument("bias", "bias", True),
        ),
    ),
    "dropout": ("nn.Dropout", (Argument("p", "p"),)),
    "zero_pad": (
        "ZeroPadShortcut",
        (
            _channels("in_channels", "in_channels", "in"),
            _channels("out_channels", "out_channels", "out"),
            Argument("stride", "stride", 1, role="stride"),
        ),
    ),
}
"""IR op name -> (class as written in emitted code, its arguments in call order)."""


def arguments(op: ir.Op) -> dict[str, ir.Scalar]:
    """The constructor keywords and values for one op, every argument included."""
    _, table = TORCH_LAYERS[op.op]
    return {argument.keyword: getattr(op, argument.field) for argument in table}


def class_name(op: ir.Op) -> str:
    return TORCH_LAYERS[op.op][0]


@dataclass(frozen=True)
class InPlace:
    """Where the model may overwrite a tensor instead of allocating a new one.

    ``relus``: paths of ReLUs that may run in place; ``adds``: paths of blocks whose
    residual addition may be written into the branch's output (``out += identity``).
    """

    relus: frozenset[str]
    adds: frozenset[str]


def plan_inplace(network: ir.Network) -> InPlace:
    """Decide in-place ops the way torchvision does, but from the data flow, never by guess.

    A tensor may be overwritten only if it is fresh: made by the op just before, not the
    network's input, not a block's input (the shortcut still needs it), and not a ReLU's
    output (ReLU's backward reads it). Flatten and dropout pass a tensor on unchanged.
    """
    relus: set[str] = set()
    adds: set[str] = set()

    def run(nodes: tuple[ir.Module, ...], fresh: bool) -> bool:
        for node in nodes:
            fresh = step(node, fresh)
        return fresh

    def step(node: ir.Module, fresh: bool) -> bool:
        if isinstance(node, ir.Sequence):
            return run(node.children, fresh)
        if isinstance(node, ir.Block):
            return block(node)
        if node.op.op == "relu":
            if fresh:
                relus.add(node.path)
            return False
        return fresh if node.op.op in ("flatten", "dropout") else True

    def block(node: ir.Block) -> bool:
        if node.downsample is not None:
            run((node.downsample,), False)
        fresh = run(node.body, False)
        if node.shortcut != "none":
            if fresh:
                adds.add(node.path)
            fresh = True
        return run(node.after, fresh)

    run(network.children, False)
    return InPlace(frozenset(relus), frozenset(adds))


def zero_init_paths(network: ir.Network) -> list[str]:
    """Batch norms that start with weight 0 (the last BN of a residual branch, if asked)."""
    return [
        layer.path
        for layer in ir.layers(network)
        if isinstance(layer.op, ir.BatchNorm2d) and layer.op.zero_init
    ]
