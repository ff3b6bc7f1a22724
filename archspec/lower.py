"""Lowering: a SpecTree -> the resolved IR, shapes inferred as it goes.

This is the one place where the paper's rules are decided: which shortcut a block gets
(option A, B, C, none or a user projection), where a stage's stride goes, how unnamed
items are numbered. Everything after reads the IR and never decides again.

The loop carries the current shape explicitly (None once an error made it unknown, so
one mistake is reported once and independent mistakes are all reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from archspec import ir
from archspec.diagnostics import Collector, did_you_mean
from archspec.evaluate import EvalProblem, describe, evaluate
from archspec.frontend import syntax as s
from archspec.layers import ALIASES, LAYERS, LayerKind
from archspec.names import refused_module_name
from archspec.shapes import ShapeProblem, output_shape
from archspec.shapes import describe as shape_text
from archspec.source import Span
from archspec.spec import SHORTCUT_OPTIONS

MAX_REPEAT = 100_000
MAX_LAYERS = 100_000
MAX_NESTING = 64


Shape = ir.Shape | None
Scope = Mapping[str, s.Value]


class Abort(Exception):
    """Lowering cannot go on (a size limit); the diagnostic is already recorded."""


@dataclass(frozen=True)
class Entry:
    """One module slot in a container, after groups are spliced and repeats expanded."""

    name: str | None
    target: s.Call | s.Group
    item: s.Item
    scope: Scope


class Lowerer:
    def __init__(
        self, definitions: dict[str, s.Definition], report: Collector, stdlib_file: str
    ) -> None:
        self.definitions = definitions
        self.report = report
        self.stdlib_file = stdlib_file
        self.layers_left = MAX_LAYERS
        self.active: list[str] = []
        self.call_site: Span | None = None
        self.built_blocks: dict[tuple[object, ...], tuple[ir.Block, int]] = {}
        """Each distinct block, built once: (block definition, arguments, input, option, site)."""
        self.built_calls: dict[tuple[object, ...], tuple[ir.Block, int, Scope]] = {}
        """The same, keyed by the call itself, to skip binding its arguments again."""

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
        return self.call_site

    def error(
        self, code: str, message: str, span: Span | None, help: str = "", label: str = ""
    ) -> None:
        self.report.error(code, message, self.visible(span), label=label, help=help)

    def value(self, expr: s.Expr, scope: Scope) -> s.Value | None:
        try:
            return evaluate(expr, scope)
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
        if value < 1:
            self.error("E312", f"{what} must be at least 1, found {value}", expr.span)
            return None
        if value > maximum:
            self.error(
                "E313", f"{what} {value} is absurdly large (the limit is {maximum:,})", expr.span
            )
            return None
        return value

    # ---- sequences ----
    def expand(self, items: tuple[s.Item, ...], scope: Scope, depth: int = 0) -> list[Entry]:
        entries: list[Entry] = []
        for item in items:
            if item.condition is not None:
                keep = self.value(item.condition, scope)
                if keep is None:
                    continue
                if not isinstance(keep, bool):
                    self.error(
                        "E303",
                        f"a condition must be true or false, found {describe(keep)}",
                        item.condition.span,
                    )
                    continue
                if not keep:
                    continue
            times = 1 if item.repeat is None else self.count(item.repeat, scope, "a repeat count")
            if times is None:
                continue
            if item.name and times > 1:
                self.error(
                    "E319",
                    f"'{item.name}' is repeated, so it cannot have one name",
                    item.name_span,
                    "name a group instead: name=(items) x 1, or drop the name",
                )
                continue
            if times > self.layers_left:
                self.error("E313", f"repeating {times:,} times exceeds the size limit", item.span)
                raise Abort
            if isinstance(item.target, s.Group) and not item.name:
                if depth > MAX_NESTING:
                    self.error("E313", "groups are nested too deeply", item.span)
                    continue
                inner = self.expand(item.target.items, scope, depth + 1)
                if len(inner) * times > self.layers_left:
                    self.error(
                        "E313",
                        f"repeating {len(inner):,} items {times:,} times exceeds the size limit",
                        item.span,
                    )
                    raise Abort
                entries.extend(inner * times)
            else:
                entries.extend([Entry(item.name, item.target, item, scope)] * times)
        return entries

    def lower_entries(
        self,
        entries: list[Entry],
        shape: Shape,
        prefix: str,
        start: int,
        used: set[str],
        option: str,
    ) -> tuple[list[ir.Module], Shape, int]:
        modules: list[ir.Module] = []
        index = start
        for entry in entries:
            local = entry.name or str(index)
            index += 1
            if reason := refused_module_name(local):
                self.error(
                    "E311",
                    f"'{local}' cannot name a module: {reason}",
                    entry.item.name_span,
                    f"try '{local.strip('_') or 'item'}_'",
                )
                shape = None
                continue
            if local in used:
                self.error(
                    "E311",
                    f"duplicate name '{local}' in {prefix or 'the network'}",
                    entry.item.name_span or entry.item.span,
                    "names in one module must be unique",
                )
                shape = None
                continue
            used.add(local)
            path = f"{prefix}.{local}" if prefix else local
            module, shape = self.lower_target(entry, shape, local, path, option)
            if module is not None:
                modules.append(module)
        return modules, shape, index

    def lower_sequence(
        self, items: tuple[s.Item, ...], scope: Scope, shape: Shape, prefix: str, option: str
    ) -> tuple[list[ir.Module], Shape]:
        modules, shape, _ = self.lower_entries(
            self.expand(items, scope), shape, prefix, 0, set(), option
        )
        return modules, shape

    def lower_target(
        self, entry: Entry, shape: Shape, local: str, path: str, option: str
    ) -> tuple[ir.Module | None, Shape]:
        target = entry.target
        if isinstance(target, s.Group):
            children, out = self.lower_sequence(target.items, entry.scope, shape, path, option)
            if out is None or shape is None:
                return None, None
            return ir.construct(
                ir.Sequence,
                name=local,
                path=path,
                input=shape,
                output=out,
                span=self.visible(target.span),
                children=tuple(children),
            ), out
        return self.lower_call(target, entry.scope, shape, local, path, option)

    def lower_call(
        self,
        call: s.Call,
        scope: Scope,
        shape: Shape,
        local: str,
        path: str,
        option: str,
        overrides: dict[str, s.Value] | None = None,
    ) -> tuple[ir.Module | None, Shape]:
        if call.span.file != self.stdlib_file:
            self.call_site = call.span
        if call.name in LAYERS:
            return self.lower_layer(
                LAYERS[call.name], call, scope, shape, local, path, overrides or {}
            )
        definition = self.definitions.get(call.name)
        if isinstance(definition, s.BlockDef):
            from archspec.blocks import lower_block

            return lower_block(
                self, definition, call, scope, shape, local, path, option, overrides or {}
            )
        if isinstance(definition, s.ProjectionDef):
            self.error(
                "E300",
                f"'{call.name}' is a projection, usable only as a shortcut",
                call.name_span,
                f"select it with `shortcut: {call.name}` or `shortcut={call.name}` on a stage",
            )
        else:
            self.unknown(call)
        return None, None

    def unknown(self, call: s.Call) -> None:
        known = list(LAYERS) + [n for n, d in self.definitions.items() if isinstance(d, s.BlockDef)]
        hint = did_you_mean(call.name, known)
        if call.name.startswith("x") and call.name[1:].isdigit():
            hint = f"write a space after 'x' to repeat: x {call.name[1:]}"
        self.error(
            "E300", f"unknown layer or block '{call.name}'", call.name_span, hint, "not defined"
        )

    # ---- arguments ----
    def bind(
        self, call: s.Call, names: list[str], scope: Scope, what: str, overrides: dict[str, s.Value]
    ) -> dict[str, s.Value] | None:
        """Match a call's arguments to parameter names; values evaluated in the caller's scope."""
        bound: dict[str, s.Value] = {}
        ok = True
        for position, argument in enumerate(call.arguments):
            if argument.keyword is None:
                if position >= len(names):
                    most = f"at most {len(names)}" if names else "no"
                    self.error(
                        "E302",
                        f"{what} takes {most} positional argument"
                        f"{'s' if len(names) != 1 else ''}, found {len(call.arguments)}",
                        argument.span,
                    )
                    ok = False
                    continue
                key = names[position]
            else:
                key = argument.keyword
                if key not in names:
                    self.error(
                        "E301",
                        f"unknown argument '{key}' of {what}",
                        argument.span,
                        did_you_mean(key, names, ALIASES),
                        "unknown",
                    )
                    ok = False
                    continue
            if key in bound:
                self.error("E302", f"argument '{key}' of {what} is given twice", argument.span)
                ok = False
                continue
            value = self.value(argument.value, scope)
            if value is None:
                ok = False
                continue
            bound[key] = value
        for key, value in overrides.items():
            if key in bound:
                self.error(
                    "E302",
                    f"'{key}' of {what} is set by the stage already",
                    call.span,
                    "drop it from the arguments; the stage's /N sets the first block's stride",
                )
                ok = False
            bound[key] = value
        return bound if ok else None

    def lower_layer(
        self,
        kind: LayerKind,
        call: s.Call,
        scope: Scope,
        shape: Shape,
        local: str,
        path: str,
        overrides: dict[str, s.Value],
    ) -> tuple[ir.Module | None, Shape]:
        names = [p.name for p in kind.parameters]
        if overrides and "stride" not in names:
            self.error(
                "E314",
                f"{kind.name} has no stride, so a stage cannot downsample with it",
                call.span,
            )
            return None, None
        bound = self.bind(call, names, scope, kind.name, overrides)
        if bound is None:
            return None, None
        arguments: dict[str, s.Value] = {}
        for parameter in kind.parameters:
            if parameter.name not in bound:
                if parameter.required:
                    self.error(
                        "E302",
                        f"{kind.name} needs its '{parameter.name}' argument ({parameter.doc})",
                        call.span,
                        f"e.g. {kind.name}(...) with {parameter.name} first",
                        "missing",
                    )
                    return None, None
                arguments[parameter.name] = parameter.default
                continue
            value = self.check_value(bound[parameter.name], parameter, kind.name, call)
            if value is None:
                return None, None
            arguments[parameter.name] = value
        self.spend(1, call.span)
        if shape is None:
            return None, None
        op = kind.make(arguments, shape)
        try:
            out = output_shape(op, shape)
        except ShapeProblem as problem:
            self.error(
                problem.code,
                f"{problem.message} in '{path}'",
                call.span,
                problem.help,
                f"input is {shape_text(shape)}",
            )
            return None, None
        return ir.construct(
            ir.Layer,
            name=local,
            path=path,
            input=shape,
            output=out,
            span=self.visible(call.span),
            op=op,
        ), out

    def check_value(
        self, value: s.Value, parameter: object, what: str, call: s.Call
    ) -> s.Value | None:
        from archspec.layers import Parameter

        assert isinstance(parameter, Parameter)
        name = f"'{parameter.name}' of {what}"
        if parameter.kind is bool:
            if not isinstance(value, bool):
                self.error(
                    "E303", f"{name} must be true or false, found {describe(value)}", call.span
                )
                return None
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error("E303", f"{name} must be a number, found {describe(value)}", call.span)
            return None
        if parameter.kind is int:
            if isinstance(value, float) and not value.is_integer():
                self.error("E315", f"{name} must be a whole number, found {value}", call.span)
                return None
            value = int(value)
        else:
            value = float(value)
        if parameter.minimum is not None and value < parameter.minimum:
            code = "E312"
            self.error(
                code, f"{name} must be at least {parameter.minimum:g}, found {value}", call.span
            )
            return None
        if parameter.maximum is not None and value > parameter.maximum:
            self.error(
                "E313",
                f"{name} is absurdly large: {value} (the limit is {parameter.maximum:g})",
                call.span,
            )
            return None
        return value

    # ---- stages ----
    def lower_stage(
        self, name: s.Located, stage: s.Stage, scope: Scope, shape: Shape, option: str
    ) -> tuple[ir.Module | None, Shape]:
        local = str(name.value)
        if stage.shortcut is not None:
            option = stage.shortcut
            if not self.known_option(option, stage.shortcut_span):
                return None, None
        depth = 1 if stage.depth is None else self.count(stage.depth, scope, "a stage depth")
        stride = (
            None
            if stage.stride is None
            else self.count(stage.stride, scope, "a stage stride", 1 << 12)
        )
        if depth is None or (stage.stride is not None and stride is None):
            return None, None
        if depth > self.layers_left:
            self.error(
                "E313",
                f"a depth of {depth:,} exceeds the size limit",
                stage.depth.span if stage.depth else None,
            )
            raise Abort
        blocks: list[ir.Module] = []
        start = shape
        for index in range(depth):
            overrides: dict[str, s.Value] = {}
            if index == 0 and stride is not None:
                overrides["stride"] = stride
            block, shape = self.lower_call(
                stage.call, scope, shape, str(index), f"{local}.{index}", option, overrides
            )
            if block is None:
                return None, None
            blocks.append(block)
        if start is None or shape is None:
            return None, None
        return ir.construct(
            ir.Sequence,
            name=local,
            path=local,
            input=start,
            output=shape,
            span=stage.span,
            stage=True,
            children=tuple(blocks),
        ), shape

    def known_option(self, option: str, span: Span | None) -> bool:
        projections = [n for n, d in self.definitions.items() if isinstance(d, s.ProjectionDef)]
        if option in SHORTCUT_OPTIONS or option in projections:
            return True
        self.error(
            "E300",
            f"unknown shortcut option '{option}'",
            span,
            did_you_mean(option, list(SHORTCUT_OPTIONS) + projections)
            or "expected A, B, C, none or a projection defined in `define`",
        )
        return False
