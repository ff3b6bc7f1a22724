"""`archspec check`, `flops`, `schema` and `reference`: the commands that never load a framework."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer
from rich.table import Table

from archspec.api import Architecture
from archspec.cli.common import (
    SPECS_HELP,
    DefineOption,
    InputOption,
    epilog,
    load_or_exit,
    parse_defines,
    print_table,
    report,
    shown,
    spec_argument,
    spec_arguments,
    stdout,
)
from archspec.counts import Counts
from archspec.diagnostics import SpecError


def check(
    specs: list[str] = typer.Argument(..., help=SPECS_HELP),
    define: list[str] = DefineOption,
    input: str = InputOption,
    short: bool = typer.Option(
        False, "--short", help="one line per error: file:line:col: error[E...]"
    ),
    as_json: bool = typer.Option(False, "--json", help="every diagnostic as one JSON list"),
) -> None:
    """Check specs: exit 0 when all compile, else print every error and exit 1."""
    from archspec.api import load

    parameters = parse_defines(define)
    diagnostics: list[dict[str, object]] = []
    failed = 0
    for path in spec_arguments(specs):
        try:
            load(spec_argument(path), input=input, **parameters)
            if not as_json:
                stdout.print(f"{shown(path)}: ok")
        except SpecError as error:
            failed += 1
            if as_json:
                diagnostics += error.as_json()
            elif short:
                typer.echo(error.short(), err=True)
            else:
                report(error)
    if as_json:
        typer.echo(json.dumps(diagnostics, indent=2))
    if failed:
        raise typer.Exit(1)


def gflops(macs: int) -> str:
    """One decimal, as the paper prints them (3.6, 19.6); three for the small CIFAR nets."""
    return f"{macs / 1e9:.1f}" if macs >= 1e9 else f"{macs / 1e9:.3f}"


def _against_paper(record: dict[str, Any]) -> tuple[str, str]:
    """The paper's figure (FLOPs if given, else params) and our difference from it."""
    paper = record["paper"] or {}
    for key, scale, unit in (("macs", 1e9, "G"), ("params", 1e6, "M params")):
        if paper.get(key):
            figure = paper[key]
            return f"{figure / scale:g}{unit}", f"{(record[key] - figure) / figure:+.1%}"
    return "", ""


def counts_json(counts: Counts) -> dict[str, int]:
    return {
        "params": counts.params,
        "macs": counts.macs,
        "activations": counts.activations,
        "norm": counts.norm,
        "pool": counts.pool,
        "fvcore": counts.fvcore,
    }


def _record(path: str, arch: Architecture, per_stage: bool, per_layer: bool) -> dict[str, Any]:
    network = arch.network
    paper = network.paper
    record: dict[str, Any] = {
        "spec": path,
        "name": network.name,
        "input": "x".join(map(str, network.input)),
        "output": list(network.output),
        **counts_json(arch.counts),
        "paper": paper.as_dict() if paper else None,
        "parameters": dict(network.parameters),
    }
    if per_stage:
        record["stages"] = [
            {
                "name": name,
                "output": list(stage.output),
                "blocks": len(stage.members),
                **counts_json(arch.counts_by_path[name]),
            }
            for name, stage in network.stages()
        ]
    if per_layer:
        record["layers"] = [
            {"path": row.path, "op": row.op, "output": list(row.output), **counts_json(row.counts)}
            for row in arch.rows()
        ]
    return record


def flops(
    specs: list[str] = typer.Argument(..., help=SPECS_HELP),
    define: list[str] = DefineOption,
    input: str = InputOption,
    as_json: bool = typer.Option(False, "--json", help="print a JSON list, one object per spec"),
    per_stage: bool = typer.Option(False, "--per-stage", help="add a row per stage"),
    per_layer: bool = typer.Option(False, "--per-layer", help="add a row per layer"),
    fvcore: bool = typer.Option(
        False, "--fvcore", help="add fvcore's batch-norm and pooling counts"
    ),
) -> None:
    """Params and mult-adds (the paper's FLOPs), against the paper's figures."""
    loaded = [(path, load_or_exit(path, define, input)) for path in spec_arguments(specs)]
    records = [_record(path, arch, per_stage, per_layer) for path, arch in loaded]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table(title="multiply-adds (the paper's FLOPs) and parameters", title_justify="left")
    for header in ("spec", "input", "params", "GFLOPs", "paper", "diff"):
        table.add_column(header, justify="left" if header in ("spec", "input") else "right")
    if fvcore:
        table.add_column("fvcore GFLOPs", justify="right")
    for record in records:
        cells = [
            record["name"],
            record["input"],
            f"{record['params']:,}",
            gflops(record["macs"]),
            *_against_paper(record),
        ]
        table.add_row(*cells, *([gflops(record["fvcore"])] if fvcore else []))
        for row in record.get("stages", []) + record.get("layers", []):
            name = row.get("name") or row["path"]
            shape = "x".join(map(str, row["output"]))
            table.add_row(
                f"  {name}",
                shape,
                f"{row['params']:,}",
                gflops(row["macs"]),
                "",
                "",
                *([gflops(row["fvcore"])] if fvcore else []),
            )
    print_table(table)


def schema() -> None:
    """Print the JSON Schema of the YAML spec form, for editors (completion and checks)."""
    from archspec.frontend.editor_schema import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


def reference() -> None:
    """Print the built-in layers, their arguments and defaults (the language reference table)."""
    from archspec.ops.reference import reference_markdown

    typer.echo(reference_markdown(), nl=False)


EXAMPLES: dict[Callable[..., None], str] = {
    check: """
  archspec check specs/*.yaml specs/arch/*.arch
  archspec check --short my_net.yaml            # file:line:col: error[E305]: ...
  archspec check --json my_net.yaml -D n=18""",
    flops: """
  archspec flops specs/*.yaml
  archspec flops specs/cifar/cifar.yaml -D n=18 --input 3x64x64
  archspec flops specs/resnet50.yaml --per-stage --fvcore --json""",
    schema: """
  archspec schema > archspec.schema.json
  # then, first line of a spec: # yaml-language-server: $schema=archspec.schema.json""",
    reference: """
  archspec reference > layers.md""",
}


def register(app: typer.Typer) -> None:
    for command, examples in EXAMPLES.items():
        app.command(epilog=epilog(examples))(command)
