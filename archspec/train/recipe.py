"""The paper's CIFAR-10 recipe (section 4.2) and the learning-rate schedules built from it.

SGD with momentum 0.9 and weight decay 1e-4, batch 128, learning rate 0.1 divided by 10
at 32k and 48k iterations, stop at 64k. Networks of 110 layers and more start at 0.01
until the training error is below 80% (about 400 iterations), then go back to 0.1.
A shorter run (``--steps N``) keeps the milestones at the same fractions (N/2, 3N/4), so
a short schedule still ends with both decays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BATCH_SIZE = 128
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
STEPS = 64_000
MILESTONES = (32_000, 48_000)
DECAY = 10
WARMUP_LEARNING_RATE = 0.01
WARMUP_UNTIL_ERROR = 80.0
"""percent: warm-up ends once the training error over a check window is below this"""
WARMUP_MIN_DEPTH = 110
WARMUP_CHECK_EVERY = 50
"""steps per warm-up window: the mean error of each window decides, one host sync each"""
PAD = 4
"""pixels of zero padding before the random crop"""


@dataclass(frozen=True)
class Schedule:
    """Learning rate as a function of the step (and of whether warm-up is still on)."""

    kind: str
    base: float
    steps: int
    warmup: float | None = None
    """the warm-up rate, or None for no warm-up"""

    @property
    def milestones(self) -> tuple[int, ...]:
        """The paper's decay steps, scaled to this run's length (32k, 48k for 64k steps)."""
        if self.kind != "paper":
            return ()
        return tuple(self.steps * m // STEPS for m in MILESTONES)

    def rate(self, step: int, warming: bool = False) -> float:
        """The rate for the update at ``step`` (0-based)."""
        if warming and self.warmup is not None:
            return self.warmup
        if self.kind == "cosine":
            return self.base * 0.5 * (1.0 + math.cos(math.pi * step / self.steps))
        decays = sum(step >= m for m in self.milestones)
        return self.base / float(DECAY**decays)


def weighted_depth(rows: list[tuple[str, int]]) -> int:
    """The paper's depth: layers with multiply-adds (conv and fc), from (path, macs) rows.

    Projection shortcuts count too; with option A (the CIFAR nets) there are none.
    """
    return sum(1 for _, macs in rows if macs > 0)


def wants_warmup(mode: str, depth: int) -> bool:
    """``auto`` warms up from 110 layers on, as the paper did for ResNet-110 and -1202."""
    return mode == "on" or (mode == "auto" and depth >= WARMUP_MIN_DEPTH)
