"""The numbers a module is built with, read and replaced by place (``codegen.indexed``).

A copy in a loop is written from a template: a copy whose numbers hold expressions in its
index (``Looped``). These read every number of a node (its layers' fields, its groups'
arguments), put others in their places, and compare nodes apart from their numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, fields

from archspec import ir, symbolic, terms
from archspec.codegen.optional import rebuilt


@dataclass(frozen=True)
class Looped:
    """A run a depth keyword writes as a loop over the copy's index: its group's path,
    whether the first copy is the template's too (else the class writes it apart), and
    the template: a copy on traced numbers whose numbers hold their expressions in ``i``."""

    path: str
    first_alike: bool
    template: ir.Node


Numbers = dict[tuple[str, str], ir.Scalar]
"""Numbers by (path relative to the node, op field or ``:argument``)."""


def numbers_of(node: ir.Node) -> Iterator[tuple[str, str, object]]:
    """Each number a node is built with: its layers' fields and its groups' arguments, by
    (relative path, field or ``:argument``); a truth value or text is no number."""
    places = [("", node)] + [(p.path, p.node) for p in ir.walk(node)]
    for path, inner in places:
        if isinstance(inner, ir.Layer):
            for op_field in fields(inner.op):
                value = getattr(inner.op, op_field.name)
                if is_number(value):
                    yield path, op_field.name, value
        elif isinstance(inner, ir.Group):
            for argument, value in inner.arguments:
                if is_number(value):
                    yield path, f":{argument}", value


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def skeleton(node: ir.Node) -> list[object]:
    """A node apart from its numbers and shapes: each place's path, kind, op or
    definition, and its other settings."""
    found: list[object] = []
    for place in [ir.Place("", "", node, 0), *ir.walk(node)]:
        inner = place.node
        if isinstance(inner, ir.Layer):
            settings = [
                (f.name, getattr(inner.op, f.name))
                for f in fields(inner.op)
                if not is_number(getattr(inner.op, f.name))
            ]
            found.append((place.path, inner.op.NAME, settings))
        elif isinstance(inner, ir.Group):
            found.append((place.path, inner.definition, [a for a, _ in inner.arguments]))
        else:
            found.append((place.path, type(inner).__name__))
    return found


def with_numbers(node: ir.Node, values: Numbers) -> ir.Node:
    """``node`` with the numbers at ``values``' places (``numbers_of``) replaced."""
    if isinstance(node, ir.Layer):
        changed = {key: v for (path, key), v in values.items() if path == ""}
        if not changed:
            return node
        return dataclasses.replace(node, op=dataclasses.replace(node.op, **changed))
    assert isinstance(node, ir.Group)
    arguments = tuple(
        (argument, values.get(("", f":{argument}"), value)) for argument, value in node.arguments
    )
    steps = tuple(rebuilt_step(step, values) for step in node.flow.steps)
    return dataclasses.replace(node, flow=ir.Chain(steps), arguments=arguments)


def network_with(network: ir.Network, values: Numbers) -> ir.Network:
    """``network`` with the numbers at ``values``' places (by path in it) replaced."""
    steps = tuple(rebuilt_step(step, values) for step in network.flow.steps)
    return dataclasses.replace(network, flow=ir.Chain(steps))


def rebuilt_step(step: ir.Step, values: Numbers) -> ir.Step:
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


def numbers_at(template: ir.Node, fixed: dict[str, ir.Scalar]) -> list[object] | None:
    """The template's numbers computed at ``fixed`` (the spec's values and the index), in
    ``numbers_of``'s order; None where one cannot be."""
    found: list[object] = []
    for _, _, value in numbers_of(template):
        term = symbolic.term_of(value)
        number = value if term is None else terms.computed(term, fixed)  # type: ignore[arg-type]
        if number is None:
            return None
        found.append(number)
    return found


def plain_numbers(node: ir.Node) -> list[object]:
    return [symbolic.plain(value) for _, _, value in numbers_of(node)]


def layer_numbers(network: ir.Network) -> list[tuple[tuple[str, str], object]]:
    return [
        ((place.path, f.name), getattr(place.node.op, f.name))
        for place in ir.walk(network)
        if isinstance(place.node, ir.Layer)
        for f in fields(place.node.op)
        if is_number(getattr(place.node.op, f.name))
    ]


def number_at(network: ir.Network, path: str, key: str) -> int | float:
    layer = ir.find(network, path)
    value = getattr(layer.op, key) if isinstance(layer, ir.Layer) else None
    assert isinstance(value, int | float), "a layer's number"
    return value


def copies_of(network: ir.Network, path: str) -> tuple[ir.Member, ...]:
    group = ir.find_group(network, path)
    assert group is not None, "the runs were found in every network"
    return group.members


def trimmed_network(network: ir.Network, kept: dict[str, int]) -> ir.Network | None:
    """``network`` with each group at ``kept``'s paths cut to its first members."""
    by_path: dict[str, ir.Group] = {}
    for path, count in kept.items():
        group = ir.find_group(network, path)
        if group is None or len(group.members) < count:
            return None
        flow = ir.Chain(group.flow.steps[:count])
        by_path[path] = dataclasses.replace(group, flow=flow, repeats=())
    return dataclasses.replace(network, flow=rebuilt(network.flow, "", by_path))
