"""Which groups become classes, and which classes they share.

The IR holds resolved blocks (``layer2.0`` with its convolutions' channels and strides),
not the definitions they came from. Code generation recovers a readable class from them,
as a person would write torchvision's resnet.py: every group that instantiates a block
definition (or combines branches) is an instance of a class; instances whose members have
the same names and ops share one class; what differs between them becomes a constructor
argument (``resolve``). Shortcut modules differ from instance to instance (a projection
on the first block of a stage only), so they are arguments, passed in built.

Plain named groups and stages without branches are not classes: they become the
framework's sequential container, built in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from archspec import ir
from archspec.lower.names import FRAMEWORK_ATTRIBUTES
from archspec.lower.names import class_name as camel_case


def numbered(group: ir.Group) -> bool:
    """True when the members are named 0 .. n-1, as a framework's plain sequential numbers
    them (``nn.Sequential``, ``nnx.Sequential``)."""
    return [m.name for m in group.members] == [str(i) for i in range(len(group.members))]


def named_run(group: ir.Group) -> ir.Repeat | None:
    """The run of copies a group holds alone, named by a template with one ``{i}`` or
    ``{n}`` (``blocks=unit(64) x n as "unit{n}"``) that names a module at any count: no
    attribute of the frameworks has its form (``"bfloat{i}"`` would be ``bfloat16``)."""
    if len(group.repeats) != 1:
        return None
    run = group.repeats[0]
    holes = run.naming.count("{i}") + run.naming.count("{n}")
    if holes != 1 or (run.first, run.size, run.count) != (0, 1, len(group.members)):
        return None
    prefix, _, suffix = run.naming.replace("{n}", "{i}").partition("{i}")
    form = re.compile(re.escape(prefix) + "[0-9]+" + re.escape(suffix))
    return None if any(form.fullmatch(name) for name in FRAMEWORK_ATTRIBUTES) else run


def counted_names(group: ir.Group) -> Callable[[int], str] | None:
    """How the members of a group whose copies a depth keyword counts are named at any
    count: by position (``numbered``) or by the run's template (``named_run``); None
    where neither."""
    if numbered(group):
        return str
    run = named_run(group)
    return None if run is None else run.copy_name


def is_class(group: ir.Group) -> bool:
    """A block instance, a group with branches or one holding a bare tensor: a class of
    its own in emitted code."""
    return bool(group.definition) or not group.is_chain or group.holds_tensors


def network_level(network: ir.Network) -> set[str]:
    """Paths of the layers and classes the network class constructs itself (not inside a
    class)."""
    inside = "\0"  # the class being skipped (a walk lists a node's descendants after it)
    own: set[str] = set()
    for place in ir.walk(network):
        if place.path.startswith(inside):
            continue
        if isinstance(place.node, ir.Group) and is_class(place.node):
            inside = place.path + "."
            own.add(place.path)
        elif isinstance(place.node, ir.Layer):
            own.add(place.path)
    return own


@dataclass(frozen=True)
class Built:
    """A module a class builds itself: its path relative to the class, and the node."""

    path: str
    node: ir.Node


def own_modules(group: ir.Group) -> Iterator[Built]:
    """What a class builds itself, in flow order: its members, and the insides of its plain
    sequential groups; not the insides of nested classes (their own class builds those),
    nor its shortcut branches (passed in)."""

    def visit(flow: ir.Chain, prefix: str) -> Iterator[Built]:
        for step in flow.steps:
            if isinstance(step, ir.Parallel):
                for branch in own_branches(step):
                    yield from visit(branch, prefix)
                continue
            path = f"{prefix}{step.name}"
            yield Built(path, step.node)
            if isinstance(step.node, ir.Group) and not is_class(step.node):
                yield from visit(step.node.flow, f"{path}.")

    return visit(group.flow, "")


def own_branches(parallel: ir.Parallel) -> tuple[ir.Chain, ...]:
    """The branches a class builds: all but the shortcut, which is an argument."""
    return parallel.branches[:-1] if parallel.shortcut else parallel.branches


def shortcut_members(group: ir.Group) -> Iterator[tuple[str, ir.Member]]:
    """The shortcut modules of a group's own flow (``downsample``), with their parent's
    relative path: ``''`` for the group's own, ``a`` for a plain group ``a`` inside it."""

    def visit(flow: ir.Chain, prefix: str) -> Iterator[tuple[str, ir.Member]]:
        for step in flow.steps:
            if isinstance(step, ir.Parallel):
                if step.shortcut:
                    for member in ir.members_of(step.branches[-1]):
                        yield prefix.rstrip("."), member
                for branch in own_branches(step):
                    yield from visit(branch, prefix)
            elif isinstance(step.node, ir.Group) and not is_class(step.node):
                yield from visit(step.node.flow, f"{prefix}{step.name}.")

    return visit(group.flow, "")


def shortcut_member(holder: ir.Node, name: str) -> ir.Member | None:
    """The shortcut module ``name`` of a group's own flow, if it has one."""
    if not isinstance(holder, ir.Group):
        return None
    return next((m for owner, m in shortcut_members(holder) if not owner and m.name == name), None)


def built_shortcuts(cls: BlockClass, group: ir.Group) -> Iterator[tuple[Shortcut, str, ir.Member]]:
    """The shortcut modules the network class builds for an instance and passes in
    (``downsample=nn.Sequential(...)``), each with its path in the instance."""
    for shortcut in cls.shortcuts:
        holder = ir.find(group, shortcut.owner) if shortcut.owner else group
        member = shortcut_member(holder, shortcut.member)
        if member is not None:
            path = f"{shortcut.owner}.{member.name}" if shortcut.owner else member.name
            yield shortcut, path, member


def shortcut_slot(parallels: list[ir.Parallel]) -> tuple[str, bool] | None:
    """The same residual addition in every instance of a class: its shortcut module's
    name and whether every instance has one; None where all add the identity."""
    names = [m.name for p in parallels for m in ir.members_of(p.branches[-1])]
    if not names:
        return None
    return names[0], len(names) == len(parallels)


def signature(node: ir.Node) -> tuple[object, ...]:
    """Names and ops of a module and of all it builds, with each layer's input rank (a
    lowering may depend on it: ``Lowering.by_rank``); shortcut branches left out."""
    if isinstance(node, ir.Layer):
        return (node.op.NAME, len(node.input))
    return (node.definition, is_class(node), flow_signature(node.flow))


def flow_signature(flow: ir.Chain) -> tuple[object, ...]:
    found: list[object] = []
    for step in flow.steps:
        if isinstance(step, ir.Member):
            found.append((step.name, signature(step.node)))
        else:
            branches = tuple(flow_signature(b) for b in own_branches(step))
            found.append(("parallel", step.combine, step.shortcut is not None, branches))
    return tuple(found)


@dataclass(frozen=True)
class Shortcut:
    """A shortcut module a class takes as an argument: one of its own (``owner`` '') or of
    a class nested in it (``owner`` is that instance's relative path), passed on."""

    argument: str
    owner: str
    member: str
    always: bool


@dataclass(eq=False)
class Variable:
    """A constructor argument of a class, with its value in each instance."""

    name: str
    values: tuple[ir.Scalar, ...]
    channels: bool = False  # a channel count: positional, no default
    spec: str = ""  # the spec argument it stands for, if any
    own: int | None = None
    """How many values, first, are the emitted network's (the rest: of the networks a
    keyword was probed with, ``resolve.block_classes``); None: all."""

    @property
    def default(self) -> ir.Scalar | None:
        """The value most of the network's own instances take (the first, on a tie); of
        the probed ones for a class only they hold (a loop's lone copy's)."""
        if self.channels:
            return None
        counts: dict[ir.Scalar, int] = {}
        for value in self.values[: self.own] or self.values:
            counts[value] = counts.get(value, 0) + 1
        return max(counts, key=lambda value: counts[value])

    @property
    def annotation(self) -> str:
        return type(self.values[0]).__name__


@dataclass(eq=False)
class BlockClass:
    """One emitted class: its instances (distinct IR nodes), arguments and bindings.

    ``bindings`` maps (relative path, op field or nested-class argument) to the Python
    expression that sets it; a field that is absent is the same literal in every instance.
    """

    name: str
    kind: str
    instances: list[ir.Group]
    sources: list[int] = field(default_factory=list)
    """Each instance's network: 0 the emitted one, k the k-th probed (``resolve.Probe``);
    the emitted network's come first."""
    parameters: list[Variable] = field(default_factory=list)
    bindings: dict[tuple[str, str], str] = field(default_factory=dict)
    shortcuts: list[Shortcut] = field(default_factory=list)
    merged: bool = False
    """Whether a field took another's argument by equal values alone (``resolve``)."""
    conditions: dict[str, str] = field(default_factory=dict)
    """Members a switch adds (``codegen.optional``), each with the condition the class
    builds it under: ``attn``."""

    @property
    def own(self) -> int | None:
        """How many instances, first, are the emitted network's; None: all."""
        return self.sources.count(0) if self.sources else None

    @property
    def first(self) -> ir.Group:
        return self.instances[0]

    def index(self, group: ir.Group) -> int:
        return next(i for i, g in enumerate(self.instances) if g is group)

    def values(self, group: ir.Group) -> list[tuple[Variable, ir.Scalar]]:
        index = self.index(group)
        return [(v, v.values[index]) for v in self.parameters]

    def call_arguments(self, group: ir.Group) -> tuple[list[ir.Scalar], dict[str, ir.Scalar]]:
        """How one instance is constructed, in any backend: channel counts by position,
        other parameters by keyword where they differ from the class's default."""
        positional: list[ir.Scalar] = []
        keywords: dict[str, ir.Scalar] = {}
        for variable, value in self.values(group):
            if variable.channels:
                positional.append(value)
            elif value != variable.default or type(value) is not type(variable.default):
                keywords[variable.name] = value
        return positional, keywords


def member_stem(path: str, kind: str) -> str:
    """A readable identifier for a member of a class, from its path in the class:
    ``conv2``, ``a_conv1``; a numbered member is named by its op or block type too, as
    ``0`` alone is no name (``features.0.0`` in torchvision): ``conv0``, ``inner1_0``."""
    stem = path.replace(".", "_")
    return stem if stem[:1].isalpha() else f"{kind}{stem}"


def class_name(kind: str, plain: bool, taken: set[str]) -> str:
    base = camel_case(kind)
    if not base.endswith(("Block", "Bottleneck")):
        base += "Block"
    if plain and not base.startswith("Plain"):
        base = "Plain" + base
    name, number = base, 2
    while name in taken:
        name, number = f"{base}{number}", number + 1
    taken.add(name)
    return name


def is_plain(group: ir.Group) -> bool:
    """A block with no residual addition (a plain baseline's block)."""
    return bool(group.definition) and not any(
        isinstance(step, ir.Parallel) for step in group.flow.steps
    )


def class_key(group: ir.Group) -> tuple[object, ...]:
    return signature(group)


def dependency_order(groups: dict[tuple[object, ...], list[ir.Group]]) -> list[tuple[object, ...]]:
    """Class keys, each after the classes of the groups nested in it (post-order)."""
    order: list[tuple[object, ...]] = []

    def visit(key: tuple[object, ...]) -> None:
        if key in order:
            return
        for group in groups[key]:
            for built in own_modules(group):
                if isinstance(built.node, ir.Group) and is_class(built.node):
                    visit(class_key(built.node))
        order.append(key)

    for key in groups:
        visit(key)
    return order


def find_shortcuts(
    cls: BlockClass, resolved: dict[int, BlockClass], fresh: Callable[[str], str]
) -> list[Shortcut]:
    """The shortcut modules a class takes: those of the classes nested in it (which it
    passes on), then its own; each where at least one instance has one."""
    slots: list[tuple[str, str]] = []  # (owner path, member name) in argument order
    for built in own_modules(cls.first):
        if isinstance(built.node, ir.Group) and is_class(built.node):
            inner = resolved[id(built.node)]
            slots += [(join(built.path, s.owner), s.member) for s in inner.shortcuts]
    for group in cls.instances:
        slots += [(owner, member.name) for owner, member in shortcut_members(group)]
    found = []
    for owner, member in dict.fromkeys(slots):
        present = [has_shortcut(g, owner, member) for g in cls.instances]
        if any(present):
            kind = ir.find(cls.first, owner).definition if owner else ""  # type: ignore[union-attr]
            argument = member if not owner else fresh(f"{member_stem(owner, kind)}_{member}")
            found.append(Shortcut(argument, owner, member, all(present)))
    return found


def has_shortcut(group: ir.Group, owner: str, member: str) -> bool:
    """Whether this instance has the shortcut module ``member`` in the group at ``owner``."""
    holder = ir.find(group, owner) if owner else group
    assert isinstance(holder, ir.Group)
    return any(m.name == member for _, m in shortcut_members(holder))


def join(path: str, tail: str) -> str:
    return f"{path}.{tail}" if path and tail else path or tail
