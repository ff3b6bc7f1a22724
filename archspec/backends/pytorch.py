"""The PyTorch backend: ``build(network)`` gives an ``nn.Module``, ``emit_source`` a file.

Two readings of the same IR, kept apart on purpose:

- ``torch_emit`` writes one standalone module that reads like torchvision's resnet.py:
  a class per block type, a network class, ``reset_parameters`` as in the paper.
- ``torch_build`` builds generic modules straight from the IR, with no ``exec`` of
  generated text. Importing the emitted source would also work, but a second
  implementation lets the tests catch a wrong emitter: both must give the same state_dict
  keys and shapes, the same weights from one seed, and the same outputs.

Both take each layer's constructor arguments from one table (``torch_layers``) and
name every module by its IR path, so checkpoints move between them and torchvision.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from archspec import ir
from archspec.backends import check_names, torch_build, torch_emit
from archspec.backends.state_dict import check as check_tensors
from archspec.codegen.verify import checked_module
from archspec.cost import Counts
from archspec.diagnostics import Diagnostic, SpecError

if TYPE_CHECKING:
    from archspec.api import Architecture


def build(network: ir.Network) -> nn.Module:
    """The network as an ``nn.Module``, initialised as the paper (see torch_build)."""
    check_names(network)
    return torch_build.build(network)


def emit_source(network: ir.Network, counts: Counts) -> str:
    """One standalone Python module (imports torch only) defining the network."""
    check_names(network)
    return checked_module(lambda: torch_emit.emit_source(network, counts), "torch")


def load_state_dict(model: nn.Module | Architecture, state_dict: Mapping[str, Any]) -> nn.Module:
    """Load weights strictly into a model (or into ``arch.to_torch()``) and return it.

    Where they do not fit, SpecError E404 says which modules are missing, unexpected or
    of the wrong shape, grouped by module, and points at the torchvision-layout specs
    when the keys are torchvision's: torch's own error lists every key.
    """
    if not isinstance(model, nn.Module):
        model = model.to_torch()
    check_tensors(
        {key: tuple(value.shape) for key, value in model.state_dict().items()},
        {key: tuple(getattr(value, "shape", ())) for key, value in state_dict.items()},
        "state_dict",
    )
    model.load_state_dict(state_dict, strict=True)
    return model


def read_state_dict(path: Path) -> dict[str, Any]:
    """A state_dict saved with ``torch.save`` (tensors only: ``weights_only``), or E105."""
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file it cannot read
        problem = f"cannot read {path} as a torch state_dict: {error}"
    else:
        if isinstance(state_dict, dict):
            return state_dict
        problem = f"{path} holds a {type(state_dict).__name__}, not a state_dict"
    help = "save weights with torch.save(model.state_dict(), path)"
    raise SpecError([Diagnostic(code="E105", message=problem, help=help)])
