"""Branches that add, concatenate, multiply and split: lowered, counted, and the same
network in the emitted files and in memory, in PyTorch and in Flax."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec import ir

HEAD = "head: pool=global_avgpool flatten=flatten fc=fc(3)\n"

SPECS = {
    # a sum of a body and the identity, with no block around it; and a named one
    "add": "stem: conv(8, 3) add(identity, conv(8, 3) bn) relu res=add(identity, conv(8, 1))\n",
    # the paper's shortcut as a branch, leaving after the first BN-ReLU (pre-activation)
    "shortcut": (
        "shortcut: B\n"
        "define: |\n"
        "  block pre(width, stride=1) =\n"
        "      bn1=bn relu1=relu\n"
        "      add(conv1=conv(width, 3, stride=stride) bn2=bn relu2=relu conv2=conv(width, 3),\n"
        "          shortcut)\n"
        "stem: conv1=conv(8, 3)\n"
        "stages:\n  layer1: pre(8) x 2\n  layer2: pre(16) x 2 /2\n"
    ),
    # Inception: four branches concatenated, inside a block of its own
    "concat": (
        "define: |\n"
        "  block inception(a, b, c) =\n"
        "      concat(branch1=conv(a, 1),\n"
        "             branch2=(conv(b, 1) conv(b, 3)),\n"
        "             branch3=(conv(c, 1) conv(c, 5)),\n"
        "             branch4=(maxpool(3, stride=1, padding=1, ceil=true) conv(c, 1)))\n"
        "stem: conv(8, 3)\n"
        "stages:\n  mixed: inception(4, 6, 2) x 2\n"
    ),
    # DenseNet: each layer appends its features to its input
    "dense": (
        "define: |\n"
        "  block dense(k) = concat(identity, norm1=bn relu1=relu conv1=conv(4 * k, 1)\n"
        "                                     norm2=bn relu2=relu conv2=conv(k, 3))\n"
        "stem: conv0=conv(8, 3)\n"
        "stages:\n  denseblock1: dense(4) x 3\n"
    ),
    # squeeze-and-excitation: a gate multiplied in, in a named submodule of the block
    "mul": (
        "define: |\n"
        "  block se_basic(width, stride=1) =\n"
        "      conv1=conv(width, 3, stride=stride) bn1=bn relu1=relu\n"
        "      se=mul(identity, global_avgpool fc1=conv(4, 1, bias=true) relu\n"
        "                       fc2=conv(width, 1, bias=true) gate=sigmoid)\n"
        "      + shortcut -> relu=relu\n"
        "stem: conv(8, 3)\n"
        "stages:\n  layer1: se_basic(8) x 2\n  layer2: se_basic(16) x 1 /2\n"
    ),
    # shortcut modules named as timm and torchvision's RegNet name them
    "named_shortcut": (
        "shortcut: B\n"
        "define: |\n"
        "  block proj_basic(width, stride=1) =\n"
        "      conv1=conv(width, 3, stride=stride) bn1=bn + proj=shortcut -> relu\n"
        "  block pre(width, stride=1) =\n"
        '      bn1=bn relu add(conv1=conv(width, 3, stride=stride), "shortcut"=shortcut)\n'
        "stem: conv(8, 3)\n"
        "stages:\n  layer1: proj_basic(16) x 2 /2\n  layer2: pre(32) x 1 /2\n"
    ),
    # ShuffleNetV2's split: half the channels pass, half are transformed
    "split": (
        "stem: conv(8, 3)\n"
        "stages:\n  unit: shuffle(8) x 2\n"
        "define: |\n"
        "  block shuffle(c) =\n"
        "      concat(chunk(2, 0), (chunk(2, 1) branch2=(conv(c // 2, 1) bn relu)))\n"
    ),
}


def load(kind: str) -> archspec.Architecture:
    return archspec.load(f"name: {kind}_net\ninput: 3x12x12\n{SPECS[kind]}{HEAD}")


def parallels(network: ir.Network) -> list[ir.Parallel]:
    found = [s for s in network.flow.steps if isinstance(s, ir.Parallel)]
    for place in ir.walk(network):
        if isinstance(place.node, ir.Group):
            found += [s for s in place.node.flow.steps if isinstance(s, ir.Parallel)]
    return found


@pytest.mark.parametrize(
    ("kind", "combines"),
    [
        ("add", {"add"}),
        ("shortcut", {"add"}),
        ("concat", {"concat"}),
        ("dense", {"concat"}),
        ("mul", {"mul", "add"}),
        ("split", {"concat"}),
        ("named_shortcut", {"add"}),
    ],
)
def test_branches_lower_to_parallel_steps(kind: str, combines: set[str]) -> None:
    arch = load(kind)
    assert {p.combine for p in parallels(arch.network)} == combines
    assert arch.network.output == (3,)


def test_concat_sums_channels_and_mul_broadcasts_a_gate() -> None:
    inception = ir.find(load("concat").network, "mixed.0")
    assert inception.output == (4 + 6 + 2 + 2, 12, 12)
    dense = load("dense").network
    assert ir.find(dense, "denseblock1").output == (8 + 3 * 4, 12, 12)  # 8 in, 3 layers of k=4
    se = ir.find(load("mul").network, "layer1.0.se")
    assert isinstance(se, ir.Group) and se.output == (8, 12, 12) and not se.is_chain
    split = ir.find(load("split").network, "unit.0")
    assert split.output == (4 + 4, 12, 12)


def test_shortcut_branch_follows_the_option() -> None:
    network = load("shortcut").network
    paths = [p.path for p in ir.walk(network)]
    assert "layer2.0.downsample.0" in paths and "layer1.0.downsample" not in paths
    first = ir.find(network, "layer2.0")
    assert isinstance(first, ir.Group) and ir.shortcut_kind(first) == "projection"
    # the shortcut leaves after bn1/relu1: its projection sees 8 channels at 12x12
    projection = ir.find(network, "layer2.0.downsample.0")
    assert isinstance(projection, ir.Layer) and projection.input == (8, 12, 12)


def test_a_comment_may_stand_between_the_plus_and_a_named_shortcut() -> None:
    spec = SPECS["named_shortcut"].replace(
        "+ proj=shortcut", "+  # timm's name\n      proj=shortcut"
    )
    paths = {
        p.path for p in ir.walk(archspec.load(f"name: c\ninput: 3x12x12\n{spec}{HEAD}").network)
    }
    assert "layer1.0.proj.0" in paths


def test_a_shortcut_module_is_named_as_written() -> None:
    paths = {p.path for p in ir.walk(load("named_shortcut").network)}
    assert {"layer1.0.proj.0", "layer1.0.proj.1", "layer2.0.shortcut.0"} <= paths
    assert not any("downsample" in path for path in paths)
    assert "layer1.1.proj" not in paths  # the identity has no module to name


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_torch_emitted_and_built_agree_and_counts_equal_fvcore(kind: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_helpers import conv_linear_macs, emitted_model, fvcore_by_operator

    arch = load(kind)
    torch.manual_seed(0)
    emitted = emitted_model(arch, tmp_path).eval()
    torch.manual_seed(0)
    built = arch.to_torch().eval()
    assert list(emitted.state_dict()) == list(built.state_dict())
    for name, tensor in built.state_dict().items():
        assert torch.equal(tensor, emitted.state_dict()[name]), name
    x = torch.randn(2, 3, 12, 12)
    assert torch.equal(emitted(x), built(x))
    assert sum(p.numel() for p in built.parameters()) == arch.counts.params
    measured = fvcore_by_operator(built, (3, 12, 12))
    conv, linear = conv_linear_macs(arch.network)
    assert measured.get("conv", 0) == conv and measured.get("linear", 0) == linear


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_flax_equals_torch(kind: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("flax")
    import numpy as np
    from flax import nnx
    from torch_helpers import import_file

    from archspec.backends.nnx import builder

    arch = load(kind)
    torch.manual_seed(0)
    reference = arch.to_torch()
    with torch.no_grad():  # statistics away from 0 and 1, as after training
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    reference.eval()
    state = reference.state_dict()
    x = torch.randn(2, 3, 12, 12)
    expected = reference(x).detach().numpy()
    nhwc = x.permute(0, 2, 3, 1).numpy()
    model = arch.to_flax(weights=state)
    model.eval()
    assert np.abs(np.asarray(model(nhwc)) - expected).max() < 1e-4
    path = tmp_path / f"{kind}_flax.py"
    path.write_text(arch.source("flax"))
    module = import_file(path)
    cls = getattr(module, module.__all__[0])
    emitted = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0)))
    builder.load_weights(emitted, arch.network, state, construct=lambda: cls(rngs=nnx.Rngs(0)))
    emitted.eval()
    assert np.abs(np.asarray(emitted(nhwc)) - expected).max() < 1e-4
