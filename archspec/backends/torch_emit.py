"""Emit one standalone PyTorch module for an ir.Network, laid out like torchvision's resnet.py.

The file imports torch only. It has a class per block type (see ``torch_blocks``), a
``ZeroPadShortcut`` class when option A is used, and a network class whose submodules are
named by the IR paths, so its state_dict keys are the spec's names. Text is a pure
function of the IR (no dates, no absolute paths added, sets never iterated), laid out by
``pysource`` so that ``ruff check`` and ``ruff format --check`` pass unchanged. Names go
into code only as identifiers, any other spec text only through ``codegen.escape``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from archspec import ir, names
from archspec.backends import pysource as py
from archspec.backends.block_resolve import block_classes
from archspec.backends.torch_blocks import BlockClass, relative
from archspec.backends.torch_layers import (
    TORCH_LAYERS,
    Argument,
    InPlace,
    plan_inplace,
    zero_init_paths,
)
from archspec.backends.torch_text import (
    INIT_DOC,
    INIT_LOOP,
    describe,
    module_doc,
    network_doc,
    stride_comment,
)
from archspec.codegen.escape import identifier, is_identifier, literal, string
from archspec.cost import Counts


class Emitter:
    """Writes one network: its block classes first, then the network class."""

    def __init__(self, network: ir.Network, counts: Counts) -> None:
        self.network = network
        self.counts = counts
        self.inplace: InPlace = plan_inplace(network)
        self.class_name = identifier(names.class_name(network.name))
        self.classes = block_classes(network, {self.class_name, *names.EMITTED_GLOBALS})
        self.uses_zero_pad = any(isinstance(x.op, ir.ZeroPadShortcut) for x in ir.layers(network))
        self.uses_ordered = any(
            isinstance(node, ir.Sequence) and not numbered(node.children)
            for node in ir.walk(network)
        )

    # ---- the file

    def source(self) -> str:
        doc = module_doc(self.network, "PyTorch", "torch")
        head = [*py.docstring(doc, 0), "", *self.imports(), ""]
        head.append(f"__all__ = [{string(self.class_name)}]")
        parts = ["\n".join(head)]
        if self.uses_zero_pad:
            parts.append(_zero_pad_class())
        for cls in unique(self.classes.values()):
            parts.append("\n".join(self.block_class(cls)))
        parts.append("\n".join(self.network_class()))
        return "\n\n\n".join(parts) + "\n"

    def imports(self) -> list[str]:
        lines = ["from collections import OrderedDict", ""] if self.uses_ordered else []
        lines.append("import torch")
        if self.uses_zero_pad:
            lines.append("import torch.nn.functional as F")
        lines.append("from torch import nn")
        return lines

    # ---- layers and containers as expressions

    def expression(self, node: ir.Module) -> py.Expr:
        """The construction of any module, with literal arguments (network level)."""
        if isinstance(node, ir.Layer):
            return self.layer(node, lambda a: value_or_default(node.op, a))
        if isinstance(node, ir.Block):
            return self.block_call(node)
        return self.sequential(node.children, self.expression)

    def layer(self, layer: ir.Layer, bind: Binder) -> py.Bracket:
        name, table = TORCH_LAYERS[layer.op.op]
        if isinstance(layer.op, ir.ReLU):
            inplace = layer.path in self.inplace.relus
            return py.call(name, inplace="True") if inplace else py.call(name)
        positional = [bind(a) or "" for a in table if a.positional]
        keywords = {a.keyword: bind(a) for a in table if not a.positional}
        return py.call(name, *positional, **{k: v for k, v in keywords.items() if v})

    def sequential(self, children: tuple[ir.Module, ...], make: Maker) -> py.Bracket:
        if numbered(children):
            return py.Bracket("nn.Sequential(", tuple(repeats([make(c) for c in children])))
        pairs = [py.Bracket("(", (string(c.name), make(c))) for c in children]
        ordered = py.call("OrderedDict", py.Bracket("[", tuple(pairs), "]"))
        return py.call("nn.Sequential", ordered)

    def block_call(self, block: ir.Block) -> py.Bracket:
        cls = self.classes[block.path]
        positional, named = cls.call_arguments(block)
        args: list[py.Expr] = [literal(value) for value in positional]
        keywords: dict[str, py.Expr] = {k: literal(v) for k, v in named.items()}
        for name, module in cls.shortcut_modules(block):
            keywords[name] = self.expression(module)
        return py.call(cls.name, *args, **keywords)

    # ---- a block class

    def block_class(self, cls: BlockClass) -> list[str]:
        lines = [f"class {cls.name}(nn.Module):"]
        lines += py.docstring(describe(cls), 1)
        lines += ["", *self.block_init(cls), "", *self.block_forward(cls)]
        return lines

    def block_init(self, cls: BlockClass) -> list[str]:
        required = [f"{v.name}: {v.annotation}" for v in cls.parameters if v.default is None]
        optional = [
            f"{v.name}: {v.annotation} = {literal(v.default)}"
            for v in cls.parameters
            if v.default is not None
        ]
        for shortcut in cls.shortcuts:
            if shortcut.mode == "always":
                required.append(f"{shortcut.name}: nn.Module")
            else:
                optional.append(f"{shortcut.name}: nn.Module | None = None")
        params = ["self", *required, *optional]
        lines = py.lay_out(py.Bracket("def __init__(", tuple(params), ") -> None:"), 1)
        lines.append("        super().__init__()")
        first = cls.instances[0]
        for child in first.body:
            lines += self.member(cls, child)
        if cls.downsample != "never":
            lines.append(f"        self.{cls.shortcut_name} = {cls.shortcut_name}")
        for child in first.after:
            lines += self.member(cls, child)
        for name in dict.fromkeys(v for v in cls.zero_init.values() if v != "True"):
            lines.append(f"        self.{name} = {name}")
        return lines

    def member(self, cls: BlockClass, node: ir.Module) -> list[str]:
        first = cls.instances[0]

        def make(child: ir.Module) -> py.Expr:
            if isinstance(child, ir.Layer):
                path = relative(first, child)
                return self.layer(child, lambda a: cls.bindings.get((path, a.keyword)))
            if isinstance(child, ir.Block):
                return self.nested_call(cls, child)
            return self.sequential(child.children, make)

        comment = stride_comment(cls, node)
        lines = py.comment(comment, 2) if comment else []
        return lines + assign("self", node.name, make(node), 2)

    def nested_call(self, cls: BlockClass, block: ir.Block) -> py.Bracket:
        """A block built inside a block class, with arguments in that class's terms."""
        inner = self.classes[block.path]
        args, keywords = cls.nested_arguments(inner, block)
        return py.call(inner.name, *args, **keywords)

    def block_forward(self, cls: BlockClass) -> list[str]:
        first = cls.instances[0]
        lines = ["    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
        body = [f"{call_member('self', c.name)}" for c in first.body]
        after = [f"{call_member('self', c.name)}" for c in first.after]
        shortcut = cls.shortcut_name
        if cls.downsample == "sometimes":
            lines.append("        identity = x")
        source = "x"
        for step in body:
            lines.append(f"        out = {step}({source})")
            source = "out"
        if cls.residual:
            lines += self.addition(cls, source, shortcut)
            source = "out"
        for step in after:
            lines.append(f"        out = {step}({source})")
            source = "out"
        lines.append(f"        return {source}")
        return lines

    def addition(self, cls: BlockClass, source: str, shortcut: str) -> list[str]:
        identity = {
            "never": "x",
            "always": f"self.{shortcut}(x)",
            "sometimes": "identity",
        }[cls.downsample]
        lines = []
        if cls.downsample == "sometimes":
            lines = [
                f"        if self.{shortcut} is not None:",
                f"            identity = self.{shortcut}(x)",
            ]
        if source == "out" and cls.instances[0].path in self.inplace.adds:
            return [*lines, f"        out += {identity}"]
        return [*lines, f"        out = {source} + {identity}"]

    # ---- the network class

    def network_class(self) -> list[str]:
        net = self.network
        lines = [f"class {self.class_name}(nn.Module):"]
        lines += py.docstring(network_doc(self.network, self.counts), 1)
        lines += ["", "    def __init__(self) -> None:", "        super().__init__()"]
        for child in net.children:
            lines += assign("self", child.name, self.expression(child), 2)
        lines += ["        self.reset_parameters()", ""]
        lines.append("    def forward(self, x: torch.Tensor) -> torch.Tensor:")
        for child in net.children:
            lines.append(f"        x = {call_member('self', child.name)}(x)")
        lines += ["        return x", "", *self.reset_method()]
        return lines

    def reset_method(self) -> list[str]:
        lines = ["    def reset_parameters(self) -> None:", *py.docstring(INIT_DOC, 2)]
        lines += ["        " + line for line in INIT_LOOP.splitlines()]
        lines += self.zero_init_lines()
        return lines

    def zero_init_lines(self) -> list[str]:
        covered: set[str] = set()
        checks: list[str] = []
        for cls in unique(self.classes.values()):
            for path, flag in cls.zero_init.items():
                condition = f"isinstance(m, {cls.name})"
                if flag != "True":
                    condition += f" and m.{identifier(flag)}"
                target = member_path("m", path)
                checks += [
                    f"            if {condition}:",
                    f"                nn.init.zeros_({target})",
                ]
            covered.update(f"{b.path}.{p}" for b in cls.instances for p in cls.zero_init)
        rest = [p for p in zero_init_paths(self.network) if p not in covered]
        if not checks and not rest:
            return []
        lines = py.comment(
            "Start the last batch norm of each residual branch at zero, so that every "
            "block begins as an identity (Goyal et al. 2017).",
            2,
        )
        if checks:
            lines += ["        for m in self.modules():", *checks]
        for path in rest:
            lines.append(f"        nn.init.zeros_({member_path('self', path)})")
        return lines


Binder = Callable[[Argument], "str | None"]
Maker = Callable[[ir.Module], py.Expr]


def value_or_default(op: ir.Op, argument: Argument) -> str | None:
    value = getattr(op, argument.field)
    default = argument.default
    if default is not None and value == default and type(value) is type(default):
        return None
    return literal(value)


def numbered(children: tuple[ir.Module, ...]) -> bool:
    return [c.name for c in children] == [str(i) for i in range(len(children))]


def repeats(items: list[py.Expr]) -> list[py.Expr]:
    """Runs of three or more identical items become ``*(item for _ in range(n))``."""
    out: list[py.Expr] = []
    index = 0
    while index < len(items):
        end = index
        while end < len(items) and items[end] == items[index]:
            end += 1
        count = end - index
        if count >= 3:
            out.append(py.Repeat(items[index], count))
        else:
            out.extend(items[index:end])
        index = end
    return out


def unique(classes: Iterable[BlockClass]) -> list[BlockClass]:
    seen: dict[str, BlockClass] = {}
    for cls in classes:
        seen.setdefault(cls.name, cls)
    return list(seen.values())


def assign(owner: str, name: str, expr: py.Expr, depth: int) -> list[str]:
    if is_identifier(name):
        return py.lay_out(expr, depth, prefix=f"{owner}.{name} = ")
    return py.lay_out(py.call(f"{owner}.add_module", string(name), expr), depth)


def call_member(owner: str, name: str) -> str:
    return f"{owner}.{name}" if is_identifier(name) else f"getattr({owner}, {string(name)})"


def member_path(owner: str, path: str) -> str:
    """``module.bn3.weight``, or ``get_submodule`` when a name is not an identifier."""
    if all(is_identifier(part) for part in path.split(".")):
        return f"{owner}.{path}.weight"
    return f"{owner}.get_submodule({string(path)}).weight"


def emit_source(network: ir.Network, counts: Counts) -> str:
    return Emitter(network, counts).source()


@functools.cache
def _zero_pad_class() -> str:
    """The option A module's source, copied from the one ``to_torch()`` uses, so the file and
    the in-memory model cannot drift apart (imported here: flax emission needs no torch)."""
    import inspect

    from archspec.backends import torch_build

    return inspect.getsource(torch_build.ZeroPadShortcut).strip("\n")
