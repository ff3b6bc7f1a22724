"""Lowering: the paper's shortcut options, stride placement, names, user definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec import ir


def blocks(spec: str, **params: object) -> list[ir.Block]:
    network = archspec.load(spec, **params).network
    return [b for stage in network.stages() for b in stage.children if isinstance(b, ir.Block)]


def kinds(spec: str) -> list[str]:
    return [b.shortcut for b in blocks(spec)]


def test_option_a_pads_only_where_the_shape_changes() -> None:
    shortcuts = kinds("specs/resnet34.yaml")
    assert (
        shortcuts.count("zero_pad") == 3 and shortcuts.count("identity") == 16 - 3
    )  # 3+4+6+3 blocks
    pad = blocks("specs/resnet34.yaml")[3].downsample
    assert isinstance(pad, ir.Layer) and pad.op == ir.ZeroPadShortcut(
        stride=2, in_channels=64, out_channels=128
    )
    assert pad.path == "layer2.0.downsample"


def test_option_b_projects_where_the_shape_changes_with_torchvision_names() -> None:
    projected = [b for b in blocks("specs/torchvision/resnet50.yaml") if b.shortcut == "projection"]
    assert [b.path for b in projected] == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    down = projected[1].downsample
    assert isinstance(down, ir.Sequence)
    conv, bn = down.children
    assert (conv.path, bn.path) == ("layer2.0.downsample.0", "layer2.0.downsample.1")
    assert conv.op == ir.Conv2d(in_channels=256, out_channels=512, kernel=1, stride=2, padding=0)


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
    assert [b.shortcut for b in blocks(str(spec)) if b.shortcut != "identity"] == [
        "zero_pad",
        "projection",
        "zero_pad",
    ]


@pytest.mark.parametrize(
    ("spec", "strided"),
    [("specs/resnet50.yaml", "conv1"), ("specs/torchvision/resnet50.yaml", "conv2")],
)
def test_bottleneck_stride_placement(spec: str, strided: str) -> None:
    block = blocks(spec)[3]  # layer2.0: the first downsampling block
    strides = {
        m.name: m.op.stride
        for m in block.body
        if isinstance(m, ir.Layer) and isinstance(m.op, ir.Conv2d)
    }
    assert strides == {"conv1": 1, "conv2": 1, "conv3": 1, strided: 2}


def test_module_paths_match_torchvision_resnet18() -> None:
    network = archspec.load("specs/torchvision/resnet18.yaml").network
    paths = [m.path for m in ir.walk(network)]
    assert paths[:4] == ["conv1", "bn1", "relu", "maxpool"]
    for path in ("layer1.0.conv1", "layer1.1.bn2", "layer2.0.downsample.0", "layer4.1.relu", "fc"):
        assert path in paths


def test_vgg_features_are_numbered_like_nn_sequential() -> None:
    features = archspec.load("specs/vgg16.yaml").network.children[0]
    assert isinstance(features, ir.Sequence) and features.path == "features"
    names = [(c.name, c.op.op) for c in features.children if isinstance(c, ir.Layer)]
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
    first, strided = stage_blocks[0], stage_blocks[2]
    assert [c.name for c in first.downsample.children] == ["0", "1"]  # no pool at stride 1
    pool, conv, bn = strided.downsample.children
    assert pool.op == ir.AvgPool2d(kernel=2, stride=2, ceil_mode=True, count_include_pad=False)
    assert conv.op.stride == 1 and conv.path == "layer2.0.downsample.1"


def test_zero_init_marks_the_last_bn() -> None:
    block = blocks("specs/arch/resnet_d.arch")[0]
    zero = [
        m.name
        for m in block.body
        if isinstance(m, ir.Layer) and isinstance(m.op, ir.BatchNorm2d) and m.op.zero_init
    ]
    assert zero == ["bn3"]


def test_preactivation_blocks_have_nothing_after_the_addition(tmp_path) -> None:
    spec = tmp_path / "preact.yaml"
    spec.write_text(
        "name: preact\ninput: 3x32x32\nshortcut: B\nstem: conv1=conv(16, 3)\n"
        "stages:\n  layer1: preact_basic(16) x 2\n  layer2: preact_basic(32) x 2 /2\n"
        "head: bn=bn relu=relu avgpool=global_avgpool flatten fc=fc(10)\n"
    )
    first = blocks(str(spec))[0]
    assert [m.op.op for m in first.body][:3] == ["bn", "relu", "conv"] and first.after == ()


def test_block_arguments_are_recorded() -> None:
    block = blocks("specs/torchvision/resnet50.yaml")[3]
    assert block.block == "bottleneck"
    assert dict(block.arguments) == {
        "width": 128,
        "stride": 2,
        "expansion": 4,
        "groups": 1,
        "base_width": 64,
        "stride_at": 2,
        "zero_init": False,
    }


def test_grouped_bottleneck_resnext_widths(tmp_path) -> None:
    spec = tmp_path / "resnext.yaml"
    spec.write_text(
        Path("specs/torchvision/resnet50.yaml")
        .read_text()
        .replace("stride_at=2)", "stride_at=2, groups=32, base_width=4)")
        .replace("name: resnet50", "name: resnext50")
    )
    # torchvision's resnext50_32x4d: 25,028,904 parameters
    assert archspec.load(spec).counts.params == 25_028_904


def test_depth_12002_lowers_in_bounded_time() -> None:
    arch = archspec.load("specs/cifar/cifar.yaml", n=2000)
    assert sum(len(s.children) for s in arch.network.stages()) == 6000  # 3 stages x 2000 blocks


@pytest.mark.parametrize(
    "spec",
    [
        "specs/torchvision/resnet152.yaml",
        "specs/arch/resnet_d.arch",
        "specs/vgg19.yaml",
        "specs/cifar/resnet110.yaml",
    ],
)
def test_fast_construction_gives_a_valid_ir(spec: str) -> None:
    """Lowering builds nodes without revalidation (and moves copies of repeated blocks);
    the result must still be exactly what the IR's schema accepts."""
    network = archspec.load(spec).network
    assert ir.Network.model_validate(network.model_dump()) == network
    paths = [m.path for m in ir.walk(network)]
    assert len(paths) == len(set(paths))  # moved copies got their own paths
    for module in ir.walk(network):
        assert module.path.rsplit(".", 1)[-1] == module.name


@pytest.mark.parametrize("name", ["zero_grad", "compile", "class", "stage"])
def test_reserved_names_are_refused_where_they_are_written(name: str) -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(f"name: t\ninput: 3x8x8\nstem: ok=conv(4) {name}=relu\n")
    diagnostic = caught.value.diagnostics[0]
    assert diagnostic.code in ("E311", "E100") and diagnostic.span.column == 18
