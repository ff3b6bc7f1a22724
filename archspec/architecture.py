"""Architecture: a compiled spec, the IR and everything analysed from it, lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from archspec import ir
from archspec.analysis.cost import count, count_all
from archspec.counts import Counts


@dataclass(frozen=True)
class LayerRow:
    """One line of the per-layer table."""

    path: str
    op: str
    output: ir.Shape
    counts: Counts


@dataclass(frozen=True)
class Architecture:
    """A compiled spec: the resolved IR and everything analysed from it."""

    network: ir.Network
    arguments: dict[str, ir.Scalar] = field(default_factory=dict)

    @cached_property
    def counts_by_path(self) -> dict[str, Counts]:
        """Counts for every module path; '' is the whole network."""
        return count_all(self.network)

    @cached_property
    def counts(self) -> Counts:
        """Totals for the network (cheaper than the per-path table)."""
        return count(self.network)

    @property
    def name(self) -> str:
        return self.network.name

    def rows(self) -> list[LayerRow]:
        """The per-layer table, in execution order."""
        table = self.counts_by_path
        return [
            LayerRow(path, layer.op.NAME, layer.output, table[path])
            for path, layer in ir.layers(self.network)
        ]

    def stage_counts(self) -> dict[str, Counts]:
        return {name: self.counts_by_path[name] for name, _ in self.network.stages()}

    def to_torch(self) -> Any:
        """An ``nn.Module`` built in memory (needs the torch extra)."""
        from archspec.backends import load_backend

        return load_backend("torch").build(self.network)

    def to_flax(self, **options: Any) -> Any:
        """An ``nnx.Module`` built in memory (needs the flax extra)."""
        from archspec.backends import load_backend

        return load_backend("flax").build(self.network, **options)

    def graph(self, detail: str = "layers") -> Any:
        """The network as a ``graphviz.Digraph`` (needs the graph extra)."""
        from archspec.analysis.graph import render_graph

        return render_graph(self, detail=detail)

    def summary(self) -> str:
        """A torchinfo-like table: path, op, output shape, params, mult-adds, totals."""
        from archspec.analysis.summary import summary_table

        return summary_table(self)

    def source(self, backend: str) -> str:
        """The standalone module a backend emits for this network."""
        from archspec.backends import load_backend

        return str(load_backend(backend).emit_source(self.network, self.counts))
