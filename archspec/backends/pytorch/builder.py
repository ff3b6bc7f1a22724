"""The in-memory PyTorch model: generic modules driven by the IR, no source text involved.

Why not import the emitted source? Building from the IR keeps ``to_torch()`` free of
``exec`` and gives a second, independent reading of the IR; the tests compare the two.
The modules are TorchScript-able (``FlowModule``), as the emitted file is.

Module paths equal IR paths, so state_dict keys are the spec's names. Modules are created
in the order the emitted file creates them (a block's shortcut first: it is an argument
of the block's class there) and registered in flow order, so one seed gives the same
weights in both.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from archspec import ir
from archspec.backends.pytorch import runtime
from archspec.backends.pytorch.dialect import LOWERINGS, InPlace, TorchDialect
from archspec.codegen.classes import is_class, own_modules, shortcut_members
from archspec.codegen.dialect import lowering_for

OPEN, BRANCH, END, ADD, ADD_IN_PLACE, MUL, CONCAT_MAPS, CONCAT_TOKENS, TENSOR = range(9)
"""The operations of a flow between its members (see ``FlowModule``); ``TENSOR + k``
applies the group's k-th bare tensor."""

COMBINE = {"add": ADD, "mul": MUL}
MULTIPLY, ADD_TENSOR, PREPEND = range(3)
BARE = {"multiply": MULTIPLY, "add": ADD_TENSOR, "prepend": PREPEND}
"""How a bare tensor meets the value (``Op.BARE``), as a number TorchScript can read."""


class Schedule:
    """A flow as the operations to run before each member, by position, and at the end."""

    def __init__(self, chain: ir.Chain, inplace: InPlace) -> None:
        self.inplace = inplace
        self.before: list[list[int]] = [[]]
        self.tensors: list[str] = []  # the bare tensors, in flow order
        self.hows: list[int] = []  # how each meets the value
        self.chain(chain)

    def chain(self, chain: ir.Chain) -> None:
        for step in chain.steps:
            how = ir.bare(step.node) if isinstance(step, ir.Member) else None
            if isinstance(step, ir.Member) and how is not None:
                self.before[-1].append(TENSOR + len(self.tensors))
                self.tensors.append(step.name)
                self.hows.append(BARE[how])
            elif isinstance(step, ir.Member):
                self.before.append([])  # the member runs at this position
            else:
                self.parallel(step)

    def parallel(self, step: ir.Parallel) -> None:
        self.before[-1].append(OPEN)
        for branch in step.branches:
            self.before[-1].append(BRANCH)
            self.chain(branch)
            self.before[-1].append(END)
        if step.combine == "concat":
            self.before[-1].append(CONCAT_TOKENS if len(step.output) == 2 else CONCAT_MAPS)
        elif id(step) in self.inplace.adds:
            self.before[-1].append(ADD_IN_PLACE)
        else:
            self.before[-1].append(COMBINE[step.combine])


class FlowModule(nn.Sequential):
    """A group with its own namespace (a block, a group with branches, the network).

    Members are registered under their IR names in flow order, so state_dict keys are the
    spec's paths. ``forward`` walks them by position, which TorchScript compiles (it cannot
    look a module up by a name held in a variable): before member ``i`` it runs the
    operations ``_before[i]`` that open branches from the current value, start the next
    branch, close one, or combine the closed branches; ``_before[-1]`` runs at the end.
    Bare tensors (``Op.BARE``) are parameters of this module, applied by position.
    """

    # The operations again, as attributes TorchScript reads as constants (private, as no
    # member of a spec may be: see the names policy).
    _OPEN, _BRANCH, _END, _ADD = OPEN, BRANCH, END, ADD
    _ADD_IN_PLACE, _CONCAT_MAPS, _CONCAT_TOKENS = ADD_IN_PLACE, CONCAT_MAPS, CONCAT_TOKENS
    _TENSOR, _MULTIPLY, _ADD_TENSOR = TENSOR, MULTIPLY, ADD_TENSOR
    __constants__ = [
        "_TENSOR",
        "_MULTIPLY",
        "_ADD_TENSOR",
        "_OPEN",
        "_BRANCH",
        "_END",
        "_ADD",
        "_ADD_IN_PLACE",
        "_CONCAT_MAPS",
        "_CONCAT_TOKENS",
    ]

    def __init__(
        self, members: OrderedDict[str, nn.Module | nn.Parameter], schedule: Schedule, kind: str
    ):
        modules = OrderedDict(
            (name, m) for name, m in members.items() if not isinstance(m, nn.Parameter)
        )
        super().__init__(modules)
        # The bare tensors: parameters of this module under their names (the state keys),
        # and the same objects in a list the forward indexes (TorchScript reads no
        # attribute by a computed name); loading and moving update them in place.
        self._tensors: list[torch.Tensor] = []
        self._hows = schedule.hows
        for name in schedule.tensors:
            tensor = members[name]
            assert isinstance(tensor, nn.Parameter)
            self.register_parameter(name, tensor)
            self._tensors.append(tensor)
        # One flat list and where each position's run starts (never empty, so TorchScript
        # can tell its type): position i runs _operations[_starts[i]:_starts[i + 1]].
        self._operations = [-1] + [op for ops in schedule.before for op in ops]
        self._starts = [1]
        for ops in schedule.before:
            self._starts.append(self._starts[-1] + len(ops))
        self._kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs: list[torch.Tensor] = []
        results: list[list[torch.Tensor]] = []
        for position, module in enumerate(self):
            x = self._operate(position, x, inputs, results)
            x = module(x)
        return self._operate(len(self._starts) - 2, x, inputs, results)

    def _operate(
        self,
        position: int,
        x: torch.Tensor,
        inputs: list[torch.Tensor],
        results: list[list[torch.Tensor]],
    ) -> torch.Tensor:
        for index in range(self._starts[position], self._starts[position + 1]):
            operation = self._operations[index]
            if operation == self._OPEN:
                inputs.append(x)
                results.append([])
            elif operation == self._BRANCH:
                x = inputs[-1]
            elif operation == self._END:
                results[-1].append(x)
            elif operation >= self._TENSOR:
                x = self._meet(operation - self._TENSOR, x)
            else:
                x = self._combine(operation, results.pop())
                inputs.pop()
        return x

    def _meet(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """The ``index``-th bare tensor applied: multiplied, added, or put first."""
        tensor, how = self._tensors[index], self._hows[index]
        if how == self._MULTIPLY:
            return x * tensor
        if how == self._ADD_TENSOR:
            return x + tensor
        return runtime.prepend_token(tensor, x)

    def _combine(self, operation: int, values: list[torch.Tensor]) -> torch.Tensor:
        if operation == self._CONCAT_MAPS:
            return torch.cat(values, 1)
        if operation == self._CONCAT_TOKENS:
            return torch.cat(values, -1)
        x = values[0]
        if operation == self._ADD_IN_PLACE:
            return x.add_(values[1])
        for value in values[1:]:
            x = x + value if operation == self._ADD else x * value
        return x

    def extra_repr(self) -> str:
        return f"block={self._kind!r}" if self._kind else ""


# TorchScript types an attribute it cannot infer (an empty list) from the class's
# annotations, which it cannot read as the strings `from __future__ import annotations`
# makes them: this one is given as a type.
FlowModule.__annotations__["_tensors"] = list[torch.Tensor]
FlowModule.__annotations__["_hows"] = list[int]


class Builder:
    """Creates modules in the order the emitted file does (see the module docstring)."""

    def __init__(self, network: ir.Network) -> None:
        self.dialect = TorchDialect(network)
        self.pending: dict[
            int, nn.Module | nn.Parameter
        ] = {}  # shortcut modules built ahead, by member id
        self.inside_class = 0

    def member(self, member: ir.Member) -> nn.Module | nn.Parameter:
        node = member.node
        if isinstance(node, ir.Layer):
            return self.layer(member, node)
        if not is_class(node):
            return nn.Sequential(self.members(node.members))  # type: ignore[arg-type]
        if not self.inside_class:  # its class call takes the shortcuts first
            for shortcut in self.shortcuts_of(node):
                self.pending[id(shortcut)] = self.member(shortcut)
        self.inside_class += 1
        try:
            modules = self.members(node.members)
        finally:
            self.inside_class -= 1
        return FlowModule(modules, Schedule(node.flow, self.dialect.inplace), node.definition)

    def members(self, members: tuple[ir.Member, ...]) -> OrderedDict[str, nn.Module | nn.Parameter]:
        """Modules by name, and the bare tensors (``Op.BARE``) a FlowModule registers."""
        built: OrderedDict[str, nn.Module | nn.Parameter] = OrderedDict()
        for member in members:
            pending = self.pending.pop(id(member), None)
            built[member.name] = pending if pending is not None else self.member(member)
        return built

    def shortcuts_of(self, group: ir.Group) -> list[ir.Member]:
        """The shortcut members a class call takes: nested classes' first, then its own."""
        found: list[ir.Member] = []
        for built in own_modules(group):
            if isinstance(built.node, ir.Group) and is_class(built.node):
                found += self.shortcuts_of(built.node)
        return found + [member for _, member in shortcut_members(group)]

    def layer(self, member: ir.Member, layer: ir.Layer) -> nn.Module | nn.Parameter:
        lowering = lowering_for(LOWERINGS, layer)
        root, _, name = lowering.callee.rpartition(".")
        factory = getattr(nn if root == "nn" else runtime, name)
        arguments = dict(lowering.fixed)
        for argument in lowering.arguments:
            arguments[argument.keyword] = argument.value(getattr(layer.op, argument.field))
        if id(member) in self.dialect.inplace.relus:
            arguments["inplace"] = True
        return factory(**arguments)  # type: ignore[no-any-return]


def build_network(network: ir.Network) -> nn.Module:
    """An ``nn.Module`` for ``network``, initialised as the paper."""
    builder = Builder(network)
    schedule = Schedule(network.flow, builder.dialect.inplace)
    model = FlowModule(builder.members(network.members), schedule, "")
    runtime.init_as_he_et_al(model)
    for path, layer in ir.layers(network):
        if ir.starts_at_zero(layer):  # the emitted reset_parameters does the same
            nn.init.zeros_(model.get_submodule(path).weight)  # type: ignore[arg-type]
    return model
