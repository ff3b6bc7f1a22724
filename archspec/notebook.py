"""An Architecture in a notebook: a one-line repr, and HTML with the summary and the graph.

The HTML is what Jupyter shows for ``arch`` at the end of a cell: a title line, the
summary table at block depth (stages unfolded into blocks, blocks folded), the totals,
and the block-level graph as inline SVG when graphviz (the Python package and its
``dot`` program) is installed. Past ``MAX_BLOCKS`` blocks (ResNet-152 has 50, the CIFAR
ResNet-1202 600) the table folds the stages and the graph is left out: drawing 600
blocks takes seconds and megabytes. Every piece of spec text is escaped.
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING

from archspec import ir
from archspec.shapes import describe as describe_shape
from archspec.summary import summary_rows

if TYPE_CHECKING:
    from archspec.api import Architecture

MAX_BLOCKS = 200
STYLE = "text-align:right;font-variant-numeric:tabular-nums"


def one_line(arch: Architecture) -> str:
    """``<Architecture resnet50: input 3x224x224, output 1000, 25,557,032 params, ...>``."""
    network, counts = arch.network, arch.counts
    return (
        f"<Architecture {network.name}: input {describe_shape(network.input)}, "
        f"output {describe_shape(network.output)}, {counts.params:,} params, "
        f"{counts.macs / 1e9:.3g} GFLOPs>"
    )


def html(arch: Architecture) -> str:
    """The summary table at block depth and, when graphviz can draw it, the block graph."""
    blocks = sum(isinstance(module, ir.Block) for module in ir.walk(arch.network))
    small = blocks <= MAX_BLOCKS
    note = "" if small else f"<p>{blocks} blocks: stages folded, no graph</p>"
    return (
        f"<div><p><code>{escape(one_line(arch))}</code></p>{note}"
        f"{_table(arch, depth=1 if small else 0)}{_block_graph_svg(arch) if small else ''}</div>"
    )


def _cell(text: str, numeric: bool = False) -> str:
    style = f' style="{STYLE}"' if numeric else ' style="text-align:left"'
    return f"<td{style}>{escape(text)}</td>"


def _number(value: int | None) -> str:
    return "--" if not value else f"{value:,}"


def _table(arch: Architecture, depth: int) -> str:
    header = "".join(
        f"<th>{name}</th>" for name in ("Module path", "Op", "Output shape", "Params", "Mult-adds")
    )
    rows = [
        "<tr>"
        + _cell("\u2003" * row.depth + row.path)
        + _cell(row.op)
        + _cell(describe_shape(row.output))
        + _cell(_number(row.params), numeric=True)
        + _cell(_number(row.macs), numeric=True)
        + "</tr>"
        for row in summary_rows(arch, depth)
    ]
    total = arch.counts
    footer = (
        "<tr><th>Total</th><td></td><td></td>"
        + _cell(f"{total.params:,}", numeric=True)
        + _cell(f"{total.macs:,}", numeric=True)
        + "</tr>"
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}{footer}</tbody></table>"


def _block_graph_svg(arch: Architecture) -> str:
    """Inline SVG of the block-level graph; empty when graphviz or its ``dot`` is missing."""
    from archspec.diagnostics import SpecError
    from archspec.graph import import_graphviz, render_graph

    try:
        graphviz = import_graphviz()
    except SpecError:
        return ""
    try:
        svg = render_graph(arch, detail="blocks").pipe(format="svg").decode()
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError):
        return ""
    return PROLOGUE.sub("", svg, count=1)


PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
"""The XML declaration and DOCTYPE before ``<svg``, which do not belong inside HTML."""
