"""Where each IR module lives in a Flax NNX model: attribute names and state paths.

Framework-free, so that weight conversion can use it without importing jax. The in-memory
build and the emitted source both follow these rules, which makes a torch state_dict key
and a flax state path a deterministic function of the IR path:

- a member of the network or of a class (a block, a group with branches) is an attribute
  named after it: the IR name itself when it is a Python identifier (``conv1``,
  ``layer2``, ``downsample``); a keyword or a name that ``nnx.Module`` already uses gets a
  trailing underscore (``train_``); a numbered member a leading one (``0`` -> ``_0``),
  and so does a name with a hyphen, its ``_`` doubled and ``-`` as ``_d``
  (``block1-0`` -> ``_block1_d0``), so that no two names meet;
- a plain group (a stage, a named group, a projection shortcut) whose members are named
  ``0 .. n-1`` is an ``nnx.Sequential``: member ``i`` lives at ``('layers', i)``;
- any other plain group is a ``NamedSequential`` (an ``nnx.Dict`` of its members, in
  order): member ``name`` lives at ``('layers', name)``.

So ``layer1.0.conv1`` is ``('layer1', 'layers', 0, 'conv1')`` and
``layer2.0.downsample.0`` is ``('layer2', 'layers', 0, 'downsample', 'layers', 0)``.
"""

from __future__ import annotations

import keyword

from archspec import ir
from archspec.codegen.classes import is_class, numbered

FlaxPath = tuple[str | int, ...]

MODULE_ATTRIBUTES = frozenset(
    {"eval", "iter_children", "iter_modules", "perturb", "set_attributes", "sow", "train"}
)
"""Public names of ``nnx.Module`` (flax 0.12) that a child must not shadow."""


def attribute_name(name: str) -> str:
    """The Python attribute that holds the member ``name`` of a network or class."""
    if name.isdecimal():
        return f"_{name}"
    if not name.isidentifier():  # "block1-0": '_' doubled, '-' as '_d', so no two collide
        return "_" + name.replace("_", "__").replace("-", "_d")
    if keyword.iskeyword(name) or name in MODULE_ATTRIBUTES:
        return f"{name}_"
    return name


def member_segments(parent: ir.Network | ir.Node, index: int, member: ir.Member) -> FlaxPath:
    """The state-path segments from ``parent`` to its ``index``-th member."""
    if isinstance(parent, ir.Group) and not is_class(parent):
        return ("layers", index) if numbered(parent) else ("layers", member.name)
    return (attribute_name(member.name),)


def flax_paths(network: ir.Network) -> dict[str, FlaxPath]:
    """The flax state path of every module in the network, by IR path."""
    table: dict[str, FlaxPath] = {}

    def visit(parent: ir.Network | ir.Node, path: str, prefix: FlaxPath) -> None:
        for index, member in enumerate(ir.children(parent)):
            here = f"{path}.{member.name}" if path else member.name
            table[here] = prefix + member_segments(parent, index, member)
            visit(member.node, here, table[here])

    visit(network, "", ())
    return table
