"""A number whose one comparison decides what the network holds, as a keyword.

``drop=dropout(p) if p > 0`` with ``p: 0.0``: at 0.0 the network has no dropout, at 0.3
it has one that reads ``p``. The class writes ``*((nn.Dropout(p=p),) if p > 0 else
())``, so ``Net(p=0.3)`` is the spec compiled at 0.3 and ``Net()`` the one at 0.0. The
rule is a truth value's (``codegen.switches``) with the comparison in its stead, and
what makes the comparison exact is read off traced numbers (``archspec.symbolic``):
lowered at the default, the spec records exactly one comparison that reads the
parameter, that one reads no other, and no other decision reads it; lowered at a value
where that comparison fails, it records the negation and nothing else over the
parameter. Lowering then takes one of two paths at any value, each building one
structure, and the switch rule shows the file builds both.

Only the layers the comparison adds (or, where it holds at the default, takes away)
may read the parameter: a member both sides hold must be equal at both. Each field
that reads it is written with its expression: an added layer's as a truth value's are,
the network's own where the network class builds the layer itself, outside the runs a
depth keyword counts (their later copies are written once, as literals). A comparison
adds no member inside a block: a block class takes a truth value
(``codegen.optional``), and the parameter is left out.

The other value comes from the comparison: each constant it compares with (``0`` in
``p > 0``), one more and one less, a half more and less, the default one larger and
twice as large, then the same around the default; the first of those where the
comparison fails, whole for a whole parameter. The spec is compiled at no more than
three of them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING

from archspec import ir, symbolic, terms
from archspec.codegen.classes import network_level
from archspec.codegen.knobs import Knob
from archspec.codegen.switches import Compile, counted_around, switch_knob
from archspec.terms import Term

if TYPE_CHECKING:
    from archspec.architecture import Architecture

OFFSETS = (0, 1, -1, 0.5, -0.5)
"""Where the other value is looked for, around each constant the comparison reads."""
TRIES = 3
"""The most values the spec is compiled at before the parameter is left out."""


def comparison_knob(
    name: str,
    value: int | float,
    arch: Architecture,
    knobs: tuple[Knob, ...],
    compile_with: Compile,
) -> Knob | None:
    """``name`` as a switch its one comparison decides (the module docstring); None
    where it is not one."""
    traced = arch.traced
    if traced is None or name in traced.decided:
        return None
    guards = traced.guarded(name)
    if len(guards) != 1 or guards[0].reads != {name}:
        return None
    guard = guards[0]
    for flipped in itertools.islice(other_values(guard, name, value), TRIES):
        probe = compile_with({name: flipped})
        if probe is not None:
            if not negated(probe, guard, name):
                return None
            switch = switch_knob(name, value, arch, probe, knobs, compile_with, guard)
            return None if switch is None else with_places(switch, arch, knobs)
    return None


def checked_alone(knob: Knob) -> bool:
    """Whether the class checks one comparison of ``knob`` and nothing else
    (``codegen.formulas``): a switch in the making, where the other side builds."""
    return len(knob.guards) == 1 and knob.guards[0].reads == {knob.name}


def other_values(guard: Term, name: str, value: int | float) -> Iterator[int | float]:
    """Values of the parameter where ``guard`` fails, nearest the constants it reads
    first; whole for a whole parameter."""
    seen = {value}
    for constant in [*constants(guard), value]:
        for candidate in [*(constant + offset for offset in OFFSETS), value + 1, 2 * value]:
            if type(value) is int and candidate != int(candidate):
                continue
            candidate = type(value)(candidate)
            if candidate in seen:
                continue
            seen.add(candidate)
            try:
                fails = not terms.value_at(guard, {name: candidate})
            except (ArithmeticError, TypeError, ValueError):  # (-1) ** 0.5 is complex
                continue
            if fails:
                yield candidate


def constants(term: Term) -> Iterator[int | float]:
    if term.kind == "const" and type(term.value) is not bool:
        yield term.value
    for operand in term.operands:
        yield from constants(operand)


def negated(probe: Architecture, guard: Term, name: str) -> bool:
    """Whether the spec at the other value records the comparison's negation alone over
    the parameter, and pins it nowhere."""
    traced = probe.traced
    if traced is None or name in traced.decided:
        return False
    other = dataclasses.replace(guard, kind=terms.NEGATED[guard.kind])
    return traced.guarded(name) == (other,)


def with_places(switch: Knob, arch: Architecture, knobs: tuple[Knob, ...]) -> Knob | None:
    """The switch with the network's own fields that read it, written with their
    expressions; None where a field outside the layers the network class builds, or in
    a run a depth keyword counts, reads it."""
    traced = arch.traced
    assert traced is not None, "checked by comparison_knob()"
    own = network_level(arch.network)
    depths = [k for k in knobs if k.groups]
    places = set()
    for place in ir.walk(traced.network):
        if not isinstance(place.node, ir.Layer):
            continue
        for op_field in fields(place.node.op):
            term = symbolic.term_of(getattr(place.node.op, op_field.name))
            if term is None or switch.name not in term.reads:
                continue
            around = counted_around(arch.network, place.path, None, depths)
            inside = any(offset < run.size * run.count for run, offset in around)
            if place.path not in own or inside or not terms.renderable(term):
                return None
            places.add((place.path, op_field.name))
    if not places:
        return switch
    return dataclasses.replace(switch, places=frozenset(places), traced=traced.network)
