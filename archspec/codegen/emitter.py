"""The one source emitter: an ir.Network as a standalone module, in any framework's dialect.

The file reads like torchvision's resnet.py: runtime helpers the network needs, a class per
block type (``codegen.classes``), and a network class whose members are named by the IR,
so its state keys are the spec's names. Text is a pure function of the IR (no dates, no
absolute paths, sets never iterated), laid out by ``pysource`` so that ``ruff check`` and
``ruff format --check`` pass unchanged. What differs between frameworks comes from the
``Dialect``; the statements of every call method are the same in all of them.
"""

from __future__ import annotations

from collections import Counter

from archspec import ir, symbolic
from archspec.codegen import pysource as py
from archspec.codegen.checks import check_source
from archspec.codegen.classes import (
    BlockClass,
    built_shortcuts,
    is_class,
    join,
    numbered,
    own_branches,
    shortcut_slot,
)
from archspec.codegen.dialect import Dialect, lowering_for
from archspec.codegen.escape import identifier, literal
from archspec.codegen.expressions import CHECK_STRUCTURE, Locals, calls_resolve, knob_bindings
from archspec.codegen.flows import FlowWriter
from archspec.codegen.formulas import consistent, resolved_classes
from archspec.codegen.knobs import Knob
from archspec.codegen.prose import describe, module_doc, network_doc
from archspec.codegen.resolve import call_probes
from archspec.codegen.sequences import Binder, Sequences
from archspec.counts import Counts
from archspec.lower.functions import COPIED
from archspec.lower.names import NETWORK_CONSTRUCTOR_LOCALS, shadows_emitted_code
from archspec.lower.names import class_name as camel_case

CHECK = "check_depth"
"""The emitted check of a depth knob's value (``codegen.checks``)."""


class Emitter:
    """Writes one network: helpers, its block classes, then the network class."""

    def __init__(
        self, network: ir.Network, counts: Counts, dialect: Dialect, knobs: tuple[Knob, ...] = ()
    ) -> None:
        switch = next((k for k in knobs if k.added), None)  # one adds inside blocks
        knobs = tuple(k for k in knobs if not k.added or k is switch)
        if switch is not None and switch.padded is not None:  # codegen.optional
            network = switch.padded  # its classes hold what the switch adds
            groups = [p.node for p in ir.walk(network) if isinstance(p.node, ir.Group)]
            for flow in [network.flow, *(group.flow for group in groups)]:
                dialect.take_in(flow)  # torch: decided as the network's own
        self.network = network
        self.counts = counts
        self.dialect = dialect
        self.current: BlockClass | None = None  # the class being written; None: the network
        self.class_name = camel_case(network.class_source)
        taken = {self.class_name, *dialect.reserved_globals()}
        traced = next((k.traced for k in knobs if k.traced is not None), None)
        self.classes, _ = resolved_classes(
            network,
            taken,
            call_probes(knobs),
            lambda classes: traced is None or consistent(classes, network, traced) or None,
        )
        self.occurrences = Counter(id(p.node) for p in ir.walk(network))
        self.uses: set[str] = set()
        # a keyword may not hide a name the constructor uses: a global, a class, `self`
        taken = {*dialect.reserved_globals(), self.class_name}
        taken.update(cls.name for cls in self.classes.values())
        self.taken = taken
        self.checks: list[str] = []  # the checks and functions copied into the file
        self.sequences = Sequences(network, dialect, self.construct, self.classes)
        reading = frozenset({*(k.name for k in knobs), symbolic.INDEX})
        self.knobs = tuple(
            k
            for k in knobs
            if k.name not in taken
            and not shadows_emitted_code(k.name, NETWORK_CONSTRUCTOR_LOCALS)
            and self.sequences.add_depths(k, reading)
            and calls_resolve(network, k, knobs, self.classes)
        )
        kept = {k.name for k in self.knobs}  # a count's other parameters go with its loops
        self.knobs = tuple(k for k in self.knobs if not k.counted_by or k.counted_by in kept)
        for knob in self.knobs:
            self.sequences.add_switch(knob)
        self.named = self.sequences.named_chains()
        for chain, conditional in self.named.values():  # torch: in-place ReLUs, with and not
            dialect.take_in(chain, frozenset(conditional))
        for cls in self.classes.values():
            if cls.conditions:  # torch: which ReLUs work in place with or without them
                dialect.take_in(cls.first.flow, frozenset(cls.conditions))
        self.helpers = self.needed_helpers()

    def needed_helpers(self) -> list[str]:
        """The runtime helpers of the network's layers and of those a switch adds."""
        needed: set[str] = set()
        added = self.sequences.added_layers()
        for node in [p.node for p in ir.walk(self.network)] + added:
            if isinstance(node, ir.Layer):
                needed.update(lowering_for(self.dialect.lowerings, node).helpers)
            elif not is_class(node) and not numbered(node):
                needed.update(self.dialect.named_sequential_helpers)
                self.uses.add("named_sequential")
        return self.dialect.helper_order(needed)

    # ---- the file

    def source(self) -> str:
        classes = ["\n".join(self.block_class(cls)) for cls in self.unique_classes()]
        network = "\n".join(self.network_class())
        note = self.dialect.module_note(self.class_name)
        doc = module_doc(self.network, self.dialect.framework, self.dialect.name, note)
        head = [*py.docstring(doc, 0), ""]
        head += self.dialect.imports(self.network, self.helpers, self.uses)
        head += ["", f"__all__ = [{literal(self.class_name)}]"]
        helpers = self.dialect.helper_sources(self.helpers)
        checks = [check_source(name) for name in self.checks]
        parts = ["\n".join(head), *helpers, *checks, *classes, network]
        return "\n\n\n".join(parts) + "\n"

    def unique_classes(self) -> list[BlockClass]:
        seen: dict[str, BlockClass] = {}
        for cls in self.classes.values():
            seen.setdefault(cls.name, cls)
        return list(seen.values())

    # ---- constructions

    def construct(self, member: ir.Member, path: str, bind: Binder) -> py.Expr:
        """The construction of any member; ``bind`` gives a class's expressions."""
        node = member.node
        if isinstance(node, ir.Layer):
            return self.layer(member, node, path, bind)
        if is_class(node):
            if self.current is None:
                return self.class_call(node, path, bind)
            return self.nested_call(node, path)
        if self.current is None and (numbered(node) or path in self.sequences.runs):
            return self.sequences.sequence(node, path, bind)  # counted runs, switched layers
        if id(node) in self.sequences.in_classes:  # counted by an argument of the class
            return self.sequences.in_class(node, path, bind)
        if self.current is None and path in self.named:
            items = self.sequences.named_members(path, self.named[path], bind)
            return self.dialect.sequential(items, False)
        items = [(m.name, self.construct(m, join(path, m.name), bind)) for m in node.members]
        return self.dialect.sequential(items, numbered(node))

    def layer(self, member: ir.Member, layer: ir.Layer, path: str, bind: Binder) -> py.Expr:
        lowering = lowering_for(self.dialect.lowerings, layer)
        positional: list[py.Expr] = []
        keywords: dict[str, py.Expr] = {}
        for argument in lowering.arguments:
            value = argument.value(getattr(layer.op, argument.field))
            text = bind(path, argument.field)
            if text is not None and argument.spelled:  # a parameter: spelled as it varies
                pairs = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in argument.spelled)
                text = f"{{{pairs}}}[{py.flat(text)}]"
            if text is None:
                default = argument.default
                is_default = value == default and type(value) is type(default)
                if default is not None and is_default and not argument.positional:
                    continue
                text = literal(value)
            if argument.pair:
                text = f"({py.flat(text)}, {py.flat(text)})"
            if argument.positional and lowering.module:
                positional.append(text)
            else:
                keywords[argument.keyword] = text
        keywords.update((name, literal(value)) for name, value in lowering.fixed)
        keywords.update(self.dialect.layer_keywords(member))
        if not lowering.module:
            if not keywords:
                return lowering.callee
            self.uses.add("partial")
            return py.call("partial", lowering.callee, **keywords)
        if lowering.rngs:
            keywords["rngs"] = "rngs"
        return py.call(lowering.callee, *positional, **keywords)

    def class_call(self, group: ir.Group, path: str, bind: Binder) -> py.Bracket:
        """A class instance at the network level: every argument a literal, or a keyword
        of the network class (``in_channels`` of a stem that is a class)."""
        cls = self.classes[id(group)]
        positional, named = cls.call_arguments(group)
        channels = [v.name for v in cls.parameters if v.channels]
        args: list[py.Expr] = [
            bind(path, name) or literal(value)
            for name, value in zip(channels, positional, strict=True)
        ]
        keywords: dict[str, py.Expr] = {k: literal(v) for k, v in named.items()}
        for variable in cls.parameters:  # a keyword of the network: passed on, even at its default
            if not variable.channels and (knob := bind(path, variable.name)) is not None:
                keywords[variable.name] = knob
        for shortcut, inside, member in built_shortcuts(cls, group):  # a keyword may set them
            keywords[shortcut.argument] = self.construct(member, join(path, inside), bind)
        keywords.update(self.dialect.call_extras)
        return py.call(cls.name, *args, **keywords)

    def nested_call(self, group: ir.Group, path: str) -> py.Bracket:
        """A class instance built inside another class, in that class's terms."""
        outer = self.current
        assert outer is not None, "a nested call is written inside a class"
        inner = self.classes[id(group)]
        args: list[py.Expr] = []
        keywords: dict[str, py.Expr] = {}
        for variable, value in inner.values(group):
            expression = outer.bindings.get((path, variable.name))
            if variable.channels:
                args.append(expression or literal(value))
            elif expression is not None:
                keywords[variable.name] = expression
            elif value != variable.default:
                keywords[variable.name] = literal(value)
        passed = {(s.owner, s.member): s.argument for s in outer.shortcuts}
        for shortcut in inner.shortcuts:
            argument = passed.get((join(path, shortcut.owner), shortcut.member))
            if argument is not None:
                keywords[shortcut.argument] = argument
        keywords.update(self.dialect.call_extras)
        return py.call(inner.name, *args, **keywords)

    # ---- a block class

    def block_class(self, cls: BlockClass) -> list[str]:
        self.current = cls
        lines = [f"class {identifier(cls.name)}({self.dialect.base_class}):"]
        lines += py.docstring(describe(cls, sum(self.occurrences[id(g)] for g in cls.instances)), 1)
        lines += ["", *self.block_init(cls), "", *self.block_call_method(cls)]
        return lines

    def block_init(self, cls: BlockClass) -> list[str]:
        params = ["self"]
        params += [f"{v.name}: {v.annotation}" for v in cls.parameters if v.default is None]
        params += [
            f"{v.name}: {v.annotation} = {literal(v.default)}"
            for v in cls.parameters
            if v.default is not None
        ]
        shortcut_type = self.dialect.shortcut_type
        keyword_only = [
            f"{s.argument}: {shortcut_type}"
            if s.always
            else f"{s.argument}: {shortcut_type} | None = None"
            for s in cls.shortcuts
        ] + list(self.dialect.init_extras)
        if keyword_only:
            params += ["*", *keyword_only]
        if cls.shortcuts:
            self.uses.add("shortcut_type")
        lines = py.lay_out(py.Bracket("def __init__(", tuple(params), ") -> None:"), 1)
        lines += ["        " + line for line in self.dialect.init_prologue]
        lines += self.members_init([g.flow for g in cls.instances], "", cls)
        lines += self.dialect.class_init_lines(cls)
        return lines

    def members_init(self, flows: list[ir.Chain], prefix: str, cls: BlockClass) -> list[str]:
        """``self.<member> = ...`` for the class's own namespace, in flow order; the flows
        of every instance at once, which differ only in their shortcuts."""
        lines: list[str] = []

        def bind(path: str, field: str) -> str | None:
            return cls.bindings.get((path, field))

        for steps in zip(*(f.steps for f in flows), strict=True):
            step = steps[0]
            optional = isinstance(step, ir.Member) and not prefix and step.name in cls.conditions
            if isinstance(step, ir.Member) and optional:  # codegen.optional
                condition = cls.conditions[step.name]
                expression = self.construct(step, join(prefix, step.name), bind)
                lines += [
                    f"        if {condition}:",
                    *self.dialect.assign(step.name, expression, 3),
                ]
                lines += ["        else:", *self.dialect.assign(step.name, "None", 3)]
                continue
            if isinstance(step, ir.Member):
                expression = self.construct(step, join(prefix, step.name), bind)
                lines += self.dialect.assign(step.name, expression, 2)
                continue
            parallels: list[ir.Parallel] = list(steps)
            for index in range(len(own_branches(step))):
                lines += self.members_init([p.branches[index] for p in parallels], prefix, cls)
            slot = shortcut_slot(parallels) if step.shortcut else None
            if slot is not None:
                argument = next(
                    s.argument for s in cls.shortcuts if s.owner == prefix and s.member == slot[0]
                )
                lines += self.dialect.assign(slot[0], argument, 2)
        return lines

    def block_call_method(self, cls: BlockClass) -> list[str]:
        array = self.dialect.array_type
        lines = [f"    def {self.dialect.call_method}(self, x: {array}) -> {array}:"]
        writer = FlowWriter(self.dialect, frozenset(cls.conditions))
        result = writer.chain([g.flow for g in cls.instances], "x", "out")
        return lines + writer.lines + [f"        return {result}"]

    # ---- the network class

    def network_class(self) -> list[str]:
        net = self.network
        dialect = self.dialect
        array = dialect.array_type
        lines = [f"class {identifier(self.class_name)}({dialect.base_class}):"]
        lines += py.docstring(network_doc(net, self.counts, self.knobs), 1)
        self.current = None
        knobs = [
            f"{identifier(k.name)}: {type(k.default).__name__} = {literal(k.default)}"
            for k in self.knobs
        ]
        keywords = [*knobs, *dialect.init_extras]
        signature = py.Bracket(
            "def __init__(", ("self", *(["*", *keywords] if keywords else [])), ") -> None:"
        )
        lines += ["", *py.lay_out(signature, 1)]
        lines += ["        " + line for line in dialect.init_prologue]
        computed = Locals(net, self.knobs, self.taken)
        self.sequences.counts = computed.counts(self.knobs, CHECK)
        bound = knob_bindings(net, self.knobs, self.classes, computed)
        bound.update(self.sequences.passed)  # a depth a class counts
        self.sequences.bind_added(computed.text, frozenset(k.name for k in self.knobs))

        def bind(path: str, field: str) -> py.Expr | None:
            return bound.get((path, field))

        for knob in self.knobs:
            if knob.groups and not knob.counts:  # a computed count is checked as computed
                lines += py.lay_out(py.call(CHECK, literal(knob.name), identifier(knob.name)), 2)
        guards = computed.guards(self.knobs)
        lines += computed.lines
        for guard in guards:
            lines += py.lay_out(guard, 2)
        self.checks = [CHECK] if any(k.groups for k in self.knobs) else []
        self.checks += [CHECK_STRUCTURE] if guards else []
        self.checks += sorted(computed.used & COPIED)
        self.uses.update("math" for f in computed.used if f.startswith("math."))
        flow, conditional = self.named.get("", (net.flow, {}))
        for member in ir.members_of(flow):
            built = conditional.get(member.name)
            if built is None:
                lines += dialect.assign(member.name, self.construct(member, member.name, bind), 2)
                continue
            expression = self.construct(member, *built.how(member.name, bind))
            lines += [f"        if {built.condition}:", *dialect.assign(member.name, expression, 3)]
            lines += ["        else:", *dialect.assign(member.name, "None", 3)]
        lines += ["        " + line for line in dialect.network_init_end()]
        lines += ["", f"    def {dialect.call_method}(self, x: {array}) -> {array}:"]
        writer = FlowWriter(dialect, frozenset(conditional))
        result = writer.chain([flow], "x", "x")
        lines += [*writer.lines, f"        return {result}"]
        return lines + dialect.network_methods(self)
