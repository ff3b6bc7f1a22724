"""Lowering a whole spec: parameters, the input shape, then stem, stages and head."""

from __future__ import annotations

import keyword
import re
from typing import Any

from archspec import ir, symbolic, terms
from archspec.diagnostics import Collector, did_you_mean
from archspec.frontend import syntax as s
from archspec.frontend.grammar import KEYWORDS
from archspec.frontend.stdlib import STDLIB_NAME, standard_library
from archspec.lower.blocks import scalar
from archspec.lower.context import Abort, Namespace
from archspec.lower.evaluate import EvalProblem, describe, evaluate
from archspec.lower.inputs import input_shape
from archspec.lower.keywords import shortcut_blocks, sole_depths, whole_arguments
from archspec.lower.lowerer import BlockKey, BuiltBlock, Lowerer
from archspec.lower.names import refused_module_name, refused_network_name
from archspec.lower.stages import known_option, lower_stage
from archspec.lower.unused import check_unused
from archspec.ops import OPS
from archspec.source import Source, Span

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
MAX_KEPT_BLOCKS = 1024


def definitions_of(tree: s.SpecTree, report: Collector) -> dict[str, s.Definition]:
    table: dict[str, s.Definition] = {d.name: d for d in standard_library()}
    mine: set[str] = set()
    for definition in tree.definitions:
        if definition.name in OPS or definition.name in KEYWORDS:
            report.error(
                "E311",
                f"'{definition.name}' is a built-in layer or keyword; choose another name",
                definition.span,
            )
        elif definition.name in mine:
            report.error("E311", f"'{definition.name}' is defined twice", definition.span)
        mine.add(definition.name)
        table[definition.name] = definition
    return table


def parameter_name_ok(name: str, span: Span, report: Collector, what: str = "parameter") -> bool:
    """A parameter (or a network-level ``let``) is referred to by name in expressions and
    set with ``-D name=value``, so its name is a DSL name, not a keyword (YAML keys are any
    text until checked here)."""
    if not s.IDENTIFIER.match(name):
        report.error(
            "E204",
            f"{what} name '{name}' must be a letter or _, then letters, digits or _",
            span,
            help=f"expressions refer to a {what} by this name",
        )
        return False
    if name in KEYWORDS or keyword.iskeyword(name):
        report.error("E311", f"{what} name '{name}' is a keyword", span, help=f"e.g. {name}_")
        return False
    return True


_KIND = {int: "whole number", float: "number", bool: "true or false", str: "name"}


def network_parameters(
    tree: s.SpecTree, overrides: dict[str, Any], report: Collector, layers: frozenset[str]
) -> dict[str, s.Value]:
    values: dict[str, s.Value] = {}
    declared = {formal.name: formal.span for formal in tree.parameters}
    for formal in tree.parameters:
        if not parameter_name_ok(formal.name, formal.span, report):
            continue
        if formal.name in values:
            report.error("E311", f"parameter '{formal.name}' is defined twice", formal.span)
        if formal.default is None:
            report.error(
                "E302",
                f"parameter '{formal.name}' needs a default value",
                formal.span,
                help=f"e.g. param {formal.name} = 1",
            )
            continue
        try:
            default = evaluate(formal.default, values, layers)
        except EvalProblem as problem:
            report.error(problem.code, problem.message, problem.span, problem.help)
            continue
        # set as the loop goes: a default computed from a parameter sees its -D value
        values[formal.name] = default
        if formal.name in overrides:
            values[formal.name] = _overridden(
                formal, default, overrides[formal.name], layers, report
            )
    for key in overrides:
        if key not in declared:
            report.error(
                "E304",
                f"the spec has no parameter '{key}'",
                tree.name.span,
                did_you_mean(key, values) or f"parameters: {', '.join(values) or 'none'}",
            )
    return values


def _overridden(
    formal: s.Formal, default: s.Value, value: Any, layers: frozenset[str], report: Collector
) -> s.Value:
    """A -D value, if it is of its default's kind; else the default, and an error."""
    if isinstance(default, s.LayerRef) and isinstance(value, str) and value in layers:
        value = s.LayerRef(value)  # -D act=silu
    if type(value) is not type(default) and not (type(default) is float and type(value) is int):
        report.error(
            "E303",
            f"parameter '{formal.name}' takes a {_KIND.get(type(default), 'value')} like its "
            f"default {describe(default)}, found {describe(value)}",
            formal.span,
            label="declared here",
        )
        return default
    return value


def network_lets(
    tree: s.SpecTree, parameters: dict[str, s.Value], report: Collector, layers: frozenset[str]
) -> dict[str, s.Value]:
    """The parameters and, after them, the spec's ``let`` names, each computed in order
    from the parameters as set (``-D`` included) and the names before it."""
    scope = dict(parameters)
    for let in tree.lets:
        if not parameter_name_ok(let.name, let.span, report, "let"):
            continue
        if let.name in scope:
            what = "parameter" if let.name in parameters else "let"
            report.error("E311", f"'{let.name}' is already a {what}", let.span, "choose a new name")
            continue
        try:
            scope[let.name] = evaluate(let.value, scope, layers)
        except EvalProblem as problem:
            report.error(problem.code, problem.message, problem.span, problem.help)
    return scope


def checked_display_name(display: s.Located | None, report: Collector) -> str:
    """The spec's display name when it can make a class name, else '' (and a report)."""
    if display is None or not display.value:
        return ""
    text = str(display.value)
    if not re.fullmatch(s.DISPLAY_PATTERN, text):  # `$` alone would let a final newline in
        report.error(
            "E204",
            f"display name '{text}' must be a letter, then at most 63 letters, digits, spaces "
            "or . _ / + -",
            display.span,
            help="e.g. ResNet-50: the emitted class becomes ResNet50",
        )
        return ""
    if why := refused_network_name(text):
        report.error("E311", f"display name '{text}' is reserved: {why}", display.span)
        return ""
    return text


def lower_network(
    tree: s.SpecTree,
    source: Source,
    report: Collector,
    overrides: dict[str, Any],
    input: str | None,
    blocks: dict[BlockKey, BuiltBlock] | None = None,
    tracing: bool = False,
) -> tuple[ir.Network | None, dict[str, s.Value]]:
    """The network's IR (None when anything was wrong) and its parameter values.
    ``blocks``: the blocks built by earlier compiles of this tree, which this one reuses
    and, when it succeeds, adds its own to (at most MAX_KEPT_BLOCKS)."""
    name = str(tree.name.value)
    if not NAME_PATTERN.match(name):
        report.error(
            "E204",
            f"network name '{name}' must be a letter then letters, digits or _",
            tree.name.span,
            help="it becomes a class and file name",
        )
    elif refused_network_name(name):
        report.error(
            "E311",
            f"network name '{name}' is reserved: {refused_network_name(name)}",
            tree.name.span,
            help=f"e.g. {name}_net",
        )
    display_name = checked_display_name(tree.display_name, report)
    default_option = str(tree.shortcut.value) if tree.shortcut else "B"
    option = str(overrides.pop("shortcut", default_option))  # -D shortcut=B compares options
    lowerer = Lowerer(definitions_of(tree, report), report, STDLIB_NAME, blocks, tracing)
    parameters = network_parameters(tree, overrides, report, lowerer.layers)
    if tracing:  # every number computed from a parameter remembers how (``archspec.symbolic``)
        parameters = {
            k: symbolic.traced(v, terms.name(k)) if isinstance(v, (int, float)) else v
            for k, v in parameters.items()
        }
    if not known_option(lowerer, option, tree.shortcut.span if tree.shortcut else tree.name.span):
        return None, parameters
    try:
        scope = network_lets(tree, parameters, report, lowerer.layers)
        shape = input_shape(
            input if input is not None else str(tree.input.value), tree.input.span, report, scope
        )
        steps, current = _lower_top(lowerer, tree, scope, shape, option)
    except Abort:
        return None, parameters
    check_unused(lowerer, tree.definitions)
    if shape is None or current is None or report.diagnostics:
        return None, parameters
    paper = None
    if tree.paper:
        figures = {k: v.value for k, v in tree.paper.items()}
        paper = ir.PaperFigures(**figures)  # type: ignore[arg-type]
    network = ir.Network(
        name=name,
        input=shape,
        output=current,
        flow=ir.Chain(tuple(steps)),
        shortcut=option,
        parameters=tuple((k, scalar(symbolic.plain(v))) for k, v in parameters.items()),
        paper=paper,
        file=source.name,
        description=tree.description,
        display_name=display_name,
        whole_arguments=tuple(sorted(whole_arguments(tree, lowerer))),
        shortcut_blocks=tuple(sorted(shortcut_blocks(lowerer.definitions))),
    )
    if blocks is not None:
        if len(lowerer.built_blocks) > MAX_KEPT_BLOCKS:  # a long sweep: start afresh
            blocks.clear()
        else:
            blocks.update(lowerer.built_blocks)
    return network, parameters


def _lower_top(
    lowerer: Lowerer,
    tree: s.SpecTree,
    parameters: dict[str, s.Value],
    shape: ir.Shape | None,
    option: str,
) -> tuple[list[ir.Step], ir.Shape | None]:
    """Stem, stages and head share the network's namespace and its numbering."""
    top = Namespace("")
    lowerer.top_scope = parameters
    lowerer.counted_depths, lowerer.sole_depths = sole_depths(tree)
    steps, current = lowerer.lower_items(
        tree.stem or (), parameters, shape if tree.stem is not None else None, top, option
    )
    for stage_name, stage in tree.stages:
        name = str(stage_name.value)
        top.index += 1
        if not NAME_PATTERN.match(name) or name in top.used or refused_module_name(name):
            lowerer.report.error(
                "E311",
                f"stage name '{name}' must be a new identifier",
                stage_name.span,
                refused_module_name(name),
            )
            stage = None
        top.used.add(name)
        if stage is None:
            current = None
            continue
        group, current = lower_stage(lowerer, name, stage, parameters, current, option)
        if group is not None:
            steps.append(ir.Member(name, group))
    head, current = lowerer.lower_items(
        tree.head or (), parameters, current if tree.head is not None else None, top, option
    )
    return steps + head, current
