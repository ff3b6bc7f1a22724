"""The YAML frontend: a spec file -> SpecTree, every DSL value parsed where it stands.

The text is composed strictly (archspec.frontend.yamlnodes), the files it `extends` are
read under the rules of archspec.files, and values are validated against the pydantic
schema in archspec.frontend.schema.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from yaml.nodes import MappingNode

from archspec.catalog import bases_root
from archspec.diagnostics import Collector, did_you_mean
from archspec.files import YAML_SUFFIXES, FileProblem, read_spec
from archspec.frontend import syntax as s
from archspec.frontend.dsl import parse
from archspec.frontend.grammar import Locator, SyntaxProblem
from archspec.frontend.schema import SpecFile
from archspec.frontend.yamlnodes import NodeReader, Place
from archspec.source import Source, Span

MAX_EXTENDS = 8


class YamlReader(NodeReader):
    """Reads one spec file (and the files it `extends`) into a SpecTree."""

    def __init__(self, source: Source, report: Collector, sources: dict[str, Source]) -> None:
        super().__init__(report)
        self.source = source
        self.root = bases_root(source.path.parent if source.path is not None else Path.cwd())
        """Bases must lie in this folder: the repository of the spec being compiled (of the
        current folder for spec text), or its folder outside any repository."""
        self.sources = sources
        sources[source.name] = source

    def read(self) -> s.SpecTree | None:
        first = () if self.source.path is None else (os.path.realpath(self.source.path),)
        loaded = self.load(self.source, first)
        if loaded is None:
            return None
        data, places = loaded
        try:
            spec = SpecFile.model_validate(data)
        except ValidationError as error:
            self.schema_errors(error, places)
            return None
        return self.tree(spec, places)

    def load(
        self, source: Source, chain: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[Any, Place]] | None:
        """One file's mapping as plain data, merged over the spec it extends."""
        root = self.compose(source)
        if root is None:
            return None
        if not isinstance(root, MappingNode):
            self.report.error(
                "E200",
                "a spec must be a YAML mapping of keys such as name, input, stages",
                self.span((root, source)),
                "start with `name: mynet` and `input: 3x224x224`",
            )
            return None
        data, places = self.to_python(root, source, (), 0)
        if not isinstance(data, dict):
            return None
        if "extends" not in data:
            return data, places
        return self.extend(data, places, source, chain)

    def extend(
        self, data: dict[str, Any], places: dict[Any, Place], source: Source, chain: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[Any, Place]] | None:
        where = self.span(places[("extends",)])
        target = data.pop("extends")
        if ("extends",) in self.rejected:
            return None
        if not isinstance(target, str):
            self.report.error("E203", "'extends' takes the path of another spec", where)
            return None
        base_source = self.read_base(target, source, chain, where)
        if base_source is None:
            return None
        base = self.load(base_source, chain + (os.path.realpath(base_source.name),))
        if base is None:
            return None
        base_data, base_places = base
        params = base_data.get("params")
        params = params if isinstance(params, dict) else {}
        mine = data.get("params")
        for key in mine if isinstance(mine, dict) else ():
            if key not in params:
                self.report.error(
                    "E304",
                    f"'{target}' has no parameter '{key}'",
                    self.span(places[("params", key, "<key>")]),
                    did_you_mean(key, params),
                )
        if "name" in data:  # another network: the base's display name is not its own
            base_data.pop("display_name", None)
        merged = {**base_data, **data}
        if isinstance(mine, dict):
            merged["params"] = {**params, **mine}
        return merged, {**base_places, **places}

    def read_base(
        self, target: str, source: Source, chain: tuple[str, ...], where: Span
    ) -> Source | None:
        """The spec ``extends`` names: a YAML spec file, relative to this spec's folder and
        inside the folder of the spec being compiled; anything else is refused unread."""
        if os.path.isabs(target) or target.startswith("~"):
            self.report.error(
                "E105",
                f"'extends' takes a path relative to this spec's folder, found '{target}'",
                where,
                "write the base's path from this spec's folder, e.g. ../base.yaml",
            )
            return None
        path = Path(source.name).parent / target
        try:
            text = read_spec(path, YAML_SUFFIXES, within=self.root, name=f"'{target}'")
        except FileProblem as problem:
            self.report.error(
                "E105",
                problem.message,
                where,
                help=problem.help
                or "'extends' names a YAML spec by its path from this spec's folder, inside "
                f"{self.root} (the spec's repository, or its folder outside any)",
            )
            return None
        if os.path.realpath(path) in chain or len(chain) > MAX_EXTENDS:
            self.report.error(
                "E106", f"'extends' goes round in a cycle or too deep at {target}", where
            )
            return None
        base_source = Source(str(path), text, path)
        self.sources[base_source.name] = base_source
        return base_source

    def schema_errors(self, error: ValidationError, places: dict[Any, Place]) -> None:
        root = places[()]
        for problem in error.errors():
            loc = tuple(problem["loc"])
            if any(loc[: len(path)] == path for path in self.rejected):
                continue  # already reported as a rejected YAML value
            node = places.get(loc) or places.get(loc[:-1]) or root
            field = ".".join(str(p) for p in loc)
            kind = problem["type"]
            if kind == "missing":
                self.report.error(
                    "E201",
                    f"missing key '{field}'",
                    root[1].span_of(0, 1),
                    help=f"add `{field}: ...` to the spec",
                )
            elif kind == "extra_forbidden":
                key_node = places.get(loc[:-1] + (loc[-1], "<key>"), node)
                known = _known_keys(loc)
                self.report.error(
                    "E202",
                    f"unknown key '{loc[-1]}'",
                    self.span(key_node),
                    help=did_you_mean(str(loc[-1]), known),
                )
            else:
                found = type(problem.get("input")).__name__
                self.report.error(
                    "E203",
                    f"'{field}' {problem['msg'].lower()}, found {found}",
                    self.span(node),
                    label="wrong type",
                )

    def located_dsl(self, place: Place, start: str) -> Any:
        """Parse a YAML string value as DSL, with positions mapped into its file."""
        node, source = place
        text = str(node.value)
        raw = source.text[node.start_mark.index : node.end_mark.index]
        locator = Locator(source, align(text, raw, node.start_mark.index))
        try:
            return parse(text, start, locator)
        except SyntaxProblem as problem:
            self.report.add(problem.diagnostic)
            return None

    def tree(self, spec: SpecFile, places: dict[Any, Place]) -> s.SpecTree | None:
        def where(*path: Any) -> Span:
            return self.span(places[path])

        def dsl(start: str, *path: Any) -> Any:
            return self.located_dsl(places[path], start) if path in places else None

        stages = []
        for name in spec.stages:
            stages.append(
                (s.Located(name, where("stages", name, "<key>")), dsl("stage", "stages", name))
            )
        parameters = []
        for name, value in spec.params.items():
            literal = s.Literal(value, where("params", name))
            parameters.append(s.Formal(name, literal, where("params", name, "<key>")))
        lets = []
        for name in spec.let:
            value = dsl("expr", "let", name)
            if value is not None:
                lets.append(s.Let(name, value, where("let", name, "<key>")))
        shape = dsl("shape", "input")
        if shape is None:
            return None
        definitions = dsl("definitions", "define") if spec.define.strip() else ()
        stem = dsl("sequence", "stem") if spec.stem.strip() else ()
        head = dsl("sequence", "head") if spec.head.strip() else ()
        paper = {}
        if spec.paper is not None:
            for key in ("macs", "params"):
                value = getattr(spec.paper, key)
                if value is not None:
                    paper[key] = s.Located(value, where("paper", key))
            paper["source"] = s.Located(spec.paper.source, where("paper"))
        shortcut = s.Located(spec.shortcut, where("shortcut")) if ("shortcut",) in places else None
        return s.SpecTree(
            name=s.Located(spec.name, where("name")),
            display_name=(
                s.Located(spec.display_name, where("display_name")) if spec.display_name else None
            ),
            input=shape,
            shortcut=shortcut,
            parameters=tuple(parameters),
            paper=paper,
            definitions=tuple(definitions or ()),
            stem=stem,
            stages=tuple(stages),
            head=head,
            description=spec.description,
            lets=tuple(lets),
        )


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    from archspec.frontend.schema import PaperSpec

    model = PaperSpec if loc[:1] == ("paper",) else SpecFile
    return list(model.model_fields)


def align(value: str, raw: str, base: int) -> list[int]:
    """File offsets of each character of a YAML scalar's value, found in its raw text.

    Handles plain, quoted and block scalars: non-space characters are matched in order;
    folded whitespace maps to the raw position it came from.
    """
    offsets = []
    j = 0
    for char in value:
        if char.isspace():
            offsets.append(base + min(j, max(0, len(raw) - 1)))
            if j < len(raw) and raw[j].isspace():
                j += 1
            continue
        k = raw.find(char, j)
        if k < 0:
            k = min(j, max(0, len(raw) - 1))
        offsets.append(base + k)
        j = k + 1
    offsets.append(base + min(j, len(raw)))
    return offsets
