"""archspec.analysis.graph and `archspec graph`: nodes, clusters, Figure-3 shortcut edges
and general branches.

The DOT text is parsed with a few regular expressions: every node and edge the renderer
writes carries a ``class`` (layer, block, add, combine, caption, input; shortcut,
downsample or branch), so
the structure can be counted without running graphviz. Rendering PNG and SVG needs the
Debian package graphviz (CI installs it); those tests skip without `dot`.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest
from typer.testing import CliRunner

import archspec
from archspec import ir
from archspec.cli.app import app
from archspec.diagnostics import SpecError

SPECS = Path(__file__).resolve().parents[1] / "specs"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="graphviz's dot is not installed")
runner = CliRunner()


@cache
def load(name: str) -> archspec.Architecture:
    return archspec.load(SPECS / name)


# -- reading the DOT text ----------------------------------------------------------------

NAME = r'("(?:[^"\\]|\\.)*"|[\w.]+)'
EDGE = re.compile(rf"^\s*{NAME} -> {NAME}(?: \[(.*)\])?$")
NODE = re.compile(rf"^\s*{NAME} \[(.*)\]$")


def _attribute(attributes: str, key: str) -> str:
    found = re.search(rf'\b{key}=("[^"]*"|[^ \]]+)', attributes)
    return found.group(1).strip('"') if found else ""


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith('"') else name


def nodes(source: str, key: str = "class") -> dict[str, str]:
    """node id -> its class (or another attribute), for every node statement."""
    found = {}
    for line in source.splitlines():
        match = NODE.match(line)
        if match and " -> " not in line and match.group(1) not in ("node", "edge", "graph"):
            found[_unquote(match.group(1))] = _attribute(match.group(2), key)
    return found


class Edge(NamedTuple):
    tail: str
    head: str
    kind: str  # the class attribute
    style: str
    attributes: str


def edges(source: str) -> list[Edge]:
    """Every edge statement, in order."""
    found = []
    for line in source.splitlines():
        match = EDGE.match(line)
        if match:
            attributes = match.group(3) or ""
            found.append(
                Edge(
                    _unquote(match.group(1)),
                    _unquote(match.group(2)),
                    _attribute(attributes, "class"),
                    _attribute(attributes, "style"),
                    attributes,
                )
            )
    return found


def shortcut_edges(source: str, style: str | None = None) -> list[Edge]:
    return [e for e in edges(source) if e.kind.startswith("shortcut") and style in (None, e.style)]


def incoming(source: str, head: str) -> list[Edge]:
    """The visible edges into ``head`` (not a caption's or a column's layout edge)."""
    return [e for e in edges(source) if e.head == head and e.style != "invis"]


def blocks(arch: archspec.Architecture) -> list[ir.Place]:
    """Every block (a group with a definition) with its path."""
    return [
        place
        for place in ir.walk(arch.network)
        if isinstance(place.node, ir.Group) and place.node.definition
    ]


def shortcut(block: ir.Place) -> str:
    """The block's shortcut kind, ``none`` for a plain block."""
    assert isinstance(block.node, ir.Group)
    kinds = [s.shortcut for s in block.node.flow.steps if isinstance(s, ir.Parallel)]
    return next((kind for kind in kinds if kind), "none")


def layer_paths(root: ir.Network | ir.Node) -> list[str]:
    return [path for path, _ in ir.layers(root)]


# -- structure -------------------------------------------------------------------------


@pytest.mark.parametrize("detail", ["layers", "blocks"])
def test_resnet34_option_a_dashes_exactly_the_three_zero_padded_shortcuts(detail: str) -> None:
    arch = load("resnet34.yaml")
    source = arch.graph(detail).source
    # blocks 3 + 4 + 6 + 3 = 16, each with a shortcut; conv3_1, conv4_1, conv5_1 change shape
    assert len(shortcut_edges(source)) == 16
    dashed = shortcut_edges(source, "dashed")
    changing = [b for b in blocks(arch) if shortcut(b) in ("zero_pad", "projection")]
    assert len(dashed) == len(changing) == 3
    assert {e.kind for e in dashed} == {"shortcut zero_pad"}
    assert len(shortcut_edges(source, "solid")) == 16 - 3


@pytest.mark.parametrize("detail", ["layers", "blocks"])
def test_plain34_has_no_shortcut_edge(detail: str) -> None:
    source = load("plain34.yaml").graph(detail).source
    assert shortcut_edges(source) == []
    assert "add" not in nodes(source).values()
    assert all(e.style != "dashed" for e in edges(source))


def test_torchvision_resnet34_draws_its_projections_dashed() -> None:
    arch = load("torchvision/resnet34.yaml")
    source = arch.graph("layers").source
    dashed = shortcut_edges(source, "dashed")
    assert [e.kind for e in dashed] == ["shortcut projection"] * 3
    # each projection's path: input -> downsample.0 -> downsample.1, then the dashed edge to +
    assert [e.head for e in dashed] == ["layer2.0/add", "layer3.0/add", "layer4.0/add"]
    assert [e.tail for e in dashed] == [f"layer{i}.0.downsample.1" for i in (2, 3, 4)]
    path = [e for e in edges(source) if e.kind == "downsample projection"]
    assert len(path) == 3 * 2 and all(e.style == "dashed" for e in path)


def test_layer_nodes_match_the_ir() -> None:
    arch = load("resnet34.yaml")
    found = nodes(arch.graph("layers").source)
    layer_ids = [node for node, kind in found.items() if kind.startswith("layer ")]
    # every primitive op of the IR, the three zero-pad shortcuts included
    assert layer_ids == layer_paths(arch.network)
    assert len(layer_ids) == 4 + 16 * 6 + 3 + 3  # stem, 16 basic blocks, 3 zero-pads, head
    residual = [b for b in blocks(arch) if shortcut(b) != "none"]
    assert sum(kind == "add" for kind in found.values()) == len(residual) == 16


def test_cifar_resnet20_layers() -> None:
    arch = load("cifar/resnet20.yaml")
    source = arch.graph().source
    found = nodes(source)
    # 6n+2 = 20 weighted layers for n = 3: 19 convs and the fc, plus bn, relu, pool, flatten
    layers = [n for n, kind in found.items() if kind.startswith("layer ")]
    assert layers == layer_paths(arch.network)
    assert sum(kind in ("layer conv", "layer fc") for kind in found.values()) == 20
    assert sum(kind == "add" for kind in found.values()) == 9  # 3 stages x 3 blocks
    dashed = shortcut_edges(source, "dashed")
    assert [(e.tail, e.head) for e in dashed] == [
        ("layer2.0.downsample", "layer2.0/add"),
        ("layer3.0.downsample", "layer3.0/add"),
    ]


def test_graph_returns_a_graphviz_digraph() -> None:
    graphviz = pytest.importorskip("graphviz")
    assert isinstance(load("resnet34.yaml").graph(), graphviz.Digraph)


def test_block_nodes_match_the_ir() -> None:
    arch = load("resnet152.yaml")
    found = nodes(arch.graph("blocks").source)
    block_ids = [node for node, kind in found.items() if kind.startswith("block ")]
    assert block_ids == [b.path for b in blocks(arch)]
    assert len(block_ids) == 3 + 8 + 36 + 3
    outside = [path for path in layer_paths(arch.network) if "." not in path]
    assert [n for n, kind in found.items() if kind.startswith("layer ")] == outside


def test_every_edge_joins_declared_nodes_and_ids_are_unique() -> None:
    source = load("torchvision/resnet34.yaml").graph("layers").source
    statements = [NODE.match(line) for line in source.splitlines() if " -> " not in line]
    ids = [_unquote(m.group(1)) for m in statements if m and m.group(1) not in ("node", "edge")]
    assert len(ids) == len(set(ids))
    assert {end for e in edges(source) for end in (e.tail, e.head)} <= set(ids)


def test_clusters_are_stages_and_blocks() -> None:
    arch = load("resnet34.yaml")
    layers_source = arch.graph("layers").source
    clusters = re.findall(r"subgraph \"?cluster_([\w.]+)", layers_source)
    stages = [name for name, _ in arch.network.stages()]
    assert clusters == [
        path
        for name, stage in arch.network.stages()
        for path in (name, *(f"{name}.{b.name}" for b in stage.members))
    ]
    blocks_source = arch.graph("blocks").source
    assert re.findall(r"subgraph \"?cluster_([\w.]+)", blocks_source) == stages


def test_labels_show_op_arguments_shape_and_mult_adds() -> None:
    arch = load("resnet34.yaml")
    source = arch.graph("layers").source
    conv1 = next(line for line in source.splitlines() if line.strip().startswith("conv1 ["))
    # 7x7 conv, stride 2, 3 -> 64 channels at 112x112: 64*3*49*112*112 = 118,013,952
    assert "conv 7x7 /2, 3-&gt;64" in conv1 and "64x112x112" in conv1 and "118M" in conv1
    blocks_source = arch.graph("blocks").source
    assert "basic 128 /2" in blocks_source and "128x28x28" in blocks_source


def test_long_stages_wrap_into_columns() -> None:
    source = load("resnet152.yaml").graph("blocks").source
    wraps = [e for e in edges(source) if e.kind == "wrap"]
    # a column per stage (4), and layer3's 36 blocks wrap into 3 columns of 12 (2 more)
    ends = ["maxpool", "layer1.2", "layer2.7", "layer3.11", "layer3.23", "layer3.35"]
    assert [e.tail for e in wraps] == ends
    assert all(e.head == f"{e.tail}/continued" and e.style == "invis" for e in wraps)
    # the stand-in opens the next column: the block after the wrap is fed from it
    fed = [e for e in edges(source) if e.tail.endswith("/continued") and e.style != "invis"]
    starts = {e.head for e in fed if not e.kind}
    assert starts == {"layer1.0", "layer2.0", "layer3.0", "layer3.12", "layer3.24", "layer4.0"}
    assert sum("constraint=false" in e.attributes for e in edges(source)) == len(ends)


def test_dot_text_is_deterministic() -> None:
    first = archspec.load(SPECS / "resnet34.yaml").graph("layers").source
    second = archspec.load(SPECS / "resnet34.yaml").graph("layers").source
    assert first == second
    assert (
        load("resnet34.yaml").graph("blocks").source == load("resnet34.yaml").graph("blocks").source
    )


def test_dot_text_does_not_depend_on_the_hash_seed() -> None:
    code = (
        "import archspec\n"
        f"print(archspec.load({str(SPECS / 'resnet152.yaml')!r}).graph('blocks').source, end='')"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=environment
    )
    assert other.stdout == load("resnet152.yaml").graph("blocks").source


def test_unknown_detail_is_refused() -> None:
    with pytest.raises(ValueError, match="detail must be one of layers, blocks"):
        load("resnet34.yaml").graph("stages")


def test_the_core_never_imports_graph_or_graphviz() -> None:
    code = (
        "import sys, archspec, archspec.cli.app\n"
        f"archspec.load({str(SPECS / 'resnet18.yaml')!r}).summary()\n"
        "bad = {'archspec.analysis.graph', 'archspec.analysis.drawing', 'graphviz'}\n"
        "bad &= set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_graphviz_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    with pytest.raises(SpecError) as caught:
        load("resnet34.yaml").graph()
    assert caught.value.code == "E400"
    result = runner.invoke(app, ["graph", str(SPECS / "resnet34.yaml"), "--dot", "-o", "-"])
    assert result.exit_code == 1
    assert "pip install 'archspec-nets[graph]'" in result.output


# -- general branches --------------------------------------------------------------------

BRANCHES = """\
network branches
input 16x8x8
shortcut B
param se = true

# squeeze-and-excitation inside a residual block: x * gate(x), then + shortcut
block se_basic(c, se=true) =
    conv1=conv(c, 3, padding=1) bn1=bn relu1=relu
    se=mul(identity, pool=global_avgpool fc1=conv(4, 1) relu=relu fc2=conv(c, 1) gate=sigmoid)
        if se
    + shortcut -> relu=relu

# Inception: four branches from one input, concatenated
block inception(c) =
    concat(b1=conv(c, 1),
           b2=(conv(4, 1) conv(c, 3, padding=1)),
           b3=(conv(4, 1) conv(c, 5, padding=2)),
           b4=(maxpool(3, stride=1, padding=1) conv(c, 1)))

# a DenseNet layer: its input concatenated with the new features
block dense(g) = concat(identity, bn relu conv(g, 3, padding=1))

stem conv1=conv(16, 3, padding=1) add(identity, conv(16, 1)) add(identity, conv(16, 1))
     res=add(conv(32, 3, stride=2, padding=1) bn, shortcut)
stage layer1 = se_basic(32, se=se) x 1
stage layer2 = inception(8) x 1
stage layer3 = dense(8) x 2
head pool=global_avgpool flatten=flatten fc=fc(10)
"""


@cache
def branches() -> archspec.Architecture:
    return archspec.load(BRANCHES)


def parallels(network: ir.Network) -> list[ir.Parallel]:
    """The Parallel steps of every namespace (none of this spec's is nested in a branch)."""
    flows = [network.flow] + [p.node.flow for p in ir.walk(network) if isinstance(p.node, ir.Group)]
    return [step for flow in flows for step in flow.steps if isinstance(step, ir.Parallel)]


def test_inception_branches_leave_one_node_and_join_at_concat() -> None:
    source = branches().graph("layers").source
    assert nodes(source)["layer2.0/concat"] == "combine concat"
    assert nodes(source, "label")["layer2.0/concat"] == "concat"
    ends = ["layer2.0.b1", "layer2.0.b2.1", "layer2.0.b3.1", "layer2.0.b4.1"]
    assert [(e.tail, e.kind) for e in incoming(source, "layer2.0/concat")] == [
        (end, "") for end in ends
    ]
    # every branch starts from the same node: the stand-in for layer1's output
    starts = ["layer2.0.b1", "layer2.0.b2.0", "layer2.0.b3.0", "layer2.0.b4.0"]
    assert [e.tail for start in starts for e in incoming(source, start)] == [
        "layer1.0.relu/continued"
    ] * 4
    # the concatenation is the block's output: the next column starts from it
    assert incoming(source, "layer3.0.0")[0].tail == "layer2.0/concat/continued"


def test_squeeze_excitation_multiplies_the_input_by_its_gate() -> None:
    source = branches().graph("layers").source
    assert nodes(source)["layer1.0.se/mul"] == "combine mul"
    assert nodes(source, "label")["layer1.0.se/mul"] == "x"
    into = incoming(source, "layer1.0.se/mul")
    assert [(e.tail, e.kind) for e in into] == [
        ("layer1.0.relu1", "branch identity"),  # x itself: one direct edge
        ("layer1.0.se.gate", ""),
    ]
    assert [e.tail for e in incoming(source, "layer1.0.se.pool")] == ["layer1.0.relu1"]
    # the product ends the residual branch; the block keeps its one shortcut edge
    into_add = incoming(source, "layer1.0/add")
    assert [(e.tail, e.kind) for e in into_add] == [
        ("layer1.0.se/mul", ""),
        ("res/add/continued", "shortcut identity"),
    ]


def test_densenet_layer_concatenates_its_input_by_a_direct_edge() -> None:
    source = branches().graph("layers").source
    for block, entry in (
        ("layer3.0", "layer2.0/concat/continued"),
        ("layer3.1", "layer3.0/concat"),
    ):
        assert nodes(source)[f"{block}/concat"] == "combine concat"
        assert [(e.tail, e.kind) for e in incoming(source, f"{block}/concat")] == [
            (entry, "branch identity"),
            (f"{block}.2", ""),
        ]
        assert [e.tail for e in incoming(source, f"{block}.0")] == [entry]


def test_every_parallel_is_one_combine_node_and_ids_are_unique() -> None:
    arch = branches()
    source = arch.graph("layers").source
    found = nodes(source)
    combines = {node: kind for node, kind in found.items() if kind.startswith("combine ")}
    # the stem's two unnamed additions share the root namespace: numbered, not merged
    assert combines == {
        "/add": "combine add",
        "/add2": "combine add",
        "layer1.0.se/mul": "combine mul",
        "layer2.0/concat": "combine concat",
        "layer3.0/concat": "combine concat",
        "layer3.1/concat": "combine concat",
    }
    assert [node for node, kind in found.items() if kind == "add"] == ["res/add", "layer1.0/add"]
    assert len(parallels(arch.network)) == len(combines) + 2
    assert [n for n, kind in found.items() if kind.startswith("layer ")] == layer_paths(
        arch.network
    )
    statements = [NODE.match(line) for line in source.splitlines() if " -> " not in line]
    ids = [_unquote(m.group(1)) for m in statements if m and m.group(1) not in ("node", "edge")]
    assert len(ids) == len(set(ids))
    assert {end for e in edges(source) for end in (e.tail, e.head)} <= set(ids)
    assert sum(e.kind == "branch identity" for e in edges(source)) == 2 + 1 + 2


def test_shortcut_branch_outside_a_block_is_drawn_as_figure_3() -> None:
    source = branches().graph("layers").source
    # res=add(conv(32, 3, stride=2) bn, shortcut) under option B: a projection, dashed
    assert [(e.tail, e.kind) for e in incoming(source, "res/add")] == [
        ("res.1", ""),
        ("res.downsample.1", "shortcut projection"),
    ]
    path = [(e.tail, e.head) for e in edges(source) if e.kind == "downsample projection"]
    assert path == [("/add2", "res.downsample.0"), ("res.downsample.0", "res.downsample.1")]


def test_blocks_detail_draws_any_block_as_one_node() -> None:
    arch = branches()
    source = arch.graph("blocks").source
    found = nodes(source)
    assert {n: kind for n, kind in found.items() if kind.startswith("block ")} == {
        "layer1.0": "block se_basic",
        "layer2.0": "block inception",
        "layer3.0": "block dense",
        "layer3.1": "block dense",
    }
    inside = [
        n
        for n, kind in found.items()
        if kind != "continued" and n.startswith(("layer1.", "layer2.", "layer3."))
    ]
    assert inside == ["layer1.0", "layer2.0", "layer3.0", "layer3.1"]
    # only the stem's branches are drawn; the residual block's shortcut runs beside it
    assert [n for n, kind in found.items() if kind.startswith("combine ")] == ["/add", "/add2"]
    assert [(e.tail, e.head, e.kind) for e in shortcut_edges(source)] == [
        ("res.downsample.1", "res/add", "shortcut projection"),
        ("res/add/continued", "layer1.0", "shortcut identity"),
    ]
    assert [e.tail for e in incoming(source, "layer3.1")] == ["layer3.0"]


@needs_dot
def test_branches_render_to_svg_with_their_classes(tmp_path: Path) -> None:
    spec, target = tmp_path / "branches.arch", tmp_path / "branches.svg"
    spec.write_text(BRANCHES)
    result = runner.invoke(app, ["graph", str(spec), "-o", str(target)])
    assert result.exit_code == 0, result.output
    svg = target.read_text()
    ElementTree.fromstring(svg)
    assert svg.count('class="node combine concat"') == 3
    assert svg.count('class="node combine mul"') == 1
    assert svg.count('class="edge branch identity"') == 5


# -- rendering -------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_dot
def test_resnet152_blocks_png_and_svg_are_valid_and_fit_a_page(tmp_path: Path) -> None:
    spec = str(SPECS / "resnet152.yaml")
    png, svg = tmp_path / "r152.png", tmp_path / "r152.svg"
    for target in (png, svg):
        result = runner.invoke(app, ["graph", spec, "--detail", "blocks", "-o", str(target)])
        assert result.exit_code == 0, result.output
        assert f"wrote {target}" in result.output
    width, height = _png_size(png.read_bytes())
    assert 800 < width < 4000 and 600 < height < 3000  # 50 blocks in 7 columns
    assert 50_000 < png.stat().st_size < 5_000_000
    root = ElementTree.fromstring(svg.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert 20_000 < svg.stat().st_size < 2_000_000
    # conv2_1 .. conv5_1 each project: 4 dashed shortcuts, 46 identities
    assert svg.read_text().count('class="edge shortcut projection"') == 4
    assert svg.read_text().count('class="edge shortcut identity"') == 46


@pytest.mark.parametrize("name", ["resnet34_blocks.png", "cifar_resnet20_layers.png"])
def test_readme_pictures_are_committed(name: str) -> None:
    data = (SPECS.parent / "docs" / name).read_bytes()
    width, height = _png_size(data)
    assert 600 < width < 3000 and 600 < height < 3000


def test_dot_output_and_default_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = str(SPECS / "resnet34.yaml")
    result = runner.invoke(app, ["graph", spec, "--dot", "--detail", "blocks"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "resnet34.dot").read_text() == load("resnet34.yaml").graph("blocks").source
    result = runner.invoke(app, ["graph", spec, "-o", "-", "--dot"])
    assert result.exit_code == 0 and result.output.startswith("digraph resnet34 {")


def test_missing_dot_program_fails_png_and_svg_but_not_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere
    spec = str(SPECS / "plain34.yaml")
    for flag in ("--png", "--svg"):
        result = runner.invoke(app, ["graph", spec, flag, "-o", str(tmp_path / f"x.{flag[2:]}")])
        assert result.exit_code == 1
        assert "`dot` program is not installed" in result.output
        assert "apt-get install graphviz" in result.output
        assert not (tmp_path / f"x.{flag[2:]}").exists()
    result = runner.invoke(app, ["graph", spec, "--dot", "-o", str(tmp_path / "x.dot")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x.dot").read_text().startswith("digraph plain34 {")


def test_one_format_at_a_time() -> None:
    result = runner.invoke(app, ["graph", str(SPECS / "resnet34.yaml"), "--png", "--dot"])
    assert result.exit_code == 2
    assert "choose one output format" in result.output
