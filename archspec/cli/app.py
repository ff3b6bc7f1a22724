"""The ``archspec`` command: each group of subcommands lives in its own module."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

import typer

app = typer.Typer(
    name="archspec",
    help="Compile network specs: check shapes, count params and FLOPs, draw, emit models.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,  # click's layout: paragraphs reflowed, \b blocks (examples) kept
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ("analysis", "catalog", "views", "build", "export", "convert", "train")
"""Modules under archspec.cli that define ``register(app)``."""

for _name in COMMAND_MODULES:
    importlib.import_module(f"archspec.cli.{_name}").register(app)


def _print_version(value: bool) -> None:
    if value:
        from archspec import __version__

        typer.echo(f"archspec {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="print the version"
    ),
) -> None:
    """Compile network specs: check shapes, count params and FLOPs, draw, emit models."""


FRAMEWORKS = ("torch", "jax")
"""Modules whose exit handlers must run (worker processes, caches written at exit)."""


def main() -> None:
    """The command line. A command that loaded no framework ends without tearing down its
    objects, as mypy's does: Python's finalisation frees every module and object one by
    one, a fifth of the run of ``archspec flops`` (our output is flushed first, and
    files are written whole before a command returns)."""
    try:
        app()
    except SystemExit as exit:
        if any(name in sys.modules for name in FRAMEWORKS):
            raise
        code = exit.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError):  # a reader that stopped reading (`| head`)
                stream.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)
