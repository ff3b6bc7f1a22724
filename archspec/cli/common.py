"""What every command shares: spec arguments, -D overrides, errors, and the one writer.

Nothing a spec contains is ever interpreted by the terminal: the consoles take text
literally (no rich markup, no emoji codes), and every renderer of spec text makes its
control characters visible (archspec.source.printable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table

from archspec.api import Architecture, load
from archspec.catalog import is_spec_path, shipped_spec, spec_files
from archspec.diagnostics import Diagnostic, SpecError
from archspec.files import FileProblem, check_output, read_stdin, write_output
from archspec.source import Source, printable

stdout = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

DefineOption = typer.Option(
    [], "--define", "-D", help="override a spec parameter: -D n=18 (repeatable)"
)
InputOption = typer.Option(None, "--input", help="override the input shape, e.g. 3x32x32")
STDIN = "-"
"""The spec argument that reads a spec from standard input."""
SPEC_HELP = "spec file (.yaml, .yml or .arch), shipped spec name (archspec list), or - for stdin"
SPECS_HELP = (
    "spec files (.yaml, .yml or .arch), folders of them, shipped spec names (archspec list), "
    "or - for standard input"
)


def parse_defines(defines: list[str]) -> dict[str, object]:
    """Turn ``["n=18", "k=2.5"]`` into typed values, with the DSL's literal rules; a
    malformed, repeated or absurd one is a usage error (exit 2)."""
    from archspec.frontend.dsl import parse_literal
    from archspec.frontend.grammar import SyntaxProblem

    values: dict[str, object] = {}
    for item in defines:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            fail(f"-D expects name=value, found '{item}'", exit_code=2)
        if key in values:
            fail(
                f"-D {key} is given twice",
                exit_code=2,
                help=f"keep one of the values for {key}",
            )
        try:
            values[key] = parse_literal(text.strip())
        except SyntaxProblem as problem:
            fail(
                f"-D {key}: {problem.diagnostic.message}", exit_code=2, help=problem.diagnostic.help
            )
    return values


def spec_argument(argument: str) -> Path | Source:
    """A command-line spec, by ``archspec.catalog``'s rule: ``-`` is standard input, a
    name with a spec suffix a file, anything else a shipped spec's name (never spec text).
    A folder is refused here: only commands taking several specs expand one."""
    if argument == STDIN:
        try:
            return Source("<stdin>", read_stdin())
        except FileProblem as problem:
            stop("E105", f"cannot read the spec: {problem.message}", problem.help)
    if is_spec_path(argument):
        return Path(argument)
    if Path(argument).is_dir():
        stop(
            "E106",
            f"{shown(argument)} is a folder; this command takes one spec",
            "name one spec file in it, or use `archspec check`/`flops`, which take folders",
        )
    try:
        return shipped_spec(argument)
    except SpecError as error:
        report(error)
        raise typer.Exit(1) from None


def spec_arguments(arguments: list[str]) -> list[str]:
    """Arguments of a command taking several specs, with each folder replaced by the spec
    files in it and below it (sorted, at most ``catalog.MAX_DIRECTORY_SPECS``)."""
    expanded: list[str] = []
    for argument in arguments:
        if argument == STDIN or is_spec_path(argument) or not Path(argument).is_dir():
            expanded.append(argument)
            continue
        try:
            found = spec_files(Path(argument))
        except SpecError as error:
            report(error)
            raise typer.Exit(1) from None
        if not found:
            stop("E106", f"{shown(argument)} holds no spec files (.yaml, .yml or .arch)")
        expanded += [str(path) for path in found]
    return expanded


def shown(argument: str) -> str:
    """A spec argument as messages name it."""
    return "standard input" if argument == STDIN else printable(argument)


def report(error: SpecError) -> None:
    """Print diagnostics to stderr (bounded, control characters made visible)."""
    stderr.print(error.render())
    count = len(error.diagnostics)
    stderr.print(f"\n{count:,} error{'s' if count != 1 else ''}")


def stop(code: str, message: str, help: str = "", exit_code: int = 1) -> NoReturn:
    report(SpecError([Diagnostic(code=code, message=message, help=help)]))
    raise typer.Exit(exit_code)


def fail(message: str, exit_code: int = 1, help: str = "") -> NoReturn:
    """An output or usage problem (E402)."""
    stop("E402", message, help, exit_code)


def load_or_exit(spec: str | Path | Source, defines: list[str], input: str | None) -> Architecture:
    """Compile a spec (a command-line argument, or one already read), or print every
    diagnostic and exit 1."""
    try:
        source = spec_argument(spec) if isinstance(spec, str) else spec
        return load(source, input=input, **parse_defines(defines))
    except SpecError as error:
        report(error)
        raise typer.Exit(1) from None


def write_or_exit(path: Path, data: str | bytes | None, inputs: Iterable[Path] = ()) -> None:
    """The one writer of every command's output file (see archspec.files.write_output):
    a regular file, atomically, never over an input; a refusal is error E402, exit 1.
    ``data`` None only checks, so a long command can refuse before its work."""
    try:
        if data is None:
            check_output(path, inputs)
        else:
            write_output(path, data.encode() if isinstance(data, str) else data, inputs)
    except FileProblem as problem:
        fail(problem.message, help=problem.help or "choose a writable output path with -o")


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
    Console(file=stdout.file, width=width, highlight=False, markup=False, emoji=False).print(table)


def epilog(examples: str) -> str:
    """A command's usage examples for ``--help``, one per line (``\\b``: click keeps the lines)."""
    return f"Examples:\n\n\b{examples}\n"
