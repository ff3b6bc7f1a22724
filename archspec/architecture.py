"""Architecture: a compiled spec, the IR and everything analysed from it, lazily."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec import ir
from archspec.analysis.cost import count, count_all
from archspec.counts import Counts

if TYPE_CHECKING:  # the frameworks stay unimported: `import archspec` loads none of them
    import graphviz
    import pandas
    from flax import nnx
    from torch import nn

    from archspec.codegen.knobs import Knob
    from archspec.memory import Memory
    from archspec.terms import Term


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


MAX_TRACED = 20_000
"""The most layers a network is lowered again on traced numbers for its keywords."""


@dataclass(frozen=True)
class Traced:
    """A spec lowered on traced numbers (``archspec.symbolic``): the network whose fields
    hold their expressions, the parameters a decision pinned, and the comparisons its
    structure was chosen by (each holds at the spec's values)."""

    network: ir.Network
    decided: frozenset[str]
    guards: tuple[Term, ...]
    counted: frozenset[str] = frozenset()
    """The parameters pinned by a run's count alone (``codegen.indexed``)."""
    counts: dict[str, Term] = field(default_factory=dict)
    """The term of each run's count, by the name it is written as (``symbolic.Trace``)."""

    def guarded(self, name: str) -> tuple[Term, ...]:
        return tuple(guard for guard in self.guards if name in guard.reads)


@dataclass(frozen=True)
class Architecture:
    """A compiled spec: the resolved IR and everything analysed from it."""

    network: ir.Network
    arguments: dict[str, ir.Scalar] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    """The files the spec was read from: itself and every spec it extends."""
    recompile: Callable[[dict[str, Any]], Architecture] | None = field(
        default=None, compare=False, repr=False
    )
    """Compiles the same spec text (and input override) with other parameters."""
    tracer: Callable[[dict[str, Any]], Traced | None] | None = field(
        default=None, compare=False, repr=False
    )
    """Lowers the same spec on traced numbers (``archspec.symbolic``)."""

    @cached_property
    def traced(self) -> Traced | None:
        """This network lowered on traced numbers (``tracer``), where that lowers: not
        past MAX_TRACED layers (a traced lowering shares no copies, so it is slower)."""
        layers = itertools.islice(ir.layers(self.network), MAX_TRACED + 1)
        if self.tracer is None or sum(1 for _ in layers) > MAX_TRACED:
            return None
        return self.tracer(self.arguments)

    @cached_property
    def traced_by_index(self) -> Traced | None:
        """``traced`` with each copy's index traced too (``symbolic.indexing``): what the
        copies compute from ``i`` reads it, and a decision on it is recorded
        (``codegen.indexed``); once, however many counts ask."""
        from archspec import symbolic

        if self.tracer is None or self.traced is None:
            return None
        with symbolic.indexing():
            return self.tracer(self.arguments)

    def with_parameters(self, /, **parameters: Any) -> Architecture:
        """The same spec compiled with these parameters changed: ``num_classes=10``.
        Raises SpecError as ``load`` does (an unknown name, a wrong type)."""
        if not parameters:
            return self
        if self.recompile is None:
            raise TypeError("this Architecture was not compiled from a spec")
        return self.recompile({**self.arguments, **parameters})

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
        return {name: self.counts_by_path[name] for name, _ in self.network.stages()}

    def to_torch(self, /, **parameters: Any) -> nn.Module:
        """An ``nn.Module`` built in memory (needs the torch extra), with spec parameters
        changed as keywords (``to_torch(num_classes=10)``). A network beyond the size
        limits, or larger than the machine's memory, is refused (SpecError) first."""
        from archspec.analysis.budget import allocation
        from archspec.backends import load_backend

        network = self.with_parameters(**parameters).network
        allocation(network)
        model: nn.Module = load_backend("torch").build(network)
        return model

    def to_flax(
        self,
        /,
        *,
        seed: int = 0,
        rngs: Any = None,
        weights: Mapping[Any, Any] | None = None,
        abstract: bool = False,
        **parameters: Any,
    ) -> nnx.Module:
        """An ``nnx.Module`` built in memory (needs the flax extra), with spec parameters
        as keywords, refused first as ``to_torch`` is; ``abstract=True`` allocates
        nothing and is not. ``weights``: a torch state_dict or flax arrays to load."""
        from archspec.analysis.budget import allocation, check_totals_of
        from archspec.backends import load_backend

        network = self.with_parameters(**parameters).network
        if abstract:
            check_totals_of(network)
        else:
            allocation(network)
        model: nnx.Module = load_backend("flax").build(
            network, seed=seed, rngs=rngs, weights=weights, abstract=abstract
        )
        return model

    def graph(self, detail: str = "layers") -> graphviz.Digraph:
        """The network as a ``graphviz.Digraph`` (needs the graph extra)."""
        from archspec.analysis.graph import render_graph

        return render_graph(self, detail=detail)

    def summary(self, depth: int | None = None, batch: int | None = None) -> str:
        """A torchinfo-like table: path, op, output shape, params, mult-adds, totals;
        modules below ``depth`` folded; with ``batch``, the memory estimate for it."""
        from archspec.analysis.summary import summary_table

        return summary_table(self, depth=depth, batch=batch)

    def __repr__(self) -> str:
        """One line: name, input, output, params, GFLOPs (not the whole IR)."""
        from archspec.notebook import one_line

        return one_line(self)

    def _repr_html_(self) -> str:
        """What Jupyter shows: the summary at block depth and the block-level graph."""
        from archspec.notebook import html

        return html(self)

    def knobs(self) -> tuple[Knob, ...]:
        """The spec parameters the emitted network class takes as keywords
        (``ResNet50(num_classes=10)``, ``ResNet20(n=18)``): see ``archspec.codegen.knobs``."""
        from archspec.codegen.computed import with_lone_copies
        from archspec.codegen.formulas import formula_knob
        from archspec.codegen.indexed import indexed_knobs, sharing_expressions
        from archspec.codegen.knobs import depth_knob, knob, probe_values, repeated_safely

        found = []
        counted: list[tuple[str, int | float]] = []  # depths read elsewhere, or computed
        traced = self.traced
        for name, value in self.arguments.items():
            compiled = (  # lazily: a probe is compiled only where the one before found none
                (probe, network)
                for probe in probe_values(value)
                if (network := self._probed(name, probe)) is not None
            )
            first = next(compiled, None)
            if first is None:  # a count computed from it is probed otherwise
                if traced and name in traced.counted and isinstance(value, int | float):
                    counted.append((name, value))
                continue
            assert isinstance(value, int | float)
            probe, probed = first
            decided = traced is not None and (name in traced.decided or traced.guarded(name))
            found_knob = None if decided else knob(name, value, probe, self.network, probed)
            if found_knob is None and type(value) is int and probe == value + 1:
                found_knob = depth_knob(name, value, self.network, probed)
            if found_knob is None and traced and name in traced.counted:
                counted.append((name, value))
                continue
            if found_knob is None and traced is not None and name not in traced.decided:
                # a computed width may need the next probe to change: c // 2 at 16 and 17
                for probe, probed in itertools.chain([first], compiled):
                    found_knob = formula_knob(name, value, probe, self.network, probed, traced)
                    if found_knob is not None:
                        break
            if found_knob is not None:
                found.append(found_knob)
        indexed = indexed_knobs(counted, self, self._compiled)  # their expressions joined
        indexed = with_lone_copies(indexed, found, self._compiled)
        found = [*sharing_expressions(found, indexed), *indexed]
        depths = tuple(k for k in found if k.groups)
        kept = tuple(k for k in found if k.groups or repeated_safely(k, self.network, depths))
        order = list(self.arguments)  # the spec's order, switches among the others
        return tuple(sorted(self._switches(kept), key=lambda k: order.index(k.name)))

    def _switches(self, knobs: tuple[Knob, ...]) -> tuple[Knob, ...]:
        """``knobs`` with the truth values that add layers, and the numbers one comparison
        of which does (``codegen.switches``, ``codegen.comparisons``). A width whose one
        check compares it alone (``check_structure(p > 0, p=p)``) becomes such a switch
        where it is one: the class then builds both sides of the comparison."""
        from archspec.codegen.comparisons import checked_alone, comparison_knob
        from archspec.codegen.switches import switch_knob

        found = {k.name: k for k in knobs}
        for name, value in self.arguments.items():
            if isinstance(value, str) or (name in found and not checked_alone(found[name])):
                continue
            others = tuple(k for k in knobs if k.name != name)
            if type(value) is not bool:
                switch = comparison_knob(name, value, self, others, self._compiled)
            elif (probed := self._compiled({name: not value})) is not None:
                switch = switch_knob(name, value, self, probed, others, self._compiled)
            else:
                switch = None
            if switch:
                found[name] = switch
        return tuple(found.values())

    def _probed(self, name: str, probe: ir.Scalar) -> ir.Network | None:
        """The network compiled with ``name`` at ``probe``; None where the spec refuses
        that value (a head count must divide the width: the next probe is tried)."""
        compiled = self._compiled({name: probe})
        return None if compiled is None else compiled.network

    def _compiled(self, parameters: dict[str, ir.Scalar]) -> Architecture | None:
        """The spec compiled with ``parameters`` changed; None where it refuses them."""
        from archspec.diagnostics import SpecError

        try:
            return self.with_parameters(**parameters)
        except SpecError:
            return None

    def source(self, backend: str) -> str:
        """The standalone module a backend emits for this network (within the limits)."""
        from archspec.analysis.budget import check_totals_of
        from archspec.backends import load_backend

        check_totals_of(self.network)
        return str(load_backend(backend).emit_source(self.network, self.counts, self.knobs()))
