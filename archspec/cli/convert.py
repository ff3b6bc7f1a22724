"""`archspec convert`: move weights between a torch state_dict file and a flax checkpoint."""

from __future__ import annotations

import io
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from archspec.api import Architecture
from archspec.cli.build import Backend
from archspec.cli.common import (
    SPEC_HELP,
    DefineOption,
    InputOption,
    epilog,
    fail,
    load_or_exit,
    progress,
    report,
    stdout,
    write_or_exit,
)
from archspec.diagnostics import SpecError
from archspec.files import kind_of

Step = Callable[[str], None]
CHECKPOINT_MARK = "_CHECKPOINT_METADATA"
"""The file orbax writes into every checkpoint folder."""
FORMATS = {
    "torch": "a file written by torch.save(model.state_dict())",
    "flax": "an orbax checkpoint directory (archspec.backends.nnx.checkpoint)",
}


def convert(
    spec: str = typer.Argument(..., help="the spec the weights belong to: " + SPEC_HELP),
    source: Path = typer.Argument(..., help="weights to read"),
    target: Path = typer.Argument(..., help="where to write the converted weights"),
    source_backend: Backend = typer.Option(Backend.torch, "--from", help="what SOURCE holds"),
    target_backend: Backend = typer.Option(Backend.flax, "--to", help="what to write"),
    force: bool = typer.Option(False, "--force", "-f", help="replace an existing target"),
    define: list[str] = DefineOption,
    input: str = InputOption,
) -> None:
    """Convert weights: a torch state_dict (.pt) <-> a flax checkpoint (directory).

    Tensors are matched by the spec's module paths; conv kernels go OIHW <-> HWIO,
    linear weights are transposed, batch norm statistics are kept. Both ways are exact.
    """
    source_format, target_format = source_backend.value, target_backend.value
    if source_format == target_format:
        fail(
            f"--from {source_format} --to {target_format}: convert goes between torch and flax",
            exit_code=2,
            help="use --from torch --to flax, or --from flax --to torch",
        )
    _check_source(source, source_format)
    if target.exists() or target.is_symlink():
        if not force:
            fail(f"{target} exists", help="pass --force to replace it")
        if target_format == "flax":
            _check_checkpoint_target(target)
    arch = load_or_exit(spec, define, input)
    if target_format == "torch":
        write_or_exit(target, None, (*arch.files, source))  # refuse before converting
    direction = _torch_to_flax if source_format == "torch" else _flax_to_torch
    try:
        with progress(4) as step:
            count = direction(arch, source, target, step)
    except SpecError as error:
        report(error)
        raise typer.Exit(1) from None
    stdout.print(
        f"wrote {target} ({target_format}: {count} tensors, {arch.counts.params:,} parameters)"
    )


def _check_source(source: Path, fmt: str) -> None:
    """Weights are read from a regular file (torch) or a directory (flax), never from a
    FIFO or a device."""
    try:
        mode = os.stat(source).st_mode
    except OSError as error:
        fail(f"cannot read {source}: {error.strerror}", help=FORMATS[fmt])
    wanted = stat.S_ISREG(mode) if fmt == "torch" else stat.S_ISDIR(mode)
    if not wanted:
        fail(f"cannot read {source}: it is {kind_of(mode)}", help=FORMATS[fmt])


def _check_checkpoint_target(target: Path) -> None:
    """--force replaces a flax target only if it is a checkpoint directory: never a
    device, a file, a link, or a folder that holds something else."""
    if target.is_symlink() or not target.is_dir():
        kind = "a symbolic link" if target.is_symlink() else kind_of(os.stat(target).st_mode)
        fail(f"cannot replace {target}: it is {kind}", help="give a new folder for the checkpoint")
    if not (target / CHECKPOINT_MARK).is_file():
        fail(
            f"cannot replace {target}: it is a folder, but not an orbax checkpoint",
            help="--force replaces only a checkpoint (a folder holding _CHECKPOINT_METADATA)",
        )


def _import(extra: str, names: tuple[str, ...]) -> list[Any]:
    """Modules a direction needs; a missing framework is error E400 naming the extra."""
    import importlib

    from archspec.backends import missing_extra

    try:
        return [importlib.import_module(name) for name in names]
    except ImportError as error:
        report(missing_extra(extra, error))
        raise typer.Exit(1) from None


def _torch_to_flax(arch: Architecture, source: Path, target: Path, step: Step) -> int:
    step("loading torch and flax")
    (pytorch,) = _import("torch", ("archspec.backends.pytorch",))
    flax_nnx, checkpoint = _import(
        "flax", ("archspec.backends.nnx", "archspec.backends.nnx.checkpoint")
    )
    step(f"reading {source}")
    state_dict = pytorch.read_state_dict(source)
    step("building the flax model from the weights")
    model = flax_nnx.build(arch.network, weights=state_dict)
    step(f"writing {target}")
    if target.is_dir():  # a checkpoint, checked before anything was read
        shutil.rmtree(target)
    checkpoint.save(target, model)
    return len(state_dict)


def _flax_to_torch(arch: Architecture, source: Path, target: Path, step: Step) -> int:
    step("loading torch and flax")
    (torch,) = _import("torch", ("torch",))
    flax_nnx, checkpoint, builder = _import(
        "flax",
        (
            "archspec.backends.nnx",
            "archspec.backends.nnx.checkpoint",
            "archspec.backends.nnx.builder",
        ),
    )
    step("building the flax model's shapes")
    model = flax_nnx.build(arch.network, abstract=True)
    step(f"reading {source}")
    try:
        checkpoint.restore(source, model)
    except (ValueError, KeyError, FileNotFoundError) as error:
        fail(
            f"cannot restore {source} for this spec: {error}",
            help="convert with the spec (and -D values) the checkpoint was saved for",
        )
    state_dict = builder.torch_state_dict(arch.network, model)
    step(f"writing {target}")
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    write_or_exit(target, buffer.getvalue(), (*arch.files, source))
    return len(state_dict)


EXAMPLES = """
  archspec convert specs/torchvision/resnet50.yaml resnet50.pt resnet50_ckpt
  archspec convert specs/torchvision/resnet50.yaml resnet50_ckpt back.pt --from flax --to torch"""


def register(app: typer.Typer) -> None:
    app.command(epilog=epilog(EXAMPLES))(convert)
