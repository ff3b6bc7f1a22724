"""What several depths make of one expression, joined (``codegen.indexed``).

DenseNet's second transition takes ``((init + b1 * growth) // 2 + b2 * growth) // 2``
channels: found one count at a time, ``b1`` changes one constant of it and ``b2``
another, and the template of the third block's loop holds both too. Each field and each
template is joined from every count's expression (``generalise.merged``), and the spec
compiled with every count one larger must be what the joined expressions give there.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from archspec import ir, symbolic, terms
from archspec.codegen.classes import join
from archspec.codegen.generalise import merged
from archspec.codegen.numbers import (
    Looped,
    Numbers,
    copies_of,
    layer_numbers,
    number_at,
    numbers_at,
    numbers_of,
    plain_numbers,
    with_numbers,
)
from archspec.terms import Term

if TYPE_CHECKING:
    from archspec.codegen.switches import Compile


def joined_fields(
    changes: list[dict[tuple[str, str], Term]], network: ir.Network
) -> dict[tuple[str, str], Term] | None:
    """Each field some count's expressions change, with what all of them make of it."""
    joined: dict[tuple[str, str], Term] = {}
    for key in dict.fromkeys(k for fields in changes for k in fields):
        base = symbolic.as_term(number_at(network, *key))
        term = merged(base, [fields[key] for fields in changes if key in fields])
        if term is None:
            return None
        joined[key] = term
    return joined


def joined_run(
    run: Looped, network: ir.Network, joined: dict[tuple[str, str], Term]
) -> Looped | None:
    """The run with the template's fields joined with what other counts make of its last
    copy's (a dense block after another: ``(init + b1 * growth) // 2 + i * growth``)."""
    last = copies_of(network, run.path)[-1]
    at = join(run.path, last.name)
    values: Numbers = {}
    pairs = zip(numbers_of(run.template), numbers_of(last.node), strict=True)
    for (path, key, value), (_, _, own) in pairs:
        others = [] if key.startswith(":") else [joined.get((join(at, path), key))]
        variants = [symbolic.as_term(value), *(o for o in others if o is not None)]
        term = merged(symbolic.as_term(own), variants)
        if term is None:
            return None
        values[(path, key)] = symbolic.traced(symbolic.plain(value), term)
    return dataclasses.replace(run, template=with_numbers(run.template, values))


def jointly_exact(
    larger: dict[str, int | float],
    network: ir.Network,
    joined: dict[tuple[str, str], Term],
    looped: dict[str, Looped],
    compile_with: Compile,
) -> bool:
    """Whether the spec compiled with every depth larger (at ``larger``: a count one
    larger, ``Counted.joint``) is what the joined expressions and templates give there
    (a first copy written apart, as its fields)."""
    arch = compile_with(dict(larger))
    if arch is None:
        return False
    values = arch.arguments
    apart = []
    for path, run in looped.items():
        for index, copy in enumerate(copies_of(arch.network, path)):
            if index == 0 and not run.first_alike:
                apart.append(f"{join(path, copy.name)}.")
                continue
            fixed = {**values, symbolic.INDEX: index}
            if numbers_at(run.template, fixed) != plain_numbers(copy.node):
                return False
    inside = tuple(f"{path}." for path in looped)
    for (path, key), number in layer_numbers(network):
        if path.startswith(inside) and not f"{path}.".startswith(tuple(apart)):
            continue
        term = joined.get((path, key), symbolic.term_of(number))
        expected = number if term is None else terms.computed(term, values)  # type: ignore[arg-type]
        if expected is None or expected != number_at(arch.network, path, key):
            return False
    return True
