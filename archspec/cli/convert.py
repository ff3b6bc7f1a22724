"""`archspec convert`: move weights between a torch state_dict file and a flax checkpoint."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import typer

from archspec.api import Architecture
from archspec.cli.common import (
    DefineOption,
    InputOption,
    fail,
    load_or_exit,
    report,
    stdout,
    write_atomic,
)
from archspec.diagnostics import SpecError

FORMATS = {
    "torch": "a file written by torch.save(model.state_dict())",
    "flax": "an orbax checkpoint directory (archspec.backends.nnx.checkpoint)",
}


def convert(
    spec: str = typer.Argument(..., help="the spec the weights belong to (.yaml or .arch)"),
    source: Path = typer.Argument(..., help="weights to read"),
    target: Path = typer.Argument(..., help="where to write the converted weights"),
    source_format: str = typer.Option("torch", "--from", help="torch or flax"),
    target_format: str = typer.Option("flax", "--to", help="torch or flax"),
    force: bool = typer.Option(False, "--force", "-f", help="replace an existing target"),
    define: list[str] = DefineOption,
    input: str = InputOption,
) -> None:
    """Convert weights: a torch state_dict (.pt) <-> a flax checkpoint (directory).

    Tensors are matched by the spec's module paths; conv kernels go OIHW <-> HWIO,
    linear weights are transposed, batch norm statistics are kept. Both ways are exact.
    """
    if {source_format, target_format} != {"torch", "flax"}:
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
    try:
        if source_format == "torch":
            count = _torch_to_flax(arch, source, target)
        else:
            count = _flax_to_torch(arch, source, target)
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


def _torch_to_flax(arch: Architecture, source: Path, target: Path) -> int:
    (torch,) = _import("torch", ("torch",))
    flax_nnx, checkpoint = _import(
        "flax", ("archspec.backends.nnx", "archspec.backends.nnx.checkpoint")
    )
    try:
        state_dict = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file it cannot read
        fail(f"cannot read {source} as a torch state_dict: {error}", help=FORMATS["torch"])
    if not isinstance(state_dict, dict):
        found = type(state_dict).__name__
        fail(f"{source} holds a {found}, not a state_dict", help=FORMATS["torch"])
    model = flax_nnx.build(arch.network, weights=state_dict)
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    checkpoint.save(target, model)
    return len(state_dict)


def _flax_to_torch(arch: Architecture, source: Path, target: Path) -> int:
    (torch,) = _import("torch", ("torch",))
    flax_nnx, checkpoint, builder = _import(
        "flax",
        (
            "archspec.backends.nnx",
            "archspec.backends.nnx.checkpoint",
            "archspec.backends.nnx.builder",
        ),
    )
    model = flax_nnx.build(arch.network, abstract=True)
    try:
        checkpoint.restore(source, model)
    except (ValueError, KeyError, FileNotFoundError) as error:
        fail(
            f"cannot restore {source} for this spec: {error}",
            help="convert with the spec (and -D values) the checkpoint was saved for",
        )
    state_dict = builder.torch_state_dict(arch.network, model)
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    write_atomic(target, buffer.getvalue())
    return len(state_dict)


def register(app: typer.Typer) -> None:
    app.command()(convert)
