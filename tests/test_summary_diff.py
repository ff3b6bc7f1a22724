"""archspec.analysis.summary and archspec.analysis.diff, and the `summary` and `diff`
commands."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from test_graph import BRANCHES
from typer.testing import CliRunner

import archspec
from archspec import ir
from archspec.analysis.cost import count
from archspec.analysis.diff import diff
from archspec.analysis.summary import summary_rows, summary_table
from archspec.cli.app import app
from archspec.counts import Counts

SPECS = Path(__file__).resolve().parents[1] / "specs"
runner = CliRunner()

TINY = """\
name: tiny
input: 3x32x32
shortcut: A
params: {n: 1}
stem: conv1=conv(16, 3, padding=1) bn1=bn relu=relu
stages:
  layer1: basic(16) x n
  layer2: basic(32) x n /2
head: avgpool=global_avgpool flatten fc=fc(10)
"""


@cache
def load(name: str) -> archspec.Architecture:
    return archspec.load(SPECS / name)


def _total(text: str, label: str) -> int:
    found = re.search(rf"^{re.escape(label)}.*?: ([\d,]+)$", text, re.MULTILINE)
    assert found, f"no line '{label}' in the summary"
    return int(found.group(1).replace(",", ""))


# -- summary ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet34.yaml", "torchvision/resnet34.yaml", "resnet152.yaml"])
def test_summary_totals_equal_archspec_flops(name: str) -> None:
    result = runner.invoke(app, ["flops", str(SPECS / name), "--json"])
    assert result.exit_code == 0, result.output
    flops = json.loads(result.output)[0]
    text = runner.invoke(app, ["summary", str(SPECS / name)]).output
    assert _total(text, "Total params") == flops["params"] == load(name).counts.params
    assert _total(text, "Mult-adds") == flops["macs"] == load(name).counts.macs
    assert _total(text, "fvcore total") == flops["fvcore"]


def test_torchvision_resnet34_summary_has_the_measured_totals() -> None:
    text = load("torchvision/resnet34.yaml").summary()
    assert "Total params: 21,797,672" in text  # PAPER.md, measured on torchvision
    assert "Mult-adds (conv + fc, the paper's FLOPs): 3,663,761,408" in text


@pytest.mark.parametrize("depth", [None, 0, 1, 2, 3])
def test_displayed_numbers_add_up_to_the_totals(depth: int | None) -> None:
    arch = load("torchvision/resnet34.yaml")
    rows = summary_rows(arch, depth)
    assert sum(r.params or 0 for r in rows) == arch.counts.params
    assert sum(r.macs or 0 for r in rows) == arch.counts.macs


def test_one_row_per_module_in_execution_order() -> None:
    arch = load("torchvision/resnet34.yaml")
    rows = summary_rows(arch)
    assert [r.path for r in rows] == [place.path for place in ir.walk(arch.network)]
    leaves = [r for r in rows if r.params is not None]
    assert [r.path for r in leaves] == [path for path, _ in ir.layers(arch.network)]
    downsample = next(r for r in rows if r.path == "layer2.0.downsample.0")
    # 1x1 conv, 64 -> 128, stride 2: 8,192 weights at 28x28 = 6,422,528 mult-adds
    assert (downsample.op, downsample.output) == ("conv 1x1 /2, 64->128", (128, 28, 28))
    assert (downsample.params, downsample.macs) == (8_192, 6_422_528)


def test_depth_folds_modules_into_subtotals() -> None:
    arch = load("resnet34.yaml")
    text = summary_table(arch, depth=1)
    assert "layer1.0.conv1" not in text and "layer3.5" in text
    stage = next(r for r in summary_rows(arch, 0) if r.path == "layer3")
    assert (stage.params, stage.macs) == (
        arch.counts_by_path["layer3"].params,
        arch.counts_by_path["layer3"].macs,
    )
    result = runner.invoke(app, ["summary", str(SPECS / "resnet34.yaml"), "--depth", "0"])
    assert result.exit_code == 0 and "layer1.0" not in result.output
    assert result.output.splitlines()[0] == "resnet34: input 3x224x224, output 1000"


# -- diff ------------------------------------------------------------------------------

# Option B's projections, 1x1 conv (stride 2) + BN, at 28x28, 14x14 and 7x7:
#   64->128:  8,192 + 256   =   8,448 params;  8,192 * 28*28 = 6,422,528 mult-adds
#  128->256: 32,768 + 512   =  33,280 params; 32,768 * 14*14 = 6,422,528 mult-adds
#  256->512: 131,072 + 1024 = 132,096 params; 131,072 * 7*7  = 6,422,528 mult-adds
PROJECTIONS = {
    "layer2": (8_448, 6_422_528),
    "layer3": (33_280, 6_422_528),
    "layer4": (132_096, 6_422_528),
}


def test_plain34_to_resnet34_costs_exactly_the_three_projections() -> None:
    plain, resnet = load("plain34.yaml"), load("torchvision/resnet34.yaml")
    result = diff(plain, resnet)
    assert result.params == 8_448 + 33_280 + 132_096 == 173_824
    assert result.macs == 3 * 6_422_528 == 19_267_584
    downsamples = [place.node for place in ir.walk(resnet.network) if place.name == "downsample"]
    assert len(downsamples) == 3
    projections = sum((count(d) for d in downsamples), Counts())
    assert (result.params, result.macs) == (projections.params, projections.macs)
    for section in result.sections:
        assert (section.params, section.macs) == PROJECTIONS.get(section.name, (0, 0))
    costly = [c for s in result.sections for c in s.changes if c.params or c.macs]
    assert [(c.path_b, c.params, c.macs) for c in costly] == [
        (f"{stage}.0", *cost) for stage, cost in PROJECTIONS.items()
    ]
    assert "adds downsample (conv 1x1 /2, 64->128; bn 128)" in costly[0].what
    assert "shortcut none => projection" in costly[0].what


def test_option_a_costs_nothing() -> None:
    result = diff(load("plain34.yaml"), load("resnet34.yaml"))
    assert (result.params, result.macs) == (0, 0)
    text = result.render()
    assert text.count("shortcut none => zero_pad; adds downsample (zero-pad /2") == 3
    assert "layer3.1-5: plain => basic; shortcut none => identity: no cost" in text


def test_diff_command_reports_the_projections() -> None:
    result = runner.invoke(
        app, ["diff", str(SPECS / "plain34.yaml"), str(SPECS / "torchvision/resnet34.yaml")]
    )
    assert result.exit_code == 0, result.output
    total = next(line for line in result.output.splitlines() if line.startswith("total"))
    assert total.split() == [
        "total",
        "21,623,848",
        "21,797,672",
        "+173,824",
        "3,644,493,824",
        "3,663,761,408",
        "+19,267,584",
    ]
    for (stage, (params, macs)), channels in zip(
        PROJECTIONS.items(), ("64->128", "128->256", "256->512"), strict=True
    ):
        line = next(
            line for line in result.output.splitlines() if line.strip().startswith(f"{stage}.0:")
        )
        assert f"conv 1x1 /2, {channels}" in line
        assert line.endswith(f"+{params:,} params, +{macs:,} mult-adds")


def test_one_spec_under_two_settings(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    result = runner.invoke(app, ["diff", str(spec), "-A", "n=1", "-B", "n=3"])
    assert result.exit_code == 0, result.output
    assert f"A: tiny [n=1] ({spec})" in result.output
    # two more basic blocks per stage: 2 * 4,672 and 2 * 18,560 params
    assert "layer1.1-2: added basic 16: +4,672 params, +4,718,592 mult-adds each" in result.output
    a, b = archspec.load(spec, n=1), archspec.load(spec, n=3)
    assert diff(a, b).params == b.counts.params - a.counts.params == 2 * (4_672 + 18_560)


def test_stages_pair_by_position_when_names_differ() -> None:
    renamed = TINY.replace("layer1:", "conv2_x:").replace("layer2:", "conv3_x:")
    result = diff(archspec.load(TINY), archspec.load(renamed))
    assert [s.name for s in result.sections] == [
        "stem",
        "layer1 / conv2_x",
        "layer2 / conv3_x",
        "head",
    ]
    assert (result.params, result.macs) == (0, 0)
    assert all(not s.changes for s in result.sections)
    assert "no structural changes" in result.render()


def test_diff_of_bare_networks() -> None:
    network = load("resnet34.yaml").network
    result = diff(network, network)
    assert (result.params, result.macs) == (0, 0) and result.section("layer4").changes == ()


# -- diff of branches -----------------------------------------------------------------------


def test_adding_squeeze_excitation_is_one_edit_costing_its_two_convs() -> None:
    plain, gated = archspec.load(BRANCHES, se=False), archspec.load(BRANCHES)
    result = diff(plain, gated)
    # fc1 32 -> 4 and fc2 4 -> 32: 1x1 convs without bias, at 1x1: 128 + 128
    gate = gated.counts_by_path["layer1.0.se"]
    assert (gate.params, gate.macs) == (256, 256)
    assert (result.params, result.macs) == (256, 256)
    [change] = result.section("layer1").changes
    assert change.path_b == "layer1.0"
    assert change.what == (
        "se False => True; "
        "+mul(identity | global avgpool; conv 1x1, 32->4; relu; conv 1x1, 4->32; sigmoid)"
    )
    assert all(not s.changes for s in result.sections if s.name != "layer1")
    assert "layer1.0: se False => True; +mul(identity | global avgpool" in result.render()


JOIN = """\
network join
input 8x8x8
block mix(c) = JOIN(a=conv(c, 1), b=(conv(4, 1) conv(c, 3, padding=1)))
stage layer1 = mix(8) x 1
head pool=global_avgpool flatten=flatten fc=fc(10)
"""


def test_a_change_of_combination_is_named() -> None:
    concat = archspec.load(JOIN.replace("JOIN", "concat"))
    added = archspec.load(JOIN.replace("JOIN", "add"))
    result = diff(concat, added)
    [change] = result.section("layer1").changes
    branches = "conv 1x1, 8->8 | conv 1x1, 8->4; conv 3x3, 4->8"
    assert change.what == f"concat({branches}) => add({branches}); output 16x8x8 => 8x8x8"
    assert (change.params, change.macs) == (0, 0)
    # only the classifier shrinks: 16 -> 8 features into fc(10)
    assert (result.params, result.macs) == (-8 * 10, -8 * 10)
