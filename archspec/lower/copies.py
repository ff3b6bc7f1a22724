"""Repeated items: a sequence's items expanded, each copy's names and its index ``i``.

``mbconv(c, p=0.2 * i / 16) x 4`` gives each copy its own arguments, as references
that vary a setting along a stage or the network do (stochastic depth rising with the
block's index). ``i`` counts from 0, as ``{i}`` in a names template; a parameter,
argument or ``let`` of that name keeps it, except one a repeat around bound (the inner
repeat's copy wins). Blocks called by a copy see only their arguments, as always.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from archspec import ir, symbolic
from archspec.frontend import syntax as s
from archspec.lower.arguments import Scope
from archspec.lower.context import MAX_LAYERS, MAX_NESTING, Abort, Entry
from archspec.lower.names import refused_module_name

if TYPE_CHECKING:
    from archspec.lower.lowerer import Lowerer

INDEX = symbolic.INDEX


class CopyScope(dict[str, s.Value]):
    """A scope in which a repeat bound ``i``: a repeat inside it binds its own."""


def expand(
    lowerer: Lowerer, items: tuple[s.Item, ...], scope: Scope, depth: int = 0
) -> list[Entry]:
    """A sequence's items as entries: conditions applied, repeats expanded (each copy in
    its scope), unnamed groups spliced."""
    entries: list[Entry] = []
    layers = 0  # entries that are one layer each: a lower bound of what they will cost
    for item in items:
        if item.condition is not None and not lowerer.holds(item.condition, scope):
            continue
        if item.naming is not None and not item.name:
            lowerer.error(
                "E319",
                f"the names template '{item.naming}' names no module: its copies are unnamed",
                item.span,
                f'name the module that holds the copies: blocks=... as "{item.naming}"',
            )
            continue
        times = 1 if item.repeat is None else lowerer.count(item.repeat, scope, "a repeat count")
        stride = (
            None if item.stride is None else lowerer.count(item.stride, scope, "a stride", 4096)
        )
        if times is None or (item.stride is not None and stride is None):
            continue
        if item.stride is not None and isinstance(item.target, s.Group) and not item.name:
            lowerer.error(
                "E314",
                "a stride (`/2`) goes to the first copy of a layer or block, not of a group",
                item.stride.span,
                "name the group, or give the stride to its first item",
            )
            continue
        if times > lowerer.layers_left:
            lowerer.error("E313", f"repeating {times:,} times exceeds the size limit", item.span)
            raise Abort
        if isinstance(item.target, s.Group) and not item.name:
            if depth > MAX_NESTING:
                lowerer.error("E313", "groups are nested too deeply", item.span)
                continue
            copies = copy_scopes(item, scope, times)
            inner = expand(lowerer, item.target.items, copies[0], depth + 1)
            if len(inner) * times > lowerer.layers_left:
                lowerer.error(
                    "E313",
                    f"repeating {len(inner):,} items {times:,} times exceeds the size limit",
                    item.span,
                )
                raise Abort
            parameter, alike = lowerer.sole_depth(item, scope, copies)
            if parameter and inner and not any(e.run for e in inner):  # no run in a run
                run = repeat(item, parameter, len(inner), times, alike)
                entries.append(dataclasses.replace(inner[0], run=run))  # on its own entry
                entries.extend(inner[1:])
            else:
                entries.extend(inner)
            for copy in copies[1:]:
                same = copy is copies[0]
                entries.extend(
                    inner if same else expand(lowerer, item.target.items, copy, depth + 1)
                )
        elif item.name and item.repeat is not None:  # a submodule of the copies
            entries.append(Entry(item.name, item.target, item, scope, stride, times))
        else:
            if lowerer.is_layer(item.target, scope):
                layers += times
                too_many(lowerer, layers, item)  # before 100,000 copies are even listed
            scopes = copy_scopes(item, scope, times)
            parameter, alike = lowerer.sole_depth(item, scope, scopes)
            mark = repeat(item, parameter, 1, times, alike) if parameter else None
            entries.append(Entry(item.name, item.target, item, scopes[0], stride, run=mark))
            if times > 1 and scopes[1] is scopes[0]:  # identical copies: one entry, shared
                entries += [Entry(item.name, item.target, item, scopes[0])] * (times - 1)
            else:
                entries += [Entry(item.name, item.target, item, copy) for copy in scopes[1:]]
        too_many(lowerer, layers, item)
    return entries


def repeat(item: s.Item, parameter: str, size: int, count: int, alike: bool) -> ir.Repeat:
    """The run of ``item``'s ``count`` copies of ``size`` members, counted from its first."""
    reads = frozenset(names_read(target_expressions(item.target)))
    return ir.Repeat(parameter, 0, size, count, reads, item.naming or "", alike)


def too_many(lowerer: Lowerer, layers: int, item: s.Item) -> None:
    """E313 once the sequence holds more layers than the network may."""
    if layers > lowerer.layers_left:
        lowerer.error("E313", f"the network has more than {MAX_LAYERS:,} layers", item.span)
        raise Abort


def copy_scopes(item: s.Item, scope: Scope, times: int) -> list[Scope]:
    """The scope of each copy of a repeated item: ``scope`` itself for every copy where
    the item's expressions never name ``i`` (identical copies stay one node, built once)."""
    if item.repeat is None or (INDEX in scope and not isinstance(scope, CopyScope)):
        return [scope] * times
    if not _names_index(item):
        return [scope] * times
    return [CopyScope({**scope, INDEX: symbolic.copy_index(index)}) for index in range(times)]


def _names_index(item: s.Item) -> bool:
    """Whether a copy's own expressions (not the item's count, stride or condition, which
    the enclosing scope evaluates) read ``i``."""
    return INDEX in names_read(target_expressions(item.target))


def target_expressions(
    target: s.Call | s.Group | s.Branches,
    bare_arguments: bool = True,
    bare_counts: bool = True,
    arguments: bool = True,
) -> list[s.Expr]:
    """The expressions of a call's arguments or of the items inside a group or branches,
    with theirs: counts, strides, conditions, arguments (none without ``arguments``; one
    that is a bare name only if ``bare_arguments``; a count that is one only if
    ``bare_counts``)."""
    expressions: list[s.Expr | None] = []
    pending: list[s.Item] = []
    if isinstance(target, s.Call):
        expressions += [
            a.value
            for a in target.arguments
            if arguments and (bare_arguments or not isinstance(a.value, s.Name))
        ]
    elif isinstance(target, s.Group):
        pending += target.items
    else:
        pending += [i for branch in target.branches if isinstance(branch, tuple) for i in branch]
    for inner in pending:
        bare = isinstance(inner.repeat, s.Name) and not bare_counts
        expressions += [None if bare else inner.repeat, inner.stride, inner.condition]
        expressions += target_expressions(inner.target, bare_arguments, bare_counts, arguments)
    return [e for e in expressions if e is not None]


def names_read(expressions: list[s.Expr]) -> set[str]:
    """Every name the expressions read."""
    found: set[str] = set()
    stack = list(expressions)
    while stack:
        expr = stack.pop()
        if isinstance(expr, s.Name):
            found.add(expr.name)
        stack += s.operands(expr)
    return found


def copy_names(lowerer: Lowerer, entry: Entry) -> list[str] | None:
    """The copies' names: 0 .. n-1, or the ``as`` template's (``{i}`` counts from 0,
    ``{n}`` from 1): ``"denselayer{n}"``, ``"block1-{i}"``."""
    template = entry.item.naming
    if template is None:
        return [str(i) for i in range(entry.times)]
    if "{i}" not in template and "{n}" not in template:
        lowerer.error(
            "E319",
            f"the names template '{template}' has no {{i}} or {{n}}",
            entry.item.span,
            'e.g. as "denselayer{n}" (1, 2, ...) or as "block{i}" (0, 1, ...)',
        )
        return None
    names = [ir.copy_name(template, i) for i in range(entry.times)]
    for name in names:
        if reason := refused_module_name(name):
            lowerer.error("E311", f"'{name}' cannot name a module: {reason}", entry.item.span)
            return None
    return names
