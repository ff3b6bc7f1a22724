"""Where each IR module lives in a Flax NNX model: attribute names and state paths.

Framework-free, so that weight conversion can use it without importing jax. The in-memory
build (``flax_nnx``) and the emitted source (``flax_emit``) both follow these rules, which
makes a torch state_dict key and a flax state path a deterministic function of the IR path:

- a child of the network or of a block is an attribute named after it: the IR name itself
  (``conv1``, ``layer2``, ``downsample``), which ``archspec.names`` keeps clear of keywords,
  of ``nnx.Module``'s attributes and of leading underscores; a numbered item gets a leading
  underscore (``0`` -> ``_0``);
- a sequence whose children are named ``0 .. n-1`` (a stage, an unnamed group, a
  projection shortcut) is an ``nnx.Sequential``: child ``i`` lives at ``('layers', i)``;
- any other sequence is a ``NamedSequential`` (an ``nnx.Dict`` of its children, in order):
  child ``name`` lives at ``('layers', name)``.

So ``layer1.0.conv1`` is ``('layer1', 'layers', 0, 'conv1')`` and
``layer2.0.downsample.0`` is ``('layer2', 'layers', 0, 'downsample', 'layers', 0)``.
"""

from __future__ import annotations

from archspec import ir
from archspec.codegen.escape import identifier

FlaxPath = tuple[str | int, ...]


def attribute_name(name: str) -> str:
    """The Python attribute that holds the child ``name`` of a network or block."""
    return identifier(f"_{name}" if name.isascii() and name.isdecimal() else name)


def is_numbered(sequence: ir.Sequence) -> bool:
    """True when the children are named 0 .. n-1, so an ``nnx.Sequential`` can hold them."""
    return [child.name for child in sequence.children] == [
        str(i) for i in range(len(sequence.children))
    ]


def child_segments(parent: ir.Network | ir.Module, index: int, child: ir.Module) -> FlaxPath:
    """The state-path segments from ``parent`` to its ``index``-th child."""
    if isinstance(parent, ir.Sequence):
        return ("layers", index) if is_numbered(parent) else ("layers", child.name)
    return (attribute_name(child.name),)


def flax_paths(network: ir.Network) -> dict[str, FlaxPath]:
    """The flax state path of every module in the network, by IR path."""
    table: dict[str, FlaxPath] = {}

    def visit(parent: ir.Network | ir.Module, prefix: FlaxPath) -> None:
        for index, child in enumerate(ir.children_of(parent)):
            path = prefix + child_segments(parent, index, child)
            table[child.path] = path
            visit(child, path)

    visit(network, ())
    return table
