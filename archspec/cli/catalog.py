"""``archspec list``: the networks an installed archspec ships, by the names every command takes."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from archspec.cli.analysis import counts_json, gflops
from archspec.cli.common import epilog, print_table, report, shown
from archspec.diagnostics import SpecError
from archspec.source import printable


def list_specs(
    pattern: str = typer.Argument(
        "", help="show only names containing this text (e.g. cifar, torchvision/)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list, one object per spec"),
) -> None:
    """The shipped specs: name (what load() and every command take), input, params,
    GFLOPs, the paper's figure it reproduces, and what it is."""
    from archspec.api import load
    from archspec.catalog import shipped

    records: list[dict[str, Any]] = []
    for name, path in shipped().items():
        if pattern not in name:
            continue
        try:
            arch = load(path)
        except SpecError as error:  # a shipped spec always compiles; a test checks
            report(error)
            raise typer.Exit(1) from None
        network = arch.network
        records.append(
            {
                "name": name,
                "network": network.name,
                "display_name": network.display_name,
                "input": "x".join(map(str, network.input)),
                **counts_json(arch.counts),
                "source": (network.paper.source if network.paper else "") or "",
                "about": network.description,
            }
        )
    if not records:
        raise typer.BadParameter(f"no shipped spec's name contains {shown(pattern)!r}")
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table(title="shipped specs (archspec flops NAME, archspec.load(NAME))")
    for header in ("name", "network", "input", "params", "GFLOPs", "paper", "about"):
        table.add_column(header, justify="right" if header in ("params", "GFLOPs") else "left")
    for record in records:
        table.add_row(
            record["name"],
            printable(record["display_name"] or record["network"]),
            record["input"],
            f"{record['params']:,}",
            gflops(record["macs"]),
            printable(record["source"]),
            printable(record["about"]),
        )
    print_table(table)


def register(app: typer.Typer) -> None:
    examples = """
  archspec list
  archspec list torchvision/
  archspec list cifar --json
  archspec flops resnet50 torchvision/resnet50 cifar/resnet110"""
    app.command("list", epilog=epilog(examples))(list_specs)
