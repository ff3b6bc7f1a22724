"""Weights between a torch state_dict and a Flax NNX model state, both ways, exactly.

The map is read off the IR and the registry: each op names its tensors as PyTorch does,
with their layout (``Op.tensors``: a convolution's ``weight`` is ``OIHW``); the Flax
dialect names them as Flax does, with its layout (``kernel``, ``HWIO``). A torch key is
the module path plus the tensor's name (``layer1.0.conv1.weight``), the flax path is the
layout's path plus the variable's name (``('layer1', 'layers', 0, 'conv1', 'kernel')``),
and the transpose between them follows from the two layouts. Integer counters
(``num_batches_tracked``) are int64 in torch and int32 in flax.

Only numpy is needed: torch tensors convert through ``np.asarray`` and flax arrays are
taken as a ``{path: array}`` mapping (``nnx.builder.flax_arrays(model)`` makes one).
Going there and back returns every tensor bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from archspec import ir
from archspec.backends.nnx.dialect import TENSORS
from archspec.backends.nnx.layout import FlaxPath, flax_paths
from archspec.backends.state_dict import check as check_tensors


@dataclass(frozen=True)
class Tensor:
    """One tensor in both frameworks: keys, the torch shape, and the axis order."""

    torch_key: str
    flax_path: FlaxPath
    torch_shape: tuple[int, ...]
    forward: tuple[int, ...]  # flax axes as positions of torch's
    count: bool  # an integer counter

    @property
    def flax_shape(self) -> tuple[int, ...]:
        return tuple(self.torch_shape[axis] for axis in self.forward)

    @property
    def backward(self) -> tuple[int, ...]:
        return tuple(self.forward.index(axis) for axis in range(len(self.forward)))


HELP = "convert with the spec (and -D values) the weights were made for"


def tensors(network: ir.Network) -> list[Tensor]:
    """Every tensor of the network, in module order (torch's state_dict order)."""
    paths = flax_paths(network)
    found: list[Tensor] = []
    for path, layer in ir.layers(network):
        names = TENSORS.get(layer.op.NAME, {})
        for tensor in layer.op.tensors():
            flax_name, flax_layout = names[tensor.name]
            order = tuple(tensor.layout.index(axis) for axis in flax_layout)
            found.append(
                Tensor(
                    f"{path}.{tensor.name}" if tensor.name else path,  # a bare tensor
                    (*paths[path], *flax_name.split(".")) if flax_name else paths[path],
                    tensor.shape,
                    order,
                    tensor.kind == "count",
                )
            )
    return found


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
        if tensor.count:
            array = array.astype(np.int32)
        converted[tensor.flax_path] = np.array(array.transpose(tensor.forward), order="C")
    return converted


def flax_to_torch(network: ir.Network, arrays: Mapping[FlaxPath, Any]) -> dict[str, np.ndarray]:
    """A torch state_dict (numpy arrays, in torch's order) from flax arrays by state path."""
    table = tensors(network)
    check_flax_arrays(network, arrays)
    state: dict[str, np.ndarray] = {}
    for tensor in table:
        array = np.asarray(arrays[tensor.flax_path])
        if tensor.count:
            array = array.astype(np.int64)
        state[tensor.torch_key] = np.array(array.transpose(tensor.backward), order="C")
    return state


def check_flax_arrays(network: ir.Network, arrays: Mapping[FlaxPath, Any]) -> None:
    check_tensors(
        {t.flax_path: t.flax_shape for t in tensors(network)},
        {path: tuple(np.shape(value)) for path, value in arrays.items()},
        "flax state",
        HELP,
        separator="/",
    )


def _detach(value: Any) -> Any:
    """A torch tensor as something numpy reads (no torch import needed)."""
    if hasattr(value, "detach"):
        return value.detach().cpu()
    return value
