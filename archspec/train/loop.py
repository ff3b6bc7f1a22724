"""The training loop, the same for both backends: schedule, warm-up, metrics rows,
evaluations and checkpoints, resuming exactly where a checkpoint left off."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rich.console import Console

import archspec
from archspec.api import Architecture
from archspec.train import recipe
from archspec.train.config import TrainConfig, TrainError
from archspec.train.datasets import load_dataset
from archspec.train.pipeline import Prepared, Sharding, TrainBatches, choose_fit, eval_batches
from archspec.train.pipeline import prepare as prepare_data
from archspec.train.position import Position, Totals
from archspec.train.progress import Reporter
from archspec.train.runfolder import Row, RunFolder


class Trainer(Protocol):
    suffix: str
    """a checkpoint's file suffix ("" for a directory)"""
    rank: int
    world: int
    """processes (torchrun); the first writes the run folder"""
    placement: str
    """where it computes, for the log: cpu, 2 processes (gloo), 2 cpu devices"""

    def begin(self, totals: Totals) -> None: ...
    def step(self, images: np.ndarray, labels: np.ndarray, lr: float) -> None: ...
    def totals(self, local: bool = False) -> Totals: ...
    def evaluate(self, batches: Any) -> tuple[int, int]: ...
    def save(self, path: Path, meta: dict[str, str]) -> None: ...
    def restore(self, path: Path) -> dict[str, str]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Output:
    rows: Console
    status: Console


@dataclass(frozen=True)
class Setup:
    """The network as trained (its input fitted to the data) and the prepared data."""

    arch: Architecture
    data: Prepared
    notes: tuple[str, ...]


def setup(config: TrainConfig, mean: np.ndarray | None = None) -> Setup:
    """Compile the spec, read the data, decide how images fit; SpecError if the spec is bad."""
    arch = archspec.load(config.spec, input=config.input, **config.defines)
    channels, height, width = arch.network.input
    dataset = load_dataset(config.dataset, config.data, (channels, height, width))
    fit = choose_fit(config.fit, dataset.shape, (channels, height, width))
    if fit.input != arch.network.input:
        shape = "x".join(map(str, fit.input))
        arch = archspec.load(config.spec, input=shape, **config.defines)
    classes, outputs = len(dataset.classes), arch.network.output[0]
    if classes > outputs:
        raise TrainError(
            f"{dataset.name} has {classes} classes, the network {outputs} outputs",
            help="give the spec a wider head (e.g. a parameter for fc's width)",
        )
    size = "x".join(map(str, dataset.shape))
    notes = (
        f"data: {dataset.name}, {len(dataset.train_labels):,} training and "
        f"{len(dataset.test_labels):,} test images of {size}, {classes} classes",
        f"fit: {fit.description}; network input {'x'.join(map(str, fit.input))}",
    )
    return Setup(arch, prepare_data(dataset, fit, mean), notes)


def make_trainer(setup: Setup, config: TrainConfig, restoring: bool = False) -> Trainer:
    """The backend's trainer; ``restoring`` says a checkpoint will fill it."""
    from archspec.backends import load_backend, missing_extra

    load_backend(config.backend)  # a missing framework is E400 naming the extra
    try:
        if config.backend == "flax":
            from archspec.backends.nnx.trainer import FlaxTrainer

            return FlaxTrainer(setup.arch, config, setup.data.mean, restoring)
        from archspec.backends.pytorch.trainer import TorchTrainer

        return TorchTrainer(setup.arch, config, setup.data.mean)
    except ImportError as error:
        raise missing_extra(config.backend, error) from None


def meta(config: TrainConfig, position: Position) -> dict[str, str]:
    return {"config": config.to_json(), "position": position.to_json()}


def train(
    config: TrainConfig,
    folder: RunFolder,
    console: Console,
    *,
    resume: bool = False,
    until: int = 0,
    status: Console | None = None,
) -> Position:
    """Train (or continue) the run in ``folder`` up to ``until`` (0: the end); returns where
    it stopped. Rows go to metrics.csv and ``console``, checkpoints at every row; a progress
    bar to ``status`` (default: ``console``) if it is a terminal."""
    prepared = setup(config)
    config = config.resolved(len(prepared.data.train_labels))
    latest = folder.latest_checkpoint() if resume else None
    trainer = make_trainer(prepared, config, restoring=latest is not None)
    try:
        output = Output(console, status if status is not None else console)
        return _train(config, folder, output, prepared, trainer, latest, resume, until)
    finally:
        trainer.close()


def _train(
    config: TrainConfig,
    folder: RunFolder,
    output: Output,
    prepared: Setup,
    trainer: Trainer,
    latest: tuple[int, Path] | None,
    resume: bool,
    until: int,
) -> Position:
    first = trainer.rank == 0
    if config.batch_size % trainer.world:
        raise TrainError(f"--batch-size {config.batch_size} does not split over {trainer.world}")
    depth = recipe.weighted_depth([(r.path, r.counts.macs) for r in prepared.arch.rows()])
    warmup = recipe.wants_warmup(config.warmup, depth)
    schedule = config.schedule_for(warmup)
    position = Position(warming=warmup)
    if resume:
        if latest is not None:
            position = Position.from_json(trainer.restore(latest[1])["position"])
        if first:
            folder.keep_rows_until(position.step)
    elif first:
        folder.create(config)
    trainer.begin(position.totals)
    stop = min(until, config.steps) if until else config.steps
    shard = Sharding(trainer.rank, trainer.world)
    batches = TrainBatches(prepared.data, config.batch_size, config.seed, config.augment, shard)
    reporter = Reporter(output.rows, config.steps, position.step, first, output.status)
    for note in (*prepared.notes, _recipe_note(config, schedule, depth, warmup, trainer)):
        reporter.say(note)
    if position.step >= stop:
        reporter.say(f"nothing to do: the run is at step {position.step} of {config.steps}")
        return position

    def save(position: Position) -> None:
        path = folder.checkpoint_path(position.step, trainer.suffix)
        trainer.save(path, meta(config, position))
        if first:
            folder.prune_checkpoints()

    clock = time.perf_counter()

    def timed(position: Position) -> Position:
        return position.moved(seconds=position.seconds + time.perf_counter() - clock)

    with reporter:
        try:
            for images, labels in batches.stream(position.step, stop):
                lr = schedule.rate(position.step, position.warming)
                trainer.step(images, labels, lr)
                position = position.moved(step=position.step + 1)
                if position.warming and position.step % recipe.WARMUP_CHECK_EVERY == 0:
                    position = _check_warmup(position, trainer, reporter, config.lr)
                if position.step % config.interval == 0 or position.step == config.steps:
                    position, row = _row(timed(position), lr, config, trainer, prepared, batches)
                    if first:
                        folder.append(row)
                    reporter.row(row)
                    save(position)
                    clock = time.perf_counter()
                    reporter.advance(position.step)
                elif reporter.due():
                    seen = trainer.totals(local=True) - position.mark
                    speed = seen.images * trainer.world / (time.perf_counter() - clock + 1e-9)
                    reporter.advance(position.step, seen.mean_loss, seen.error_percent, speed)
                else:
                    reporter.advance(position.step)
        except KeyboardInterrupt:
            if trainer.world == 1:  # one process can save where it stands; DDP resumes from
                save(timed(position).moved(totals=trainer.totals()))  # its last checkpoint
            raise
    if position.step % config.interval and position.step < config.steps:
        save(timed(position).moved(totals=trainer.totals()))
    if first:
        from archspec.train.plots import draw_curves

        draw_curves(folder.rows(), folder.curves_path, title=_title(config, prepared))
        reporter.say(f"wrote {folder.metrics_path} and {folder.curves_path}")
    return position


def _check_warmup(position: Position, trainer: Trainer, reporter: Reporter, lr: float) -> Position:
    """End the warm-up once a window's training error is below the paper's 80%."""
    totals = trainer.totals()
    warming = (totals - position.window).error_percent >= recipe.WARMUP_UNTIL_ERROR
    if not warming:
        reporter.say(f"warm-up over at step {position.step}: lr {lr} from now on")
    return position.moved(warming=warming, window=totals)


def _row(
    position: Position,
    lr: float,
    config: TrainConfig,
    trainer: Trainer,
    prepared: Setup,
    batches: TrainBatches,
) -> tuple[Position, Row]:
    """Evaluate and make the metrics row; the marks move to now."""
    totals = trainer.totals()
    seen = totals - position.mark
    shard = Sharding(trainer.rank, trainer.world)
    wrong, counted = trainer.evaluate(
        eval_batches(prepared.data, config.batch_size, config.eval_images, shard)
    )
    elapsed = position.seconds - position.mark_seconds
    row = Row(
        step=position.step,
        epoch=batches.epoch(position.step),
        lr=lr,
        train_loss=seen.mean_loss,
        train_error=seen.error_percent,
        test_error=100.0 * wrong / max(counted, 1),
        images_per_s=seen.images / elapsed if elapsed > 0 else 0.0,
        seconds=position.seconds,
    )
    return replace(position, totals=totals, mark=totals, mark_seconds=position.seconds), row


def _recipe_note(
    config: TrainConfig, schedule: recipe.Schedule, depth: int, warmup: bool, trainer: Trainer
) -> str:
    shape = f"lr {config.lr} ({config.schedule}"
    if schedule.milestones:
        shape += f", /10 at {' and '.join(map(str, schedule.milestones))}"
    if warmup:
        shape += (
            f", {recipe.WARMUP_LEARNING_RATE} until train error < {recipe.WARMUP_UNTIL_ERROR:g}%"
        )
    return (
        f"recipe: {config.steps} steps of batch {config.batch_size} on {trainer.placement}, "
        f"SGD momentum "
        f"{config.momentum}, weight decay {config.weight_decay}, {shape}); depth {depth}; "
        f"augment {'pad 4 + crop + flip' if config.augment else 'off'}, per-pixel mean subtracted"
    )


def _title(config: TrainConfig, prepared: Setup) -> str:
    return f"{prepared.arch.network.name} on {config.dataset} ({Path(config.spec).name})"


@dataclass(frozen=True)
class Evaluation:
    wrong: int
    counted: int
    step: int
    config: TrainConfig

    @property
    def error(self) -> float:
        return 100.0 * self.wrong / max(self.counted, 1)


def evaluate_checkpoint(path: Path, **overrides: Any) -> Evaluation:
    """The test error of a checkpoint (a torch ``.pt`` file or a flax directory), with the
    run's own data, fit and per-pixel mean unless ``overrides`` (config fields) say otherwise."""
    if path.is_dir():
        from archspec.backends.nnx.trainer import read_meta

        saved, mean = read_meta(path)
        backend = "flax"
    elif path.is_file():
        from archspec.backends.pytorch import trainer as torch_trainer

        payload = torch_trainer.read_checkpoint(path)
        saved, mean, backend = payload, torch_trainer.mean_of(payload), "torch"
    else:
        raise TrainError(f"no checkpoint at {path}", help="runs keep them in checkpoints/")
    config = replace(TrainConfig.from_json(saved["config"]), backend=backend, **overrides)
    prepared = setup(config, mean)
    trainer = make_trainer(prepared, config, restoring=True)
    try:
        trainer.restore(path)
        batches = eval_batches(prepared.data, config.batch_size, config.eval_images, Sharding())
        wrong, counted = trainer.evaluate(batches)
    finally:
        trainer.close()
    step = Position.from_json(saved["position"]).step
    return Evaluation(wrong, counted, step, config)
