"""The Flax NNX trainer: data parallel over every jax device, orbax checkpoints.

The model comes from ``Architecture.to_flax()``; the optimizer is ``flax_train``'s SGD
(torch's semantics) under ``optax.inject_hyperparams``, so the learning rate is part of
the optimizer state and each step sets it: a schedule that depends on the training
error (the paper's warm-up) needs no recompilation. As in ``flax_train``, the state is
replicated over a one-axis ``data`` mesh and each batch is split along it; batch norm
then sees the whole batch. A checkpoint is a directory: ``state/`` (orbax, through
``archspec.backends.nnx.checkpoint``), ``meta.json`` and ``mean.npy``.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from archspec.api import Architecture
from archspec.backends.nnx import checkpoint
from archspec.backends.nnx import train as flax_train
from archspec.files import FileProblem, replace_directory
from archspec.train.config import TrainConfig, TrainError
from archspec.train.position import Totals
from archspec.train.runfolder import write_atomic

NCHW_TO_NHWC = (0, 2, 3, 1)


def read_meta(path: Path) -> tuple[dict[str, str], np.ndarray]:
    """The run's config and position, and the per-pixel mean, from a checkpoint directory."""
    try:
        meta = json.loads((path / "meta.json").read_text())
        mean = np.load(path / "mean.npy", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise TrainError(
            f"{path} is not a flax checkpoint written by archspec train ({error})",
            help="checkpoints are the runs' checkpoints/step-NNNNNNN directories",
        ) from None
    return {k: str(v) for k, v in meta.items()}, mean


@partial(jax.jit, static_argnums=0, donate_argnums=1)
def _train_step(
    graphdef: Any, state: Any, images: jax.Array, labels: jax.Array, lr: jax.Array
) -> Any:
    """One SGD step at rate ``lr``; returns the new state, the loss and the wrong count.

    Module level with the graph static, so every trainer of the same network shares one
    compilation (a resumed session in the same process compiles nothing).
    """
    model, optimizer = nnx.merge(graphdef, state)
    optimizer.opt_state.hyperparams["learning_rate"][...] = lr
    images = jnp.transpose(images, NCHW_TO_NHWC)

    def loss_fn(model: nnx.Module) -> tuple[jax.Array, jax.Array]:
        logits = model(images)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, logits

    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    wrong = (logits.argmax(-1) != labels).sum()
    return nnx.state((model, optimizer)), loss, wrong


@partial(jax.jit, static_argnums=0)
def _predict(inference: Any, model_state: Any, images: jax.Array) -> jax.Array:
    """Predicted classes, the model in evaluation mode (``inference`` is its graph)."""
    model = nnx.merge(inference, model_state)
    predicted: jax.Array = model(jnp.transpose(images, NCHW_TO_NHWC)).argmax(-1)
    return predicted


class FlaxTrainer:
    suffix = ""
    rank, world = 0, 1
    """one process; its devices share each batch"""

    def __init__(
        self, arch: Architecture, config: TrainConfig, mean: np.ndarray, restoring: bool = False
    ) -> None:
        """``restoring``: a checkpoint will fill the state, so the model is built abstractly
        (no random initialisation to compile, which takes XLA seconds even for tiny nets)."""
        try:
            devices = jax.devices("gpu" if config.device == "cuda" else "cpu")
        except RuntimeError:
            raise TrainError("--device cuda: jax sees no GPU", help="use --device cpu") from None
        if config.batch_size % len(devices):
            raise TrainError(
                f"--batch-size {config.batch_size} does not split over {len(devices)} devices"
            )
        self.mean = mean
        kind = devices[0].platform
        self.placement = f"{len(devices)} {kind} devices" if len(devices) > 1 else kind
        self.mesh = flax_train.data_mesh(devices)
        sgd = optax.inject_hyperparams(flax_train.sgd)
        tx = sgd(
            learning_rate=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )

        def fresh() -> tuple[Any, nnx.Optimizer[Any]]:
            model = arch.to_flax(seed=config.seed)
            return model, flax_train.optimizer(model, tx)

        self._fresh = fresh
        self.model, self.optimizer = nnx.eval_shape(fresh) if restoring else fresh()
        self.model.eval()
        inference, _ = nnx.split(self.model)
        self.model.train()
        graphdef, state = nnx.split((self.model, self.optimizer))
        self._graphs = (graphdef, inference)
        self.state = state if restoring else flax_train.replicate(state, self.mesh)
        self._pending: list[tuple[jax.Array, jax.Array, int]] = []
        self._sums = np.zeros(2, np.float64)
        self._images = 0.0

    def begin(self, totals: Totals) -> None:
        """Count on from a resumed run's totals (added in the same order as uninterrupted)."""
        self._pending.clear()
        self._sums = np.array([totals.loss, totals.errors], np.float64)
        self._images = totals.images

    def step(self, images: np.ndarray, labels: np.ndarray, lr: float) -> None:
        batch = flax_train.shard_batch((images, labels.astype(np.int32)), self.mesh)
        graphdef = self._graphs[0]
        self.state, loss, wrong = _train_step(graphdef, self.state, *batch, jnp.float32(lr))
        self._pending.append((loss, wrong, len(labels)))
        self._images += len(labels)

    def totals(self, local: bool = False) -> Totals:
        """The run's training totals (one process: ``local`` changes nothing)."""
        for loss, wrong, images in self._pending:
            self._sums += (float(loss) * images, float(wrong))
        self._pending.clear()
        return Totals(float(self._sums[0]), float(self._sums[1]), self._images)

    def evaluate(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[int, int]:
        wrong = counted = 0
        for images, labels in batches:
            shards = flax_train.shard_batch(images, self.mesh)
            predicted = np.asarray(_predict(self._graphs[1], self.state[0], shards))
            valid = labels >= 0
            wrong += int(((predicted != labels) & valid).sum())
            counted += int(valid.sum())
        return wrong, counted

    def save(self, path: Path, meta: dict[str, str]) -> None:
        """Write the checkpoint directory whole: into a temporary one, then renamed.

        The arrays are saved as host copies, so a checkpoint restores on any number of
        devices (orbax refuses a sharded save restored under another topology).
        """
        nnx.update((self.model, self.optimizer), jax.device_get(self.state))
        staging = path.with_name(f".{path.name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        checkpoint.save(staging / "state", self.model, self.optimizer)
        write_atomic(staging / "meta.json", json.dumps(meta, sort_keys=True).encode())
        mean = io.BytesIO()
        np.save(mean, self.mean, allow_pickle=False)
        write_atomic(staging / "mean.npy", mean.getvalue())
        try:
            replace_directory(staging, path)
        except FileProblem as problem:
            raise TrainError(problem.message) from None

    def restore(self, path: Path) -> dict[str, str]:
        meta, _ = read_meta(path)
        try:
            checkpoint.restore(path / "state", self.model, self.optimizer)
        except (ValueError, KeyError, FileNotFoundError) as error:
            raise TrainError(
                f"{path} does not fit this network: {str(error).splitlines()[0]}",
                help="use the spec and -D values the checkpoint was trained with",
            ) from None
        state = nnx.state((self.model, self.optimizer))
        if any(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(state)):
            # state a checkpoint does not hold (dropout's random streams): made afresh
            self.model, self.optimizer = self._fresh()
            return self.restore(path)
        self.state = flax_train.replicate(state, self.mesh)
        return meta

    def close(self) -> None:
        """Nothing to release: one process, and jax keeps its devices."""
