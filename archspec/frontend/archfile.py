"""The .arch frontend: a whole DSL file -> SpecTree (the same tree the YAML form gives)."""

from __future__ import annotations

import math
from typing import Any

from archspec.diagnostics import Collector
from archspec.frontend import syntax as s
from archspec.frontend.dsl import parse
from archspec.frontend.grammar import Locator, SyntaxProblem
from archspec.source import Source, Span

SINGLE = ("network", "display", "input", "shortcut", "stem", "head")


def read_arch(source: Source, report: Collector) -> s.SpecTree | None:
    try:
        statements: list[tuple[str, Any, Span]] = parse(source.text, "file", Locator(source))
    except SyntaxProblem as problem:
        report.add(problem.diagnostic)
        return None
    seen: dict[str, Any] = {}
    parameters: list[s.Formal] = []
    lets: list[s.Let] = []
    paper: dict[str, s.Located] = {}
    definitions: list[s.Definition] = []
    stages: list[tuple[s.Located, s.Stage]] = []
    for keyword, payload, span in statements:
        if keyword in SINGLE:
            if keyword in seen:
                report.error("E104", f"'{keyword}' is given twice", span, help="keep one")
            seen[keyword] = payload
        elif keyword == "param":
            parameters.extend(payload)
        elif keyword == "let":
            lets.append(payload)
        elif keyword == "paper":
            paper.update(_checked_paper(payload, report))
        elif keyword == "stage_stmt":
            stages.append(payload)
        else:
            definitions.append(payload)
    start = source.span_of(0, 1)
    for required, example in (("network", "network resnet18"), ("input", "input 3x224x224")):
        if required not in seen:
            report.error("E201", f"missing '{required}' statement", start, help=f"add `{example}`")
    if "network" not in seen or "input" not in seen:
        return None
    return s.SpecTree(
        name=seen["network"],
        display_name=seen.get("display"),
        input=seen["input"],
        shortcut=seen.get("shortcut"),
        parameters=tuple(parameters),
        paper=paper,
        definitions=tuple(definitions),
        stem=seen.get("stem", ()),
        stages=tuple(stages),
        head=seen.get("head", ()),
        lets=tuple(lets),
    )


def _checked_paper(figures: dict[str, s.Located], report: Collector) -> dict[str, s.Located]:
    """Keep the figures PaperSpec knows, with the type it expects; report the rest."""
    from archspec.diagnostics import did_you_mean
    from archspec.frontend.schema import PaperSpec

    kept = {}
    for key, figure in figures.items():
        if key not in PaperSpec.model_fields:
            report.error(
                "E202",
                f"unknown paper figure '{key}'",
                figure.span,
                help=did_you_mean(key, PaperSpec.model_fields),
            )
        elif (key == "source") != isinstance(figure.value, str) or not (
            key == "source" or 0 <= float(figure.value) < math.inf  # type: ignore[arg-type]
        ):
            wanted = "a quoted string" if key == "source" else "a finite number, at least 0"
            report.error("E203", f"paper figure '{key}' takes {wanted}", figure.span)
        else:
            kept[key] = figure
    return kept
