"""A repeat count whose copies read their index, or which other arguments read, as a keyword.

ConvNeXt's stochastic depth rises block by block, ``cnblock(w, p=sd * (d1 + i) / (d1 +
d2 + d3 + d4 - 1)) x d2``: every copy differs and every count is read by every copy, so
the rule of ``codegen.knobs`` (each copy after the first made from its input alone) does
not hold, yet torchvision's ``ConvNeXt`` takes its stage depths. The class writes such a
run as a loop over the index, ``*(CnBlock(192, p=sd * (d1 + i) / total) for i in
range(d2))``, the copies' fields as the spec computes them (traced numbers,
``archspec.symbolic``), ``i`` the copy's index.

The rule has no guess in it. Lowered on traced numbers, the count must decide nothing but
the number of copies (``Traced.counted``: no comparison reads it, no other decision pins
it), and each of its runs must fill a group of its own at the network class's level, of
two copies or more. Lowered again with the copy's index traced too
(``symbolic.indexing``), nothing may decide on ``i`` (a copy ``8 if i < 9 else 16`` is
refused: no probe would see its tenth copy), and the spec compiled one larger must hold
the same network, every field the same expression (or value, where it has none), but for
the copy each run gains. Every copy after the first, in both networks, must then be the
last one, expression for expression, and its numbers those its expressions give at its
index: the class writes that copy in a loop over ``i``, and the first one with them where
it is alike (else apart).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from archspec import ir, symbolic, terms
from archspec.codegen.classes import counted_names, network_level
from archspec.codegen.knobs import Knob, in_a_class

if TYPE_CHECKING:
    from archspec.architecture import Architecture, Traced
    from archspec.codegen.switches import Compile


@dataclass(frozen=True)
class Looped:
    """A run a depth keyword writes as a loop over the copy's index: its group's path,
    whether the first copy is the template's too (else the class writes it apart), and
    the template: a copy on traced numbers whose fields hold their expressions in ``i``."""

    path: str
    first_alike: bool
    template: ir.Node


def indexed_knob(name: str, value: int, arch: Architecture, compile_with: Compile) -> Knob | None:
    """``name`` as a depth keyword whose runs are loops (see the module docstring); None
    where it is not one by this rule."""
    looped = indexed_runs(name, value, arch, compile_with)
    traced = arch.traced
    if looped is None or traced is None:
        return None
    paths = [run.path for run in looped]
    outside = bound_outside(traced.network, name, paths)
    grown = compile_with({name: value + 1})
    if outside is None or grown is None:
        return None
    places, calls = outside
    return Knob(
        name,
        value,
        places,
        frozenset(paths),
        calls,
        probe=value + 1,
        probed=grown.network,
        traced=traced.network,
        looped=looped,
    )


def indexed_runs(
    name: str, value: int, arch: Architecture, compile_with: Compile
) -> tuple[Looped, ...] | None:
    traced = arch.traced
    if traced is None or name not in traced.counted or traced.guarded(name):
        return None
    groups = run_groups(arch.network, name)
    grown = compile_with({name: value + 1})
    if groups is None or grown is None:
        return None
    compiled = (arch, grown)
    found = [index_traced(c) for c in compiled]
    if any(t is None or name not in t.counted or t.guarded(name) for t in found):
        return None
    base, larger = (t.network for t in found if t is not None)
    if not same_but_copies(base, larger, groups):
        return None
    looped = []
    for path in groups:
        template = copies_of(larger, path)[-1].node
        if shaped_by_index(template):
            return None
        expected = term_data(template)
        first_alike = True
        for arch_at, traced_at in zip(compiled, (base, larger), strict=True):
            pairs = zip(copies_of(arch_at.network, path), copies_of(traced_at, path), strict=True)
            for index, (number, twin) in enumerate(pairs):
                alike = term_data(twin.node) == expected and instance(
                    template, index, arch_at.arguments
                ) == ir.to_data(number.node)
                if not alike and index > 0:
                    return None
                first_alike = first_alike and alike
        looped.append(Looped(path, first_alike, template))
    return tuple(looped)


def index_traced(arch: Architecture) -> Traced | None:
    """The spec lowered on traced numbers with each copy's index traced too; None where
    a decision read the index."""
    if arch.tracer is None or arch.traced is None:
        return None
    with symbolic.indexing():
        found = arch.tracer(arch.arguments)
    if found is None or symbolic.INDEX in found.decided or found.guarded(symbolic.INDEX):
        return None
    return found


def run_groups(network: ir.Network, name: str) -> list[str] | None:
    """The paths of the groups whose members are one run of ``name`` each, at the network
    class's level; None where a run shares its group, is a copy alone, or stands in a
    class or in another run."""
    groups = []
    for place in ir.walk(network):
        node = place.node
        if not isinstance(node, ir.Group) or not any(r.parameter == name for r in node.repeats):
            continue
        run = node.repeats[0]
        whole = len(node.repeats) == 1 and run.first == 0 and run.size == 1
        if not whole or run.count < 2 or run.count != len(node.members):
            return None
        if counted_names(node) is None:  # a template naming no module at some count
            return None
        if in_a_class(network, place.path):
            return None
        groups.append(place.path)
    nested = any(p.startswith(tuple(f"{q}." for q in groups)) for p in groups)
    return None if not groups or nested else groups


def bound_outside(
    network: ir.Network, name: str, groups: list[str]
) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, bool]]] | None:
    """What the class writes with the count outside its runs' copies (ConvNeXt's ``d1``
    in every later stage's rates): the fields of its own layers and the class calls
    holding fields that read it, as a width's (``codegen.formulas``); None where a shape
    reads it, or a layer the class does not build itself."""
    own = network_level(network)
    inside = tuple(f"{path}." for path in groups)
    places: set[tuple[str, str]] = set()
    calls: set[tuple[str, bool]] = set()
    for place in ir.walk(network):
        node = place.node
        if any(reads(dim, name) for dim in (*node.input, *node.output)):
            return None
        if not isinstance(node, ir.Layer) or place.path.startswith(inside):
            continue
        for op_field in fields(node.op):
            if not reads(getattr(node.op, op_field.name), name):
                continue
            if place.path in own:
                places.add((place.path, op_field.name))
                continue
            owner = next((p for p in own if place.path.startswith(f"{p}.")), None)
            if owner is None:
                return None
            calls.add((owner, False))  # no channel count: no shape reads it
    return frozenset(places), frozenset(calls)


def reads(value: object, name: str) -> bool:
    term = symbolic.term_of(value)
    return term is not None and name in term.reads


def shaped_by_index(node: ir.Node) -> bool:
    """Whether a shape in the copy reads ``i`` (a stride ``1 + i // 9``): the network
    after the run is then another where a copy past the probes changes it."""
    places = [node, *(place.node for place in ir.walk(node))]
    dims = [dim for inner in places for dim in (*inner.input, *inner.output)]
    return any(symbolic.INDEX in term.reads for term in map(symbolic.term_of, dims) if term)


def copies_of(network: ir.Network, path: str) -> tuple[ir.Member, ...]:
    group = ir.find_group(network, path)
    assert group is not None, "the runs were found in every network"
    return group.members


def same_but_copies(base: ir.Network, grown: ir.Network, groups: list[str]) -> bool:
    """Whether ``grown`` is ``base`` on traced numbers but for copies added to the runs'
    groups (and their shapes: none change, every group keeps its input and output)."""
    kept = {path: len(copies_of(base, path)) for path in groups}
    trimmed = trimmed_network(grown, kept)
    return trimmed is not None and traced_data(base) == traced_data(trimmed)


def trimmed_network(network: ir.Network, kept: dict[str, int]) -> ir.Network | None:
    """``network`` with each group at ``kept``'s paths cut to its first members."""
    by_path: dict[str, ir.Group] = {}
    for path, count in kept.items():
        group = ir.find_group(network, path)
        if group is None or len(group.members) < count:
            return None
        flow = ir.Chain(group.flow.steps[:count])
        by_path[path] = dataclasses.replace(group, flow=flow, repeats=())
    from archspec.codegen.optional import rebuilt  # one rebuilding of chains by path

    return dataclasses.replace(network, flow=rebuilt(network.flow, "", by_path))


def traced_data(network: ir.Network) -> list[object]:
    """Every place of a traced network as ``term_data`` gives it, by path."""
    return [(place.path, term_data(place.node)) for place in ir.walk(network)]


def term_data(node: ir.Node) -> list[object]:
    """A node on traced numbers as data: each place's kind and shapes, each layer's
    fields as their expressions (their values where they have none); a group's
    arguments are its fields' business."""
    found: list[object] = []
    for place in [ir.Place("", "", node, 0), *ir.walk(node)]:
        inner = place.node
        found.append((place.path, type(inner).__name__, inner.input, inner.output))
        if isinstance(inner, ir.Layer):
            found.append((inner.op.NAME, [marked(v) for v in leaf_values(inner)]))
    return found


def marked(value: object) -> object:
    term = symbolic.term_of(value)
    return ("term", term) if term is not None else ("value", value)


def leaf_values(layer: ir.Layer) -> list[object]:
    return [getattr(layer.op, f.name) for f in fields(layer.op)]


def numbers_of(node: ir.Node) -> Iterator[tuple[str, str, object]]:
    """Each number a copy is built with: its layers' fields and its groups' arguments,
    by (relative path, field or ``:argument``)."""
    places = [("", node)] + [(p.path, p.node) for p in ir.walk(node)]
    for path, inner in places:
        if isinstance(inner, ir.Layer):
            for op_field in fields(inner.op):
                yield path, op_field.name, getattr(inner.op, op_field.name)
        elif isinstance(inner, ir.Group):
            for argument, value in inner.arguments:
                yield path, f":{argument}", value


def with_numbers(node: ir.Node, values: dict[tuple[str, str], ir.Scalar]) -> ir.Node:
    """``node`` with the numbers at ``values``' places (``numbers_of``) replaced."""
    if isinstance(node, ir.Layer):
        changed = {key: v for (path, key), v in values.items() if path == ""}
        return (
            dataclasses.replace(node, op=dataclasses.replace(node.op, **changed))
            if changed
            else node
        )
    assert isinstance(node, ir.Group)
    arguments = tuple(
        (argument, values.get(("", f":{argument}"), value)) for argument, value in node.arguments
    )
    steps = tuple(rebuilt_step(step, values) for step in node.flow.steps)
    return dataclasses.replace(node, flow=ir.Chain(steps), arguments=arguments)


def rebuilt_step(step: ir.Step, values: dict[tuple[str, str], ir.Scalar]) -> ir.Step:
    if isinstance(step, ir.Parallel):
        branches = tuple(
            ir.Chain(tuple(rebuilt_step(s, values) for s in branch.steps))
            for branch in step.branches
        )
        return dataclasses.replace(step, branches=branches)
    prefix = f"{step.name}."
    inner = {
        (path[len(prefix) :] if path != step.name else "", key): v
        for (path, key), v in values.items()
        if path == step.name or path.startswith(prefix)
    }
    return ir.Member(step.name, with_numbers(step.node, inner)) if inner else step


def instance(template: ir.Node, index: int, parameters: dict[str, ir.Scalar]) -> object:
    """The template at copy ``index`` with the spec's ``parameters``, as plain data."""
    values = {**parameters, symbolic.INDEX: index}
    at: dict[tuple[str, str], ir.Scalar] = {}
    for path, key, value in numbers_of(template):
        term = symbolic.term_of(value)
        if term is not None:
            try:
                at[(path, key)] = terms.value_at(term, values)  # type: ignore[arg-type]
            except (ArithmeticError, KeyError, TypeError, ValueError):
                return None
    return ir.to_data(with_numbers(template, at))
