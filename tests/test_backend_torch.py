"""The PyTorch backend: the emitted file, the in-memory build, torchvision parity, counts.

Every spec in specs/ (YAML and .arch) goes through each parametrized test; ImageNet-sized
specs run at 64x64 where a test only needs the structure (the weights do not depend on
the input size), and at their own size where a number depends on it (fvcore counts).
"""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch_helpers import (  # noqa: E402
    ALL_SPECS,
    EXTRA_SPECS,
    MODEL_SPECS,
    TORCHVISION,
    assert_same_model,
    conv_linear_macs,
    emitted_model,
    extra_specs,
    fvcore_by_operator,
    hand_cifar,
    hand_odd,
    hand_resnet,
    import_file,
    load_small,
    parameter_count,
    spec_id,
    write_extra,
    write_nested,
    write_spec,
)

import archspec  # noqa: E402
from archspec import ir, ops  # noqa: E402
from archspec.analysis.cost import count  # noqa: E402
from archspec.backends import pytorch  # noqa: E402
from archspec.codegen.resolve import block_classes, call_probes  # noqa: E402

# ---- the emitted text


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_id)
def test_emitted_source_is_deterministic_standalone_and_documented(spec: str) -> None:
    arch = archspec.load(spec)
    text = arch.source("torch")
    assert archspec.load(spec).source("torch") == text  # a fresh compile: the same bytes
    tree = ast.parse(text)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"torch", "collections", "math"}
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    kinds = {
        p.node.definition
        for p in ir.walk(arch.network)
        if isinstance(p.node, ir.Group) and p.node.definition
    }
    option_a = any(isinstance(x.op, ops.ZeroPadShortcut) for _, x in ir.layers(arch.network))
    assert ("ZeroPadShortcut" in classes) == option_a
    # a class per block type (one per shape of its flow where conditions change it, as
    # resnetv2_basic's identity and projection units) and per group with branches (SE),
    # the runtime classes its layers need (option A's shortcut, LayerNorm2d), one for the
    # network (last); where a switch adds members inside blocks, the classes of the
    # network emitted in its stead (codegen.optional: timm's resnet50 carries SE); the
    # classes of copies only a larger depth holds (EfficientNet-B0's first stage's)
    knobs = arch.knobs()
    padded = next((k.padded for k in knobs if k.padded is not None), arch.network)
    emitted = block_classes(padded, set(), call_probes(knobs)).values()
    assert {cls.kind for cls in emitted} >= kinds
    helpers = [name for name in classes if name in pytorch.dialect.HELPERS]
    assert len(classes) == len({cls.name for cls in emitted}) + len(helpers) + 1
    network_class = classes[-1]
    assert f'__all__ = ["{network_class}"]' in text
    docstring = ast.get_docstring(tree.body[-1])
    assert docstring is not None
    assert f"{arch.counts.params:,}" in docstring and f"{arch.counts.macs:,}" in docstring
    assert spec in (ast.get_docstring(tree) or "")


def test_emitted_files_pass_ruff(tmp_path: Path) -> None:
    """ruff check and ruff format --check, with ruff's defaults (88) and this repo's (100)."""
    sources = [archspec.load(spec) for spec in ALL_SPECS]
    for index, arch in enumerate(sources):
        (tmp_path / f"m{index}_{arch.name}.py").write_text(arch.source("torch"))
    for arch in map(archspec.load, extra_specs(tmp_path)):
        (tmp_path / f"extra_{arch.name}.py").write_text(arch.source("torch"))
    for network in (hand_odd(), hand_resnet(50, zero=True)):
        text = pytorch.emit_source(network, count(network))
        (tmp_path / f"hand_{network.name}.py").write_text(text)
    pyproject = str(Path(__file__).resolve().parent.parent / "pyproject.toml")
    for config in (["--isolated"], ["--config", pyproject]):
        for command in (["check"], ["format", "--check", "--diff"]):
            result = subprocess.run(
                [sys.executable, "-m", "ruff", *command, *config, str(tmp_path)],
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, result.stdout + result.stderr


# ---- the emitted file and the in-memory build are one model


@pytest.mark.parametrize("spec", MODEL_SPECS, ids=spec_id)
def test_emitted_file_and_to_torch_are_the_same_model(spec: str, tmp_path: Path) -> None:
    arch = load_small(spec)
    torch.manual_seed(0)
    emitted = emitted_model(arch, tmp_path)
    torch.manual_seed(0)
    built = arch.to_torch()
    assert_same_model(emitted, built, arch.network.input)
    assert parameter_count(built) == arch.counts.params
    with torch.no_grad():
        assert tuple(built(torch.randn(1, *arch.network.input)).shape[1:]) == arch.network.output


@pytest.mark.parametrize("name", sorted(EXTRA_SPECS))
def test_specs_the_tests_write_emit_and_build_alike(name: str, tmp_path: Path) -> None:
    arch = load_small(write_extra(tmp_path, name))
    torch.manual_seed(0)
    emitted = emitted_model(arch, tmp_path)
    torch.manual_seed(0)
    assert_same_model(emitted, arch.to_torch(), arch.network.input)


@pytest.mark.parametrize("network", [hand_odd(), hand_cifar(2)], ids=lambda n: n.name)
def test_hand_built_irs_emit_and_build_alike(network: ir.Network, tmp_path: Path) -> None:
    """Numbered names (add_module / getattr), a group inside a block, a plain and a
    residual variant of one block type, and zero-init on some instances only."""
    path = tmp_path / f"{network.name}_torch.py"
    path.write_text(pytorch.emit_source(network, count(network)))
    module = import_file(path)
    torch.manual_seed(1)
    emitted = getattr(module, module.__all__[0])()
    torch.manual_seed(1)
    built = pytorch.build(network)
    assert_same_model(emitted, built, network.input)
    if network.name == "odd":
        assert {"MineBlock", "PlainMineBlock"} <= set(dir(module))
        zeroed = {
            k for k, v in built.state_dict().items() if k.endswith("bn.weight") and not v.any()
        }
        assert zeroed == {"stage.0.inner.bn.weight", "stage.2.inner.bn.weight"}


# ---- torchvision


@pytest.mark.parametrize("spec", sorted(TORCHVISION), ids=spec_id)
def test_torchvision_state_dict_loads_strictly_and_outputs_match(spec: str, tmp_path: Path) -> None:
    torchvision = pytest.importorskip("torchvision")
    arch = archspec.load(spec)
    reference = getattr(torchvision.models, TORCHVISION[spec])(weights=None).eval()
    weights = reference.state_dict()
    emitted = emitted_model(arch, tmp_path).eval()
    built = arch.to_torch().eval()
    emitted.load_state_dict(weights, strict=True)
    built.load_state_dict(weights, strict=True)
    # 224x224 for the two torchvision ResNets people use most and for VGG, 64x64 else
    size = 224 if TORCHVISION[spec] in ("resnet18", "resnet50", "vgg16", "vgg19") else 64
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        expected = reference(x)
        assert (emitted(x) - expected).abs().max().item() <= 1e-5
        assert (built(x) - expected).abs().max().item() <= 1e-5


# ---- counts


@pytest.mark.parametrize("spec", MODEL_SPECS, ids=spec_id)
def test_counts_equal_fvcore_and_numel(spec: str) -> None:
    """archspec's conv and linear mult-adds are fvcore's per-operator counts, exactly;
    its batch-norm and pooling figures are fvcore's too; params are sum(numel)."""
    arch = archspec.load(spec)
    model = arch.to_torch()
    by_operator = fvcore_by_operator(model, arch.network.input)
    conv, linear = conv_linear_macs(arch.network)
    assert by_operator.get("conv", 0) == conv
    assert by_operator.get("linear", 0) == linear
    norms = sum(by_operator.get(f"{kind}_norm", 0) for kind in ("batch", "layer"))
    assert norms == arch.counts.norm
    assert by_operator.get("adaptive_avg_pool2d", 0) == arch.counts.pool
    assert sum(by_operator.values()) == arch.counts.fvcore
    assert parameter_count(model) == arch.counts.params


# ---- constructs


def test_option_a_subsamples_and_pads_with_zeros_and_has_no_parameters() -> None:
    arch = archspec.load("specs/cifar/resnet20.yaml")
    model = arch.to_torch()
    shortcut = model.get_submodule("layer2.0.downsample")
    assert type(shortcut).__name__ == "ZeroPadShortcut"
    assert not list(shortcut.parameters())
    x = torch.randn(2, 16, 32, 32)
    y = shortcut(x)
    assert y.shape == (2, 32, 16, 16)  # channels 16 -> 32, pixels halved
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert not y[:, 16:].any()
    assert not [k for k in model.state_dict() if "downsample" in k]


def test_options_b_and_c_project_with_torchvision_names(tmp_path: Path) -> None:
    keys_b = archspec.load("specs/torchvision/resnet18.yaml").to_torch().state_dict()
    assert (
        "layer2.0.downsample.0.weight" in keys_b and "layer2.0.downsample.1.running_var" in keys_b
    )
    assert "layer1.0.downsample.0.weight" not in keys_b  # B: identity where shapes agree
    spec = write_spec(tmp_path, "option_c", "shortcut: C", "input: 3x32x32")
    arch = archspec.load(spec)
    keys_c = arch.to_torch().state_dict()
    for block in ("layer1.0", "layer1.1", "layer2.0", "layer2.1"):
        assert f"{block}.downsample.0.weight" in keys_c and f"{block}.downsample.1.bias" in keys_c
    assert re.search(r"downsample: nn\.Module[,)]", arch.source("torch"))  # always given


def test_preactivation_blocks(tmp_path: Path) -> None:
    arch = archspec.load(write_extra(tmp_path, "preact.yaml"))  # compared in the EXTRA test
    assert "class PreactBasicBlock" in arch.source("torch")


@pytest.mark.parametrize(
    ("spec", "said"),
    [("resnet34", "; shortcut option A."), ("plain34", "."), ("torchvision/densenet121", ".")],
)
def test_the_network_docstring_names_the_shortcut_option_only_where_there_are_shortcuts(
    spec: str, said: str
) -> None:
    """Plain networks and networks without the paper's shortcuts have blocks but no option."""
    arch = archspec.load(spec)
    for backend in ("torch", "flax"):
        assert f"input 3x224x224, output 1000{said}\n" in arch.source(backend), backend


def test_blocks_nested_in_blocks(tmp_path: Path) -> None:
    """A block type used inside another: one class each; the outer class takes its
    nested blocks' projections as arguments (``a_downsample``) and passes them on."""
    arch = archspec.load(write_nested(tmp_path))
    source = arch.source("torch")
    assert source.count("class InnerBlock(") == 1 and source.count("class OuterBlock(") == 1
    assert "downsample=a_downsample" in source
    keys = arch.to_torch().state_dict()
    assert "layer2.0.a.downsample.0.weight" in keys and "layer2.0.downsample.1.bias" in keys
    emitted = emitted_model(arch, tmp_path)  # equal to to_torch(): the EXTRA_SPECS test
    zeroed = {k for k, v in emitted.state_dict().items() if k.endswith("weight") and not v.any()}
    assert zeroed == {f"layer{s}.{b}.{x}.bn2.weight" for s in (1, 2) for b in (0, 1) for x in "ab"}


def test_plain_blocks_add_nothing() -> None:
    source = archspec.load("specs/plain18.yaml").source("torch")
    assert "+=" not in source and "identity" not in source and "downsample" not in source


def test_user_blocks_and_projections_from_the_spec() -> None:
    arch = archspec.load("specs/arch/resnet_d.arch")
    model = arch.to_torch()
    pool = model.get_submodule("layer2.0.downsample.pool")
    assert isinstance(pool, torch.nn.AvgPool2d)
    assert pool.ceil_mode and not pool.count_include_pad
    assert "layer1.0.downsample.pool" not in dict(model.named_modules())  # `if stride > 1`
    source = arch.source("torch")
    assert "class BottleneckDBlock" in source


def test_initialisation_follows_the_paper(tmp_path: Path) -> None:
    arch = load_small("specs/arch/resnet_d.arch")  # bn3 has zero_init=true in this spec
    torch.manual_seed(0)
    for model in (arch.to_torch(), emitted_model(arch, tmp_path)):
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                std = module.weight.std().item()
                assert abs(std / (2 / fan_out) ** 0.5 - 1) < 0.2, name  # Kaiming, fan_out
            elif isinstance(module, torch.nn.BatchNorm2d):
                expected = 0.0 if name.endswith("bn3") else 1.0
                assert torch.all(module.weight == expected) and not module.bias.any(), name
    zeroed = [path for path, x in ir.layers(arch.network) if getattr(x.op, "zero_init", False)]
    assert len(zeroed) == 8  # 2 blocks x 4 stages


def test_block_class_arguments_are_named_after_the_spec() -> None:
    network = archspec.load("specs/torchvision/resnet50.yaml").network
    cls = block_classes(network, set())[id(ir.find(network, "layer2.0"))]
    names = [variable.name for variable in cls.parameters]
    assert names == ["in_channels", "width", "out_channels", "stride"]
    assert cls.bindings[("conv2", "stride")] == "stride"  # v1.5: the stride on the 3x3
    assert ("conv1", "stride") not in cls.bindings
    paper_network = archspec.load("specs/resnet50.yaml").network
    paper = block_classes(paper_network, set())[id(ir.find(paper_network, "layer2.0"))]
    assert paper.bindings[("conv1", "stride")] == "stride"  # v1: on the first 1x1


def test_channels_equal_in_every_instance_are_one_argument(tmp_path: Path) -> None:
    """A width that several fields take in every instance is one constructor argument:
    MobileNetV2's expansion is the depthwise convolution's input and output and the
    projection's input (four arguments before, always equal). Widths that differ in one
    instance stay apart; either way the class builds every instance."""
    network = archspec.load("torchvision/mobilenet_v2").network
    expanding = block_classes(network, set())[id(ir.find(network, "features.2"))]
    assert [v.name for v in expanding.parameters if v.channels] == [
        "in_channels",
        "out_channels",
        "conv_0_out_channels",
    ]
    text = (
        "name: t\ninput: 3x8x8\ndefine: |\n"
        "  block twice(w) = conv(w * 2, 1) bn relu conv(w * 2, 3) bn relu conv(8, 1)\n"
        "  block apart(w) = conv(w * 2, 1) bn relu conv(w * 3, 3) bn relu conv(8, 1)\n"
        "stem: conv(8, 3) a=twice(4) b=twice(8) c=apart(4) d=apart(8)\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    classes = block_classes(arch.network, set())
    twice, apart = (classes[id(ir.find(arch.network, path))] for path in "ac")
    assert [v.name for v in twice.parameters] == [
        "in_channels",
        "out_channels",
        "conv0_out_channels",
    ]
    assert [v.name for v in apart.parameters][2:] == ["conv0_out_channels", "conv3_out_channels"]
    torch.manual_seed(0)
    emitted = emitted_model(arch, tmp_path)
    torch.manual_seed(0)
    assert_same_model(emitted, arch.to_torch(), (3, 8, 8))


def test_a_depthwise_convolutions_groups_are_its_channels_argument(tmp_path: Path) -> None:
    """A field that equals a channel argument in every instance takes that argument, as
    torchvision writes ``groups=hidden_dim``: MobileNetV2's classes lose their four
    ``conv_1_groups`` arguments. Groups that differ from every width stay an argument of
    their own; groups the same everywhere stay a literal."""
    source = archspec.load("torchvision/mobilenet_v2").source("torch")
    assert "groups=conv_0_out_channels," in source and "_groups: int" not in source
    text = (
        "name: t\ninput: 3x8x8\ndefine: |\n"
        "  block dw(w, g) = conv(w, 1) bn relu conv(w, 3, groups=w) bn conv(w, 3, groups=g)\n"
        "stem: conv(8, 3) a=dw(8, 8) b=dw(16, 4) c=dw(16, 4)\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    cls = block_classes(arch.network, set())[id(ir.find(arch.network, "a"))]
    assert [v.name for v in cls.parameters] == ["in_channels", "w", "conv5_groups"]
    assert cls.bindings[("3", "groups")] == "w"
    assert cls.bindings[("5", "groups")] == "conv5_groups"
    same = archspec.loads(text.replace("b=dw(16, 4) c=dw(16, 4)", "b=dw(16, 8)"))
    literal = block_classes(same.network, set())[id(ir.find(same.network, "a"))]
    assert ("5", "groups") not in literal.bindings  # 8 in both: written as 8
    torch.manual_seed(0)
    emitted = emitted_model(arch, tmp_path)
    torch.manual_seed(0)
    assert_same_model(emitted, arch.to_torch(), (3, 8, 8))


def test_module_names_that_shadow_nn_module_are_refused() -> None:
    network = hand_cifar(1)
    first, *rest = network.members
    renamed = dataclasses.replace(network, flow=ir.Chain((ir.Member("forward", first.node), *rest)))
    with pytest.raises(archspec.SpecError) as caught:
        pytorch.build(renamed)
    assert caught.value.code == "E405"
    with pytest.raises(archspec.SpecError):
        pytorch.emit_source(renamed, count(renamed))


# ---- the build command


def run_build(*args: str):  # noqa: ANN201
    from typer.testing import CliRunner

    from archspec.cli.app import app

    return CliRunner().invoke(app, ["build", *args])


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_build_writes_the_default_path_from_the_spec_name(tmp_path: Path, monkeypatch) -> None:
    spec = str(Path("specs/cifar/resnet20.yaml").resolve())
    monkeypatch.chdir(tmp_path)
    result = run_build(spec, "--backend", "torch")
    assert result.exit_code == 0, result.output
    assert files_in(tmp_path) == ["resnet20_torch.py"]  # no temporary file left beside it
    assert "resnet20_torch.py" in result.output and "269,722" in result.output
    text = (tmp_path / "resnet20_torch.py").read_text()
    assert text == archspec.load(spec).source("torch")
    assert (tmp_path / "resnet20_torch.py").stat().st_mode & 0o044  # readable by others


def test_build_takes_an_output_path_overrides_and_an_input(tmp_path: Path) -> None:
    target = tmp_path / "net.py"
    result = run_build(
        "specs/cifar/resnet20.yaml", "-o", str(target), "-D", "n=5", "--input", "3x40x40"
    )
    assert result.exit_code == 0, result.output
    module = import_file(target)
    model = getattr(module, module.__all__[0])()
    assert parameter_count(model) == 464_154  # ResNet-32 (n = 5): the paper's table
    assert "-D n=5" in target.read_text() and "3x40x40" in target.read_text()


def test_build_writes_to_stdout_with_a_dash() -> None:
    result = run_build("specs/cifar/resnet20.yaml", "-o", "-")
    assert result.exit_code == 0
    assert result.output == archspec.load("specs/cifar/resnet20.yaml").source("torch")


def test_build_refuses_an_unknown_backend_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.py"
    result = run_build("specs/cifar/resnet20.yaml", "--backend", "tourch", "-o", str(target))
    assert result.exit_code == 2
    assert "'tourch' is not one of" in result.output and "'torch', 'flax'" in result.output
    assert files_in(tmp_path) == []


def test_build_refuses_an_unwritable_output_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_build("specs/cifar/resnet20.yaml", "-o", str(blocker / "net.py"))
    assert result.exit_code == 1
    assert "cannot write" in result.output
    result = run_build("specs/cifar/resnet20.yaml", "-o", str(tmp_path))  # a directory
    assert result.exit_code == 1 and "is a directory" in result.output
    assert files_in(tmp_path) == ["file"]


def test_build_reports_spec_errors_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ninput: 3x32x32\nstem: conv1=conv(16, 3) bn1=bn\n"
        "stages:\n  layer1: basic(16) x 2 /2 shortcut=nonesuch\n"
        "head: avgpool=global_avgpool flatten fc=fc(10)\n"
    )
    result = run_build(str(bad), "-o", str(tmp_path / "bad_torch.py"))
    assert result.exit_code == 1
    assert "error[" in result.output
    assert files_in(tmp_path) == ["bad.yaml"]
