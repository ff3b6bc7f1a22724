"""Shared helpers for the Flax tests: the emitted module next to the in-memory build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from torch_helpers import calibrate_batch_norms, import_file

from archspec.backends.nnx import builder as flax_nnx


def calibrated_torch(arch: Any) -> Any:
    """The torch model of ``arch``, calibrated (``torch_helpers.calibrate_batch_norms``)."""
    import torch

    torch.manual_seed(0)
    return calibrate_batch_norms(arch.to_torch(), arch.network.input)


def nhwc(x: np.ndarray) -> jax.Array:
    return jnp.asarray(x.transpose(0, 2, 3, 1))


QUICK_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
"""XLA options for a forward run once: DenseNet-121's compiles in 8 s instead of 20."""


def forward(model: nnx.Module, x: jax.Array, quick: bool = False) -> np.ndarray:
    """One jitted forward, in the functional form; ``quick``: compiled unoptimised."""
    graphdef, state = nnx.split(model)
    jitted = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))
    if quick:
        return np.asarray(jitted.lower(state, x).compile(QUICK_COMPILE)(state, x))
    return np.asarray(jitted(state, x))


def emitted_class(arch: Any, directory: Path) -> Any:
    path = directory / f"{arch.name}_flax.py"
    path.write_text(arch.source("flax"))
    module = import_file(path)
    return getattr(module, module.__all__[0])


def output_shapes(
    arch: Any, directory: Path, shape: tuple[int, ...], **keywords: Any
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The output shapes, on zeros of the NHWC ``shape``, of the emitted class and of
    ``to_flax``, both given the same spec parameters as keywords."""
    emitted = emitted_class(arch, directory)(**keywords, rngs=nnx.Rngs(0))
    built = arch.to_flax(**keywords)
    emitted.eval()
    built.eval()
    x = jnp.zeros(shape)
    return emitted(x).shape, built(x).shape


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


def assert_emitted_builds_as_spec(cls: Any, arch: Any, **keywords: Any) -> None:
    """The emitted class ``cls`` built with ``keywords`` is ``arch`` (the spec compiled
    with them): the same state layout and, holding the same calibrated weights, exactly
    the same outputs on a batch of two."""
    weights = calibrated_torch(arch).state_dict()
    built = arch.to_flax(weights=weights)
    construct = lambda: cls(**keywords, rngs=nnx.Rngs(0))  # noqa: E731
    emitted = nnx.eval_shape(construct)
    flax_nnx.load_weights(emitted, arch.network, weights, construct=construct)
    assert state_layout(emitted) == state_layout(built)
    built.eval()
    emitted.eval()
    channels, height, width = arch.network.input
    x = np.random.default_rng(0).standard_normal((2, height, width, channels), dtype=np.float32)
    expected = forward(built, x, quick=True)
    assert np.array_equal(forward(emitted, x, quick=True), expected)
    assert 0.01 < np.abs(expected).max() < 10  # calibrated, and not vacuous
