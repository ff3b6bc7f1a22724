"""Totals a network may reach: checked once it is lowered, and again before a backend
allocates anything.

The per-layer limits (each op's arguments) bound each size, but not their product: two
convolutions of 2^20 channels pass every one of them and hold ten trillion parameters.
These limits bound the whole network; ``allocation`` also refuses a model larger than
the machine's memory, with its estimated size, before the framework is asked for it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from archspec import ir
from archspec.analysis.cost import count
from archspec.counts import Counts
from archspec.diagnostics import Collector, Diagnostic, SpecError

MAX_PARAMETERS = 1 << 34
"""17,179,869,184 parameters: 64 GiB in float32 (the largest CNNs have about 10^9)."""
MAX_ACTIVATIONS = 1 << 36
"""68,719,476,736 elements of layer outputs for one sample: 256 GiB in float32."""
BYTES_PER_ELEMENT = 4
"""float32, what every backend allocates."""


def gib(elements: int) -> str:
    """Elements as GiB of float32, for messages."""
    return f"{elements * BYTES_PER_ELEMENT / (1 << 30):,.1f} GiB"


def check_totals(network: ir.Network, report: Collector, counts: Counts | None = None) -> None:
    """Report parameters or activations beyond the limits, at the layer holding the most."""
    totals = counts or count(network)
    for total, limit, what, part in (
        (totals.params, MAX_PARAMETERS, "parameters", lambda c: c.params),
        (totals.activations, MAX_ACTIVATIONS, "activations per sample", lambda c: c.activations),
    ):
        if total > limit:
            largest, amount = _largest(network, part)
            report.error(
                "E313",
                f"the network has {total:,} {what} ({gib(total)} in float32); "
                f"the limit is {limit:,} ({gib(limit)})",
                largest.span if largest else None,
                help="check the channel counts and the input size",
                label=f"{amount:,} of them here",
            )


def _largest(network: ir.Network, part: Callable[[Counts], int]) -> tuple[ir.Layer | None, int]:
    best: tuple[ir.Layer | None, int] = (None, 0)
    for _, layer in ir.layers(network):
        amount = part(layer.op.cost(layer.input, layer.output))
        if amount > best[1]:
            best = (layer, amount)
    return best


def memory_bytes() -> int | None:
    """The machine's physical memory, where the system tells it."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_totals_of(network: ir.Network, counts: Counts | None = None) -> None:
    """check_totals for a network that may not have come through the compiler."""
    report = Collector()
    check_totals(network, report, counts)
    report.raise_if_any({})


def allocation(network: ir.Network, memory: int | None = None) -> None:
    """Raise SpecError unless a backend may allocate the network: within the limits, and
    its parameters and buffers within the machine's memory (``memory``, else measured)."""
    counts = count(network)
    check_totals_of(network, counts)
    buffers = sum(
        math.prod(tensor.shape)
        for _, layer in ir.layers(network)
        for tensor in layer.op.tensors()
        if tensor.kind != "param"
    )
    needed = (counts.params + buffers) * BYTES_PER_ELEMENT
    available = memory if memory is not None else memory_bytes()
    if available is not None and needed > available:
        raise SpecError(
            [
                Diagnostic(
                    code="E408",
                    message=f"the model needs about {gib(counts.params + buffers)} for its "
                    f"parameters and buffers, more than this machine's "
                    f"{available / (1 << 30):,.1f} GiB of memory",
                    help="nothing was allocated; build it on a larger machine, "
                    "or check the spec's sizes",
                )
            ]
        )
