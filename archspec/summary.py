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
from functools import singledispatch
from typing import TYPE_CHECKING

from archspec import ir
from archspec.cost import Counts
from archspec.shapes import describe as describe_shape

if TYPE_CHECKING:
    from archspec.api import Architecture

EMPTY = "--"


# -- short descriptions: "conv 3x3 /2, 64->128" ------------------------------------------


def _stride(stride: int) -> str:
    return f" /{stride}" if stride != 1 else ""


@singledispatch
def describe_op(op: object) -> str:
    """An op and its key arguments in a few characters, e.g. ``conv 3x3 /2, 64->128``."""
    return str(getattr(op, "op", type(op).__name__))


@describe_op.register
def _conv(op: ir.Conv2d) -> str:
    extras = [f"groups {op.groups}"] if op.groups != 1 else []
    extras += [f"dilation {op.dilation}"] if op.dilation != 1 else []
    extras += ["bias"] if op.bias else []
    tail = "".join(f", {e}" for e in extras)
    kernel = f"{op.kernel}x{op.kernel}{_stride(op.stride)}"
    return f"conv {kernel}, {op.in_channels}->{op.out_channels}{tail}"


@describe_op.register
def _bn(op: ir.BatchNorm2d) -> str:
    return f"bn {op.channels}" + (", zero-init" if op.zero_init else "")


@describe_op.register(ir.MaxPool2d)
@describe_op.register(ir.AvgPool2d)
def _pool(op: ir.MaxPool2d | ir.AvgPool2d) -> str:
    return f"{op.op} {op.kernel}x{op.kernel}{_stride(op.stride)}"


@describe_op.register
def _adaptive(op: ir.AdaptiveAvgPool2d) -> str:
    return "global avgpool" if op.size == 1 else f"adaptive avgpool {op.size}x{op.size}"


@describe_op.register
def _linear(op: ir.Linear) -> str:
    return f"fc {op.in_features}->{op.out_features}"


@describe_op.register
def _dropout(op: ir.Dropout) -> str:
    return f"dropout {op.p:g}"


@describe_op.register
def _zero_pad(op: ir.ZeroPadShortcut) -> str:
    return f"zero-pad{_stride(op.stride)}, {op.in_channels}->{op.out_channels}"


def describe_block(block: ir.Block) -> str:
    """The block type, its width and stride, e.g. ``basic 128 /2``."""
    arguments = dict(block.arguments)
    width = arguments.get("width", block.output[0])
    stride = arguments.get("stride", 1)
    text = f"{block.block} {width}"
    return text + (f" /{stride}" if isinstance(stride, int) and stride != 1 else "")


def describe_module(module: ir.Layer | ir.Sequence | ir.Block) -> str:
    if isinstance(module, ir.Layer):
        return describe_op(module.op)
    if isinstance(module, ir.Block):
        return describe_block(module)
    return "stage" if module.stage else "sequential"


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
    return list(_rows(arch.network.children, arch.counts_by_path, 0, depth))


def _rows(
    modules: tuple[ir.Module, ...], counts: dict[str, Counts], level: int, depth: int | None
) -> Iterator[SummaryRow]:
    for module in modules:
        children = ir.children_of(module)
        expanded = bool(children) and (depth is None or level < depth)
        total = counts[module.path]
        yield SummaryRow(
            path=module.path,
            depth=level,
            op=describe_module(module),
            output=module.output,
            params=None if expanded else total.params,
            macs=None if expanded else total.macs,
        )
        if expanded:
            yield from _rows(children, counts, level + 1, depth)


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
    return "\n".join(
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


def _totals(arch: Architecture) -> list[str]:
    total = arch.counts
    lines = [
        f"Total params: {total.params:,}",
        f"Mult-adds (conv + fc, the paper's FLOPs): {total.macs:,}",
        f"fvcore total (+ batch norm, global pool): {total.fvcore:,}",
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
