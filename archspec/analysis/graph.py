"""IR -> graphviz.Digraph: the network as a picture.

Nodes are layers (op, key arguments, output shape, mult-adds) or, at block detail, whole
blocks (type, width, output shape). Clusters are stages and named groups, and blocks at
layer detail. A residual block's shortcut is drawn as in Figure 3 of the paper: exactly one
edge enters the block's addition from the shortcut side, solid for an identity and dashed
where the shortcut changes the shape (option A's zero-padding, or a projection); a plain
block has no addition and no shortcut edge. Other branches (Inception's concatenation,
squeeze-and-excitation's product, a DenseNet layer) leave one node and join at a combine
node; a branch that is the identity is one direct edge. Every node and edge carries a
``class`` so that tools (and tests) can tell them apart in the DOT text and in SVG: nodes
``layer <op>``, ``block <type>``, ``add`` (a residual addition), ``combine <kind>``
(``add``, ``concat`` or ``mul`` of other branches), ``caption``, ``input``; edges
``shortcut <kind>`` (the one edge into a residual addition), ``downsample <kind>`` (the
edges along a zero-pad or projection path, dashed too) and ``branch identity``; plain
data edges have none.

Deep networks are laid out in columns read left to right: every stage starts a column and a
long stage wraps into columns of equal length, so ResNet-152 at block detail fits a page.
A column opens with a small "from <path>" node (class ``continued``) that stands for the
last node of the previous column; an invisible edge (class ``wrap``) joins the two, so the
DOT text stays connected while no edge has to cross the page.

Only ``render_graph`` needs the graphviz package; it is imported there, never by the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archspec.analysis.drawing import FONT, INPUT, Canvas, Drawer, Tail, html_label
from archspec.diagnostics import Diagnostic, SpecError
from archspec.ops.base import describe as describe_shape

if TYPE_CHECKING:
    import graphviz

    from archspec.architecture import Architecture

DETAILS = ("layers", "blocks")


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
        label=html_label("input", describe_shape(network.input)),
        shape="box",
        style="rounded",
        **{"class": "input"},
    )
    canvas = Canvas(detail, arch.counts_by_path)
    Drawer(canvas, graph, "", Tail(INPUT)).visit(network.flow)
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
