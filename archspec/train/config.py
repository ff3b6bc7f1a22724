"""The resolved configuration of a training run: every choice, written to ``config.json``.

A run is reproducible from this file alone: the spec and its parameters, the data and how
images were fitted, the recipe, the seed. ``--resume`` reads it back and refuses options
that would change the run it continues.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any

from archspec.backends import BACKENDS
from archspec.train import recipe


class DatasetChoice(str, Enum):
    cifar10 = "cifar10"
    fashion_mnist = "fashion-mnist"
    folder = "folder"


class FitChoice(str, Enum):
    auto = "auto"
    pad = "pad"
    resize = "resize"
    input = "input"


class ScheduleChoice(str, Enum):
    paper = "paper"
    cosine = "cosine"


class WarmupChoice(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


class DeviceChoice(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


CHOICES: dict[str, tuple[str, ...]] = {
    "backend": tuple(BACKENDS),
    **{
        name: tuple(member.value for member in choices)
        for name, choices in (
            ("dataset", DatasetChoice),
            ("fit", FitChoice),
            ("schedule", ScheduleChoice),
            ("warmup", WarmupChoice),
            ("device", DeviceChoice),
        )
    },
}
"""the allowed values of each string setting (the command line offers them as choices)"""
RESUMABLE_CHANGES = frozenset({"device"})
"""options a resumed run may change (where it stops, ``--until``, is not part of the run)"""


class TrainError(Exception):
    """A run cannot start or continue: a message and a hint, shown without a traceback."""

    def __init__(self, message: str, help: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.help = help


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a run computes."""

    spec: str
    defines: dict[str, Any]
    input: str | None = None
    dataset: str = "cifar10"
    data: str | None = None
    fit: str = "auto"
    steps: int = recipe.STEPS
    epochs: float = 0.0
    """when set, ``steps`` is resolved from it and the training set's size"""
    batch_size: int = recipe.BATCH_SIZE
    lr: float = recipe.LEARNING_RATE
    momentum: float = recipe.MOMENTUM
    weight_decay: float = recipe.WEIGHT_DECAY
    schedule: str = "paper"
    warmup: str = "auto"
    augment: bool = True
    seed: int = 0
    eval_every: int = 0
    """steps between test evaluations (and metrics rows, checkpoints); 0: steps // 100"""
    eval_images: int = 0
    """test images per evaluation (the first ones); 0: the whole test set"""
    backend: str = "torch"
    device: str = "cpu"
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    local_bn: bool = False
    """DDP: each replica's own batch statistics (the paper's two GPUs) instead of global ones"""

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise TrainError(f"--{name} {value}: expected one of {', '.join(allowed)}")
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise TrainError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("eval_every", "eval_images", "seed"):
            if getattr(self, name) < 0:
                raise TrainError(f"--{name.replace('_', '-')} must not be negative")
        if self.lr <= 0 or self.epochs < 0:
            raise TrainError("--lr must be positive, and --epochs not negative")
        if self.backend == "flax" and (self.amp or self.channels_last or self.compile):
            raise TrainError(
                "--amp, --channels-last and --compile are torch options",
                help="the flax backend is always compiled by XLA; drop these flags",
            )

    @property
    def interval(self) -> int:
        """Steps between metrics rows, test evaluations and checkpoints."""
        return self.eval_every or max(1, self.steps // 100)

    def resolved(self, train_images: int) -> TrainConfig:
        """``steps`` from ``epochs`` (whole batches per epoch, as the loader draws them)."""
        if not self.epochs:
            return self
        per_epoch = max(1, train_images // self.batch_size)
        return replace(self, steps=max(1, math.ceil(self.epochs * per_epoch)))

    def schedule_for(self, warmup: bool) -> recipe.Schedule:
        rate = recipe.WARMUP_LEARNING_RATE if warmup else None
        return recipe.Schedule(self.schedule, self.lr, self.steps, warmup=rate)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainError(f"config.json has unknown settings: {', '.join(unknown)}")
        return cls(**data)

    def continued_with(self, requested: TrainConfig, explicit: set[str]) -> TrainConfig:
        """This saved config, with what a ``--resume`` invocation may change.

        ``explicit`` names the options given on the command line; any that would change
        the computation is refused, since a resumed run must continue the same run.
        """
        changes = {}
        for name in sorted(explicit):
            mine, theirs = getattr(self, name), getattr(requested, name)
            if name in RESUMABLE_CHANGES:
                changes[name] = theirs
            elif mine != theirs:
                flag = "-D" if name == "defines" else f"--{name.replace('_', '-')}"
                raise TrainError(
                    f"{flag} {theirs} differs from the run being resumed ({mine})",
                    help="a resumed run continues exactly; start a new run in another --out",
                )
        return replace(self, **changes)
