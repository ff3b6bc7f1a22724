"""Lowering: the paper's shortcut options, stride placement, names, user definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec import ir, ops


def blocks(spec: str, **params: object) -> list[tuple[str, ir.Group]]:
    network = archspec.load(spec, **params).network
    return [
        (f"{name}.{m.name}", m.node)  # type: ignore[misc]
        for name, stage in network.stages()
        for m in stage.members
    ]


def kinds(spec: str) -> list[str]:
    return [ir.shortcut_kind(block) for _, block in blocks(spec)]


def downsample(block: ir.Group) -> ir.Node:
    return ir.find(block, "downsample")


def layers_of(block: ir.Group) -> dict[str, ir.Layer]:
    return {path: layer for path, layer in ir.layers(block)}


def test_option_a_pads_only_where_the_shape_changes() -> None:
    shortcuts = kinds("specs/resnet34.yaml")
    assert (
        shortcuts.count("zero_pad") == 3 and shortcuts.count("identity") == 16 - 3
    )  # 3+4+6+3 blocks
    path, block = blocks("specs/resnet34.yaml")[3]
    pad = downsample(block)
    assert isinstance(pad, ir.Layer) and pad.op == ops.ZeroPadShortcut(
        stride=2, in_channels=64, out_channels=128
    )
    assert path == "layer2.0"


def test_option_b_projects_where_the_shape_changes_with_torchvision_names() -> None:
    projected = [
        (path, b)
        for path, b in blocks("specs/torchvision/resnet50.yaml")
        if ir.shortcut_kind(b) == "projection"
    ]
    assert [path for path, _ in projected] == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    down = downsample(projected[1][1])
    assert isinstance(down, ir.Group) and [m.name for m in down.members] == ["0", "1"]
    conv = down.members[0].node
    assert isinstance(conv, ir.Layer)
    assert conv.op == ops.Conv2d(in_channels=256, out_channels=512, kernel=1, stride=2, padding=0)
    paths = [p.path for p in ir.walk(archspec.load("specs/torchvision/resnet50.yaml").network)]
    assert "layer2.0.downsample.0" in paths and "layer2.0.downsample.1" in paths


def test_option_c_projects_every_shortcut(tmp_path) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text(Path("specs/resnet34.yaml").read_text().replace("shortcut: A", "shortcut: C"))
    assert set(kinds(str(spec))) == {"projection"}
    # 16 projections; the paper's B vs C: C adds the 13 identity shortcuts' 1x1 convs + BN
    b_params = archspec.load("specs/torchvision/resnet34.yaml").counts.params
    c_params = archspec.load(spec).counts.params
    identity_widths = [64] * 3 + [128] * 3 + [256] * 5 + [512] * 2
    assert c_params - b_params == sum(w * w + 2 * w for w in identity_widths)


def test_plain_networks_have_no_shortcut_and_no_addition() -> None:
    assert set(kinds("specs/plain34.yaml")) == {"none"}
    assert set(kinds("specs/cifar/plain20.yaml")) == {"none"}


def test_stage_override_of_the_shortcut_option(tmp_path) -> None:
    spec = tmp_path / "mixed.yaml"
    spec.write_text(
        Path("specs/resnet34.yaml")
        .read_text()
        .replace("basic(256) x 6 /2", "basic(256) x 6 /2 shortcut=B")
    )
    assert [k for k in kinds(str(spec)) if k != "identity"] == [
        "zero_pad",
        "projection",
        "zero_pad",
    ]


@pytest.mark.parametrize(
    ("spec", "strided"),
    [("specs/resnet50.yaml", "conv1"), ("specs/torchvision/resnet50.yaml", "conv2")],
)
def test_bottleneck_stride_placement(spec: str, strided: str) -> None:
    _, block = blocks(spec)[3]  # layer2.0: the first downsampling block
    strides = {
        path: layer.op.stride
        for path, layer in layers_of(block).items()
        if isinstance(layer.op, ops.Conv2d) and not path.startswith("downsample")
    }
    assert strides == {"conv1": 1, "conv2": 1, "conv3": 1, strided: 2}


def test_module_paths_match_torchvision_resnet18() -> None:
    network = archspec.load("specs/torchvision/resnet18.yaml").network
    paths = [p.path for p in ir.walk(network)]
    assert paths[:4] == ["conv1", "bn1", "relu", "maxpool"]
    for path in ("layer1.0.conv1", "layer1.1.bn2", "layer2.0.downsample.0", "layer4.1.relu", "fc"):
        assert path in paths
    assert len(paths) == len(set(paths))  # every place has its own path


def test_vgg_features_are_numbered_like_nn_sequential() -> None:
    first = archspec.load("specs/vgg16.yaml").network.members[0]
    assert first.name == "features" and isinstance(first.node, ir.Group)
    names = [(m.name, m.node.op.NAME) for m in first.node.members if isinstance(m.node, ir.Layer)]
    assert names[:5] == [
        ("0", "conv"),
        ("1", "relu"),
        ("2", "conv"),
        ("3", "relu"),
        ("4", "maxpool"),
    ]
    assert len(names) == 13 * 2 + 5  # 13 conv+relu pairs and 5 pools, as torchvision


def test_user_projection_is_used_where_the_shape_changes() -> None:
    stage_blocks = blocks("specs/arch/resnet_d.arch")
    first, strided = stage_blocks[0][1], stage_blocks[2][1]
    first_down = downsample(first)
    assert isinstance(first_down, ir.Group)
    assert [m.name for m in first_down.members] == ["0", "1"]  # no pool at stride 1
    strided_down = downsample(strided)
    assert isinstance(strided_down, ir.Group)
    pool, conv, _ = (m.node for m in strided_down.members)
    assert isinstance(pool, ir.Layer) and isinstance(conv, ir.Layer)
    assert pool.op == ops.AvgPool2d(kernel=2, stride=2, ceil_mode=True, count_include_pad=False)
    assert conv.op.stride == 1 and stage_blocks[2][0] == "layer2.0"  # type: ignore[attr-defined]
    assert [m.name for m in strided_down.members][1] == "1"


def test_zero_init_marks_the_last_bn() -> None:
    _, block = blocks("specs/arch/resnet_d.arch")[0]
    zero = [
        path
        for path, layer in layers_of(block).items()
        if isinstance(layer.op, ops.BatchNorm2d) and layer.op.zero_init
    ]
    assert zero == ["bn3"]


def test_preactivation_blocks_have_nothing_after_the_addition(tmp_path) -> None:
    spec = tmp_path / "preact.yaml"
    spec.write_text(
        "name: preact\ninput: 3x32x32\nshortcut: B\nstem: conv1=conv(16, 3)\n"
        "stages:\n  layer1: preact_basic(16) x 2\n  layer2: preact_basic(32) x 2 /2\n"
        "head: bn=bn relu=relu avgpool=global_avgpool flatten fc=fc(10)\n"
    )
    _, first = blocks(str(spec))[0]
    addition = ir.residual(first)
    assert addition is not None and first.flow.steps == (addition,)  # nothing after it
    body = [m.node.op.NAME for m in ir.members_of(addition.branches[0])]  # type: ignore[union-attr]
    assert body[:3] == ["bn", "relu", "conv"]


def test_block_arguments_are_recorded() -> None:
    _, block = blocks("specs/torchvision/resnet50.yaml")[3]
    assert block.definition == "bottleneck"
    assert dict(block.arguments) == {
        "width": 128,
        "stride": 2,
        "expansion": 4,
        "groups": 1,
        "base_width": 64,
        "stride_at": 2,
        "zero_init": False,
    }


def test_grouped_bottleneck_resnext_widths() -> None:
    # torchvision's resnext50_32x4d: ResNet-50 with 32 groups of 4 per 64 of stage width
    arch = archspec.load("specs/torchvision/resnet50.yaml", groups=32, width_per_group=4)
    assert arch.counts.params == 25_028_904
    conv2 = archspec.ir.find(arch.network, "layer1.0.conv2")
    assert isinstance(conv2, archspec.ir.Layer) and conv2.output[0] == 128


def test_depth_12002_lowers_to_shared_blocks() -> None:
    arch = archspec.load("specs/cifar/cifar.yaml", n=2000)
    stages = arch.network.stages()
    assert sum(len(stage.members) for _, stage in stages) == 6000  # 3 stages x 2000 blocks
    distinct = {id(m.node) for _, stage in stages for m in stage.members}
    assert len(distinct) == 5  # one per stage, plus the two downsampling blocks
    assert arch.counts.params == archspec.load("specs/cifar/cifar.yaml", n=2000).counts.params


@pytest.mark.parametrize("name", ["zero_grad", "compile", "class", "stage"])
def test_reserved_names_are_refused_where_they_are_written(name: str) -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(f"name: t\ninput: 3x8x8\nstem: ok=conv(4) {name}=relu\n")
    diagnostic = caught.value.diagnostics[0]
    assert diagnostic.code in ("E311", "E100") and diagnostic.span.column == 18
