"""The zoo after ResNet, part C: timm's ResNet family (ResNet-D, SE-ResNet), the
pre-activation ResNets of He et al. 2016 and ConvNeXt, each exact to its reference.

Each spec is checked against its reference at a small input (the weights do not depend
on the input size): the emitted module and ``to_torch()`` load the reference's state_dict
strictly and give its eval outputs with randomised batch-norm statistics; parameters and
fvcore's conv and linear mult-adds equal archspec's; Flax gives torch's outputs after
weight conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from torch_helpers import (  # noqa: E402
    conv_linear_macs,
    emitted_model,
    fvcore_by_operator,
    parameter_count,
    spec_id,
)

import archspec  # noqa: E402


def timm_model(name: str) -> Callable[[], Any]:
    def make() -> Any:
        timm = pytest.importorskip("timm")
        return timm.create_model(name, pretrained=False)

    return make


def torchvision_model(name: str) -> Callable[[], Any]:
    def make() -> Any:
        torchvision = pytest.importorskip("torchvision")
        return getattr(torchvision.models, name)(weights=None)

    return make


def preact_cifar(n: int, bottleneck: bool) -> Callable[[], Any]:
    """The paper's CIFAR-10 pre-activation ResNet, written here from its definition."""
    return lambda: PreActCifar(n, bottleneck)


class PreActUnit(torch.nn.Module):
    """BN-ReLU-conv two (basic) or three (bottleneck) times; the sum with an identity
    shortcut, or where the shape changes with a 1x1 projection of the pre-activated
    input (the paper's appendix: "these projection shortcuts are also with
    pre-activation"). Nothing after the sum."""

    def __init__(self, cin: int, width: int, stride: int, bottleneck: bool) -> None:
        super().__init__()
        cout = width * 4 if bottleneck else width
        convs = (
            [(cin, width, 1, 1), (width, width, 3, stride), (width, cout, 1, 1)]
            if bottleneck
            else [(cin, width, 3, stride), (width, width, 3, 1)]
        )
        self.depth = len(convs)
        for i, (a, b, kernel, s) in enumerate(convs, 1):
            self.add_module(f"norm{i}", torch.nn.BatchNorm2d(a))
            self.add_module(f"conv{i}", torch.nn.Conv2d(a, b, kernel, s, kernel // 2, bias=False))
        self.downsample: torch.nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = torch.nn.Module()
            self.downsample.conv = torch.nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: Any) -> Any:
        pre = torch.relu(self.norm1(x))
        shortcut = x if self.downsample is None else self.downsample.conv(pre)
        out = self.conv1(pre)
        for i in range(2, self.depth + 1):
            out = getattr(self, f"conv{i}")(torch.relu(getattr(self, f"norm{i}")(out)))
        return out + shortcut


class PreActCifar(torch.nn.Module):
    """A 3x3 stem of 16 filters, three stages of n units (base widths 16, 32, 64, the
    2nd and 3rd opening with stride 2), a final BN-ReLU, global pooling, a 10-way fc."""

    def __init__(self, n: int, bottleneck: bool) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        cin = 16
        for index, width in enumerate((16, 32, 64), 1):
            units = []
            for position in range(n):
                stride = 2 if position == 0 and index > 1 else 1
                units.append(PreActUnit(cin, width, stride, bottleneck))
                cin = width * 4 if bottleneck else width
            self.add_module(f"layer{index}", torch.nn.Sequential(*units))
        self.norm = torch.nn.BatchNorm2d(cin)
        self.fc = torch.nn.Linear(cin, 10)

    def forward(self, x: Any) -> Any:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.fc(torch.relu(self.norm(x)).mean((2, 3)))


REFERENCES: dict[str, tuple[Callable[[], Any], int]] = {
    "specs/timm/resnet50.yaml": (timm_model("resnet50"), 64),
    # ResNet-D at 72x72: 9x9 maps into layer3, so the ceil-mode pools see partial windows
    "specs/timm/resnet50d.yaml": (timm_model("resnet50d"), 72),
    "specs/timm/resnet26d.yaml": (timm_model("resnet26d"), 72),
    "specs/timm/seresnet50.yaml": (timm_model("seresnet50"), 64),
    "specs/preact/preact_resnet110.yaml": (preact_cifar(18, bottleneck=False), 32),
    "specs/preact/preact_resnet164.yaml": (preact_cifar(18, bottleneck=True), 32),
    "specs/timm/resnetv2_50.yaml": (timm_model("resnetv2_50"), 64),
    "specs/timm/resnetv2_18.yaml": (timm_model("resnetv2_18"), 64),
    "specs/torchvision/convnext_tiny.yaml": (torchvision_model("convnext_tiny"), 64),
    "specs/torchvision/convnext_small.yaml": (torchvision_model("convnext_small"), 64),
}
"""spec -> (its reference model, the input side it is checked at)."""

SHALLOW = {"depth1": 2, "depth2": 1, "depth3": 1, "depth4": 1}
FLAX: dict[str, dict[str, Any]] = {
    "specs/timm/resnet50d.yaml": {**SHALLOW, "se": True},  # deep stem, avg-down, SE gate
    "specs/timm/resnetv2_18.yaml": SHALLOW,
    "specs/preact/preact_resnet164.yaml": {"n": 2},
    "specs/torchvision/convnext_tiny.yaml": {"d1": 1, "d2": 1, "d3": 1, "d4": 1},
}
"""Compared in Flax at a shallower depth (spec parameters; one more turns on the SE gate
of timm's family): every block class of each family, with and without its projection,
at a fraction of the compile time; depth only repeats them. The emitted Flax module of
every spec at its own depth is checked against the in-memory build in test_backend_flax."""


def randomise_statistics(model: Any) -> Any:
    """Batch-norm statistics, affine terms and layer scales away from their initial
    values, as after training, so that a misplaced norm or scale cannot hide."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("layer_scale"):  # 1e-6 at first: blocks near the identity
                parameter.copy_(torch.rand(parameter.shape, generator=generator) * 0.4 + 0.1)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                channels = module.num_features
                module.running_mean.copy_(torch.rand(channels, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(channels, generator=generator) * 0.5 + 0.25)
                module.bias.copy_(torch.rand(channels, generator=generator) * 0.4 - 0.2)
    return model.eval()


def relative_difference(got: Any, expected: Any) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize("spec", sorted(REFERENCES), ids=spec_id)
def test_loads_the_reference_and_gives_its_outputs(spec: str, tmp_path: Path) -> None:
    """The emitted module and to_torch() load the reference's state_dict strictly and
    give its outputs; params and fvcore's conv and linear mult-adds equal."""
    make, side = REFERENCES[spec]
    arch = archspec.load(spec, input=f"3x{side}x{side}")
    torch.manual_seed(0)
    reference = randomise_statistics(make())
    weights = reference.state_dict()
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        expected = reference(x)
        for model in (emitted_model(arch, tmp_path), arch.to_torch()):
            model.load_state_dict(weights, strict=True)
            assert relative_difference(model.eval()(x), expected) <= 1e-5
    assert parameter_count(reference) == arch.counts.params
    measured = fvcore_by_operator(reference, (3, side, side))
    conv, linear = conv_linear_macs(arch.network)
    assert (measured.get("conv", 0), measured.get("linear", 0)) == (conv, linear)


@pytest.mark.parametrize("spec", sorted(FLAX), ids=spec_id)
def test_flax_gives_the_torch_outputs(spec: str) -> None:
    pytest.importorskip("flax")
    from flax_helpers import forward, nhwc

    side = REFERENCES[spec][1]
    arch = archspec.load(spec, input=f"3x{side}x{side}", **FLAX[spec])
    torch.manual_seed(0)
    model = randomise_statistics(arch.to_torch())
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        expected = model(x).numpy()
    flax_model = arch.to_flax(weights=model.state_dict())
    flax_model.eval()
    assert abs(forward(flax_model, nhwc(x.numpy())) - expected).max() < 1e-4
    assert 0.01 < abs(expected).max() < 100  # not vacuous, not blown up


def test_preact_cifar_parameters_are_the_papers() -> None:
    """1.7M for both ResNet-110 and ResNet-164 (He et al. 2016, Table 4), exactly the
    reference's count (checked above), within 2% of the paper's rounded figure."""
    for spec in ("specs/preact/preact_resnet110.yaml", "specs/preact/preact_resnet164.yaml"):
        assert abs(archspec.load(spec).counts.params / 1.7e6 - 1) < 0.02


# ---- ConvNeXt's constructs against torchvision's own modules


def test_the_constructs_are_torchvisions() -> None:
    """LayerNorm2d and stochastic depth as torchvision's own; channel_fc as nn.Linear
    between permutes to channels-last and back."""
    torchvision = pytest.importorskip("torchvision")
    from torchvision.models.convnext import LayerNorm2d as Reference

    from archspec.backends.pytorch import runtime

    x = torch.randn(4, 8, 5, 5)
    ours, theirs = runtime.LayerNorm2d(8, eps=1e-6), Reference(8, eps=1e-6)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert torch.equal(ours(x), theirs(x))
    linear = runtime.ChannelLinear(8, 3)
    expected = torch.nn.functional.linear(x.permute(0, 2, 3, 1), linear.weight, linear.bias)
    assert torch.equal(linear(x), expected.permute(0, 3, 1, 2))
    for mode in ("row", "batch"):
        depth = runtime.StochasticDepth(0.5, mode)
        reference = torchvision.ops.StochasticDepth(0.5, mode)
        torch.manual_seed(3)
        dropped = depth.train()(x)
        torch.manual_seed(3)
        assert torch.equal(dropped, reference.train()(x))
        assert torch.equal(depth.eval()(x), x)
    rows = runtime.StochasticDepth(0.5, "row").train()(torch.ones(64, 2, 1, 1))
    assert set(rows.flatten().tolist()) == {0.0, 2.0}  # whole samples, kept ones scaled


def test_stochastic_depth_mode_is_checked() -> None:
    spec = 'name: n\ninput: 3x8x8\nstem: conv(4, 3) stochastic_depth(0.1, mode="col")\n'
    with pytest.raises(archspec.SpecError, match='one of "row", "batch"'):
        archspec.load(spec)


def test_a_scale_is_a_bare_tensor_of_its_module(tmp_path: Path) -> None:
    """`scale` holds one tensor under the item's own key, at the top level and inside a
    plain named group (which becomes a class: no sequential container holds a tensor);
    the emitted module, to_torch() and Flax agree."""
    pytest.importorskip("flax")
    from flax_helpers import forward, nhwc

    arch = archspec.load(
        "name: scaled\ninput: 3x8x8\n"
        "stem: conv(4, 3) gamma=scale(0.5) features=(conv(4, 3) ls=scale(2.0) relu)\n"
        "head: global_avgpool flatten fc(2)\n"
    )
    emitted, built = emitted_model(arch, tmp_path), arch.to_torch()
    keys = list(built.state_dict())
    assert keys == list(emitted.state_dict())
    assert {"gamma", "features.ls"} <= set(keys)
    assert built.state_dict()["gamma"].shape == (4, 1, 1)
    assert torch.equal(emitted.state_dict()["features.ls"], torch.full((4, 1, 1), 2.0))
    assert parameter_count(built) == arch.counts.params
    with torch.no_grad():
        emitted.gamma.uniform_(0.5, 1.5)
    built.load_state_dict(emitted.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = emitted(x)
        assert torch.equal(built(x), expected)
        assert torch.equal(torch.jit.script(built)(x), expected)  # TorchScript too
    flax_model = arch.to_flax(weights=built.state_dict())
    assert abs(forward(flax_model, nhwc(x.numpy())) - expected.numpy()).max() < 1e-5
