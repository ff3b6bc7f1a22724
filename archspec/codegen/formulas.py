"""Keywords the emitted class computes with: a spec parameter that sets widths through
arithmetic (``ResNeXt(groups=32, width_per_group=4)``, ``MobileNetV2(width_mult=0.5)``).

``codegen.knobs`` takes a parameter the network reads whole. This module takes one the
network computes on, from the spec lowered on traced numbers (``archspec.symbolic``):
every field computed from the parameter holds the expression it was computed by, and the
emitted class writes that expression (``Bottleneck(256, 64 * width_per_group // 64 *
groups, 256, groups=groups)``). It is sound where no decision pinned the parameter (no
count, truth value or key read it: ``Traced.decided``) and the class checks every
comparison that chose the structure from it (``Traced.guards``: ``check_structure(w !=
16, w=w)``): wherever those hold, lowering takes the same path, the structure is the
same, and each field is its expression. It is checked, too, against the spec compiled at
the probe: each expression must give the probe's field there, each guard must hold, and
every other field must stay as it was.

Inside a class, what the parameter sets must be a constructor argument (the probe joins
the class resolution, ``resolve.Probe``), and the fields an argument stands for must
share one expression; the shortcut modules the network class builds and passes in
(``downsample=...``) are written with the expressions, as its own layers are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from archspec import ir, symbolic, terms
from archspec.codegen.classes import (
    BlockClass,
    built_shortcuts,
    is_class,
    network_level,
    own_modules,
)
from archspec.codegen.knobs import Knob
from archspec.codegen.resolve import Probe, block_classes
from archspec.terms import Term

if TYPE_CHECKING:
    from archspec.architecture import Traced

MAX_FORMULA = 120
"""The longest expression the emitted class computes a field by (the parameter by name,
the others as values; a long one is split into locals, ``Locals``). A longer one keeps
the parameter a build-time value: the file stays readable."""

MAX_GUARDS = 16
"""The most comparisons one keyword's structure may have been chosen by: each is a check
in the emitted constructor (``check_structure``)."""

Accepted = TypeVar("Accepted")
"""What a check makes of resolved classes (``resolved_classes``)."""


def formula_knob(
    name: str,
    value: int | float,
    probe: int | float,
    base: ir.Network,
    probed: ir.Network,
    trace: Traced,
) -> Knob | None:
    """``name`` as a keyword the emitted class computes with; None where a decision
    pinned it, a comparison its structure was chosen by cannot be checked in the class,
    or an expression does not give what the spec gives at ``probe``."""
    at_probe = {**dict(base.parameters), name: probe}
    guards = trace.guarded(name)
    checked = all(follows(guard, name, True, True, at_probe) for guard in guards)
    if name in trace.decided or not checked or len(guards) > MAX_GUARDS:
        return None
    traced = trace.network
    walks = [list(ir.walk(network)) for network in (base, probed, traced)]
    shapes = [[(p.path, type(p.node)) for p in walk] for walk in walks]
    if shapes[0] != shapes[1] or shapes[0] != shapes[2]:
        return None
    own = network_level(base)
    _, found = resolved_classes(
        base,
        set(),
        (Probe(name, value, probe, probed),),
        lambda classes: bound_places(name, walks, classes, own, at_probe),
    )
    if found is None:
        return None
    places, calls = found
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
        guards=guards,
    )


def bound_places(
    name: str,
    walks: list[list[ir.Place]],
    classes: dict[int, BlockClass],
    own: set[str],
    at_probe: dict[str, Any],
) -> tuple[set[tuple[str, str]], set[tuple[str, bool]]] | None:
    """The network's own fields and the class calls that ``name`` sets, each following
    its expression to the probe; None where one does not."""
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
                continue  # a shortcut chosen by shapes is guarded: its comparison held
            for _, inside, _ in built_shortcuts(cls, old.node):  # the network class builds
                for relative in layer_paths(old.node, inside):
                    nodes = tuple(ir.find(n.node, relative) for n in (old, new, twin))
                    found = follows_layer(name, f"{old.path}.{relative}", nodes, at_probe)
                    if found is None:
                        return None
                    places.update(found)
            arguments = traced_arguments(cls, old.node, twin.node, classes)
            if arguments is None:
                return None
            was, now = dict(cls.values(old.node)), dict(cls.values(new.node))
            changed = []
            for variable in cls.parameters:
                argument = arguments.get(variable.name)
                term = symbolic.term_of(argument)
                if not follows(term, name, was[variable], now[variable], at_probe):
                    return None
                if reads_name(argument, name):
                    changed.append(variable)
            if changed:
                calls.add((old.path, any(variable.channels for variable in changed)))
        elif isinstance(old.node, ir.Layer) and old.path in own:
            found = follows_layer(name, old.path, (old.node, new.node, twin.node), at_probe)
            if found is None:
                return None
            places.update(found)
        elif isinstance(old.node, ir.Group) and old.path in own | {""}:
            assert isinstance(new.node, ir.Group)
            if old.node.arguments != new.node.arguments:
                return None
    return places, calls


def layer_paths(group: ir.Group, inside: str) -> list[str]:
    """The paths of the layers of the member at ``inside`` (a layer, or a group's)."""
    node = ir.find(group, inside)
    return [inside] if isinstance(node, ir.Layer) else [path for path, _ in ir.layers(node, inside)]


def follows_layer(
    name: str, path: str, nodes: tuple[ir.Node, ...], at_probe: dict[str, Any]
) -> set[tuple[str, str]] | None:
    """The fields of the layer at ``path`` (``nodes``: in the network, the probed one and
    the traced twin) that read ``name``; None where one does not follow its expression."""
    base, probed, traced = nodes
    assert isinstance(base, ir.Layer) and isinstance(probed, ir.Layer)
    assert isinstance(traced, ir.Layer)
    found = set()
    for op_field in fields(base.op):
        value = getattr(traced.op, op_field.name)
        was, now = getattr(base.op, op_field.name), getattr(probed.op, op_field.name)
        if not follows(symbolic.term_of(value), name, was, now, at_probe):
            return None
        if reads_name(value, name):
            found.add((path, op_field.name))
    return found


def follows(
    term: Term | None, name: str, was: object, now: object, at_probe: dict[str, Any]
) -> bool:
    """Whether a field keeps its value where its expression does not read ``name``, and
    is its expression at the probe where it does (the same type too)."""
    if term is None or name not in term.reads:
        return was == now and type(was) is type(now)
    if not terms.renderable(term) or type(symbolic.plain(was)) is not type(now):
        return False
    spelled = terms.render(term, {name: name}, at_probe, repr)
    if len(spelled) > MAX_FORMULA:
        return False
    try:
        return bool(terms.value_at(term, at_probe) == now)
    except (ArithmeticError, ValueError):
        return False


def inside_bound(
    cls: BlockClass, group: ir.Group, twin: ir.Group, classes: dict[int, BlockClass], name: str
) -> bool:
    """Whether everything in one class instance that reads ``name`` is a constructor
    argument of its class: layer fields and the arguments of classes nested in it (their
    own insides are checked as instances of their own). Its shortcut modules are built
    by the network class and passed in: ``formula_knob`` checks them there."""
    inner = "\0"  # a nested class being skipped (a walk lists its descendants after it)
    built = {path for _, path, _ in built_shortcuts(cls, group)}
    inside_built = tuple(f"{path}." for path in built)
    for place, copy in zip(ir.walk(group), ir.walk(twin), strict=True):
        if place.path.startswith(inner) or place.path in built:
            continue
        if place.path.startswith(inside_built):
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


def resolved_classes(
    network: ir.Network,
    taken: set[str],
    probes: tuple[Probe, ...],
    accepts: Callable[[dict[int, BlockClass]], Accepted | None],
) -> tuple[dict[int, BlockClass], Accepted | None]:
    """The classes with fields merged by equal values (``resolve.block_classes``) and what
    ``accepts`` makes of them; where it refuses them and a field was merged, the classes
    resolved apart instead, and what it makes of those: two fields equal at every probe
    may be computed differently, and one argument cannot stand for both."""
    classes = block_classes(network, taken, probes)
    found = accepts(classes)
    if found is None and any(cls.merged for cls in classes.values()):
        classes = block_classes(network, taken, probes, merge=False)
        found = accepts(classes)
    return classes, found


def consistent(classes: dict[int, BlockClass], network: ir.Network, traced: ir.Network) -> bool:
    """Whether each argument of a class that merged fields has one expression in every
    instance's twin on traced numbers (``traced_arguments``)."""
    twins = {place.path: place.node for place in ir.walk(traced)}
    for place in ir.walk(network):
        node, twin = place.node, twins.get(place.path)
        if isinstance(node, ir.Group) and id(node) in classes and classes[id(node)].merged:
            if not isinstance(twin, ir.Group):
                return False
            if traced_arguments(classes[id(node)], node, twin, classes) is None:
                return False
    return True


def reads_name(value: object, name: str) -> bool:
    return reads_any(value, frozenset((name,)))


def reads_any(value: object, names: frozenset[str]) -> bool:
    """Whether a traced value's expression reads one of ``names``."""
    term = symbolic.term_of(value)
    return term is not None and bool(term.reads & names)


def traced_arguments(
    cls: BlockClass,
    group: ir.Group,
    twin: ir.Group,
    classes: dict[int, BlockClass],
    reading: frozenset[str] | None = None,
) -> dict[str, object] | None:
    """Each constructor argument's value in the traced twin of an instance, read from
    the fields the class binds to it; None where those fields disagree on an expression
    (equal values computed differently: one argument cannot stand for both). Given
    ``reading``, only expressions that read one of those names must agree
    (``same_expression``)."""
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
            inner = traced_arguments(classes[id(node)], node, copy, classes, reading)
            if inner is None:
                return None
            value = inner.get(key)
        if expression not in found:
            found[expression] = value
        elif not same_expression(found[expression], value, reading):
            return None
    return found


def same_expression(one: object, other: object, reading: frozenset[str] | None) -> bool:
    """Whether one argument may stand for two traced values: the same expression; given
    ``reading``, both reading none of those names (equal where the class was resolved,
    and nothing the class is given changes them) serves too."""
    if reading is not None and not reads_any(one, reading) and not reads_any(other, reading):
        return True
    return symbolic.term_of(one) == symbolic.term_of(other)


def takes_every_change(
    cls: BlockClass,
    group: ir.Group,
    twin: ir.Group,
    classes: dict[int, BlockClass],
    reading: frozenset[str],
) -> bool:
    """Whether the class writes every field of ``twin`` (``group`` on traced numbers)
    that reads one of ``reading`` from its arguments, nested classes' too: a loop's lone
    copy, whose class only probes hold, is then built from its arguments alone."""
    for built in own_modules(group):
        copy = ir.find(twin, built.path)
        if isinstance(built.node, ir.Layer) and isinstance(copy, ir.Layer):
            changing = [
                f.name for f in fields(copy.op) if reads_any(getattr(copy.op, f.name), reading)
            ]
        elif (
            isinstance(built.node, ir.Group) and isinstance(copy, ir.Group) and is_class(built.node)
        ):
            inner = classes[id(built.node)]
            values = traced_arguments(inner, built.node, copy, classes, reading)
            if values is None or not takes_every_change(inner, built.node, copy, classes, reading):
                return False
            changing = [key for key, value in values.items() if reads_any(value, reading)]
        else:
            continue
        if any((built.path, key) not in cls.bindings for key in changing):
            return False
    return True
