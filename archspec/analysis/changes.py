"""What changed between two modules, in words: ``plain => basic; shortcut none => identity``.

A block is compared part by part (type, arguments, shortcut, the shortcut's layers, the
main path); any other module by its description, its layers and its output shape. Layer
lists are compared as edit scripts (``+relu``, ``conv 3x3 => conv 1x1``) with difflib.
"""

from __future__ import annotations

import difflib

from archspec import ir
from archspec.analysis.summary import describe_module
from archspec.ops.base import describe as describe_shape


def differences(a: ir.Node, b: ir.Node) -> list[str]:
    """What changed from ``a`` to ``b``, each a short phrase; none when they are alike."""
    if isinstance(a, ir.Group) and isinstance(b, ir.Group) and a.definition and b.definition:
        return _block_differences(a, b)
    found = []
    if describe_module(a) != describe_module(b):
        found.append(f"{describe_module(a)} => {describe_module(b)}")
    if not isinstance(a, ir.Layer) or not isinstance(b, ir.Layer):
        found += _layer_differences(_OPS.visit(a), _OPS.visit(b))
    if a.output != b.output:
        found.append(f"output {describe_shape(a.output)} => {describe_shape(b.output)}")
    return found


def _block_differences(a: ir.Group, b: ir.Group) -> list[str]:
    found = []
    if a.definition != b.definition:
        found.append(f"{a.definition} => {b.definition}")
    arguments_b = dict(b.arguments)
    found += [
        f"{key} {value} => {arguments_b[key]}"
        for key, value in a.arguments
        if key in arguments_b and arguments_b[key] != value
    ]
    kind_a, kind_b = _shortcut_kind(a), _shortcut_kind(b)
    if kind_a != kind_b:
        found.append(f"shortcut {kind_a} => {kind_b}")
    found += _downsample_difference(_downsample(a), _downsample(b))
    found += _layer_differences(_main_path(a), _main_path(b))
    if a.output != b.output:
        found.append(f"output {describe_shape(a.output)} => {describe_shape(b.output)}")
    return found


def _residuals(block: ir.Group) -> list[ir.Parallel]:
    """The block's residual additions: its steps that add the paper's shortcut."""
    return [s for s in block.flow.steps if isinstance(s, ir.Parallel) and s.shortcut]


def _shortcut_kind(block: ir.Group) -> str:
    return ", ".join(str(p.shortcut) for p in _residuals(block)) or "none"


def _downsample(block: ir.Group) -> list[str]:
    """The layers of the block's shortcuts (none for an identity), described."""
    return [op for p in _residuals(block) for op in _OPS.visit(p.branches[-1])]


def _downsample_difference(a: list[str], b: list[str]) -> list[str]:
    text_a, text_b = "; ".join(a), "; ".join(b)
    if text_a == text_b:
        return []
    if not text_a:
        return [f"adds downsample ({text_b})"]
    if not text_b:
        return [f"drops downsample ({text_a})"]
    return [f"downsample ({text_a}) => ({text_b})"]


def _main_path(block: ir.Group) -> list[str]:
    """The block's flow without its shortcuts: the residual branch, then what follows."""
    found: list[str] = []
    for step in block.flow.steps:
        if isinstance(step, ir.Parallel) and step.shortcut:
            found += [op for branch in step.branches[:-1] for op in _OPS.visit(branch)]
        else:
            found += _OPS.visit(step)
    return found


class _Ops(ir.Visitor[list[str]]):
    """A flow as the list that is compared: its layers, described, in flow order.

    Branches that join are one entry, ``mul(identity | global avgpool; conv 1x1, 64->4)``,
    so adding or changing them reads as one edit; a residual addition's branches are
    listed as they are, as the block's shortcut is compared on its own.
    """

    def layer(self, node: ir.Layer) -> list[str]:
        return [node.op.label()]

    def group(self, node: ir.Group) -> list[str]:
        return self.visit(node.flow)

    def chain(self, node: ir.Chain) -> list[str]:
        return [op for step in node.steps for op in self.visit(step)]

    def parallel(self, node: ir.Parallel) -> list[str]:
        branches = [self.visit(branch) for branch in node.branches]
        if node.shortcut is not None:
            return [op for ops in branches for op in ops]
        inside = " | ".join("; ".join(ops) or "identity" for ops in branches)
        return [f"{node.combine}({inside})"]


_OPS = _Ops()


def _layer_differences(a: list[str], b: list[str]) -> list[str]:
    """The edits that turn one list of layers into the other, e.g. ``+relu``."""
    found = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "; ".join(a[i1:i2]), "; ".join(b[j1:j2])
        if tag == "delete":
            found.append(f"-{removed}")
        elif tag == "insert":
            found.append(f"+{added}")
        elif tag == "replace":
            found.append(f"{removed} => {added}")
    return found
