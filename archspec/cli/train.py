"""`archspec train`, `eval` and `experiment`: train specs on real data with the paper's recipe.

Options left out take the run's saved value on ``--resume`` and the paper's CIFAR recipe
otherwise; the heavy work (and every framework import) is in ``archspec.train``.
"""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from archspec.cli.build import Backend
from archspec.cli.common import (
    DefineOption,
    InputOption,
    epilog,
    fail,
    parse_defines,
    report,
    stderr,
    stdout,
)
from archspec.diagnostics import SpecError
from archspec.train.config import (
    DatasetChoice,
    DeviceChoice,
    FitChoice,
    ScheduleChoice,
    TrainConfig,
    TrainError,
    WarmupChoice,
)

DatasetOption = typer.Option(None, "--dataset", help="the data [default: cifar10]")
DataOption = typer.Option(
    None,
    "--data",
    help="dataset folder [default: ./cifar-10-batches-py; fashion-mnist: "
    "/usr/share/datasets/fashion-mnist; folder: required]",
)
FitOption = typer.Option(
    None, "--fit", help="images vs the spec's input; input: rebuild the network for the data's "
    "shape [default: auto: pad if they fit, else resize]",
)  # fmt: skip
StepsOption = typer.Option(None, "--steps", help="iterations [default: 64000, the paper's]")
EpochsOption = typer.Option(None, "--epochs", help="passes over the training set (sets --steps)")
BatchOption = typer.Option(None, "--batch-size", help="global batch [default: 128]")
LrOption = typer.Option(None, "--lr", help="base learning rate [default: 0.1]")
ScheduleOption = typer.Option(
    None, "--schedule", help="paper: /10 at 1/2 and 3/4 of the steps [default: paper]"
)
WarmupOption = typer.Option(
    None, "--warmup", help="0.01 until train error < 80% [default: auto: from 110 layers]"
)
AugmentOption = typer.Option(None, "--augment/--no-augment", help="pad 4, crop, flip [default: on]")
SeedOption = typer.Option(None, "--seed", help="weights, data order and augmentation [default: 0]")
EvalEveryOption = typer.Option(
    None,
    "--eval-every",
    help="steps per metrics row, test error, checkpoint [default: steps/100]",
)
EvalImagesOption = typer.Option(
    None, "--eval-images", help="evaluate on the first N test images [default: all]"
)
BackendOption = typer.Option(None, "--backend", "-b", help="the framework [default: torch]")
DeviceOption = typer.Option(None, "--device", help="[default: cpu]")
AmpOption = typer.Option(None, "--amp/--no-amp", help="bf16 autocast (fp16 on older GPUs)")
ChannelsLastOption = typer.Option(None, "--channels-last/--no-channels-last", help="NHWC memory")
CompileOption = typer.Option(None, "--compile/--no-compile", help="torch.compile the model")
LocalBnOption = typer.Option(
    None,
    "--local-bn/--global-bn",
    help="DDP: per-process batch norm statistics [default: global]",
)


TRAIN_SPEC_HELP = "spec file (.yaml, .yml or .arch) or shipped spec name (archspec list)"


def _config(
    spec: str, define: list[str], input: str | None, arguments: dict[str, Any]
) -> tuple[TrainConfig, set[str]]:
    """The requested TrainConfig from a command's arguments (those named like its fields),
    and the names of the options actually given."""
    settable = {f.name for f in fields(TrainConfig)} - {"spec", "defines", "input"}
    given = {
        name: value.value if isinstance(value, Enum) else value
        for name, value in arguments.items()
        if name in settable and value is not None
    }
    if "steps" in given and "epochs" in given:
        fail("give --steps or --epochs, not both", exit_code=2)
    explicit = set(given) | ({"defines"} if define else set()) | ({"input"} if input else set())
    config = TrainConfig(spec=spec, defines=parse_defines(define), input=input, **given)
    return config, explicit


def _run(action: Any) -> Any:
    """Run ``action``; a TrainError or SpecError is a message and exit 1, Ctrl-C exit 130."""
    try:
        return action()
    except TrainError as error:
        fail(error.message, help=error.help)
    except SpecError as error:
        report(error)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        stdout.print("interrupted: continue the run with the same command and --resume")
        raise typer.Exit(130) from None


def train(
    spec: str = typer.Argument(..., help=TRAIN_SPEC_HELP),
    define: list[str] = DefineOption,
    input: str = InputOption,
    dataset: DatasetChoice = DatasetOption,
    data: str = DataOption,
    fit: FitChoice = FitOption,
    steps: int = StepsOption,
    epochs: float = EpochsOption,
    batch_size: int = BatchOption,
    lr: float = LrOption,
    schedule: ScheduleChoice = ScheduleOption,
    warmup: WarmupChoice = WarmupOption,
    augment: bool = AugmentOption,
    seed: int = SeedOption,
    eval_every: int = EvalEveryOption,
    eval_images: int = EvalImagesOption,
    backend: Backend = BackendOption,
    device: DeviceChoice = DeviceOption,
    amp: bool = AmpOption,
    channels_last: bool = ChannelsLastOption,
    compile: bool = CompileOption,
    local_bn: bool = LocalBnOption,
    out: Path = typer.Option(None, "--out", help="run folder [default: runs/<spec name>]"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out exactly"),
    until: int = typer.Option(0, "--until", help="stop this session after step N (resumable)"),
) -> None:
    """Train a spec: the paper's CIFAR recipe by default, metrics.csv, curves.png, checkpoints.

    Under `torchrun --nproc-per-node N -m archspec train ...` each process trains a DDP
    replica on its slice of every global batch (gloo on the CPU, NCCL on GPUs).
    """
    from archspec.train.loop import train as run
    from archspec.train.runfolder import RunFolder

    arguments = dict(locals())  # the options named like TrainConfig's fields

    def action() -> None:
        config, explicit = _config(spec, define, input, arguments)
        folder = RunFolder(out if out is not None else Path("runs") / Path(spec).stem)
        if resume:
            config = folder.saved_config().continued_with(config, explicit)
        stdout.print(f"run folder: {folder.root}", markup=False)
        run(config, folder, stdout, resume=resume, until=until, status=stderr)

    _run(action)


def evaluate(
    spec: str = typer.Argument(..., help="the spec the checkpoint was trained from"),
    checkpoint: Path = typer.Option(..., "--checkpoint", help="a run's checkpoints/step-N(.pt)"),
    define: list[str] = DefineOption,
    input: str = InputOption,
    dataset: DatasetChoice = DatasetOption,
    data: str = DataOption,
    device: DeviceChoice = DeviceOption,
    eval_images: int = EvalImagesOption,
) -> None:
    """Print a checkpoint's test error (with the run's data, fit and per-pixel mean)."""
    from archspec.train.loop import evaluate_checkpoint

    overrides: dict[str, Any] = {"spec": spec}
    for name, value in (("defines", parse_defines(define) or None), ("input", input),
                        ("dataset", dataset), ("data", data), ("device", device),
                        ("eval_images", eval_images)):  # fmt: skip
        if value is not None:
            overrides[name] = value.value if isinstance(value, Enum) else value
    result = _run(lambda: evaluate_checkpoint(checkpoint, **overrides))
    stdout.print(
        f"test error {result.error:.2f}% ({result.wrong:,} of {result.counted:,} "
        f"{result.config.dataset} test images), step {result.step}",
        markup=False,
    )


def experiment(
    name: str = typer.Argument(..., help="degradation (the paper's Figure 6)"),
    spec: str = typer.Option(
        "cifar/cifar", "--spec", help="the CIFAR family (6n+2): a file or a name"
    ),
    depths: str = typer.Option("20,56", "--depths", help="comma-separated 6n+2 depths"),
    define: list[str] = DefineOption,
    dataset: DatasetChoice = DatasetOption,
    data: str = DataOption,
    fit: FitChoice = FitOption,
    steps: int = StepsOption,
    epochs: float = EpochsOption,
    batch_size: int = BatchOption,
    lr: float = LrOption,
    seed: int = SeedOption,
    eval_every: int = EvalEveryOption,
    eval_images: int = EvalImagesOption,
    backend: Backend = BackendOption,
    device: DeviceChoice = DeviceOption,
    out: Path = typer.Option(Path("runs/degradation"), "--out", help="experiment folder"),
) -> None:
    """Train plain and residual nets of each depth alike, and draw the paper's Figure 6."""
    from archspec.train.experiment import FIGURE, run_degradation

    if name != "degradation":
        fail(f"unknown experiment '{name}'", exit_code=2, help="experiments: degradation")
    try:
        numbers = [int(d) for d in depths.split(",")]
    except ValueError:
        fail(f"--depths {depths}: expected integers such as 20,56", exit_code=2)
    arguments = dict(locals())  # the options named like TrainConfig's fields

    def action() -> None:
        base, _ = _config(spec, define, None, arguments)
        results = run_degradation(base, numbers, out, stdout, status=stderr)
        stdout.print(f"\nwrote {out / FIGURE}", markup=False)
        for result in results:
            last = result.rows[-1]
            stdout.print(
                f"{result.family}-{result.depth}: train error {last.train_error:.2f}%, "
                f"test error {last.test_error:.2f}% at step {last.step}",
                markup=False,
            )

    _run(action)


TRAIN_EXAMPLES = """
  archspec train specs/cifar/resnet20.yaml --data ~/data/cifar-10-batches-py
  archspec train specs/cifar/cifar.yaml -D n=9 --dataset fashion-mnist --steps 2000 --out runs/r56
  archspec train specs/cifar/cifar.yaml --out runs/r56 --resume
  torchrun --nproc-per-node 2 -m archspec train specs/cifar/resnet20.yaml --dataset fashion-mnist
  archspec train specs/cifar/resnet20.yaml --device cuda --amp --channels-last --compile"""
EVAL_EXAMPLES = """
  archspec eval specs/cifar/cifar.yaml --checkpoint runs/r56/checkpoints/step-0002000.pt"""
EXPERIMENT_EXAMPLES = """
  archspec experiment degradation --dataset fashion-mnist --depths 20,56 --steps 2000
  archspec experiment degradation --data ~/data/cifar-10-batches-py --depths 20,32,44,56"""


def register(app: typer.Typer) -> None:
    app.command(epilog=epilog(TRAIN_EXAMPLES))(train)
    app.command("eval", epilog=epilog(EVAL_EXAMPLES))(evaluate)
    app.command(epilog=epilog(EXPERIMENT_EXAMPLES))(experiment)
