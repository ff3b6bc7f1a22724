"""The numbered sequences the network class builds, as its keywords make them.

A depth keyword's runs are written once (``codegen.knobs``): each run's first copy, then
its last ``range(n - 1)`` times, or named by their template (``f"unit{i + 1}" ... for i
in range(1, n)``); inside a class the network class builds, the class takes the count
(``codegen.class_depths``). A switch's members (``codegen.switches``) are written where
they stand, ``*((nn.BatchNorm2d(64),) if batch_norm else ())``, so a framework's
sequential numbers them as the spec does at either value; a group's named members likewise,
``*((("drop", nn.Dropout(p=p)),) if p > 0 else ())``, and the network's own under an
``if`` (its forward applies one where it is built).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, fields

from archspec import ir, symbolic, terms
from archspec.codegen import pysource as py
from archspec.codegen.class_depths import InClass
from archspec.codegen.classes import BlockClass, counted_names, join, numbered
from archspec.codegen.dialect import Dialect
from archspec.codegen.escape import formatted, identifier, literal
from archspec.codegen.formulas import takes_every_change
from archspec.codegen.knobs import Conditional, Knob
from archspec.codegen.numbers import Looped

Binder = Callable[[str, str], "py.Expr | None"]
"""(relative path, op field) -> the expression a class binds it to, or None: a literal."""

Construct = Callable[[ir.Member, str, Binder], py.Expr]
"""The emitter's construction of any member, at its path, with a binder."""

Render = Callable[[object, str, str], py.Expr]
"""How the network class writes a traced value for (path, field): ``Locals.text``."""


@dataclass(frozen=True)
class Conditioned:
    """A member of the network the class builds under ``condition``; an added one at
    its path in the network that holds it (``source``), its fields bound by ``binder``."""

    condition: str
    binder: Binder | None
    source: str = ""

    def how(self, path: str, bind: Binder) -> tuple[str, Binder]:
        """The path and binder it is built with: an added member's own, the network's
        own member's as the others'."""
        return (path, bind) if self.binder is None else (self.source, self.binder)


Named = tuple[ir.Chain, dict[str, Conditioned]]
"""A chain of named members with those a switch adds, and how each conditional one is
built, by name (``Sequences.own_chain``)."""


def literal_binder(path: str, field: str) -> str | None:
    return None


def holds(switch: Knob, when: bool) -> str:
    """The switch's condition where it is ``when``, as the class writes it:
    ``batch_norm``, ``not batch_norm``; ``p > 0``, ``p <= 0`` (``Knob.condition``)."""
    if switch.condition is None:
        return identifier(switch.name) if when else f"not {identifier(switch.name)}"
    kind = switch.condition.kind if when else terms.NEGATED[switch.condition.kind]
    comparison = dataclasses.replace(switch.condition, kind=kind)
    return terms.render(comparison, {switch.name: identifier(switch.name)}, {}, literal)


class Sequences:
    """The runs depth keywords count and the members switches add, by group path."""

    def __init__(
        self,
        network: ir.Network,
        dialect: Dialect,
        construct: Construct,
        classes: dict[int, BlockClass],
    ) -> None:
        self.network = network
        self.dialect = dialect
        self.construct = construct
        self.classes = classes
        self.runs: dict[str, list[ir.Repeat]] = {}  # the runs depth knobs count, by group
        self.in_classes: dict[int, list[ir.Repeat]] = {}
        """The runs inside a class instance, by the id of their group: the class takes
        the count (``InClass``)."""
        self.passed: dict[tuple[str, str], py.Expr] = {}
        """(class instance's path, argument): the depth keyword the network passes on."""
        self.later: dict[tuple[str, int], tuple[ir.Member, ...]] = {}  # (Knob.later)
        self.looped: dict[str, Looped] = {}  # the runs written as loops over ``i``
        self.counts: dict[str, str] = {}
        """The local each computed count is bound to, by the name it is written as."""
        self.switched: dict[tuple[str, int, int], list[tuple[str, Conditional]]] = {}
        """By (group path, first member of a lone copy's run or -1, position): each
        conditional member's condition, ``batch_norm`` or ``not batch_norm``."""
        self.added: dict[tuple[int, str, str], py.Expr] = {}
        """By (id of the Conditional, path, op field): what the field of a layer a switch
        adds is written as where it reads a keyword (``bind_added``)."""

    def add_depths(self, knob: Knob, reading: frozenset[str]) -> bool:
        """Takes the runs ``knob`` counts (``codegen.knobs``) to be written as repeats.
        False where a group is not numbered (``as "name{i}"``), or the code of the copies
        after the first differs (torch's in-place ReLUs may tell equal layers apart): then
        the knob is left out."""
        runs: dict[str, list[ir.Repeat]] = {}
        looped = {run.path: run for run in knob.looped}  # written from a template
        inside = InClass(self.network, self.classes, knob)
        for path in sorted(knob.groups):
            group = ir.find(self.network, path)
            assert isinstance(group, ir.Group)
            if counted_names(group) is None or not inside.take(path, group):
                return False
            if inside.holds(path):
                continue
            members = group.members
            for run in group.repeats:
                if not knob.counts_run(run):
                    continue
                copies = [  # none for a run of one copy (its later copies: Knob.later)
                    [self.construct(members[k], "", literal_binder) for k in run.copy(c)]
                    for c in range(1, run.count)
                ]
                if path not in looped and any(copy != copies[-1] for copy in copies):
                    return False
                runs.setdefault(path, []).append(run)
        if not inside.settled() or not self.lone_copies_taken(knob, reading):
            return False
        inside.register(self.in_classes, self.passed)
        for path, found in runs.items():
            self.runs.setdefault(path, []).extend(found)
        self.looped.update(looped)
        for path, first, copy in knob.later:
            self.dialect.take_in(ir.Chain(copy))
            self.later[(path, first)] = copy
        return True

    def lone_copies_taken(self, knob: Knob, reading: frozenset[str]) -> bool:
        """Whether the class of each loop's lone copy takes every field its template
        reads a keyword or ``i`` in as an argument (``formulas.takes_every_change``)."""
        looped = {run.path: run.template for run in knob.looped}
        for path, _, copy in knob.later:
            node, template = copy[0].node, looped.get(path)
            if template is None or not isinstance(node, ir.Group) or id(node) not in self.classes:
                continue  # a layer: the template binds each field
            assert isinstance(template, ir.Group)
            cls = self.classes[id(node)]
            if not takes_every_change(cls, node, template, self.classes, reading):
                return False
        return True

    def add_switch(self, knob: Knob) -> None:
        """Takes the members a switch adds or makes conditional (``Knob.conditionals``)."""
        for c in knob.conditionals:
            self.switched.setdefault((c.path, c.run, c.at), []).append((holds(knob, c.when), c))
            if not c.own:
                self.dialect.take_in(c.context)  # torch: which added ReLUs work in place
                for member in c.members:  # and inside a group it adds
                    nodes = [member.node, *(place.node for place in ir.walk(member.node))]
                    for group in (n for n in nodes if isinstance(n, ir.Group)):
                        self.dialect.take_in(group.flow)

    def bind_added(self, render: Render, keywords: frozenset[str]) -> None:
        """Writes the fields of added layers that read a keyword as the spec computes them
        (``nn.BatchNorm2d(width)``), before the constructor's locals are laid out."""
        for found in self.switched.values():
            for _, c in found:
                for member, node in zip(c.members, c.traced, strict=False):
                    at = c.added_path(member)
                    for path, layer in (
                        [(at, node)] if isinstance(node, ir.Layer) else ir.layers(node, at)
                    ):
                        for op_field in fields(layer.op):
                            value = getattr(layer.op, op_field.name)
                            term = symbolic.term_of(value)
                            if term is not None and term.reads & keywords:
                                key = (id(c), path, op_field.name)
                                self.added[key] = render(value, path, op_field.name)

    def added_binder(self, c: Conditional) -> Binder:
        """How the fields of added layers are written, by their paths in the network that
        holds them: ``bind_added``'s, else values."""
        return lambda path, field: self.added.get((id(c), path, field))

    def named_chains(self) -> dict[str, Named]:
        """Each chain of named members switches add to or make conditional, by path: the
        network's own ('') and its groups' (``codegen.alignment``); once every switch
        is taken."""
        paths = {path for path, run, _ in self.switched if run == -1}
        groups = {p: ir.find_group(self.network, p) for p in paths}
        named = sorted(p for p, group in groups.items() if group is None or not numbered(group))
        return {path: self.own_chain(path) for path in named}

    def own_chain(self, path: str) -> Named:
        """The chain of named members at ``path`` ('' the network's) with the members
        switches add to it, and how each conditional one is built."""
        group = ir.find(self.network, path) if path else None
        chain = group.flow if isinstance(group, ir.Group) else self.network.flow
        steps: list[ir.Step] = []
        conditional: dict[str, Conditioned] = {}
        for k in range(len(chain.steps) + 1):
            for condition, c in self.switched.get((path, -1, k), []):
                if c.own:
                    conditional[c.members[0].name] = Conditioned(condition, None)
                    continue
                for member in c.members:
                    steps.append(member)
                    conditional[member.name] = Conditioned(
                        condition, self.added_binder(c), c.added_path(member)
                    )
            steps += chain.steps[k : k + 1]
        return ir.Chain(tuple(steps)), conditional

    def named_members(self, path: str, named: Named, bind: Binder) -> list[tuple[str, py.Expr]]:
        """A group's named members (``named_chains``), each one a switch makes
        conditional written as present under its condition."""
        chain, conditional = named
        items: list[tuple[str, py.Expr]] = []
        for member in ir.members_of(chain):
            built = conditional.get(member.name)
            if built is None:
                items.append((member.name, self.construct(member, join(path, member.name), bind)))
                continue
            expression = self.construct(member, *built.how(join(path, member.name), bind))
            items.append((member.name, py.Present((expression,), built.condition)))
        return items

    def added_layers(self) -> list[ir.Node]:
        """The nodes switches add, and what groups among them hold: the file carries
        their runtime helpers too."""
        added = [m.node for found in self.switched.values() for _, c in found for m in c.members]
        return added + [place.node for node in added for place in ir.walk(node)]

    def sequence(self, group: ir.Group, path: str, bind: Binder) -> py.Expr:
        """A numbered group of the network class, or one of named copies a depth keyword
        counts: its runs, its switched members."""
        if path in self.runs and not numbered(group):
            return self.named(group, path, bind)
        if path in self.runs:
            return self.repeated(group, path, bind, self.runs[path])
        members = group.members
        written = self.written(path, members, range(len(members)), self.at(path, bind), tail=True)
        return self.dialect.sequential([("", item) for item in written], numbered=True)

    def at(self, path: str, bind: Binder) -> Callable[[ir.Member], py.Expr]:
        """A member of the group at ``path`` built in place, with the network's keywords."""
        return lambda member: self.construct(member, join(path, member.name), bind)

    def in_class(self, group: ir.Group, path: str, bind: Binder) -> py.Expr:
        """A group of counted copies inside a class: the class's argument counts them."""
        runs = self.in_classes[id(group)]
        if numbered(group):
            return self.repeated(group, path, bind, runs, switches=False)
        return self.named(group, path, bind)

    def written(
        self,
        path: str,
        members: tuple[ir.Member, ...],
        span: range,
        build: Callable[[ir.Member], py.Expr],
        run: int = -1,
        leading: bool = True,
        tail: bool = False,
        switches: bool = True,
    ) -> list[py.Expr]:
        """Members ``span`` of a numbered sequence, each with what a switch adds before it
        (not before the first without ``leading``: a copy's, written before its run) or
        makes of it; with ``tail``, what it adds before the member after the span. Not
        in a class (``switches`` false): switches add layers to the network's own."""
        found: list[py.Expr] = []
        for k in [*span, span.stop] if tail else span:
            switched = self.switched.get((path, run, k), []) if switches else []
            for condition, c in switched if leading or k != span.start else ():
                if not c.own:
                    binder = self.added_binder(c)
                    built = [self.construct(m, c.added_path(m), binder) for m in c.members]
                    found.append(py.Present(tuple(built), condition))
            if k in span:
                own = [condition for condition, c in switched if c.own]
                expression = build(members[k])
                found.append(py.Present((expression,), own[0]) if own else expression)
        return found

    def repeated(
        self,
        group: ir.Group,
        path: str,
        bind: Binder,
        runs: list[ir.Repeat],
        switches: bool = True,
    ) -> py.Expr:
        """A group with runs that depth knobs count: each run its first copy, then the
        last ``knob - 1`` times (``knob`` times where all are alike)."""
        members = group.members
        in_place = self.at(path, bind)
        literally = self.literally

        def written(
            span: range, build: Callable[[ir.Member], py.Expr], **how: bool
        ) -> list[py.Expr]:
            return self.written(path, members, span, build, switches=switches, **how)

        items: list[py.Expr] = []
        done = 0
        for run in sorted(runs, key=lambda r: r.first):
            items += written(range(done, run.first), in_place, tail=True)
            first = written(run.copy(0), in_place, leading=False)
            if run.count > 1:  # a class call's keyword is the same in every later copy
                last = written(run.copy(run.count - 1), in_place, leading=False)
            elif switches and (path, run.first) in self.later:  # a lone copy's: another
                later = self.later[(path, run.first)]
                build = in_place if path in self.looped else literally  # a template's
                last = self.written(path, later, range(len(later)), build, run.first)
            else:
                last = written(run.copy(0), literally, leading=False)
            distinct = self.distinct(path, first, last)
            items += first if distinct else []
            count = self.count(run)
            if path in self.looped:  # the copies read their index (``codegen.indexed``)
                items.append(py.Repeat(tuple(last), count, py.COPY_INDEX, int(distinct)))
            else:
                items.append(py.Repeat(tuple(last), count + (" - 1" if distinct else "")))
            done = run.first + run.size * run.count
        items += written(range(done, len(members)), in_place, tail=True)
        return self.dialect.sequential([("", item) for item in items], numbered=True)

    def named(self, group: ir.Group, path: str, bind: Binder) -> py.Expr:
        """A group of copies named by a template (``classes.named_run``): the first copy
        where it differs from the later ones, then the last named by its index,
        ``*((f"unit{i + 1}", Unit(32, 32)) for i in range(1, n))``."""
        run, members = group.repeats[0], group.members
        first = self.construct(members[0], join(path, members[0].name), bind)
        if run.count > 1:
            last = self.construct(members[-1], join(path, members[-1].name), bind)
        elif path in self.looped and (path, 0) in self.later:  # from the loop's template
            later = self.later[(path, 0)][0]
            last = self.construct(later, join(path, later.name), bind)
        else:  # a lone copy's later copies: the one the larger network adds, or itself
            last = self.literally(self.later.get((path, 0), members)[0])
        distinct = self.distinct(path, [first], [last])
        name = formatted(run.naming, {"{i}": py.COPY_INDEX, "{n}": f"{py.COPY_INDEX} + 1"})
        copies = py.NamedCopies(name, last, self.count(run), int(distinct))
        items = [(members[0].name, first)] if distinct else []
        return self.dialect.sequential(items, numbered=False, copies=copies)

    def count(self, run: ir.Repeat) -> str:
        """The keyword a run's count is, or the local a computed count is bound to."""
        return self.counts.get(run.parameter, identifier(run.parameter))

    def distinct(self, path: str, first: list[py.Expr], last: list[py.Expr]) -> bool:
        """Whether a run's first copy is written apart from the later ones: where its
        code differs, or, in a loop over ``i``, its numbers (``Looped.first_alike``)."""
        looped = self.looped.get(path)
        return first != last if looped is None else not looped.first_alike

    def literally(self, member: ir.Member) -> py.Expr:
        """A member built with no keyword: a copy the network lacks (``Knob.later``)."""
        return self.construct(member, "", literal_binder)
