"""How the network class writes what its keywords compute (``codegen.formulas``): an
expression in place, or a local of the constructor named after the field that holds it,
laid out as ``ruff format`` lays it out; the comparisons its structure was chosen by,
checked first (``check_structure``); the bindings of every keyword, in network order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields

from archspec import ir, symbolic, terms
from archspec.codegen import pysource as py
from archspec.codegen.classes import BlockClass, join
from archspec.codegen.escape import identifier, literal
from archspec.codegen.formulas import (
    reads_any,
    reads_name,
    takes_every_change,
    traced_arguments,
)
from archspec.codegen.knobs import Knob, changed_arguments
from archspec.lower.names import NETWORK_CONSTRUCTOR_LOCALS, shadows_emitted_code
from archspec.terms import Term

INLINE = 48
"""The longest expression written in place, as an argument: one line of the laid-out
call at any depth (``codegen.pysource``). A longer one is a local of the constructor."""
LOOPED_INLINE = INLINE - 2 * len(py.INDENT)
"""The same inside a loop's copy, which the loop and a named copy's tuple nest deeper."""
ALIAS_GAIN = 4
"""The fewest characters a local's alias in a loop must save: else it is only a name."""
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
        self.spelled = {k.name: identifier(k.name) for k in knobs}
        self.values = dict(network.parameters)
        self.taken = taken | set(self.spelled.values())
        self.named: dict[Term, str] = {}
        self.lines: list[str] = []
        self.parts = itertools.count(1)  # short names of the parts of long expressions
        self.used: set[str] = set()
        """The functions the expressions call, as spelled (``math.ceil``)."""
        self.holders: dict[Term, tuple[str, ...]] = {}
        """Each term a field of the traced network holds, by the first such field's name."""
        networks = {id(k.traced): k.traced for k in knobs if k.traced is not None}
        for place in (p for network in networks.values() for p in ir.walk(network)):
            if isinstance(place.node, ir.Layer):
                for op_field in fields(place.node.op):
                    term = symbolic.term_of(getattr(place.node.op, op_field.name))
                    if term is not None and term.kind not in ("name", "const"):
                        self.holders.setdefault(term, hint(place.path, op_field.name))

    def text(self, value: object, path: str, key: str, inline: int = INLINE) -> py.Expr:
        """A traced value as Python, written in place or as a local."""
        term = symbolic.term_of(value)
        if term is None:
            return literal(value)  # type: ignore[arg-type]
        if len(self.render(term)) <= inline:
            return self.expression(term)
        return self.local(term, hint(path, key))

    def expression(self, term: Term) -> py.Expr:
        """The term in place; a call as a call, which the layout splits where it is deep
        (RegNet's ``make_divisible(776, min(group_width, 776))``, 52 columns in)."""
        written_whole = term in self.named or not term.reads & self.spelled.keys()  # a value
        if not term.spelling or written_whole:
            return self.render(term)
        return py.call(term.spelling, *(self.expression(o) for o in term.operands))

    def render(self, term: Term, index: bool = False) -> str:
        spelled = {**self.spelled, symbolic.INDEX: py.COPY_INDEX} if index else self.spelled
        return terms.render(term, spelled, self.values, literal, self.named, self.used)  # type: ignore[arg-type]

    def looped(self, value: object, path: str, key: str, loop: str) -> py.Expr:
        """A field of a copy written in the loop over its index ``i`` at path ``loop``
        (``codegen.indexed``): where it reads ``i``, in place, a side of a division that
        does not and computes with a computed value a local before the loop
        (``p_denominator = d1 + d2 - 1``); where it is still longer than a loop's copy
        has room for at any depth, its largest part that does not read ``i`` a local
        named after the loop (``denseblock3_in_channels``)."""
        term = symbolic.term_of(value)
        if term is None or symbolic.INDEX not in term.reads:
            return self.text(value, path, key, LOOPED_INLINE)
        parts = invariant_parts(term, "")
        for part, role in parts:
            computes = any(operand.operands for operand in part.operands)
            if role and computes and part not in self.named:
                self.local(part, (f"{key}_{role}",))
        spelled = self.render(term, index=True)
        if len(spelled) > LOOPED_INLINE:
            computing = [p for p, _ in parts if p.operands or p in self.named]  # no keyword
            largest = max(computing, key=lambda p: len(self.render(p)), default=None)
            hints = (*loop_hint(loop, key), f"{key}_base")
            gain = len(self.render(largest)) - len(hints[0]) if largest else 0
            fits = len(spelled) - gain <= LOOPED_INLINE and gain >= ALIAS_GAIN
            if largest is not None and (largest not in self.named or fits):
                name = self.fresh(hints)  # a local's alias only where that makes it fit
                self.lines.append(f"{2 * py.INDENT}{name} = {self.render(largest)}")
                self.named[largest] = name
                spelled = self.render(term, index=True)
        return spelled

    def counts(self, knobs: tuple[Knob, ...], check: str) -> dict[str, str]:
        """A local for each count a keyword computes, checked as a spec checks a count
        (``n2 = check_depth("n2", math.ceil(2 * depth_mult))``), by the count's name,
        written with the counts before it (RegNet's ``n4 = check_depth("n4", depth - n1 -
        n2 - n3)``); every expression holding its term reads the local (``p = sd * (n1
        + i) / ...``). One too long for the call is computed first."""
        found = {}
        for count, term in (pair for knob in knobs for pair in knob.counts):
            earlier = self.named.pop(term, None)  # an equal count: written as itself
            name = self.fresh((identifier(count),))
            if len(self.render(term)) > GUARD_LINE:
                value: py.Expr = self.local(term, (f"{name}_computed",))
            else:
                value = self.expression(term)
            self.lines += py.lay_out(py.call(check, literal(count), value), 2, prefix=f"{name} = ")
            self.named[term] = earlier or name
            found[count] = name
        return found

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
        if term.spelling:
            arguments = []
            for operand in term.operands:
                text = self.render(operand)
                long = len(text) > GUARD_LINE  # too long for its own line of the call
                arguments.append(self.local(operand, (f"{name}_argument",)) if long else text)
            return py.lay_out(py.call(term.spelling, *arguments), 2, prefix=f"{name} = ")
        while len(spelled) > LINE - len(name):
            parts = [o for o in term.operands if o not in self.named and o.operands]
            if not parts:  # parameters' names alone: as ruff writes it at 88 (not always 100)
                return [f"{indent}{name} = (", f"{indent}{py.INDENT}{spelled}", f"{indent})"]
            longest = max(parts, key=lambda part: len(self.render(part)))
            room = LINE - len(name) - len(spelled) + len(self.render(longest))
            # named after this local where that leaves the line short enough; else short:
            # a line of two names between 88 and 100 columns has no layout ruff keeps at both
            part = f"{name}_part" if len(name) + 5 <= room else f"part{next(self.parts)}"
            self.local(longest, (part,))
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


def loop_hint(loop: str, key: str) -> tuple[str, ...]:
    """Names for a local of a loop at path ``loop``: its group's name and the field."""
    last = loop.rsplit(".", 1)[-1].replace("-", "_")
    return (identifier(f"{last}_{key}"),) if last[:1].isalpha() else hint(loop, key)


def invariant_parts(term: Term, role: str) -> list[tuple[Term, str]]:
    """The largest parts of a term that reads the index ``i`` that do not, each with its
    role: the ``numerator`` or ``denominator`` of a division, else ''."""
    if symbolic.INDEX not in term.reads:
        return [(term, role)]
    divided = term.kind in ("/", "//")
    return [
        found
        for k, operand in enumerate(term.operands)
        for found in invariant_parts(operand, ("numerator", "denominator")[k] if divided else "")
    ]


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
    sets: its name, or the expression the spec computes it by (one expression where
    several set it: they share one traced network, ``indexed.sharing_expressions``),
    rendered once, in the network's order (the locals are made in it). A class call's
    arguments are named as this file's classes name them, found again as the keyword was
    found (``codegen.knobs``)."""
    order = {place.path: index for index, place in enumerate(ir.walk(network))}
    found: dict[tuple[str, str], object] = {}  # a name as written, or a traced value
    looped = looped_copies(network, knobs)
    for knob in knobs:
        for path, key in knob.places:
            if in_loop(path, looped):
                continue
            if knob.traced is None:
                found[(path, key)] = Spelled(identifier(knob.name))
                continue
            layer = ir.find(knob.traced, path)
            assert isinstance(layer, ir.Layer)
            found[(path, key)] = getattr(layer.op, key)
        for path, _ in knob.calls:
            if in_loop(path, looped):
                continue
            arguments = call_arguments(network, knob, path, classes)
            assert arguments is not None, "a keyword's class call takes it (calls_resolve)"
            found.update(((path, key), value) for key, value in arguments.items())
    bound: dict[tuple[str, str], py.Expr] = {}
    for (path, key), value in sorted(
        found.items(), key=lambda item: (order[item[0][0]], item[0][1])
    ):
        spelled = value.text if isinstance(value, Spelled) else None
        bound[(path, key)] = spelled or computed.text(value, path, key)
    for path, (node, template, loop) in looped.items():
        if template is not None:
            bound.update(template_bindings(path, node, template, classes, computed, loop))
    return bound


def calls_resolve(
    network: ir.Network, knob: Knob, knobs: tuple[Knob, ...], classes: dict[int, BlockClass]
) -> bool:
    """Whether each class call outside the loops that a keyword sets arguments of takes
    it (``call_arguments``): the emitted classes join the probes of every keyword, and two
    fields equal at each of them may still be computed apart."""
    looped = looped_copies(network, knobs)
    return all(
        call_arguments(network, knob, path, classes) is not None
        for path, _ in knob.calls
        if not in_loop(path, looped)
    )


def call_arguments(
    network: ir.Network, knob: Knob, path: str, classes: dict[int, BlockClass]
) -> dict[str, object] | None:
    """The arguments a keyword sets in one class call, by name: its name where it was
    found by values (those that change at its probe), else the traced values that read it,
    one expression per argument (``formulas.same_expression``) with every field that reads
    it among them; None where the class does not take it so."""
    old = ir.find(network, path)
    assert isinstance(old, ir.Group)
    if knob.traced is None:
        assert knob.probed is not None
        new = ir.find(knob.probed, path)
        assert isinstance(new, ir.Group)
        changed = changed_arguments(classes, old, new, knob.default, knob.probe)
        spelled = Spelled(identifier(knob.name))
        return None if changed is None else {variable.name: spelled for variable in changed}
    twin = ir.find(knob.traced, path)
    assert isinstance(twin, ir.Group)
    reading = frozenset((knob.name,))
    cls = classes[id(old)]
    values = traced_arguments(cls, old, twin, classes, reading)
    if values is None or not takes_every_change(cls, old, twin, classes, reading):
        return None
    return {key: value for key, value in values.items() if reads_name(value, knob.name)}


@dataclass(frozen=True)
class Spelled:
    """A binding written as it is: a keyword's name."""

    text: str


Copies = dict[str, tuple[ir.Node, ir.Node | None, str]]
"""The copies of loops by path: the node, its template (None: not written), the loop."""


def looped_copies(network: ir.Network, knobs: tuple[Knob, ...]) -> Copies:
    """The copies of the runs written as loops (``codegen.indexed``), by path, each with
    the template the class writes it from: the last copy, and the first where it is
    alike; None for the others, which the class does not write; a lone copy's later
    copy (``Knob.later``) from the template too."""
    found: Copies = {}
    lone = {path: copy[0] for k in knobs if k.looped for path, _, copy in k.later}
    for run in (run for knob in knobs for run in knob.looped):
        group = ir.find_group(network, run.path)
        assert group is not None, "a looped run's group"
        members = group.members
        for position, member in enumerate(members):
            if position == 0 and not run.first_alike:
                continue  # written apart, as the network's other members
            template = run.template if position in (0, len(members) - 1) else None
            found[join(run.path, member.name)] = (member.node, template, run.path)
        if run.path in lone:
            copy = lone[run.path]
            found[join(run.path, copy.name)] = (copy.node, run.template, run.path)
    return found


def in_loop(path: str, looped: Copies) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:end]) in looped for end in range(1, len(parts) + 1))


def template_bindings(
    path: str,
    node: ir.Node,
    template: ir.Node,
    classes: dict[int, BlockClass],
    computed: Locals,
    loop: str,
) -> dict[tuple[str, str], py.Expr]:
    """How a copy in a loop is written: each field, or class argument, that reads a keyword
    or the index ``i``, from the template's expression (``Locals.looped``)."""
    bound: dict[tuple[str, str], py.Expr] = {}
    reading = frozenset({*computed.spelled, symbolic.INDEX})
    values: dict[str, object]
    if isinstance(node, ir.Layer):
        assert isinstance(template, ir.Layer)
        values = {f.name: getattr(template.op, f.name) for f in fields(template.op)}
    elif id(node) in classes:
        assert isinstance(node, ir.Group) and isinstance(template, ir.Group)
        found = traced_arguments(classes[id(node)], node, template, classes, reading)
        assert found is not None, "the copies' keywords are one class's arguments"
        values = found
    else:
        assert isinstance(node, ir.Group) and isinstance(template, ir.Group)
        for member, twin in zip(node.members, template.members, strict=True):
            inner = join(path, member.name)
            bound.update(template_bindings(inner, member.node, twin.node, classes, computed, loop))
        return bound
    for key, value in values.items():
        if reads_any(value, reading):
            bound[(path, key)] = computed.looped(value, path, key, loop)
    return bound
