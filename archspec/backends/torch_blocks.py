"""One Python class per block type: which values become constructor arguments.

The IR holds resolved blocks (``layer2.0`` with its convolutions' channels and strides),
not the definitions they came from. The emitter recovers a readable class from them: all
instances of a block type with the same structure share one class; a field that is the
same in every instance is a literal, one that varies is a constructor argument, named
after the block's own spec argument when their values agree (``width``, ``stride``), else
``in_channels`` / ``out_channels``, else after the field (``conv2_padding``). Channels
follow the data flow, so a batch norm takes the channels of the conv before it.
Every instance is then rebuilt exactly from its arguments, by construction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from archspec import ir
from archspec.backends.pysource import camel_case, identifier, literal
from archspec.backends.torch_layers import TORCH_LAYERS, Argument, Role

RESERVED = {"self", "x", "out", "identity", "m", "downsample", "in_channels", "out_channels"}
"""Names used by the emitted code itself; a spec argument with one of them gets a ``_``."""


@dataclass(eq=False)
class Variable:
    """A constructor argument of a block class, with its value in each instance."""

    name: str
    values: tuple[ir.Scalar, ...]
    channels: bool = False  # a channel count: positional, no default

    @property
    def default(self) -> ir.Scalar | None:
        return None if self.channels else Counter(self.values).most_common(1)[0][0]

    @property
    def annotation(self) -> str:
        return type(self.values[0]).__name__


@dataclass(frozen=True)
class Shortcut:
    """A shortcut module that a block class takes as an argument: its own (path '') or
    that of a block nested in it (path relative to the class's block), passed on."""

    name: str
    path: str
    mode: str  # "always" or "sometimes": whether every instance has one


@dataclass
class BlockClass:
    name: str
    kind: str
    instances: list[ir.Block]
    parameters: list[Variable] = field(default_factory=list)
    bindings: dict[tuple[str, str], str] = field(default_factory=dict)
    zero_init: dict[str, str] = field(default_factory=dict)  # BN path -> "True" or a name
    shortcuts: list[Shortcut] = field(default_factory=list)

    @property
    def residual(self) -> bool:
        return self.instances[0].shortcut != "none"

    @property
    def shortcut_name(self) -> str:
        found = [b.downsample.name for b in self.instances if b.downsample is not None]
        return found[0] if found else "downsample"

    @property
    def downsample(self) -> str:
        """'never', 'sometimes' or 'always': whether instances have a shortcut module."""
        present = {b.downsample is not None for b in self.instances}
        return "always" if present == {True} else "sometimes" if True in present else "never"

    def values(self, block: ir.Block) -> list[tuple[Variable, ir.Scalar]]:
        index = next(i for i, b in enumerate(self.instances) if b.path == block.path)
        return [(v, v.values[index]) for v in self.parameters]

    def call_arguments(self, block: ir.Block) -> tuple[list[ir.Scalar], dict[str, ir.Scalar]]:
        """How one instance is constructed, in either backend: channel counts by position,
        other parameters by keyword where they differ from the class's default."""
        positional: list[ir.Scalar] = []
        keywords: dict[str, ir.Scalar] = {}
        for variable, value in self.values(block):
            if variable.channels:
                positional.append(value)
            elif value != variable.default or type(value) is not type(variable.default):
                keywords[variable.name] = value
        return positional, keywords


def signature(node: ir.Module) -> tuple[object, ...]:
    """Names and ops of a module and of all it builds."""
    if isinstance(node, ir.Layer):
        return (node.name, node.op.op)
    if isinstance(node, ir.Sequence):
        return (node.name, "sequence", tuple(signature(c) for c in node.children))
    return (node.name, *class_key(node))


def class_key(block: ir.Block) -> tuple[object, ...]:
    """What two blocks must share to share a class: the names and ops they build
    themselves (shortcut modules, theirs and their nested blocks', are arguments)."""
    return (
        block.block,
        block.shortcut == "none",
        tuple(signature(c) for c in block.body),
        tuple(signature(c) for c in block.after),
    )


def branch_nodes(block: ir.Block) -> list[ir.Layer | ir.Sequence | ir.Block]:
    """What a block class builds itself, in order: body, then after, nested groups
    included; a nested block's own modules belong to its class."""
    found: list[ir.Layer | ir.Sequence | ir.Block] = []

    def visit(node: ir.Module) -> None:
        found.append(node)
        if isinstance(node, ir.Sequence):
            for child in node.children:
                visit(child)

    for child in block.body + block.after:
        visit(child)
    return found


def shortcut_order(block: ir.Block) -> list[ir.Module]:
    """The shortcut modules a block's construction takes, in the emitted argument order:
    those of the blocks nested in it first, its own last."""
    found: list[ir.Module] = []
    for node in branch_nodes(block):
        if isinstance(node, ir.Block):
            found += shortcut_order(node)
    return found + ([block.downsample] if block.downsample is not None else [])


def relative(block: ir.Block, node: ir.Layer | ir.Sequence | ir.Block) -> str:
    return node.path[len(block.path) + 1 :]


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
    by_path: dict[str, BlockClass] = {}
    for key in dependency_order(groups):
        Resolver(classes[key], by_path).resolve()
        classes[key].shortcuts = find_shortcuts(classes[key], by_path, index)
        by_path.update((b.path, classes[key]) for b in groups[key])
    return by_path


def find_shortcuts(
    cls: BlockClass, resolved: dict[str, BlockClass], index: dict[str, ir.Block]
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
            name = present[0].name if not path else f"{path.replace('.', '_')}_{present[0].name}"
            mode = "always" if len(present) == len(owners) else "sometimes"
            found.append(Shortcut(name, path, mode))
    return found


def join(path: str, tail: str) -> str:
    return f"{path}.{tail}" if path and tail else path or tail


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
    return name


class Resolver:
    """Turns every field of a block class's layers into a literal or a parameter."""

    def __init__(self, cls: BlockClass, resolved: dict[str, BlockClass]) -> None:
        self.cls = cls
        self.resolved = resolved  # the classes of blocks nested in this one
        blocks = cls.instances
        self.pool = [Variable("in_channels", tuple(b.input[0] for b in blocks))]
        for name in dict(blocks[0].arguments):
            values = tuple(dict(b.arguments).get(name) for b in blocks)
            if None not in values:
                spelled = name if identifier(name) and name not in RESERVED else f"{name}_"
                self.pool.append(Variable(spelled, values))  # type: ignore[arg-type]
        self.pool.append(Variable("out_channels", tuple(b.output[0] for b in blocks)))
        self.extra: list[Variable] = []
        self.used: list[Variable] = []
        self.current: tuple[str, tuple[ir.Scalar, ...], Variable | None] = (
            "in_channels",
            self.pool[0].values,
            self.pool[0],
        )

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
        _, table = TORCH_LAYERS[layers[0].op.op]
        for argument in table:
            values = tuple(getattr(layer.op, argument.field) for layer in layers)
            expression = self.bind(argument, values, path)
            if expression is not None:
                self.cls.bindings[(path, argument.keyword)] = expression
        if isinstance(layers[0].op, ir.BatchNorm2d):
            self.zero_init(path, tuple(bool(getattr(x.op, "zero_init", False)) for x in layers))

    def nested(self, blocks: tuple[ir.Block, ...]) -> None:
        """A block inside this one: its class's arguments, in terms of this class's."""
        path = relative(self.cls.instances[0], blocks[0])
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
            expression = self.bind(argument, values, path)
            if expression is not None:
                self.cls.bindings[(path, variable.name)] = expression
        outputs = tuple(b.output[0] for b in blocks)
        found = self.match(Argument("out_channels", "out_channels", role="out"), outputs)
        name = found.name if found else literal(outputs[0])
        self.current = (name, outputs, found)

    def bind(self, argument: Argument, values: tuple[ir.Scalar, ...], path: str) -> str | None:
        """The expression for one argument; None leaves it out (torch's default)."""
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
            found = Variable(f"{path.replace('.', '_')}_{argument.keyword}", values)
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
                v for v in spec_arguments if not any(w in v.name for w in ("stride", "group"))
            ] + [self.pool[-1], self.pool[0]]
        elif len(set(values)) == 1:
            return None
        elif argument.role == "stride":
            candidates = [v for v in spec_arguments if v.name.endswith("stride")]
        else:
            candidates = [v for v in spec_arguments if v.name in (argument.keyword, argument.field)]
        return next((v for v in candidates if same(values, v.values)), None)

    def zero_init(self, path: str, values: tuple[bool, ...]) -> None:
        if not any(values):
            return
        if all(values):
            self.cls.zero_init[path] = "True"
            return
        found = next((v for v in self.pool[1:-1] if same(values, v.values)), None)
        if found is None:
            found = Variable(f"{path.replace('.', '_')}_zero_init", values)
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
