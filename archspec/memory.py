"""How much memory a training step needs for a batch, estimated from the counts alone.

The estimate: the input batch, the parameters, every layer's output for the batch (kept
for the backward pass) and, for the backward pass, a gradient of the same size for each
of them. Elements are float32 (4 bytes) unless told otherwise; MB are 10^6 bytes, as in
torchinfo. Gradients of the parameters, optimizer state and framework workspace are not
included (torchinfo leaves them out too).

torchinfo's "Forward/backward pass size" counts only the outputs of layers that have
parameters (convolutions, batch norms, fully connected layers), twice; this estimate
counts every layer's output (ReLU, pooling and flatten too), so it is larger. The
summary prints torchinfo's figure too (``torchinfo_forward_backward``); the tests check
it, the input and the parameters against torchinfo to the byte.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archspec.api import Architecture

MB = 10**6


@dataclass(frozen=True)
class Memory:
    """Bytes for one batch; ``total`` adds them up."""

    batch: int
    bytes_per_element: int
    input: int
    parameters: int
    forward: int
    """every layer's output for the batch"""
    backward: int
    """the gradients of those outputs"""
    torchinfo_forward_backward: int
    """twice the outputs of the layers that have parameters"""

    @property
    def total(self) -> int:
        return self.input + self.parameters + self.forward + self.backward

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}

    def lines(self) -> list[str]:
        """The estimate as the summary table prints it."""

        def mb(value: int) -> str:
            return f"{value / MB:,.2f} MB"

        return [
            f"Memory at batch {self.batch}, {self.bytes_per_element} bytes an element "
            "(MB = 10^6 bytes):",
            f"  input: {mb(self.input)}",
            f"  parameters: {mb(self.parameters)}",
            f"  activations, forward (every layer's output): {mb(self.forward)}",
            f"  activations, backward (their gradients): {mb(self.backward)}",
            f"  estimated total: {mb(self.total)}",
            f"  (torchinfo's forward/backward size, outputs of layers with parameters only: "
            f"{mb(self.torchinfo_forward_backward)})",
        ]


def estimate(arch: Architecture, batch: int = 1, bytes_per_element: int = 4) -> Memory:
    """The memory estimate for ``batch`` samples (see the module docstring)."""
    counts = arch.counts
    outputs = batch * counts.activations * bytes_per_element
    weighted = sum(row.counts.activations for row in arch.rows() if row.counts.params)
    return Memory(
        batch=batch,
        bytes_per_element=bytes_per_element,
        input=batch * math.prod(arch.network.input) * bytes_per_element,
        parameters=counts.params * bytes_per_element,
        forward=outputs,
        backward=outputs,
        torchinfo_forward_backward=2 * batch * weighted * bytes_per_element,
    )
