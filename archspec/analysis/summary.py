"""The network as a torchinfo-like table: one row per module, counts, totals.

Leaf rows (primitive ops) carry their own params and mult-adds; a container row (stage,
group, block) shows ``--`` while its children are listed and its subtotal once a depth
limit folds them away, so the displayed numbers always add up to the totals, as in
torchinfo. The totals are the cost pass's, the same numbers as ``archspec flops``.

The short op and block descriptions here are shared with the graph labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archspec import ir
from archspec.counts import Counts
from archspec.ops.base import channels
from archspec.ops.base import describe as describe_shape
from archspec.source import printable

if TYPE_CHECKING:
    from archspec.architecture import Architecture

EMPTY = "--"


# -- short descriptions: "conv 3x3 /2, 64->128", "basic 128 /2" ------------------------------


def describe_block(block: ir.Group) -> str:
    """The block type, its width and stride, e.g. ``basic 128 /2``."""
    arguments = dict(block.arguments)
    width = arguments.get("width", channels(block.output))
    stride = arguments.get("stride", 1)
    text = f"{block.definition} {width}"
    return text + (f" /{stride}" if isinstance(stride, int) and stride != 1 else "")


def describe_module(module: ir.Node) -> str:
    if isinstance(module, ir.Layer):
        return module.op.label()
    if module.definition:
        return describe_block(module)
    if module.stage:
        return "stage"
    return "sequential" if module.is_chain else "branches"


def human(number: int) -> str:
    """``118013952`` -> ``118M``: three significant digits for labels."""
    for scale, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(number) >= scale:
            return f"{number / scale:.3g}{suffix}"
    return str(number)


# -- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    """One displayed line: a module at a depth, with the numbers shown for it (None: ``--``)."""

    path: str
    depth: int
    op: str
    output: ir.Shape
    params: int | None
    macs: int | None


def summary_rows(arch: Architecture, depth: int | None = None) -> list[SummaryRow]:
    """Rows in execution order; modules deeper than ``depth`` (0 = top level) are folded."""
    return list(_rows(arch.network, "", arch.counts_by_path, 0, depth))


def _rows(
    parent: ir.Network | ir.Node,
    prefix: str,
    counts: dict[str, Counts],
    level: int,
    depth: int | None,
) -> Iterator[SummaryRow]:
    for member in ir.children(parent):
        path = f"{prefix}.{member.name}" if prefix else member.name
        module = member.node
        expanded = bool(ir.children(module)) and (depth is None or level < depth)
        total = counts[path]
        yield SummaryRow(
            path=path,
            depth=level,
            op=describe_module(module),
            output=module.output,
            params=None if expanded else total.params,
            macs=None if expanded else total.macs,
        )
        if expanded:
            yield from _rows(module, path, counts, level + 1, depth)


def _number(value: int | None) -> str:
    return EMPTY if not value else f"{value:,}"


def summary_table(arch: Architecture, depth: int | None = None, batch: int | None = None) -> str:
    """The table as text: path, op, output shape, params, mult-adds, then the totals, and
    with ``batch`` the memory estimate for that many samples."""
    header = ("Module path", "Op", "Output shape", "Params", "Mult-adds")
    cells = [
        (
            "  " * r.depth + r.path,
            r.op,
            describe_shape(r.output),
            _number(r.params),
            _number(r.macs),
        )
        for r in summary_rows(arch, depth)
    ]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        left = [cell.ljust(width) for cell, width in zip(row[:3], widths[:3], strict=True)]
        right = [cell.rjust(width) for cell, width in zip(row[3:], widths[3:], strict=True)]
        return "  ".join(left + right).rstrip()

    rule = "=" * (sum(widths) + 2 * (len(widths) - 1))
    network = arch.network
    text = "\n".join(
        [
            f"{network.name}: input {describe_shape(network.input)}, "
            f"output {describe_shape(network.output)}",
            rule,
            line(header),
            rule,
            *(line(cell) for cell in cells),
            rule,
            *_totals(arch),
            rule,
            *([*arch.memory(batch).lines(), rule] if batch is not None else []),
        ]
    )
    return printable(text)  # the paper's source is spec text


UNSEEN = ", - attention products"
"""fvcore counts no scaled_dot_product_attention: its total leaves them out."""


def _totals(arch: Architecture) -> list[str]:
    total = arch.counts
    lines = [
        f"Total params: {total.params:,}",
        f"Mult-adds ({total.macs_of}, the paper's FLOPs): {total.macs:,}",
        f"fvcore total (+ batch norm, global pool{UNSEEN if total.attention else ''}): "
        f"{total.fvcore:,}",
        f"Activations (elements of every layer output): {total.activations:,}",
    ]
    paper = arch.network.paper
    if paper is not None and (paper.macs or paper.params):
        reported = [
            f"{human(round(paper.macs))} mult-adds" if paper.macs else "",
            f"{human(round(paper.params))} params" if paper.params else "",
        ]
        source = f" ({paper.source})" if paper.source else ""
        lines.append("Paper: " + ", ".join(r for r in reported if r) + source)
    return lines
