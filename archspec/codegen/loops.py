"""The runs a depth keyword writes as loops, checked on the spec at other depths.

Shared by a depth written as a parameter (``codegen.indexed``) and one computed from
parameters (``codegen.computed``): the spec is compiled at larger depths, and each run
must be a loop over its copies' index whose template every copy after the first, at
every depth, agrees with (``looped_run``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archspec import ir, symbolic
from archspec.codegen.classes import counted_names
from archspec.codegen.generalise import agrees, generalised
from archspec.codegen.knobs import in_a_class
from archspec.codegen.numbers import (
    Looped,
    Numbers,
    copies_of,
    layer_numbers,
    numbers_at,
    numbers_of,
    plain_numbers,
    skeleton,
    trimmed_network,
    with_numbers,
)
from archspec.terms import Term

if TYPE_CHECKING:
    from archspec.architecture import Architecture, Traced

Later = tuple[tuple[str, int, tuple[ir.Member, ...]], ...]
"""For each run of one copy: its group's path, 0, and the copy a larger network adds."""


@dataclass(frozen=True)
class Counted:
    """A depth by this rule, before what several share is joined: its runs, and the
    expressions it gives the numbers outside them, by (path, field)."""

    name: str
    value: int | float
    looped: tuple[Looped, ...]
    fields: dict[tuple[str, str], Term]
    probe: int | float | None
    probed: ir.Network | None
    joint: dict[str, int | float]
    """Its value in the spec compiled with every depth larger (``joined.jointly_exact``)."""
    computed: tuple[tuple[str, Term], ...] = ()
    """The counts computed from it, by name (``codegen.computed``)."""
    later: Later = ()
    resolving: tuple[ir.Network, ...] = ()
    """Networks a lone copy's class is resolved from (``Knob.resolving``)."""
    owner: str = ""
    """The parameter whose loops count the runs it computes too (RegNet's ``depth``)."""

    @property
    def shapes(self) -> bool:
        """Whether shapes may read it: a number counts are computed from, which may set
        widths too (RegNet's ``w0``)."""
        return bool(self.computed or self.owner)


def checked_runs(
    names: set[str], groups: list[str], compiled: list[Architecture]
) -> tuple[list[ir.Network], tuple[Looped, ...]] | None:
    """The traced networks of ``compiled`` (the spec at its values, then at other
    depths) with each run at ``groups`` cut to the fewest copies any holds, and the runs
    as loops; None where a lowering decides on one of ``names`` but by counting, or on
    ``i``, the cut networks differ, or a run is no loop."""
    plain = [c.traced for c in compiled]
    indexed = [index_traced(c) for c in compiled]
    for found in [*plain, *indexed]:
        if found is None or any(n not in found.counted or found.guarded(n) for n in names):
            return None
    networks = [t.network for t in plain if t is not None]
    kept = {path: min(len(copies_of(n, path)) for n in networks) for path in groups}
    trimmed = [cut for n in networks if (cut := trimmed_network(n, kept)) is not None]
    if len(trimmed) != len(compiled) or any(
        skeleton_of(t) != skeleton_of(trimmed[0]) for t in trimmed
    ):
        return None
    twins = [t.network for t in indexed if t is not None]
    looped = [looped_run(path, compiled, networks, twins) for path in groups]
    runs = [run for run in looped if run is not None]
    return (trimmed, tuple(runs)) if len(runs) == len(looped) else None


def lone_copies(groups: list[str], base: ir.Network, others: list[ir.Network]) -> Later | None:
    """For each run of one copy in ``base``: the second copy of the network of ``others``
    holding the most (what every later copy is, from the loop's template); None where
    none holds one."""
    found = []
    for path in (path for path in groups if len(copies_of(base, path)) == 1):
        longest = max(others, key=lambda network: len(copies_of(network, path)))
        found.append((path, 0, tuple(copies_of(longest, path)[1:2])))
    return None if any(not copy for _, _, copy in found) else tuple(found)


def skeleton_of(network: ir.Network) -> list[object]:
    return [skeleton(member.node) + [member.name] for member in ir.members_of(network.flow)]


def same_expressions(networks: list[ir.Network]) -> bool:
    first = [(key, symbolic.as_term(v)) for key, v in layer_numbers(networks[0])]
    return all([(k, symbolic.as_term(v)) for k, v in layer_numbers(n)] == first for n in networks)


def looped_run(
    path: str, compiled: list[Architecture], traced: list[ir.Network], indexed: list[ir.Network]
) -> Looped | None:
    """The run at ``path`` as a loop: its template from the copies after the second of
    the network holding the most, and each copy of each network checked against it: its
    structure, its numbers, and its expressions on both tracings (they must not
    disagree)."""
    longest = max(indexed, key=lambda network: len(copies_of(network, path)))
    template = template_of([m.node for m in copies_of(longest, path)[2:]])
    if template is None or shaped_by_index(template):
        return None
    shape = skeleton(template)
    expected = list(numbers_of(template))
    first_alike = True
    for arch, plain, twin in zip(compiled, traced, indexed, strict=True):
        copies = zip(*(copies_of(n, path) for n in (arch.network, plain, twin)), strict=True)
        for index, members in enumerate(copies):
            fixed = {**arch.arguments, symbolic.INDEX: index}
            alike = all(skeleton(m.node) == shape for m in members)
            alike = alike and numbers_at(template, fixed) == plain_numbers(members[0].node)
            for member in members[1:]:
                alike = alike and all(
                    agrees(
                        symbolic.as_term(a),
                        symbolic.as_term(b),
                        arch.arguments,
                        {symbolic.INDEX: index},
                    )
                    for (_, _, a), (_, _, b) in zip(expected, numbers_of(member.node), strict=True)
                )
            if not alike and index > 0:
                return None
            first_alike = first_alike and alike
    return Looped(path, first_alike, template)


def template_of(copies: list[ir.Node]) -> ir.Node | None:
    """The copies (the third and later) as one: each number the expression in ``i`` that
    is each copy's (``generalise.generalised``); None where they differ otherwise."""
    if len(copies) < 2 or any(skeleton(c) != skeleton(copies[0]) for c in copies):
        return None
    found: Numbers = {}
    for column in zip(*(list(numbers_of(c)) for c in copies), strict=True):
        path, key, first = column[0]
        general = generalised([symbolic.as_term(v) for _, _, v in column], symbolic.INDEX, 2)
        if general is None:
            return None
        assert isinstance(first, int | float), "numbers_of gives numbers"
        found[(path, key)] = symbolic.traced(first, general)
    return with_numbers(copies[0], found)


def index_traced(arch: Architecture) -> Traced | None:
    """The spec lowered on traced numbers with each copy's index traced too; None where
    a decision read the index."""
    found = arch.traced_by_index
    if found is None or symbolic.INDEX in found.decided or found.guarded(symbolic.INDEX):
        return None
    return found


def run_groups(network: ir.Network, names: set[str], fewest: int) -> list[str] | None:
    """The paths of the groups whose members are one run counted by one of ``names``
    each, at the network class's level; None where a run shares its group, has fewer
    than ``fewest`` copies, or stands in a class or in another run."""
    groups = []
    for place in ir.walk(network):
        node = place.node
        if not isinstance(node, ir.Group) or not any(r.parameter in names for r in node.repeats):
            continue
        run = node.repeats[0]
        whole = len(node.repeats) == 1 and run.first == 0 and run.size == 1
        if not whole or run.count < fewest or run.count != len(node.members):
            return None
        if counted_names(node) is None:  # a template naming no module at some count
            return None
        if in_a_class(network, place.path):
            return None
        groups.append(place.path)
    nested = any(p.startswith(tuple(f"{q}." for q in groups)) for p in groups)
    return None if not groups or nested else groups


def shaped_by_index(node: ir.Node) -> bool:
    """Whether a shape in the copy reads ``i`` (a stride ``1 + i // 9``): the network
    after the run is then another where a copy past the probes changes it."""
    places = [node, *(place.node for place in ir.walk(node))]
    dims = [dim for inner in places for dim in (*inner.input, *inner.output)]
    return any(symbolic.INDEX in term.reads for term in map(symbolic.term_of, dims) if term)
