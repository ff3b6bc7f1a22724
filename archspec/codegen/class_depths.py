"""The runs a depth keyword counts inside class instances the network class builds.

ViT's ``encoder`` holds ``layers=... x num_layers`` inside a class: the class takes the
count as an argument (``InClass``), and the network class passes its keyword on.
"""

from __future__ import annotations

from dataclasses import fields

from archspec import ir
from archspec.codegen import pysource as py
from archspec.codegen.classes import BlockClass, Variable, network_level
from archspec.codegen.escape import identifier
from archspec.codegen.knobs import Knob
from archspec.codegen.optional import namespace
from archspec.lower.names import shadows_emitted_code


class InClass:
    """The runs of one depth keyword inside class instances the network class builds
    (ViT's ``encoder``, a class for its position embedding, holds ``layers=... x
    num_layers``): the class takes the count as an argument named after the keyword,
    ``EncoderBlock(..., num_layers=num_layers)``, and writes the copies as the network
    class writes its own. Every instance of such a class must hold the run at the same
    place and the copies after the first must be written alike in the class's terms
    (``knobs.depth_knob`` has refused a copy alone and copies that are attributes)."""

    def __init__(self, network: ir.Network, classes: dict[int, BlockClass], knob: Knob) -> None:
        self.network = network
        self.classes = classes
        self.knob = knob
        self.owners = {p.path: p.node for p in ir.walk(network) if id(p.node) in classes}
        self.found: dict[str, tuple[str, str]] = {}  # path: (owner's path, relative path)

    def holds(self, path: str) -> bool:
        return path in self.found

    def take(self, path: str, group: ir.Group) -> bool:
        """Notes a group inside a class instance; False where the class cannot count it."""
        parts = path.split(".")
        above = (".".join(parts[:end]) for end in range(len(parts) - 1, 0, -1))
        owner = next((p for p in above if p in self.owners), None)
        if owner is None:
            return True
        self.found[path] = (owner, path[len(owner) + 1 :])
        return owner in network_level(self.network)

    def by_class(self) -> dict[int, tuple[BlockClass, set[str], set[str]]]:
        """Each class holding counted runs: the paths of its instances that hold them, and
        the runs' paths inside it."""
        found: dict[int, tuple[BlockClass, set[str], set[str]]] = {}
        for owner, relative in self.found.values():
            cls = self.classes[id(self.owners[owner])]
            entry = found.setdefault(id(cls), (cls, set(), set()))
            entry[1].add(owner)
            entry[2].add(relative)
        return found

    def settled(self) -> bool:
        """Whether every class holding a counted run can take the count."""
        name = self.knob.name
        for cls, owners, relatives in self.by_class().values():
            own = cls.instances[: cls.own]
            held = {id(self.owners[o]) for o in owners}
            taken = {v.name for v in cls.parameters} | namespace(cls.first.flow)
            if {id(g) for g in own} != held or name in taken or shadows_emitted_code(name):
                return False
            for relative in relatives:
                groups = [ir.find_group(g, relative) for g in cls.instances]
                if any(g is None or not self.counted(g) for g in groups):
                    return False
                if not self.alike(cls, relative, groups[0]):  # type: ignore[arg-type]
                    return False
        return True

    def counted(self, group: ir.Group) -> list[ir.Repeat]:
        return [r for r in group.repeats if r.parameter == self.knob.name]

    def alike(self, cls: BlockClass, relative: str, group: ir.Group) -> bool:
        """Whether the copies after the first are written alike in the class's terms."""
        for run in self.counted(group):
            copies = [
                [
                    self.terms(cls, f"{relative}.{group.members[k].name}", group.members[k].node)
                    for k in run.copy(c)
                ]
                for c in range(1, run.count)
            ]
            if any(copy != copies[0] for copy in copies):
                return False
        return True

    def terms(self, cls: BlockClass, path: str, node: ir.Node) -> list[object]:
        """How the class writes a member at ``path``: each field's or nested argument's
        expression or value, by its place in the member."""
        found: list[object] = []
        inside = "\0"  # a nested class: its arguments stand for what it holds
        places = [(path, node)] + [(f"{path}.{p.path}", p.node) for p in ir.walk(node)]
        for at, item in places:
            if at.startswith(inside):
                continue
            where = at[len(path) :]
            if isinstance(item, ir.Layer):
                for op_field in fields(item.op):
                    bound = cls.bindings.get((at, op_field.name))
                    found.append((where, op_field.name, bound, getattr(item.op, op_field.name)))
            elif isinstance(item, ir.Group) and id(item) in self.classes:
                inside = f"{at}."
                inner = self.classes[id(item)]
                for variable, value in inner.values(item):
                    bound = cls.bindings.get((at, variable.name))
                    found.append((where, inner.name, variable.name, bound, value))
        return found

    def register(
        self, in_classes: dict[int, list[ir.Repeat]], passed: dict[tuple[str, str], py.Expr]
    ) -> None:
        """Gives each class its count argument, and the network class what it passes."""
        name = self.knob.name
        for cls, owners, relatives in self.by_class().values():
            counts: list[ir.Scalar] = []
            for instance in cls.instances:
                groups = [ir.find_group(instance, relative) for relative in sorted(relatives)]
                runs = [run for group in groups if group for run in self.counted(group)]
                counts.append(runs[0].count)
                for group in groups:
                    assert group is not None, "checked by settled()"
                    in_classes.setdefault(id(group), []).extend(self.counted(group))
            cls.parameters.append(Variable(name, tuple(counts), own=cls.own))
            passed.update(((owner, name), identifier(name)) for owner in owners)
