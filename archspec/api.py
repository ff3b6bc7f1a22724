"""The front door: ``archspec.load`` and the compiled Architecture it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from archspec import ir
from archspec.cost import Counts, count, count_all
from archspec.source import Source


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
    files: tuple[Path, ...] = ()
    """The files the spec was read from: itself and every spec it extends."""

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
        return [
            LayerRow(layer.path, layer.op.op, layer.output, self.counts_by_path[layer.path])
            for layer in ir.layers(self.network)
        ]

    def stage_counts(self) -> dict[str, Counts]:
        return {stage.path: self.counts_by_path[stage.path] for stage in self.network.stages()}

    def to_torch(self) -> Any:
        """An ``nn.Module`` built in memory (needs the torch extra). A network beyond the
        size limits, or larger than the machine's memory, is refused (SpecError) first."""
        from archspec.backends import load_backend
        from archspec.budget import allocation

        allocation(self.network)
        return load_backend("torch").build(self.network)

    def to_flax(self, **options: Any) -> Any:
        """An ``nnx.Module`` built in memory (needs the flax extra), refused first as
        ``to_torch`` is; ``abstract=True`` allocates nothing and is not."""
        from archspec.backends import load_backend
        from archspec.budget import allocation, check_totals_of

        if options.get("abstract"):
            check_totals_of(self.network)
        else:
            allocation(self.network)
        return load_backend("flax").build(self.network, **options)

    def graph(self, detail: str = "layers") -> Any:
        """The network as a ``graphviz.Digraph`` (needs the graph extra)."""
        from archspec.graph import render_graph

        return render_graph(self, detail=detail)

    def summary(self) -> str:
        """A torchinfo-like table: path, op, output shape, params, mult-adds, totals."""
        from archspec.summary import summary_table

        return summary_table(self)

    def source(self, backend: str) -> str:
        """The standalone module a backend emits for this network (within the limits)."""
        from archspec.backends import load_backend
        from archspec.budget import check_totals_of

        check_totals_of(self.network)
        return str(load_backend(backend).emit_source(self.network, self.counts))


def load(spec: str | Path | Source, *, input: str | None = None, **parameters: Any) -> Architecture:
    """Compile a spec file (a Path, or a one-line str ending in .yaml, .yml or .arch),
    spec text (YAML or .arch), or a Source, with parameter overrides.

    Raises ``SpecError`` (with every located diagnostic) if the spec is wrong.
    """
    from archspec.compiler import compile_spec

    return compile_spec(spec, parameters=parameters, input=input)
