"""The built models train: gradients everywhere, SGD lowers the loss, and they run under
torch.compile (no graph breaks), channels_last and bf16 autocast.

Every spec is trained at batch 2-4 on small inputs (64x64 for ImageNet specs, 32x32 for
CIFAR): the point is that the model learns and every path carries gradients, not speed.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch_helpers import REPRESENTATIVE, emitted_model, load_small, spec_id, write_extra  # noqa: E402

import archspec  # noqa: E402
from archspec import ir, ops  # noqa: E402

F = torch.nn.functional


def batch(arch: archspec.Architecture, size: int, seed: int = 0) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, *arch.network.input, generator=generator)
    y = torch.randint(0, arch.network.output[0], (size,), generator=generator)
    return x, y


def without_inplace(model: torch.nn.Module) -> torch.nn.Module:
    """A copy whose ReLUs and residual additions all allocate new tensors."""
    reference = copy.deepcopy(model)
    for module in reference.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
        if hasattr(module, "_add_inplace"):
            module._add_inplace = False
    return reference


def has_batch_norm(network: ir.Network) -> bool:
    return any(isinstance(layer.op, ops.BatchNorm2d) for _, layer in ir.layers(network))


def sgd_losses(arch: archspec.Architecture, model: torch.nn.Module, lr: float, steps: int = 6):
    x, y = batch(arch, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    losses = []
    model.train()
    torch.manual_seed(0)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


SHALLOW = {"specs/cifar/resnet20.yaml", "specs/torchvision/resnet18.yaml"}


@pytest.mark.parametrize("spec", REPRESENTATIVE, ids=spec_id)
def test_every_kind_of_spec_trains(spec: str) -> None:
    """One model per kind of spec (built once: VGG alone holds 138M parameters), in turn:
    forward and backward, channels_last, bf16 autocast, then SGD steps."""
    arch = load_small(spec)
    torch.manual_seed(0)
    model = arch.to_torch()
    check_forward_backward(arch, model)
    calibrate(arch, model)
    check_channels_last(arch, model)
    check_autocast(arch, model, tight=spec in SHALLOW)
    # Momentum 0.9 and weight decay 1e-4 as the paper, one fixed batch of 4. The rate is
    # the paper's warm-up rate 0.01 (Sec. 4.2: its 110-layer net starts at 0.01), a tenth
    # of it for VGG, which has no batch norm (the VGG paper starts at 0.01 where ResNet
    # starts at 0.1). The paper's 0.1 is for batches of 128-256: at batch 4 it makes the
    # deeper nets' loss jump before it falls (the shallow ones: see the next test).
    lr = 0.01 if has_batch_norm(arch.network) else 0.001
    losses = sgd_losses(arch, model, lr)
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < losses[0], losses


def check_forward_backward(arch: archspec.Architecture, model: torch.nn.Module) -> None:
    """Batch 2, training mode: every parameter gets a finite gradient, the input is never
    overwritten, and in-place ReLUs and additions give bit-identical results."""
    reference = without_inplace(model)
    x, y = batch(arch, 2)
    results = []
    for candidate in (model, reference):
        torch.manual_seed(0)  # the same dropout masks
        x_seen = x.clone()
        loss = F.cross_entropy(candidate.train()(x_seen), y)
        loss.backward()
        assert torch.equal(x_seen, x)
        grads = [p.grad for p in candidate.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        results.append((loss.detach(), grads))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    model.zero_grad(set_to_none=True)


def calibrate(arch: archspec.Architecture, model: torch.nn.Module) -> None:
    """Give the batch norms real running statistics (one batch of 8), then eval mode.

    Freshly initialised, they hold mean 0 and variance 1, and deep nets then overflow in
    eval mode (ResNet-1202's activations double in variance per block)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # a plain average over the calibration batch
    with torch.no_grad():
        model.train()(batch(arch, 8, seed=1)[0])
    for module, momentum in zip(norms, momenta, strict=True):
        module.momentum = momentum
    model.eval()


def check_channels_last(arch: archspec.Architecture, model: torch.nn.Module) -> None:
    fast = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x, y = batch(arch, 2)
    x_last = x.to(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = model(x)
        found = fast(x_last)
    # Only the summation order differs; untrained deep nets amplify it (torchvision's own
    # resnet152 at 64x64: 4e-4), shallow ones stay near 1e-6.
    assert relative_error(found, expected) < 2e-3
    torch.manual_seed(0)
    F.cross_entropy(fast.train()(x_last), y).backward()
    assert all(p.grad is not None for p in fast.parameters())


def check_autocast(arch: archspec.Architecture, model: torch.nn.Module, tight: bool) -> None:
    x, y = batch(arch, 2)
    with torch.no_grad():
        expected = model.eval()(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            found = model(x)
    assert found.dtype == torch.bfloat16
    # bf16 keeps 2-3 digits; untrained deep nets at 64x64 amplify rounding (torchvision's
    # resnet152 in the same setting: 57% relative error, cosine 0.83), so deep nets are
    # held to computing the same function, shallow ones to 5%.
    cosine = F.cosine_similarity(found.float().flatten(), expected.flatten(), dim=0)
    assert cosine.item() > 0.75
    if tight:
        assert relative_error(found, expected) < 0.05
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model.train()(x), y)
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    assert math.isfinite(loss.item())
    model.zero_grad(set_to_none=True)


def relative_error(found: torch.Tensor, expected: torch.Tensor) -> float:
    return ((found.float() - expected).norm() / expected.norm()).item()


@pytest.mark.parametrize(
    "spec",
    ["specs/cifar/resnet20.yaml", "specs/cifar/plain20.yaml", "specs/torchvision/resnet18.yaml"],
    ids=spec_id,
)
def test_the_papers_learning_rate_as_is(spec: str) -> None:
    """lr 0.1, momentum 0.9, weight decay 1e-4, verbatim, on the shallower nets."""
    torch.manual_seed(0)
    arch = load_small(spec)
    losses = sgd_losses(arch, arch.to_torch(), 0.1)
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < 0.5 * losses[0], losses


# ---- torch.compile


DYNAMO_SPECS = REPRESENTATIVE


@pytest.mark.parametrize("spec", DYNAMO_SPECS, ids=spec_id)
def test_dynamo_traces_the_model_in_one_graph(spec: str) -> None:
    arch = load_small(spec)
    x, _ = batch(arch, 2)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(arch.to_torch().train())(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_emitted_file_compiles_and_trains_under_torch_compile(tmp_path: Path) -> None:
    """The emitted file (option A's slicing and padding included) under torch.compile:
    one graph, and compiled forward and backward agree with eager."""
    arch = archspec.load("specs/cifar/resnet20.yaml")
    torch.manual_seed(0)
    model = emitted_model(arch, tmp_path).train()
    x, y = batch(arch, 2)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    eager = copy.deepcopy(model)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    for candidate in (eager, compiled):
        F.cross_entropy(candidate(x), y).backward()
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-4, atol=1e-5)
    for p, q in zip(model.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_inductor_compiles_a_cifar_resnet(tmp_path: Path) -> None:
    """The default torch.compile backend (inductor, C++ on the CPU) end to end."""
    arch = archspec.load("specs/cifar/resnet20.yaml")
    model = emitted_model(arch, tmp_path).eval()
    x, _ = batch(arch, 2)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-3, atol=1e-4)


# ---- memory format and mixed precision


def test_option_c_preactivation_and_nested_blocks_train_and_trace(tmp_path: Path) -> None:
    """Constructs no spec in specs/ uses: every shortcut projected, pre-activation
    blocks, blocks nested in blocks; the emitted files trace in one graph."""
    for spec in (write_extra(tmp_path, f) for f in ("option_c.yaml", "preact.yaml", "nested.arch")):
        arch = archspec.load(spec)
        torch.manual_seed(0)
        model = arch.to_torch()
        check_forward_backward(arch, model)
        losses = sgd_losses(arch, model, 0.01)
        assert losses[-1] < losses[0], losses
        torch._dynamo.reset()
        explanation = torch._dynamo.explain(emitted_model(arch, tmp_path))(batch(arch, 2)[0])
        assert explanation.graph_break_count == 0
