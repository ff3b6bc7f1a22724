"""Two networks matched member for member, the longer one's other layers set apart.

A switch (``codegen.switches``) holds where the spec compiled at its other value is this
network with layers added to, or taken from, what the network class builds itself:
numbered sequences, and the network's own members. Members are matched greedily (a
member equal to the shorter network's next one is that member): any matching that
rebuilds both networks is a right one. A block instance that differs is matched where
it is the same block with members added inside (``codegen.optional``).
"""

from __future__ import annotations

from archspec import ir
from archspec.codegen.classes import is_class, join, numbered
from archspec.codegen.optional import Twins, twins


class Alignment:
    """The members of a shorter network matched with a longer one's; the longer one's
    other layers are its extras, each with the position in the shorter sequence it
    stands before (the network's own chain: group path '')."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []  # (shorter path, longer path) matched
        self.inside: list[Twins] = []  # block instances the longer adds members to
        self.extras: list[tuple[str, str, int, int, ir.Member, ir.Chain]] = []
        """(shorter group's path, longer group's path, shorter position, longer position,
        the member, the longer sequence)"""

    def networks(self, short: ir.Network, long: ir.Network) -> bool:
        return self.named(short.flow, long.flow, "", "", loose=True)

    def named(
        self, short: ir.Chain, long: ir.Chain, short_path: str, long_path: str, loose: bool
    ) -> bool:
        """Matches the members of two chains by name; where ``loose`` and both chains
        are plain sequences of members, the longer one's others may be layers either
        network may leave out (``optional``)."""
        members = ir.members_of(short)
        loose = loose and all(isinstance(s, ir.Member) for c in (short, long) for s in c.steps)
        at = 0
        for position, member in enumerate(ir.members_of(long)):
            if at < len(members) and members[at].name == member.name:
                paths = join(short_path, member.name), join(long_path, member.name)
                if not self.member(members[at], member, *paths):
                    return False
                at += 1
            elif loose and optional(member):
                self.extras.append((short_path, long_path, at, position, member, long))
            else:
                return False
        return at == len(members)

    def member(self, a: ir.Member, b: ir.Member, a_path: str, b_path: str) -> bool:
        plain = [isinstance(m.node, ir.Group) and not is_class(m.node) for m in (a, b)]
        if all(plain):
            return self.group(a.node, b.node, a_path, b_path)  # type: ignore[arg-type]
        if any(plain):
            return False
        if ir.to_data(a.node) != ir.to_data(b.node):
            found = twins(a_path, a.node, b.node)
            self.inside += [found] if found is not None and a_path == b_path else []
            return found is not None and a_path == b_path
        self.pairs.append((a_path, b_path))
        return True

    def group(self, short: ir.Group, long: ir.Group, short_path: str, long_path: str) -> bool:
        if (short.input, short.output) != (long.input, long.output):
            return False
        if numbered(short) and numbered(long):
            return self.sequence(short.flow, long.flow, short_path, long_path)
        # by name alone: copies, and a group named at one value only (its items would
        # be a numbered sequence's at the other: "2", not "drop")
        loose = not (short.repeats or long.repeats or numbered(short) or numbered(long))
        return self.named(short.flow, long.flow, short_path, long_path, loose)

    def sequence(self, short: ir.Chain, long: ir.Chain, short_path: str, long_path: str) -> bool:
        """Matches two numbered sequences; the longer one's other members must be layers."""
        members = ir.members_of(short)
        at = 0
        for position, member in enumerate(ir.members_of(long)):
            if at < len(members):
                paths = f"{short_path}.{members[at].name}", f"{long_path}.{member.name}"
                if self.member(members[at], member, *paths):
                    at += 1
                    continue
            if isinstance(member.node, ir.Layer):
                self.extras.append((short_path, long_path, at, position, member, long))
            else:
                return False
        return at == len(members)


def optional(member: ir.Member) -> bool:
    """Whether the network class may build a member of its own, or of a group of named
    members, or not (applying it where it is built): a named module that keeps its
    input's shape (an unnamed one would renumber the members after it), a layer or a
    group it builds itself (a block class's code would serve instances that lack it)."""
    node = member.node
    layer = isinstance(node, ir.Layer) and not ir.is_bare(node)
    group = isinstance(node, ir.Group) and not is_class(node)
    return (layer or group) and not member.name.isdigit() and node.input == node.output
