"""Depths computed from parameters, as keywords: the class computes each count.

EfficientNet scales its stage depths by one number, ``let n2 = ceil(2 * depth_mult)``;
RegNet computes its four from four, ``n1 = min(depth, ceil(w0 * (wm ** 0.5 - 1) /
wa))``. torchvision's classes take those numbers, so the emitted one does too: it binds
each count, checked as a spec checks a count (``n2 = check_depth("n2", math.ceil(2 *
depth_mult))``), and writes each run as a loop (``codegen.indexed``).

The rule has no guess in it. Lowered on traced numbers, each count a ``let`` of the
network's scope is written as records its term (``Traced.counts``). The parameters the
counts read together are a family: each must decide nothing but counts (``Traced.
counted``), none may be a count of its own, and every one must be a keyword candidate.
The spec is compiled at other values of the family, found by computing the counts (no
compile) at up to seven values of each parameter (``rated_points``): the nearest where
a count grows, then, for each run with fewer than four copies so far (a template is
read off the third on), the nearest where it has four. The runs are checked as a
depth's (``loops.checked_runs``, each cut to the fewest copies any network holds) and
every number outside them must hold the same expression at every value (it reads the
counts already). The family's first parameter in the spec's order
owns the loops; the others are keywords that go with it (RegNet's ``w0``, a width too).

A run of one copy at the default (EfficientNet-B0's first stage) shows no later copy:
the larger network's second stands for them, written from the loop's template, its
class resolved from the larger networks and from the spec compiled with every keyword at
its probe (``with_lone_copies``), where what a keyword changes in it shows.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING

from archspec import ir, terms
from archspec.codegen.knobs import Knob
from archspec.codegen.loops import Counted, checked_runs, lone_copies, run_groups, same_expressions
from archspec.terms import Term

if TYPE_CHECKING:
    from archspec.architecture import Architecture, Traced
    from archspec.codegen.switches import Compile

FEWEST = 4
"""Copies each run must hold at the larger probe: a template is read off the third on."""
MOST = 2_000
"""The most copies in all at a probe: each probe is compiled three times."""
POINTS = 2_401
"""The most values of a family tried: seven of each of four parameters, fewer of more."""
TRIES = 4
"""The values tried for each probe, nearest first, until the spec compiles at one."""


def computed_depths(
    candidates: list[tuple[str, int | float]], arch: Architecture, compile_with: Compile
) -> tuple[list[Counted], set[str]]:
    """The depths this rule finds among ``candidates``, and every parameter a computed
    count reads (a depth by this rule or by none: not by ``indexed.counted``)."""
    traced = arch.traced
    if traced is None:
        return [], set()
    order = [name for name, _ in candidates]
    found: list[Counted] = []
    taken: set[str] = set()
    for family, counts in families(traced):
        taken |= family
        if family <= set(order):
            names = sorted(family, key=order.index)
            found += family_counted(names, counts, arch, compile_with) or []
    return found, taken


def families(traced: Traced) -> list[tuple[frozenset[str], dict[str, Term]]]:
    """The computed counts grouped by the parameters they read together (transitively);
    a family one of whose parameters is a count of its own (``x n``) holds no counts."""
    computed = {c: t for c, t in traced.counts.items() if t.kind != "name" or t.name != c}
    groups: list[tuple[frozenset[str], dict[str, Term]]] = []
    for count, term in computed.items():
        joined = [g for g in groups if g[0] & term.reads]
        reads = frozenset(term.reads).union(*(g[0] for g in joined))
        counts = {k: v for g in joined for k, v in g[1].items()} | {count: term}
        groups = [g for g in groups if g not in joined] + [(reads, counts)]
    return [(f, {} if f & traced.counts.keys() else c) for f, c in groups]


def family_counted(
    names: list[str], counts: dict[str, Term], arch: Architecture, compile_with: Compile
) -> list[Counted] | None:
    """The family ``names`` (the first owning the loops) as depths by this rule; None
    where it is not."""
    groups = run_groups(arch.network, set(counts), 1)
    if not counts or groups is None:
        return None
    defaults = {run.parameter: run.count for run in runs_at(arch.network, groups)}
    if defaults.keys() != counts.keys():  # a count of a run in a class, or of no run
        return None
    probes = probed(rated_points(arch.arguments, names, counts), defaults, compile_with)
    if not probes:
        return None
    points, others = [point for point, _ in probes], [other for _, other in probes]
    checked = checked_runs(set(names), groups, [arch, *others])
    later = lone_copies(groups, arch.network, [c.network for c in others])
    if checked is None or later is None or not same_expressions(checked[0]):
        return None
    found = []
    for name in names:
        value = arch.arguments[name]
        assert isinstance(value, int | float), "a count's parameter is a number"
        found.append(Counted(name, value, (), {}, points[-1][name], None, {}))
    owner = dataclasses.replace(  # probed where every run is deepest: lone copies show
        found[0],
        looped=checked[1],
        probed=others[-1].network,
        joint=points[0],
        computed=tuple(counts.items()),
        later=later,
        resolving=tuple(c.network for c in others) if later else (),
    )
    return [owner, *(dataclasses.replace(c, owner=names[0]) for c in found[1:])]


def runs_at(network: ir.Network, groups: list[str]) -> list[ir.Repeat]:
    found = (ir.find_group(network, path) for path in groups)
    return [group.repeats[0] for group in found if group is not None]


Rated = tuple[int, dict[str, int], dict[str, int | float]]
"""A value of a family: the copies in all, each count, and the parameters' values."""


def rated_points(
    arguments: dict[str, ir.Scalar], names: list[str], counts: dict[str, Term]
) -> list[Rated]:
    """The values of the family the spec may be compiled at (the value, one larger,
    twice, half, four times, three larger and a quarter of each parameter, the first
    of these only where the family is large: at most ``POINTS`` in all) where every
    count is a whole number from 1, at most ``MOST`` copies in all; fewest copies
    first, then in the order tried."""
    kept = max(k for k in range(1, 8) if k ** len(names) <= POINTS or k == 1)
    steps = []
    for name in names:
        value = arguments[name]
        assert isinstance(value, int | float)
        half, quarter = (value // 2, value // 4) if type(value) is int else (value / 2, value / 4)
        tried = (value, value + 1, 2 * value, half, 4 * value, value + 3, quarter)
        steps.append(sorted(set(tried[:kept])))
    numbers = {name: v for name, v in arguments.items() if isinstance(v, int | float)}
    rated: list[Rated] = []
    for combination in itertools.product(*steps):
        point = dict(zip(names, combination, strict=True))
        values = {**numbers, **point}
        got = {c: terms.computed(term, values) for c, term in counts.items()}
        whole = {c: g for c, g in got.items() if type(g) is int and g >= 1}
        if len(whole) == len(got) and sum(whole.values()) <= MOST:
            rated.append((sum(whole.values()), whole, point))
    return sorted(rated, key=lambda rating: rating[0])  # stable: the order tried breaks ties


def probed(
    rated: list[Rated], defaults: dict[str, int], compile_with: Compile
) -> list[tuple[dict[str, int | float], Architecture]]:
    """The spec compiled at the nearest value where a count grows, then, for each run
    with fewer than ``FEWEST`` copies in those so far, at the nearest where it has that
    many; of each, the first of ``TRIES`` the spec compiles at. None where one is not
    (an empty list)."""
    chosen: list[tuple[Rated, Architecture]] = []

    def nearest(wanted: list[Rated]) -> bool:
        for rating in wanted[:TRIES]:
            if any(rating is r for r, _ in chosen):
                return True
            if (arch := compile_with(dict(rating[2]))) is not None:
                chosen.append((rating, arch))
                return True
        return False

    if not nearest([r for r in rated if r[0] > sum(defaults.values())]):
        return []
    for count in defaults:
        shallow = all(r[1][count] < FEWEST for r, _ in chosen)
        if shallow and not nearest([r for r in rated if r[1][count] >= FEWEST]):
            return []
    return [(rating[2], arch) for rating, arch in chosen]


def with_lone_copies(indexed: list[Knob], others: list[Knob], compile_with: Compile) -> list[Knob]:
    """``indexed`` with the spec compiled at every keyword's probe joining the networks a
    loop's lone copy's class is resolved from (``Knob.resolving``): only there do the
    copies after it exist where another keyword changed (a width), so that what every
    keyword changes in them is an argument of their class."""
    probes: dict[str, ir.Scalar] = {
        k.name: k.probe for k in [*others, *indexed] if k.probe is not None
    }
    lone = [k for k in indexed if k.resolving]
    everything = compile_with(probes) if lone else None
    extra = () if everything is None else (everything.network,)
    return [
        dataclasses.replace(k, resolving=k.resolving + extra) if k.resolving else k for k in indexed
    ]
