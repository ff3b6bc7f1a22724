"""Save and restore a Flax NNX model (and optionally its optimizer) with orbax-checkpoint.

A checkpoint is a directory holding ``model``: every parameter and batch statistic
(dropout's random streams are not saved: a restored model draws afresh), and, if given,
``optimizer``: the step count and optax state. Restoring fills a target in place; the
target may be abstract (``build(network, abstract=True)``), so no random init is spent.
Orbax writes into a temporary directory and renames it, so a checkpoint is never half
written; it saves asynchronously, and these functions wait for it to finish.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from archspec.backends.nnx.builder import weights_and_statistics


def _tree(model: nnx.Module, optimizer: nnx.Optimizer[Any] | None) -> dict[str, Any]:
    tree: dict[str, Any] = {"model": weights_and_statistics(model)}
    if optimizer is not None:
        tree["optimizer"] = nnx.state(optimizer, nnx.OptState)
    return tree


def save(
    directory: str | Path,
    model: nnx.Module,
    optimizer: nnx.Optimizer[Any] | None = None,
    *,
    force: bool = False,
) -> Path:
    """Write a checkpoint; ``force`` replaces an existing one. Returns its absolute path."""
    path = Path(directory).absolute()
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, _tree(model, optimizer), force=force)
    checkpointer.wait_until_finished()
    return path


def restore(
    directory: str | Path, model: nnx.Module, optimizer: nnx.Optimizer[Any] | None = None
) -> None:
    """Fill ``model`` (and ``optimizer``) in place from a checkpoint written by ``save``."""
    target = jax.tree.map(_abstract, _tree(model, optimizer))
    restored = ocp.StandardCheckpointer().restore(Path(directory).absolute(), target)
    nnx.update(model, restored["model"])
    if optimizer is not None:
        nnx.update(optimizer, restored["optimizer"])


def _abstract(leaf: Any) -> Any:
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return leaf
    return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype)  # type: ignore[no-untyped-call]
