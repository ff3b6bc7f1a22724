"""The PyTorch backend: ``build(network)`` gives an ``nn.Module``, ``emit_source`` a file.

Two readings of the same IR, kept apart on purpose: the emitted file (the one emitter in
``archspec.codegen`` with ``TorchDialect``) reads like torchvision's resnet.py; ``build``
makes modules straight from the IR, with no ``exec`` of generated text. The tests compare
them (same state_dict keys and shapes, same weights from one seed, same outputs), so a
mistake in either shows. Emitting imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec import ir
from archspec.counts import Counts
from archspec.diagnostics import Diagnostic, SpecError

if TYPE_CHECKING:
    from torch import nn

    from archspec.architecture import Architecture
    from archspec.codegen.knobs import Knob


def build(network: ir.Network) -> Any:
    """The network as an ``nn.Module``, initialised as the paper (see ``builder``)."""
    from archspec.backends import check_names
    from archspec.backends.pytorch.builder import build_network

    check_names(network)
    return build_network(network)


def emit_source(network: ir.Network, counts: Counts, knobs: tuple[Knob, ...] = ()) -> str:
    """One standalone Python module (imports torch only) defining the network."""
    from archspec.backends import check_names
    from archspec.backends.pytorch.dialect import TorchDialect
    from archspec.codegen.emitter import Emitter
    from archspec.codegen.verify import checked_module

    check_names(network)
    return checked_module(
        lambda: Emitter(network, counts, TorchDialect(network), knobs).source(), "torch"
    )


def load_state_dict(model: nn.Module | Architecture, state_dict: Mapping[str, Any]) -> nn.Module:
    """Load weights strictly into a model (or into ``arch.to_torch()``) and return it.

    Where they do not fit, SpecError E404 says which modules are missing, unexpected or
    of the wrong shape, grouped by module, and points at the torchvision-layout specs
    when the keys are torchvision's: torch's own error lists every key.
    """
    from torch import nn

    from archspec.backends.state_dict import check as check_tensors

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
    import torch

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
