"""`archspec build`: write a spec's network as one standalone framework module."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import typer

from archspec.cli.common import (
    SPEC_HELP,
    DefineOption,
    InputOption,
    load_or_exit,
    report,
    stdout,
    write_or_exit,
)
from archspec.diagnostics import SpecError

BackendOption = typer.Option("torch", "--backend", "-b", help="torch or flax")
OutputOption = typer.Option(
    None, "--output", "-o", help="output file, '-' for stdout [default: <spec name>_<backend>.py]"
)


def _backend(name: str) -> ModuleType:
    """The backend module; an unknown name is a usage error (2), a missing framework 1."""
    from archspec.backends import load_backend

    try:
        return load_backend(name)
    except SpecError as error:
        report(error)
        raise typer.Exit(2 if error.code == "E401" else 1) from None


def default_output(name: str, backend: str) -> Path:
    """``<spec name>_<backend>.py`` in the current directory, importable as a module."""
    stem = re.sub(r"\W", "_", name) or "network"
    return Path(f"{stem}_{backend}.py")


def build(
    spec: str = typer.Argument(..., help=SPEC_HELP),
    backend: str = BackendOption,
    output: Path = OutputOption,
    define: list[str] = DefineOption,
    input: str = InputOption,
) -> None:
    """Write the network as one standalone, readable Python module (torch or flax)."""
    module = _backend(backend)
    arch = load_or_exit(spec, define, input)
    try:
        source = str(module.emit_source(arch.network, arch.counts))
    except SpecError as error:
        report(error)
        raise typer.Exit(1) from None
    if output is not None and str(output) == "-":
        sys.stdout.write(source)
        return
    target = output if output is not None else default_output(arch.name, backend)
    write_or_exit(target, source, arch.files)
    counts = arch.counts
    stdout.print(
        f"wrote {target} ({backend}: {counts.params:,} parameters, {counts.macs:,} mult-adds)"
    )


def register(app: typer.Typer) -> None:
    app.command()(build)
