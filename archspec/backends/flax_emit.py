"""Emit one standalone Flax NNX module for an ir.Network, line for line like the torch one.

The block classes, their constructor arguments and the expressions bound to each layer
argument come from ``block_resolve`` (resolved once for both backends), so the two files
differ only where the frameworks do: ``nnx.Conv(64, 64, (3, 3), padding=1, ...)`` for
``nn.Conv2d(64, 64, kernel_size=3, padding=1, ...)``, ``rngs`` passed down, NHWC.

What Flax lacks for PyTorch semantics (batch norm with torch's statistics, pooling with
torch's padding and ceil_mode, option A shortcuts, flatten in torch's order) is copied
verbatim from ``flax_ops``, only the pieces a network uses; the in-memory build calls the
same code. Attribute names follow ``flax_layout``. Text is a pure function of the IR and
passes ``ruff check`` and ``ruff format --check``; spec text goes in as in ``torch_emit``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from archspec import ir, names
from archspec.backends import flax_ops
from archspec.backends import pysource as py
from archspec.backends.block_resolve import block_classes
from archspec.backends.flax_layers import FlaxArgument, flax_layer
from archspec.backends.flax_layout import attribute_name, is_numbered
from archspec.backends.torch_blocks import BlockClass, relative
from archspec.backends.torch_emit import repeats, unique
from archspec.backends.torch_text import describe, module_doc, network_doc, stride_comment
from archspec.codegen.escape import identifier, literal, string
from archspec.cost import Counts

HELPERS = (
    "BatchNorm2d",
    "NamedSequential",
    "window_padding",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "flatten",
    "zero_pad_shortcut",
)
"""What may be copied from flax_ops, in file order."""

NEEDS = {"max_pool2d": ("window_padding",), "avg_pool2d": ("window_padding",)}

LAYER = "Callable[[jax.Array], jax.Array]"

Binder = Callable[[FlaxArgument], "str | None"]
Maker = Callable[[ir.Module], py.Expr]


class Emitter:
    """Writes one network: helpers, its block classes, then the network class."""

    def __init__(self, network: ir.Network, counts: Counts) -> None:
        self.network = network
        self.counts = counts
        self.class_name = identifier(names.class_name(network.name))
        self.classes = block_classes(network, {self.class_name, *names.EMITTED_GLOBALS})
        self.helpers = self.used_helpers()

    def used_helpers(self) -> list[str]:
        used = {flax_layer(layer.op).callee for layer in ir.layers(self.network)}
        if any(
            isinstance(node, ir.Sequence) and not is_numbered(node)
            for node in ir.walk(self.network)
        ):
            used.add("NamedSequential")
        for name in list(used):
            used.update(NEEDS.get(name, ()))
        return [name for name in HELPERS if name in used]

    # ---- the file

    def source(self) -> str:
        head = [*py.docstring(self.module_doc(), 0), "", *self.imports(), ""]
        head.append(f"__all__ = [{string(self.class_name)}]")
        parts = ["\n".join(head)]
        parts += [helper_source(name).strip("\n") for name in self.helpers]
        for cls in unique(self.classes.values()):
            parts.append("\n".join(self.block_class(cls)))
        parts.append("\n".join(self.network_class()))
        return "\n\n\n".join(parts) + "\n"

    def imports(self) -> list[str]:
        first = []
        if "NamedSequential" in self.helpers or any(cls.shortcuts for cls in self.classes.values()):
            first.append("from collections.abc import Callable")
        if any(
            not flax_layer(layer.op).module and flax_layer(layer.op).arguments
            for layer in ir.layers(self.network)
        ):
            first.append("from functools import partial")
        lines = [*first, ""] if first else []
        lines.append("import jax")
        helpers = "".join(helper_source(name) for name in self.helpers)
        if "jnp." in helpers:
            lines.append("import jax.numpy as jnp")
        lines.append("from flax import nnx")
        return lines

    def module_doc(self) -> str:
        lines = [
            module_doc(self.network, "Flax NNX", "flax"),
            "",
            "Layout NHWC: call the model on (batch, height, width, channels) arrays. "
            "Names, paddings and batch norm follow the PyTorch model archspec emits, so "
            "its weights convert exactly (archspec convert). Eager construction compiles "
            "every initialiser shape apart; build under jit instead:",
            f"model = nnx.jit(lambda rngs: {self.class_name}(rngs=rngs))(nnx.Rngs(0))",
        ]
        return "\n".join(lines)

    # ---- layers and containers as expressions

    def expression(self, node: ir.Module) -> py.Expr:
        """The construction of any module, with literal arguments (network level)."""
        if isinstance(node, ir.Layer):
            return self.layer(node, lambda a: literal_or_default(node.op, a))
        if isinstance(node, ir.Block):
            return self.block_call(node)
        return self.sequential(node, self.expression)

    def layer(self, layer: ir.Layer, bind: Binder, zero_init: str | None = None) -> py.Expr:
        spec = flax_layer(layer.op)
        positional: list[py.Expr] = []
        keywords: dict[str, py.Expr] = {}
        for argument in spec.arguments:
            text = bind(argument)
            if text is not None and argument.pair:
                text = f"({text}, {text})"
            if argument.positional and spec.module:
                positional.append(text or "")
            elif text is not None:
                keywords[argument.keyword] = text
        if zero_init is not None:
            keywords["zero_init"] = zero_init
        if not spec.module:
            return py.call("partial", spec.callee, **keywords) if keywords else spec.callee
        if spec.rngs:
            keywords["rngs"] = "rngs"
        return py.call(spec.callee, *positional, **keywords)

    def sequential(self, node: ir.Sequence, make: Maker) -> py.Bracket:
        items = [make(child) for child in node.children]
        if is_numbered(node):
            return py.Bracket("nnx.Sequential(", tuple(repeats(items)))
        entries = tuple(
            entry(string(child.name), item)
            for child, item in zip(node.children, items, strict=True)
        )
        return py.call("NamedSequential", py.Bracket("{", entries, "}"))

    def block_call(self, block: ir.Block) -> py.Bracket:
        cls = self.classes[block.path]
        positional, named = cls.call_arguments(block)
        args: list[py.Expr] = [literal(value) for value in positional]
        keywords: dict[str, py.Expr] = {k: literal(v) for k, v in named.items()}
        for name, module in cls.shortcut_modules(block):
            keywords[name] = self.expression(module)
        keywords["rngs"] = "rngs"
        return py.call(cls.name, *args, **keywords)

    # ---- a block class

    def block_class(self, cls: BlockClass) -> list[str]:
        lines = [f"class {cls.name}(nnx.Module):"]
        lines += py.docstring(describe(cls), 1)
        lines += ["", *self.block_init(cls), "", *self.block_call_method(cls)]
        return lines

    def block_init(self, cls: BlockClass) -> list[str]:
        shortcut = attribute_name(cls.shortcut_name)
        params = ["self"] + [
            f"{v.name}: {v.annotation}" + ("" if v.default is None else f" = {literal(v.default)}")
            for v in cls.parameters
        ]
        params.append("*")
        for argument in cls.shortcuts:
            optional = " | None = None" if argument.mode == "sometimes" else ""
            params.append(f"{argument.name}: {LAYER}{optional}")
        params.append("rngs: nnx.Rngs")
        lines = py.lay_out(py.Bracket("def __init__(", tuple(params), ") -> None:"), 1)
        first = cls.instances[0]
        for child in first.body:
            lines += self.member(cls, child)
        if cls.downsample != "never":
            lines.append(f"        self.{shortcut} = {shortcut}")
        for child in first.after:
            lines += self.member(cls, child)
        return lines

    def member(self, cls: BlockClass, node: ir.Module) -> list[str]:
        first = cls.instances[0]

        def make(child: ir.Module) -> py.Expr:
            if isinstance(child, ir.Layer):
                path = relative(first, child)
                return self.layer(
                    child,
                    lambda a: bound(cls, path, child.op, a),
                    cls.zero_init.get(path),
                )
            if isinstance(child, ir.Block):
                inner = self.classes[child.path]
                args, keywords = cls.nested_arguments(inner, child)
                return py.call(inner.name, *args, **keywords, rngs="rngs")
            return self.sequential(child, make)

        comment = stride_comment(cls, node)
        lines = py.comment(comment, 2) if comment else []
        return lines + py.lay_out(make(node), 2, prefix=f"self.{attribute_name(node.name)} = ")

    def block_call_method(self, cls: BlockClass) -> list[str]:
        first = cls.instances[0]
        shortcut = f"self.{attribute_name(cls.shortcut_name)}"
        lines = ["    def __call__(self, x: jax.Array) -> jax.Array:"]
        if cls.downsample == "sometimes":
            lines.append("        identity = x")
        source = "x"
        for child in first.body:
            lines.append(f"        out = self.{attribute_name(child.name)}({source})")
            source = "out"
        if cls.residual:
            identity = {"never": "x", "always": f"{shortcut}(x)", "sometimes": "identity"}
            if cls.downsample == "sometimes":
                lines += [
                    f"        if {shortcut} is not None:",
                    f"            identity = {shortcut}(x)",
                ]
            lines.append(f"        out = {source} + {identity[cls.downsample]}")
            source = "out"
        for child in first.after:
            lines.append(f"        out = self.{attribute_name(child.name)}({source})")
            source = "out"
        lines.append(f"        return {source}")
        return lines

    # ---- the network class

    def network_class(self) -> list[str]:
        net = self.network
        lines = [f"class {self.class_name}(nnx.Module):"]
        lines += py.docstring(network_doc(net, self.counts), 1)
        lines += ["", "    def __init__(self, *, rngs: nnx.Rngs) -> None:"]
        for child in net.children:
            prefix = f"self.{attribute_name(child.name)} = "
            lines += py.lay_out(self.expression(child), 2, prefix=prefix)
        lines += ["", "    def __call__(self, x: jax.Array) -> jax.Array:"]
        for child in net.children:
            lines.append(f"        x = self.{attribute_name(child.name)}(x)")
        lines.append("        return x")
        return lines


@functools.cache
def helper_source(name: str) -> str:
    """The source of one ``flax_ops`` piece, read once per process."""
    return inspect.getsource(getattr(flax_ops, name))


def literal_or_default(op: ir.Op, argument: FlaxArgument) -> str | None:
    """A literal for one argument; None where it equals flax's default (left out)."""
    value = getattr(op, argument.field)
    default = argument.default
    if default is not None and value == default and type(value) is type(default):
        return None
    return literal(value)


def bound(cls: BlockClass, path: str, op: ir.Op, argument: FlaxArgument) -> str | None:
    """The block class's expression for one argument: the torch binding, or, where torch
    leaves the argument out (its default, the same in every instance), flax's own rule."""
    expression = cls.bindings.get((path, argument.torch))
    return expression if expression is not None else literal_or_default(op, argument)


def entry(key: str, value: py.Expr) -> py.Expr:
    """``key: value`` inside a dict, laid out like a call when it must split."""
    if isinstance(value, py.Bracket):
        return py.Bracket(f"{key}: {value.head}", value.items, value.close)
    return f"{key}: {py.flat(value)}"


def emit_source(network: ir.Network, counts: Counts) -> str:
    return Emitter(network, counts).source()
