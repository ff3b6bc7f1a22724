"""Which spec parameters a keyword of the emitted class can stand for, read from the syntax.

A keyword is found by difference (``archspec.codegen.knobs``): the spec compiled with the
parameter one larger. One probe can be fooled (``fc(max(num_classes, 2))`` looks like
``fc(num_classes)`` at 10 and 11, not at 1), so lowering first records what the syntax
says: the parameters written as a whole repeat count and read nowhere else, and those
the network's own expressions read only as a whole argument or input size.
"""

from __future__ import annotations

from archspec.frontend import syntax as s
from archspec.lower.copies import names_read, target_expressions
from archspec.lower.inputs import input_names


def sole_depths(tree: s.SpecTree) -> frozenset[str]:
    """The parameters written as a whole repeat count (``x n``) in the network's own scope
    (a stage's depth, a repeat in the stem, the head or a stage's group) and read by no
    other expression that scope evaluates: parameter defaults, ``let``s, arguments,
    strides, conditions, other counts and the input shape. Blocks see only their
    arguments."""
    counted = _names_read(tree, bare_arguments=True, bare_depths=True)
    read = _names_read(tree, bare_arguments=True, bare_depths=False)
    return frozenset((counted - read) & _parameters(tree) - input_names(str(tree.input.value)))


def whole_arguments(tree: s.SpecTree) -> frozenset[str]:
    """The parameters the network's own expressions read only as a whole argument
    (``fc(num_classes)``, ``conv(width, 3)``) or an input size: never in a default, a
    ``let``, a computation, a count, a stride or a condition."""
    return frozenset(_parameters(tree) - _names_read(tree, bare_arguments=False, bare_depths=True))


def _parameters(tree: s.SpecTree) -> set[str]:
    return {formal.name for formal in tree.parameters}


def _names_read(tree: s.SpecTree, *, bare_arguments: bool, bare_depths: bool) -> set[str]:
    """The names the network's scope reads: in parameter defaults, ``let``s, stem, head,
    stages' arguments, strides and depths; an argument or a count (a stage's depth, a
    repeat's) that is a bare name only when asked."""
    found = [f.default for f in tree.parameters if f.default is not None]
    found += [let.value for let in tree.lets]
    items = [*(tree.stem or ()), *(tree.head or ())]
    found += target_expressions(s.Group(tuple(items), tree.name.span), bare_arguments, bare_depths)
    for _, stage in tree.stages:
        if stage is None:
            continue
        found += target_expressions(stage.call, bare_arguments, bare_depths)
        found += [e for e in (stage.stride,) if e is not None]
        if stage.depth is not None and (bare_depths or not isinstance(stage.depth, s.Name)):
            found.append(stage.depth)
    return names_read(found)
