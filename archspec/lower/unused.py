"""Definitions that no stage uses are checked too, as far as they can be without arguments.

Lowering checks a block where it is called, with its arguments; a block or projection
that is defined but never used would otherwise keep its mistakes until someone uses it.
Without arguments its values are unknown, so what is checked is what does not depend on
them: every layer or block it calls exists and is not a projection, every argument is
one the callee takes (by keyword or by position), and every name in its expressions is
a parameter, a `let` defined before it, ``in_channels`` or a copy's index ``i``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from archspec.frontend import syntax as s
from archspec.lower.arguments import match
from archspec.lower.copies import INDEX
from archspec.lower.evaluate import unknown_name
from archspec.lower.lowerer import Lowerer


def check_unused(lowerer: Lowerer, definitions: Iterable[s.Definition]) -> None:
    """Report the mistakes of every definition that lowering never instantiated."""
    for definition in definitions:
        if definition.name not in lowerer.instantiated:
            _check(lowerer, definition)


def _check(lowerer: Lowerer, definition: s.Definition) -> None:
    known: list[str] = ["in_channels", INDEX]  # a block's input channels; a copy's index
    for formal in definition.formals:
        _check_names(lowerer, formal.default, known)
        known.append(formal.name)
    for let in definition.lets:
        _check_names(lowerer, let.value, known)
        known.append(let.name)
    after = definition.after if isinstance(definition, s.BlockDef) else ()
    for item in _items(definition.body + after):
        _check_names(lowerer, item.repeat, known)
        _check_names(lowerer, item.condition, known)
        if isinstance(item.target, s.Call):
            _check_call(lowerer, item.target, known)


def _items(items: tuple[s.Item, ...]) -> Iterator[s.Item]:
    """Every item, inside groups too."""
    pending = list(items)
    while pending:
        item = pending.pop()
        yield item
        if isinstance(item.target, s.Group):
            pending.extend(item.target.items)
        elif isinstance(item.target, s.Branches):
            for branch in item.target.branches:
                pending.extend(branch if isinstance(branch, tuple) else ())


def _check_call(lowerer: Lowerer, call: s.Call, known: list[str]) -> None:
    for argument in call.arguments:
        _check_names(lowerer, argument.value, known)
    if call.name in known:  # a parameter holding a layer (`act=relu`): any layer will do
        return
    definition = lowerer.definitions.get(call.name)
    op = lowerer.ops.get(call.name)
    if op is not None:
        names, what = [a.name for a in op.ARGUMENTS], call.name
    elif isinstance(definition, s.BlockDef):
        names, what = [f.name for f in definition.formals], f"block {call.name}"
    elif isinstance(definition, s.ProjectionDef):
        lowerer.not_a_block(call)
        return
    else:
        lowerer.unknown(call)
        return
    match(lowerer, call, names, what)


def _check_names(lowerer: Lowerer, expr: s.Expr | None, known: list[str]) -> None:
    pending = [expr] if expr is not None else []
    while pending:
        node = pending.pop()
        if isinstance(node, s.Name) and node.name not in known and node.name not in lowerer.layers:
            problem = unknown_name(node, known)
            lowerer.error(problem.code, problem.message, problem.span, problem.help)
        pending += s.operands(node)
