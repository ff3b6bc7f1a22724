"""The copies of a repeated item know their index: ``i`` in its expressions.

``mbconv(c, p=0.2 * i / 16) x 4`` gives each copy its own arguments, as references
that vary a setting along a stage or the network do (stochastic depth rising with the
block's index). ``i`` counts from 0, as ``{i}`` in a names template; a parameter,
argument or ``let`` of that name keeps it, except one a repeat around bound (the inner
repeat's copy wins). Blocks called by a copy see only their arguments, as always.
"""

from __future__ import annotations

from archspec.frontend import syntax as s
from archspec.lower.arguments import Scope

INDEX = "i"


class CopyScope(dict[str, s.Value]):
    """A scope in which a repeat bound ``i``: a repeat inside it binds its own."""


def copy_scopes(item: s.Item, scope: Scope, times: int) -> list[Scope]:
    """The scope of each copy of a repeated item: ``scope`` itself for every copy where
    the item's expressions never name ``i`` (identical copies stay one node, built once)."""
    if item.repeat is None or (INDEX in scope and not isinstance(scope, CopyScope)):
        return [scope] * times
    if not _names_index(item):
        return [scope] * times
    return [CopyScope({**scope, INDEX: index}) for index in range(times)]


def _names_index(item: s.Item) -> bool:
    expressions: list[s.Expr | None] = []
    pending: list[s.Item] = []
    target = item.target
    if isinstance(target, s.Call):
        expressions += [argument.value for argument in target.arguments]
    elif isinstance(target, s.Group):
        pending += target.items
    else:
        pending += [i for branch in target.branches if isinstance(branch, tuple) for i in branch]
    for inner in pending:
        expressions += [inner.repeat, inner.stride, inner.condition]
        if _names_index(inner):
            return True
    stack = [e for e in expressions if e is not None]
    while stack:
        expr = stack.pop()
        if isinstance(expr, s.Name) and expr.name == INDEX:
            return True
        stack += s.operands(expr)
    return False
