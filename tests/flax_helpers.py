"""Shared helpers for the Flax tests: the emitted module next to the in-memory build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from torch_helpers import import_file

from archspec.backends import flax_nnx


def calibrated_torch(arch: Any) -> Any:
    """The torch model with per-channel batch norms as after training: weights in
    [0.2, 0.6], biases in [-0.2, 0.2], running statistics from one batch (momentum 1),
    variances at least 0.5. Logits are then of order 1 and float32 rounding, the same in
    both frameworks, stays below 1e-6. Without this, rounding alone breaks 1e-4: torch's
    fresh statistics (mean 0, variance 1) let a deep net's logits grow with depth (49 for
    ResNet-50, 6e8 for ResNet-110), and variances near 0 amplify it (torch's own float32
    plain-56 is 1.6e-4 from float64 with a floor of 0.05)."""
    import torch

    torch.manual_seed(0)
    model = arch.to_torch()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for norm in norms:
            norm.weight.uniform_(0.2, 0.6)
            norm.bias.uniform_(-0.2, 0.2)
            norm.momentum = 1.0
        model.train()(torch.randn(16, *arch.network.input))
        for norm in norms:
            norm.momentum = 0.1
            norm.running_var.clamp_(min=0.5)
    return model.eval()


def nhwc(x: np.ndarray) -> jax.Array:
    return jnp.asarray(x.transpose(0, 2, 3, 1))


def forward(model: nnx.Module, x: jax.Array) -> np.ndarray:
    """One jitted forward, in the functional form."""
    graphdef, state = nnx.split(model)
    return np.asarray(jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))(state, x))


def emitted_class(arch: Any, directory: Path) -> Any:
    path = directory / f"{arch.name}_flax.py"
    path.write_text(arch.source("flax"))
    module = import_file(path)
    return getattr(module, module.__all__[0])


def state_layout(model: nnx.Module) -> list[tuple[Any, ...]]:
    """Every parameter and statistic: its path, shape and dtype, in order."""
    return [
        (path, variable.get_value().shape, variable.get_value().dtype)
        for path, variable in nnx.to_flat_state(flax_nnx.weights_and_statistics(model))
    ]


def program(model: nnx.Module, shape: tuple[int, ...]) -> str:
    """The XLA program of the model's eval-mode forward, lowered (not compiled)."""
    model.eval()
    graphdef, state = nnx.split(model)
    x = jax.ShapeDtypeStruct((1, *shape[1:], shape[0]), jnp.float32)
    lowered = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x)).lower(state, x)
    return lowered.as_text(debug_info=False)


def emitted_abstract(arch: Any, directory: Path) -> tuple[Any, nnx.Module]:
    """The emitted module's class, imported, and its model with shapes only."""
    cls = emitted_class(arch, directory)
    return cls, nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0)))


def emitted_with_weights(arch: Any, directory: Path, weights: Any) -> nnx.Module:
    """The emitted module's model, holding ``weights`` (a torch state_dict)."""
    cls, model = emitted_abstract(arch, directory)
    flax_nnx.load_weights(model, arch.network, weights, construct=lambda: cls(rngs=nnx.Rngs(0)))
    return model
