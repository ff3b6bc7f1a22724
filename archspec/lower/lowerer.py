"""Lowering sequences: items -> named members and branches of a namespace, shapes inferred.

The loop carries the current shape explicitly (None once an error made it unknown, so one
mistake is reported once and independent mistakes are all reported). Blocks, branches and
shortcuts are lowered in ``archspec.lower.blocks``; the paper's shortcut rules are decided
in ``archspec.lower.shortcuts`` alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from archspec import ir, symbolic
from archspec.diagnostics import Collector, ErrorKey, did_you_mean
from archspec.frontend import syntax as s
from archspec.lower.arguments import Scope
from archspec.lower.blocks import lower_block, lower_branches
from archspec.lower.context import (
    MAX_LAYERS,
    MAX_REPEAT,
    Abort,
    Entry,
    Namespace,
    Shape,
    Unkept,
)
from archspec.lower.copies import copy_names, copy_scopes, expand, repeat
from archspec.lower.evaluate import EvalProblem, describe, evaluate
from archspec.lower.layers import layer_value, lower_layer
from archspec.lower.names import refused_module_name
from archspec.ops import language_ops
from archspec.source import Span

BlockKey = tuple[object, ...]
"""A block build's inputs: (definition, arguments, input shape, shortcut option, site)."""
BuiltBlock = tuple[ir.Group, int, frozenset[str]]
"""A block built once: its group, the layers it holds (charged at every use) and the
definitions its build instantiated (marked at every use, for ``unused``)."""


class Lowerer:
    def __init__(
        self,
        definitions: dict[str, s.Definition],
        report: Collector,
        stdlib_file: str,
        built_blocks: Mapping[BlockKey, BuiltBlock] | None = None,
        tracing: bool = False,
    ) -> None:
        self.definitions = definitions
        self.report = report
        self.stdlib_file = stdlib_file
        self.layers_left = MAX_LAYERS
        self.active: list[str] = []
        self.ops = language_ops()
        self.layers = frozenset(self.ops) | {
            name for name, d in definitions.items() if isinstance(d, s.BlockDef)
        }
        """What an expression may take as a layer value (``act=silu``)."""
        self.memo: Callable[[], dict[Any, Any]] = Unkept if tracing else dict
        """The caches of copies lowered once: none when tracing (``archspec.symbolic``), where
        equal numbers may hold different terms and a key must not decide on one."""
        self.built_blocks: dict[BlockKey, BuiltBlock] = self.memo()
        if not tracing:
            self.built_blocks.update(built_blocks or {})
        """Each distinct block, built once; ``built_blocks`` gives those of earlier compiles
        of the same syntax tree (a build is a function of its key alone)."""
        self.built_calls: dict[tuple[object, ...], tuple[BuiltBlock, Scope]] = self.memo()
        """The same, keyed by the call itself, to skip binding its arguments again."""
        self.built_layers: dict[tuple[object, ...], tuple[ir.Layer, s.Call, Scope]] = self.memo()
        """Each distinct layer call, built once."""
        self.instantiated: set[str] = set()
        """Definitions lowering used; ``unused`` checks the others."""
        self.building: list[set[str]] = []
        """For each block being built (innermost last), the definitions it instantiates."""
        self.hints: dict[str, str] = {}
        """'Did you mean' per unknown name: `foo x 100000` is one mistake, looked up once."""
        self.site: Span | None = None
        """The user's own call being lowered: errors inside the standard library point there."""
        self.top_scope: Scope | None = None
        """The network's own scope (parameters and ``let``s), not a block's."""
        self.sole_depths: frozenset[str] = frozenset()
        """The parameters that are only repeat counts there (``lower.keywords``)."""
        self.counted_depths: frozenset[str] = frozenset()
        """Those, counts arguments read, ``let``s written as counts (``lower.keywords``)."""

    def sole_depth(self, item: s.Item, scope: Scope, copies: list[Scope]) -> tuple[str, bool]:
        """The parameter ``item``'s count is written as where the copies may become a
        keyword's repeat (``ir.Repeat``), a counted depth of the network's own scope, and
        whether every copy is alike but for its input (a sole depth, none reads ``i``)."""
        name = self.counts_run(item.repeat, scope)
        return name, bool(name) and name in self.sole_depths and copies[0] is scope

    def counts_run(self, count: s.Expr | None, scope: Scope) -> str:
        """``count``'s name where it is a counted depth in the network's own scope."""
        name = count.name if isinstance(count, s.Name) else ""
        return name if name in self.counted_depths and scope is self.top_scope else ""

    def instantiate(self, name: str) -> None:
        """Marks a definition used, by the network and by every block being built."""
        self.instantiated.add(name)
        for used in self.building:
            used.add(name)

    def reuse(self, built: BuiltBlock, span: Span | None) -> ir.Group:
        """A block built before, used again: its layers charged, its definitions marked."""
        self.spend(built[1], span)
        for name in built[2]:
            self.instantiate(name)
        return built[0]

    def spend(self, layers: int, span: Span | None) -> None:
        """Charge layers against the size limit; past it, stop lowering."""
        self.layers_left -= layers
        if self.layers_left < 0:
            self.error("E313", f"the network has more than {MAX_LAYERS:,} layers", span)
            raise Abort

    # ---- diagnostics ----
    def visible(self, span: Span | None) -> Span | None:
        """Spans inside the standard library point at the user's call instead."""
        if span is not None and span.file != self.stdlib_file:
            return span
        return self.site

    def error(
        self, code: str, message: str, span: Span | None, help: str = "", label: str = ""
    ) -> None:
        self.report.error(code, message, self.visible(span), label=label, help=help)

    def value(self, expr: s.Expr, scope: Scope) -> s.Value | None:
        try:
            return evaluate(expr, scope, self.layers)
        except EvalProblem as problem:
            self.error(problem.code, problem.message, problem.span, problem.help)
            return None

    def count(self, expr: s.Expr, scope: Scope, what: str, maximum: int = MAX_REPEAT) -> int | None:
        value = self.value(expr, scope)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.error("E303", f"{what} must be a whole number, found {describe(value)}", expr.span)
            return None
        number = symbolic.pinned(value, self.counts_run(expr, scope))  # made for this count
        if number < 1:
            self.error("E312", f"{what} must be at least 1, found {number}", expr.span)
            return None
        if number > maximum:
            self.error(
                "E313", f"{what} {number} is absurdly large (the limit is {maximum:,})", expr.span
            )
            return None
        return number

    # ---- sequences ----
    def is_layer(self, target: s.Call | s.Group | s.Branches, scope: Scope) -> bool:
        """True when ``target`` lowers to exactly one layer (a call of a built-in op)."""
        return isinstance(target, s.Call) and target.name in self.ops and target.name not in scope

    def holds(self, condition: s.Expr, scope: Scope) -> bool:
        keep = self.value(condition, scope)
        if keep is not None and not isinstance(keep, bool):
            self.error(
                "E303",
                f"a condition must be true or false, found {describe(keep)}",
                condition.span,
            )
            return False
        return keep is True

    def lower_items(
        self, items: tuple[s.Item, ...], scope: Scope, shape: Shape, ns: Namespace, option: str
    ) -> tuple[list[ir.Step], Shape]:
        return self.lower_entries(expand(self, items, scope), shape, ns, option)

    def lower_entries(
        self, entries: list[Entry], shape: Shape, ns: Namespace, option: str
    ) -> tuple[list[ir.Step], Shape]:
        steps: list[ir.Step] = []
        # Unnamed copies are lowered once for each input shape: a layer is then shared and
        # a mistake reported again, and a run of identical copies that keeps its shape
        # (`relu x 60000`, `foo x 100000`) is added at once, so size limits stay cheap.
        layers: dict[tuple[int, int, Shape], ir.Member] = self.memo()
        failed: dict[tuple[int, int, Shape], list[ErrorKey]] = self.memo()
        position = 0
        while position < len(entries):
            entry = entries[position]
            if entry.run is not None:  # a first entry of its own: never inside a run
                ns.runs.append(dataclasses.replace(entry.run, first=len(steps)))
            plain = entry.name is None and entry.stride is None and entry.times == 1
            key = (id(entry.target), id(entry.scope), shape)
            known = layers.get(key) if plain else None
            if known is not None or (plain and key in failed):
                run = same_run(entries, position)
                if known is None:
                    ns.index += run
                    self.report.repeat(failed[key], run)
                elif known.node.output == shape:
                    steps += self.more_copies(known, entry, ns, run)
                else:
                    run = 1
                    steps += self.more_copies(known, entry, ns, run)
                    shape = known.node.output
                position += run
                continue
            mark = len(self.report.log)
            step, shape = self.lower_entry(entry, shape, ns, option)
            if plain and isinstance(step, ir.Member) and isinstance(step.node, ir.Layer):
                layers[key] = step
            elif plain and step is None and shape is None:
                failed[key] = self.report.since(mark)
            if step is not None:
                steps.append(step)
            position += 1
        return steps, shape

    def more_copies(
        self, member: ir.Member, entry: Entry, ns: Namespace, count: int
    ) -> list[ir.Member]:
        """The shared layer ``count`` times more, at the next positions: what
        ``lower_entry`` gives through the layer cache, without its cost."""
        names = [str(ns.index + k) for k in range(count)]
        if not ns.used.isdisjoint(names):  # a position some item took as its name
            copies = [self.claim(entry, ns) for _ in range(count)]
            names = [name for name in copies if name is not None]
        else:
            ns.index += count
            ns.used.update(names)
        self.spend(len(names), entry.item.span)
        return [ir.Member(name, member.node) for name in names]

    def lower_entry(
        self, entry: Entry, shape: Shape, ns: Namespace, option: str
    ) -> tuple[ir.Step | None, Shape]:
        if isinstance(entry.target, s.Branches) and entry.name is None:
            return lower_branches(self, entry.target, entry.scope, shape, ns, option)
        local = self.claim(entry, ns)
        if local is None:
            return None, None
        path = ns.child(local)
        node: ir.Node | None
        if entry.times > 1 or entry.item.repeat is not None and entry.name:
            node, shape_out = self.lower_copies(entry, shape, path, option)
        else:
            node, shape_out = self.lower_one(entry, entry.scope, shape, path, option, entry.stride)
        return (ir.Member(local, node) if node is not None else None), shape_out

    def lower_one(
        self, entry: Entry, scope: Scope, shape: Shape, path: str, option: str, stride: int | None
    ) -> tuple[ir.Node | None, Shape]:
        """One copy of an entry in its scope: a layer or block (with the stride it takes), or
        a group."""
        if isinstance(entry.target, s.Call):
            overrides = {"stride": stride} if stride is not None else {}
            return self.lower_call(entry.target, scope, shape, path, option, overrides)
        return self.lower_group(entry.target, scope, shape, path, option)

    def lower_copies(
        self, entry: Entry, shape: Shape, path: str, option: str, stage: bool = False
    ) -> tuple[ir.Group | None, Shape]:
        """``name=block(...) x n /s as "names"``: a submodule of n copies, the first taking
        the stride; a stage is one of these."""
        names = copy_names(self, entry)
        if names is None:
            return None, None
        members: list[ir.Step] = []
        start = shape
        scopes = copy_scopes(entry.item, entry.scope, len(names))
        for index, name in enumerate(names):
            stride = entry.stride if index == 0 else None
            node, shape = self.lower_one(
                entry, scopes[index], shape, f"{path}.{name}", option, stride
            )
            if node is None:
                return None, None
            members.append(ir.Member(name, node))
        if start is None or shape is None:
            return None, None
        span = self.visible(entry.item.span)
        parameter, alike = self.sole_depth(entry.item, entry.scope, scopes)
        runs = (repeat(entry.item, parameter, 1, len(members), alike),) if parameter else ()
        group = ir.Group(ir.Chain(tuple(members)), start, shape, span, stage=stage, repeats=runs)
        return group, shape

    def claim(self, entry: Entry, ns: Namespace) -> str | None:
        """The entry's name in its namespace (its position when unnamed), if it is free."""
        local = entry.name or str(ns.index)
        ns.index += 1
        if entry.name and (reason := refused_module_name(local)):  # a position is a name
            self.error(
                "E311",
                f"'{local}' cannot name a module: {reason}",
                entry.item.name_span,
                f"try '{local.strip('_') or 'item'}_'",
            )
            return None
        if local in ns.used:
            self.error(
                "E311",
                f"duplicate name '{local}' in {ns.path or 'the network'}",
                entry.item.name_span or entry.item.span,
                "names in one module must be unique",
            )
            return None
        ns.used.add(local)
        return local

    def lower_group(
        self, target: s.Group | s.Branches, scope: Scope, shape: Shape, path: str, option: str
    ) -> tuple[ir.Group | None, Shape]:
        """A named group or named branches: a submodule with its own namespace."""
        ns = Namespace(path)
        if isinstance(target, s.Group):
            steps, out = self.lower_items(target.items, scope, shape, ns, option)
        else:
            parallel, out = lower_branches(self, target, scope, shape, ns, option)
            steps = [parallel] if parallel is not None else []
        if out is None or shape is None:
            return None, None
        flow = ir.Chain(tuple(steps))
        return ir.Group(flow, shape, out, self.visible(target.span), repeats=repeats(ns, flow)), out

    def lower_call(
        self,
        call: s.Call,
        scope: Scope,
        shape: Shape,
        path: str,
        option: str,
        overrides: Mapping[str, s.Value] | None = None,
    ) -> tuple[ir.Node | None, Shape]:
        if call.span.file != self.stdlib_file:
            self.site = call.span
        if call.name in scope:  # a parameter holding a layer: `act1=act`
            called = layer_value(self, call, scope[call.name])
            if called is None:
                return None, None
            call = called
        op = self.ops.get(call.name)
        if op is not None:
            # The same call in the same scope on the same shape is the same layer: a
            # repeated item (`conv(64) x 1000`) is lowered once and shared.
            key = (id(call), id(scope), tuple((overrides or {}).items()), shape)
            seen = self.built_layers.get(key)
            if seen is not None and seen[2] is scope:
                self.spend(1, call.span)
                return seen[0], seen[0].output
            layer, out = lower_layer(self, op, call, scope, shape, path, overrides or {})
            if layer is not None:
                self.built_layers[key] = (layer, call, scope)  # keeps both alive: ids stay unique
            return layer, out
        definition = self.definitions.get(call.name)
        if isinstance(definition, s.BlockDef):
            return lower_block(self, definition, call, scope, shape, path, option, overrides or {})
        if isinstance(definition, s.ProjectionDef):
            self.not_a_block(call)
        else:
            self.unknown(call)
        return None, None

    def not_a_block(self, call: s.Call) -> None:
        self.error(
            "E300",
            f"'{call.name}' is a projection, usable only as a shortcut",
            call.name_span,
            f"select it with `shortcut: {call.name}` or `shortcut={call.name}` on a stage",
        )

    def unknown(self, call: s.Call) -> None:
        hint = self.hints.get(call.name)
        if hint is None:
            blocks = (n for n, d in self.definitions.items() if isinstance(d, s.BlockDef))
            hint = self.hints[call.name] = did_you_mean(call.name, [*self.ops, *blocks])
        if call.name.startswith("x") and call.name[1:].isdigit():
            hint = f"write a space after 'x' to repeat: x {call.name[1:]}"
        self.error(
            "E300", f"unknown layer or block '{call.name}'", call.name_span, hint, "not defined"
        )


def repeats(ns: Namespace, flow: ir.Chain) -> tuple[ir.Repeat, ...]:
    """The runs of copies lowered in ``ns`` that stand as members of its chain: none
    where a step is a branch (a run is counted in members)."""
    if not flow.is_plain:
        return ()
    return tuple(r for r in ns.runs if r.first + r.size * r.count <= len(flow.steps))


def same_run(entries: list[Entry], position: int) -> int:
    """How many entries from ``position`` on are that very entry (identical copies)."""
    end = position + 1
    while end < len(entries) and entries[end] is entries[position]:
        end += 1
    return end - position
