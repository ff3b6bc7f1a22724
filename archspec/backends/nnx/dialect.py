"""How Flax NNX writes each op and each construct (imports no jax: emitting needs none).

``LOWERINGS`` is this backend's entry per op: an ``nnx`` module, an ``nnx`` function, or
a runtime helper (``runtime.py``: PyTorch semantics Flax does not ship), and how the op's
fields become arguments. ``TENSORS`` names each op's state as Flax does, with its layout,
for weight conversion. Layout is NHWC, so channels are the last axis everywhere.
"""

from __future__ import annotations

from importlib.resources import files

from archspec import ir
from archspec.backends.nnx.layout import attribute_name
from archspec.codegen import pysource as py
from archspec.codegen.dialect import Arg, Dialect, Lowering
from archspec.codegen.escape import identifier, literal

_WINDOW = (
    Arg("kernel_size", "kernel", positional=True),
    Arg("stride", "stride"),
    Arg("padding", "padding", 0),
    Arg("ceil_mode", "ceil_mode", False),
)

_LINEAR = Lowering(
    "nnx.Linear",
    (
        Arg("in_features", "in_features", positional=True),
        Arg("out_features", "out_features", positional=True),
        Arg("use_bias", "bias", True),
    ),
    rngs=True,
)

_ATTENTION = (
    Arg("features", "features", positional=True),
    Arg("heads", "heads", positional=True),
    Arg("bias", "bias", True),
    Arg("attention_dropout", "attention_dropout", 0.0),
)

LOWERINGS: dict[str, Lowering] = {
    "conv": Lowering(
        "nnx.Conv",
        (
            Arg("in_features", "in_channels", positional=True),
            Arg("out_features", "out_channels", positional=True),
            Arg("kernel_size", "kernel", positional=True, pair=True),
            Arg("strides", "stride", 1),
            Arg("padding", "padding"),  # flax's default is 'SAME': always given
            Arg("kernel_dilation", "dilation", 1),
            Arg("feature_group_count", "groups", 1),
            Arg("use_bias", "bias", True),
        ),
        rngs=True,
    ),
    "bn": Lowering(
        "BatchNorm2d",
        (
            Arg("num_features", "channels", positional=True),
            Arg("eps", "eps", 1e-5),
            Arg("momentum", "momentum", 0.1),
            Arg("zero_init", "zero_init", False),
        ),
        helpers=("BatchNorm2d",),
    ),
    "relu": Lowering("nnx.relu", module=False),
    "sigmoid": Lowering("nnx.sigmoid", module=False),
    "relu6": Lowering("nnx.relu6", module=False),
    "silu": Lowering("nnx.silu", module=False),
    "hardswish": Lowering("nnx.hard_swish", module=False),
    "hardsigmoid": Lowering("nnx.hard_sigmoid", module=False),
    "tanh": Lowering("nnx.tanh", module=False),
    "gelu": Lowering("nnx.gelu", (Arg("approximate", "tanh"),), module=False),
    "maxpool": Lowering("max_pool2d", _WINDOW, module=False, helpers=("max_pool2d",)),
    "avgpool": Lowering(
        "avg_pool2d",
        (*_WINDOW, Arg("count_include_pad", "count_include_pad", True)),
        module=False,
        helpers=("avg_pool2d",),
    ),
    "adaptive_avgpool": Lowering(
        "adaptive_avg_pool2d",
        (Arg("output_size", "size", positional=True),),
        module=False,
        helpers=("adaptive_avg_pool2d",),
    ),
    "global_avgpool": Lowering(
        "adaptive_avg_pool2d",
        (Arg("output_size", "size", positional=True),),
        module=False,
        helpers=("adaptive_avg_pool2d",),
    ),
    "flatten": Lowering("flatten", module=False, helpers=("flatten",)),
    "fc": _LINEAR,
    "dropout": Lowering("nnx.Dropout", (Arg("rate", "p", positional=True),), rngs=True),
    "layernorm": Lowering(  # the last axis: channels in NHWC, as of tokens and features
        "nnx.LayerNorm",
        (Arg("num_features", "channels", positional=True), Arg("epsilon", "eps", 1e-6)),
        rngs=True,
        fixed=(("use_fast_variance", False),),  # torch's variance: E[(x - mean)^2]
    ),
    "channel_fc": _LINEAR,  # on NHWC, the last axis is the channels
    "stochastic_depth": Lowering(
        "StochasticDepth",
        (Arg("p", "p", positional=True), Arg("mode", "mode", "row")),
        rngs=True,
        helpers=("StochasticDepth",),
    ),
    "scale": Lowering(
        "scale_parameter",
        (Arg("channels", "channels", positional=True), Arg("init", "init", positional=True)),
        helpers=("scale_parameter",),
    ),
    "chunk": Lowering(
        "chunk",
        (Arg("chunks", "chunks"), Arg("index", "index")),
        module=False,
        helpers=("chunk",),
    ),
    "channel_shuffle": Lowering(
        "channel_shuffle",
        (Arg("groups", "groups"),),
        module=False,
        helpers=("channel_shuffle",),
    ),
    "zero_pad": Lowering(
        "zero_pad_shortcut",
        (
            Arg("in_channels", "in_channels"),
            Arg("out_channels", "out_channels"),
            Arg("stride", "stride", 1),
        ),
        module=False,
        helpers=("zero_pad_shortcut",),
    ),
    "tokens": Lowering("tokens", module=False, helpers=("tokens",)),
    "class_token": Lowering(
        "token_parameter",
        (Arg("features", "features", positional=True),),
        helpers=("token_parameter", "prepend_token"),
    ),
    "position_embedding": Lowering(
        "position_parameter",
        (Arg("length", "length", positional=True), Arg("features", "features", positional=True)),
        rngs=True,
        helpers=("position_parameter",),
    ),
    "token_pool": Lowering(
        "token_pool",
        (Arg("mode", "mode", "class"), Arg("skip", "skip", 0)),
        module=False,
        helpers=("token_pool",),
    ),
    "attention": Lowering(
        "Attention",
        (*_ATTENTION, Arg("projection_dropout", "projection_dropout", 0.0)),
        rngs=True,
        helpers=("Attention",),
    ),
    "multihead_attention": Lowering(
        "SelfAttention", _ATTENTION, rngs=True, helpers=("SelfAttention",)
    ),
}
"""op name -> how Flax NNX constructs it (a module) or calls it (a function)."""

TENSORS: dict[str, dict[str, tuple[str, str]]] = {
    "conv": {"weight": ("kernel", "HWIO"), "bias": ("bias", "O")},
    "fc": {"weight": ("kernel", "IO"), "bias": ("bias", "O")},
    "channel_fc": {"weight": ("kernel", "IO"), "bias": ("bias", "O")},  # as fc's
    "layernorm": {"weight": ("scale", "C"), "bias": ("bias", "C")},
    "scale": {"": ("", "HWC")},  # bare: the attribute itself, (1, 1, C) for NHWC
    "class_token": {"": ("", "NLD")},  # tokens are N x L x D in both frameworks
    "position_embedding": {"": ("", "NLD")},
    "attention": {
        "qkv.weight": ("qkv.kernel", "IO"),
        "qkv.bias": ("qkv.bias", "O"),
        "proj.weight": ("proj.kernel", "IO"),
        "proj.bias": ("proj.bias", "O"),
    },
    "multihead_attention": {
        "in_proj_weight": ("in_proj.kernel", "IO"),
        "in_proj_bias": ("in_proj.bias", "O"),
        "out_proj.weight": ("out_proj.kernel", "IO"),
        "out_proj.bias": ("out_proj.bias", "O"),
    },
    "bn": {
        "weight": ("scale", "C"),
        "bias": ("bias", "C"),
        "running_mean": ("mean", "C"),
        "running_var": ("var", "C"),
        "num_batches_tracked": ("num_batches_tracked", ""),
    },
}
"""op name -> PyTorch tensor name -> (Flax variable name, Flax layout); ops with no
tensors need no entry. A dotted name is a path into the op's submodules (``qkv.kernel``)."""

HELPERS = (
    "BatchNorm2d",
    "StochasticDepth",
    "scale_parameter",
    "token_parameter",
    "prepend_token",
    "position_parameter",
    "attend",
    "Attention",
    "SelfAttention",
    "NamedSequential",
    "window_padding",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "flatten",
    "chunk",
    "channel_shuffle",
    "zero_pad_shortcut",
    "tokens",
    "token_pool",
)
"""What may be copied from runtime.py, in file order."""

NEEDS = {
    "max_pool2d": ("window_padding",),
    "avg_pool2d": ("window_padding",),
    "Attention": ("attend",),
    "SelfAttention": ("attend",),
}

LAYER = "Callable[[jax.Array], jax.Array]"


def runtime_source() -> str:
    return files("archspec.backends.nnx").joinpath("runtime.py").read_text()


class FlaxDialect(Dialect):
    name = "flax"
    framework = "Flax NNX"
    lowerings = LOWERINGS
    base_class = "nnx.Module"
    call_method = "__call__"
    array_type = "jax.Array"
    shortcut_type = LAYER
    init_extras = ("rngs: nnx.Rngs",)
    call_extras = (("rngs", "rngs"),)
    named_sequential_helpers = ("NamedSequential",)

    def __init__(self, network: ir.Network) -> None:
        self.network = network
        self.concatenates = False

    def reserved_globals(self) -> set[str]:
        return {"jax", "jnp", "nnx", "partial", "Callable", *HELPERS}

    def helper_order(self, needed: set[str]) -> list[str]:
        for name in list(needed):
            needed.update(NEEDS.get(name, ()))
        return [name for name in HELPERS if name in needed]

    def imports(self, network: ir.Network, helpers: list[str], uses: set[str]) -> list[str]:
        first = ["import math"] if "math" in uses else []
        if "NamedSequential" in helpers or "shortcut_type" in uses:
            first.append("from collections.abc import Callable")
        if "partial" in uses:
            first.append("from functools import partial")
        lines = [*first, ""] if first else []
        lines.append("import jax")
        if self.concatenates or any("jnp." in s for s in self.helper_sources(helpers)):
            lines.append("import jax.numpy as jnp")
        lines.append("from flax import nnx")
        return lines

    def helper_sources(self, helpers: list[str]) -> list[str]:
        text = runtime_source()
        return [py.top_level_source(text, name) for name in helpers]

    def attribute(self, name: str) -> str:
        return attribute_name(name)

    def assign(self, name: str, value: py.Expr, depth: int) -> list[str]:
        return py.lay_out(value, depth, prefix=f"self.{identifier(attribute_name(name))} = ")

    def member(self, name: str) -> str:
        return f"self.{identifier(attribute_name(name))}"

    def sequential(
        self,
        items: list[tuple[str, py.Expr]],
        numbered: bool,
        copies: py.NamedCopies | None = None,
    ) -> py.Expr:
        if numbered:
            return py.Bracket("nnx.Sequential(", tuple(py.repeats([e for _, e in items])))
        entries = [
            py.Present(tuple(entry(literal(name), i) for i in e.items), e.condition, mapping=True)
            if isinstance(e, py.Present)  # a switch's: **({"drop": ...} if p > 0 else {})
            else entry(literal(name), e)
            for name, e in items
        ]
        if copies is not None:  # **{f"unit{i + 1}": Unit(32, 32, rngs=rngs) for i in ...}
            named = entry(copies.name, copies.module)
            loop = py.Repeat((named,), copies.count, py.COPY_INDEX, copies.start, "**{", "}")
            entries.append(loop)
        return py.call("NamedSequential", py.Bracket("{", tuple(entries), "}"))

    def combine(self, parallel: ir.Parallel, values: list[str]) -> str:
        if parallel.combine == "concat":
            self.concatenates = True
            return f"jnp.concatenate([{', '.join(values)}], axis=-1)"
        return (" + " if parallel.combine == "add" else " * ").join(values)

    def tensor(self, name: str) -> str:
        return f"{self.member(name)}[...]"

    def module_note(self, class_name: str) -> str:
        return (
            "Layout NHWC: call the model on (batch, height, width, channels) arrays. "
            "Names, paddings and batch norm follow the PyTorch model archspec emits, so "
            "its weights convert exactly (archspec convert). Eager construction compiles "
            "every initialiser shape apart; build under jit instead:\n"
            f"model = nnx.jit(lambda rngs: {class_name}(rngs=rngs))(nnx.Rngs(0))"
        )


def entry(key: str, value: py.Expr) -> py.Expr:
    """``key: value`` inside a dict, laid out like a call when it must split."""
    if isinstance(value, py.Bracket):
        return py.Bracket(f"{key}: {value.head}", value.items, value.close)
    return f"{key}: {py.flat(value)}"
