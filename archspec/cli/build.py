"""`archspec build`: write a spec's network as one standalone framework module."""

from __future__ import annotations

import re
import sys
from enum import Enum
from pathlib import Path
from types import ModuleType

import typer

from archspec.cli.common import (
    SPEC_HELP,
    DefineOption,
    InputOption,
    epilog,
    load_or_exit,
    progress,
    report,
    stdout,
    write_or_exit,
)
from archspec.diagnostics import SpecError


class Backend(str, Enum):
    """The frameworks archspec emits and builds for (archspec.backends.BACKENDS)."""

    torch = "torch"
    flax = "flax"


BackendOption = typer.Option(Backend.torch, "--backend", "-b", help="the framework")
OutputOption = typer.Option(
    None, "--output", "-o", help="output file, '-' for stdout [default: <spec name>_<backend>.py]"
)


def _backend(name: str) -> ModuleType:
    """The backend module; an unknown name is a usage error (2), a missing framework 1."""
    from archspec.backends import load_backend

    try:
        return load_backend(name)
    except SpecError as error:  # its framework is not installed
        report(error)
        raise typer.Exit(1) from None


def default_output(name: str, backend: str) -> Path:
    """``<spec name>_<backend>.py`` in the current directory, importable as a module."""
    stem = re.sub(r"\W", "_", name) or "network"
    return Path(f"{stem}_{backend}.py")


def build(
    spec: str = typer.Argument(..., help=SPEC_HELP),
    backend: Backend = BackendOption,
    output: Path = OutputOption,
    define: list[str] = DefineOption,
    input: str = InputOption,
) -> None:
    """Write the network as one standalone, readable Python module (torch or flax)."""
    name = backend.value
    with progress(3) as step:
        step(f"loading {name}")
        module = _backend(name)
        step("compiling the spec")
        arch = load_or_exit(spec, define, input)
        step(f"writing the {name} module")
        try:
            source = str(module.emit_source(arch.network, arch.counts, arch.knobs()))
        except SpecError as error:
            report(error)
            raise typer.Exit(1) from None
    if output is not None and str(output) == "-":
        sys.stdout.write(source)
        return
    target = output if output is not None else default_output(arch.name, name)
    write_or_exit(target, source, arch.files)
    counts = arch.counts
    stdout.print(
        f"wrote {target} ({name}: {counts.params:,} parameters, {counts.macs:,} mult-adds)"
    )


EXAMPLES = """
  archspec build specs/torchvision/resnet50.yaml              # -> resnet50_torch.py
  archspec build specs/cifar/resnet20.yaml -D n=18 -o resnet110.py
  archspec build specs/resnet18.yaml --backend flax --input 3x64x64 -o -"""


def register(app: typer.Typer) -> None:
    app.command(epilog=epilog(EXAMPLES))(build)
