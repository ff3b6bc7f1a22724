"""Expressions read off several compiles: what a constant that grows with a count stands for.

Each DenseNet layer adds ``growth`` channels. Lowered on traced numbers, the fourth layer
of a block takes ``init + 3 * growth`` channels and the transition after six layers
``init + 6 * growth``: the copy's index, and the block's count, are numbers there.
``generalised`` finds, from the expressions at consecutive values of such a variable,
the one expression in it whose value at each is each: parts they share kept, a whole
constant that grows by a whole step a multiple of the variable plus a constant
(``init + i * growth``). ``agrees`` checks a candidate against an expression at the
spec's values and at others; ``merged`` joins what several counts made of one
expression (a transition after two blocks reads both counts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from archspec import terms
from archspec.terms import Number, Term


def generalised(found: list[Term], variable: str, start: int) -> Term | None:
    """The expression in ``variable`` that is ``found[k]`` at ``start + k`` (see the
    module docstring); None where they differ otherwise."""
    first = found[0]
    if all(term == first for term in found):
        return first
    if all(t.kind == "const" and type(t.value) is int for t in found):
        step = int(found[1].value - first.value)
        offset = int(first.value) - step * start
        if any(t.value != offset + step * (start + k) for k, t in enumerate(found)):
            return None
        scaled = terms.simplified("*", terms.constant(step), terms.name(variable), whole=True)
        return terms.simplified("+", scaled, terms.constant(offset), whole=True)
    if len({node_of(t) for t in found}) != 1 or not first.operands:
        return None
    operands = []
    for column in zip(*(t.operands for t in found), strict=True):
        operand = generalised(list(column), variable, start)
        if operand is None:
            return None
        operands.append(operand)
    return dataclasses.replace(first, operands=tuple(operands))


def node_of(term: Term) -> tuple[object, ...]:
    """A term's own node, its operands aside."""
    return term.kind, term.name, term.value, term.spelling, len(term.operands)


def agrees(
    candidate: Term, expression: Term, values: Mapping[str, object], fixed: Mapping[str, Number]
) -> bool:
    """Whether ``candidate`` is ``expression``, both with ``fixed``, at the spec's
    ``values`` and at others (each whole number doubled plus 3, each rate half again
    plus a quarter)."""
    for at in (values, perturbed(values)):
        given: dict[str, Number] = {**at, **fixed}  # type: ignore[dict-item]
        found = [terms.computed(term, given) for term in (candidate, expression)]
        if found[0] != found[1] or type(found[0]) is not type(found[1]):
            return False
    return True


def perturbed(values: Mapping[str, object]) -> dict[str, object]:
    moved: dict[str, object] = {}
    for name, value in values.items():
        if type(value) is int:
            moved[name] = 2 * value + 3
        elif type(value) is float:
            moved[name] = 1.5 * value + 0.25
        else:
            moved[name] = value
    return moved


def merged(base: Term, variants: list[Term]) -> Term | None:
    """One expression holding what each variant changed in ``base`` (each replaced parts
    of it: a constant with a count); None where two replaced one part differently."""
    changed = list(dict.fromkeys(v for v in variants if v != base))
    if not changed:
        return base
    if any(node_of(v) != node_of(base) for v in changed) or not base.operands:
        return changed[0] if len(changed) == 1 else None
    operands = []
    for k, operand in enumerate(base.operands):
        inner = merged(operand, [v.operands[k] for v in changed])
        if inner is None:
            return None
        operands.append(inner)
    return dataclasses.replace(base, operands=tuple(operands))
