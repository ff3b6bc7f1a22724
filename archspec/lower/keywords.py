"""Which spec parameters a keyword of the emitted class can stand for, read from the syntax.

A keyword is found by difference (``archspec.codegen.knobs``): the spec compiled with the
parameter one larger. One probe can be fooled (``fc(max(num_classes, 2))`` looks like
``fc(num_classes)`` at 10 and 11, not at 1), so lowering first records what the syntax
says: the parameters written as a whole stage depth and read nowhere else, and those
the network's own expressions read only as a whole argument or input size.
"""

from __future__ import annotations

from archspec.frontend import syntax as s
from archspec.lower.copies import names_read, target_expressions
from archspec.lower.inputs import input_names


def sole_depths(tree: s.SpecTree) -> frozenset[str]:
    """The parameters written as a whole stage depth (``x n``) and read by no other
    expression the network's scope evaluates: parameter defaults, ``let``s, stem, head,
    stage arguments, strides, other depths and the input shape. Blocks see only their
    arguments."""
    parameters = {formal.name for formal in tree.parameters}
    bare = {
        stage.depth.name
        for _, stage in tree.stages
        if stage is not None and isinstance(stage.depth, s.Name)
    }
    expressions = [f.default for f in tree.parameters if f.default is not None]
    expressions += [let.value for let in tree.lets]
    items = [*(tree.stem or ()), *(tree.head or ())]
    expressions += target_expressions(s.Group(tuple(items), tree.name.span))
    for _, stage in tree.stages:
        if stage is None:
            continue
        expressions += target_expressions(stage.call)
        expressions += [e for e in (stage.stride,) if e is not None]
        if stage.depth is not None and not isinstance(stage.depth, s.Name):
            expressions.append(stage.depth)
    read = names_read(expressions) | input_names(str(tree.input.value))
    return frozenset((bare & parameters) - read)


def whole_arguments(tree: s.SpecTree) -> frozenset[str]:
    """The parameters the network's own expressions read only as a whole argument
    (``fc(num_classes)``, ``conv(width, 3)``) or an input size: never in a default, a
    ``let``, a computation, a count, a stride or a condition."""
    parameters = {formal.name for formal in tree.parameters}
    other = [f.default for f in tree.parameters if f.default is not None]
    other += [let.value for let in tree.lets]
    items = [*(tree.stem or ()), *(tree.head or ())]
    _computed(s.Group(tuple(items), tree.name.span), other)
    for _, stage in tree.stages:
        if stage is not None:
            _computed(stage.call, other)
            other += [e for e in (stage.stride, stage.depth) if e is not None]
    return frozenset(parameters - names_read(other))


def _computed(target: s.Call | s.Group | s.Branches, other: list[s.Expr]) -> None:
    """Adds to ``other`` what ``target`` reads other than as a whole argument."""
    if isinstance(target, s.Call):
        other += [a.value for a in target.arguments if not isinstance(a.value, s.Name)]
        return
    if isinstance(target, s.Group):
        items = list(target.items)
    else:
        items = [i for branch in target.branches if isinstance(branch, tuple) for i in branch]
    for item in items:
        other += [e for e in (item.repeat, item.stride, item.condition) if e is not None]
        _computed(item.target, other)
