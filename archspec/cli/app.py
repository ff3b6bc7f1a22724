"""The ``archspec`` command: each group of subcommands lives in its own module."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="archspec",
    help="Compile network specs: check shapes, count params and FLOPs, draw, emit models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ("analysis", "views", "build", "convert", "train")
"""Modules under archspec.cli that define ``register(app)``."""

for _name in COMMAND_MODULES:
    importlib.import_module(f"archspec.cli.{_name}").register(app)


def main() -> None:
    app()
