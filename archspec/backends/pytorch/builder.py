"""The in-memory PyTorch model: generic modules driven by the IR, no source text involved.

Why not import the emitted source? Building from the IR keeps ``to_torch()`` free of
``exec`` and gives a second, independent reading of the IR; the tests compare the two.

Module paths equal IR paths, so state_dict keys are the spec's names. Modules are created
in the order the emitted file creates them (a block's shortcut first: it is an argument
of the block's class there) and registered in flow order, so one seed gives the same
weights in both.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from archspec import ir
from archspec.backends.pytorch import runtime
from archspec.backends.pytorch.dialect import LOWERINGS, InPlace, TorchDialect
from archspec.codegen.classes import is_class, own_modules, shortcut_members

Program = tuple[Any, ...]
"""A flow as data a module runs: ("member", name) or ("parallel", combine, axis, in
place, branches) steps."""


def program(chain: ir.Chain, inplace: InPlace) -> Program:
    steps: list[tuple[Any, ...]] = []
    for step in chain.steps:
        if isinstance(step, ir.Member):
            steps.append(("member", step.name))
        else:
            axis = -1 if len(step.output) == 2 else 1
            branches = tuple(program(b, inplace) for b in step.branches)
            steps.append(("parallel", step.combine, axis, id(step) in inplace.adds, branches))
    return tuple(steps)


class FlowModule(nn.Module):
    """A group with its own namespace (a block, a group with branches, the network),
    running its flow: members in order, branches combined."""

    def __init__(self, members: OrderedDict[str, nn.Module], flow: Program, kind: str) -> None:
        super().__init__()
        for name, module in members.items():
            self.add_module(name, module)
        self._flow = flow
        self._kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(self._flow, x)

    def _run(self, flow: Program, x: torch.Tensor) -> torch.Tensor:
        for step in flow:
            if step[0] == "member":
                x = self._modules[step[1]](x)  # type: ignore[misc]
                continue
            _, combine, axis, in_place, branches = step
            outs = [self._run(branch, x) for branch in branches]
            if combine == "concat":
                x = torch.cat(outs, axis)
            elif in_place:
                x = outs[0].add_(outs[1])
            else:
                x = outs[0]
                for out in outs[1:]:
                    x = x + out if combine == "add" else x * out
        return x

    def extra_repr(self) -> str:
        return f"block={self._kind!r}" if self._kind else ""


class Builder:
    """Creates modules in the order the emitted file does (see the module docstring)."""

    def __init__(self, network: ir.Network) -> None:
        self.dialect = TorchDialect(network)
        self.pending: dict[int, nn.Module] = {}  # shortcut modules built ahead, by member id
        self.inside_class = 0

    def member(self, member: ir.Member) -> nn.Module:
        node = member.node
        if isinstance(node, ir.Layer):
            return self.layer(member, node)
        if not is_class(node):
            return nn.Sequential(self.members(node.members))
        if not self.inside_class:  # its class call takes the shortcuts first
            for shortcut in self.shortcuts_of(node):
                self.pending[id(shortcut)] = self.member(shortcut)
        self.inside_class += 1
        try:
            modules = self.members(node.members)
        finally:
            self.inside_class -= 1
        return FlowModule(modules, program(node.flow, self.dialect.inplace), node.definition)

    def members(self, members: tuple[ir.Member, ...]) -> OrderedDict[str, nn.Module]:
        built: OrderedDict[str, nn.Module] = OrderedDict()
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

    def layer(self, member: ir.Member, layer: ir.Layer) -> nn.Module:
        lowering = LOWERINGS[layer.op.NAME]
        root, _, name = lowering.callee.rpartition(".")
        factory = getattr(nn if root == "nn" else runtime, name)
        arguments = {a.keyword: getattr(layer.op, a.field) for a in lowering.arguments}
        if id(member) in self.dialect.inplace.relus:
            arguments["inplace"] = True
        return factory(**arguments)  # type: ignore[no-any-return]


def build_network(network: ir.Network) -> nn.Module:
    """An ``nn.Module`` for ``network``, initialised as the paper."""
    builder = Builder(network)
    flow = program(network.flow, builder.dialect.inplace)
    model = FlowModule(builder.members(network.members), flow, "")
    runtime.init_as_he_et_al(model)
    for path, layer in ir.layers(network):
        if getattr(layer.op, "zero_init", False):  # the emitted reset_parameters does the same
            nn.init.zeros_(model.get_submodule(path).weight)  # type: ignore[arg-type]
    return model
