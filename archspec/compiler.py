"""compile_spec: read -> parse -> lower (shapes inferred on the way) -> Architecture.

Each stage collects every independent diagnostic it can, and stops the pipeline with one
SpecError when anything was wrong.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from archspec import ir
from archspec.api import Architecture
from archspec.budget import check_totals
from archspec.diagnostics import Collector, Diagnostic, SpecError, TooManyErrors, did_you_mean
from archspec.evaluate import EvalProblem, describe, evaluate
from archspec.files import MAX_SPEC_BYTES, SPEC_SUFFIXES, FileProblem, read_spec
from archspec.frontend import syntax as s
from archspec.frontend.archfile import read_arch
from archspec.frontend.dsl import parse
from archspec.frontend.grammar import KEYWORDS, Locator
from archspec.frontend.yamlfile import YamlReader
from archspec.layers import LAYERS, MAX_CHANNELS
from archspec.lower import Abort, Lowerer
from archspec.source import Source
from archspec.unused import check_unused

MAX_INPUT_SIZE = 1 << 16
STDLIB_NAME = "<stdlib>/blocks.arch"
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@lru_cache(maxsize=1)
def standard_library() -> tuple[s.Definition, ...]:
    text = files("archspec.stdlib").joinpath("blocks.arch").read_text()
    source = Source(STDLIB_NAME, text)
    return tuple(parse(text, "definitions", Locator(source)))


def read_source(spec: str | Path | Source) -> Source:
    """A spec file (a Path, or a one-line str ending in a spec suffix), or spec text."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, Path) or ("\n" not in spec and spec.lower().endswith(SPEC_SUFFIXES)):
        try:
            return Source(str(spec), read_spec(Path(spec)), Path(spec))
        except FileProblem as problem:
            raise _fail("E105", problem.message, problem.help) from None
    if len(spec) > MAX_SPEC_BYTES:
        raise _fail("E105", f"the spec text is larger than {MAX_SPEC_BYTES >> 10} KiB")
    return Source("<text>", spec.removeprefix("\ufeff"))


def _fail(code: str, message: str, help: str = "") -> SpecError:
    return SpecError([Diagnostic(code=code, message=message, help=help)])


def _is_arch(source: Source) -> bool:
    """A file is what its suffix says; spec text is .arch when it opens with `network`."""
    if source.path is not None:
        return source.path.suffix.lower() == ".arch"
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
    spec: str | Path | Source, parameters: dict[str, Any] | None = None, input: str | None = None
) -> Architecture:
    with _without_cycle_collection():
        return _compile(read_source(spec), parameters, input)


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
    try:
        tree = (
            read_arch(source, report)
            if _is_arch(source)
            else YamlReader(source, report, sources).read()
        )
        if tree is None:
            report.raise_if_any(sources)
        assert tree is not None
        network, arguments = lower_network(tree, source, report, dict(parameters or {}), input)
    except TooManyErrors:
        report.raise_if_any(sources, complete=False)
        raise
    report.raise_if_any(sources)
    assert network is not None
    files = tuple(s.path for s in sources.values() if s.path is not None)
    arch = Architecture(network=network, arguments=arguments, files=files)
    check_totals(network, report, arch.counts)  # counted once: the Architecture keeps them
    report.raise_if_any(sources)
    return arch


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


_KIND = {int: "whole number", float: "number", bool: "true or false", str: "name"}


def network_parameters(
    tree: s.SpecTree, overrides: dict[str, Any], report: Collector
) -> dict[str, s.Value]:
    values: dict[str, s.Value] = {}
    declared = {formal.name: formal.span for formal in tree.parameters}
    for formal in tree.parameters:
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
    digits = text.split("x") if re.fullmatch(r"\d+(x\d+)+", text) else []
    dims = tuple(int(d) if len(d) < 10 else MAX_INPUT_SIZE + 1 for d in digits)  # no 5000 digits
    if len(dims) != 3:
        report.error("E204", f"input must be CxHxW, found '{text}'", span, help="e.g. 3x224x224")
        return None
    if min(dims) < 1 or dims[0] > MAX_CHANNELS or max(dims[1:]) > MAX_INPUT_SIZE:
        report.error(
            "E313",
            f"input is out of range (1..{MAX_CHANNELS} channels, "
            f"1..{MAX_INPUT_SIZE} pixels), found {text}",
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
            if not NAME_PATTERN.match(str(stage_name.value)) or str(stage_name.value) in used:
                report.error(
                    "E311",
                    f"stage name '{stage_name.value}' must be a new identifier",
                    stage_name.span,
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
    check_unused(lowerer, tree.definitions)
    if shape is None or current is None or report.diagnostics:
        return None, parameters
    paper = None
    if tree.paper:
        paper = ir.PaperFigures.model_validate({k: v.value for k, v in tree.paper.items()})
    network = ir.Network(
        name=name,
        input=shape,
        output=current,
        children=tuple(modules),
        shortcut=option,
        parameters=tuple(parameters.items()),
        paper=paper,
        file=source.name,
    )
    return network, parameters
