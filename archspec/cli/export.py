"""`archspec export`: the network as ONNX, TorchScript or a torch.export program, checked."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

import typer

from archspec.api import Architecture
from archspec.backends import EXPORT_FORMATS
from archspec.cli.common import (
    DefineOption,
    InputOption,
    epilog,
    load_or_exit,
    progress,
    report,
    stdout,
    write_atomic,
)
from archspec.diagnostics import SpecError


class ExportFormat(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"
    exported_program = "exported-program"


EXAMPLES = """
  archspec export specs/cifar/resnet20.yaml              # -> resnet20.onnx
  archspec export specs/torchvision/resnet50.yaml --format torchscript -o r50.pt
  archspec export specs/resnet18.yaml --weights trained.pt --format exported-program"""


def export(
    spec: str = typer.Argument(..., help="spec file (.yaml or .arch)"),
    format: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="what to write"),
    output: Path = typer.Option(
        None, "--output", "-o", help="output file [default: <spec name>.onnx, .pt or .pt2]"
    ),
    weights: Path = typer.Option(
        None, "--weights", "-w", help="a torch state_dict to export [default: random init]"
    ),
    define: list[str] = DefineOption,
    input: str = InputOption,
) -> None:
    """Export the network for inference (eval mode, dynamic batch), checked before writing.

    onnx: torch.onnx's exporter, onnx.checker, then onnxruntime against torch.
    torchscript: torch.jit.script, saved and loaded back. exported-program: torch.export,
    saved and loaded back. Outputs must equal torch's within 1e-5 (relative to the
    largest output) at two batch sizes, or nothing is written. Needs the torch extra,
    and for onnx the export extra.
    """
    name = format.value
    arch = load_or_exit(spec, define, input)
    target = output if output is not None else Path(arch.name + EXPORT_FORMATS[name])
    with progress(4) as step:
        step("loading torch")
        backend = _export_backend()
        step("building the torch model")
        model = _model(arch, weights)
        step(f"exporting to {name} and checking it against torch")
        try:
            exported = backend.export(model, arch.network.input, name)
        except SpecError as error:
            report(error)
            raise typer.Exit(1) from None
        step(f"writing {target}")
        write_atomic(target, exported.data)
    stdout.print(
        f"wrote {target} ({name}, {len(exported.data):,} bytes; largest difference from "
        f"torch {exported.difference:.1g})",
        markup=False,
    )


def _export_backend() -> ModuleType:
    from archspec.backends import missing_extra

    try:
        from archspec.backends import export as backend
    except ImportError as error:
        report(missing_extra("torch", error))
        raise typer.Exit(1) from None
    return backend


def _model(arch: Architecture, weights: Path | None) -> Any:
    """``arch.to_torch()``, with the weights loaded strictly when given."""
    from archspec.backends.pytorch import load_state_dict, read_state_dict

    model = arch.to_torch()
    if weights is None:
        return model
    try:
        return load_state_dict(model, read_state_dict(weights))
    except SpecError as error:
        report(error)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    app.command(epilog=epilog(EXAMPLES))(export)
