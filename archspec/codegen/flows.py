"""A flow as plain statements: the body of every ``forward`` / ``__call__``.

Steps read ``out = self.conv1(x)``; a residual addition reads as torchvision's does
(``out += identity``, the shortcut applied where the instance has one); other branches
are computed one after another into their own variables and combined in one line
(``torch.cat([branch1, branch2], 1)``), as Inception's forward is written by hand.
"""

from __future__ import annotations

from archspec import ir
from archspec.codegen.classes import shortcut_slot
from archspec.codegen.dialect import Dialect
from archspec.codegen.escape import is_identifier as identifier

INDENT = "        "


class FlowWriter:
    """Collects the statements of one call method, for the flows of every instance of a
    class at once (they differ only in their shortcuts)."""

    def __init__(self, dialect: Dialect, optional: frozenset[str] = frozenset()) -> None:
        self.dialect = dialect
        self.optional = optional  # members that may be None (codegen.optional)
        self.lines: list[str] = []
        self.taken = {"x", "out", "identity", "self"}

    def chain(self, chains: list[ir.Chain], source: str, target: str) -> str:
        """Statements applying the chain to ``source``, results into ``target``; the
        variable that holds the result."""
        value = source
        for steps in zip(*(c.steps for c in chains), strict=True):
            step = steps[0]
            how = ir.bare(step.node) if isinstance(step, ir.Member) else None
            if isinstance(step, ir.Member) and how is not None:
                self.lines.append(f"{INDENT}{target} = {self.dialect.bare(how, step.name, value)}")
                value = target
            elif isinstance(step, ir.Member) and step.name in self.optional:
                assert value == target, "an optional member follows a step of its chain"
                member = self.dialect.member(step.name)
                self.lines.append(f"{INDENT}if {member} is not None:")
                self.lines.append(f"{INDENT}    {target} = {member}({value})")
            elif isinstance(step, ir.Member):
                self.lines.append(f"{INDENT}{target} = {self.dialect.member(step.name)}({value})")
                value = target
            elif step.shortcut:
                value = self.residual(list(steps), value, target)
            else:
                value = self.branches(list(steps), value, target)
        return value

    def residual(self, parallels: list[ir.Parallel], source: str, target: str) -> str:
        """``body + shortcut``: the body into ``target``, the shortcut as ``identity``."""
        slot = shortcut_slot(parallels)
        if source == target:
            self.lines.append(f"{INDENT}identity = {source}")
            source = "identity"
        body = self.chain([p.branches[0] for p in parallels], source, target)
        identity = source
        if slot is not None:
            name, always = slot
            call = f"{self.dialect.member(name)}({source})"
            if always:
                identity = call
            else:
                if source != "identity":
                    self.lines.append(f"{INDENT}identity = {source}")
                self.lines += [
                    f"{INDENT}if {self.dialect.member(name)} is not None:",
                    f"{INDENT}    identity = {call}",
                ]
                identity = "identity"
        if body == target and self.dialect.add_in_place(parallels[0]):
            self.lines.append(f"{INDENT}{target} += {identity}")
        else:
            self.lines.append(f"{INDENT}{target} = {body} + {identity}")
        return target

    def branches(self, parallels: list[ir.Parallel], source: str, target: str) -> str:
        values = []
        for index, branch in enumerate(parallels[0].branches):
            if not branch.steps:
                values.append(source)
                continue
            chains = [p.branches[index] for p in parallels]
            values.append(self.chain(chains, source, self.variable(branch, index)))
        self.lines.append(f"{INDENT}{target} = {self.dialect.combine(parallels[0], values)}")
        return target

    def variable(self, branch: ir.Chain, index: int) -> str:
        """A readable, fresh variable for a branch: its first member's name if it can be."""
        first = branch.steps[0]
        base = first.name if isinstance(first, ir.Member) else ""
        if not identifier(base) or base in self.taken:
            base = f"branch{index}"
        name, number = base, 2
        while name in self.taken:
            name, number = f"{base}_{number}", number + 1
        self.taken.add(name)
        return name
