"""The ``archspec`` command: each group of subcommands lives in its own module."""

from __future__ import annotations

import importlib

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


def main() -> None:
    app()
