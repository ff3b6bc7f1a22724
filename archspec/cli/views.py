"""`archspec graph`, `summary` and `diff`: the network as a picture, as a table, against another."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from archspec.api import Architecture
from archspec.cli.common import (
    DefineOption,
    InputOption,
    epilog,
    load_or_exit,
    report,
    stdout,
    write_atomic,
)
from archspec.cost import Counts
from archspec.diagnostics import Diagnostic, SpecError

if TYPE_CHECKING:
    from archspec.diff import ArchitectureDiff

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


def _stop(code: str, message: str, help: str, exit_code: int = 1) -> NoReturn:
    report(SpecError([Diagnostic(code=code, message=message, help=help)]))
    raise typer.Exit(exit_code)


def _format(png: bool, svg: bool, dot: bool, output: Path | None) -> str:
    """The one format asked for; else the output's suffix; else png."""
    chosen = [name for name, flag in zip(FORMATS, (png, svg, dot), strict=True) if flag]
    if len(chosen) > 1:
        _stop(
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
        _stop(
            "E403",
            f"cannot render {fmt}: graphviz's `dot` program is not installed",
            "install the Debian package graphviz (sudo apt-get install graphviz), "
            "or write the DOT text with --dot",
        )
    except graphviz.CalledProcessError as error:
        stderr_text = (error.stderr or b"").decode(errors="replace").strip()
        _stop(
            "E403",
            f"graphviz's `dot` failed to render {fmt}: {stderr_text}",
            "render the DOT text (--dot) with another graphviz version",
        )


def graph(
    spec: str = typer.Argument(..., help="spec file (.yaml or .arch)"),
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
    target = output if output is not None else Path(f"{arch.name or Path(spec).stem}.{fmt}")
    write_atomic(target, data)
    stdout.print(f"wrote {target} ({detail.value}, {fmt})", markup=False)


def summary(
    spec: str = typer.Argument(..., help="spec file (.yaml or .arch)"),
    depth: int = DepthOption,
    batch: int = typer.Option(
        None, "--batch", min=1, help="add a memory estimate for this many samples"
    ),
    as_json: bool = typer.Option(False, "--json", help="the rows and totals as one JSON object"),
    define: list[str] = DefineOption,
    input: str = InputOption,
) -> None:
    """A torchinfo-like table: module path, op, output shape, params, mult-adds, totals;
    with --batch, the memory a training step needs (input, parameters, activations
    forward and backward)."""
    from archspec.summary import summary_table

    arch = load_or_exit(spec, define, input)
    if as_json:
        typer.echo(json.dumps(_summary_json(spec, arch, depth, batch), indent=2))
    else:
        typer.echo(summary_table(arch, depth=depth, batch=batch))


def _summary_json(
    spec: str, arch: Architecture, depth: int | None, batch: int | None
) -> dict[str, Any]:
    from archspec.cli.analysis import counts_json
    from archspec.summary import summary_rows

    network = arch.network
    return {
        "spec": spec,
        "name": network.name,
        "input": list(network.input),
        "output": list(network.output),
        "rows": [{**asdict(row), "output": list(row.output)} for row in summary_rows(arch, depth)],
        "totals": counts_json(arch.counts),
        "memory": arch.memory(batch).as_dict() if batch is not None else None,
    }


def diff(
    spec_a: str = typer.Argument(..., metavar="A", help="spec file"),
    spec_b: str = typer.Argument(
        None, metavar="B", help="second spec file (default: A again, with the -B overrides)"
    ),
    define: list[str] = DefineOption,
    define_a: list[str] = DefineAOption,
    define_b: list[str] = DefineBOption,
    input: str = InputOption,
    as_json: bool = typer.Option(False, "--json", help="totals, sections and changes as JSON"),
) -> None:
    """Compare two specs (or one spec under two settings) stage by stage: params,
    mult-adds, output shapes, and what changed in the blocks (B minus A)."""
    from archspec.diff import diff as compare

    first = load_or_exit(spec_a, [*define, *define_a], input)
    second = load_or_exit(spec_b or spec_a, [*define, *define_b], input)
    result = compare(first, second)
    typer.echo(json.dumps(_diff_json(result), indent=2) if as_json else result.render())


def _diff_json(result: ArchitectureDiff) -> dict[str, Any]:
    """B minus A as data: totals, then per section both sides, the deltas and the changes."""

    def counts(a: Counts, b: Counts) -> dict[str, dict[str, int]]:
        return {
            key: {
                "a": getattr(a, key),
                "b": getattr(b, key),
                "delta": getattr(b, key) - getattr(a, key),
            }
            for key in ("params", "macs")
        }

    return {
        "a": result.label_a,
        "b": result.label_b,
        **counts(result.total_a, result.total_b),
        "sections": [
            {
                "name": section.name,
                "output_a": list(section.a.output) if section.a else None,
                "output_b": list(section.b.output) if section.b else None,
                **counts(section.counts_a, section.counts_b),
                "changes": [asdict(change) for change in section.changes],
            }
            for section in result.sections
        ],
    }


EXAMPLES: dict[Callable[..., None], str] = {
    graph: """
  archspec graph specs/resnet34.yaml --detail blocks          # -> resnet34.png
  archspec graph specs/cifar/resnet20.yaml --svg -o resnet20.svg
  archspec graph specs/cifar/cifar.yaml -D n=9 --dot -o -""",
    summary: """
  archspec summary specs/cifar/resnet20.yaml --depth 1
  archspec summary specs/torchvision/resnet50.yaml --batch 32   # with a memory estimate
  archspec summary specs/resnet18.yaml --json""",
    diff: """
  archspec diff specs/plain34.yaml specs/torchvision/resnet34.yaml
  archspec diff specs/cifar/resnet20.yaml -B n=5                # ResNet-20 -> ResNet-32
  archspec diff specs/resnet34.yaml -A shortcut=A -B shortcut=B --json""",
}


def register(app: typer.Typer) -> None:
    for command, examples in EXAMPLES.items():
        app.command(epilog=epilog(examples))(command)
