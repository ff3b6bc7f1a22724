"""Training the Flax NNX models: SGD steps, PyTorch parity, two devices, orbax checkpoints.

One ResNet-20 (CIFAR, 32x32) trains on a fixed random batch of 16; the two-device run
happens in a subprocess, since XLA's host device count is fixed once JAX starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

import archspec  # noqa: E402
from archspec.backends import weights as convert  # noqa: E402
from archspec.backends.nnx import builder as flax_nnx  # noqa: E402
from archspec.backends.nnx import train as flax_train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs/cifar/resnet20.yaml"
STEPS = 8


def batch(size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random batch, NCHW images (torch's layout) and integer labels."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((size, 3, 32, 32), dtype=np.float32)
    return images, rng.integers(0, 10, size)


def nhwc(images: np.ndarray) -> jax.Array:
    return jnp.asarray(images.transpose(0, 2, 3, 1))


def leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


@pytest.fixture(scope="module")
def trained() -> dict[str, Any]:
    """ResNet-20 after STEPS functional steps of SGD (momentum 0.9, weight decay 1e-4)."""
    network = archspec.load(SPEC).network
    model = flax_nnx.build(network, seed=0)
    model.train()
    optimizer = flax_train.optimizer(model, flax_train.sgd(0.05))
    before = leaves(nnx.state(model, nnx.BatchStat))
    step, state = flax_train.compile_step(model, optimizer)
    images, labels = batch()
    losses = []
    for _ in range(STEPS):
        state, loss = step(state, nhwc(images), jnp.asarray(labels))
        losses.append(float(loss))
    nnx.update((model, optimizer), state)
    return {
        "network": network,
        "model": model,
        "optimizer": optimizer,
        "losses": losses,
        "before": before,
    }


def test_sgd_lowers_the_loss_and_updates_batch_statistics(trained: dict[str, Any]) -> None:
    losses = trained["losses"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(np.isfinite(losses))
    model, optimizer = trained["model"], trained["optimizer"]
    assert int(optimizer.step[...]) == STEPS
    assert int(model.bn1.num_batches_tracked[...]) == STEPS
    after = leaves(nnx.state(model, nnx.BatchStat))
    changed = [not np.array_equal(a, b) for a, b in zip(trained["before"], after, strict=True)]
    assert all(changed)  # every mean, variance and counter moved


def test_two_steps_match_torch_sgd_in_float64() -> None:
    """Same weights, same batch, two steps: the loss, gradients through batch norm in
    training mode, SGD with momentum and weight decay, and the running statistics
    (torch's unbiased variance) agree to float64 rounding. In float32 the updates of
    batch-norm weights differ by about 3e-3 relative after one step, as their gradients
    cancel: a float32 comparison could only check loosely what float64 checks exactly."""
    torch = pytest.importorskip("torch")
    arch = archspec.load(SPEC)
    torch.manual_seed(0)
    torch_model = arch.to_torch().double().train()
    weights = {key: tensor.numpy().copy() for key, tensor in torch_model.state_dict().items()}
    images, labels = batch()
    images = images.astype(np.float64)

    sgd = torch.optim.SGD(torch_model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(
            torch_model(torch.from_numpy(images)), torch.from_numpy(labels)
        )
        sgd.zero_grad()
        loss.backward()
        sgd.step()

    with jax.enable_x64(True):
        model = arch.to_flax(weights=weights)
        model.train()
        optimizer = flax_train.optimizer(model, flax_train.sgd(0.1, 0.9, 1e-4))
        step, state = flax_train.compile_step(model, optimizer)
        for _ in range(2):
            state, flax_loss = step(state, nhwc(images), jnp.asarray(labels))
        nnx.update((model, optimizer), state)
        ours = convert.flax_to_torch(arch.network, flax_nnx.flax_arrays(model))

    assert float(flax_loss) == pytest.approx(loss.item(), abs=1e-12)
    for key, tensor in torch_model.state_dict().items():
        assert ours[key].dtype == tensor.numpy().dtype or key.endswith("num_batches_tracked")
        np.testing.assert_allclose(ours[key], tensor.numpy(), rtol=0, atol=1e-12, err_msg=key)


def test_functional_step_equals_nnx_jit() -> None:
    network = archspec.load(SPEC, n=1).network
    images, labels = nhwc(batch()[0]), jnp.asarray(batch()[1])
    graphdef, initial = nnx.split(flax_nnx.build(network, seed=0))
    states = []
    for functional in (True, False):
        model = nnx.merge(graphdef, jax.tree.map(jnp.copy, initial))  # steps donate buffers
        optimizer = flax_train.optimizer(model)
        if functional:
            step, state = flax_train.compile_step(model, optimizer)
            for _ in range(2):
                state, _ = step(state, images, labels)
            nnx.update((model, optimizer), state)
        else:
            graph_step = nnx.jit(flax_train.train_step)
            for _ in range(2):
                graph_step(model, optimizer, images, labels)
        states.append(leaves(nnx.state((model, optimizer), nnx.Not(nnx.RngState))))
    for a, b in zip(*states, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


DATA_PARALLEL = """
import json, jax, jax.numpy as jnp, numpy as np
import archspec
from archspec.backends.nnx import builder as flax_nnx
from archspec.backends.nnx import train as flax_train

assert len(jax.devices()) == 2, jax.devices()
network = archspec.load({spec!r}, n=1).network
rng = np.random.default_rng(0)
images = jnp.asarray(rng.standard_normal((8, 32, 32, 3), dtype=np.float32))
labels = jnp.asarray(rng.integers(0, 10, 8))
model = flax_nnx.build(network, seed=0)
model.train()
step, initial = flax_train.compile_step(model, flax_train.optimizer(model))

def train(state, images, labels):
    for _ in range(2):
        state, loss = step(state, images, labels)
    return state

copy = lambda state: jax.tree.map(jnp.copy, state)  # the step donates its input
single = train(copy(initial), images, labels)
mesh = flax_train.data_mesh()
replicated = flax_train.replicate(copy(initial), mesh)
sharded = flax_train.shard_batch((images, labels), mesh)
parallel = train(replicated, *sharded)
pairs = zip(jax.tree.leaves(single), jax.tree.leaves(parallel), strict=True)
print(json.dumps({{
    "diff": max(float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))
                for a, b in pairs),
    "images": str(sharded[0].sharding.spec),
    "params": str(jax.tree.leaves(parallel)[0].sharding.spec),
    "devices": len(jax.tree.leaves(parallel)[0].sharding.device_set),
}}))
"""


def test_data_parallel_over_two_devices_equals_one_device() -> None:
    """Replicated state, batch split by NamedSharding(mesh, P('data')): the same update,
    batch norm included (it sees the whole batch, as on one device)."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", DATA_PARALLEL.format(spec=str(SPEC))],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["images"].endswith("('data',)") and result["params"].endswith("()")
    assert result["devices"] == 2
    assert result["diff"] < 1e-5, result


def test_orbax_restores_parameters_statistics_and_optimizer(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("orbax.checkpoint")
    from archspec.backends.nnx import checkpoint

    model, optimizer, network = trained["model"], trained["optimizer"], trained["network"]
    checkpoint.save(tmp_path / "ckpt", model, optimizer)
    target = flax_nnx.build(network, abstract=True)
    target_optimizer = nnx.eval_shape(lambda: flax_train.optimizer(target))
    checkpoint.restore(tmp_path / "ckpt", target, target_optimizer)

    for kind in (nnx.Param, nnx.BatchStat):
        for a, b in zip(
            leaves(nnx.state(model, kind)), leaves(nnx.state(target, kind)), strict=True
        ):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    saved = leaves(nnx.state(optimizer, nnx.OptState))
    assert all(
        np.array_equal(a, b)
        for a, b in zip(saved, leaves(nnx.state(target_optimizer, nnx.OptState)), strict=True)
    )
    assert int(target_optimizer.step[...]) == STEPS
    model.eval()
    target.eval()
    x = nhwc(batch(2)[0])
    assert np.array_equal(np.asarray(model(x)), np.asarray(target(x)))
    with pytest.raises(Exception):  # noqa: B017 - orbax refuses to overwrite by default
        checkpoint.save(tmp_path / "ckpt", model)
    checkpoint.save(tmp_path / "ckpt", model, force=True)
