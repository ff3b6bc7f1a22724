"""Analytic counts: each op's own rule (``Op.cost``), summed once over the IR.

Nodes are shared where a network repeats itself (a deep stage is one block many times),
and between the networks of a sweep (lowering reuses the blocks it built before), so a
node's total is computed once and reused at every place it stands.
"""

from __future__ import annotations

from archspec import ir
from archspec.counts import Counts

KNOWN: dict[int, tuple[object, Counts]] = {}
"""Totals of the nodes counted so far, by identity: a node is immutable, and the entry
keeps it alive so that its id stays its own. Cleared past MAX_KNOWN entries."""
MAX_KNOWN = 1 << 13


class _Totals(ir.Visitor[Counts]):
    """Totals per node, memoised by identity: shared nodes are counted once."""

    def __init__(self) -> None:
        if len(KNOWN) > MAX_KNOWN:
            KNOWN.clear()
        self.memo = KNOWN

    def total(self, node: ir.Node) -> Counts:
        found = self.memo.get(id(node))
        if found is not None:
            return found[1]
        counts = self.visit(node)
        self.memo[id(node)] = (node, counts)  # keeps the node alive: ids stay unique
        return counts

    def layer(self, node: ir.Layer) -> Counts:
        return node.op.cost(node.input, node.output)

    def group(self, node: ir.Group) -> Counts:
        return self.visit(node.flow)

    def chain(self, node: ir.Chain) -> Counts:
        # A step repeated (`relu x 60000`, a stage's blocks) is one node many times:
        # counted once, then multiplied.
        times: dict[int, int] = {}
        steps: dict[int, ir.Step] = {}
        for step in node.steps:
            key = id(step.node) if isinstance(step, ir.Member) else id(step)
            times[key] = times.get(key, 0) + 1
            steps.setdefault(key, step)
        return Counts.weighted((self.visit(step), times[key]) for key, step in steps.items())

    def parallel(self, node: ir.Parallel) -> Counts:
        # Combining branches (an addition, a product, a concatenation) counts no
        # multiply-adds in the paper's convention, and fvcore counts none either.
        return Counts.weighted((self.visit(branch), 1) for branch in node.branches)

    def member(self, node: ir.Member) -> Counts:
        return self.total(node.node)


def count(root: ir.Node | ir.Network) -> Counts:
    """Totals for any subtree."""
    totals = _Totals()
    return totals.visit(root.flow) if isinstance(root, ir.Network) else totals.total(root)


def count_all(network: ir.Network) -> dict[str, Counts]:
    """Counts for every module path (layers, blocks, stages) and '' for the whole network."""
    totals = _Totals()
    table = {place.path: totals.total(place.node) for place in ir.walk(network)}
    table[""] = totals.visit(network.flow)
    return table
