"""Weights between a torch state_dict and a Flax NNX model state, both ways, exactly.

The map is read off the IR: a torch key is the module path plus the tensor's name
(``layer1.0.conv1.weight``), the flax path is ``flax_layout``'s path plus the variable's
name (``('layer1', 'layers', 0, 'conv1', 'kernel')``). Per tensor:

- conv ``weight`` (O, I/groups, kH, kW) -> ``kernel`` (kH, kW, I/groups, O):
  transpose (2, 3, 1, 0);
- linear ``weight`` (out, in) -> ``kernel`` (in, out): transpose;
- ``bias`` -> ``bias``; batch norm ``weight`` -> ``scale``, ``running_mean`` -> ``mean``,
  ``running_var`` -> ``var``: unchanged;
- batch norm ``num_batches_tracked`` (int64) -> ``num_batches_tracked`` (int32).

Only numpy is needed: torch tensors convert through ``np.asarray`` and flax arrays are
taken as a ``{path: array}`` mapping (``flax_nnx.flax_arrays(model)`` makes one). Going
there and back returns every tensor bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from archspec import ir
from archspec.backends.flax_layout import FlaxPath, flax_paths
from archspec.backends.state_dict import check as check_tensors

Rule = Literal["conv", "linear", "copy", "count"]


@dataclass(frozen=True)
class Tensor:
    """One tensor in both frameworks."""

    torch_key: str
    flax_path: FlaxPath
    torch_shape: tuple[int, ...]
    rule: Rule

    @property
    def flax_shape(self) -> tuple[int, ...]:
        return tuple(np.empty(self.torch_shape, np.int8).transpose(FORWARD[self.rule]).shape)


FORWARD: dict[Rule, tuple[int, ...] | None] = {
    "conv": (2, 3, 1, 0),
    "linear": (1, 0),
    "copy": None,
    "count": None,
}
BACKWARD: dict[Rule, tuple[int, ...] | None] = {
    "conv": (3, 2, 0, 1),
    "linear": (1, 0),
    "copy": None,
    "count": None,
}


HELP = "convert with the spec (and -D values) the weights were made for"


def tensors(network: ir.Network) -> list[Tensor]:
    """Every tensor of the network, in module order (torch's state_dict order)."""
    paths = flax_paths(network)
    found: list[Tensor] = []
    for layer in ir.layers(network):
        for torch_name, flax_name, shape, rule in _layer_tensors(layer.op):
            found.append(
                Tensor(f"{layer.path}.{torch_name}", (*paths[layer.path], flax_name), shape, rule)
            )
    return found


def _layer_tensors(op: ir.Op) -> list[tuple[str, str, tuple[int, ...], Rule]]:
    if isinstance(op, ir.Conv2d):
        kernel = (op.out_channels, op.in_channels // op.groups, op.kernel, op.kernel)
        bias = [("bias", "bias", (op.out_channels,), "copy")] if op.bias else []
        return [("weight", "kernel", kernel, "conv"), *bias]  # type: ignore[list-item]
    if isinstance(op, ir.Linear):
        bias = [("bias", "bias", (op.out_features,), "copy")] if op.bias else []
        weight = (op.out_features, op.in_features)
        return [("weight", "kernel", weight, "linear"), *bias]  # type: ignore[list-item]
    if isinstance(op, ir.BatchNorm2d):
        channels = (op.channels,)
        return [
            ("weight", "scale", channels, "copy"),
            ("bias", "bias", channels, "copy"),
            ("running_mean", "mean", channels, "copy"),
            ("running_var", "var", channels, "copy"),
            ("num_batches_tracked", "num_batches_tracked", (), "count"),
        ]
    return []


def torch_to_flax(network: ir.Network, state_dict: Mapping[str, Any]) -> dict[FlaxPath, np.ndarray]:
    """Flax arrays by state path from a torch state_dict (tensors or arrays)."""
    table = tensors(network)
    arrays = {key: np.asarray(_detach(value)) for key, value in state_dict.items()}
    check_tensors(
        {t.torch_key: t.torch_shape for t in table},
        {key: array.shape for key, array in arrays.items()},
        "torch state_dict",
        HELP,
    )
    converted: dict[FlaxPath, np.ndarray] = {}
    for tensor in table:
        array = arrays[tensor.torch_key]
        if tensor.rule == "count":
            array = array.astype(np.int32)
        order = FORWARD[tensor.rule]
        converted[tensor.flax_path] = np.array(
            array.transpose(order) if order else array, order="C"
        )
    return converted


def flax_to_torch(network: ir.Network, arrays: Mapping[FlaxPath, Any]) -> dict[str, np.ndarray]:
    """A torch state_dict (numpy arrays, in torch's order) from flax arrays by state path."""
    table = tensors(network)
    check_flax_arrays(network, arrays)
    state: dict[str, np.ndarray] = {}
    for tensor in table:
        array = np.asarray(arrays[tensor.flax_path])
        if tensor.rule == "count":
            array = array.astype(np.int64)
        order = BACKWARD[tensor.rule]
        state[tensor.torch_key] = np.array(array.transpose(order) if order else array, order="C")
    return state


def check_flax_arrays(network: ir.Network, arrays: Mapping[FlaxPath, Any]) -> None:
    check_tensors(
        {t.flax_path: t.flax_shape for t in tensors(network)},
        {path: tuple(np.shape(value)) for path, value in arrays.items()},
        "flax state",
        HELP,
        separator="/",
    )


def to_torch_state_dict(network: ir.Network, model_or_arrays: Any) -> dict[str, Any]:
    """A state_dict of torch tensors from a flax model (or its arrays); needs torch."""
    import torch

    arrays = model_or_arrays
    if not isinstance(model_or_arrays, Mapping):
        from archspec.backends.flax_nnx import flax_arrays

        arrays = flax_arrays(model_or_arrays)
    return {key: torch.from_numpy(array) for key, array in flax_to_torch(network, arrays).items()}


def _detach(value: Any) -> Any:
    """A torch tensor as something numpy reads (no torch import needed)."""
    if hasattr(value, "detach"):
        return value.detach().cpu()
    return value
