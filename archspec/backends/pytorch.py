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

from torch import nn

from archspec import ir
from archspec.backends import check_names, torch_build, torch_emit
from archspec.codegen.verify import checked_module
from archspec.cost import Counts


def build(network: ir.Network) -> nn.Module:
    """The network as an ``nn.Module``, initialised as the paper (see torch_build)."""
    check_names(network)
    return torch_build.build(network)


def emit_source(network: ir.Network, counts: Counts) -> str:
    """One standalone Python module (imports torch only) defining the network."""
    check_names(network)
    return checked_module(lambda: torch_emit.emit_source(network, counts), "torch")
