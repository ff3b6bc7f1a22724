"""The intermediate representation: named modules over primitive ops, with branches.

Lowering has decided everything (which shortcut a block gets, where a stride goes, every
channel count); shapes, counts, pictures and backends only read this tree.

- A ``Layer`` is one primitive op (``archspec.ops``), with its input and output shape.
- A ``Group`` is a module with a namespace: a stage, a block, a named group. What it
  computes is its ``flow``: a ``Chain`` of steps, each a named ``Member`` (a layer or a
  group of its namespace) or a ``Parallel``: branches applied to the same input and
  combined by ``add`` (the residual block), ``concat`` along channels (Inception,
  DenseNet) or ``mul`` (squeeze-and-excitation gating). A branch is a ``Chain``; an empty
  one is the identity. Members inside branches belong to the enclosing namespace, as
  torchvision's ``layer1.0.conv1`` and ``layer1.0.downsample`` share ``layer1.0``.
- A node does not know its own name or path: its parent's ``Member`` names it. So one
  node may stand at several places (the fifty blocks of a deep stage are a handful of
  distinct nodes), and a path is computed by walking: ``walk(network)``.

Every node is a frozen slotted dataclass; passes dispatch on the node kind with a
``Visitor``, which fails loudly on a kind it does not handle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from archspec.ops import Op
from archspec.ops.base import Bare
from archspec.source import Span

Shape = tuple[int, ...]
"""``(channels, height, width)`` for feature maps, ``(tokens, features)`` for token
sequences, ``(features,)`` for flat features; the batch is not part of it."""

Scalar = bool | int | float | str
Combine = Literal["add", "concat", "mul"]
ShortcutKind = Literal["identity", "zero_pad", "projection"]


@dataclass(frozen=True, slots=True, eq=False)
class Layer:
    """One primitive op."""

    op: Op
    input: Shape
    output: Shape
    span: Span | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Member:
    """A named slot of a namespace: what ``layer1.0`` or ``conv1`` holds."""

    name: str
    node: Layer | Group


@dataclass(frozen=True, slots=True, eq=False)
class Chain:
    """Steps applied in order; no steps is the identity."""

    steps: tuple[Member | Parallel, ...]

    @property
    def is_plain(self) -> bool:
        """True when every step is a member: no branches."""
        return all(isinstance(step, Member) for step in self.steps)


@dataclass(frozen=True, slots=True, eq=False)
class Parallel:
    """Branches applied to the same input, combined.

    ``shortcut`` is set where lowering chose the paper's shortcut (options A/B/C or a
    user projection): the last branch is that shortcut, and ``shortcut`` says what it is.
    """

    branches: tuple[Chain, ...]
    combine: Combine
    input: Shape
    output: Shape
    span: Span | None = None
    shortcut: ShortcutKind | None = None


@dataclass(frozen=True, slots=True)
class Repeat:
    """Members ``first`` to ``first + size * count`` of a group: ``count`` copies of
    ``size`` members each, written ``x parameter`` (a stage: ``size`` 1, every member),
    the parameter in no default, ``let``, count, stride or condition (``alike``: nor
    elsewhere, and no copy reads ``i``). ``reads``: the names the copies' expressions
    read; ``naming``: the ``as`` template naming each copy (``"denselayer{n}"``)."""

    parameter: str
    first: int
    size: int
    count: int
    reads: frozenset[str] = frozenset()
    naming: str = ""
    alike: bool = True

    def copy_name(self, index: int) -> str:
        """The name ``naming`` gives copy ``index`` (from 0)."""
        return copy_name(self.naming, index)

    def copy(self, index: int) -> range:
        """The member positions of copy ``index`` (from 0)."""
        start = self.first + index * self.size
        return range(start, start + self.size)


@dataclass(frozen=True, slots=True, eq=False)
class Group:
    """A module with its own namespace.

    ``definition`` names the block type it instantiates (``basic``), empty for a stage or
    a named group; ``arguments`` are the block's spec arguments, for code generation.
    ``repeats`` are the runs of its members written as copies ``x n`` of a parameter read
    nowhere else: the one fact code generation cannot recover from the IR (see
    ``codegen.knobs``).
    """

    flow: Chain
    input: Shape
    output: Shape
    span: Span | None = None
    definition: str = ""
    arguments: tuple[tuple[str, Scalar], ...] = ()
    stage: bool = False
    repeats: tuple[Repeat, ...] = ()

    @property
    def members(self) -> tuple[Member, ...]:
        return members_of(self.flow)

    @property
    def is_chain(self) -> bool:
        """True when the flow applies the members in order, with no branches."""
        return self.flow.is_plain

    @property
    def holds_tensors(self) -> bool:
        """True when a member is a bare tensor (``Op.BARE``): a tensor, not a module, so
        no framework's sequential container can hold it."""
        return any(is_bare(member.node) for member in self.members)


@dataclass(frozen=True, slots=True)
class PaperFigures:
    """What the paper reports for this network, to compare against."""

    macs: float | None = None
    params: float | None = None
    source: str = ""

    def as_dict(self) -> dict[str, object]:
        """The figures given (``macs``, ``params``, ``source``), for JSON."""
        figures = {"macs": self.macs, "params": self.params, "source": self.source}
        return {k: v for k, v in figures.items() if v is not None}


@dataclass(frozen=True, slots=True, eq=False)
class Network:
    """The root: a flow over the stem, stages and head, and what the spec said of itself."""

    name: str
    input: Shape
    output: Shape
    flow: Chain
    shortcut: str
    parameters: tuple[tuple[str, Scalar], ...] = ()
    paper: PaperFigures | None = None
    file: str = ""
    description: str = ""
    display_name: str = ""
    """How people write the name (``ResNet-50``); the emitted class is made from it."""
    whole_arguments: tuple[str, ...] = ()
    """The parameters the spec reads only as whole arguments or input sizes
    (``fc(num_classes)``): the only ones a width keyword of the emitted class may stand
    for (``codegen.knobs``), a fact of the syntax the IR cannot show."""
    shortcut_blocks: tuple[str, ...] = ()
    """The blocks whose shortcut lowering chose from their shapes (``+ shortcut``, ``+
    identity``): a keyword may not change those shapes (``codegen.knobs``). Also a fact
    of the syntax."""

    @property
    def class_source(self) -> str:
        """The text the emitted class name is made from: the display name, else the name."""
        return self.display_name or self.name

    @property
    def members(self) -> tuple[Member, ...]:
        return members_of(self.flow)

    def stages(self) -> tuple[tuple[str, Group], ...]:
        return tuple(
            (m.name, m.node) for m in self.members if isinstance(m.node, Group) and m.node.stage
        )


Node = Layer | Group
Step = Member | Parallel


def copy_name(template: str, index: int) -> str:
    """Copy ``index`` (from 0) named by an ``as`` template: ``{i}`` counts from 0, ``{n}``
    from 1 (``"denselayer{n}"``: ``denselayer1`` first)."""
    return template.replace("{i}", str(index)).replace("{n}", str(index + 1))


def members_of(flow: Chain) -> tuple[Member, ...]:
    """The members a flow reaches without entering another namespace, in flow order."""
    found: list[Member] = []
    for step in flow.steps:
        if isinstance(step, Member):
            found.append(step)
        else:
            for branch in step.branches:
                found.extend(members_of(branch))
    return tuple(found)


def residual(group: Group) -> Parallel | None:
    """A block's residual addition: its step that adds the paper's shortcut, if any."""
    return next((s for s in group.flow.steps if isinstance(s, Parallel) and s.shortcut), None)


def shortcut_kind(group: Group) -> str:
    """What a block adds: ``identity``, ``zero_pad``, ``projection``, or ``none`` (plain)."""
    found = residual(group)
    return found.shortcut if found is not None and found.shortcut else "none"


def children(node: Node | Network) -> tuple[Member, ...]:
    """The direct submodules of a node, in flow order."""
    return () if isinstance(node, Layer) else node.members


@dataclass(frozen=True, slots=True)
class Place:
    """A node at one place in the network: its path, local name, and depth."""

    path: str
    name: str
    node: Node
    depth: int


def walk(root: Node | Network, prefix: str = "", depth: int = 0) -> Iterator[Place]:
    """Every module below ``root`` with its path, depth first, containers before children."""
    for member in children(root):
        path = f"{prefix}.{member.name}" if prefix else member.name
        yield Place(path, member.name, member.node, depth)
        if isinstance(member.node, Group):
            yield from walk(member.node, path, depth + 1)


def layers(root: Node | Network, prefix: str = "") -> Iterator[tuple[str, Layer]]:
    """Every primitive op below ``root`` with its path, in module order."""
    for place in walk(root, prefix):
        if isinstance(place.node, Layer):
            yield place.path, place.node


def find(root: Network | Node, path: str) -> Node:
    """The module at a dotted path (KeyError when there is none)."""
    node: Network | Node = root
    for part in path.split("."):
        found = next((m.node for m in children(node) if m.name == part), None)
        if found is None:
            raise KeyError(path)
        node = found
    if isinstance(node, Network):
        raise KeyError(path)
    return node


T = TypeVar("T")


class Visitor(Generic[T]):
    """Dispatch on the node kind: ``layer``, ``group``, ``chain``, ``parallel``, ``member``.

    A pass overrides the kinds it handles; any other kind raises, so that a new node kind
    cannot slip through a pass unnoticed.
    """

    def visit(self, node: Node | Chain | Parallel | Member) -> T:
        method = getattr(self, _KINDS[type(node)])
        result: T = method(node)
        return result

    def layer(self, node: Layer) -> T:
        return self.unhandled(node)

    def group(self, node: Group) -> T:
        return self.unhandled(node)

    def chain(self, node: Chain) -> T:
        return self.unhandled(node)

    def parallel(self, node: Parallel) -> T:
        return self.unhandled(node)

    def member(self, node: Member) -> T:
        return self.visit(node.node)

    def unhandled(self, node: object) -> T:
        raise NotImplementedError(f"{type(self).__name__} does not handle {type(node).__name__}")


_KINDS: dict[type, str] = {
    Layer: "layer",
    Group: "group",
    Chain: "chain",
    Parallel: "parallel",
    Member: "member",
}


class _Data(Visitor[object]):
    """Plain data (dicts, lists, numbers, strings) for any node: for JSON and comparisons."""

    def __init__(self, spans: bool) -> None:
        self.spans = spans

    def located(self, node: Layer | Group | Parallel, data: dict[str, object]) -> object:
        data["input"], data["output"] = list(node.input), list(node.output)
        if self.spans and node.span is not None:
            data["span"] = str(node.span)
        return data

    def layer(self, node: Layer) -> object:
        fields = {name: getattr(node.op, name) for name in node.op.__dataclass_fields__}
        return self.located(node, {"op": node.op.NAME, **fields})

    def group(self, node: Group) -> object:
        data: dict[str, object] = {"flow": self.visit(node.flow)}
        if node.definition:
            data["definition"], data["arguments"] = node.definition, dict(node.arguments)
        if node.stage:
            data["stage"] = True
        return self.located(node, data)

    def chain(self, node: Chain) -> object:
        return [self.visit(step) for step in node.steps]

    def parallel(self, node: Parallel) -> object:
        branches = [self.visit(branch) for branch in node.branches]
        data: dict[str, object] = {
            "combine": node.combine,
            "shortcut": node.shortcut,
            "branches": branches,
        }
        return self.located(node, data)

    def member(self, node: Member) -> object:
        return {"name": node.name, "node": self.visit(node.node)}


def to_data(root: Node | Network, spans: bool = False) -> object:
    """The tree as plain data; shared nodes appear at every place they stand."""
    data = _Data(spans)
    if isinstance(root, Network):
        return {
            "name": root.name,
            "input": list(root.input),
            "output": list(root.output),
            "shortcut": root.shortcut,
            "parameters": dict(root.parameters),
            "flow": data.visit(root.flow),
        }
    return data.visit(root)


def find_group(root: Network | Node, path: str) -> Group | None:
    """The group at ``path``, if ``root`` holds one there."""
    try:
        node = find(root, path)
    except KeyError:
        return None
    return node if isinstance(node, Group) else None


def bare(node: Node) -> Bare | None:
    """How a layer whose op is one tensor held by its parent (``Op.BARE``), not a module,
    meets its input; None for a module."""
    return node.op.BARE if isinstance(node, Layer) else None


def starts_at_zero(node: Node) -> bool:
    """A layer whose weight starts at zero (a batch norm's ``zero_init``): the network's
    initialisation zeroes it after the paper's (Goyal et al. 2017)."""
    return isinstance(node, Layer) and bool(getattr(node.op, "zero_init", False))


def is_bare(node: Node) -> bool:
    """A layer whose op is one tensor held by its parent (``Op.BARE``), not a module."""
    return bare(node) is not None
