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
from typing import TYPE_CHECKING, Any

from archspec import ir, symbolic, terms
from archspec.codegen import pysource as py
from archspec.codegen.classes import BlockClass, built_shortcuts, is_class
from archspec.codegen.escape import identifier, literal
from archspec.codegen.knobs import Knob, changed_arguments, network_level
from archspec.codegen.resolve import Probe, block_classes
from archspec.lower.names import NETWORK_CONSTRUCTOR_LOCALS, shadows_emitted_code
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
    if name in trace.decided or not all(follows(g, name, True, True, at_probe) for g in guards):
        return None
    if len(guards) > MAX_GUARDS:
        return None
    traced = trace.network
    walks = [list(ir.walk(network)) for network in (base, probed, traced)]
    shapes = [[(p.path, type(p.node)) for p in walk] for walk in walks]
    if shapes[0] != shapes[1] or shapes[0] != shapes[2]:
        return None
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
                term = symbolic.term_of(arguments.get(variable.name))
                if not follows(term, name, was[variable], now[variable], at_probe):
                    return None
                if term is not None and name in term.parameters():
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
        term = symbolic.term_of(getattr(traced.op, op_field.name))
        was, now = getattr(base.op, op_field.name), getattr(probed.op, op_field.name)
        if not follows(term, name, was, now, at_probe):
            return None
        if term is not None and name in term.parameters():
            found.add((path, op_field.name))
    return found


def follows(
    term: Term | None, name: str, was: object, now: object, at_probe: dict[str, Any]
) -> bool:
    """Whether a field keeps its value where its expression does not read ``name``, and
    is its expression at the probe where it does (the same type too)."""
    if term is None or name not in term.parameters():
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
GUARD_LINE = py.WIDTH - len(3 * py.INDENT) - len(",")
"""Room for a comparison the class checks: the first argument of a laid-out call."""
CHECK_STRUCTURE = "check_structure"
"""The emitted check of a comparison a keyword's structure was chosen by
(``codegen.checks``)."""


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
        self.used: set[str] = set()
        """The functions the expressions call, as spelled (``math.ceil``)."""
        self.holders: dict[Term, tuple[str, ...]] = {}
        """Each term a field of the traced network holds, by the first such field's name."""
        for place in ir.walk(traced) if traced is not None else ():
            if isinstance(place.node, ir.Layer):
                for op_field in fields(place.node.op):
                    term = symbolic.term_of(getattr(place.node.op, op_field.name))
                    if term is not None and term.kind not in ("name", "const"):
                        self.holders.setdefault(term, hint(place.path, op_field.name))

    def text(self, value: object, path: str, key: str) -> py.Expr:
        """A traced value as Python, written in place or as a local."""
        term = symbolic.term_of(value)
        if term is None:
            return literal(value)  # type: ignore[arg-type]
        if len(self.render(term)) <= INLINE:
            return self.expression(term)
        return self.local(term, hint(path, key))

    def expression(self, term: Term) -> py.Expr:
        """The term in place; a call as a call, which the layout splits where it is deep
        (``make_divisible(\n    776,\n    min(group_width, 776),\n)``)."""
        written_whole = term in self.named or not term.reads & self.spelled.keys()  # a value
        if term.kind not in terms.SPELLED or written_whole:
            return self.render(term)
        return py.call(terms.SPELLED[term.kind], *(self.expression(o) for o in term.operands))

    def render(self, term: Term) -> str:
        return terms.render(term, self.spelled, self.values, literal, self.named, self.used)  # type: ignore[arg-type]

    def local(self, term: Term, name_hints: tuple[str, ...]) -> str:
        if term in self.named:
            return self.named[term]
        name = self.fresh(self.holders.get(term, name_hints))
        lines = self.assignment(name, term)
        self.named[term] = name
        self.lines += lines
        return name

    def assignment(self, name: str, term: Term) -> list[str]:
        """``name = <term>`` in the constructor. Where one line is not enough, a call's
        arguments go one a line (a magic trailing comma keeps them so at any line length),
        an argument too long for its line a local; an operator's longest operand is a
        local until the line fits. Only names and values left, it is put in parentheses,
        as ruff formats it."""
        indent = 2 * py.INDENT
        spelled = self.render(term)
        if len(spelled) <= LINE - len(name):
            return [f"{indent}{name} = {spelled}"]
        if term.kind in terms.SPELLED:
            arguments = [
                self.local(o, (f"{name}_argument",)) if len(self.render(o)) > GUARD_LINE else ""
                for o in term.operands
            ]
            texts = [
                text or self.render(o) for text, o in zip(arguments, term.operands, strict=True)
            ]
            call = py.call(terms.SPELLED[term.kind], *texts)
            return py.lay_out(call, 2, prefix=f"{name} = ")
        while len(spelled) > LINE - len(name):
            parts = [o for o in term.operands if o not in self.named and o.operands]
            if not parts:
                return [f"{indent}{name} = (", f"{indent}{py.INDENT}{spelled}", f"{indent})"]
            longest = max(parts, key=lambda part: len(self.render(part)))
            self.local(longest, (f"{name}_part",))
            spelled = self.render(term)
        return [f"{indent}{name} = {spelled}"]

    def guards(self, knobs: tuple[Knob, ...]) -> list[py.Bracket]:
        """The class's checks of the comparisons its keywords' structure was chosen by,
        each once: ``check_structure(make_divisible(16 * w, 8) != 32, w=w)``; a side too
        long for the line is a local."""
        checks: list[py.Bracket] = []
        for guard in dict.fromkeys(g for knob in knobs for g in knob.guards):
            names = [self.spelled[k.name] for k in knobs if k.name in guard.reads]
            for side in guard.operands:
                if len(self.render(guard)) > GUARD_LINE and side.operands:
                    self.local(side, ("guard_operand",))
            if names:
                checks.append(py.call(CHECK_STRUCTURE, self.render(guard), **{n: n for n in names}))
        return checks

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
) -> dict[tuple[str, str], py.Expr]:
    """What the network class writes for each (path, field or class argument) a keyword
    sets: its name, or the expression the spec computes it by; in the network's order
    (the locals are made in it). A class call's arguments are named as this file's
    classes name them, found again as the keyword was found (``codegen.knobs``)."""
    order = {place.path: index for index, place in enumerate(ir.walk(network))}
    bound: dict[tuple[str, str], py.Expr] = {}
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
