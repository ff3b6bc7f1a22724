"""Members a truth value adds inside a block: ``se=... if attn`` as one class.

timm's ResNet takes an attention layer per block: ``resnet50`` and ``seresnet50`` are one
network class with a switch, ``ResNet50(se=True)``. The spec writes it as a member of the
block under a condition on one of the block's truth-value arguments (``attn``); at the
switch's two values (``codegen.switches``) each such block instance then comes in two
structures, alike but for the members the condition adds. The class is made from the
instances of the longer structure: an instance of the shorter one is *padded*, given the
structure of its twin at the other value and its own arguments, so that one class serves
both (``resolve.block_classes``). The class writes each added member where it stands,
``self.se = SeBlock(...)`` under ``if attn:``, else ``None``, and its forward applies it
where it is not None, as timm's ``if self.se is not None``.

The rule has no guess in it: the two instances have the same block, input and output,
and arguments that differ in one truth value only; their bodies are the same steps but
for members of the longer one, each named, keeping its shape, not the first of its chain
(its input is then a tensor the block made, not the block's input) and no bare tensor.
The class's condition is that argument: every instance of the longer structure holds it
at the value its twin's differs from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from archspec import ir
from archspec.codegen.classes import is_class


@dataclass(frozen=True)
class Added:
    """Members of a block (by name, in its class's namespace) that exist where its
    truth-value ``argument`` is ``when``: the class builds them under that condition."""

    definition: str
    members: frozenset[str]
    argument: str
    when: bool

    def condition(self, name: str) -> str:
        """The condition on the class's parameter ``name``: ``attn`` or ``not attn``."""
        return name if self.when else f"not {name}"


@dataclass(frozen=True)
class Twins:
    """A block instance of the shorter structure, at ``path``, and its twin at the
    switch's other value, which adds ``added``."""

    path: str
    short: ir.Group
    long: ir.Group
    added: Added

    def padded(self) -> ir.Group:
        """The twin's structure with the short instance's arguments."""
        return dataclasses.replace(self.long, arguments=self.short.arguments)


def twins(path: str, short: ir.Node, long: ir.Node) -> Twins | None:
    """The members ``long`` adds to ``short``, two instances of one block at a switch's
    two values (see the module docstring); None where they differ otherwise."""
    if not isinstance(short, ir.Group) or not isinstance(long, ir.Group):
        return None
    if not (is_class(short) and is_class(long)) or short.definition != long.definition:
        return None
    if not short.definition or (short.input, short.output) != (long.input, long.output):
        return None
    apart = [
        (name, value)
        for (name, value), (other, twin) in zip(short.arguments, long.arguments, strict=False)
        if name != other or value != twin or type(value) is not type(twin)
    ]
    if len(short.arguments) != len(long.arguments) or len(apart) != 1:
        return None
    argument, value = apart[0]
    if type(value) is not bool:
        return None
    members: set[str] = set()
    if not aligned(short.flow, long.flow, members) or not members:
        return None
    added = Added(short.definition, frozenset(members), argument, not value)
    return Twins(path, short, long, added)


def aligned(short: ir.Chain, long: ir.Chain, added: set[str]) -> bool:
    """Whether ``long`` is ``short`` with members added (collected in ``added``)."""
    steps = list(short.steps)
    at = 0
    for index, step in enumerate(long.steps):
        mine = steps[at] if at < len(steps) else None
        if isinstance(step, ir.Parallel) and isinstance(mine, ir.Parallel):
            same = (mine.combine, mine.shortcut, len(mine.branches)) == (
                step.combine,
                step.shortcut,
                len(step.branches),
            )
            pairs = zip(mine.branches, step.branches, strict=True) if same else ()
            if not same or not all(aligned(a, b, added) for a, b in pairs):
                return False
            at += 1
        elif (
            isinstance(step, ir.Member)
            and isinstance(mine, ir.Member)
            and mine.name == step.name
            and ir.to_data(mine.node) == ir.to_data(step.node)
        ):
            at += 1
        elif isinstance(step, ir.Member) and addable(step, index):
            added.add(step.name)
        else:
            return False
    return at == len(steps)


def addable(member: ir.Member, index: int) -> bool:
    """A member the class can leave out: named, after a step of its chain, keeping its
    shape, and a module (not a bare tensor)."""
    node = member.node
    named = not member.name.isdigit()
    return named and index > 0 and node.input == node.output and not ir.is_bare(node)


def padded_network(network: ir.Network, found: list[Twins]) -> ir.Network:
    """``network`` with each short instance replaced by its padded twin."""
    by_path = {t.path: t.padded() for t in found}
    return dataclasses.replace(network, flow=rebuilt(network.flow, "", by_path))


def rebuilt(chain: ir.Chain, prefix: str, by_path: dict[str, ir.Group]) -> ir.Chain:
    """``chain`` with the groups at ``by_path``'s paths replaced; what holds none of
    them is kept as it is."""
    steps: list[ir.Step] = []
    for step in chain.steps:
        if isinstance(step, ir.Parallel):
            branches = tuple(rebuilt(b, prefix, by_path) for b in step.branches)
            steps.append(dataclasses.replace(step, branches=branches))
            continue
        path = f"{prefix}{step.name}"
        node = by_path.get(path, step.node)
        inside = [p for p in by_path if p.startswith(f"{path}.")]
        if isinstance(node, ir.Group) and inside:
            node = dataclasses.replace(node, flow=rebuilt(node.flow, f"{path}.", by_path))
        steps.append(ir.Member(step.name, node) if node is not step.node else step)
    return ir.Chain(tuple(steps))


def held_alike(added: Added, networks: tuple[ir.Network, ...]) -> bool:
    """Whether every instance of the block holding the added members holds its argument
    at ``when`` in each network: the class builds them under that condition."""
    for network in networks:
        for place in ir.walk(network):
            node = place.node
            if not isinstance(node, ir.Group) or node.definition != added.definition:
                continue
            held = dict(node.arguments).get(added.argument)
            if added.members <= namespace(node.flow) and held is not added.when:
                return False
    return True


def namespace(chain: ir.Chain) -> set[str]:
    """The names of a group's own members, those in its branches included."""
    names: set[str] = set()
    for step in chain.steps:
        if isinstance(step, ir.Parallel):
            for branch in step.branches:
                names |= namespace(branch)
        else:
            names.add(step.name)
    return names
