"""Depths whose copies read their index, grow, or are read by arguments, as keywords: loops.

ConvNeXt's stochastic depth rises block by block, ``cnblock(w, p=sd * (d1 + i) / (d1 +
d2 + d3 + d4 - 1)) x d2``: every copy differs and every count is read by every copy.
Each DenseNet layer adds ``growth`` channels, so its copies differ and the transitions
after a block read its count. Neither is a depth by the rule of ``codegen.knobs`` (each
copy after the first made from its input alone), yet torchvision's ``ConvNeXt`` and
``DenseNet`` take their depths. The class writes such a run as a loop over the copy's
index, ``*(CnblockBlock(192, p=sd * (d1 + i) / p_denominator) for i in range(d2))``,
``(f"denselayer{i + 1}", DenseLayerBlock(init + i * growth, ...)) for i in range(b1)``,
and what follows with the expressions the counts give it (``init + b1 * growth``).

The rule has no guess in it. Lowered on traced numbers (``archspec.symbolic``), the count
must decide nothing but the number of copies (``Traced.counted``: no comparison reads it,
no other decision pins it), and each of its runs must fill a group of its own at the
network class's level, of two copies or more. Lowered again with each copy's index traced
too (``symbolic.indexing``), nothing may decide on ``i`` (``8 if i < 9 else 16`` is
refused: no probe would show the tenth copy) and no shape may read it. Compiled one and
two larger, the spec must hold the same structure but for the copies each run gains;
every other number the same expression at the three counts, or expressions that differ
in constants growing by a whole step per count (``codegen.generalise``: the count times
that step). The copies' template comes from the larger network's copies after the
second, likewise in the index; every copy after the first, in all three networks, must
have its structure, its numbers at the copy's index and, at other values of the
parameters, the same expressions; the first is written in the loop where it does too.
What several counts made of one expression is joined, and the spec compiled with every
such count one larger must be what the joined expressions give.

A number the counts are computed from is a depth by the same rule (EfficientNet's
``let n2 = ceil(2 * depth_mult)``, ``Traced.counts``): each count reads it alone, it is
no count itself, and the spec is compiled one and three larger (a run of one copy needs
a probe with four), every number outside the runs the same expression at all three.
The class binds each count (``Locals.counts``); a run of one copy at the default writes
its later copies from the template (``Knob.later``), their class resolved from the
larger networks and the spec at every keyword's probe (``with_lone_copies``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from archspec import ir, symbolic
from archspec.codegen.classes import counted_names, join, network_level
from archspec.codegen.formulas import reads_name
from archspec.codegen.generalise import agrees, generalised
from archspec.codegen.joined import joined_fields, joined_run, jointly_exact
from archspec.codegen.knobs import Knob, in_a_class
from archspec.codegen.numbers import (
    Looped,
    Numbers,
    copies_of,
    layer_numbers,
    network_with,
    number_at,
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
    from archspec.codegen.switches import Compile


@dataclass(frozen=True)
class Counted:
    """A depth by this rule, before what several share is joined: its runs, and the
    expressions it gives the numbers outside them, by (path, field)."""

    name: str
    value: int | float
    looped: tuple[Looped, ...]
    fields: dict[tuple[str, str], Term]
    grown: Architecture
    computed: tuple[tuple[str, Term], ...] = ()
    later: tuple[tuple[str, int, tuple[ir.Member, ...]], ...] = ()
    """For each run of one copy (a computed count's): the copy the probe adds."""
    resolving: tuple[ir.Network, ...] = ()


def indexed_knobs(
    candidates: list[tuple[str, int | float]], arch: Architecture, compile_with: Compile
) -> list[Knob]:
    """The depth keywords this rule finds among ``candidates`` (see the module
    docstring), all or none of them: their expressions are joined."""
    found = [c for name, value in candidates if (c := counted(name, value, arch, compile_with))]
    traced = arch.traced
    if not found or traced is None:
        return []
    joined = joined_fields([c.fields for c in found], traced.network)
    if joined is None:
        return []
    each = [  # a computed count's template reads every count already
        run if c.computed else joined_run(run, traced.network, joined)
        for c in found
        for run in c.looped
    ]
    looped = {run.path: run for run in each if run is not None}
    counts = {c.name: c.value for c in found}
    if len(looped) != len(each) or not jointly_exact(
        counts, traced.network, joined, looped, compile_with
    ):
        return []
    network = network_with(
        traced.network,
        {
            key: symbolic.traced(number_at(traced.network, *key), term)
            for key, term in joined.items()
        },
    )
    knobs = []
    for c in found:
        paths = [run.path for run in c.looped]
        runs = tuple(looped[path] for path in paths)
        outside = bound_outside(network, c.name, runs)
        if outside is None:
            return []
        places, calls = outside
        knobs.append(
            Knob(
                c.name,
                c.value,
                places,
                frozenset(paths),
                calls,
                probe=c.value + 1,
                probed=c.grown.network,
                traced=network,
                looped=runs,
                counts=c.computed,
                later=c.later,
                resolving=c.resolving,
            )
        )
    return knobs


def sharing_expressions(knobs: list[Knob], indexed: list[Knob]) -> list[Knob]:
    """``knobs`` computing with the network ``indexed`` computes with: a field a width and
    a count both set (a DenseNet head's ``8 + n * k``) is then one expression, whichever
    keyword the class binds it for."""
    joined = next((k.traced for k in indexed if k.traced is not None), None)
    if joined is None:
        return knobs
    return [k if k.traced is None else dataclasses.replace(k, traced=joined) for k in knobs]


def counted(
    name: str, value: int | float, arch: Architecture, compile_with: Compile
) -> Counted | None:
    """``name`` as a depth by this rule, alone; None where it is not one."""
    traced = arch.traced
    if traced is None or name not in traced.counted or traced.guarded(name):
        return None
    computed = computed_counts(traced, name)
    if computed is None:
        return None
    groups = run_groups(arch.network, set(computed) or {name}, 1 if computed else 2)
    grown = [compile_with({name: value + extra}) for extra in ((1, 3) if computed else (1, 2))]
    if groups is None or None in grown:
        return None
    compiled = [arch, *(g for g in grown if g is not None)]
    plain = [c.traced for c in compiled]
    indexed = [index_traced(c) for c in compiled]
    if any(t is None or name not in t.counted or t.guarded(name) for t in [*plain, *indexed]):
        return None
    networks = [t.network for t in plain if t is not None]
    kept = {path: len(copies_of(networks[0], path)) for path in groups}
    trimmed = [cut for n in networks if (cut := trimmed_network(n, kept)) is not None]
    if len(trimmed) != 3 or any(skeleton_of(t) != skeleton_of(trimmed[0]) for t in trimmed):
        return None
    if computed:  # its fields read it already: the same expressions at every value
        found: dict[tuple[str, str], Term] | None = {} if same_expressions(trimmed) else None
    else:
        assert type(value) is int, "a count written as a parameter is whole"
        found = outside_fields(trimmed, name, value)
    if found is None:
        return None
    looped = []
    for path in groups:
        run = looped_run(path, compiled, networks, [t.network for t in indexed if t is not None])
        if run is None:
            return None
        looped.append(run)
    later = [(path, 0, tuple(copies_of(compiled[1].network, path)[1:2])) for path in groups]
    lone = [entry for entry, count in zip(later, kept.values(), strict=True) if count == 1]
    if any(not copy for _, _, copy in lone):
        return None  # the probe shows no later copy
    resolving = tuple(c.network for c in compiled[1:]) if lone else ()
    computed_items = tuple(computed.items())
    return Counted(
        name, value, tuple(looped), found, compiled[1], computed_items, tuple(lone), resolving
    )


def with_lone_copies(indexed: list[Knob], others: list[Knob], compile_with: Compile) -> list[Knob]:
    """``indexed`` with the spec compiled at every keyword's probe joining the networks a
    loop's lone copy's class is resolved from (``Knob.resolving``): only there do the
    copies after it exist where another keyword changed (a width), so that what every
    keyword changes in them is an argument of their class."""
    probes: dict[str, ir.Scalar] = {
        k.name: k.probe for k in [*others, *indexed] if k.probe is not None
    }
    lone = [k for k in indexed if k.resolving]
    everything = compile_with(probes) if lone else None
    extra = () if everything is None else (everything.network,)
    return [
        dataclasses.replace(k, resolving=k.resolving + extra) if k.resolving else k for k in indexed
    ]


def computed_counts(traced: Traced, name: str) -> dict[str, Term] | None:
    """The counts computed from ``name`` by the name each is written as (EfficientNet's
    ``let n2 = ceil(2 * depth_mult)``), none where ``name`` is a count itself; None where
    it is both, or one of them reads another parameter too (RegNet's stage depths read
    four: which keyword's would its loop be?)."""
    found = {count: term for count, term in traced.counts.items() if name in term.reads}
    computed = {count: term for count, term in found.items() if count != name}
    if computed and (
        len(found) != len(computed) or any(t.reads != {name} for t in computed.values())
    ):
        return None
    return computed


def skeleton_of(network: ir.Network) -> list[object]:
    return [skeleton(member.node) + [member.name] for member in ir.members_of(network.flow)]


def same_expressions(networks: list[ir.Network]) -> bool:
    first = [(key, symbolic.as_term(v)) for key, v in layer_numbers(networks[0])]
    return all([(k, symbolic.as_term(v)) for k, v in layer_numbers(n)] == first for n in networks)


def outside_fields(
    networks: list[ir.Network], name: str, value: int
) -> dict[tuple[str, str], Term] | None:
    """The layer fields whose expressions differ at the counts ``value``, ``value + 1``
    and ``value + 2`` (the runs cut to their copies at ``value``), each as one expression
    in the count; None where one is not."""
    columns = [layer_numbers(network) for network in networks]
    if any(len(column) != len(columns[0]) for column in columns):
        return None
    found: dict[tuple[str, str], Term] = {}
    for column in zip(*columns, strict=True):
        expressions = [symbolic.as_term(v) for _, v in column]
        if all(e == expressions[0] for e in expressions):
            continue
        general = generalised(expressions, name, value)
        if general is None:
            return None
        found[column[0][0]] = general
    return found


def looped_run(
    path: str, compiled: list[Architecture], traced: list[ir.Network], indexed: list[ir.Network]
) -> Looped | None:
    """The run at ``path`` as a loop: its template from the largest network's copies after
    the second, and each copy of each network checked against it: its structure, its
    numbers, and its expressions on both tracings (they must not disagree)."""
    template = template_of([m.node for m in copies_of(indexed[-1], path)[2:]])
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


def bound_outside(
    network: ir.Network, name: str, runs: tuple[Looped, ...]
) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, bool]]] | None:
    """What the class writes with the count outside the loops (ConvNeXt's ``d1`` in every
    later stage's rates, a first copy written apart): the fields of its own layers and
    the class calls holding fields that read it, as a width's (``codegen.formulas``);
    None where a shape reads it, or a layer the class does not build itself."""
    own = network_level(network)
    inside = tuple(f"{run.path}." for run in runs)
    apart = tuple(
        f"{join(run.path, copies_of(network, run.path)[0].name)}."
        for run in runs
        if not run.first_alike
    )
    places: set[tuple[str, str]] = set()
    calls: dict[str, bool] = {}  # each class call, with whether a channel count reads it
    for place in ir.walk(network):
        node = place.node
        if any(reads_name(dim, name) for dim in (*node.input, *node.output)):
            return None
        looped = place.path.startswith(inside) and not f"{place.path}.".startswith(apart)
        if not isinstance(node, ir.Layer) or looped:
            continue
        for op_field in fields(node.op):
            if not reads_name(getattr(node.op, op_field.name), name):
                continue
            if place.path in own:
                places.add((place.path, op_field.name))
                continue
            owner = next((p for p in own if place.path.startswith(f"{p}.")), None)
            if owner is None:
                return None
            channels = node.op.ROLES.get(op_field.name) in ("in", "out")
            calls[owner] = calls.get(owner, False) or channels
    return frozenset(places), frozenset(calls.items())


def shaped_by_index(node: ir.Node) -> bool:
    """Whether a shape in the copy reads ``i`` (a stride ``1 + i // 9``): the network
    after the run is then another where a copy past the probes changes it."""
    places = [node, *(place.node for place in ir.walk(node))]
    dims = [dim for inner in places for dim in (*inner.input, *inner.output)]
    return any(symbolic.INDEX in term.reads for term in map(symbolic.term_of, dims) if term)
