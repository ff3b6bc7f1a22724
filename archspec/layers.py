"""The built-in layers: arguments, defaults, limits, documentation, and their IR op.

This table is the language reference for layers: docs/language.md is generated from it
(``archspec reference``) and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archspec import ir

MAX_CHANNELS = 1 << 20
MAX_WINDOW = 1 << 12


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: type
    doc: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def describe_default(self) -> str:
        if self.required:
            return "required"
        if self.default is None:
            return "see text"
        return str(self.default).lower() if isinstance(self.default, bool) else str(self.default)


@dataclass(frozen=True)
class LayerKind:
    name: str
    doc: str
    parameters: tuple[Parameter, ...]
    make: Callable[[dict[str, Any], ir.Shape], ir.Op]


def _size(
    name: str,
    doc: str,
    required: bool = False,
    default: int | None = None,
    minimum: int = 1,
    maximum: int = MAX_CHANNELS,
) -> Parameter:
    return Parameter(name, int, doc, default, required, minimum, maximum)


def _flag(name: str, doc: str, default: bool) -> Parameter:
    return Parameter(name, bool, doc, default)


def _window(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "kernel": a["kernel"],
        "stride": a["stride"] if a["stride"] is not None else a["kernel"],
        "padding": a["padding"],
        "ceil_mode": a["ceil"],
    }


_POOL = (
    _size("kernel", "window size", required=True, maximum=MAX_WINDOW),
    _size("stride", "step; defaults to the kernel size", maximum=MAX_WINDOW),
    _size(
        "padding",
        "zeros (or -inf for max) added on each side",
        default=0,
        minimum=0,
        maximum=MAX_WINDOW,
    ),
    _flag("ceil", "round the output size up, as PyTorch's ceil_mode", False),
)

LAYERS: dict[str, LayerKind] = {
    kind.name: kind
    for kind in (
        LayerKind(
            "conv",
            "2-D convolution. Input channels come from the incoming shape.",
            (
                _size("channels", "output channels", required=True),
                _size("kernel", "kernel size (square)", default=3, maximum=MAX_WINDOW),
                _size("stride", "step", default=1, maximum=MAX_WINDOW),
                _size(
                    "padding",
                    "zeros on each side; defaults to (kernel - 1) // 2 x dilation, "
                    "which keeps the size at stride 1",
                    minimum=0,
                    maximum=MAX_WINDOW,
                ),
                _size("dilation", "spacing of kernel taps", default=1, maximum=MAX_WINDOW),
                _size("groups", "grouped convolution; must divide both channel counts", default=1),
                _flag("bias", "add a learned bias (off: a BN follows)", False),
            ),
            lambda a, shape: ir.Conv2d(
                in_channels=shape[0],
                out_channels=a["channels"],
                kernel=a["kernel"],
                stride=a["stride"],
                padding=a["padding"]
                if a["padding"] is not None
                else (a["kernel"] - 1) // 2 * a["dilation"],
                dilation=a["dilation"],
                groups=a["groups"],
                bias=a["bias"],
            ),
        ),
        LayerKind(
            "bn",
            "Batch normalization over channels (PyTorch's eps and momentum conventions).",
            (
                Parameter("eps", float, "added to the variance", 1e-5, minimum=0.0),
                Parameter(
                    "momentum",
                    float,
                    "running-statistics update rate, as PyTorch",
                    0.1,
                    minimum=0.0,
                    maximum=1.0,
                ),
                _flag("zero_init", "start with weight 0: the last BN of a residual branch", False),
            ),
            lambda a, shape: ir.BatchNorm2d(
                channels=shape[0], eps=a["eps"], momentum=a["momentum"], zero_init=a["zero_init"]
            ),
        ),
        LayerKind("relu", "Rectified linear unit.", (), lambda a, shape: ir.ReLU()),
        LayerKind("maxpool", "Max pooling.", _POOL, lambda a, shape: ir.MaxPool2d(**_window(a))),
        LayerKind(
            "avgpool",
            "Average pooling.",
            _POOL + (_flag("count_include_pad", "average over padding zeros too", True),),
            lambda a, shape: ir.AvgPool2d(**_window(a), count_include_pad=a["count_include_pad"]),
        ),
        LayerKind(
            "global_avgpool",
            "Global average pooling to CxXx1x1 (torch AdaptiveAvgPool2d(1)); follow with flatten.",
            (),
            lambda a, shape: ir.AdaptiveAvgPool2d(size=1),
        ),
        LayerKind(
            "adaptive_avgpool",
            "Adaptive average pooling to a fixed size x size map (VGG's 7x7).",
            (_size("size", "output height and width", required=True, maximum=MAX_WINDOW),),
            lambda a, shape: ir.AdaptiveAvgPool2d(size=a["size"]),
        ),
        LayerKind("flatten", "CxHxW -> C*H*W features.", (), lambda a, shape: ir.Flatten()),
        LayerKind(
            "fc",
            "Fully connected layer on flat features.",
            (
                _size("features", "output features", required=True),
                _flag("bias", "add a learned bias", True),
            ),
            lambda a, shape: ir.Linear(
                in_features=shape[0], out_features=a["features"], bias=a["bias"]
            ),
        ),
        LayerKind(
            "dropout",
            "Dropout (active in training mode only).",
            (
                Parameter(
                    "p", float, "probability of zeroing an element", 0.5, minimum=0.0, maximum=1.0
                ),
            ),
            lambda a, shape: ir.Dropout(p=a["p"]),
        ),
    )
}

ALIASES = {
    "k": "kernel",
    "s": "stride",
    "p": "padding",
    "pad": "padding",
    "g": "groups",
    "out": "channels",
    "filters": "channels",
    "ceil_mode": "ceil",
}
"""Common spellings from other libraries, for 'did you mean' hints."""


def reference_markdown() -> str:
    """The layer reference, as it appears in docs/language.md."""
    lines = ["| layer | argument | default | meaning |", "|---|---|---|---|"]
    for kind in LAYERS.values():
        lines.append(f"| `{kind.name}` | | | {kind.doc} |")
        for p in kind.parameters:
            lines.append(f"| | `{p.name}` | {p.describe_default()} | {p.doc} |")
    return "\n".join(lines) + "\n"
