"""One Python class per block type, for both emitters: what it takes and how it is called.

The IR holds resolved blocks (``layer2.0`` with its convolutions' channels and strides),
not the definitions they came from. ``block_resolve`` recovers a readable class from them
(a ``BlockClass``: its constructor parameters, the expression bound to each layer
argument, the shortcut modules it takes); this module holds those types and the walks
over a block's tree that both the emitters and ``torch_build`` share.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from archspec import ir


@dataclass(eq=False)
class Variable:
    """A constructor argument of a block class, with its value in each instance."""

    name: str
    values: tuple[ir.Scalar, ...]
    channels: bool = False  # a channel count: positional, no default
    spec: str = ""  # the block's own argument it stands for, as the spec spells it

    @property
    def default(self) -> ir.Scalar | None:
        return None if self.channels else Counter(self.values).most_common(1)[0][0]

    @property
    def annotation(self) -> str:
        return type(self.values[0]).__name__


@dataclass(frozen=True)
class Shortcut:
    """A shortcut module that a block class takes as an argument: its own (path '') or
    that of a block nested in it (path relative to the class's block), passed on."""

    name: str
    path: str
    mode: str  # "always" or "sometimes": whether every instance has one


@dataclass
class BlockClass:
    name: str
    kind: str
    instances: list[ir.Block]
    parameters: list[Variable] = field(default_factory=list)
    bindings: dict[tuple[str, str], str] = field(default_factory=dict)
    zero_init: dict[str, str] = field(default_factory=dict)  # BN path -> "True" or a name
    shortcuts: list[Shortcut] = field(default_factory=list)

    @property
    def residual(self) -> bool:
        return self.instances[0].shortcut != "none"

    @property
    def shortcut_name(self) -> str:
        found = [b.downsample.name for b in self.instances if b.downsample is not None]
        return found[0] if found else "downsample"

    @property
    def downsample(self) -> str:
        """'never', 'sometimes' or 'always': whether instances have a shortcut module."""
        present = {b.downsample is not None for b in self.instances}
        return "always" if present == {True} else "sometimes" if True in present else "never"

    def values(self, block: ir.Block) -> list[tuple[Variable, ir.Scalar]]:
        index = next(i for i, b in enumerate(self.instances) if b.path == block.path)
        return [(v, v.values[index]) for v in self.parameters]

    def call_arguments(self, block: ir.Block) -> tuple[list[ir.Scalar], dict[str, ir.Scalar]]:
        """How one instance is constructed, in either backend: channel counts by position,
        other parameters by keyword where they differ from the class's default."""
        positional: list[ir.Scalar] = []
        keywords: dict[str, ir.Scalar] = {}
        for variable, value in self.values(block):
            if variable.channels:
                positional.append(value)
            elif value != variable.default or type(value) is not type(variable.default):
                keywords[variable.name] = value
        return positional, keywords

    def shortcut_modules(self, block: ir.Block) -> list[tuple[str, ir.Module]]:
        """The shortcut modules one instance is constructed with, by parameter name."""
        found = []
        for shortcut in self.shortcuts:
            owner = block if not shortcut.path else nested_block(block, shortcut.path)
            if owner.downsample is not None:
                found.append((shortcut.name, owner.downsample))
        return found

    def nested_arguments(
        self, inner: BlockClass, block: ir.Block
    ) -> tuple[list[str], dict[str, str]]:
        """How this class builds ``block``, a block nested in it, with ``inner`` (that
        block's class): channel expressions by position, others and the shortcut
        modules this class passes on by keyword, all in this class's parameters."""
        path = relative(self.instances[0], block)
        positional: list[str] = []
        keywords: dict[str, str] = {}
        for variable in inner.parameters:
            expression = self.bindings.get((path, variable.name))
            if variable.channels:
                positional.append(expression or "")
            elif expression is not None:
                keywords[variable.name] = expression
        passed = {shortcut.path: shortcut.name for shortcut in self.shortcuts}
        for shortcut in inner.shortcuts:
            full = join(path, shortcut.path)
            if full in passed:
                keywords[shortcut.name] = passed[full]
        return positional, keywords


def nested_block(block: ir.Block, path: str) -> ir.Block:
    found = next(n for n in ir.walk(block) if n.path == join(block.path, path))
    assert isinstance(found, ir.Block)
    return found


def signature(node: ir.Module) -> tuple[object, ...]:
    """Names and ops of a module and of all it builds."""
    if isinstance(node, ir.Layer):
        return (node.name, node.op.op)
    if isinstance(node, ir.Sequence):
        return (node.name, "sequence", tuple(signature(c) for c in node.children))
    return (node.name, *class_key(node))


def class_key(block: ir.Block) -> tuple[object, ...]:
    """What two blocks must share to share a class: the names and ops they build
    themselves (shortcut modules, theirs and their nested blocks', are arguments)."""
    return (
        block.block,
        block.shortcut == "none",
        tuple(signature(c) for c in block.body),
        tuple(signature(c) for c in block.after),
    )


def branch_nodes(block: ir.Block) -> list[ir.Layer | ir.Sequence | ir.Block]:
    """What a block class builds itself, in order: body, then after, nested groups
    included; a nested block's own modules belong to its class."""
    found: list[ir.Layer | ir.Sequence | ir.Block] = []

    def visit(node: ir.Module) -> None:
        found.append(node)
        if isinstance(node, ir.Sequence):
            for child in node.children:
                visit(child)

    for child in block.body + block.after:
        visit(child)
    return found


def shortcut_order(block: ir.Block) -> list[ir.Module]:
    """The shortcut modules a block's construction takes, in the emitted argument order:
    those of the blocks nested in it first, its own last."""
    found: list[ir.Module] = []
    for node in branch_nodes(block):
        if isinstance(node, ir.Block):
            found += shortcut_order(node)
    return found + ([block.downsample] if block.downsample is not None else [])


def relative(block: ir.Block, node: ir.Layer | ir.Sequence | ir.Block) -> str:
    return node.path[len(block.path) + 1 :]


def join(path: str, tail: str) -> str:
    return f"{path}.{tail}" if path and tail else path or tail
