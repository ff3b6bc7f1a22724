"""torchvision's mobile and design-space CNNs, each one spec, exact in both backends.

Every case is a spec (with its parameters) and the torchvision model it must be: the
emitted module and ``to_torch()`` load its state_dict strictly and give its eval outputs,
parameters and fvcore's conv + linear mult-adds equal archspec's; and Flax, with the
converted weights, gives the same outputs (for one named spec per family). Checked at
64x64: nothing here depends on the input size but the counts, which scale with it. Then
the constructs these specs brought: stochastic depth, a repeat's index ``i``, ``let``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

import archspec

torch = pytest.importorskip("torch")
from torch_helpers import eval_outputs, relative  # noqa: E402

models = pytest.importorskip("torchvision.models")

SIZE = 64
CASES = {
    "mobilenet_v2": ("specs/torchvision/mobilenet_v2.yaml", {}, "mobilenet_v2", {}),
    "mobilenet_v2_050": (
        "specs/torchvision/mobilenet_v2.yaml",
        {"width_mult": 0.5},
        "mobilenet_v2",
        {"width_mult": 0.5},
    ),
    **{
        name: (f"specs/torchvision/{name}.yaml", {}, name, {})
        for name in (
            "regnet_x_400mf",
            "regnet_x_800mf",
            "regnet_y_400mf",
            "regnet_y_800mf",
            "efficientnet_b0",
            "efficientnet_b1",
            "mobilenet_v3_large",
            "mobilenet_v3_small",
        )
    },
}
"""id -> (spec, its parameters, torchvision builder, the builder's arguments)."""


@functools.cache
def case(name: str) -> tuple[archspec.Architecture, Any, dict[str, Any], Any, Any]:
    """The spec at 64x64, the reference in eval mode with randomised batch-norm
    statistics, its state_dict, an input and the reference's output."""
    spec, parameters, builder, arguments = CASES[name]
    arch = archspec.load(spec, input=f"3x{SIZE}x{SIZE}", **parameters)
    torch.manual_seed(0)
    reference = getattr(models, builder)(**arguments)
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    x, expected = eval_outputs(reference, SIZE)
    return arch, reference, reference.state_dict(), x, expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_loads_the_reference_and_counts_equal_fvcore(name: str, tmp_path: Path) -> None:
    from torch_helpers import conv_linear_macs, emitted_model, fvcore_by_operator

    arch, reference, state, x, expected = case(name)
    for model in (emitted_model(arch, tmp_path), arch.to_torch()):
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            assert relative(model.eval()(x), expected) <= 1e-5
    assert sum(p.numel() for p in reference.parameters()) == arch.counts.params
    measured = fvcore_by_operator(reference, (3, SIZE, SIZE))
    conv, linear = conv_linear_macs(arch.network)
    assert (measured.get("conv", 0), measured.get("linear", 0)) == (conv, linear)
    assert conv + linear == arch.counts.macs


FLAX_OUTPUTS = (
    "mobilenet_v2",
    "regnet_y_400mf",
    "efficientnet_b0",
    "mobilenet_v3_small",
)
"""Building and compiling a network for Flax costs seconds: Flax is checked on one named
spec of each family (the other members build the same blocks with other numbers, which
torch checks; RegNetY's blocks are RegNetX's with SE)."""


@pytest.mark.parametrize("name", FLAX_OUTPUTS)
def test_flax_equals_the_reference(name: str) -> None:
    pytest.importorskip("flax")
    from flax import nnx
    from flax_helpers import forward, nhwc

    arch, _, state, x, expected = case(name)
    model = arch.to_flax(weights=state)
    model.eval()
    params = nnx.to_flat_state(nnx.state(model, nnx.Param))
    assert sum(v.get_value().size for _, v in params) == arch.counts.params
    assert abs(forward(model, nhwc(x.numpy())) - expected.numpy()).max() <= 1e-4


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b1"])
def test_stochastic_depth_rises_with_the_block_index_as_torchvision(name: str) -> None:
    arch, reference, *_ = case(name)
    model = arch.to_torch()
    ours = {n: m.p for n, m in model.named_modules() if type(m).__name__ == "StochasticDepth"}
    # one per residual block: all but the first of each of the 7 stages (16 or 23 blocks)
    assert len(ours) == {"efficientnet_b0": 16 - 7, "efficientnet_b1": 23 - 7}[name]
    assert ours == {n: reference.get_submodule(n).p for n in ours}


@pytest.mark.parametrize("batch", [False, True])
def test_stochastic_depth_drops_whole_samples_in_training_in_both_backends(batch: bool) -> None:
    pytest.importorskip("flax")
    import numpy as np
    from flax import nnx

    from archspec.backends.nnx.runtime import StochasticDepth as FlaxDepth
    from archspec.backends.pytorch.runtime import StochasticDepth as TorchDepth

    mode = "batch" if batch else "row"
    x = np.ones((64, 2, 2, 3), np.float32)
    torch_out = TorchDepth(0.5, mode).train()(torch.from_numpy(x)).numpy()
    flax_layer = FlaxDepth(0.5, mode, rngs=nnx.Rngs(0))
    flax_out = np.asarray(flax_layer(x))
    for out in (torch_out, flax_out):
        per_sample = out.reshape(64, -1)
        assert set(np.unique(per_sample)) <= {0.0, 2.0}  # dropped, or scaled by 1 / (1 - p)
        assert (per_sample == per_sample[:, :1]).all()  # a whole sample at once
        kept = len(set(per_sample[:, 0]))
        assert kept == 1 if batch else kept == 2  # the batch at once, or sample by sample
    flax_layer.deterministic = True  # what model.eval() sets
    assert (np.asarray(flax_layer(x)) == x).all()
    assert (TorchDepth(0.5, mode).eval()(torch.from_numpy(x)).numpy() == x).all()
    assert not np.asarray(FlaxDepth(1.0, mode, rngs=nnx.Rngs(0))(x)).any()


def test_a_repeat_gives_each_copy_its_index() -> None:
    arch = archspec.load(
        "name: t\ninput: 3x8x8\nparams: {k: 2}\n"
        "stem: conv(8 + i, 1) x 2 b=(conv(4 * (i + 1), 1) relu) x 2 n=conv(k + i, 1) x 2\n"
        "head: global_avgpool flatten fc(2)\n"
    )
    widths = {p: layer.output[0] for p, layer in archspec.ir.layers(arch.network)}
    assert [widths[p] for p in ("0", "1", "b.0.0", "b.1.0", "n.0", "n.1")] == [8, 9, 4, 8, 2, 3]
    shadowed = archspec.load("name: t\ninput: 3x8x8\nparams: {i: 5}\nstem: conv(i, 1) x 2\n")
    assert {layer.output[0] for _, layer in archspec.ir.layers(shadowed.network)} == {5}


# ---- computed names (`let`), which RegNet's stage depths need

LET_SPEC = (
    "name: computed\ninput: 3x16x16\nparams: {width: 8, mult: 1.5}\n"
    "let: {wide: 'make_divisible(width * mult, 8)', twice: wide * 2}\n"
    "stem: conv(wide, 3) conv(twice, 1)\nhead: global_avgpool flatten fc(2)\n"
)


def channels(arch: archspec.Architecture) -> list[int]:
    return [layer.output[0] for _, layer in archspec.ir.layers(arch.network)][:2]


def codes(text: str) -> list[str]:
    with pytest.raises(archspec.SpecError) as error:
        archspec.load(text)
    return [d.code for d in error.value.diagnostics]


def test_let_names_are_computed_in_order_from_the_parameters_as_set() -> None:
    assert channels(archspec.load(LET_SPEC)) == [16, 32]  # 12 -> 16 (multiple of 8)
    assert channels(archspec.load(LET_SPEC, width=32)) == [48, 96]
    assert dict(archspec.load(LET_SPEC).network.parameters) == {"width": 8, "mult": 1.5}
    arch = archspec.load(
        "network computed\ninput 3x16x16\nparam width = 8\nlet wide = width * 3\n"
        "stem conv(wide, 3) conv(wide, 1)\nhead global_avgpool flatten fc(2)\n"
    )
    assert channels(arch) == [24, 24]


def test_a_default_computed_from_a_parameter_sees_its_value_as_set() -> None:
    text = "network t\ninput 3x8x8\nparam a = 8, b = a * 2\nstem conv(a) conv(b)\n"
    assert channels(archspec.load(text)) == [8, 16]
    assert channels(archspec.load(text, a=16)) == [16, 32]  # was 16, 16: b from a's default
    assert set(codes(text.replace("a * 2", "zz * 2"))) == {"E304"}  # zz, then b


@pytest.mark.parametrize(
    ("let", "code"),
    [
        ("{width: 3}", "E203"),  # an expression is a string: numbers are parameters
        ("{width: '3'}", "E311"),  # already a parameter
        ("{for: '3'}", "E311"),  # a keyword
        ("{a: b, b: '3'}", "E304"),  # only names before it
        ("{a: '(3'}", "E100"),
    ],
)
def test_bad_let_names_and_values_are_located_errors(let: str, code: str) -> None:
    text = f"name: t\ninput: 3x8x8\nparams: {{width: 8}}\nlet: {let}\nstem: conv(8)\n"
    assert code in codes(text)


def test_blocks_see_only_their_arguments_not_let_names() -> None:
    text = "name: t\ninput: 3x8x8\nlet: {c: '8'}\ndefine: 'block b(x) = conv(c)'\nstem: b(1)\n"
    assert codes(text) == ["E304"]


def test_an_unused_block_may_take_and_call_layers_and_read_its_input_channels() -> None:
    text = (
        "name: t\ninput: 3x8x8\ndefine: |\n"
        "  block gated(gate=sigmoid) = mul(identity, global_avgpool conv(in_channels) gate)\n"
        "  block cba(c, act=relu) = conv(c) bn act\n"
        "stem: conv(8)\n"
    )
    assert archspec.load(text).network.output == (8, 8, 8)  # was E304 (relu) and E300 (gate)
    assert codes(text.replace("bn act", "bn act zap")) == ["E300"]


def test_convnext_stochastic_depth_rises_block_by_block_as_torchvision() -> None:
    arch = archspec.load("specs/torchvision/convnext_tiny.yaml")
    ours = {
        path: layer.op.p
        for path, layer in archspec.ir.layers(arch.network)
        if layer.op.NAME == "stochastic_depth"
    }
    torch.manual_seed(0)
    reference = models.convnext_tiny()
    assert len(ours) == 18 and ours == {path: reference.get_submodule(path).p for path in ours}
