"""What every command shares: loading specs with -D overrides, errors, atomic writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from archspec.api import Architecture, load
from archspec.diagnostics import Diagnostic, SpecError

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

DefineOption = typer.Option(
    [], "--define", "-D", help="override a spec parameter: -D n=18 (repeatable)"
)
InputOption = typer.Option(None, "--input", help="override the input shape, e.g. 3x32x32")


def parse_defines(defines: list[str]) -> dict[str, object]:
    """Turn ``["n=18", "k=2.5"]`` into typed values, with the DSL's literal rules."""
    from archspec.frontend.dsl import parse_literal

    values: dict[str, object] = {}
    for item in defines:
        key, sep, text = item.partition("=")
        if not sep or not key.strip().isidentifier():
            fail(f"-D expects name=value, found '{item}'", exit_code=2)
        values[key.strip()] = parse_literal(text.strip())
    return values


def report(error: SpecError) -> None:
    """Print diagnostics to stderr, as plain text (no markup interpretation)."""
    stderr.print(error.render(), markup=False)
    count = len(error.diagnostics)
    stderr.print(f"\n{count} error{'s' if count != 1 else ''}", markup=False)


def fail(message: str, exit_code: int = 1, help: str = "") -> None:
    report(SpecError([Diagnostic(code="E402", message=message, help=help)]))
    raise typer.Exit(exit_code)


def load_or_exit(path: str, defines: list[str], input: str | None) -> Architecture:
    try:
        return load(path, input=input, **parse_defines(defines))
    except SpecError as error:
        report(error)
        raise typer.Exit(1) from None


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: never a half-written output.

    An unwritable path or a directory is a clear error (exit 1), with nothing left behind.
    """
    raw = data.encode() if isinstance(data, str) else data
    if path.is_dir():
        fail(f"cannot write {path}: it is a directory", help="give a file name with -o")
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror}", help="choose a writable output path with -o")
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; outputs are ordinary files
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        fail(f"cannot write {path}: {error.strerror}", help="choose a writable output path with -o")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def progress(steps: int) -> Iterator[Callable[[str], None]]:
    """A transient progress bar on stderr for commands that take seconds, on a terminal only
    (never in a pipe, a file or a log). Call ``step("what now")`` at the start of each step."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )
    with bar:
        task = bar.add_task("", total=steps)
        done = -1

        def step(description: str) -> None:
            nonlocal done
            done += 1
            bar.update(task, description=description, completed=done)

        yield step


def print_table(table: Table) -> None:
    """A rich table in full: wrapped on a terminal, never cut to 80 columns in a pipe or a file."""
    if stdout.is_terminal:
        stdout.print(table)
        return
    from rich.measure import Measurement

    unbounded = stdout.options.update(max_width=1 << 16)
    width = max(Measurement.get(stdout, unbounded, table).maximum, stdout.width)
    Console(file=stdout.file, width=width, highlight=False).print(table)


def epilog(examples: str) -> str:
    """A command's usage examples for ``--help``, one per line (``\\b``: click keeps the lines)."""
    return f"Examples:\n\n\b{examples}\n"
