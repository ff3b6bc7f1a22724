"""How PyTorch writes each op and each construct (imports no torch: emitting needs none).

``LOWERINGS`` is this backend's entry per op: the ``torch.nn`` class (or a runtime helper)
and how the op's fields become its arguments; the emitted file and ``to_torch()`` both
read it. ``TorchDialect`` adds PyTorch's habits: ``nn.Sequential``, ``torch.cat`` on the
channel axis, in-place ReLUs and additions where the data flow allows them, and the
paper's initialisation in ``reset_parameters``.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING

from archspec import ir
from archspec.codegen import pysource as py
from archspec.codegen.classes import BlockClass, own_modules
from archspec.codegen.dialect import Arg, Dialect, Lowering
from archspec.codegen.escape import is_identifier as identifier
from archspec.codegen.escape import literal

if TYPE_CHECKING:
    from archspec.codegen.emitter import Emitter

_WINDOW = (
    Arg("kernel_size", "kernel"),
    Arg("stride", "stride"),
    Arg("padding", "padding", 0),
    Arg("ceil_mode", "ceil_mode", False),
)

_LINEAR = (
    Arg("in_features", "in_features", positional=True),
    Arg("out_features", "out_features", positional=True),
    Arg("bias", "bias", True),
)

_LAYER_NORM = (Arg("normalized_shape", "channels", positional=True), Arg("eps", "eps", 1e-5))

_ATTENTION = (
    Arg("features", "features", positional=True),
    Arg("heads", "heads", positional=True),
    Arg("bias", "bias", True),
    Arg("attention_dropout", "attention_dropout", 0.0),
)

LOWERINGS: dict[str, Lowering] = {
    "conv": Lowering(
        "nn.Conv2d",
        (
            Arg("in_channels", "in_channels", positional=True),
            Arg("out_channels", "out_channels", positional=True),
            Arg("kernel_size", "kernel"),
            Arg("stride", "stride", 1),
            Arg("padding", "padding", 0),
            Arg("dilation", "dilation", 1),
            Arg("groups", "groups", 1),
            Arg("bias", "bias", True),
        ),
    ),
    "bn": Lowering(
        "nn.BatchNorm2d",
        (
            Arg("num_features", "channels", positional=True),
            Arg("eps", "eps", 1e-5),
            Arg("momentum", "momentum", 0.1),
        ),
    ),
    "relu": Lowering("nn.ReLU"),
    "sigmoid": Lowering("nn.Sigmoid"),
    "relu6": Lowering("nn.ReLU6"),
    "silu": Lowering("nn.SiLU"),
    "hardswish": Lowering("nn.Hardswish"),
    "hardsigmoid": Lowering("nn.Hardsigmoid"),
    "tanh": Lowering("nn.Tanh"),
    "gelu": Lowering(
        "nn.GELU",
        (Arg("approximate", "tanh", "none", spelled=((False, "none"), (True, "tanh"))),),
    ),
    "maxpool": Lowering("nn.MaxPool2d", _WINDOW),
    "avgpool": Lowering(
        "nn.AvgPool2d", (*_WINDOW, Arg("count_include_pad", "count_include_pad", True))
    ),
    "adaptive_avgpool": Lowering(
        "nn.AdaptiveAvgPool2d", (Arg("output_size", "size", positional=True),)
    ),
    "global_avgpool": Lowering(
        "nn.AdaptiveAvgPool2d", (Arg("output_size", "size", positional=True),)
    ),
    "flatten": Lowering("nn.Flatten"),
    "fc": Lowering("nn.Linear", _LINEAR),
    "dropout": Lowering("nn.Dropout", (Arg("p", "p"),)),
    "layernorm": Lowering(
        "nn.LayerNorm",
        _LAYER_NORM,
        by_rank=((3, Lowering("LayerNorm2d", _LAYER_NORM, helpers=("LayerNorm2d",))),),
    ),
    "channel_fc": Lowering("ChannelLinear", _LINEAR, helpers=("ChannelLinear",)),
    "stochastic_depth": Lowering(
        "StochasticDepth",
        (Arg("p", "p", positional=True), Arg("mode", "mode", "row")),
        helpers=("StochasticDepth",),
    ),
    "scale": Lowering(
        "scale_parameter",
        (Arg("channels", "channels", positional=True), Arg("init", "init", positional=True)),
        helpers=("scale_parameter",),
    ),
    "chunk": Lowering(
        "Chunk",
        (Arg("chunks", "chunks", positional=True), Arg("index", "index", positional=True)),
        helpers=("Chunk",),
    ),
    "channel_shuffle": Lowering("nn.ChannelShuffle", (Arg("groups", "groups", positional=True),)),
    "zero_pad": Lowering(
        "ZeroPadShortcut",
        (
            Arg("in_channels", "in_channels", positional=True),
            Arg("out_channels", "out_channels", positional=True),
            Arg("stride", "stride", 1),
        ),
        helpers=("ZeroPadShortcut",),
    ),
    "tokens": Lowering("Tokens", helpers=("Tokens",)),
    "class_token": Lowering(
        "token_parameter",
        (Arg("features", "features", positional=True),),
        helpers=("token_parameter", "prepend_token"),
    ),
    "position_embedding": Lowering(
        "position_parameter",
        (Arg("length", "length", positional=True), Arg("features", "features", positional=True)),
        helpers=("position_parameter",),
    ),
    "token_pool": Lowering(
        "TokenPool", (Arg("mode", "mode", "class"), Arg("skip", "skip", 0)), helpers=("TokenPool",)
    ),
    "attention": Lowering(
        "Attention",
        (*_ATTENTION, Arg("projection_dropout", "projection_dropout", 0.0)),
        helpers=("Attention",),
    ),
    "multihead_attention": Lowering("SelfAttention", _ATTENTION, helpers=("SelfAttention",)),
}
"""op name -> how PyTorch constructs it."""

HELPERS = (
    "init_as_he_et_al",
    "ZeroPadShortcut",
    "Chunk",
    "LayerNorm2d",
    "ChannelLinear",
    "StochasticDepth",
    "scale_parameter",
    "token_parameter",
    "prepend_token",
    "position_parameter",
    "Tokens",
    "TokenPool",
    "Attention",
    "SelfAttention",
)
"""Runtime classes an emitted file may carry, in file order."""

READS_OUTPUT = frozenset({"relu", "relu6", "sigmoid", "tanh"})
"""Ops whose backward pass reads their output: it must not be overwritten."""

PASSES_THROUGH = frozenset({"flatten", "dropout", "stochastic_depth", "tokens", "token_pool"})
"""Ops that hand their input on (a view, or unchanged in eval): as fresh as the input."""


def fresh(step: ir.Step | None, before: list[ir.Step]) -> bool:
    """Whether a step's result is a new tensor no one else reads, so the next op may
    overwrite it: not a chain's input, not the output of an op that reads its output."""
    if step is None:
        return False
    if isinstance(step, ir.Parallel):
        return True
    node = step.node
    if isinstance(node, ir.Group):
        steps = list(node.flow.steps)
        return fresh(steps[-1] if steps else None, steps[:-1])
    if node.op.NAME in READS_OUTPUT:
        return False
    if node.op.NAME in PASSES_THROUGH:
        return fresh(before[-1] if before else None, before[:-1])
    return True


class InPlace:
    """The in-place ReLUs and additions of a network, decided from the data flow."""

    def __init__(self, network: ir.Network) -> None:
        self.relus: set[int] = set()
        self.adds: set[int] = set()
        self.visit(network.flow)
        groups = {id(p.node): p.node for p in ir.walk(network) if isinstance(p.node, ir.Group)}
        for group in groups.values():
            self.visit(group.flow)

    def visit(self, chain: ir.Chain, optional: frozenset[str] = frozenset()) -> None:
        """Decides the chain's ReLUs and additions; with ``optional`` members (a block
        may be built without them: ``codegen.optional``), as fresh with them and without."""
        steps = list(chain.steps)
        for index, step in enumerate(steps):
            if isinstance(step, ir.Member):
                relu = isinstance(step.node, ir.Layer) and step.node.op.NAME == "relu"
                decide(self.relus, id(step), relu and fresh_before(steps, index, optional))
                continue
            body = list(step.branches[0].steps)
            pair = step.combine == "add" and len(step.branches) == 2
            decide(self.adds, id(step), pair and fresh_before(body, len(body), optional))
            for branch in step.branches:
                self.visit(branch, optional)


def fresh_before(steps: list[ir.Step], index: int, optional: frozenset[str]) -> bool:
    """Whether what reaches ``steps[index]`` is fresh, with the optional members and
    without them."""
    kept = [s for s in steps[:index] if not (isinstance(s, ir.Member) and s.name in optional)]
    return all(seq and fresh(seq[-1], seq[:-1]) for seq in (steps[:index], kept))


def decide(found: set[int], key: int, holds: bool) -> None:
    """Adds ``key`` where it holds; takes it out where a later visit finds it does not."""
    if holds:
        found.add(key)
    else:
        found.discard(key)


def runtime_source() -> str:
    return files("archspec.backends.pytorch").joinpath("runtime.py").read_text()


class TorchDialect(Dialect):
    name = "torch"
    framework = "PyTorch"
    lowerings = LOWERINGS
    base_class = "nn.Module"
    call_method = "forward"
    array_type = "torch.Tensor"
    shortcut_type = "nn.Module"
    init_prologue = ("super().__init__()",)
    named_sequential_helpers: tuple[str, ...] = ()

    def __init__(self, network: ir.Network) -> None:
        self.network = network
        self.inplace = InPlace(network)

    def reserved_globals(self) -> set[str]:
        return {"torch", "nn", "F", "OrderedDict", *HELPERS}

    def helper_order(self, needed: set[str]) -> list[str]:
        return [name for name in HELPERS if name in needed or name == "init_as_he_et_al"]

    def imports(self, network: ir.Network, helpers: list[str], uses: set[str]) -> list[str]:
        first = ["import math"] if "math" in uses else []
        first += ["from collections import OrderedDict"] if "named_sequential" in uses else []
        lines = [*first, ""] if first else []
        lines.append("import torch")
        if any("F." in py_source for py_source in self.helper_sources(helpers)):
            lines.append("import torch.nn.functional as F")
        lines.append("from torch import nn")
        return lines

    def helper_sources(self, helpers: list[str]) -> list[str]:
        text = runtime_source()
        return [py.top_level_source(text, name) for name in helpers]

    def attribute(self, name: str) -> str:
        return name

    def assign(self, name: str, value: py.Expr, depth: int) -> list[str]:
        if identifier(name):
            return py.lay_out(value, depth, prefix=f"self.{name} = ")
        return py.lay_out(py.call("self.add_module", literal(name), value), depth)

    def member(self, name: str) -> str:
        return f"self.{name}" if identifier(name) else f"getattr(self, {literal(name)})"

    def sequential(
        self,
        items: list[tuple[str, py.Expr]],
        numbered: bool,
        copies: py.NamedCopies | None = None,
    ) -> py.Expr:
        if numbered:
            return py.Bracket("nn.Sequential(", tuple(py.repeats([e for _, e in items])))
        pairs: list[py.Expr] = [
            py.Present(tuple(named_item(name, i) for i in e.items), e.condition)
            if isinstance(e, py.Present)  # a switch's: *((("drop", nn.Dropout(p=p)),) if ...)
            else named_item(name, e)
            for name, e in items
        ]
        if copies is not None:  # *((f"unit{i + 1}", Unit(32, 32)) for i in range(1, n))
            pair = py.Bracket("(", (copies.name, copies.module))
            pairs.append(py.Repeat((pair,), copies.count, py.COPY_INDEX, copies.start))
        return py.call("nn.Sequential", py.call("OrderedDict", py.Bracket("[", tuple(pairs), "]")))

    def combine(self, parallel: ir.Parallel, values: list[str]) -> str:
        if parallel.combine == "concat":
            axis = -1 if len(parallel.output) == 2 else 1  # tokens, else NCHW channels
            return f"torch.cat([{', '.join(values)}], {axis})"
        return (" + " if parallel.combine == "add" else " * ").join(values)

    def layer_keywords(self, member: ir.Member) -> dict[str, str]:
        return {"inplace": "True"} if id(member) in self.inplace.relus else {}

    def take_in(self, copy: ir.Chain, optional: frozenset[str] = frozenset()) -> None:
        self.inplace.visit(copy, optional)

    def add_in_place(self, parallel: ir.Parallel) -> bool:
        return id(parallel) in self.inplace.adds

    def network_init_end(self) -> list[str]:
        return ["self.reset_parameters()"]

    def class_init_lines(self, cls: BlockClass) -> list[str]:
        """A zero-init flag that varies between instances is kept on the module, for
        ``reset_parameters`` to read."""
        flags = [e for (_, field), e in cls.bindings.items() if field == "zero_init"]
        return [f"        self.{name} = {name}" for name in dict.fromkeys(flags)]

    def network_methods(self, emitter: Emitter) -> list[str]:
        doc = "The paper's initialisation; batch norms marked zero_init start at 0."
        lines = ["", "    def reset_parameters(self) -> None:", *py.docstring(doc, 2)]
        return [*lines, "        init_as_he_et_al(self)", *zero_init_lines(emitter)]

    def module_note(self, class_name: str) -> str:
        return ""


def zero_init_lines(emitter: Emitter) -> list[str]:
    """Batch norms that start at weight 0: by class where a class builds them (with its
    flag where that varies), by path elsewhere."""
    checks: list[str] = []
    covered: set[str] = set()
    for cls in emitter.unique_classes():
        zeroed = [b for b in own_modules(cls.first) if ir.starts_at_zero(b.node)]
        flagged = {path for (path, field) in cls.bindings if field == "zero_init"}
        for built in own_modules(cls.first):
            if built.path in flagged or ir.starts_at_zero(built.node):
                condition = f"isinstance(m, {cls.name})"
                if built.path in flagged:
                    condition += f" and m.{cls.bindings[(built.path, 'zero_init')]}"
                target = member_path("m", built.path)
                checks += [
                    f"            if {condition}:",
                    f"                nn.init.zeros_({target})",
                ]
        if zeroed or flagged:
            instances = {id(g) for g in cls.instances}
            for place in ir.walk(emitter.network):
                if id(place.node) in instances:
                    covered.update(f"{place.path}.{b.path}" for b in own_modules(cls.first))
    rest = [path for path, layer in ir.layers(emitter.network) if ir.starts_at_zero(layer)]
    rest = [path for path in rest if path not in covered]
    if not checks and not rest:
        return []
    lines = py.comment(
        "Start the last batch norm of each residual branch at zero, so that every "
        "block begins as an identity (Goyal et al. 2017).",
        2,
    )
    if checks:
        lines += ["        for m in self.modules():", *checks]
    return lines + [f"        nn.init.zeros_({member_path('self', path)})" for path in rest]


def member_path(owner: str, path: str) -> str:
    """``module.bn3.weight``, or ``get_submodule`` when a name is not an identifier."""
    if all(identifier(part) for part in path.split(".")):
        return f"{owner}.{path}.weight"
    return f"{owner}.get_submodule({literal(path)}).weight"


def named_item(name: str, module: py.Expr) -> py.Bracket:
    """``("name", module)``: an item of a sequential's ``OrderedDict``."""
    return py.Bracket("(", (literal(name), module))
