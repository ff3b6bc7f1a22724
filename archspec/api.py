"""The front door: ``archspec.load`` and the compiled Architecture it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec import ir
from archspec.cost import Counts, count, count_all

if TYPE_CHECKING:  # the frameworks stay unimported: `import archspec` loads none of them
    import graphviz
    import pandas
    from flax import nnx
    from torch import nn

    from archspec.memory import Memory


@dataclass(frozen=True)
class LayerRow:
    """One line of the per-layer table."""

    path: str
    op: str
    output: ir.Shape
    counts: Counts

    def as_dict(self) -> dict[str, Any]:
        """Plain data: path, op, output shape and every count (a record for pandas or JSON)."""
        counts = self.counts
        return {
            "path": self.path,
            "op": self.op,
            "output": self.output,
            "params": counts.params,
            "macs": counts.macs,
            "activations": counts.activations,
            "fvcore": counts.fvcore,
        }


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
        return [
            LayerRow(layer.path, layer.op.op, layer.output, self.counts_by_path[layer.path])
            for layer in ir.layers(self.network)
        ]

    def to_pandas(self) -> pandas.DataFrame:
        """The per-layer table as a DataFrame, one row per layer (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ModuleNotFoundError(
                "Architecture.to_pandas() needs pandas, which is not installed: pip install pandas",
                name="pandas",
            ) from None
        return pandas.DataFrame.from_records([row.as_dict() for row in self.rows()])

    def memory(self, batch: int = 1, bytes_per_element: int = 4) -> Memory:
        """Bytes a training step needs for ``batch`` samples: input, parameters,
        activations forward and backward (see archspec.memory for the conventions)."""
        from archspec.memory import estimate

        return estimate(self, batch, bytes_per_element)

    def stage_counts(self) -> dict[str, Counts]:
        return {stage.path: self.counts_by_path[stage.path] for stage in self.network.stages()}

    def to_torch(self) -> nn.Module:
        """An ``nn.Module`` built in memory (needs the torch extra)."""
        from archspec.backends import load_backend

        model: nn.Module = load_backend("torch").build(self.network)
        return model

    def to_flax(self, **options: Any) -> nnx.Module:
        """An ``nnx.Module`` built in memory (needs the flax extra)."""
        from archspec.backends import load_backend

        model: nnx.Module = load_backend("flax").build(self.network, **options)
        return model

    def graph(self, detail: str = "layers") -> graphviz.Digraph:
        """The network as a ``graphviz.Digraph`` (needs the graph extra)."""
        from archspec.graph import render_graph

        return render_graph(self, detail=detail)

    def summary(self, depth: int | None = None, batch: int | None = None) -> str:
        """A torchinfo-like table: path, op, output shape, params, mult-adds, totals;
        modules below ``depth`` folded; with ``batch``, the memory estimate for it."""
        from archspec.summary import summary_table

        return summary_table(self, depth=depth, batch=batch)

    def __repr__(self) -> str:
        """One line: name, input, output, params, GFLOPs (not the whole IR)."""
        from archspec.notebook import one_line

        return one_line(self)

    def _repr_html_(self) -> str:
        """What Jupyter shows: the summary at block depth and the block-level graph."""
        from archspec.notebook import html

        return html(self)

    def source(self, backend: str) -> str:
        """The standalone module a backend emits for this network."""
        from archspec.backends import load_backend

        return str(load_backend(backend).emit_source(self.network, self.counts))


def load(spec: str | Path, *, input: str | None = None, **parameters: Any) -> Architecture:
    """Compile a spec file (YAML or .arch) or spec text, with parameter overrides.

    Raises ``SpecError`` (with every located diagnostic) if the spec is wrong.
    """
    from archspec.compiler import compile_spec

    return compile_spec(spec, parameters=parameters, input=input)


def loads(text: str, *, input: str | None = None, **parameters: Any) -> Architecture:
    """Compile spec text (YAML or the .arch form), with parameter overrides.

    Unlike ``load``, the argument is never taken for a path. Raises ``SpecError``.
    """
    from archspec.compiler import compile_text

    return compile_text(text, parameters=parameters, input=input)
