"""What each IR op becomes in Flax NNX: one table shared by the emitter and the in-memory build.

Nothing here imports jax. Each argument names the torch keyword it mirrors (the key of
``torch_layers.TORCH_LAYERS``), so a block class resolved once for both backends binds the
same expressions in both files. Ops with state (conv, batch norm, linear, dropout) are
modules; the others are functions from ``flax_ops`` (or ``nnx.relu``), held as attributes
with their arguments bound by ``partial``, as torch holds ``nn.MaxPool2d``.
"""

from __future__ import annotations

from dataclasses import dataclass

from archspec import ir


@dataclass(frozen=True)
class FlaxArgument:
    keyword: str  # the flax constructor's (or function's) keyword
    torch: str  # the torch keyword it mirrors
    field: str  # the IR op's field
    default: ir.Scalar | None = None  # flax's default: left out when equal; None: always given
    positional: bool = False
    pair: bool = False  # written (k, k): flax takes one size per spatial axis


@dataclass(frozen=True)
class FlaxLayer:
    callee: str  # as written in emitted code
    arguments: tuple[FlaxArgument, ...]
    module: bool  # a module with state (constructed) or a function (bound with partial)
    rngs: bool = False  # the constructor takes ``rngs=``


def _positional(keyword: str, torch: str, field: str, pair: bool = False) -> FlaxArgument:
    return FlaxArgument(keyword, torch, field, positional=True, pair=pair)


_POOL = (
    _positional("kernel_size", "kernel_size", "kernel"),
    FlaxArgument("stride", "stride", "stride"),
    FlaxArgument("padding", "padding", "padding", 0),
    FlaxArgument("ceil_mode", "ceil_mode", "ceil_mode", False),
)

FLAX_LAYERS: dict[str, FlaxLayer] = {
    "conv": FlaxLayer(
        "nnx.Conv",
        (
            _positional("in_features", "in_channels", "in_channels"),
            _positional("out_features", "out_channels", "out_channels"),
            _positional("kernel_size", "kernel_size", "kernel", pair=True),
            FlaxArgument("strides", "stride", "stride", 1),
            FlaxArgument("padding", "padding", "padding"),  # flax's default is 'SAME': always given
            FlaxArgument("kernel_dilation", "dilation", "dilation", 1),
            FlaxArgument("feature_group_count", "groups", "groups", 1),
            FlaxArgument("use_bias", "bias", "bias", True),
        ),
        module=True,
        rngs=True,
    ),
    "bn": FlaxLayer(
        "BatchNorm2d",
        (
            _positional("num_features", "num_features", "channels"),
            FlaxArgument("eps", "eps", "eps", 1e-5),
            FlaxArgument("momentum", "momentum", "momentum", 0.1),
        ),
        module=True,
    ),
    "relu": FlaxLayer("nnx.relu", (), module=False),
    "maxpool": FlaxLayer("max_pool2d", _POOL, module=False),
    "avgpool": FlaxLayer(
        "avg_pool2d",
        (*_POOL, FlaxArgument("count_include_pad", "count_include_pad", "count_include_pad", True)),
        module=False,
    ),
    "adaptive_avgpool": FlaxLayer(
        "adaptive_avg_pool2d", (_positional("output_size", "output_size", "size"),), module=False
    ),
    "flatten": FlaxLayer("flatten", (), module=False),
    "fc": FlaxLayer(
        "nnx.Linear",
        (
            _positional("in_features", "in_features", "in_features"),
            _positional("out_features", "out_features", "out_features"),
            FlaxArgument("use_bias", "bias", "bias", True),
        ),
        module=True,
        rngs=True,
    ),
    "dropout": FlaxLayer("nnx.Dropout", (_positional("rate", "p", "p"),), module=True, rngs=True),
    "zero_pad": FlaxLayer(
        "zero_pad_shortcut",
        (
            _positional("in_channels", "in_channels", "in_channels"),
            _positional("out_channels", "out_channels", "out_channels"),
            FlaxArgument("stride", "stride", "stride", 1),
        ),
        module=False,
    ),
}
"""IR op name -> how flax writes it."""


def flax_layer(op: ir.Op) -> FlaxLayer:
    return FLAX_LAYERS[op.op]


def values(op: ir.Op) -> dict[str, ir.Scalar]:
    """Every flax keyword with its value for one op (sizes still single ints)."""
    return {argument.keyword: getattr(op, argument.field) for argument in flax_layer(op).arguments}
