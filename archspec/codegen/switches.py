"""A truth-value parameter that adds layers to sequences the network builds, as a keyword.

VGG's ``bn if batch_norm`` puts a batch norm after every convolution of ``features``:
torchvision's ``vgg11`` and ``vgg11_bn`` are one network class with a switch,
``VGG11(batch_norm=True)``. The rule has no guess in it. The spec compiled at the other
value must be this network with layers added to, or taken from, numbered sequences the
network class builds itself (not a block class, whose code serves every instance), every
other member equal (``codegen.alignment``). The class writes those layers where they
stand, ``*((nn.BatchNorm2d(64),) if batch_norm else ())``, so the numbering is the
spec's at both values. Named members may be added too, the network's own or a group's,
each a layer or a group that keeps its shape (``norm=bn if batch_norm``): the class builds
``self.norm`` under the condition, else None, and its forward applies it where it is
built; a group writes the item under the condition (``codegen.sequences``).

The switch and the other keywords must not depend on each other. On traced numbers
(``archspec.symbolic``) the network at the other value must pin no keyword, hold the same
guards over keywords, and give every member both networks hold the same expressions. A
layer it adds that reads a keyword is written with its expression (``nn.BatchNorm2d(
width)``), except among the copies a depth keyword counts, where it must read none
(copies after the first are written once). The network at the other value must obey
the depth rule too (``codegen.knobs.depth_knob``), so that every later copy is alike,
and a layer added at a seam (before a copy, after the last), where the file could not
say whether a copy holds it, refuses the switch. A number one comparison of which decides the layers
(``dropout(p) if p > 0``) is a switch by this rule, the comparison in the truth value's
stead (``codegen.comparisons``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from archspec import ir, terms
from archspec.codegen.alignment import Alignment
from archspec.codegen.classes import network_level
from archspec.codegen.knobs import Conditional, Knob, depth_knob, expressions_of
from archspec.codegen.optional import Added, Twins, held_alike, padded_network
from archspec.terms import Term

if TYPE_CHECKING:
    from archspec.architecture import Architecture

Compile = Callable[[dict[str, ir.Scalar]], "Architecture | None"]
"""The spec compiled with these parameters changed; None where it refuses them."""


def switch_knob(
    name: str,
    value: ir.Scalar,
    arch: Architecture,
    probe: Architecture,
    knobs: tuple[Knob, ...],
    compile_with: Compile,
    condition: Term | None = None,
) -> Knob | None:
    """``name`` as a switch (see the module docstring); None where it is not one. A
    number is switched by its ``condition`` (``codegen.comparisons``), which holds at
    ``value`` and not at the probe's; the class writes the fields that read it."""
    flipped = probe.arguments[name]
    assert isinstance(value, int | float) and isinstance(flipped, int | float)
    holds = condition is not None or bool(value)
    adds = layer_count(probe.network) > layer_count(arch.network)
    short, long = (arch, probe) if adds else (probe, arch)
    alignment = Alignment()
    if not alignment.networks(short.network, long.network):
        return None
    if not alignment.extras and not alignment.inside:
        return None
    keywords = frozenset(k.name for k in knobs)
    if not independent(arch, probe, alignment, adds, keywords):
        return None
    reading = keywords | {name} if condition is not None else keywords
    twinned = alignment.inside
    if twinned and condition is not None:
        return None  # a block class takes a truth value (codegen.optional), not a number
    added = blocks_added(twinned, (arch, probe), keywords)
    if added is None:
        return None
    when = not holds if adds else holds  # where the extras exist
    found = conditionals(alignment.extras, adds, when)
    if zero_started(found, (arch.network, probe.network), twinned):
        return None
    depths = [k for k in knobs if k.groups and touches(k, found)]
    if adds:  # the probe's layers: not at a seam; written with their expressions
        if any(on_seam(arch.network, c, depths) for c in found):
            return None
        written = with_expressions(found, arch.network, probe, depths, reading)
        if written is None:
            return None
        found = written
    for depth in depths:
        assert isinstance(depth.default, int)
        grown = compile_with({name: flipped, depth.name: depth.default + 1})
        later = None if grown is None else grown_later(depth, probe.network, grown)
        if grown is None or later is None:
            return None
        for (path, first, copy), (_, _, other) in zip(depth.later, later, strict=True):
            inside = copy_conditionals(copy, other, path, first, adds, when)
            if inside is None or not reads_none(grown, path, other, inside, reading):
                return None
            found += inside
    if not twinned:
        return Knob(name, value, probe=flipped, conditionals=tuple(found), condition=condition)
    padded = padded_network(short.network, twinned)  # one class for both structures
    return Knob(
        name,
        value,
        calls=frozenset((t.path, False) for t in twinned),
        probe=flipped,
        probed=probe.network if adds else padded,
        conditionals=tuple(found),
        padded=padded if adds else None,
        added=added,
    )


def blocks_added(
    inside: list[Twins], compiled: tuple[Architecture, Architecture], keywords: frozenset[str]
) -> tuple[Added, ...] | None:
    """What a switch adds inside blocks (``codegen.optional``), one rule per block; None
    where the network class does not build the instances itself, an instance of the
    longer structure lacks the condition, or a keyword reads a field of an instance."""
    rules: dict[str, Added] = {}
    for found in inside:
        rule = rules.setdefault(found.added.definition, found.added)
        if rule != found.added:
            return None
    networks = tuple(a.network for a in compiled)
    if not all(held_alike(rule, networks) for rule in rules.values()):
        return None
    for arch in compiled:
        traced = arch.traced
        assert traced is not None, "checked by independent()"
        own = network_level(arch.network)
        for found in inside:
            if found.path not in own or reads_keyword(traced.network, found.path, keywords):
                return None
    return tuple(rules.values())


def zero_started(
    found: list[Conditional], networks: tuple[ir.Network, ir.Network], inside: list[Twins]
) -> bool:
    """Whether a batch norm that starts at zero is switched, or stands in a sequence a
    switch adds to: the class zeroes those by path after it builds them
    (``reset_parameters``), which would then miss one, or find none there."""
    nodes = [m.node for c in found for m in c.members]
    nodes += [
        m.node for t in inside for m in ir.members_of(t.long.flow) if m.name in t.added.members
    ]
    for c in found:
        groups = (
            ir.find_group(networks[0], c.path),
            ir.find_group(networks[1], c.source or c.path),
        )
        nodes += [group for group in groups if c.path and group is not None]
    return any(
        ir.starts_at_zero(node) or any(ir.starts_at_zero(n) for _, n in ir.layers(node))
        for node in nodes
    )


def layer_count(network: ir.Network) -> int:
    return sum(1 for _ in ir.layers(network))


def independent(
    arch: Architecture,
    probe: Architecture,
    alignment: Alignment,
    adds: bool,
    keywords: frozenset[str],
) -> bool:
    """Whether, on traced numbers, the other value pins no other keyword, holds the same
    guards over keywords and gives every matched member the same expressions."""
    base, other = arch.traced, probe.traced
    if base is None or other is None or (other.decided - base.decided) & keywords:
        return False  # a count pins a depth keyword at both values: its own rule holds
    twins = ((arch.network, base.network), (probe.network, other.network))
    if any(paths(network) != paths(traced) for network, traced in twins):
        return False  # lowered alike on numbers and on traced numbers, as they should be
    if guards_over(base.guards, keywords) != guards_over(other.guards, keywords):
        return False
    short, long = (base, other) if adds else (other, base)
    return all(
        list(expressions(short.network, a)) == list(expressions(long.network, b))
        for a, b in alignment.pairs
    )


def with_expressions(
    found: list[Conditional],
    network: ir.Network,
    probe: Architecture,
    depths: list[Knob],
    keywords: frozenset[str],
) -> list[Conditional] | None:
    """The probe's added layers with their twins on traced numbers, where the class can
    write their expressions: each one Python can spell, over keywords the probe pins
    none of, and none in copies a depth keyword counts (those are written once for
    every copy); None where a layer reads a keyword otherwise."""
    traced = probe.traced
    assert traced is not None, "checked by independent()"
    free = keywords - traced.decided
    twins = []
    for c in found:
        nodes = tuple(ir.find(traced.network, c.added_path(m)) for m in c.members)
        read = [term for node in nodes for _, term in expressions_of(node) if term is not None]
        reading = [term for term in read if term.reads & keywords]
        counted = in_copies(network, c, depths)
        if reading and (counted or not all(t.reads & keywords <= free for t in reading)):
            return None
        if not all(terms.renderable(term) for term in reading):
            return None
        twins.append(dataclasses.replace(c, traced=nodes))
    return twins


def paths(network: ir.Network) -> list[str]:
    return [place.path for place in ir.walk(network)]


def guards_over(guards: tuple[Term, ...], keywords: frozenset[str]) -> set[object]:
    return {guard for guard in guards if guard.reads & keywords}


def reads_keyword(traced: ir.Network, path: str, keywords: frozenset[str]) -> bool:
    """Whether a field of the module at ``path`` of a traced network reads a keyword."""
    found = expressions(traced, path)
    return any(term is not None and term.reads & keywords for _, term in found)


def expressions(traced: ir.Network, path: str) -> Iterator[tuple[str, Term | None]]:
    """Every field's expression in the module at ``path`` of a traced network."""
    return expressions_of(ir.find(traced, path))


def conditionals(
    extras: list[tuple[str, str, int, int, ir.Member, ir.Chain]],
    adds: bool,
    when: bool,
    run: int = -1,
) -> list[Conditional]:
    """The extras as the network class writes them: the probe's layers standing before
    one of its members, together where several stand before one; or its own members."""
    found: list[Conditional] = []
    for short_path, long_path, at, position, member, context in extras:
        if not adds:
            found.append(Conditional(long_path, position, (member,), when, True, context, run))
            continue
        members: tuple[ir.Member, ...] = (member,)
        if found and (found[-1].path, found[-1].at) == (short_path, at):
            members = (*found.pop().members, member)
        added = Conditional(short_path, at, members, when, False, context, run, source=long_path)
        found.append(added)
    return found


def touches(depth: Knob, found: list[Conditional]) -> bool:
    """Whether a depth keyword counts copies in a group holding conditional members."""
    return any(c.path == g or c.path.startswith(f"{g}.") for c in found for g in depth.groups)


def in_copies(network: ir.Network, conditional: Conditional, depths: list[Knob]) -> bool:
    """Whether added layers stand among, or inside, the copies of a run a depth keyword
    counts (their seams included)."""
    return any(counted_around(network, conditional.path, conditional.at, depths))


def counted_around(
    network: ir.Network, path: str, at: int | None, depths: list[Knob]
) -> Iterator[tuple[ir.Repeat, int]]:
    """The runs a depth keyword counts, each with an offset from its start, that hold
    position ``at`` of the group at ``path`` or (``at`` None) the module at ``path``:
    by the member of the counted group that holds it, where that group is above."""
    for counted in {g for k in depths for g in k.groups}:
        group = ir.find(network, counted)
        assert isinstance(group, ir.Group)
        if at is not None and path == counted:
            position = at
        elif path.startswith(f"{counted}."):
            inner = path[len(counted) + 1 :].split(".")[0]
            position = next(k for k, m in enumerate(group.members) if m.name == inner)
        else:
            continue
        yield from counted_runs(group, position, depths)


def on_seam(network: ir.Network, conditional: Conditional, depths: list[Knob]) -> bool:
    """Whether added layers stand before a copy of a run a depth keyword counts, or after
    its last: the file could not say whether a copy holds them (a lone copy shows no
    second to tell)."""
    if not conditional.path:
        return False  # the network's own members: no run counts them
    group = ir.find(network, conditional.path)
    assert isinstance(group, ir.Group)
    return any(
        offset % run.size == 0 for run, offset in counted_runs(group, conditional.at, depths)
    )


def counted_runs(group: ir.Group, at: int, depths: list[Knob]) -> Iterator[tuple[ir.Repeat, int]]:
    """The runs of ``group`` a depth keyword counts that position ``at`` stands in, from
    before the first copy to after the last, each with ``at``'s offset from its start."""
    counted = {k.name for k in depths}
    for run in group.repeats:
        offset = at - run.first
        if run.parameter in counted and 0 <= offset <= run.size * run.count:
            yield run, offset


def grown_later(
    depth: Knob, probed: ir.Network, grown: Architecture
) -> tuple[tuple[str, int, tuple[ir.Member, ...]], ...] | None:
    """At the switch's other value, the depth rule's lone copies (``Knob.later``), one for
    each of the depth keyword's; None where the rule does not hold there."""
    assert isinstance(depth.default, int)
    found = depth_knob(depth.name, depth.default, probed, grown.network)
    if found is None or found.groups != depth.groups or len(found.later) != len(depth.later):
        return None
    return found.later


def copy_conditionals(
    copy: tuple[ir.Member, ...],
    other: tuple[ir.Member, ...],
    path: str,
    first: int,
    adds: bool,
    when: bool,
) -> list[Conditional] | None:
    """The conditional members of a lone copy's later copies (``Knob.later``): this
    network's and the other value's matched; None where they do not match, a layer is
    added at either end (a seam) or inside a group of the copy (the file builds those
    copies from the network's own, with no path to find them by)."""
    short, long = (copy, other) if adds else (other, copy)
    alignment = Alignment()
    if not alignment.sequence(ir.Chain(short), ir.Chain(long), path, path):
        return None
    for short_path, long_path, at, _, _, _ in alignment.extras:
        if (short_path, long_path) != (path, path) or (adds and not 0 < at < len(copy)):
            return None
    return conditionals(alignment.extras, adds, when, run=first)


def reads_none(
    grown: Architecture,
    path: str,
    copy: tuple[ir.Member, ...],
    inside: list[Conditional],
    keywords: frozenset[str],
) -> bool:
    """Whether the layers a lone copy's later copies add read no keyword, on traced
    numbers (they are written as literals)."""
    added = {id(m) for c in inside if not c.own for m in c.members}
    added_paths = [f"{path}.{member.name}" for member in copy if id(member) in added]
    if not added_paths:
        return True
    traced = grown.traced  # lowered again only where it is asked
    if traced is None or paths(traced.network) != paths(grown.network):
        return False
    return not any(reads_keyword(traced.network, at, keywords) for at in added_paths)
