"""Vision transformers: torchvision's ViT family and timm's ViT-S and DeiT-Ti, each one
spec, exact in both backends; the counting convention for attention; token shapes.

Every case is a spec (with its parameters) and the reference it must be, built with
random weights and then perturbed (torchvision starts its head at zero): the emitted
module and ``to_torch()`` load its state_dict strictly and give its eval outputs;
parameters are equal; archspec's multiply-adds equal ``FlopCounterMode``'s on the
reference, and its fvcore total fvcore's. Checked at 64x64 (16 patches and the class
token): nothing but the counts depends on the image size, and the counts at 224 are
checked against the references' figures without torch. ViT-B/16 and the timm members
run at full depth in torch; ViT-B/32 and ViT-L/16 at two layers (their widths and heads
as the member's), and every spec at two layers in Flax, as the same blocks repeated cost
seconds (a minute of XLA compiling, in Flax) and prove nothing more.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from torch_helpers import eval_outputs, relative

import archspec
from archspec import ir

SIZE = 64


def torchvision_vit(name: str, **arguments: Any) -> Callable[[], Any]:
    def make() -> Any:
        from torchvision.models import vision_transformer

        return getattr(vision_transformer, name)(image_size=SIZE, **arguments)

    return make


def timm_vit(name: str, **arguments: Any) -> Callable[[], Any]:
    def make() -> Any:
        timm = pytest.importorskip("timm")
        return timm.create_model(name, pretrained=False, img_size=SIZE, **arguments)

    return make


TWO_LAYERS = {"num_layers": 2}
CASES: dict[str, tuple[str, dict[str, Any], Callable[[], Any]]] = {
    "vit_b_16": ("specs/torchvision/vit_b_16.yaml", {}, torchvision_vit("vit_b_16")),
    "vit_b_16 (2 layers)": (
        "specs/torchvision/vit_b_16.yaml",
        TWO_LAYERS,
        torchvision_vit(
            "VisionTransformer",
            patch_size=16,
            num_layers=2,
            num_heads=12,
            hidden_dim=768,
            mlp_dim=3072,
        ),
    ),
    "vit_b_32": (
        "specs/torchvision/vit_b_32.yaml",
        TWO_LAYERS,
        torchvision_vit(
            "VisionTransformer",
            patch_size=32,
            num_layers=2,
            num_heads=12,
            hidden_dim=768,
            mlp_dim=3072,
        ),
    ),
    "vit_l_16": (
        "specs/torchvision/vit_l_16.yaml",
        TWO_LAYERS,
        torchvision_vit(
            "VisionTransformer",
            patch_size=16,
            num_layers=2,
            num_heads=16,
            hidden_dim=1024,
            mlp_dim=4096,
        ),
    ),
    "vit_small_patch16_224": (
        "specs/timm/vit_small_patch16_224.yaml",
        {},
        timm_vit("vit_small_patch16_224"),
    ),
    "deit_tiny_patch16_224": (
        "specs/timm/deit_tiny_patch16_224.yaml",
        {},
        timm_vit("deit_tiny_patch16_224"),
    ),
    "vit_small_patch16_224 (2 layers)": (
        "specs/timm/vit_small_patch16_224.yaml",
        {"depth": 2},
        timm_vit("vit_small_patch16_224", depth=2),
    ),
    "deit_tiny_patch16_224 (2 layers)": (
        "specs/timm/deit_tiny_patch16_224.yaml",
        {"depth": 2},
        timm_vit("deit_tiny_patch16_224", depth=2),
    ),
}
"""id -> (spec, its parameters, the reference at 64x64 with those parameters)."""

AT_224 = {
    "torchvision/vit_b_16": (86_567_656, 17_563_828_224),
    "torchvision/vit_b_32": (88_224_232, 4_409_186_304),
    "torchvision/vit_l_16": (304_326_632, 61_554_712_576),
    "timm/vit_small_patch16_224": (22_050_664, 4_598_882_304),
    "timm/deit_tiny_patch16_224": (5_717_416, 1_253_683_200),
}
"""The references' parameters and multiply-adds at 224x224, measured once (torchvision
0.29.1, timm 1.0.31) as ``reference_macs`` measures them: FlopCounterMode's flops / 2."""


@functools.cache
def case(name: str) -> tuple[archspec.Architecture, Any, dict[str, Any], Any, Any]:
    """The spec at 64x64, the reference with perturbed weights in eval mode, its
    state_dict, an input and the reference's output."""
    torch = pytest.importorskip("torch")
    spec, parameters, make = CASES[name]
    arch = archspec.load(spec, input=f"3x{SIZE}x{SIZE}", **parameters)
    torch.manual_seed(0)
    reference = make()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    x, expected = eval_outputs(reference, SIZE)
    return arch, reference, reference.state_dict(), x, expected


def reference_macs(model: Any, shape: tuple[int, ...]) -> int:
    """FlopCounterMode's flops / 2 on one sample. It counts attention only where it runs
    as matrix products: its math kernel (the CPU's fused kernel has no flop rule), and in
    training mode, where nn.MultiheadAttention leaves its fused fast path (dropout is 0
    in every case, so the outputs are eval's)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as mode:
        model(torch.zeros(1, *shape))
    model.eval()
    flops = mode.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_loads_the_reference_and_counts_equal_its(name: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_helpers import emitted_model, fvcore_by_operator, parameter_count

    arch, reference, state, x, expected = case(name)
    for model in (emitted_model(arch, tmp_path), arch.to_torch()):
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            assert relative(model.eval()(x), expected) <= 1e-5
    assert parameter_count(reference) == arch.counts.params
    shape = (3, SIZE, SIZE)
    assert reference_macs(reference, shape) == arch.counts.macs
    assert sum(fvcore_by_operator(reference, shape).values()) == arch.counts.fvcore


FLAX_OUTPUTS = (
    "vit_b_16 (2 layers)",
    "vit_b_32",
    "vit_l_16",
    "vit_small_patch16_224 (2 layers)",
    "deit_tiny_patch16_224 (2 layers)",
)
"""Every spec at two layers (ViT-B/16's twelve compile for 20 s, the timm members' for
50 s each; the torch test runs them all at full depth)."""


@pytest.mark.parametrize("name", FLAX_OUTPUTS)
def test_flax_equals_the_reference(name: str, tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from flax import nnx
    from flax_helpers import emitted_with_weights, forward, nhwc

    arch, _, state, x, expected = case(name)
    built = arch.to_flax(weights=state)
    emitted = emitted_with_weights(arch, tmp_path, state)
    for model in (built, emitted):
        model.eval()
        params = nnx.to_flat_state(nnx.state(model, nnx.Param))
        assert sum(v.get_value().size for _, v in params) == arch.counts.params
        assert abs(forward(model, nhwc(x.numpy()), quick=True) - expected.numpy()).max() <= 1e-4


@pytest.mark.parametrize("spec", sorted(AT_224))
def test_counts_at_224_equal_the_references(spec: str) -> None:
    """The convention: multiply-adds of every convolution and linear layer, plus QK^T and
    attention x V (L^2 D each) per block; ViT-B/16 comes to 17.6 G, as the papers say."""
    arch = archspec.load(spec)
    assert (arch.counts.params, arch.counts.macs) == AT_224[spec]
    if spec == "torchvision/vit_b_16":
        assert round(arch.counts.macs / 1e9, 1) == 17.6


def test_attention_counts_its_projections_products_and_maps() -> None:
    arch = archspec.load("torchvision/vit_b_16")
    layers = dict(ir.layers(arch.network))
    attention = layers["encoder.layers.encoder_layer_0.self_attention"]
    counts = attention.op.cost(attention.input, attention.output)
    length, features, heads = 197, 768, 12
    assert attention.input == (length, features)
    assert counts.macs == 4 * length * features**2 + 2 * length**2 * features
    assert counts.attention == 2 * length**2 * features  # what fvcore leaves out
    assert counts.params == 4 * features**2 + 4 * features
    assert counts.activations == length * features + heads * length**2  # output and maps


def test_a_tiny_vit_trains_the_same_emitted_and_in_memory(tmp_path: Path) -> None:
    """Dropout everywhere (attention weights, projections, MLP): the emitted module and
    the in-memory model draw the same masks and give the same gradients; TorchScript
    compiles the in-memory model, as every other."""
    torch = pytest.importorskip("torch")
    from torch_helpers import assert_same_model, emitted_model

    for spec in ("timm/vit_small_patch16_224", "torchvision/vit_b_16"):
        width = {"embed_dim": 32, "depth": 2} if "timm" in spec else {"hidden_dim": 32}
        heads = {"num_heads": 4}
        mlp = {} if "timm" in spec else {"mlp_dim": 64, "num_layers": 2}
        drops = {"drop": 0.1, "attention_drop": 0.1}
        arch = archspec.load(spec, input="3x32x32", **width, **heads, **mlp, **drops)
        torch.manual_seed(0)
        emitted = emitted_model(arch, tmp_path)
        torch.manual_seed(0)
        built = arch.to_torch()
        assert_same_model(emitted, built, arch.network.input)
        x = torch.randn(2, *arch.network.input)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.script is deprecated
            assert torch.equal(torch.jit.script(built)(x), built(x))


def test_summary_and_graph_show_token_shapes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from archspec.cli.app import app

    arch = archspec.load("torchvision/vit_b_16")
    text = arch.summary()
    assert "196x768 tokens" in text and "197x768 tokens" in text
    dot = tmp_path / "vit.dot"
    result = CliRunner().invoke(app, ["graph", "torchvision/vit_b_16", "--dot", "-o", str(dot)])
    assert result.exit_code == 0, result.output
    assert "197x768 tokens" in dot.read_text()


def test_the_emitted_attention_reads_as_the_references_write_it() -> None:
    timm_source = archspec.load("timm/deit_tiny_patch16_224").source("torch")
    assert "F.scaled_dot_product_attention(q, k, v" in timm_source
    assert "self.qkv = nn.Linear(features, 3 * features" in timm_source
    torchvision_source = archspec.load("torchvision/vit_b_16").source("torch")
    assert "class SelfAttention(nn.MultiheadAttention)" in torchvision_source
    assert "x = prepend_token(self.class_token, x)" in torchvision_source
    assert "torch.cat([token.expand(x.shape[0], -1, -1), x], dim=1)" in torchvision_source


@pytest.mark.parametrize(
    ("stem", "code", "fragment"),
    [
        ("conv(32, 16, stride=16) tokens fc(8) flatten", "", ""),  # fc per token, then flat
        ("conv(32, 16, stride=16) fc(8)", "E317", "fc needs flat features or tokens"),
        ("conv(32, 16, stride=16) tokens tokens", "E317", "tokens needs a CxHxW feature map"),
        ("conv(32, 16, stride=16) tokens maxpool(2)", "E317", "found 16x32 tokens"),
        ("conv(32, 16, stride=16) token_pool", "E317", "token_pool needs tokens"),
        ('conv(32, 16, stride=16) tokens token_pool("mean", skip=16)', "E312", "leaving none"),
        ("conv(32, 16, stride=16) tokens class_token position_embedding(17)", "", ""),
        ("conv(32, 16, stride=16) tokens multihead_attention(3)", "E310", "3 heads"),
        ("conv(32, 16, stride=16) flatten layernorm attention(2)", "E317", "found flat"),
    ],
)
def test_token_shapes_are_checked_where_written(stem: str, code: str, fragment: str) -> None:
    text = f"name: t\ninput: 3x64x64\nstem: {stem}\n"
    if not code:
        archspec.load(text)
        return
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(text)
    first = caught.value.diagnostics[0]
    assert first.code == code and fragment in first.message, caught.value.render()
    assert first.span is not None and first.span.line == 3


def test_mean_pooling_skips_the_class_token_in_both_backends() -> None:
    """timm's average pool: the mean of the tokens after the class token, written out
    here with torch's functions; Flax gives the same from the converted weights."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("flax")
    import torch.nn.functional as F
    from flax_helpers import forward, nhwc

    arch = archspec.load(
        "name: t\ninput: 3x32x32\nstem: conv(8, 8, stride=8, padding=0, bias=true) tokens "
        'class_token position_embedding token_pool("mean", skip=1) fc(4)\n'
    )
    torch.manual_seed(0)
    model = arch.to_torch().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))  # the class token too
        state = model.state_dict()
        x = torch.randn(2, 3, 32, 32)
        tokens = F.conv2d(x, state["0.weight"], state["0.bias"], stride=8).flatten(2)
        tokens = tokens.transpose(1, 2) + state["3"][:, 1:]  # the class token's is left out
        expected = F.linear(tokens.mean(dim=1), state["5.weight"], state["5.bias"])
        torch.testing.assert_close(model(x), expected)
    flax_model = arch.to_flax(weights=state)
    flax_model.eval()
    assert abs(forward(flax_model, nhwc(x.numpy())) - expected.numpy()).max() <= 1e-5
