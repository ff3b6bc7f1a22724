"""`archspec convert`: move weights between a torch state_dict file and a flax checkpoint."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from archspec.api import Architecture
from archspec.cli.build import Backend
from archspec.cli.common import (
    DefineOption,
    InputOption,
    epilog,
    fail,
    load_or_exit,
    progress,
    report,
    stdout,
    write_atomic,
)
from archspec.diagnostics import SpecError

Step = Callable[[str], None]
FORMATS = {
    "torch": "a file written by torch.save(model.state_dict())",
    "flax": "an orbax checkpoint directory (archspec.backends.checkpoint)",
}


def convert(
    spec: str = typer.Argument(..., help="the spec the weights belong to (.yaml or .arch)"),
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
    if not source.exists():
        fail(f"cannot read {source}: no such file or directory", help=FORMATS[source_format])
    if target.exists() and not force:
        fail(f"{target} exists", help="pass --force to replace it")
    arch = load_or_exit(spec, define, input)
    direction = _torch_to_flax if source_format == "torch" else _flax_to_torch
    try:
        with progress(4) as step:
            count = direction(arch, source, target, step)
    except SpecError as error:
        report(error)
        raise typer.Exit(1) from None
    stdout.print(
        f"wrote {target} ({target_format}: {count} tensors, {arch.counts.params:,} parameters)",
        markup=False,
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
        "flax", ("archspec.backends.flax_nnx", "archspec.backends.checkpoint")
    )
    step(f"reading {source}")
    state_dict = pytorch.read_state_dict(source)
    step("building the flax model from the weights")
    model = flax_nnx.build(arch.network, weights=state_dict)
    step(f"writing {target}")
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    checkpoint.save(target, model)
    return len(state_dict)


def _flax_to_torch(arch: Architecture, source: Path, target: Path, step: Step) -> int:
    step("loading torch and flax")
    (torch,) = _import("torch", ("torch",))
    flax_nnx, checkpoint, convert = _import(
        "flax",
        ("archspec.backends.flax_nnx", "archspec.backends.checkpoint", "archspec.backends.convert"),
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
    state_dict = convert.to_torch_state_dict(arch.network, model)
    step(f"writing {target}")
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    write_atomic(target, buffer.getvalue())
    return len(state_dict)


EXAMPLES = """
  archspec convert specs/torchvision/resnet50.yaml resnet50.pt resnet50_ckpt
  archspec convert specs/torchvision/resnet50.yaml resnet50_ckpt back.pt --from flax --to torch"""


def register(app: typer.Typer) -> None:
    app.command(epilog=epilog(EXAMPLES))(convert)
