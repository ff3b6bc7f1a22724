"""The YAML frontend: a spec file -> SpecTree, every DSL value parsed where it stands.

YAML is composed, never constructed blindly: aliases and anchors (the "billion laughs"
bomb), custom tags and duplicate keys are rejected with their position, and values are
validated against the pydantic schema in archspec.frontend.schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from archspec.diagnostics import Collector, did_you_mean
from archspec.frontend import syntax as s
from archspec.frontend.dsl import Locator, SyntaxProblem, parse
from archspec.frontend.schema import SpecFile
from archspec.source import Source, Span

STANDARD_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")
)
MAX_NESTING = 16


class YamlProblem(Exception):
    def __init__(self, code: str, message: str, mark: Any, help: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.mark, self.help = code, message, mark, help


Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML was built with it (about 15x faster), else the Python one."""


def _refuse_anchors(text: str) -> None:
    """Stream the events first: an alias bomb is refused before anything expands it."""
    for event in yaml.parse(text, Loader=Loader):
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor):
            raise YamlProblem(
                "E102",
                "YAML anchors and aliases are not allowed in specs",
                event.start_mark,
                "write the value out; use `params` and -D for shared values",
            )


Place = tuple[Node, Source]
MAX_EXTENDS = 8


class YamlReader:
    """Reads one spec file (and the files it `extends`) into a SpecTree."""

    def __init__(self, source: Source, report: Collector, sources: dict[str, Source]) -> None:
        self.source = source
        self.report = report
        self.sources = sources
        self.rejected: set[tuple[Any, ...]] = set()
        self.constructor = SafeConstructor()
        sources[source.name] = source

    def span(self, place: Place) -> Span:
        node, source = place
        return source.span_of(
            node.start_mark.index, max(node.end_mark.index, node.start_mark.index + 1)
        )

    def read(self) -> s.SpecTree | None:
        loaded = self.load(self.source, ())
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
        if not isinstance(target, str):
            self.report.error("E203", "'extends' takes the path of another spec", where)
            return None
        path = Path(source.name).parent / target
        if str(path) in chain or len(chain) >= MAX_EXTENDS:
            self.report.error(
                "E106", f"'extends' goes round in a cycle or too deep at {target}", where
            )
            return None
        try:
            base_source = Source(str(path), path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            self.report.error(
                "E105",
                f"cannot read {target}: {getattr(error, 'strerror', None) or error}",
                where,
                "the path is relative to this spec's folder",
            )
            return None
        self.sources[base_source.name] = base_source
        base = self.load(base_source, chain + (source.name,))
        if base is None:
            return None
        base_data, base_places = base
        params = dict(base_data.get("params") or {})
        for key in data.get("params") or {}:
            if key not in params:
                self.report.error(
                    "E304",
                    f"'{target}' has no parameter '{key}'",
                    self.span(places[("params", key, "<key>")]),
                    did_you_mean(key, params),
                )
        merged = {**base_data, **data}
        if "params" in data and isinstance(data["params"], dict):
            merged["params"] = {**params, **data["params"]}
        return merged, {**base_places, **places}

    def compose(self, source: Source) -> Node | None:
        try:
            _refuse_anchors(source.text)
            return yaml.compose(source.text, Loader=Loader)
        except YamlProblem as problem:
            self.report.error(
                problem.code,
                problem.message,
                self.mark_span(problem.mark, source),
                help=problem.help,
            )
        except yaml.reader.ReaderError as error:
            span = source.span_of(error.position, error.position + 1)
            self.report.error(
                "E101",
                f"invalid YAML: character {error.character!r} is not allowed",
                span,
                help="remove the control character",
            )
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            hint = ""
            if "mapping values are not allowed" in str(error.problem):
                hint = (
                    "the DSL names items with '=' (conv1=conv(64)); quote a value that needs ': '"
                )
            self.report.error(
                "E101",
                f"invalid YAML: {error.problem or error.context}",
                self.mark_span(mark, source),
                help=hint,
            )
        except yaml.YAMLError as error:
            self.report.error("E101", f"invalid YAML: {error}", source.span_of(0, 1))
        return None

    def mark_span(self, mark: Any, source: Source) -> Span | None:
        if mark is None:
            return None
        index = min(mark.index, max(0, len(source.text) - 1))
        return source.span_of(index, index + 1)

    def to_python(
        self, node: Node, source: Source, path: tuple[Any, ...], depth: int
    ) -> tuple[Any, dict[Any, Place]]:
        """Plain data plus the node of every path, checking tags, keys and nesting."""
        places: dict[Any, Place] = {path: (node, source)}
        if depth > MAX_NESTING:
            self.report.error("E200", "the spec is nested too deeply", self.span((node, source)))
            return None, places
        if node.tag not in STANDARD_TAGS:
            self.rejected.add(path)
            self.report.error(
                "E103",
                f"YAML tag '{node.tag}' is not allowed in specs",
                self.span((node, source)),
                help="remove the tag; spec values are plain strings, numbers and mappings",
            )
            return None, places
        if isinstance(node, ScalarNode):
            return self.constructor.construct_object(node), places
        if isinstance(node, SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                value, sub = self.to_python(child, source, path + (i,), depth + 1)
                items.append(value)
                places.update(sub)
            return items, places
        assert isinstance(node, MappingNode)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag not in STANDARD_TAGS:
                self.report.error(
                    "E200", "mapping keys must be plain names", self.span((key_node, source))
                )
                continue
            key = str(key_node.value)
            if key in result:
                self.report.error(
                    "E104",
                    f"duplicate key '{key}'",
                    self.span((key_node, source)),
                    "each key may appear once in a mapping",
                )
                continue
            value, sub = self.to_python(value_node, source, path + (key,), depth + 1)
            result[key] = value
            places.update(sub)
            places[path + (key, "<key>")] = (key_node, source)
        return result, places

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
            self.report.diagnostics.append(problem.diagnostic)
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
            input=shape,
            shortcut=shortcut,
            parameters=tuple(parameters),
            paper=paper,
            definitions=tuple(definitions or ()),
            stem=stem,
            stages=tuple(stages),
            head=head,
            description=spec.description,
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
