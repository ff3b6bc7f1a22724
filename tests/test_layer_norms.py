"""`layernorm` is written as the framework's own layer norm, except on a feature map in
PyTorch: ``nn.LayerNorm(768, eps=1e-06)`` on ViT's tokens, as torchvision writes it, and
the ``LayerNorm2d`` helper (torchvision's ConvNeXt) only on NCHW maps; Flax's is always
``nnx.LayerNorm`` (channels are the last axis in NHWC), with torch's variance. The choice
is the lowering's, by the input's rank: emitted files and in-memory models agree, and a
block used on a map and on tokens becomes two classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch_helpers import emitted_model, eval_outputs, relative

import archspec

TINY_VIT = {"hidden_dim": 32, "num_heads": 4, "mlp_dim": 64, "num_layers": 2}

NORMS = """\
name: norms
input: 3x16x16
define: |
  block norm_act() = layernorm(eps=1e-6) gelu
stem: conv(8, 4, stride=4, padding=0, bias=true) norm_act tokens norm_act
head: token_pool("mean") layernorm fc(4)
"""
"""A layer norm on a map, on tokens (each in the same block) and on flat features."""


def test_vit_writes_the_frameworks_layer_norm_and_convnext_the_helper() -> None:
    vit = archspec.load("torchvision/vit_b_16")
    torch_source, flax_source = vit.source("torch"), vit.source("flax")
    assert "self.ln_1 = nn.LayerNorm(in_channels, eps=1e-06)" in torch_source
    assert "LayerNorm2d" not in torch_source
    # flax's default epsilon is ViT's 1e-6
    assert "self.ln = nnx.LayerNorm(out_channels, use_fast_variance=False, rngs=rngs)" in (
        flax_source
    )
    assert "class LayerNorm" not in flax_source
    convnext = archspec.load("torchvision/convnext_tiny")
    torch_source, flax_source = convnext.source("torch"), convnext.source("flax")
    assert "class LayerNorm2d(nn.LayerNorm):" in torch_source
    assert '("2", LayerNorm2d(dim, eps=1e-06))' in torch_source
    assert "nn.LayerNorm(" not in torch_source
    assert '"2": nnx.LayerNorm(dim, use_fast_variance=False, rngs=rngs)' in flax_source


def test_a_tiny_emitted_vit_gives_torchvisions_outputs(tmp_path: Path) -> None:
    """Both emitted files load a torchvision ViT's perturbed weights (torch strictly)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import emitted_with_weights, forward, nhwc
    from torchvision.models.vision_transformer import VisionTransformer

    arch = archspec.load("torchvision/vit_b_16", input="3x32x32", **TINY_VIT)
    torch.manual_seed(0)
    reference = VisionTransformer(image_size=32, patch_size=16, **TINY_VIT)
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    x, expected = eval_outputs(reference, 32)
    state = reference.state_dict()
    model = emitted_model(arch, tmp_path)
    model.load_state_dict(state, strict=True)
    assert [type(m).__name__ for m in model.modules()].count("LayerNorm") == 5
    with torch.no_grad():
        assert relative(model.eval()(x), expected) <= 1e-5
    flax_model = emitted_with_weights(arch, tmp_path, state)
    flax_model.eval()
    outputs = forward(flax_model, nhwc(x.numpy()), quick=True)
    assert abs(outputs - expected.numpy()).max() <= 1e-5


def test_layer_norms_on_maps_tokens_and_features_in_both_backends(tmp_path: Path) -> None:
    """Emitted and in-memory models are the same modules with the same keys; both
    backends give a reference written with torch's functions."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("flax")
    import torch.nn.functional as F
    from flax_helpers import emitted_with_weights, forward, nhwc
    from torch_helpers import assert_same_model

    arch = archspec.load(NORMS)
    source = arch.source("torch")
    assert source.count("LayerNorm2d(in_channels") == 1
    assert source.count("nn.LayerNorm(") == 2
    torch.manual_seed(0)
    emitted = emitted_model(arch, tmp_path)
    torch.manual_seed(0)
    built = arch.to_torch()
    assert_same_model(emitted, built, arch.network.input)
    assert type(built.get_submodule("1.0")).__name__ == "LayerNorm2d"
    assert type(built.get_submodule("3.0")) is type(built.get_submodule("5")) is torch.nn.LayerNorm
    with torch.no_grad():
        for parameter in built.parameters():
            parameter.add_(torch.randn_like(parameter))
    state = built.state_dict()
    x = torch.randn(2, 3, 16, 16)

    def norm(y: torch.Tensor, prefix: str) -> torch.Tensor:
        weight, bias = state[f"{prefix}.weight"], state[f"{prefix}.bias"]
        return F.layer_norm(y, (8,), weight, bias, 1e-6 if prefix != "5" else 1e-5)

    y = F.conv2d(x, state["0.weight"], state["0.bias"], stride=4)
    y = F.gelu(norm(y.permute(0, 2, 3, 1), "1.0")).flatten(1, 2)  # channels-last tokens
    y = F.gelu(norm(y, "3.0")).mean(dim=1)
    expected = F.linear(norm(y, "5"), state["6.weight"], state["6.bias"])
    emitted.load_state_dict(state, strict=True)
    with torch.no_grad():
        for model in (emitted, built):
            torch.testing.assert_close(model.eval()(x), expected)
    for flax_model in (arch.to_flax(weights=state), emitted_with_weights(arch, tmp_path, state)):
        flax_model.eval()
        assert abs(forward(flax_model, nhwc(x.numpy())) - expected.numpy()).max() <= 1e-5
