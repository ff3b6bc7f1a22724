"""Resolve a class: every field of every layer it builds becomes a literal or an argument.

A field that is the same in every instance is a literal. One that varies is a constructor
argument: the block's own spec argument of the same name when their values agree
(``stride``), else a new one named after the member (``conv2_padding``). Channel counts
(fields the op marks ``in``/``out``) follow the data flow: a batch norm takes the channels
of the convolution before it, a concatenation the sum of its branches; they are named
``in_channels``, ``out_channels``, a spec argument with the same values (``width``) or
the argument of a field before them with the same values in every instance (MobileNet's
expansion: one argument for the four fields that take it). Another field with the values
of a channel argument in every instance takes it too (a depthwise convolution's
``groups=hidden``, as torchvision writes it). Every instance is rebuilt exactly from its
arguments, by construction.
"""

from __future__ import annotations

import dataclasses
import keyword
from functools import cache
from typing import TYPE_CHECKING

from archspec import ir
from archspec.codegen.classes import (
    BlockClass,
    Variable,
    class_key,
    class_name,
    dependency_order,
    find_shortcuts,
    is_class,
    is_plain,
    member_stem,
    own_branches,
)
from archspec.codegen.escape import identifier, is_identifier, literal
from archspec.codegen.optional import Added, namespace
from archspec.lower.names import shadows_emitted_code
from archspec.ops import OPS

if TYPE_CHECKING:
    from archspec.codegen.knobs import Knob

Values = tuple[ir.Scalar, ...]


@cache
def non_channel_fields() -> frozenset[str]:
    """Fields of any op that are not channel counts: a spec argument named like one of
    them (``stride``, ``groups``) is never taken for a channel count."""
    return frozenset(
        f.name for op in OPS.values() for f in dataclasses.fields(op) if f.name not in op.ROLES
    )


def channels(shape: ir.Shape) -> int:
    """The channel axis: the first of a feature map or flat features, the last of tokens."""
    return shape[-1] if len(shape) == 2 else shape[0]


def same(a: Values, b: Values) -> bool:
    """Equal values of equal types (``True`` is not ``1`` here)."""
    return a == b and all(type(x) is type(y) for x, y in zip(a, b, strict=True))


@dataclasses.dataclass(frozen=True)
class Probe:
    """A keyword of the network class at another value, and the network compiled with it
    (``codegen.knobs``): its class instances join the network's."""

    keyword: str
    value: ir.Scalar
    probe: ir.Scalar
    network: ir.Network
    added: tuple[Added, ...] = ()
    """Members the keyword adds inside blocks (``codegen.optional``): built under the
    block's condition."""


@dataclasses.dataclass
class Current:
    """The channels flowing at a point of the flow: their expression, values, variable."""

    expression: str
    values: Values
    variable: Variable | None


class Resolver:
    """Turns every field of a class's layers into a literal or a parameter.

    Parameter names are Python identifiers that shadow nothing the emitted code uses (its
    globals and locals, the class names, the class's members): a clash gets a ``_``.
    """

    def __init__(
        self,
        cls: BlockClass,
        resolved: dict[int, BlockClass],
        class_names: frozenset[str],
        probes: tuple[Probe, ...] = (),
        merge: bool = True,
    ) -> None:
        self.cls = cls
        self.merge = merge  # fields may share an argument by equal values alone
        self.resolved = resolved  # the classes of groups nested in this one, by node id
        instances = cls.instances
        spec_names = list(dict(instances[0].arguments))
        taken = set(class_names) | {m.name for g in instances for m in g.members}
        natural = {
            n
            for n in spec_names
            if is_identifier(n) and not shadows_emitted_code(n) and n not in taken
        }
        self.names = taken | natural
        self.pool = [Variable("in_channels", tuple(channels(g.input) for g in instances))]
        for name in spec_names:
            values = tuple(dict(g.arguments).get(name) for g in instances)
            if None not in values:
                spelled = name if name in natural else self.fresh(name)
                self.pool.append(self.variable(spelled, values, spec=name))  # type: ignore[arg-type]
        self.pool.append(Variable("out_channels", tuple(channels(g.output) for g in instances)))
        self.extra: list[Variable] = []
        self.keywords = [  # each keyword's value in each instance: set where it was probed
            (probe.keyword, tuple(probe.probe if s == k else probe.value for s in cls.sources))
            for k, probe in enumerate(probes, start=1)
            if probe.keyword  # else instances only (``Knob.resolving``)
        ]
        self.named: dict[str, Variable] = {}  # the variables named after a keyword
        self.added = [rule for probe in probes for rule in probe.added]
        self.used: list[Variable] = []
        self.current = Current("in_channels", self.pool[0].values, self.pool[0])

    def variable(self, name: str, values: Values, spec: str = "") -> Variable:
        """A parameter whose default is what the network's own instances take."""
        return Variable(name, values, spec=spec, own=self.cls.own)

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
        self.flow([g.flow for g in self.cls.instances], "")
        first = self.cls.first
        for rule in self.added:  # the members a switch adds, under the block's argument
            if rule.definition == first.definition and rule.members <= namespace(first.flow):
                variable = next(v for v in self.pool if v.spec == rule.argument)
                self.use(variable, channels=False)
                condition = rule.condition(variable.name)
                self.cls.conditions.update(dict.fromkeys(rule.members, condition))
        used = [v for v in self.pool + self.extra if any(v is u for u in self.used)]
        self.cls.parameters = [v for v in used if v.channels] + [v for v in used if not v.channels]

    def flow(self, chains: list[ir.Chain], prefix: str) -> None:
        for steps in zip(*(c.steps for c in chains), strict=True):
            first = steps[0]
            if isinstance(first, ir.Parallel):
                self.parallel(steps)  # type: ignore[arg-type]
                continue
            path = f"{prefix}{first.name}"
            nodes = [s.node for s in steps]
            if isinstance(first.node, ir.Layer):
                self.layer(nodes, path)
            elif is_class(first.node):
                self.nested(nodes, path)
            else:
                self.flow([n.flow for n in nodes], f"{path}.")

    def parallel(self, parallels: list[ir.Parallel]) -> None:
        start = self.current
        for index in range(len(own_branches(parallels[0]))):
            self.current = start
            self.flow([p.branches[index] for p in parallels], "")
        if parallels[0].combine == "concat":
            self.settle(tuple(channels(p.output) for p in parallels))

    def layer(self, layers: list[ir.Layer], path: str) -> None:
        op = layers[0].op
        stem = member_stem(path, op.NAME)
        for field in dataclasses.fields(op):
            values = tuple(getattr(layer.op, field.name) for layer in layers)
            role = op.ROLES.get(field.name)
            expression = self.bind(field.name, values, stem, role)
            if expression is not None:
                self.cls.bindings[(path, field.name)] = expression

    def nested(self, groups: list[ir.Group], path: str) -> None:
        """A class inside this one: its arguments, in terms of this class's."""
        inner = self.resolved[id(groups[0])]
        stem = member_stem(path, groups[0].definition or "group")
        for index, variable in enumerate(inner.parameters):
            values = tuple(inner.values(g)[index][1] for g in groups)
            role = None
            if variable.channels:
                role = "in" if variable.name == "in_channels" else "out"
            expression = self.bind(variable.name, values, stem, role)
            if expression is not None:
                self.cls.bindings[(path, variable.name)] = expression
        self.settle(tuple(channels(g.output) for g in groups))

    def settle(self, values: Values) -> None:
        """After a nested class or a concatenation: the channels now flowing, named."""
        found = self.match("out", values, "out_channels")
        name = found.name if found else literal(values[0])
        if found is None and len(set(values)) > 1:
            found = Variable(self.fresh("merged_channels"), values)
            self.extra.append(found)
            self.use(found, channels=True)
            name = found.name
        self.current = Current(name, values, found)

    def bind(self, field: str, values: Values, stem: str, role: str | None) -> str | None:
        """The expression for one field; None where it is the same literal everywhere
        (the backend writes it, or leaves it out where it equals the framework's default)."""
        current = self.current
        if role == "in" and same(values, current.values):
            if current.variable is not None:
                self.use(current.variable, channels=True)
            return current.expression
        found = self.match(role, values, field)
        if found is None and len(set(values)) == 1:
            if role == "out":
                self.current = Current(literal(values[0]), values, None)
            return None
        if found is None:
            found = self.variable(self.fresh(f"{stem}_{field}"), values)
            self.extra.append(found)
        self.use(found, channels=role is not None)
        if role == "out":
            self.current = Current(found.name, values, found)
        return found.name

    def match(self, role: str | None, values: Values, field: str) -> Variable | None:
        """A known name for these values: channels may take any spec argument that is not
        named like another op field, other fields only the spec argument of their name."""
        spec_arguments = self.pool[1:-1]
        if role is not None:  # or the channels of a field before, where equal everywhere
            candidates = [v for v in spec_arguments if v.name not in non_channel_fields()]
            candidates += [self.pool[-1], self.pool[0]]
            alike = [v for v in self.extra if v.channels]
        elif len(set(values)) == 1:
            return None
        else:  # or channels with these values everywhere: a depthwise convolution's groups
            candidates = [v for v in spec_arguments if v.spec == field]
            flowing = [self.current.variable] if self.current.variable else []
            alike = [v for v in flowing + self.used if v.channels]
        found = next((v for v in candidates if same(values, v.values)), None)
        if found is None and self.merge:
            found = next((v for v in alike if same(values, v.values)), None)
            self.cls.merged = self.cls.merged or found is not None
        return found or self.keyword(values)

    def keyword(self, values: Values) -> Variable | None:
        """For values that follow a keyword of the network across the probed networks:
        the block's spec argument with those values (``num_heads``), else a parameter
        named after the keyword; None for any other values."""
        for name, followed in self.keywords:
            if not same(values, followed):
                continue
            spec = next((v for v in self.pool[1:-1] if same(values, v.values)), None)
            if spec is not None:
                return spec
            if name not in self.named:
                self.named[name] = self.variable(self.fresh(name), followed)
                self.extra.append(self.named[name])
            return self.named[name]
        return None

    def use(self, variable: Variable, channels: bool) -> None:
        variable.channels = variable.channels or channels
        if not any(variable is u for u in self.used):
            self.used.append(variable)


def block_classes(
    network: ir.Network, taken: set[str], probes: tuple[Probe, ...] = (), merge: bool = True
) -> dict[int, BlockClass]:
    """Every class instance's class, keyed by node identity; in dependency order (a class
    nested in another comes first), then network order. ``taken``: names already used.

    ``probes``: the network compiled again with a keyword's other value (``codegen.knobs``).
    Their instances join the network's, so what a keyword changes inside a class becomes
    a constructor argument (``num_heads``) and one class serves every value.

    ``merge``: whether a field may take an earlier field's argument or a channel argument
    by equal values alone. That is exact for the numbers, but two fields equal at every
    probe may be computed differently (``make_divisible(c * 2, 8)`` and ``c * 2``), which
    an argument the class computes must not join (``formulas.resolved_classes``)."""
    groups: dict[tuple[object, ...], list[ir.Group]] = {}
    sources: dict[tuple[object, ...], list[int]] = {}
    seen: set[int] = set()
    kinds: dict[tuple[object, ...], str] = {}
    for index, source in enumerate((network, *(p.network for p in probes))):
        for place in ir.walk(source):
            node = place.node
            if isinstance(node, ir.Group) and is_class(node) and id(node) not in seen:
                seen.add(id(node))
                key = class_key(node)
                groups.setdefault(key, []).append(node)
                sources.setdefault(key, []).append(index)
                kinds.setdefault(key, node.definition or place.name)
    classes = {
        key: BlockClass(class_name(kinds[key], is_plain(g[0]), taken), kinds[key], g, sources[key])
        for key, g in groups.items()
    }
    by_node: dict[int, BlockClass] = {}
    class_names = frozenset(taken)
    for key in dependency_order(groups):
        resolver = Resolver(classes[key], by_node, class_names, probes, merge)
        resolver.resolve()
        classes[key].shortcuts = find_shortcuts(classes[key], by_node, resolver.fresh)
        by_node.update((id(g), classes[key]) for g in groups[key])
    return by_node


def call_probes(knobs: tuple[Knob, ...]) -> tuple[Probe, ...]:
    """The probes of the knobs that set arguments of class calls: they join the
    resolution of the classes (``resolve.block_classes``)."""
    return tuple(
        Probe(k.name, k.default, k.probe, k.probed, k.added)
        for k in knobs
        if k.calls and k.probed is not None and k.probe is not None
    ) + tuple(Probe("", 0, 0, network) for k in knobs for network in k.resolving)
