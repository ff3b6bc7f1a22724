"""Keywords the emitted class computes with: a spec parameter that sets widths through
arithmetic (``ResNeXt(groups=32, width_per_group=4)``, ``ShuffleNet(c2=116)``).

``codegen.knobs`` takes a parameter the network reads whole. This module takes one the
network computes on, from the spec lowered on traced numbers (``archspec.symbolic``):
every field computed from the parameter holds the expression it was computed by, and the
emitted class writes that expression (``Bottleneck(256, 64 * width_per_group // 64 *
groups, 256, groups=groups)``). It is sound where lowering decided nothing on the
parameter (no condition, count, shortcut choice or key read it: ``Traced.decided``); then
the network's structure is the same at every value, and each field is its expression.
It is checked, too, against the spec compiled at the probe: each expression must give
the probe's field there, and every other field must stay as it was.

Inside a class, what the parameter sets must be a constructor argument (the probe joins
the class resolution, ``resolve.Probe``), and the fields an argument stands for must
share one expression; a shortcut module passed in built may not read it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from archspec import ir, symbolic
from archspec.codegen.classes import BlockClass, is_class
from archspec.codegen.escape import identifier, literal
from archspec.codegen.knobs import Knob, network_level, shortcuts_kept
from archspec.codegen.resolve import Probe, block_classes
from archspec.symbolic import Term

MAX_FORMULA = 40
"""The longest expression an argument of the emitted class is written as (the parameter
by name, the others as values): one line of the laid-out call at any depth (``codegen.pysource``).
A longer one (a ViT's position count from its patch size) keeps the parameter a
build-time value."""


def formula_knob(
    name: str,
    value: int | float,
    probe: int | float,
    base: ir.Network,
    probed: ir.Network,
    traced: ir.Network,
    decided: frozenset[str],
) -> Knob | None:
    """``name`` as a keyword the emitted class computes with; None where lowering decided
    anything on it, or an expression does not give what the spec gives at ``probe``."""
    if name in decided:
        return None
    walks = [list(ir.walk(network)) for network in (base, probed, traced)]
    shapes = [[(p.path, type(p.node)) for p in walk] for walk in walks]
    if shapes[0] != shapes[1] or shapes[0] != shapes[2]:
        return None
    at_probe = {**dict(base.parameters), name: probe}
    classes = block_classes(base, set(), (Probe(name, value, probe, probed),))
    own = network_level(base)
    places: set[tuple[str, str]] = set()
    calls: set[tuple[str, bool]] = set()
    for old, new, twin in zip(*walks, strict=True):
        if isinstance(old.node, ir.Group) and is_class(old.node):
            assert isinstance(new.node, ir.Group) and isinstance(twin.node, ir.Group)
            cls = classes[id(old.node)]
            if classes[id(new.node)] is not cls or not inside_bound(
                cls, old.node, twin.node, classes, name
            ):
                return None
            if old.path not in own:
                continue
            if not shortcuts_kept(base, old.node, new.node):
                return None
            arguments = traced_arguments(cls, old.node, twin.node, classes)
            if arguments is None:
                return None
            was, now = dict(cls.values(old.node)), dict(cls.values(new.node))
            changed = []
            for variable in cls.parameters:
                term = symbolic.term_of(arguments.get(variable.name))
                if not follows(term, name, was[variable], now[variable], at_probe):
                    return None
                if term is not None and name in term.parameters():
                    changed.append(variable)
            if changed:
                calls.add((old.path, any(variable.channels for variable in changed)))
        elif isinstance(old.node, ir.Layer) and old.path in own:
            assert isinstance(new.node, ir.Layer) and isinstance(twin.node, ir.Layer)
            for op_field in fields(old.node.op):
                term = symbolic.term_of(getattr(twin.node.op, op_field.name))
                was, now = (getattr(n.node.op, op_field.name) for n in (old, new))
                if not follows(term, name, was, now, at_probe):
                    return None
                if term is not None and name in term.parameters():
                    places.add((old.path, op_field.name))
        elif isinstance(old.node, ir.Group) and old.path in own | {""}:
            assert isinstance(new.node, ir.Group)
            if old.node.arguments != new.node.arguments:
                return None
    if not places and not calls:
        return None
    return Knob(
        name,
        value,
        frozenset(places),
        calls=frozenset(calls),
        probe=probe,
        probed=probed,
        traced=traced,
    )


def follows(
    term: Term | None, name: str, was: object, now: object, at_probe: dict[str, Any]
) -> bool:
    """Whether a field keeps its value where its expression does not read ``name``, and
    is its expression at the probe where it does (the same type too)."""
    if term is None or name not in term.parameters():
        return was == now and type(was) is type(now)
    if not symbolic.renderable(term) or type(symbolic.plain(was)) is not type(now):
        return False
    spelled = symbolic.render(term, {name: name}, at_probe, repr)
    if len(spelled) > MAX_FORMULA:
        return False
    try:
        return bool(symbolic.value_at(term, at_probe) == now)
    except (ArithmeticError, ValueError):
        return False


def inside_bound(
    cls: BlockClass, group: ir.Group, twin: ir.Group, classes: dict[int, BlockClass], name: str
) -> bool:
    """Whether everything in one class instance that reads ``name`` is a constructor
    argument of its class: layer fields and the arguments of classes nested in it (their
    own insides are checked as instances of their own), shortcut modules included."""
    inner = "\0"  # a nested class being skipped (a walk lists its descendants after it)
    for place, copy in zip(ir.walk(group), ir.walk(twin), strict=True):
        if place.path.startswith(inner):
            continue
        if isinstance(place.node, ir.Group) and is_class(place.node):
            inner = place.path + "."
            assert isinstance(copy.node, ir.Group)
            nested = classes[id(place.node)]
            values = traced_arguments(nested, place.node, copy.node, classes)
            if values is None:
                return False
            reads = [k for k, v in values.items() if reads_name(v, name)]
        elif isinstance(copy.node, ir.Layer):
            reads = [
                f.name
                for f in fields(copy.node.op)
                if reads_name(getattr(copy.node.op, f.name), name)
            ]
        else:
            continue
        if any((place.path, key) not in cls.bindings for key in reads):
            return False
    return traced_arguments(cls, group, twin, classes) is not None


def reads_name(value: object, name: str) -> bool:
    term = symbolic.term_of(value)
    return term is not None and name in term.parameters()


def traced_arguments(
    cls: BlockClass, group: ir.Group, twin: ir.Group, classes: dict[int, BlockClass]
) -> dict[str, object] | None:
    """Each constructor argument's value in the traced twin of an instance, read from
    the fields the class binds to it; None where those fields disagree on an expression
    (equal values computed differently: one argument cannot stand for both)."""
    found: dict[str, object] = {}
    names = {variable.name for variable in cls.parameters}
    for (path, key), expression in cls.bindings.items():
        if expression not in names:
            continue
        node, copy = ir.find(group, path), ir.find(twin, path)
        if isinstance(copy, ir.Layer):
            value: object = getattr(copy.op, key)
        else:
            assert isinstance(node, ir.Group) and isinstance(copy, ir.Group)
            inner = traced_arguments(classes[id(node)], node, copy, classes)
            if inner is None:
                return None
            value = inner.get(key)
        if expression in found and symbolic.term_of(found[expression]) != symbolic.term_of(value):
            return None
        found.setdefault(expression, value)
    return found


def written(value: object, keywords: list[str], network: ir.Network) -> str:
    """A traced value as Python: the network class's keywords by name, the other
    parameters as the values it was built with, and whatever reads none of them as one."""
    term = symbolic.term_of(value)
    if term is None:
        return literal(value)  # type: ignore[arg-type]
    spelled = {name: identifier(name) for name in keywords}
    return symbolic.render(term, spelled, dict(network.parameters), literal)  # type: ignore[arg-type]
