"""The PyTorch backend: ``build(network)`` gives an ``nn.Module``, ``emit_source`` a file.

Two readings of the same IR, kept apart on purpose: the emitted file (the one emitter in
``archspec.codegen`` with ``TorchDialect``) reads like torchvision's resnet.py; ``build``
makes modules straight from the IR, with no ``exec`` of generated text. The tests compare
them (same state_dict keys and shapes, same weights from one seed, same outputs), so a
mistake in either shows. Emitting imports no torch.
"""

from __future__ import annotations

from typing import Any

from archspec import ir
from archspec.counts import Counts


def build(network: ir.Network) -> Any:
    """The network as an ``nn.Module``, initialised as the paper (see ``builder``)."""
    from archspec.backends import check_names
    from archspec.backends.pytorch.builder import build_network

    check_names(network)
    return build_network(network)


def emit_source(network: ir.Network, counts: Counts) -> str:
    """One standalone Python module (imports torch only) defining the network."""
    from archspec.backends import check_names
    from archspec.backends.pytorch.dialect import TorchDialect
    from archspec.codegen.emitter import Emitter

    check_names(network)
    return Emitter(network, counts, TorchDialect(network)).source()
