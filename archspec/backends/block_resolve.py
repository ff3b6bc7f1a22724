"""Which values of a block type become constructor arguments, and what they are called.

All instances of a block type with the same structure share one class; a field that is the
same in every instance is a literal, one that varies is a constructor argument, named
after the block's own spec argument when their values agree (``width``, ``stride``), else
``in_channels`` / ``out_channels``, else after the member and field (``conv2_padding``;
``conv0_stride`` for an unnamed member, numbered ``0``). Channels follow the data flow, so
a batch norm takes the channels of the conv before it. Every instance is then rebuilt
exactly from its arguments, by construction.

Parameter names are Python identifiers that shadow nothing the emitted code uses (its
globals and locals, the class names, the class's members): a clash gets a trailing ``_``.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable

from archspec import ir
from archspec.backends.torch_blocks import (
    BlockClass,
    Shortcut,
    Variable,
    branch_nodes,
    class_key,
    join,
    relative,
)
from archspec.backends.torch_layers import TORCH_LAYERS, Argument, Role
from archspec.codegen.escape import identifier, is_identifier, literal
from archspec.names import class_name as camel_case
from archspec.names import shadows_emitted_code


def block_classes(network: ir.Network, taken: set[str]) -> dict[str, BlockClass]:
    """Every block's class, keyed by block path; in dependency order (a block nested in
    another has its class first), then network order."""
    groups: dict[tuple[object, ...], list[ir.Block]] = {}
    for node in ir.walk(network):
        if isinstance(node, ir.Block):
            groups.setdefault(class_key(node), []).append(node)
    classes = {
        key: BlockClass(class_name(b[0].block, b[0].shortcut == "none", taken), b[0].block, b)
        for key, b in groups.items()
    }
    index = {n.path: n for n in ir.walk(network) if isinstance(n, ir.Block)}
    class_names = frozenset(taken)
    by_path: dict[str, BlockClass] = {}
    for key in dependency_order(groups):
        resolver = Resolver(classes[key], by_path, class_names)
        resolver.resolve()
        classes[key].shortcuts = find_shortcuts(classes[key], by_path, index, resolver.fresh)
        by_path.update((b.path, classes[key]) for b in groups[key])
    return by_path


def find_shortcuts(
    cls: BlockClass,
    resolved: dict[str, BlockClass],
    index: dict[str, ir.Block],
    fresh: Callable[[str], str],
) -> list[Shortcut]:
    """The shortcut modules a class takes: those of the blocks nested in it (which it
    passes on), then its own; each where at least one instance has one."""
    first = cls.instances[0]
    paths = []
    for node in branch_nodes(first):
        if isinstance(node, ir.Block):
            here = relative(first, node)
            paths += [join(here, inner.path) for inner in resolved[node.path].shortcuts]
    found = []
    for path in [*paths, ""]:
        owners = [index[join(b.path, path)] for b in cls.instances]
        present = [o.downsample for o in owners if o.downsample is not None]
        if present:
            name = present[0].name
            if path:
                name = fresh(f"{member_stem(path, owners[0].block)}_{name}")
            mode = "always" if len(present) == len(owners) else "sometimes"
            found.append(Shortcut(name, path, mode))
    return found


def member_stem(path: str, kind: str) -> str:
    """A readable identifier for a member of a block class, from its path in the block:
    ``conv2``, ``a_conv1``; a numbered member is named by its op or block type too, as
    ``0`` alone is no name (``features.0.0`` in torchvision): ``conv0``, ``inner1_0``."""
    stem = path.replace(".", "_")
    return stem if stem[:1].isalpha() else f"{kind}{stem}"


def dependency_order(groups: dict[tuple[object, ...], list[ir.Block]]) -> list[tuple[object, ...]]:
    """Class keys, each after the classes of the blocks nested in it (post-order)."""
    order: list[tuple[object, ...]] = []

    def visit(key: tuple[object, ...]) -> None:
        if key in order:
            return
        for block in groups[key]:
            for node in branch_nodes(block):
                if isinstance(node, ir.Block):
                    visit(class_key(node))
        order.append(key)

    for key in groups:
        visit(key)
    return order


def class_name(kind: str, plain: bool, taken: set[str]) -> str:
    base = camel_case(kind)
    if not base.endswith(("Block", "Bottleneck")):
        base += "Block"
    if plain and not base.startswith("Plain"):
        base = "Plain" + base
    name, number = base, 2
    while name in taken:
        name, number = f"{base}{number}", number + 1
    taken.add(name)
    return identifier(name)


class Resolver:
    """Turns every field of a block class's layers into a literal or a parameter."""

    def __init__(
        self, cls: BlockClass, resolved: dict[str, BlockClass], class_names: frozenset[str]
    ) -> None:
        self.cls = cls
        self.resolved = resolved  # the classes of blocks nested in this one
        blocks = cls.instances
        spec_names = list(dict(blocks[0].arguments))
        taken = set(class_names) | {node.name for node in blocks[0].children()}
        taken.add(cls.shortcut_name)
        natural = {
            n
            for n in spec_names
            if is_identifier(n) and not shadows_emitted_code(n) and n not in taken
        }
        self.names = taken | natural
        self.pool = [Variable("in_channels", tuple(b.input[0] for b in blocks))]
        for name in spec_names:
            values = tuple(dict(b.arguments).get(name) for b in blocks)
            if None not in values:
                spelled = name if name in natural else self.fresh(name)
                self.pool.append(Variable(spelled, values, spec=name))  # type: ignore[arg-type]
        self.pool.append(Variable("out_channels", tuple(b.output[0] for b in blocks)))
        self.extra: list[Variable] = []
        self.used: list[Variable] = []
        self.current: tuple[str, tuple[ir.Scalar, ...], Variable | None] = (
            "in_channels",
            self.pool[0].values,
            self.pool[0],
        )

    def fresh(self, name: str) -> str:
        """``name`` as a new parameter of this class: ``_`` appended while it is a keyword,
        shadows a name of the emitted code, or is taken (a class, a member, a parameter)."""
        if keyword.iskeyword(name):
            name += "_"
        while shadows_emitted_code(name) or name in self.names:
            name += "_"
        self.names.add(name)
        return identifier(name)

    def resolve(self) -> None:
        per_instance = [branch_nodes(b) for b in self.cls.instances]
        for nodes in zip(*per_instance, strict=True):
            if isinstance(nodes[0], ir.Layer):
                self.layer(nodes)
            elif isinstance(nodes[0], ir.Block):
                self.nested(nodes)
        used = [v for v in self.pool + self.extra if any(v is u for u in self.used)]
        self.cls.parameters = [v for v in used if v.channels] + [v for v in used if not v.channels]

    def layer(self, layers: tuple[ir.Layer, ...]) -> None:
        path = relative(self.cls.instances[0], layers[0])
        stem = member_stem(path, layers[0].op.op)
        _, table = TORCH_LAYERS[layers[0].op.op]
        for argument in table:
            values = tuple(getattr(layer.op, argument.field) for layer in layers)
            expression = self.bind(argument, values, stem)
            if expression is not None:
                self.cls.bindings[(path, argument.keyword)] = expression
        if isinstance(layers[0].op, ir.BatchNorm2d):
            flags = tuple(bool(getattr(x.op, "zero_init", False)) for x in layers)
            self.zero_init(path, stem, flags)

    def nested(self, blocks: tuple[ir.Block, ...]) -> None:
        """A block inside this one: its class's arguments, in terms of this class's."""
        path = relative(self.cls.instances[0], blocks[0])
        stem = member_stem(path, blocks[0].block)
        inner = self.resolved[blocks[0].path]
        for index, variable in enumerate(inner.parameters):
            values = tuple(inner.values(b)[index][1] for b in blocks)
            role: Role = "other"
            if variable.channels:
                role = "in" if variable.name == "in_channels" else "out"
            elif variable.name.endswith("stride"):
                role = "stride"
            default = None if variable.channels else variable.default
            argument = Argument(variable.name, variable.name, default, variable.channels, role)
            expression = self.bind(argument, values, stem)
            if expression is not None:
                self.cls.bindings[(path, variable.name)] = expression
        outputs = tuple(b.output[0] for b in blocks)
        found = self.match(Argument("out_channels", "out_channels", role="out"), outputs)
        name = found.name if found else literal(outputs[0])
        self.current = (name, outputs, found)

    def bind(self, argument: Argument, values: tuple[ir.Scalar, ...], stem: str) -> str | None:
        """The expression for one argument of the member ``stem``; None leaves it out
        (torch's default)."""
        name, current, variable = self.current
        if argument.role == "in" and same(values, current):
            if variable is not None:
                self.use(variable, channels=True)
            return name
        found = self.match(argument, values)
        if found is None and len(set(values)) == 1:
            expression = None if values[0] == argument.default else literal(values[0])
            if argument.role == "out":
                self.current = (literal(values[0]), values, None)
            return expression
        if found is None:
            found = Variable(self.fresh(f"{stem}_{argument.keyword}"), values)
            self.extra.append(found)
        self.use(found, channels=argument.role in ("in", "out"))
        if argument.role == "out":
            self.current = (found.name, values, found)
        return found.name

    def match(self, argument: Argument, values: tuple[ir.Scalar, ...]) -> Variable | None:
        """A known name for these values: channels may take any, other fields only a
        spec argument that varies with them and is named for them."""
        spec_arguments = self.pool[1:-1]
        if argument.role in ("in", "out"):
            candidates = [
                v for v in spec_arguments if not any(w in v.spec for w in ("stride", "group"))
            ] + [self.pool[-1], self.pool[0]]
        elif len(set(values)) == 1:
            return None
        elif argument.role == "stride":
            candidates = [v for v in spec_arguments if v.spec.endswith("stride")]
        else:
            candidates = [v for v in spec_arguments if v.spec in (argument.keyword, argument.field)]
        return next((v for v in candidates if same(values, v.values)), None)

    def zero_init(self, path: str, stem: str, values: tuple[bool, ...]) -> None:
        if not any(values):
            return
        if all(values):
            self.cls.zero_init[path] = "True"
            return
        found = next((v for v in self.pool[1:-1] if same(values, v.values)), None)
        if found is None:
            found = Variable(self.fresh(f"{stem}_zero_init"), values)
            self.extra.append(found)
        self.use(found, channels=False)
        self.cls.zero_init[path] = found.name

    def use(self, variable: Variable, channels: bool) -> None:
        variable.channels = variable.channels or channels
        if not any(variable is u for u in self.used):
            self.used.append(variable)


def same(a: tuple[ir.Scalar, ...], b: tuple[ir.Scalar, ...]) -> bool:
    """Equal values of equal types (``True`` is not ``1`` here)."""
    return a == b and all(type(x) is type(y) for x, y in zip(a, b, strict=True))
