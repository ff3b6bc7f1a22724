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
from archspec.codegen import pysource as py
from archspec.codegen.classes import BlockClass, is_class
from archspec.codegen.escape import identifier, literal
from archspec.codegen.knobs import Knob, changed_arguments, network_level, shortcuts_kept
from archspec.codegen.resolve import Probe, block_classes
from archspec.lower.names import NETWORK_CONSTRUCTOR_LOCALS, shadows_emitted_code
from archspec.symbolic import Term

MAX_FORMULA = 120
"""The longest expression the emitted class computes a field by (the parameter by name,
the others as values; a long one is split into locals, ``Locals``). A longer one keeps
the parameter a build-time value: the file stays readable."""


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


INLINE = 48
"""The longest expression written in place, as an argument: one line of the laid-out
call at any depth (``codegen.pysource``). A longer one is a local of the constructor."""
LINE = py.WIDTH - len(2 * py.INDENT) - len(" = ")
"""Room on a local's line, ruff's line length less the indent and `` = ``."""


class Locals:
    """What the network class's constructor computes before it builds its members: an
    expression too long for an argument is a local, named after the first field that
    takes it (``pos_embed_length = ((224 - patch_size) // patch_size + 1) ** 2 + 1``),
    computed once; one too long for its own line is split at its longest operand, named
    after the field that holds that part where one does (DenseNet's transitions)."""

    def __init__(self, network: ir.Network, knobs: tuple[Knob, ...], taken: set[str]) -> None:
        traced = next((k.traced for k in knobs if k.traced is not None), None)
        self.spelled = {k.name: identifier(k.name) for k in knobs}
        self.values = dict(network.parameters)
        self.taken = taken | set(self.spelled.values())
        self.named: dict[Term, str] = {}
        self.lines: list[str] = []
        self.holders: dict[Term, tuple[str, ...]] = {}
        """Each term a field of the traced network holds, by the first such field's name."""
        for place in ir.walk(traced) if traced is not None else ():
            if isinstance(place.node, ir.Layer):
                for op_field in fields(place.node.op):
                    term = symbolic.term_of(getattr(place.node.op, op_field.name))
                    if term is not None and term.kind not in ("name", "const"):
                        self.holders.setdefault(term, hint(place.path, op_field.name))

    def text(self, value: object, path: str, key: str) -> str:
        """A traced value as Python, written in place or as a local."""
        term = symbolic.term_of(value)
        if term is None:
            return literal(value)  # type: ignore[arg-type]
        spelled = self.render(term)
        if len(spelled) <= INLINE:
            return spelled
        return self.local(term, hint(path, key))

    def render(self, term: Term) -> str:
        return symbolic.render(term, self.spelled, self.values, literal, self.named)  # type: ignore[arg-type]

    def local(self, term: Term, name_hints: tuple[str, ...]) -> str:
        if term in self.named:
            return self.named[term]
        name = self.fresh(self.holders.get(term, name_hints))
        spelled = self.render(term)
        while len(spelled) > LINE - len(name):
            parts = [o for o in term.operands if o not in self.named and o.operands]
            if not parts:  # only names and values left: a long line, still Python
                break
            longest = max(parts, key=lambda part: len(self.render(part)))
            self.local(longest, (f"{name}_part",))
            spelled = self.render(term)
        self.named[term] = name
        self.lines.append(f"{name} = {spelled}")
        return name

    def fresh(self, names: tuple[str, ...]) -> str:
        """The first of ``names`` that is free, else the last with ``_`` appended."""
        free = [n for n in names if n not in self.taken and not self.shadows(n)]
        name = free[0] if free else names[-1]
        while name in self.taken or self.shadows(name):
            name += "_"
        self.taken.add(name)
        return name

    @staticmethod
    def shadows(name: str) -> bool:
        return shadows_emitted_code(name, NETWORK_CONSTRUCTOR_LOCALS)


def hint(path: str, key: str) -> tuple[str, ...]:
    """Names for a local from a field: the last two parts of its path and the field
    (``transition1_conv_out_channels``), then more of the path where that is taken
    (``stage3_0_branch2_0_in_channels``); a letter first."""
    parts = path.split(".")
    names = ["_".join([*parts[-k:], key]).replace("-", "_") for k in range(2, len(parts) + 1)]
    readable = [identifier(n) for n in names if n[:1].isalpha()]
    return tuple(readable) or (identifier(f"v_{names[-1] if names else key}"),)


def knob_bindings(
    network: ir.Network,
    knobs: tuple[Knob, ...],
    classes: dict[int, BlockClass],
    computed: Locals,
) -> dict[tuple[str, str], str]:
    """What the network class writes for each (path, field or class argument) a keyword
    sets: its name, or the expression the spec computes it by; in the network's order
    (the locals are made in it). A class call's arguments are named as this file's
    classes name them, found again as the keyword was found (``codegen.knobs``)."""
    order = {place.path: index for index, place in enumerate(ir.walk(network))}
    bound: dict[tuple[str, str], str] = {}
    for knob in knobs:
        for path, key in sorted(knob.places, key=lambda place: (order[place[0]], place[1])):
            if knob.traced is None:
                bound[(path, key)] = identifier(knob.name)
                continue
            layer = ir.find(knob.traced, path)
            assert isinstance(layer, ir.Layer)
            bound[(path, key)] = computed.text(getattr(layer.op, key), path, key)
        for path, _ in sorted(knob.calls, key=lambda call: order[call[0]]):
            assert knob.probed is not None
            old, new = ir.find(network, path), ir.find(knob.probed, path)
            assert isinstance(old, ir.Group) and isinstance(new, ir.Group)
            if knob.traced is None:
                changed = changed_arguments(classes, old, new, knob.default, knob.probe)
                assert changed is not None, "a knob's class call resolves as it was found"
                bound.update(((path, v.name), identifier(knob.name)) for v in changed)
                continue
            twin = ir.find(knob.traced, path)
            assert isinstance(twin, ir.Group)
            values = traced_arguments(classes[id(old)], old, twin, classes)
            assert values is not None, "a knob's class call resolves as it was found"
            bound.update(
                ((path, key), computed.text(value, path, key))
                for key, value in values.items()
                if reads_name(value, knob.name)
            )
    return bound
