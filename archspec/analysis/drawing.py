"""How each kind of IR node is drawn, for ``archspec.analysis.graph``.

A ``Drawer`` walks one namespace's flow into one graphviz (sub)graph: layers and blocks
become nodes, stages, blocks and named groups clusters, branches edges into a combine node
(see ``archspec.analysis.graph`` for the picture and the ``class`` of every node and edge).
Paths are computed here, as the walk enters each member: IR nodes do not know theirs.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from archspec import ir
from archspec.analysis.summary import describe_block, human
from archspec.counts import Counts
from archspec.ops.base import describe as describe_shape

if TYPE_CHECKING:
    import graphviz

COLUMN_BLOCKS = {"layers": 4, "blocks": 12}
"""The most blocks in one column before a stage wraps, per detail."""

INPUT = "/input"
"""The input node's id: '/' never occurs in a module path, so it cannot collide."""

FONT = "Helvetica"
FILL = {
    "conv": "#dbe9f6",
    "bn": "#fdf3d0",
    "relu": "#e3f1dc",
    "sigmoid": "#e3f1dc",
    "maxpool": "#f1e1f4",
    "avgpool": "#f1e1f4",
    "adaptive_avgpool": "#f1e1f4",
    "global_avgpool": "#f1e1f4",
    "fc": "#fde0d9",
    "zero_pad": "#eeeeee",
}
SHORTCUT_COLOR = "#1f5fa8"
SHORTCUT_LABEL = {"zero_pad": "zero-pad", "projection": "projection"}
COMBINE_LABEL = {"add": "add", "concat": "concat", "mul": "x"}
COMBINE_WORD = {"add": "sum", "concat": "concat", "mul": "product"}
"""How a "from <path>" stand-in names a combine node: ``from layer3.11 (sum)``."""


class Tail(NamedTuple):
    """The node that produced the current tensor; ``shortcut``: the edges leaving it run
    along a shortcut's downsample path (the shortcut's kind)."""

    node: str
    shortcut: str = ""


@dataclass(frozen=True)
class Canvas:
    """What the drawing shares: the detail level, the counts of every path, and the edges,
    which are written at the top level once every cluster is drawn (an edge written inside
    a cluster would pull both of its nodes into that cluster)."""

    detail: str
    counts: dict[str, Counts]
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: [INPUT])
    """the first node of every column, left to right"""
    shown: dict[str, str] = field(default_factory=dict)
    """how a "from ..." stand-in names a node that is not a module (a combine node)"""

    def connect(self, tail: Tail, head: str, **attributes: str) -> None:
        if tail.shortcut and "class" not in attributes:
            attributes = _shortcut_style(tail.shortcut, "downsample") | attributes
        self.edges.append((tail.node, head, attributes))

    def combine_id(self, prefix: str, kind: str) -> str:
        """``layer2.0/add``: the namespace and the combination, numbered when it repeats."""
        base, number = f"{prefix}/{kind}", 2
        node = base
        while node in self.shown:
            node, number = f"{base}{number}", number + 1
        self.shown[node] = f"{prefix} ({COMBINE_WORD[kind]})" if prefix else COMBINE_WORD[kind]
        return node


class Drawer(ir.Visitor[None]):
    """Draws the flow of one namespace into one (sub)graph.

    ``tail`` is the node that holds the current tensor; each step draws its nodes, queues
    its edges on the canvas and moves ``tail`` on. A member's path is known only here,
    where its parent names it: ``member`` keeps it in ``path`` and ``name`` for the node.
    """

    def __init__(self, canvas: Canvas, graph: graphviz.Digraph, prefix: str, tail: Tail) -> None:
        self.canvas = canvas
        self.graph = graph
        self.prefix = prefix
        self.tail = tail
        self.path = prefix
        self.name = ""

    def chain(self, node: ir.Chain) -> None:
        for step in node.steps:
            self.visit(step)

    def member(self, node: ir.Member) -> None:
        self.path = f"{self.prefix}.{node.name}" if self.prefix else node.name
        self.name = node.name
        self.visit(node.node)

    def layer(self, node: ir.Layer) -> None:
        path = self.path
        label = html_label(
            path, node.op.label(), describe_shape(node.output), _macs(self.canvas.counts[path])
        )
        self.graph.node(
            path,
            label=label,
            fillcolor=FILL.get(node.op.NAME, "white"),
            **{"class": f"layer {node.op.NAME}"},
        )
        self.canvas.connect(self.tail, path)
        self.tail = Tail(path, shortcut=self.tail.shortcut)

    def group(self, node: ir.Group) -> None:
        if node.definition and self.canvas.detail == "blocks":
            self._block_node(node, self.path)
            return
        path, name = self.path, self.name
        with self.graph.subgraph(name=f"cluster_{path}") as cluster:
            inner = Drawer(self.canvas, cluster, path, self.tail)
            if node.stage:
                label = _cluster_label(path, node.output, self.canvas.counts[path])
                cluster.attr(label=label, style="rounded,filled", fillcolor="#f7f7f7")
                cluster.attr(color="#999999")
                inner.stage(node)
            elif node.definition:
                cluster.attr(label="", style="rounded,filled", fillcolor="white", color="#bbbbbb")
                inner.visit(node.flow)
                _draw_caption(node, path, cluster, self.canvas)
            else:
                # A group (a projection's downsample, a named group): its name, small, in the
                # corner the flow leaves from least, so no edge runs across it.
                cluster.attr(
                    label=name,
                    style="rounded,dashed",
                    labelloc="b",
                    labeljust="r",
                    fontsize="9",
                    fontcolor="#555555",
                )
                cluster.attr(color="#999999")
                inner.visit(node.flow)
        self.tail = inner.tail

    def stage(self, node: ir.Group) -> None:
        """The stage's steps, a new column where the stage starts and where it wraps."""
        starts = column_starts(len(node.flow.steps), COLUMN_BLOCKS[self.canvas.detail])
        for index, step in enumerate(node.flow.steps):
            if index in starts:
                self._new_column()
            self.visit(step)

    def parallel(self, node: ir.Parallel) -> None:
        if node.shortcut is not None:
            self._residual(node, node.shortcut)
        else:
            self._branches(node)

    def _residual(self, node: ir.Parallel, kind: str) -> None:
        """Figure 3: the body into ``+``, then the shortcut (through its downsample, if
        any) as the one shortcut edge into it."""
        entry = self.tail
        ends = self._from_entry(node.branches[:-1])
        add = self._combine_node(
            "add",
            "add",
            label="+",
            shape="circle",
            width="0.25",
            height="0.25",
            fixedsize="true",
            fontsize="12",
        )
        for end in ends:
            self.canvas.connect(end, add)
        self.tail = entry._replace(shortcut=kind)
        [shortcut] = self._from_entry(node.branches[-1:])
        self.canvas.connect(shortcut, add, **_shortcut_style(kind))
        self.tail = Tail(add)

    def _branches(self, node: ir.Parallel) -> None:
        """Every branch from the same node into one combine node; the identity is an edge."""
        ends = self._from_entry(node.branches)
        combine = self._combine_node(
            node.combine,
            f"combine {node.combine}",
            label=COMBINE_LABEL[node.combine],
            shape="ellipse",
            height="0.25",
            margin="0.03,0.01",
            fontsize="9",
        )
        for end, branch in zip(ends, node.branches, strict=True):
            identity = {"class": "branch identity"} if not branch.steps else {}
            self.canvas.connect(end, combine, **identity)
        self.tail = Tail(combine)

    def _from_entry(self, branches: tuple[ir.Chain, ...]) -> list[Tail]:
        """Draw each branch from the current tail; where each one ends."""
        entry, ends = self.tail, []
        for branch in branches:
            self.tail = entry
            self.visit(branch)
            ends.append(self.tail)
        self.tail = entry
        return ends

    def _combine_node(self, kind: str, css: str, **look: str) -> str:
        """The node where branches join, named after the namespace and the combination."""
        node = self.canvas.combine_id(self.prefix, kind)
        self.graph.node(node, style="filled", fillcolor="white", **look, **{"class": css})
        return node

    def _block_node(self, block: ir.Group, path: str) -> None:
        counts = self.canvas.counts[path]
        shortcuts = [
            s.shortcut for s in block.flow.steps if isinstance(s, ir.Parallel) and s.shortcut
        ]
        label = html_label(path, describe_block(block), describe_shape(block.output), _macs(counts))
        self.graph.node(
            path,
            label=label,
            fillcolor="#dbe9f6" if shortcuts else "#eeeeee",
            **{"class": f"block {block.definition}"},
        )
        self.canvas.connect(self.tail, path)
        for kind in shortcuts:
            # Figure 3: the shortcut runs beside the block, from its input to its output.
            text = SHORTCUT_LABEL.get(kind, "")
            self.canvas.connect(
                self.tail,
                path,
                **_shortcut_style(kind),
                tailport="e",
                headport="e",
                **({"label": text} if text else {}),
            )
        self.tail = Tail(path)

    def _new_column(self) -> None:
        """Open a column with a stand-in for the tail, unless the input node is the tail."""
        tail = self.tail.node
        if tail == INPUT:
            return
        stand_in = f"{tail}/continued"
        self.graph.node(
            stand_in,
            label=f"from {self.canvas.shown.get(tail, tail)}",
            shape="plaintext",
            style="",
            fontsize="9",
            fontcolor="#555555",
            height="0.2",
            **{"class": "continued"},
        )
        self.canvas.edges.append(
            (tail, stand_in, {"class": "wrap", "style": "invis", "constraint": "false"})
        )
        self.canvas.columns.append(stand_in)
        self.tail = Tail(stand_in)


def html_label(first: str, *lines: str) -> str:
    """An HTML-like label: the first line bold, the rest plain; empty lines are left out."""
    escaped = [f"<B>{html.escape(first)}</B>", *(html.escape(line) for line in lines if line)]
    return "<" + "<BR/>".join(escaped) + ">"


def _macs(counts: Counts) -> str:
    return f"{human(counts.macs)} mult-adds" if counts.macs else ""


def _cluster_label(path: str, output: ir.Shape, counts: Counts) -> str:
    facts = [describe_shape(output), f"{human(counts.params)} params"]
    if counts.macs:
        facts.append(f"{human(counts.macs)} mult-adds")
    return html_label(path, ", ".join(facts))


def column_starts(count: int, most: int) -> set[int]:
    """Where a stage of ``count`` steps starts its columns (0, and where it wraps), for
    columns of equal length and at most ``most`` steps."""
    columns = math.ceil(count / most)
    length = math.ceil(count / columns) if columns else 1
    return set(range(0, count, length))


def _shortcut_style(kind: str, role: str = "shortcut") -> dict[str, str]:
    """Figure 3: solid for an identity, dashed where the shortcut changes the shape."""
    return {
        "class": f"{role} {kind}",
        "style": "solid" if kind == "identity" else "dashed",
        "color": SHORTCUT_COLOR,
        "penwidth": "1.4",
    }


def _draw_caption(block: ir.Group, path: str, cluster: graphviz.Digraph, canvas: Canvas) -> None:
    """The block's name and counts as a node left of its first layer: a cluster label on
    top would sit across the edge that enters the block."""
    first = next(ir.layers(block, path), None)
    if first is None:
        return
    counts = canvas.counts[path]
    lines = [describe_block(block), f"{human(counts.params)} params", _macs(counts)]
    text = "".join(f'{html.escape(line)}<BR ALIGN="LEFT"/>' for line in lines if line)
    caption = f"{path}/caption"
    with cluster.subgraph() as row:
        row.attr(rank="same")
        row.node(
            caption,
            label=f'<<B>{html.escape(path)}</B><BR ALIGN="LEFT"/>{text}>',
            shape="plain",
            style="",
            fontsize="10",
            **{"class": "caption"},
        )
        row.node(first[0])
        row.edge(caption, first[0], style="invis")
