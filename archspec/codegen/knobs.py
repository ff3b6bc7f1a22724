"""Spec parameters that become keyword arguments of the emitted network class.

An emitted file is one network, every size a literal, so a user cannot ask it for another
head (``ResNet50(num_classes=10)``) unless the emitter knows which literals *are* a
parameter. That is found by difference, not by tracing expressions: the spec compiled
again with the parameter one larger (twice, where that does not compile: a head count
must divide the width) must be the same network except for arguments of what the network
class builds itself, layers and class calls, that went from the parameter's value to the
probe's. Such a parameter is a knob, and those arguments are written as its name. The
probe is exact because lowering has already checked the syntax: the spec reads the
parameter only as whole arguments (``fc(num_classes)``, not ``fc(max(num_classes, 2))``,
which agrees at 10 and 11 but not at 1) or input sizes, and so does every block it is
passed to (``ir.Network.whole_arguments``). A class call is compared as the emitter
writes it: the class resolved from the instances of both networks
(``resolve.block_classes``), so what the knob sets inside becomes a constructor argument
(``VitBlock(..., num_heads=6)``) and the class's code is the same at both values by
construction. Its shortcut modules (passed in built) must not change, nor the shapes of
the blocks in it whose shortcut lowering chose from them (``shortcuts_kept``).

A repeat count is a knob too (``ResNet20(n=18)``, ``VGG(n3=4)``), under a rule with no
guess in it. Lowering records on a group the runs of copies written ``x n`` (a stage's
depth, a named repeat, an unnamed item or group repeated in a stem), where that parameter
appears in no other expression and the copies never read ``i``: every copy after the
first is then made from its input shape alone (``ir.Repeat``). Compiled with ``n + 1``,
each such run must gain one copy equal (as IR) to its last, and nothing else may change
but the numbering of the members after it (or the copies' names, where a template names
them: ``classes.named_run``): so the last copy is a fixed point (its input is its
output), every later copy equals it, and at any count the run is its first copy followed
by copies of that one. The first must be the only distinct copy. A run of one copy shows
no later copy: the one the probe adds stands for them all (``Knob.later``), where its
output is its input and it holds no block instance. The emitted class then writes
``range(n - 1)`` (or ``range(n)``; ``f"unit{i + 1}" ... for i in range(1, n)`` for named
copies) and refuses what lowering refuses: a count that is no whole number from 1 to
100,000.

More rules live beside these: a width the class computes with (``codegen.formulas``), a
depth whose copies read ``i`` (``codegen.indexed``), a truth value that adds layers
(``codegen.switches``; inside blocks, ``codegen.optional``; a number compared,
``codegen.comparisons``). Any other effect leaves a parameter out: the file states the
value it was built with, and ``archspec build -D`` changes it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from archspec import ir, symbolic
from archspec.codegen.classes import (
    BlockClass,
    Variable,
    built_shortcuts,
    counted_names,
    is_class,
    join,
    network_level,
)
from archspec.codegen.resolve import Probe, block_classes
from archspec.terms import Term

if TYPE_CHECKING:
    from archspec.codegen.numbers import Looped
    from archspec.codegen.optional import Added


@dataclass(frozen=True, slots=True)
class Conditional:
    """Members of a numbered sequence the network class builds that exist at one value
    of a truth-value keyword (``codegen.switches``): the probe's, standing before member
    ``at`` of the group at ``path``, or (``own``) the network's own member ``at``; inside
    the copy every later copy of the run starting at ``run`` is (``Knob.later``) where
    ``run`` is not -1. ``context``: the sequence they were built in."""

    path: str
    at: int
    members: tuple[ir.Member, ...]
    when: bool
    own: bool
    context: ir.Chain = field(compare=False, repr=False)
    run: int = -1
    source: str = ""
    """The path of the probe's group they stand in (the probe's numbering)."""
    traced: tuple[ir.Node, ...] = field(default=(), compare=False, repr=False)
    """The probe's members lowered on traced numbers: where a field reads a keyword, the
    class writes its expression (``nn.BatchNorm2d(width)``)."""

    def added_path(self, member: ir.Member) -> str:
        """An added member's path in the network that holds it (the probe's): the
        class binds the fields of its layers by it."""
        return join(self.source, member.name)


@dataclass(frozen=True, slots=True)
class Knob:
    """A keyword argument of the network class: its default and the (path, op field)
    pairs of the network's own layers it sets, the class calls it sets arguments of, or
    the paths of the groups holding the runs it counts."""

    name: str
    default: int | float | bool
    places: frozenset[tuple[str, str]] = frozenset()
    groups: frozenset[str] = frozenset()
    calls: frozenset[tuple[str, bool]] = frozenset()
    """The network-level class calls it sets arguments of, by path, each with whether one
    of them is a channel count; the emitter names the arguments as its classes do
    (``changed_arguments``)."""
    probe: int | float | bool | None = None
    probed: ir.Network | None = field(default=None, compare=False)
    """The network compiled with ``probe``: the classes it sets arguments of are resolved
    with its instances too (``resolve.block_classes``)."""
    traced: ir.Network | None = field(default=None, compare=False)
    """The network lowered on traced numbers, for a keyword the class computes with
    (``codegen.formulas``): the fields it sets hold their expressions."""
    guards: tuple[Term, ...] = ()
    """The comparisons that read it which the network's structure was chosen by: the
    class checks each (``codegen.formulas``)."""
    later: tuple[tuple[str, int, tuple[ir.Member, ...]], ...] = field(default=(), compare=False)
    """For each run of one copy: its group's path, its first member's position and the
    copy the network compiled one larger adds (what every later copy is)."""
    conditionals: tuple[Conditional, ...] = field(default=(), compare=False)
    """For a switch: the members that exist at one of its values only."""
    padded: ir.Network | None = field(default=None, compare=False)
    added: tuple[Added, ...] = ()
    """For a switch that adds members inside blocks (``codegen.optional``): the rule of
    each block, and the network emitted in its stead where it has the fewer members."""
    condition: Term | None = None
    """For a number a comparison switches (``p > 0``, ``codegen.comparisons``): that
    comparison, as it holds at the default; a truth value is its own condition."""
    looped: tuple[Looped, ...] = field(default=(), compare=False)
    """For a depth whose copies read ``i`` (``codegen.indexed``): its runs, as loops."""
    counts: tuple[tuple[str, Term], ...] = ()
    """For a number the counts are computed from: each count's name and term."""
    resolving: tuple[ir.Network, ...] = field(default=(), compare=False)
    """Networks whose class instances join the resolution of the classes: a loop's lone
    copy's class is found in them, taking what every keyword and ``i`` change in it."""
    counted_by: str = ""
    """The keyword whose loops count what it computes too (``codegen.computed``)."""

    def counts_run(self, run: ir.Repeat) -> bool:
        return run.parameter == self.name or run.parameter in dict(self.counts)


def probe_values(value: ir.Scalar) -> tuple[int | float | bool, ...]:
    """The values a parameter is compiled again with, until one compiles: one larger, then
    twice (a head count must divide the width), half (a rate), the other truth value;
    none for text, which no keyword takes."""
    if type(value) is bool:
        return (not value,)
    if type(value) is int:
        return (value + 1, 2 * value) if value else (1,)
    if type(value) is float:
        return (value / 2 if value else 0.5,)
    return ()


def knob(
    name: str,
    value: int | float | bool,
    probe: int | float | bool,
    base: ir.Network,
    probed: ir.Network,
) -> Knob | None:
    """``name`` as a knob, comparing the network built with it at ``value`` and at
    ``probe``; None when the parameter does anything else, or is read other than as a
    whole argument (where one probe could be fooled)."""
    if name not in base.whole_arguments:
        return None
    before, after = list(ir.walk(base)), list(ir.walk(probed))
    if [(p.path, type(p.node)) for p in before] != [(p.path, type(p.node)) for p in after]:
        return None
    own = network_level(base)
    classes: dict[int, BlockClass] | None = None  # resolved once a class call changes
    places: set[tuple[str, str]] = set()
    calls: set[tuple[str, bool]] = set()
    inside = "\0"  # the network-level class being skipped: its call is compared instead
    for old, new in zip(before, after, strict=True):
        if old.path.startswith(inside):
            continue
        if isinstance(old.node, ir.Group) and isinstance(new.node, ir.Group):
            if old.path in own:
                inside = old.path + "."
                if old.node is new.node:
                    continue
                classes = classes or block_classes(
                    base, set(), (Probe(name, value, probe, probed),)
                )
                changed = changed_arguments(classes, old.node, new.node, value, probe)
                if changed is None or not shortcuts_kept(base, old.node, new.node):
                    return None
                if changed:
                    calls.add((old.path, any(variable.channels for variable in changed)))
            elif old.node.arguments != new.node.arguments:
                return None
            continue
        if not isinstance(old.node, ir.Layer) or not isinstance(new.node, ir.Layer):
            return None
        if type(old.node.op) is not type(new.node.op):
            return None
        for op_field in fields(old.node.op):
            was, now = getattr(old.node.op, op_field.name), getattr(new.node.op, op_field.name)
            if was == now:
                continue
            if old.path not in own or type(was) is not type(value) or (was, now) != (value, probe):
                return None
            places.add((old.path, op_field.name))
    if not places and not calls:
        return None
    return Knob(name, value, frozenset(places), calls=frozenset(calls), probe=probe, probed=probed)


def changed_arguments(
    classes: dict[int, BlockClass], old: ir.Group, new: ir.Group, value: object, probe: object
) -> list[Variable] | None:
    """The arguments of a class call that went from ``value`` to ``probe``, between two
    instances of one class (resolved from both: its code is the same by construction);
    None where anything else changed: another argument, a shortcut module (passed in
    built, as literals)."""
    cls = classes[id(old)]
    if classes[id(new)] is not cls:
        return None
    modules = [
        {s.argument: ir.to_data(m.node) for s, _, m in built_shortcuts(cls, g)} for g in (old, new)
    ]
    if modules[0] != modules[1]:
        return None
    changed = []
    for (variable, was), (_, now) in zip(cls.values(old), cls.values(new), strict=True):
        if was == now and type(was) is type(now):
            continue
        if (was, now) != (value, probe) or type(was) is not type(value):
            return None
        changed.append(variable)
    return changed


def shortcuts_kept(base: ir.Network, old: ir.Group, new: ir.Group) -> bool:
    """Whether every block inside ``old`` (itself included) whose shortcut lowering chose
    from its shapes (``ir.Network.shortcut_blocks``) has the same shapes in ``new``: at
    another value the choice could differ (option ``same``: a residual addition where the
    block keeps its shape, none elsewhere), and the class writes one."""
    nodes = [[group, *(place.node for place in ir.walk(group))] for group in (old, new)]
    pairs = zip(*nodes, strict=True)  # the same structure: the walks were compared
    return all(
        (a.input, a.output) == (b.input, b.output)
        for a, b in pairs
        if isinstance(a, ir.Group) and a.definition in base.shortcut_blocks
    )


def depth_knob(name: str, value: int, base: ir.Network, probed: ir.Network) -> Knob | None:
    """``name`` as a repeat count (see the module docstring); None when it is not one."""
    groups = {  # the network class's own, or a class's it passes the count to
        place.path: place.node
        for place in ir.walk(base)
        if isinstance(place.node, ir.Group)
        and any(run.parameter == name for run in place.node.repeats)
    }
    if not groups or any(p.startswith(tuple(f"{q}." for q in groups)) for p in groups):
        return None  # none, or runs inside runs
    if not all(r.alike for g in groups.values() for r in g.repeats if r.parameter == name):
        return None  # copies that read i, or a count read elsewhere: ``codegen.indexed``
    expected: Any = ir.to_data(base)
    found: Any = ir.to_data(probed)
    del expected["parameters"], found["parameters"]
    later: list[tuple[str, int, tuple[ir.Member, ...]]] = []
    for path, group in groups.items():
        flow = flow_at(expected["flow"], path)
        grown = ir.find_group(probed, path)
        names = counted_names(group)
        if grown is None or names is None:
            return None
        classed = in_a_class(base, path)  # a class counts them: no copy alone, no attribute
        added: list[tuple[int, list[Any]]] = []
        for run in sorted(group.repeats, key=lambda r: r.first):
            if run.parameter != name:
                continue
            if classed and (run.count == 1 or is_class(group)):
                return None
            end = run.first + run.size * run.count
            if run.count == 1:  # what every later copy is: the larger network's second
                at = end + sum(len(nodes) for _, nodes in added)  # copies added before
                copy = grown.members[at : at + run.size]
                nodes = [ir.to_data(member.node) for member in copy]
                if nodes != [flow[k]["node"] for k in run.copy(0)]:
                    if not fixed_point(copy):
                        return None
                    later.append((path, run.first, copy))
                added.append((end, nodes))
                continue
            copies = [[flow[k]["node"] for k in run.copy(c)] for c in range(run.count)]
            if any(copy != copies[-1] for copy in copies[1:]):
                return None  # more than the first copy is distinct
            added.append((end, copies[-1]))
        for end, nodes in reversed(added):
            flow[end:end] = [{"node": node} for node in nodes]
        for index, step in enumerate(flow):
            step["name"] = names(index)
    if expected != found:
        return None
    return Knob(name, value, groups=frozenset(groups), later=tuple(later))


def in_a_class(network: ir.Network, path: str) -> bool:
    """Whether the group at ``path`` is a class instance or stands inside one."""
    parts = path.split(".")
    nodes = (ir.find(network, ".".join(parts[:end])) for end in range(1, len(parts) + 1))
    return any(isinstance(node, ir.Group) and is_class(node) for node in nodes)


def fixed_point(copy: tuple[ir.Member, ...]) -> bool:
    """A copy whose output is its input, and which holds no class instance (the emitter
    resolves classes from the network's own instances)."""
    if not copy or copy[0].node.input != copy[-1].node.output:
        return False
    nodes = [m.node for m in copy] + [
        place.node for m in copy if isinstance(m.node, ir.Group) for place in ir.walk(m.node)
    ]
    return not any(isinstance(node, ir.Group) and is_class(node) for node in nodes)


def repeated_safely(width: Knob, network: ir.Network, depths: tuple[Knob, ...]) -> bool:
    """Whether a width knob sets nothing that the emitted class writes once for many
    copies of a run a depth knob counts: nothing in the copies after the first; in a lone
    copy, whose later copies the network does not hold (what a width would do to them
    cannot be seen), only its first layer's input channels (``input_field``), where the
    copies' own expressions do not read the width."""
    for depth in depths:
        for path in depth.groups:
            group = ir.find(network, path)
            assert isinstance(group, ir.Group)
            members = group.members
            if path in {looped.path for looped in depth.looped}:
                continue  # every copy written from its template (``codegen.indexed``)
            for run in (r for r in group.repeats if r.parameter == depth.name):
                lone = run.count == 1
                if lone and width.name in run.reads:
                    return False
                start = run.first + (0 if lone else run.size)
                end = run.first + run.size * run.count
                paths = {f"{path}.{members[k].name}": members[k].node for k in range(start, end)}
                if not lone and width.traced is not None and alike(width.traced, list(paths)):
                    continue  # the later copies compute every field alike, at any value
                inside = tuple(f"{p}." for p in paths)
                first = f"{path}.{members[run.first].name}"
                # a call's keywords (no channels) are the same in every later copy
                calls = [(p, "") for p, channels in width.calls if channels or lone]
                for place, field_name in [*width.places, *calls]:
                    if place.startswith(inside):
                        return False
                    opens = lone and place == first and input_field(paths[first], field_name)
                    if place in paths and not opens:
                        return False
    return True


def alike(traced: ir.Network, paths: list[str]) -> bool:
    """Whether the copies at ``paths`` hold the same expression in every field of the
    network lowered on traced numbers (``codegen.formulas``): equal at any value."""
    found = [list(expressions_of(ir.find(traced, path))) for path in paths]
    return all(terms == found[0] for terms in found[1:])


def expressions_of(node: ir.Node) -> Iterator[tuple[str, Term | None]]:
    """Every field's expression in a module lowered on traced numbers, the module itself
    included where it is a layer, with its path from there (None for a value computed
    from no parameter)."""
    places = [("", node)] + [(p.path, p.node) for p in ir.walk(node)]
    for where, layer in places:
        if isinstance(layer, ir.Layer):
            for op_field in fields(layer.op):
                value = getattr(layer.op, op_field.name)
                yield f"{where}:{op_field.name}", symbolic.term_of(value)


def input_field(node: ir.Node, field_name: str) -> bool:
    """The field that takes a layer's input channels, where another sets its output's
    (a convolution's, not a batch norm's): a change there leaves the output alone."""
    if not isinstance(node, ir.Layer):
        return False
    roles = node.op.ROLES
    return roles.get(field_name) == "in" and "out" in roles.values()


def flow_at(flow: list[Any], path: str) -> list[Any]:
    """The member steps of the group at ``path``, in ``ir.to_data``'s form."""
    for part in path.split("."):
        flow = next(step["node"]["flow"] for step in member_steps(flow) if step["name"] == part)
    return flow


def member_steps(flow: list[Any]) -> list[Any]:
    """The member steps of a flow in ``ir.to_data``'s form, branches entered."""
    found: list[Any] = []
    for step in flow:
        if "branches" in step:
            for branch in step["branches"]:
                found += member_steps(branch)
        else:
            found.append(step)
    return found
