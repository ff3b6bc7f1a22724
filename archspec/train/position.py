"""Where a run stands: what a checkpoint stores besides the weights, so that resuming is exact.

Training losses and errors are kept as running totals since the start of the run (summed
on the device, read only when needed); a metrics row is the difference between the totals
now and at the previous row, so a run resumed mid-interval writes the same row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Totals:
    """Sums over the training images seen so far, over every process."""

    loss: float = 0.0
    errors: float = 0.0
    images: float = 0.0

    def __sub__(self, other: Totals) -> Totals:
        return Totals(
            self.loss - other.loss, self.errors - other.errors, self.images - other.images
        )

    @property
    def mean_loss(self) -> float:
        return self.loss / self.images if self.images else float("nan")

    @property
    def error_percent(self) -> float:
        return 100.0 * self.errors / self.images if self.images else float("nan")


@dataclass(frozen=True)
class Position:
    step: int = 0
    warming: bool = False
    """still at the warm-up learning rate"""
    totals: Totals = field(default_factory=Totals)
    mark: Totals = field(default_factory=Totals)
    """totals at the last metrics row"""
    window: Totals = field(default_factory=Totals)
    """totals at the last warm-up check"""
    seconds: float = 0.0
    """training wall time over all sessions, evaluations and checkpoints excluded"""
    mark_seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Position:
        data: dict[str, Any] = json.loads(text)
        for name in ("totals", "mark", "window"):
            data[name] = Totals(**data[name])
        return cls(**data)

    def moved(self, **changes: Any) -> Position:
        return replace(self, **changes)
