"""IR -> graphviz.Digraph: the network as a picture.

Nodes are layers (op, key arguments, output shape, mult-adds) or, at block detail, whole
blocks (type, width, output shape). Clusters are stages and named groups, and blocks at
layer detail. A residual block's shortcut is drawn as in Figure 3 of the paper: exactly one
edge enters the block's addition from the shortcut side, solid for an identity and dashed
where the shortcut changes the shape (option A's zero-padding, or a projection); a plain
block has no addition and no shortcut edge. Every node and edge carries a ``class`` so that
tools (and tests) can tell them apart in the DOT text and in SVG: nodes ``layer <op>``,
``block <type>``, ``add``, ``caption``, ``input``; edges ``shortcut <kind>`` (the one edge
into an addition) and ``downsample <kind>`` (the edges along a zero-pad or projection path,
dashed too); plain data edges have none.

Deep networks are laid out in columns read left to right: every stage starts a column and a
long stage wraps into columns of equal length, so ResNet-152 at block detail fits a page.
A column opens with a small "from <path>" node (class ``continued``) that stands for the
last node of the previous column; an invisible edge (class ``wrap``) joins the two, so the
DOT text stays connected while no edge has to cross the page.

Only ``render_graph`` needs the graphviz package; it is imported there, never by the core.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from archspec import ir
from archspec.counts import Counts
from archspec.diagnostics import Diagnostic, SpecError
from archspec.shapes import describe as describe_shape
from archspec.analysis.summary import describe_block, describe_op, human

if TYPE_CHECKING:
    import graphviz

    from archspec.api import Architecture

DETAILS = ("layers", "blocks")
COLUMN_BLOCKS = {"layers": 4, "blocks": 12}
"""The most blocks in one column before a stage wraps, per detail."""

INPUT = "/input"
"""The input node's id: '/' never occurs in a module path, so it cannot collide."""

FONT = "Helvetica"
FILL = {
    "conv": "#dbe9f6",
    "bn": "#fdf3d0",
    "relu": "#e3f1dc",
    "maxpool": "#f1e1f4",
    "avgpool": "#f1e1f4",
    "adaptive_avgpool": "#f1e1f4",
    "fc": "#fde0d9",
    "zero_pad": "#eeeeee",
}
SHORTCUT_COLOR = "#1f5fa8"
SHORTCUT_LABEL = {"zero_pad": "zero-pad", "projection": "projection"}


def import_graphviz() -> Any:
    """The graphviz package, or a SpecError naming the extra that installs it."""
    try:
        import graphviz
    except ImportError:
        raise SpecError(
            [
                Diagnostic(
                    code="E400",
                    message="drawing needs the graphviz Python package, which is not installed",
                    help="pip install 'archspec-nets[graph]'",
                )
            ]
        ) from None
    return graphviz


class Tail(NamedTuple):
    """The node that produced the current tensor; ``shortcut``: the edges leaving it run
    along a shortcut's downsample path (the shortcut's kind)."""

    node: str
    shortcut: str = ""


@dataclass(frozen=True)
class Canvas:
    """What the drawing functions share: the detail level, the counts of every path, and
    the edges, which are written at the top level once every cluster is drawn (an edge
    written inside a cluster would pull both of its nodes into that cluster)."""

    detail: str
    counts: dict[str, Counts]
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: [INPUT])
    """the first node of every column, left to right"""


def render_graph(arch: Architecture, detail: str = "layers") -> graphviz.Digraph:
    """The network as a ``graphviz.Digraph``; ``detail`` is "layers" or "blocks"."""
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, found {detail!r}")
    graphviz = import_graphviz()
    network = arch.network
    graph = graphviz.Digraph(name=network.name or "network")
    graph.attr(
        rankdir="TB",
        newrank="true",
        nodesep="0.25",
        ranksep="0.3",
        fontname=FONT,
        fontsize="12",
        labelloc="t",
        label=_title(arch),
    )
    graph.attr(
        "node",
        shape="box",
        style="rounded,filled",
        fontname=FONT,
        fontsize="10",
        fillcolor="white",
        margin="0.08,0.04",
        height="0.3",
    )
    graph.attr("edge", arrowsize="0.6", color="#444444", fontname=FONT, fontsize="9")
    graph.node(
        INPUT,
        label=_html("input", describe_shape(network.input)),
        shape="box",
        style="rounded",
        **{"class": "input"},
    )
    canvas = Canvas(detail, arch.counts_by_path)
    tail = Tail(INPUT)
    for child in network.children:
        tail = _draw(child, graph, tail, canvas)
    for tail_node, head, attributes in canvas.edges:
        graph.edge(tail_node, head, **attributes)
    _order_columns(graph, canvas.columns)
    return graph


def _order_columns(graph: graphviz.Digraph, tops: list[str]) -> None:
    """Put the first nodes of all columns on one rank, left to right in execution order."""
    with graph.subgraph() as row:
        row.attr(rank="same")
        for left, right in zip(tops[:-1], tops[1:], strict=True):
            row.edge(left, right, style="invis")


def _title(arch: Architecture) -> str:
    total = arch.counts
    return (
        f"{arch.network.name}: {total.params:,} params, {total.macs:,} mult-adds "
        f"(conv + fc), input {describe_shape(arch.network.input)}"
    )


def _draw(module: ir.Module, graph: graphviz.Digraph, tail: Tail, canvas: Canvas) -> Tail:
    if isinstance(module, ir.Layer):
        return _draw_layer(module, graph, tail, canvas)
    if isinstance(module, ir.Sequence):
        return _draw_sequence(module, graph, tail, canvas)
    if canvas.detail == "blocks":
        return _draw_block_node(module, graph, tail, canvas)
    return _draw_block_cluster(module, graph, tail, canvas)


def _connect(canvas: Canvas, tail: Tail, head: str, **attributes: str) -> None:
    if tail.shortcut and "class" not in attributes:
        attributes = _shortcut_style(tail.shortcut, "downsample") | attributes
    canvas.edges.append((tail.node, head, attributes))


def _new_column(tail: Tail, graph: graphviz.Digraph, canvas: Canvas) -> Tail:
    """Open a column with a stand-in for ``tail``, unless the input node is the tail."""
    if tail.node == INPUT:
        return tail
    stand_in = f"{tail.node}/continued"
    shown = tail.node.replace("/add", " (sum)")
    graph.node(
        stand_in,
        label=f"from {shown}",
        shape="plaintext",
        style="",
        fontsize="9",
        fontcolor="#555555",
        height="0.2",
        **{"class": "continued"},
    )
    canvas.edges.append(
        (tail.node, stand_in, {"class": "wrap", "style": "invis", "constraint": "false"})
    )
    canvas.columns.append(stand_in)
    return Tail(stand_in)


def _html(first: str, *lines: str) -> str:
    """An HTML-like label: the first line bold, the rest plain; empty lines are left out."""
    escaped = [f"<B>{html.escape(first)}</B>", *(html.escape(line) for line in lines if line)]
    return "<" + "<BR/>".join(escaped) + ">"


def _macs(counts: Counts) -> str:
    return f"{human(counts.macs)} mult-adds" if counts.macs else ""


def _draw_layer(layer: ir.Layer, graph: graphviz.Digraph, tail: Tail, canvas: Canvas) -> Tail:
    label = _html(
        layer.path,
        describe_op(layer.op),
        describe_shape(layer.output),
        _macs(canvas.counts[layer.path]),
    )
    graph.node(
        layer.path,
        label=label,
        fillcolor=FILL.get(layer.op.op, "white"),
        **{"class": f"layer {layer.op.op}"},
    )
    _connect(canvas, tail, layer.path)
    return Tail(layer.path, shortcut=tail.shortcut)


def _cluster(graph: graphviz.Digraph, module: ir.Sequence | ir.Block) -> Any:
    """A ``with`` context for a cluster named after the module path."""
    return graph.subgraph(name=f"cluster_{module.path}")


def _cluster_label(seq: ir.Sequence, counts: Counts) -> str:
    facts = [describe_shape(seq.output), f"{human(counts.params)} params"]
    if counts.macs:
        facts.append(f"{human(counts.macs)} mult-adds")
    return _html(seq.path, ", ".join(facts))


def _draw_sequence(seq: ir.Sequence, graph: graphviz.Digraph, tail: Tail, canvas: Canvas) -> Tail:
    starts = _column_starts(seq, COLUMN_BLOCKS[canvas.detail]) if seq.stage else set()
    with _cluster(graph, seq) as cluster:
        if seq.stage:
            label = _cluster_label(seq, canvas.counts[seq.path])
            cluster.attr(label=label, style="rounded,filled", fillcolor="#f7f7f7")
        else:
            # A group (a projection's downsample, a named group): its name, small, in the
            # corner the flow leaves from least, so no edge runs across it.
            cluster.attr(
                label=seq.name,
                style="rounded,dashed",
                labelloc="b",
                labeljust="r",
                fontsize="9",
                fontcolor="#555555",
            )
        cluster.attr(color="#999999")
        for index, child in enumerate(seq.children):
            if index in starts:
                tail = _new_column(tail, cluster, canvas)
            tail = _draw(child, cluster, tail, canvas)
    return tail


def _column_starts(stage: ir.Sequence, most: int) -> set[int]:
    """Where the stage's columns start (0, and where it wraps), for columns of equal length."""
    count = len(stage.children)
    columns = math.ceil(count / most)
    length = math.ceil(count / columns)
    return set(range(0, count, length))


def _shortcut_style(kind: str, role: str = "shortcut") -> dict[str, str]:
    """Figure 3: solid for an identity, dashed where the shortcut changes the shape."""
    return {
        "class": f"{role} {kind}",
        "style": "solid" if kind == "identity" else "dashed",
        "color": SHORTCUT_COLOR,
        "penwidth": "1.4",
    }


def _draw_block_node(block: ir.Block, graph: graphviz.Digraph, tail: Tail, canvas: Canvas) -> Tail:
    counts = canvas.counts[block.path]
    label = _html(block.path, describe_block(block), describe_shape(block.output), _macs(counts))
    graph.node(
        block.path,
        label=label,
        fillcolor="#dbe9f6" if block.shortcut != "none" else "#eeeeee",
        **{"class": f"block {block.block}"},
    )
    _connect(canvas, tail, block.path)
    if block.shortcut != "none":
        # Figure 3: the shortcut runs beside the block, from its input to its output.
        label = SHORTCUT_LABEL.get(block.shortcut, "")
        _connect(
            canvas,
            tail,
            block.path,
            **_shortcut_style(block.shortcut),
            tailport="e",
            headport="e",
            **({"label": label} if label else {}),
        )
    return Tail(block.path)


def _draw_block_cluster(
    block: ir.Block, graph: graphviz.Digraph, tail: Tail, canvas: Canvas
) -> Tail:
    with _cluster(graph, block) as cluster:
        cluster.attr(label="", style="rounded,filled", fillcolor="white", color="#bbbbbb")
        out = tail
        for module in block.body:
            out = _draw(module, cluster, out, canvas)
        if block.shortcut != "none":
            out = _draw_addition(block, cluster, tail, out, canvas)
        for module in block.after:
            out = _draw(module, cluster, out, canvas)
        _draw_caption(block, cluster, canvas)
    return out


def _draw_caption(block: ir.Block, cluster: graphviz.Digraph, canvas: Canvas) -> None:
    """The block's name and counts as a node left of its first layer: a cluster label on
    top would sit across the edge that enters the block."""
    first = next(ir.layers(block), None)
    if first is None:
        return
    counts = canvas.counts[block.path]
    lines = [block.path, describe_block(block), f"{human(counts.params)} params", _macs(counts)]
    text = "".join(f'{html.escape(line)}<BR ALIGN="LEFT"/>' for line in lines[1:] if line)
    caption = f"{block.path}/caption"
    with cluster.subgraph() as row:
        row.attr(rank="same")
        row.node(
            caption,
            label=f'<<B>{html.escape(block.path)}</B><BR ALIGN="LEFT"/>{text}>',
            shape="plain",
            style="",
            fontsize="10",
            **{"class": "caption"},
        )
        row.node(first.path)
        row.edge(caption, first.path, style="invis")


def _draw_addition(
    block: ir.Block, graph: graphviz.Digraph, entry: Tail, body: Tail, canvas: Canvas
) -> Tail:
    """The ``+`` node: the body's output plus the shortcut (through its downsample, if any)."""
    add = f"{block.path}/add"
    graph.node(
        add,
        label="+",
        shape="circle",
        style="filled",
        fillcolor="white",
        width="0.25",
        height="0.25",
        fixedsize="true",
        fontsize="12",
        **{"class": "add"},
    )
    _connect(canvas, body, add)
    source = entry
    if block.downsample is not None:
        source = _draw(block.downsample, graph, entry._replace(shortcut=block.shortcut), canvas)
    _connect(canvas, source, add, **_shortcut_style(block.shortcut))
    return Tail(add)
