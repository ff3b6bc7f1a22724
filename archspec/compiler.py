"""compile_spec: read -> parse -> lower (shapes inferred on the way) -> Architecture.

Each stage collects every independent diagnostic it can, and stops the pipeline with one
SpecError when anything was wrong.
"""

from __future__ import annotations

import gc
import keyword
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from archspec import ir
from archspec.api import Architecture
from archspec.diagnostics import Collector, Diagnostic, SpecError, did_you_mean
from archspec.evaluate import EvalProblem, describe, evaluate
from archspec.frontend import syntax as s
from archspec.frontend.archfile import read_arch
from archspec.frontend.dsl import KEYWORDS, Locator, parse
from archspec.frontend.yamlfile import YamlReader
from archspec.layers import LAYERS, MAX_CHANNELS
from archspec.lower import Abort, Lowerer
from archspec.names import refused_module_name, refused_network_name
from archspec.source import Source

MAX_SPEC_BYTES = 1 << 20
MAX_INPUT_SIZE = 1 << 16
STDLIB_NAME = "<stdlib>/blocks.arch"
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@lru_cache(maxsize=1)
def standard_library() -> tuple[s.Definition, ...]:
    text = files("archspec.stdlib").joinpath("blocks.arch").read_text()
    source = Source(STDLIB_NAME, text)
    return tuple(parse(text, "definitions", Locator(source)))


def read_source(spec: str | Path) -> Source:
    """A path to a spec file, or spec text itself (YAML or .arch)."""
    if isinstance(spec, Path) or ("\n" not in spec and spec.endswith((".yaml", ".yml", ".arch"))):
        path = Path(spec)
        try:
            if path.stat().st_size > MAX_SPEC_BYTES:
                raise _fail(
                    "E105", f"{path} is larger than {MAX_SPEC_BYTES >> 10} KiB; specs are short"
                )
            return Source(str(spec), path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise _fail("E105", f"cannot read {spec}: {reason}") from None
    if len(spec) > MAX_SPEC_BYTES:
        raise _fail("E105", "the spec text is too large")
    return Source("<text>", spec)


def _fail(code: str, message: str) -> SpecError:
    return SpecError([Diagnostic(code=code, message=message)])


def _is_arch(source: Source) -> bool:
    if source.name.endswith(".arch"):
        return True
    first = next(
        (
            line.strip()
            for line in source.lines
            if line.strip() and not line.strip().startswith("#")
        ),
        "",
    )
    return first.startswith("network ")


def compile_spec(
    spec: str | Path, parameters: dict[str, Any] | None = None, input: str | None = None
) -> Architecture:
    with _without_cycle_collection():
        return _compile(read_source(spec), parameters, input)


def compile_text(
    text: str, parameters: dict[str, Any] | None = None, input: str | None = None
) -> Architecture:
    """Spec text itself, never read as a path (``archspec.loads``)."""
    if len(text) > MAX_SPEC_BYTES:
        raise _fail("E105", "the spec text is too large")
    with _without_cycle_collection():
        return _compile(Source("<text>", text), parameters, input)


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Compiling allocates many small objects and frees no cycles; the collector would
    only rescan the growing IR again and again (a third of the time at depth 12002)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compile(source: Source, parameters: dict[str, Any] | None, input: str | None) -> Architecture:
    report = Collector()
    sources = {source.name: source}
    tree = (
        read_arch(source, report)
        if _is_arch(source)
        else YamlReader(source, report, sources).read()
    )
    if tree is None:
        report.raise_if_any(sources)
    assert tree is not None
    network, arguments = lower_network(tree, source, report, dict(parameters or {}), input)
    report.raise_if_any(sources)
    assert network is not None
    return Architecture(network=network, arguments=arguments)


def definitions_of(tree: s.SpecTree, report: Collector) -> dict[str, s.Definition]:
    table: dict[str, s.Definition] = {d.name: d for d in standard_library()}
    mine: set[str] = set()
    for definition in tree.definitions:
        if definition.name in LAYERS or definition.name in KEYWORDS:
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


PARAMETER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parameter_name_ok(formal: s.Formal, report: Collector) -> bool:
    """A parameter is referred to by name in expressions and set with ``-D name=value``, so
    its name is a DSL name, not a keyword (YAML keys are any text until checked here)."""
    if not PARAMETER_PATTERN.match(formal.name):
        report.error(
            "E204",
            f"parameter name '{formal.name}' must be a letter or _, then letters, digits or _",
            formal.span,
            help="expressions and -D name=value refer to parameters by this name",
        )
        return False
    if formal.name in KEYWORDS or keyword.iskeyword(formal.name):
        report.error(
            "E311",
            f"parameter name '{formal.name}' is a keyword",
            formal.span,
            help=f"e.g. {formal.name}_",
        )
        return False
    return True


_KIND = {int: "whole number", float: "number", bool: "true or false", str: "name"}


def network_parameters(
    tree: s.SpecTree, overrides: dict[str, Any], report: Collector
) -> dict[str, s.Value]:
    values: dict[str, s.Value] = {}
    declared = {formal.name: formal.span for formal in tree.parameters}
    for formal in tree.parameters:
        if not parameter_name_ok(formal, report):
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
            values[formal.name] = evaluate(formal.default, values)
        except EvalProblem as problem:
            report.error(problem.code, problem.message, problem.span, problem.help)
    for key, value in overrides.items():
        if key not in values:
            report.error(
                "E304",
                f"the spec has no parameter '{key}'",
                tree.name.span,
                did_you_mean(key, values) or f"parameters: {', '.join(values) or 'none'}",
            )
            continue
        default = values[key]
        if type(value) is not type(default) and not (type(default) is float and type(value) is int):
            report.error(
                "E303",
                f"parameter '{key}' takes a {_KIND.get(type(default), 'value')} like its "
                f"default {describe(default)}, found {describe(value)}",
                declared[key],
                label="declared here",
            )
            continue
        values[key] = value
    return values


def input_shape(text: str, span: Any, report: Collector) -> ir.Shape | None:
    dims = tuple(int(d) for d in text.split("x")) if re.fullmatch(r"\d+(x\d+)+", text) else ()
    if len(dims) != 3:
        report.error("E204", f"input must be CxHxW, found '{text}'", span, help="e.g. 3x224x224")
        return None
    if min(dims) < 1 or dims[0] > MAX_CHANNELS or max(dims[1:]) > MAX_INPUT_SIZE:
        report.error(
            "E313",
            f"input {text} is out of range (1..{MAX_CHANNELS} channels, "
            f"1..{MAX_INPUT_SIZE} pixels)",
            span,
        )
        return None
    return dims


def lower_network(
    tree: s.SpecTree,
    source: Source,
    report: Collector,
    overrides: dict[str, Any],
    input: str | None,
) -> tuple[ir.Network | None, dict[str, s.Value]]:
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
    shape = input_shape(
        input if input is not None else str(tree.input.value), tree.input.span, report
    )
    default_option = str(tree.shortcut.value) if tree.shortcut else "B"
    option = str(overrides.pop("shortcut", default_option))  # -D shortcut=B compares options
    parameters = network_parameters(tree, overrides, report)
    lowerer = Lowerer(definitions_of(tree, report), report, STDLIB_NAME)
    if not lowerer.known_option(option, tree.shortcut.span if tree.shortcut else tree.name.span):
        return None, parameters
    modules: list[ir.Module] = []
    current = shape
    used: set[str] = set()
    try:
        stem, current, index = lowerer.lower_entries(
            lowerer.expand(tree.stem or (), parameters),
            current if tree.stem is not None else None,
            "",
            0,
            used,
            option,
        )
        modules.extend(stem)
        for stage_name, stage in tree.stages:
            index += 1
            local = str(stage_name.value)
            if not NAME_PATTERN.match(local) or local in used or refused_module_name(local):
                report.error(
                    "E311",
                    f"stage name '{local}' must be a new identifier",
                    stage_name.span,
                    refused_module_name(local),
                )
                stage = None
            used.add(str(stage_name.value))
            module, current = (
                (None, None)
                if stage is None
                else lowerer.lower_stage(stage_name, stage, parameters, current, option)
            )
            if module is not None:
                modules.append(module)
        head, current, _ = lowerer.lower_entries(
            lowerer.expand(tree.head or (), parameters),
            current if tree.head is not None else None,
            "",
            index,
            used,
            option,
        )
        modules.extend(head)
    except Abort:
        return None, parameters
    if shape is None or current is None or report.diagnostics:
        return None, parameters
    paper = None
    if tree.paper:
        paper = ir.PaperFigures.model_validate({k: v.value for k, v in tree.paper.items()})
    return ir.Network(
        name=name,
        input=shape,
        output=current,
        children=tuple(modules),
        shortcut=option,
        parameters=tuple(parameters.items()),
        paper=paper,
        file=source.name,
    ), parameters
