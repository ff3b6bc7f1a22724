"""The paper's degradation experiment (Figure 6): plain and residual CIFAR nets of the same
depths, trained alike; plain nets get worse with depth, residual nets do not.

Each network is one ordinary run folder under the experiment's folder (``plain-20``,
``resnet-56``, ...), so an interrupted experiment continues where it stopped when run
again with the same settings. The figure is redrawn from the runs' ``metrics.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from archspec.train.config import TrainConfig, TrainError
from archspec.train.loop import train
from archspec.train.plots import draw_degradation
from archspec.train.runfolder import Row, RunFolder

FAMILIES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("plain", "plain networks", {"shortcut": "none"}),
    ("resnet", "residual networks", {}),
)
"""(name, panel title, -D values): the plain presets are the spec with shortcut none"""
LABELS = {"plain": "plain", "resnet": "ResNet"}
FIGURE = "degradation.png"


@dataclass(frozen=True)
class Result:
    family: str
    depth: int
    rows: tuple[Row, ...]


def blocks_per_stage(depth: int) -> int:
    """n for the CIFAR family's 6n+2 layers."""
    n, rest = divmod(depth - 2, 6)
    if rest or n < 1:
        raise TrainError(
            f"--depths: {depth} is not 6n+2 for a whole n >= 1",
            help="the CIFAR nets have 8, 14, 20, 32, 44, 56, 110, ... layers",
        )
    return n


def run_degradation(
    base: TrainConfig, depths: list[int], out: Path, console: Console, status: Console | None = None
) -> list[Result]:
    """Train every (family, depth), shallow first; continue runs left unfinished."""
    sizes = {depth: blocks_per_stage(depth) for depth in depths}  # all checked up front
    results = []
    for depth, (prefix, _, defines) in ((d, f) for d in depths for f in FAMILIES):
        settings = {**base.defines, **defines, "n": sizes[depth]}
        config = replace(base, defines=settings)
        folder = RunFolder(out / f"{prefix}-{depth}")
        console.rule(f"{prefix}-{depth}")
        resume = folder.config_path.exists()
        if resume:
            saved = folder.saved_config()
            if not _same_run(saved, config):
                raise TrainError(
                    f"{folder.root} holds a run with other settings",
                    help="choose another --out, or repeat the settings it was started with",
                )
            config = saved
        train(config, folder, console, resume=resume, status=status)
        results.append(Result(prefix, depth, tuple(folder.rows())))
    panels = [
        (title, [(f"{LABELS[name]}-{r.depth}", r.rows) for r in results if r.family == name])
        for name, title, _ in FAMILIES
    ]
    draw_degradation(panels, out / FIGURE, title=_title(folder.saved_config()))
    return results


def _title(config: TrainConfig) -> str:
    schedule = config.schedule_for(warmup=False)
    decays = (
        f", /10 at {' and '.join(map(str, schedule.milestones))}" if schedule.milestones else ""
    )
    return (
        f"{config.dataset}: {config.steps} iterations of batch {config.batch_size}, "
        f"lr {config.lr} ({config.schedule}{decays})"
    )


def _same_run(saved: TrainConfig, config: TrainConfig) -> bool:
    """Whether a saved run is this one (its steps resolved from epochs, any device)."""
    comparable = replace(saved, device=config.device)
    if config.epochs:
        comparable = replace(comparable, steps=config.steps)
    return comparable == config
