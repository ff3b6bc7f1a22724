"""torchvision's CNNs after ResNet, each a short spec: exact in PyTorch and Flax.

For each spec, torchvision's model (random weights, batch-norm statistics randomised)
is the reference: the emitted module and ``to_torch()`` load its state_dict strictly and
give its eval outputs; parameters and fvcore's conv + linear mult-adds equal archspec's;
and the Flax model, given the same weights, gives the same outputs. A small input keeps
this fast: none of these networks' exactness depends on the input size.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch_helpers import (  # noqa: E402
    calibrate_batch_norms,
    conv_linear_macs,
    emitted_model,
    fvcore_by_operator,
    parameter_count,
    spec_id,
)

import archspec  # noqa: E402


class Case(NamedTuple):
    """A spec's reference: torchvision's constructor and its arguments, the input's side,
    and whether Flax is checked too (for the spec the zoo names; other members of its
    family share its block classes, and Flax's compile dominates the cost)."""

    constructor: str
    side: int
    flax: bool = True
    arguments: tuple[tuple[str, Any], ...] = ()


CASES = {
    "specs/torchvision/resnext50_32x4d.yaml": Case("resnext50_32x4d", 64),
    # resnext50_32x4d's block classes, with groups=1: its Flax check covers them
    "specs/torchvision/wide_resnet50_2.yaml": Case("wide_resnet50_2", 64, flax=False),
    "specs/torchvision/vgg11_bn.yaml": Case("vgg11_bn", 32),
    "specs/torchvision/densenet121.yaml": Case("densenet121", 64),
    "specs/torchvision/densenet169.yaml": Case("densenet169", 64, flax=False),
    # 64x64: each ceil_mode pool but the last then ends in a partial window
    "specs/torchvision/googlenet.yaml": Case(
        "googlenet", 64, arguments=(("aux_logits", False), ("init_weights", False))
    ),
    # 66 and 69: the stems leave sizes whose ceil_mode pools end in partial windows
    "specs/torchvision/squeezenet1_1.yaml": Case("squeezenet1_1", 66),
    "specs/torchvision/squeezenet1_0.yaml": Case("squeezenet1_0", 69, flax=False),
    "specs/torchvision/shufflenet_v2_x1_0.yaml": Case("shufflenet_v2_x1_0", 64),
    "specs/torchvision/shufflenet_v2_x0_5.yaml": Case("shufflenet_v2_x0_5", 64, flax=False),
}
FLAX_CASES = sorted(spec for spec, case in CASES.items() if case.flax)


@functools.cache
def reference(spec: str) -> tuple[Any, Any]:
    """torchvision's model in eval mode with batch norms as after training (so that
    logits are of order 1), and the spec compiled at the same (small) input."""
    case = CASES[spec]
    torch.manual_seed(0)
    model = getattr(torchvision.models, case.constructor)(weights=None, **dict(case.arguments))
    arch = archspec.load(spec, input=f"3x{case.side}x{case.side}")
    return calibrate_batch_norms(model, arch.network.input), arch


def relative_difference(got: Any, expected: Any) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


def inputs(arch: Any) -> Any:
    return torch.from_numpy(
        np.random.default_rng(0).standard_normal((2, *arch.network.input), dtype=np.float32)
    )


@pytest.mark.parametrize("spec", sorted(CASES), ids=spec_id)
def test_torch_loads_the_reference_and_gives_its_outputs(spec: str, tmp_path: Path) -> None:
    model, arch = reference(spec)
    weights = model.state_dict()
    x = inputs(arch)
    with torch.device("meta"):  # built without initialising: the weights come next
        models = (emitted_model(arch, tmp_path), arch.to_torch())
    with torch.no_grad():
        expected = model(x)
        for ours in models:
            ours.load_state_dict(weights, strict=True, assign=True)
            assert relative_difference(ours.eval()(x), expected) <= 1e-5
    assert parameter_count(model) == arch.counts.params
    measured = fvcore_by_operator(model, arch.network.input)
    conv, linear = conv_linear_macs(arch.network)
    assert (measured.get("conv", 0), measured.get("linear", 0)) == (conv, linear)


@pytest.mark.parametrize("spec", FLAX_CASES, ids=spec_id)
def test_flax_gives_the_torch_outputs(spec: str) -> None:
    jax = pytest.importorskip("jax")
    from flax import nnx
    from flax_helpers import forward, nhwc

    model, arch = reference(spec)
    x = inputs(arch)
    with torch.no_grad():
        expected = model(x).numpy()
    ours = arch.to_flax(weights=model.state_dict())
    ours.eval()
    got = forward(ours, nhwc(x.numpy()), quick=True)
    assert np.abs(got - expected).max() <= 1e-4
    assert sum(p.size for p in jax.tree.leaves(nnx.state(ours, nnx.Param))) == arch.counts.params


# ---- channel_shuffle, the op ShuffleNet added


def test_channel_shuffle_interleaves_the_groups_in_both_backends() -> None:
    """Channel i of group g moves to i * groups + g, as torchvision's view-transpose-view;
    the shape is unchanged and channels that do not split into the groups are E310."""
    jax = pytest.importorskip("jax")
    from archspec.backends.nnx import runtime

    arch = archspec.load("name: t\ninput: 3x4x4\nstem: conv(6, 1) channel_shuffle(3)\n")
    assert arch.network.output == (6, 4, 4) and arch.counts.params == 3 * 6
    shuffle = arch.to_torch().eval()[1]
    x = torch.randn(2, 6, 4, 4)
    order = [0, 2, 4, 1, 3, 5]  # groups (0 1) (2 3) (4 5): first of each, then second
    assert torch.equal(shuffle(x), x[:, order])
    nhwc = jax.numpy.asarray(x.permute(0, 2, 3, 1).numpy())
    assert np.array_equal(runtime.channel_shuffle(nhwc, 3), x[:, order].permute(0, 2, 3, 1))
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load("name: t\ninput: 3x4x4\nstem: conv(8, 1) channel_shuffle(3)\n")
    assert [d.code for d in caught.value.diagnostics] == ["E310"]
