"""Which spec parameters a keyword of the emitted class can stand for, read from the syntax.

A keyword is found by difference (``archspec.codegen.knobs``): the spec compiled with the
parameter one larger. One probe can be fooled (``fc(max(num_classes, 2))`` looks like
``fc(num_classes)`` at 10 and 11, not at 1), so lowering first records what the syntax
says: the parameters written as a whole repeat count and read nowhere else, and those
the network's own expressions read only as a whole argument or input size, and every
block they are passed to reads only as a whole argument too (``WholeFormals``). An
argument a layer computes another's default from is none (``Op.COMPUTED_DEFAULTS``: a
convolution's kernel, where its padding is left out). It also records the blocks whose
shortcut is chosen from their shapes (``shortcut_blocks``): a keyword may not change them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from archspec.frontend import syntax as s
from archspec.lower.arguments import keys
from archspec.lower.copies import names_read, target_expressions
from archspec.lower.evaluate import makes_layer
from archspec.lower.inputs import input_names

if TYPE_CHECKING:
    from archspec.lower.lowerer import Lowerer


def sole_depths(tree: s.SpecTree) -> tuple[frozenset[str], frozenset[str]]:
    """The parameters written as a whole repeat count (``x n``) in the network's own scope
    (a stage's depth, a repeat in the stem, the head or a stage's group) and read by no
    structural expression that scope evaluates (parameter defaults, ``let``s, strides,
    conditions, other counts and the input shape), with the ``let``s written as a whole
    count (``let n2 = ceil(2 * depth_mult)``: a traced lowering records what they read);
    and those parameters read by no other expression either (no argument). Blocks see
    only their arguments."""
    counted = _names_read(tree, bare_arguments=True, bare_depths=True, arguments=False)
    structural = _names_read(tree, bare_arguments=True, bare_depths=False, arguments=False)
    read = _names_read(tree, bare_arguments=True, bare_depths=False)
    depths = (counted - structural) & _parameters(tree) - input_names(str(tree.input.value))
    lets = counted & {let.name for let in tree.lets}
    return frozenset(depths | lets), frozenset(depths - read)


def whole_arguments(tree: s.SpecTree, lowerer: Lowerer) -> frozenset[str]:
    """The parameters the network's own expressions read only as a whole argument
    (``fc(num_classes)``, ``conv(width, 3)``) or an input size: never in a default, a
    ``let``, a computation, a count, a stride or a condition; and where one is a block's
    argument (``vit_block(dim, num_heads)``) or a layer's a ``let`` holds
    (``let norm = bn(eps=bn_eps)``), that reads it only so too."""
    items = [*(tree.stem or ()), *(tree.head or ())]
    calls = [*_calls(items), *(stage.call for _, stage in tree.stages if stage is not None)]
    read = _names_read(tree, bare_arguments=False, bare_depths=True, lets=False)
    whole = WholeFormals(lowerer).whole(_parameters(tree), tree.lets, read, calls)
    return frozenset(whole)


class WholeFormals:
    """Which formals of each block are read only as whole arguments: of layers, or of
    blocks that read them only so, and nowhere else (defaults, ``let``s, computations,
    counts, strides, conditions). Such a formal's value is, unchanged, every field it sets."""

    def __init__(self, lowerer: Lowerer) -> None:
        self.definitions = lowerer.definitions
        self.ops = lowerer.ops
        self.layers = lowerer.layers
        self.known: dict[str, frozenset[str]] = {}

    def of(self, block: s.BlockDef) -> frozenset[str]:
        if block.name in self.known:
            return self.known[block.name]
        self.known[block.name] = frozenset()  # a block that calls itself: none
        items = (*block.body, *block.after)
        read = names_read(
            [f.default for f in block.formals if f.default is not None]
            + target_expressions(s.Group(items, block.span), bare_arguments=False)
        )
        formals = {formal.name for formal in block.formals}
        whole = self.whole(formals, block.lets, read, list(_calls(items)))
        self.known[block.name] = frozenset(whole)
        return self.known[block.name]

    def whole(
        self, names: set[str], lets: tuple[s.Let, ...], read: set[str], calls: list[s.Call]
    ) -> set[str]:
        """Of ``names`` (a scope's parameters), those read only as whole arguments: not in
        ``read`` (what the scope's other expressions read), nor in a ``let``, except as a
        whole argument of a layer the ``let`` holds (``let norm = bn(eps=bn_eps)``) where
        that layer is itself only called or passed whole (``cba(64, norm=norm)``)."""
        in_scope = names | {let.name for let in lets}
        held = {
            let.name: let.value
            for let in lets
            if isinstance(let.value, s.Apply)
            and let.value.function not in in_scope
            and makes_layer(let.value, self.layers)
        }
        read = read | names_read([let.value for let in lets if let.name not in held])
        arguments = [a.value for v in held.values() for a in v.arguments]
        read |= names_read([value for value in arguments if not isinstance(value, s.Name)])
        called = set(held) - read - self.spoiled(calls, held, in_scope)
        for name, layer in held.items():
            passed = {a.value.name for a in layer.arguments if isinstance(a.value, s.Name)}
            as_call = s.Call(layer.function, layer.arguments, layer.span, layer.name_span)
            read |= self.spoiled([as_call], names, in_scope) if name in called else passed
        return names - read - self.spoiled(calls, names, in_scope)

    def spoiled(
        self, calls: list[s.Call], names: Collection[str], in_scope: Collection[str]
    ) -> set[str]:
        """Of ``names``, those a call passes whole to a block that does not read that
        argument whole, or to a callee that cannot be told from the text (a layer held
        by a name in scope)."""
        found: set[str] = set()
        for call in calls:
            passed = [
                (position, a.value.name)
                for position, a in enumerate(call.arguments)
                if isinstance(a.value, s.Name) and a.value.name in names
            ]
            if not passed:
                continue
            op = None if call.name in in_scope else self.ops.get(call.name)
            block = None if call.name in in_scope else self.definitions.get(call.name)
            if op is not None:
                given = keys(call, [a.name for a in op.ARGUMENTS])
                computed = [
                    sources
                    for argument, sources in op.COMPUTED_DEFAULTS.items()
                    if argument not in given
                ]
                whole = {k for k in given if k and not any(k in c for c in computed)}
            elif isinstance(block, s.BlockDef):
                given = keys(call, [formal.name for formal in block.formals])
                whole = set(self.of(block))
            else:  # a layer held by a name, or no callee: what it makes of them is unknown
                given, whole = [], set()
            found.update(
                name
                for position, name in passed
                if position >= len(given) or given[position] not in whole
            )
        return found


def _calls(items: tuple[s.Item, ...] | list[s.Item]) -> Iterator[s.Call]:
    """Every call among the items, inside groups and branches too."""
    pending = list(items)
    while pending:
        target = pending.pop().target
        if isinstance(target, s.Call):
            yield target
        elif isinstance(target, s.Group):
            pending += target.items
        else:
            pending += [i for b in target.branches if isinstance(b, tuple) for i in b]


def _parameters(tree: s.SpecTree) -> set[str]:
    return {formal.name for formal in tree.parameters}


def _names_read(
    tree: s.SpecTree,
    *,
    bare_arguments: bool,
    bare_depths: bool,
    lets: bool = True,
    arguments: bool = True,
) -> set[str]:
    """The names the network's scope reads: in parameter defaults, ``let``s (when asked),
    stem, head, stages' arguments (when asked), strides and depths; an argument or a
    count (a stage's depth, a repeat's) that is a bare name only when asked."""
    found = [f.default for f in tree.parameters if f.default is not None]
    found += [let.value for let in tree.lets] if lets else []
    items = s.Group(tuple([*(tree.stem or ()), *(tree.head or ())]), tree.name.span)
    found += target_expressions(items, bare_arguments, bare_depths, arguments)
    for _, stage in tree.stages:
        if stage is None:
            continue
        found += target_expressions(stage.call, bare_arguments, bare_depths, arguments)
        found += [e for e in (stage.stride,) if e is not None]
        if stage.depth is not None and (bare_depths or not isinstance(stage.depth, s.Name)):
            found.append(stage.depth)
    return names_read(found)


def shortcut_blocks(definitions: Mapping[str, s.Definition]) -> frozenset[str]:
    """The blocks with a shortcut (``+ shortcut``, ``+ identity``, or a ``shortcut``
    branch): lowering chooses it from their shapes (option ``same``: the addition where
    the block keeps its shape, none elsewhere), so a keyword may not change those shapes."""
    return frozenset(
        d.name
        for d in definitions.values()
        if isinstance(d, s.BlockDef)
        and (d.addition is not None or any(_has_shortcut(i) for i in (*d.body, *d.after)))
    )


def _has_shortcut(item: s.Item) -> bool:
    target = item.target
    if isinstance(target, s.Group):
        return any(_has_shortcut(i) for i in target.items)
    if isinstance(target, s.Branches):
        return any(
            b == "shortcut" or (isinstance(b, tuple) and any(_has_shortcut(i) for i in b))
            for b in target.branches
        )
    return False
