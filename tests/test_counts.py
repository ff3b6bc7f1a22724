"""Analytic counts against the paper and the exact reference table (tests/golden.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

import archspec
from archspec import ir, ops
from archspec.analysis.cost import count

GOLDEN = json.loads((ROOT / "tests" / "golden.json").read_text())
PAPER_IMAGENET = [
    "specs/resnet18.yaml",
    "specs/resnet34.yaml",
    "specs/resnet50.yaml",
    "specs/resnet101.yaml",
    "specs/resnet152.yaml",
    "specs/plain18.yaml",
    "specs/plain34.yaml",
    "specs/vgg19.yaml",
]


@pytest.mark.parametrize("spec", sorted(GOLDEN["macs_and_params"]))
def test_exact_macs_and_params(spec: str) -> None:
    macs, params = GOLDEN["macs_and_params"][spec]
    counts = archspec.load(spec).counts
    assert (counts.macs, counts.params) == (macs, params)


@pytest.mark.parametrize("spec", sorted(GOLDEN["params"]))
def test_exact_cifar_params(spec: str) -> None:
    assert archspec.load(spec).counts.params == GOLDEN["params"][spec]


@pytest.mark.parametrize("spec", PAPER_IMAGENET)
def test_paper_specs_within_two_percent_of_table_1(spec: str) -> None:
    arch = archspec.load(spec)
    paper = arch.network.paper
    assert paper is not None and paper.macs
    assert abs(arch.counts.macs - paper.macs) / paper.macs < 0.02


def test_plain34_costs_18_percent_of_vgg19() -> None:
    plain, vgg = (archspec.load(f"specs/{n}.yaml").counts.macs for n in ("plain34", "vgg19"))
    assert round(plain / 1e9, 1) == 3.6 and round(vgg / 1e9, 1) == 19.6
    assert round(plain / vgg, 2) == 0.19  # the paper: "only 18%" (3.6 / 19.6 = 0.184)


def test_fvcore_conventions_on_resnet50_v15() -> None:
    """norm and pool reproduce fvcore's eval-mode batch_norm and adaptive_avg_pool2d counts."""
    counts = archspec.load("specs/torchvision/resnet50.yaml").counts
    reference = GOLDEN["fvcore_resnet50_v15"]
    assert counts.norm == reference["batch_norm"]
    assert counts.pool == reference["adaptive_avg_pool2d"]
    assert counts.fvcore == reference["total"]


def _conv_weights(block: ir.Node) -> int:
    return sum(
        layer.op.out_channels * layer.op.in_channels * layer.op.kernel**2
        for _, layer in ir.layers(block)
        if isinstance(layer.op, ops.Conv2d)
    )


def _block(spec: str, stage: int, index: int) -> ir.Group:
    node = archspec.load(spec).network.stages()[stage][1].members[index].node
    assert isinstance(node, ir.Group)
    return node


def test_paper_block_weight_examples() -> None:
    # basic block at width 256: 2 x 3x3x256x256 = 1,179,648
    basic = _block("specs/resnet34.yaml", 2, 1)
    assert basic.definition == "basic" and basic.input[0] == 256
    assert _conv_weights(basic) == 1_179_648
    # bottleneck 256 -> 64 -> 64 -> 256: 256*64 + 9*64*64 + 64*256 = 69,632
    bottleneck = _block("specs/resnet50.yaml", 0, 1)
    assert bottleneck.definition == "bottleneck" and bottleneck.input[0] == 256
    assert _conv_weights(bottleneck) == 69_632


def test_counts_add_up_from_layers_to_stages_to_network() -> None:
    arch = archspec.load("specs/resnet50.yaml")
    table = arch.counts_by_path
    stages = arch.network.stages()
    assert [len(s.members) for _, s in stages] == [3, 4, 6, 3]  # blocks 3+4+6+3 = 16
    for name, stage in stages:
        assert table[name] == count(stage)
        blocks = [f"{name}.{m.name}" for m in stage.members]
        assert sum(table[b].params for b in blocks) == table[name].params
    assert sum(row.counts.macs for row in arch.rows()) == arch.counts.macs
    assert arch.counts == count(arch.network)


def test_activations_are_output_elements() -> None:
    arch = archspec.load("specs/cifar/resnet20.yaml")
    conv1 = arch.counts_by_path["conv1"]
    assert conv1.activations == 16 * 32 * 32
    assert conv1.macs == 16 * 3 * 9 * 32 * 32 and conv1.params == 16 * 3 * 9


def test_cifar_depth_is_6n_plus_2() -> None:
    for n in (3, 5, 18):
        network = archspec.load("specs/cifar/cifar.yaml", n=n).network
        weighted = [
            layer
            for _, layer in ir.layers(network)
            if isinstance(layer.op, (ops.Conv2d, ops.Linear))
        ]
        assert len(weighted) == 6 * n + 2


def test_input_override_changes_the_counts() -> None:
    large = archspec.load("specs/torchvision/resnet18.yaml", input="3x448x448")
    assert large.network.input == (3, 448, 448) and large.network.output == (1000,)
    full = archspec.load("specs/torchvision/resnet18.yaml")
    # every map doubles in both sides (448 halves cleanly to 14), so every convolution
    # costs exactly 4x; the fc after global pooling does not change
    fc = 512 * 1000
    assert large.counts.macs - fc == 4 * (full.counts.macs - fc)
    assert large.counts.params == full.counts.params


def test_every_spec_compiles() -> None:
    for path in sorted(Path("specs").rglob("*.yaml")) + sorted(Path("specs").rglob("*.arch")):
        assert archspec.load(path).counts.params > 0
