"""The op registry: every op has every rule, in every pass and backend; and an op added
from outside (here, from this test) works everywhere with no other file touched."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import archspec
from archspec import ir, ops
from archspec.backends.nnx import dialect as flax_dialect
from archspec.backends.pytorch import dialect as torch_dialect
from archspec.codegen.dialect import Lowering
from archspec.counts import Counts
from archspec.ops.base import Op, Shape, Tensor, elements, feature_map, size

RULES = ("make", "shape", "cost", "tensors")


def gaps() -> list[str]:
    """Every missing rule, lowering or tensor name, as a sentence."""
    found = []
    for name, op in ops.OPS.items():
        for rule in RULES:
            if getattr(op, rule).__qualname__.startswith("Op."):
                found.append(f"op '{name}' has no {rule} rule")
        if not op.DOC:
            found.append(f"op '{name}' has no documentation")
        fields = {f.name for f in dataclasses.fields(op)}  # type: ignore[arg-type]
        for role_field in op.ROLES:
            if role_field not in fields:
                found.append(f"op '{name}' gives a role to '{role_field}', not a field")
        for backend, table in (
            ("torch", torch_dialect.LOWERINGS),
            ("flax", flax_dialect.LOWERINGS),
        ):
            lowering = table.get(name)
            if lowering is None:
                found.append(f"op '{name}' has no {backend} lowering")
                continue
            choices = (lowering, *(choice for _, choice in lowering.by_rank))
            for argument in (a for choice in choices for a in choice.arguments):
                if argument.field not in fields:
                    found.append(f"{backend} lowering of '{name}' reads '{argument.field}'")
    return found


def test_every_op_has_every_rule_in_every_backend() -> None:
    assert gaps() == []


def test_a_missing_rule_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The completeness check itself can fail: remove one lowering and see it named."""
    monkeypatch.delitem(flax_dialect.LOWERINGS, "sigmoid")
    assert gaps() == ["op 'sigmoid' has no flax lowering"]


def test_rules_are_abstract_in_the_base() -> None:
    @dataclass(frozen=True, slots=True)
    class Forgetful(Op):
        NAME = "forgetful"
        DOC = "an op with no rules"

    with pytest.raises(NotImplementedError, match="no shape rule"):
        Forgetful().shape((1, 2, 2))
    with pytest.raises(NotImplementedError, match="no cost rule"):
        Forgetful().cost((1,), (1,))


# ---- an op from outside: a learned per-channel scale and shift, written as a depthwise
# 1x1 convolution with a bias in both frameworks (so it has weights to convert)


@dataclass(frozen=True, slots=True)
class ChannelAffine(Op):
    NAME = "channel_affine"
    DOC = "x * a + b with a learned a and b per channel (a test-only op)."
    ARGUMENTS = (size("repeat", "unused; shows a language argument", default=1),)
    ROLES = {"channels": "in"}

    channels: int
    kernel: int = 1
    padding: int = 0

    @classmethod
    def make(cls, arguments: dict[str, Any], input: Shape) -> ChannelAffine:
        return cls(input[0])

    def shape(self, input: Shape) -> Shape:
        feature_map(input, self.NAME)
        return input

    def cost(self, input: Shape, output: Shape) -> Counts:
        return Counts(params=2 * self.channels, macs=elements(output), activations=elements(output))

    def tensors(self) -> tuple[Tensor, ...]:
        return (
            Tensor("weight", (self.channels, 1, 1, 1), "OIHW"),
            Tensor("bias", (self.channels,), "O"),
        )


@pytest.fixture
def channel_affine(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.codegen.dialect import Arg

    monkeypatch.setitem(ops.OPS, ChannelAffine.NAME, ChannelAffine)
    torch_args = (
        Arg("in_channels", "channels", positional=True),
        Arg("out_channels", "channels", positional=True),
        Arg("kernel_size", "kernel"),
        Arg("groups", "channels"),
    )
    monkeypatch.setitem(
        torch_dialect.LOWERINGS, ChannelAffine.NAME, Lowering("nn.Conv2d", torch_args)
    )
    flax_args = (
        Arg("in_features", "channels", positional=True),
        Arg("out_features", "channels", positional=True),
        Arg("kernel_size", "kernel", positional=True, pair=True),
        Arg("padding", "padding"),
        Arg("feature_group_count", "channels"),
    )
    monkeypatch.setitem(
        flax_dialect.LOWERINGS, ChannelAffine.NAME, Lowering("nnx.Conv", flax_args, rngs=True)
    )
    monkeypatch.setitem(
        flax_dialect.TENSORS,
        ChannelAffine.NAME,
        {"weight": ("kernel", "HWIO"), "bias": ("bias", "O")},
    )


SPEC = """\
name: affine
input: 3x12x12
define: |
  block unit(width, stride=1) =
      conv1=conv(width, 3, stride=stride) scale=channel_affine bn1=bn relu1=relu
      + shortcut -> relu=relu
stem: conv1=conv(8, 3) pre=channel_affine relu=relu
stages:
  layer1: unit(8) x 2
  layer2: unit(16) x 1 /2
head: pool=global_avgpool flatten=flatten fc=fc(5)
"""


def test_an_op_added_from_outside_works_in_every_pass_and_backend(
    channel_affine: None, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("flax")
    import numpy as np
    from torch_helpers import emitted_model, import_file

    from archspec.backends.nnx import builder

    arch = archspec.load(SPEC)
    scales = [p for p, layer in ir.layers(arch.network) if layer.op.NAME == "channel_affine"]
    assert scales == ["pre", "layer1.0.scale", "layer1.1.scale", "layer2.0.scale"]
    assert "channel_affine" in arch.summary()
    assert "channel_affine" in arch.graph().source
    # torch: the emitted file and the in-memory model agree, and count as archspec does
    torch.manual_seed(0)
    emitted = emitted_model(arch, tmp_path).eval()
    torch.manual_seed(0)
    built = arch.to_torch().eval()
    state = built.state_dict()
    assert list(emitted.state_dict()) == list(state) and "layer1.0.scale.weight" in state
    assert sum(p.numel() for p in built.parameters()) == arch.counts.params
    x = torch.randn(2, 3, 12, 12)
    assert torch.equal(emitted(x), built(x))
    # flax: weights convert, both flax models give torch's outputs
    model = arch.to_flax(weights=state)
    model.eval()
    expected = built(x).detach().numpy()
    nhwc = x.permute(0, 2, 3, 1).numpy()
    assert np.abs(np.asarray(model(nhwc)) - expected).max() < 1e-4
    path = tmp_path / "affine_flax.py"
    path.write_text(arch.source("flax"))
    cls = import_file(path).Affine
    from flax import nnx

    flax_emitted = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0)))
    builder.load_weights(flax_emitted, arch.network, state, construct=lambda: cls(rngs=nnx.Rngs(0)))
    flax_emitted.eval()
    assert np.abs(np.asarray(flax_emitted(nhwc)) - expected).max() < 1e-4
