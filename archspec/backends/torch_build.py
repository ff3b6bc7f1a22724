"""The in-memory PyTorch model: generic modules driven by the IR, no source text involved.

Why not import the emitted source? Building from the IR directly keeps ``to_torch()`` free
of ``exec`` and gives a second, independent reading of the IR; the tests compare the two
(same state_dict keys and shapes, same outputs for the same weights, and the same
weights from the same seed), so a mistake in either shows.

Module paths equal IR paths, so state_dict keys are the spec's names (``layer2.0.conv1``,
``layer2.0.downsample.0``). Modules are created in the order the emitted file creates
them (a block's shortcut first, as it is an argument of the block) and registered in IR
order, so one seed gives the same weights in both.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from archspec import ir
from archspec.backends.torch_blocks import shortcut_order
from archspec.backends.torch_layers import (
    InPlace,
    arguments,
    class_name,
    plan_inplace,
    zero_init_paths,
)


class ZeroPadShortcut(nn.Module):
    """Option A of He et al. (2015), Sec. 3.3: a shortcut with no parameters.

    Keeps every ``stride``-th pixel (the paper's subsampling) and appends zero channels,
    so the identity matches the residual branch: x[:, :, ::s, ::s], then F.pad on the
    channel dimension with (0, out_channels - in_channels).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.stride
        x = x[:, :, ::stride, ::stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class Block(nn.Sequential):
    """``after(body(x) + shortcut(x))``; no addition for a plain block.

    The children are registered under their IR names in IR order (body, shortcut,
    after), so the state_dict keys are the spec's paths. The forward pass walks them by
    position, which TorchScript can compile (it cannot look a module up by a name held in
    a variable): the child at ``_shortcut_at`` is the shortcut, the addition comes before
    the child at ``_add_at`` (or at the end), every other child continues ``out``.
    """

    def __init__(self, node: ir.Block, builder: Builder) -> None:
        shortcut = builder.shortcut(node)
        modules: OrderedDict[str, nn.Module] = builder.children(node.body)
        if node.downsample is not None and shortcut is not None:
            modules[node.downsample.name] = shortcut
        first_after = len(modules)
        modules.update(builder.children(node.after))
        super().__init__(modules)
        self._size = len(modules)
        self._shortcut_at = len(node.body) if node.downsample is not None else -1
        self._add_at = first_after if node.shortcut != "none" else -1
        self._add_inplace = node.path in builder.inplace.adds
        self._kind = node.block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        identity = x
        for position, module in enumerate(self):
            if position == self._add_at:
                out = self._add(out, identity)
            if position == self._shortcut_at:
                identity = module(x)
            else:
                out = module(out)
        if self._add_at == self._size:
            out = self._add(out, identity)
        return out

    def _add(self, out: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        return out.add_(identity) if self._add_inplace else out + identity

    def extra_repr(self) -> str:
        return f"block={self._kind!r}, residual={self._add_at >= 0}"


class Network(nn.Sequential):
    """The whole network: its top-level modules applied in order."""

    def __init__(self, network: ir.Network) -> None:
        super().__init__(Builder(plan_inplace(network)).children(network.children))


class Builder:
    """Creates modules in the order the emitted file does, so one seed gives the same
    weights: a block's shortcut modules (its nested blocks' first, then its own) are
    arguments of its class there, so they come before the block's own layers."""

    def __init__(self, inplace: InPlace) -> None:
        self.inplace = inplace
        self.shortcuts: dict[str, nn.Module] = {}
        self.depth = 0  # blocks being built around the current one

    def module(self, node: ir.Module) -> nn.Module:
        if isinstance(node, ir.Layer):
            return build_layer(node, self.inplace)
        if isinstance(node, ir.Sequence):
            return nn.Sequential(self.children(node.children))
        if self.depth == 0:  # an outermost block: its class call takes these first
            for shortcut in shortcut_order(node):
                self.shortcuts[shortcut.path] = self.module(shortcut)
        self.depth += 1
        try:
            return Block(node, self)
        finally:
            self.depth -= 1

    def children(self, nodes: tuple[ir.Module, ...]) -> OrderedDict[str, nn.Module]:
        return OrderedDict((child.name, self.module(child)) for child in nodes)

    def shortcut(self, node: ir.Block) -> nn.Module | None:
        if node.downsample is None:
            return None
        return self.shortcuts.pop(node.downsample.path)


def build_layer(layer: ir.Layer, inplace: InPlace) -> nn.Module:
    if isinstance(layer.op, ir.ReLU):
        return nn.ReLU(inplace=layer.path in inplace.relus)
    if isinstance(layer.op, ir.ZeroPadShortcut):
        return ZeroPadShortcut(**arguments(layer.op))  # type: ignore[arg-type]
    factory = getattr(nn, class_name(layer.op).removeprefix("nn."))
    return factory(**arguments(layer.op))  # type: ignore[no-any-return]


def reset_parameters(model: nn.Module, zero_init: list[str]) -> None:
    """He et al. (2015): Kaiming normal (fan_out, ReLU) for convolutions, BN weight 1 and
    bias 0; BNs marked ``zero_init`` start at 0. Linear layers keep PyTorch's default, as in
    torchvision's ResNet. The emitted ``reset_parameters`` does the same, in the same order.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for path in zero_init:
        nn.init.zeros_(model.get_submodule(path).weight)  # type: ignore[arg-type]


def build(network: ir.Network) -> nn.Module:
    """An ``nn.Module`` for ``network``, initialised as the paper."""
    model = Network(network)
    reset_parameters(model, zero_init_paths(network))
    return model
