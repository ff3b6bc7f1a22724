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

Numbers the counts are computed from (EfficientNet's ``depth_mult``, RegNet's ``depth``,
``w0``, ``wa``, ``wm``) are depths by the same checks, on the spec compiled at values
chosen otherwise: ``codegen.computed``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from typing import TYPE_CHECKING

from archspec import ir, symbolic
from archspec.codegen.classes import join, network_level
from archspec.codegen.computed import computed_depths
from archspec.codegen.formulas import reads_name
from archspec.codegen.generalise import generalised
from archspec.codegen.joined import joined_fields, joined_run, jointly_exact
from archspec.codegen.knobs import Knob
from archspec.codegen.loops import Counted, checked_runs, run_groups
from archspec.codegen.numbers import (
    Looped,
    copies_of,
    layer_numbers,
    network_with,
    number_at,
)
from archspec.terms import Term

if TYPE_CHECKING:
    from archspec.architecture import Architecture
    from archspec.codegen.switches import Compile


def indexed_knobs(
    candidates: list[tuple[str, int | float]], arch: Architecture, compile_with: Compile
) -> list[Knob]:
    """The depth keywords this rule finds among ``candidates`` (see the module
    docstring), all or none of them: their expressions are joined."""
    traced = arch.traced
    if traced is None:
        return []
    found, taken = computed_depths(candidates, arch, compile_with)
    direct = [(n, v) for n, v in candidates if n not in taken and type(v) is int]
    found += [c for name, value in direct if (c := counted(name, value, arch, compile_with))]
    if not found:
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
    joint = {name: value for c in found for name, value in c.joint.items()}
    if len(looped) != len(each) or not jointly_exact(
        joint, traced.network, joined, looped, compile_with
    ):
        return []
    network = network_with(
        traced.network,
        {
            key: symbolic.traced(number_at(traced.network, *key), term)
            for key, term in joined.items()
        },
    )
    runs_of = {c.name: tuple(looped[run.path] for run in c.looped) for c in found}
    knobs = []
    for c in found:
        runs = runs_of[c.name]
        outside = bound_outside(network, c.name, runs_of[c.owner or c.name], c.shapes)
        if outside is None:
            return []
        places, calls = outside
        knobs.append(
            Knob(
                c.name,
                c.value,
                places,
                frozenset(run.path for run in runs),
                calls,
                probe=c.probe,
                probed=c.probed,
                traced=network,
                looped=runs,
                counts=c.computed,
                later=c.later,
                resolving=c.resolving,
                counted_by=c.owner,
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


def counted(name: str, value: int, arch: Architecture, compile_with: Compile) -> Counted | None:
    """``name``, a count written as a parameter, as a depth by this rule, alone; None
    where it is not one."""
    traced = arch.traced
    if traced is None or name not in traced.counted or traced.guarded(name):
        return None
    groups = run_groups(arch.network, {name}, 2)
    grown = [g for extra in (1, 2) if (g := compile_with({name: value + extra})) is not None]
    if groups is None or len(grown) != 2:
        return None
    checked = checked_runs({name}, groups, [arch, *grown])
    found = None if checked is None else outside_fields(checked[0], name, value)
    if checked is None or found is None:
        return None
    return Counted(name, value, checked[1], found, value + 1, grown[0].network, {name: value + 1})


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


def bound_outside(
    network: ir.Network, name: str, runs: tuple[Looped, ...], shapes: bool = False
) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, bool]]] | None:
    """What the class writes with the count outside the loops (ConvNeXt's ``d1`` in every
    later stage's rates, a first copy written apart): the fields of its own layers and
    the class calls holding fields that read it, as a width's (``codegen.formulas``);
    None where a shape reads it (but for ``shapes``: a width that computes the counts
    too), or a layer the class does not build itself."""
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
        if not shapes and any(reads_name(dim, name) for dim in (*node.input, *node.output)):
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
