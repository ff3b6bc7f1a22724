"""Spec parameters that become keyword arguments of the emitted network class.

An emitted file is one network, every size a literal, so a user cannot ask it for another
head (``ResNet50(num_classes=10)``) unless the emitter knows which literals *are* a
parameter. That is found by difference, not by tracing expressions: the spec compiled
again with the parameter one larger must be the same network except for layer arguments,
built by the network class itself, that went from the parameter's value to that value
plus one. Such a parameter is a knob, and those arguments are written as its name. Any
other effect (a depth, a width that is doubled or reaches a block class) leaves it out:
the file then states the value it was built with, and ``archspec build -D`` changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from archspec import ir
from archspec.codegen.classes import is_class


@dataclass(frozen=True, slots=True)
class Knob:
    """A keyword argument of the network class: its default and the (path, op field)
    pairs it sets."""

    name: str
    default: int
    places: frozenset[tuple[str, str]]


def probe_value(value: ir.Scalar) -> int | None:
    """The value a parameter is compiled again with; None if it cannot be a knob
    (only whole numbers are: ``True + 1`` is no boolean)."""
    return value + 1 if type(value) is int else None


def knob(name: str, value: int, base: ir.Network, probed: ir.Network) -> Knob | None:
    """``name`` as a knob, comparing the network built with it at ``value`` and at
    ``value + 1``; None when the parameter does anything else."""
    before, after = list(ir.walk(base)), list(ir.walk(probed))
    if [(p.path, type(p.node)) for p in before] != [(p.path, type(p.node)) for p in after]:
        return None
    own = network_level(base)
    places: set[tuple[str, str]] = set()
    for old, new in zip(before, after, strict=True):
        if isinstance(old.node, ir.Group) and isinstance(new.node, ir.Group):
            if old.node.arguments != new.node.arguments:
                return None
            continue
        if not isinstance(old.node, ir.Layer) or not isinstance(new.node, ir.Layer):
            return None
        if type(old.node.op) is not type(new.node.op):
            return None
        for field in fields(old.node.op):
            was, now = getattr(old.node.op, field.name), getattr(new.node.op, field.name)
            if was == now:
                continue
            if old.path not in own or type(was) is not int or (was, now) != (value, value + 1):
                return None
            places.add((old.path, field.name))
    return Knob(name, value, frozenset(places)) if places else None


def network_level(network: ir.Network) -> set[str]:
    """Paths of the layers the network class constructs itself (not inside a class)."""
    inside = "\0"  # the class being skipped (a walk lists a node's descendants after it)
    own: set[str] = set()
    for place in ir.walk(network):
        if place.path.startswith(inside):
            continue
        if isinstance(place.node, ir.Group) and is_class(place.node):
            inside = place.path + "."
        elif isinstance(place.node, ir.Layer):
            own.add(place.path)
    return own
