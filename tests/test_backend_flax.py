"""The Flax NNX backend: parity with torch, weight conversion, emitted source, XLA FLOPs.

Models are built with ``nnx.eval_shape`` and filled with converted weights (no random
init), inputs are small (64x64 for ImageNet-layout nets, 32x32 for CIFAR) and each model's
forward is jitted once, so the module runs in about a minute on two CPU cores.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

import archspec  # noqa: E402
from archspec import ir, ops  # noqa: E402
from archspec.backends import weights as convert  # noqa: E402
from archspec.backends.nnx import builder as flax_nnx  # noqa: E402
from archspec.backends.nnx import runtime as flax_ops  # noqa: E402
from archspec.backends.nnx.layout import flax_paths  # noqa: E402
from archspec.diagnostics import SpecError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from flax_helpers import (  # noqa: E402
    calibrated_torch,
    emitted_abstract,
    emitted_with_weights,
    forward,
    nhwc,
    program,
    state_layout,
)
from torch_helpers import (  # noqa: E402
    EXTRA_SPECS,
    MODEL_SPECS,
    hand_odd,
    import_file,
    load_small,
    write_extra,
)

PREACT = """\
name: preact_resnet14
input: 3x32x32
shortcut: B
stem: conv1=conv(16, 3)
stages:
  layer1: preact_basic(16) x 2
  layer2: preact_basic(32) x 2 /2
  layer3: preact_basic(64) x 2 /2
head: bn=bn relu=relu avgpool=global_avgpool flatten fc=fc(10)
"""
"""Pre-activation blocks (He et al. 2016): BN-ReLU-conv, the last BN-ReLU in the head."""

CIFAR = sorted(
    p.relative_to(ROOT).as_posix()
    for p in (ROOT / "specs" / "cifar").glob("*.yaml")
    if p.stem != "resnet1202"
)
PARITY = [
    "specs/torchvision/resnet18.yaml",
    "specs/torchvision/resnet50.yaml",
    "specs/resnet50.yaml",  # the paper's: stride on the first 1x1
    "specs/vgg11.yaml",
    "specs/plain18.yaml",
    *CIFAR,
    "specs/arch/resnet_d.arch",  # a user block and a user shortcut (avg pool, ceil_mode)
    "preact",
    "hand_odd",  # numbered layers in blocks, a nested group, named sequences, dropout
    *(f"extra:{name}" for name in sorted(EXTRA_SPECS)),  # nested blocks, option C, ...
]
"""Compared with torch on outputs. The specs left out differ from one of these in depth
only (the same block classes)."""
ALL_SPECS = sorted(
    p.relative_to(ROOT).as_posix()
    for p in (ROOT / "specs").rglob("*")
    if p.suffix in (".yaml", ".arch")
)


def load(name: str, tmp: Path) -> Any:
    """An Architecture: a spec at a small input, the pre-activation net, or a hand-built IR."""
    if name == "preact":
        path = tmp / "preact.yaml"
        path.write_text(PREACT)
        return archspec.load(path)
    if name == "hand_odd":
        return archspec.Architecture(hand_odd())
    if name.startswith("extra:"):
        return load_small(write_extra(tmp, name.removeprefix("extra:")))
    if name.endswith("resnet_d.arch"):
        # 72 -> 18 after the stem -> 9 at layer2: ceil_mode pools see partial windows.
        return archspec.load(ROOT / name, input="3x72x72")
    return load_small(name)


# ---- same weights, same outputs, and back


@pytest.mark.parametrize("name", PARITY)
def test_same_outputs_as_torch_and_weights_convert_back_exactly(name: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    arch = load(name, tmp_path)
    torch_model = calibrated_torch(arch)
    state_dict = torch_model.state_dict()
    x = np.random.default_rng(0).standard_normal((2, *arch.network.input), dtype=np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    if expected.ndim == 4:  # a network that ends in a feature map: NHWC in flax
        expected = expected.transpose(0, 2, 3, 1)

    model = arch.to_flax(weights=state_dict)
    model.eval()
    got = forward(model, nhwc(x))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4, np.abs(got - expected).max()
    assert 0.01 < np.abs(expected).max() < 10  # calibrated, and not vacuous

    back = flax_nnx.torch_state_dict(arch.network, model)
    assert list(back) == list(state_dict)
    for key, tensor in state_dict.items():
        assert back[key].dtype == tensor.dtype and back[key].shape == tensor.shape, key
        assert torch.equal(back[key], tensor), key


@pytest.mark.parametrize(
    "spec", [*MODEL_SPECS, "preact", "hand_odd", *(f"extra:{n}" for n in sorted(EXTRA_SPECS))]
)
def test_parameter_count_and_the_emitted_module_match(spec: str, tmp_path: Path) -> None:
    """Every spec: the in-memory build has archspec's parameter count, and the emitted
    module compiles, imports and instantiates with the same parameters and statistics
    (paths, shapes, dtypes, order) and lowers to the same XLA program: the same outputs
    for the same weights, for any input. Shapes only (``nnx.eval_shape``), nothing is
    compiled. ResNet-1202 is left out: tracing its constructor in one piece takes
    minutes (4.5 on this machine), and its blocks are ResNet-110's."""
    arch = archspec.load(ROOT / spec) if spec.startswith("specs/") else load(spec, tmp_path)
    model = flax_nnx.build(arch.network, abstract=True)
    params = nnx.state(model, nnx.Param)
    assert sum(math.prod(v.shape) for v in jax.tree.leaves(params)) == arch.counts.params
    emitted = emitted_abstract(arch, tmp_path)[1]
    assert state_layout(emitted) == state_layout(model)
    assert program(emitted, arch.network.input) == program(model, arch.network.input)


def test_state_paths_follow_the_layout() -> None:
    """Every torch tensor has one flax path, read off the IR (flax_layout's rules)."""
    arch = load_small("specs/torchvision/resnet18.yaml")
    paths = flax_paths(arch.network)
    assert paths["layer1.0.conv1"] == ("layer1", "layers", 0, "conv1")
    assert paths["layer2.0.downsample.1"] == ("layer2", "layers", 0, "downsample", "layers", 1)
    model = flax_nnx.build(arch.network, abstract=True)
    found = {path for path, _ in nnx.to_flat_state(flax_nnx.weights_and_statistics(model))}
    assert found == {t.flax_path for t in convert.tensors(arch.network)}
    # 20 convs (weight only) + 20 BNs x 5 tensors + fc weight and bias = 122 tensors.
    assert len(found) == 20 + 20 * 5 + 2


def test_wrong_weights_are_a_located_error() -> None:
    torch = pytest.importorskip("torch")
    small = archspec.load(ROOT / "specs/cifar/resnet20.yaml")
    big = archspec.load(ROOT / "specs/cifar/resnet32.yaml")
    with pytest.raises(SpecError) as caught:
        big.to_flax(weights=small.to_torch().state_dict())
    assert caught.value.code == "E404"
    assert "missing 72 tensors: layer1.3 (12 tensors); layer1.4 (12 tensors)" in str(caught.value)
    bad = dict(small.to_torch().state_dict())
    bad["fc.weight"] = torch.zeros(11, 64)
    with pytest.raises(SpecError, match=r"fc.weight is \(11, 64\), the spec needs \(10, 64\)"):
        convert.torch_to_flax(small.network, bad)


# ---- the emitted module


def test_emitted_module_trains_as_the_in_memory_build(tmp_path: Path) -> None:
    """Training mode: same outputs, same running statistics."""
    pytest.importorskip("torch")
    arch = load("specs/cifar/resnet20.yaml", tmp_path)
    weights = calibrated_torch(arch).state_dict()
    built = arch.to_flax(weights=weights)
    emitted = emitted_with_weights(arch, tmp_path, weights)
    x = nhwc(np.random.default_rng(1).standard_normal((2, *arch.network.input), dtype=np.float32))
    built.train()
    emitted.train()
    assert np.array_equal(np.asarray(built(x)), np.asarray(emitted(x)))
    for a, b in zip(
        jax.tree.leaves(nnx.state(built, nnx.BatchStat)),
        jax.tree.leaves(nnx.state(emitted, nnx.BatchStat)),
        strict=True,
    ):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_emitted_source_is_deterministic_and_ruff_clean(tmp_path: Path) -> None:
    ruff = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True)
    if ruff.returncode:
        pytest.skip("ruff is not installed")
    archs = [archspec.load(ROOT / spec) for spec in ALL_SPECS] + [archspec.Architecture(hand_odd())]
    archs += [archspec.load(write_extra(tmp_path, name)) for name in sorted(EXTRA_SPECS)]
    for index, arch in enumerate(archs):
        source = arch.source("flax")
        assert source == arch.source("flax")
        (tmp_path / f"m{index}_{arch.name.replace('-', '_')}.py").write_text(source)
    for width in ("88", "100"):
        for command in (["check"], ["format", "--check"]):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "ruff",
                    *command,
                    "--isolated",
                    "--line-length",
                    width,
                    str(tmp_path),
                ],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout + done.stderr


def test_emitted_source_reads_like_the_torch_one() -> None:
    """Same classes, and __call__ is forward line for line (no in-place add in flax)."""
    pytest.importorskip("torch")
    arch = archspec.load(ROOT / "specs/torchvision/resnet50.yaml")
    flax_source, torch_source = arch.source("flax"), arch.source("torch")
    helpers = ("class ZeroPadShortcut", "class BatchNorm2d", "class NamedSequential")

    def classes(source: str) -> list[str]:
        return [
            line.split("(")[0]
            for line in source.splitlines()
            if line.startswith("class ") and not line.startswith(helpers)
        ]

    assert classes(flax_source) == classes(torch_source) == ["class Bottleneck", "class ResNet50"]

    def calls(source: str, method: str) -> list[str]:
        """The statements of ``method`` in every block and network class, in order."""
        lines, inside = [], False
        for line in source.splitlines():
            if line.startswith("class "):
                helper = line.startswith(helpers)
                inside = False
            elif line.startswith("    def "):
                inside = not helper and line.startswith(f"    def {method}(")
            elif inside and line.strip():
                lines.append(line.strip().replace("out += identity", "out = out + identity"))
        return lines

    assert calls(flax_source, "__call__") == calls(torch_source, "forward")
    assert "import torch" not in flax_source and "'SAME'" not in flax_source


# ---- PyTorch semantics, op by op


def test_explicit_paddings_match_torch_and_same_would_not() -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32), dtype=np.float32)
    for kernel, padding in ((3, 1), (7, 3)):
        weight = np.random.default_rng(kernel).standard_normal(
            (4, 3, kernel, kernel), dtype=np.float32
        )
        expected = (
            torch.nn.functional.conv2d(
                torch.from_numpy(x), torch.from_numpy(weight), stride=2, padding=padding
            )
            .numpy()
            .transpose(0, 2, 3, 1)
        )
        results = {}
        for mode in (padding, "SAME"):
            conv = nnx.Conv(
                3, 4, (kernel, kernel), strides=2, padding=mode, use_bias=False, rngs=nnx.Rngs(0)
            )
            conv.kernel[...] = jnp.asarray(weight.transpose(2, 3, 1, 0))
            results[mode] = np.asarray(conv(nhwc(x)))
        np.testing.assert_allclose(results[padding], expected, rtol=1e-5, atol=1e-5)
        assert np.abs(results["SAME"] - expected).max() > 0.1  # same shape, shifted windows
    pooled = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 2, 1).numpy()
    ours = np.asarray(flax_ops.max_pool2d(nhwc(x), 3, 2, 1))
    assert np.array_equal(ours, pooled.transpose(0, 2, 3, 1))


POOLS = [
    (size, kernel, stride, padding, ceil_mode, include)
    for size in (7, 8)
    for kernel, stride, padding in ((2, 2, 0), (3, 2, 1), (3, 1, 1), (3, 3, 0))
    for ceil_mode in (False, True)
    for include in (True, False)
]


@pytest.mark.parametrize("size,kernel,stride,padding,ceil_mode,include", POOLS)
def test_pooling_matches_torch(
    size: int, kernel: int, stride: int, padding: int, ceil_mode: bool, include: bool
) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(size).standard_normal((2, 3, size, size), dtype=np.float32)
    t = torch.from_numpy(x)
    expected = F.avg_pool2d(t, kernel, stride, padding, ceil_mode, include).numpy()
    got = flax_ops.avg_pool2d(nhwc(x), kernel, stride, padding, ceil_mode, include)
    np.testing.assert_allclose(np.asarray(got), expected.transpose(0, 2, 3, 1), atol=1e-6)
    if include:  # max pooling has no count_include_pad
        expected = F.max_pool2d(t, kernel, stride, padding, ceil_mode=ceil_mode).numpy()
        got = flax_ops.max_pool2d(nhwc(x), kernel, stride, padding, ceil_mode)
        assert np.array_equal(np.asarray(got), expected.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("size,output", [(7, 1), (7, 3), (2, 7), (9, 4), (8, 8)])
def test_adaptive_pooling_and_flatten_match_torch(size: int, output: int) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((2, 5, size, size), dtype=np.float32)
    expected = torch.flatten(
        torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), output), 1
    )
    got = flax_ops.flatten(flax_ops.adaptive_avg_pool2d(nhwc(x), output))
    np.testing.assert_allclose(np.asarray(got), expected.numpy(), atol=1e-6)


def test_batch_norm_follows_torch_in_both_modes() -> None:
    """Momentum 0.1, the unbiased variance in the running average, a batch counter."""
    torch = pytest.importorskip("torch")
    reference = torch.nn.BatchNorm2d(6)
    ours = flax_ops.BatchNorm2d(6)
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.standard_normal((4, 6, 5, 5), dtype=np.float32) * 3 + 1
        expected = reference(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(
            np.asarray(ours(nhwc(x))), expected.transpose(0, 2, 3, 1), atol=1e-5
        )
    np.testing.assert_allclose(np.asarray(ours.mean[...]), reference.running_mean, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ours.var[...]), reference.running_var, atol=1e-5)
    assert int(ours.num_batches_tracked[...]) == int(reference.num_batches_tracked) == 3
    reference.eval()
    ours.use_running_average = True
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.asarray(ours(nhwc(x))), expected.transpose(0, 2, 3, 1), atol=1e-5)


def test_zero_pad_shortcut_matches_torch_option_a() -> None:
    torch = pytest.importorskip("torch")
    from archspec.backends.pytorch.runtime import ZeroPadShortcut

    x = np.random.default_rng(5).standard_normal((2, 16, 9, 9), dtype=np.float32)
    expected = ZeroPadShortcut(16, 32, stride=2)(torch.from_numpy(x)).numpy()
    got = flax_ops.zero_pad_shortcut(nhwc(x), 16, 32, 2)
    assert np.array_equal(np.asarray(got), expected.transpose(0, 2, 3, 1))


# ---- XLA's FLOPs


def inside_multiply_adds(network: ir.Network) -> int:
    """Conv and fc multiply-adds over the kernel taps that fall inside the input.

    archspec's ``macs`` (the paper's FLOPs, fvcore's count) charge every tap of every
    window, zero padding included; XLA's cost analysis skips the taps over padding.
    """
    total = 0
    for _, layer in ir.layers(network):
        op = layer.op
        if isinstance(op, ops.Linear):
            total += op.in_features * op.out_features
        elif isinstance(op, ops.Conv2d):
            taps = 1
            for size, out in zip(layer.input[1:], layer.output[1:], strict=True):
                taps *= sum(
                    0 <= i * op.stride - op.padding + k * op.dilation < size
                    for i in range(out)
                    for k in range(op.kernel)
                )
            total += taps * op.in_channels // op.groups * op.out_channels
    return total


def elementwise_flops(network: ir.Network) -> int:
    """What XLA counts besides conv and fc, per element: eval batch norm 3 (subtract,
    multiply, add: the per-channel scale is folded), ReLU 1, residual add 1, fc bias 1,
    max pool one per window tap, global average pool one per input element."""
    total = 0
    for place in ir.walk(network):
        node = place.node
        if isinstance(node, ir.Group) and ir.shortcut_kind(node) != "none":
            total += math.prod(node.output)
        if not isinstance(node, ir.Layer):
            continue
        op, size = node.op, math.prod(node.input)
        if isinstance(op, ops.BatchNorm2d):
            total += 3 * size
        elif isinstance(op, ops.ReLU | ops.AdaptiveAvgPool2d):
            total += size
        elif isinstance(op, ops.MaxPool2d):
            total += math.prod(node.output) * op.kernel**2
        elif isinstance(op, ops.Linear | ops.Conv2d) and op.bias:
            total += math.prod(node.output)
    return total


@pytest.mark.parametrize(
    "spec,fused_tolerance",
    [
        ("specs/resnet50.yaml", 0.01),
        ("specs/torchvision/resnet50.yaml", 0.01),
        # XLA's CPU fusion recomputes each stage's residual stream (BN, add, ReLU) inside
        # every consumer, which adds 1.3% at this depth (5% for ResNet-110). With the
        # fusion pass off, the compiled count is the program's own again (checked below).
        ("specs/cifar/resnet20.yaml", 0.02),
    ],
)
def test_xla_flops_agree_with_archspec(spec: str, fused_tolerance: float) -> None:
    """Convention: XLA flops = 2 per multiply-add over taps inside the input, plus the
    elementwise ops above, counted once (no fusion recomputation). Checked on the program
    jax hands to XLA (lowered), on the compiled one with the fusion pass off (1%), and on
    the default compiled one (which recomputes fused elementwise work)."""
    arch = load_small(spec)
    model = flax_nnx.build(arch.network, abstract=True)
    model.eval()
    graphdef, state = nnx.split(model)
    x = jax.ShapeDtypeStruct((1, *arch.network.input[1:], arch.network.input[0]), jnp.float32)
    lowered = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x)).lower(state, x)

    def flops(analysis: Any) -> float:
        return float((analysis[0] if isinstance(analysis, list) else analysis)["flops"])

    expected = 2 * inside_multiply_adds(arch.network) + elementwise_flops(arch.network)
    assert flops(lowered.cost_analysis()) == pytest.approx(expected, rel=1e-3)
    unfused = lowered.compile(compiler_options={"xla_disable_hlo_passes": "fusion"})
    assert flops(unfused.cost_analysis()) == pytest.approx(expected, rel=0.01)
    assert flops(lowered.compile().cost_analysis()) == pytest.approx(expected, rel=fused_tolerance)
    # Without the padding convention the counts differ by far more than 1%.
    assert 2 * arch.counts.macs > 1.05 * 2 * inside_multiply_adds(arch.network)


# ---- the front doors


def test_api_builds_a_trainable_model_with_random_weights() -> None:
    arch = archspec.load(ROOT / "specs/cifar/resnet20.yaml", n=1)
    model = arch.to_flax(seed=1)
    assert isinstance(model, nnx.Module)
    out = model(jnp.ones((2, 32, 32, 3)))
    assert out.shape == (2, 10)
    assert int(model.bn1.num_batches_tracked[...]) == 1  # new models start in training mode


def test_cli_build_writes_the_flax_module(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from archspec.cli.app import app

    target = tmp_path / "r20.py"
    result = CliRunner().invoke(
        app,
        [
            "build",
            str(ROOT / "specs/cifar/resnet20.yaml"),
            "--backend",
            "flax",
            "-o",
            str(target),
            "-D",
            "n=2",
        ],
    )
    assert result.exit_code == 0, result.output
    module = import_file(target)
    model = nnx.eval_shape(lambda: module.ResNet20(rngs=nnx.Rngs(0)))
    params = nnx.state(model, nnx.Param)
    assert (
        sum(math.prod(v.shape) for v in jax.tree.leaves(params))
        == archspec.load(ROOT / "specs/cifar/resnet20.yaml", n=2).counts.params
    )


def test_cli_convert_round_trip(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from typer.testing import CliRunner

    from archspec.cli.app import app

    spec = str(ROOT / "specs/cifar/resnet20.yaml")
    state_dict = calibrated_torch(archspec.load(spec)).state_dict()
    torch.save(state_dict, tmp_path / "in.pt")
    runner = CliRunner()
    forth = runner.invoke(app, ["convert", spec, str(tmp_path / "in.pt"), str(tmp_path / "ckpt")])
    assert forth.exit_code == 0, forth.output
    assert "116 tensors" in forth.output
    back = runner.invoke(
        app,
        [
            "convert",
            spec,
            str(tmp_path / "ckpt"),
            str(tmp_path / "out.pt"),
            "--from",
            "flax",
            "--to",
            "torch",
        ],
    )
    assert back.exit_code == 0, back.output
    restored = torch.load(tmp_path / "out.pt", weights_only=True)
    assert list(restored) == list(state_dict)
    assert all(torch.equal(restored[k], state_dict[k]) for k in state_dict)

    again = runner.invoke(app, ["convert", spec, str(tmp_path / "in.pt"), str(tmp_path / "ckpt")])
    assert again.exit_code == 1 and "exists" in again.output
    wrong = runner.invoke(
        app,
        [
            "convert",
            str(ROOT / "specs/cifar/resnet32.yaml"),
            str(tmp_path / "in.pt"),
            str(tmp_path / "other"),
        ],
    )
    assert wrong.exit_code == 1 and "E404" in wrong.output
    same = runner.invoke(app, ["convert", spec, "a", "b", "--from", "torch", "--to", "torch"])
    assert same.exit_code == 2
