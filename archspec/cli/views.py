"""`archspec graph`, `summary` and `diff`: the network as a picture, as a table, against another."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from archspec.api import Architecture
from archspec.cli.common import (
    SPEC_HELP,
    DefineOption,
    InputOption,
    load_or_exit,
    report,
    spec_argument,
    stdout,
    stop,
    write_or_exit,
)
from archspec.diagnostics import SpecError

FORMATS = ("png", "svg", "dot")
SUFFIXES = {".png": "png", ".svg": "svg", ".dot": "dot", ".gv": "dot"}


class Detail(str, Enum):
    layers = "layers"
    blocks = "blocks"


OutputOption = typer.Option(
    None, "--output", "-o", help="output file, '-' for stdout (default: <spec name>.<format>)"
)
DetailOption = typer.Option(Detail.layers, "--detail", help="one node per layer, or per block")
DepthOption = typer.Option(
    None, "--depth", min=0, help="fold modules below this depth (0: top level only)"
)
DefineAOption = typer.Option(
    [], "--define-a", "-A", help="override a parameter of A only: -A n=3 (repeatable)"
)
DefineBOption = typer.Option(
    [], "--define-b", "-B", help="override a parameter of B only: -B n=9 (repeatable)"
)


def _format(png: bool, svg: bool, dot: bool, output: Path | None) -> str:
    """The one format asked for; else the output's suffix; else png."""
    chosen = [name for name, flag in zip(FORMATS, (png, svg, dot), strict=True) if flag]
    if len(chosen) > 1:
        stop(
            "E402",
            f"choose one output format, found {' and '.join('--' + c for c in chosen)}",
            "pass one of --png, --svg, --dot",
            exit_code=2,
        )
    if chosen:
        return chosen[0]
    return SUFFIXES.get(output.suffix.lower(), "png") if output else "png"


def _draw(arch: Architecture, detail: str) -> Any:
    from archspec.graph import render_graph

    try:
        return render_graph(arch, detail=detail)
    except SpecError as error:  # the graphviz package is missing: names the extra
        report(error)
        raise typer.Exit(1) from None


def _render(digraph: Any, fmt: str) -> bytes:
    """DOT text needs no program; png and svg need graphviz's ``dot``."""
    if fmt == "dot":
        return str(digraph.source).encode()
    import graphviz

    try:
        return bytes(digraph.pipe(format=fmt))
    except graphviz.ExecutableNotFound:
        stop(
            "E403",
            f"cannot render {fmt}: graphviz's `dot` program is not installed",
            "install the Debian package graphviz (sudo apt-get install graphviz), "
            "or write the DOT text with --dot",
        )
    except graphviz.CalledProcessError as error:
        stderr_text = (error.stderr or b"").decode(errors="replace").strip()
        stop(
            "E403",
            f"graphviz's `dot` failed to render {fmt}: {stderr_text}",
            "render the DOT text (--dot) with another graphviz version",
        )


def graph(
    spec: str = typer.Argument(..., help=SPEC_HELP),
    png: bool = typer.Option(False, "--png", help="render a PNG (needs graphviz's dot)"),
    svg: bool = typer.Option(False, "--svg", help="render an SVG (needs graphviz's dot)"),
    dot: bool = typer.Option(False, "--dot", help="write the DOT text (needs no program)"),
    output: Path = OutputOption,
    detail: Detail = DetailOption,
    define: list[str] = DefineOption,
    input: str = InputOption,
) -> None:
    """Draw the network with graphviz: layers (or blocks) as nodes, stages and blocks as
    clusters, shortcuts as in the paper's Figure 3 (dashed where they change the shape)."""
    fmt = _format(png, svg, dot, output)
    arch = load_or_exit(spec, define, input)
    data = _render(_draw(arch, detail.value), fmt)
    if output is not None and str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = output if output is not None else Path(f"{arch.name}.{fmt}")
    write_or_exit(target, data, arch.files)
    stdout.print(f"wrote {target} ({detail.value}, {fmt})")


def summary(
    spec: str = typer.Argument(..., help=SPEC_HELP),
    depth: int = DepthOption,
    define: list[str] = DefineOption,
    input: str = InputOption,
) -> None:
    """A torchinfo-like table: module path, op, output shape, params, mult-adds, totals."""
    from archspec.summary import summary_table

    arch = load_or_exit(spec, define, input)
    typer.echo(summary_table(arch, depth=depth))


def diff(
    spec_a: str = typer.Argument(..., metavar="A", help=SPEC_HELP),
    spec_b: str = typer.Argument(
        None, metavar="B", help="second spec file (default: A again, with the -B overrides)"
    ),
    define: list[str] = DefineOption,
    define_a: list[str] = DefineAOption,
    define_b: list[str] = DefineBOption,
    input: str = InputOption,
) -> None:
    """Compare two specs (or one spec under two settings) stage by stage: params,
    mult-adds, output shapes, and what changed in the blocks (B minus A)."""
    from archspec.diff import diff as compare

    source_a = spec_argument(spec_a)  # read once: standard input cannot be read twice
    first = load_or_exit(source_a, [*define, *define_a], input)
    second = load_or_exit(spec_b or source_a, [*define, *define_b], input)
    typer.echo(compare(first, second).render())


def register(app: typer.Typer) -> None:
    for command in (graph, summary, diff):
        app.command()(command)
