"""Strict YAML: a text composed into nodes, then plain data, every surprise refused.

YAML is composed, never constructed blindly: aliases and anchors (the "billion laughs"
bomb), custom tags and duplicate keys are rejected with their position. A plain scalar
must mean the same to every YAML reader: where YAML 1.1 (PyYAML, and many tools) and
YAML 1.2 read one differently (``1:30`` is 90 or text, ``yes`` is true or text, ``010``
is 8 or 10), it is refused with a hint to quote it or write it plainly; mapping keys
must be text (``true``, ``null`` and ``1`` are not); numbers have a bounded length.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from archspec.diagnostics import Collector
from archspec.frontend.syntax import MAX_NUMBER_LENGTH, NUMBER_HELP, NUMBER_TOO_LONG
from archspec.source import Source, Span

STANDARD_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")
)
MAX_NESTING = 16

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML was built with it (about 15x faster), else the Python one."""

Place = tuple[Node, Source]

_YAML12_CORE = (
    ("null", re.compile(r"~|null|Null|NULL|")),
    ("bool", re.compile(r"true|True|TRUE|false|False|FALSE")),
    ("int", re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")),
    (
        "float",
        re.compile(
            r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
            r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
        ),
    ),
)


def yaml12_kind(text: str) -> str:
    """What YAML 1.2's core schema makes of a plain scalar: null, bool, int, float, str."""
    return next((kind for kind, pattern in _YAML12_CORE if pattern.fullmatch(text)), "str")


def yaml12_value(text: str, kind: str) -> Any:
    """A plain scalar of that kind as YAML 1.2 reads it (numbers already bounded)."""
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() == "true"
    if kind == "int":
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        return int(text[2:] if base != 10 else text, base)
    if kind == "float":
        special = text.lstrip("+-").lower() in (".inf", ".nan")
        return float(text.replace(".", "") if special else text)  # "-.inf" -> "-inf"
    return text


def reading(value: Any) -> str:
    """How a reader understood a scalar, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"the text '{value}'"


_KIND_WORDS = {"int": "a number", "float": "a number", "bool": "a boolean", "null": "null"}
_NUMBERS = {"int", "float"}
_RESOLVER = yaml.resolver.Resolver()


def implicit(node: ScalarNode) -> bool:
    """A plain scalar whose type YAML guessed (no quotes, no explicit tag)."""
    guessed = _RESOLVER.resolve(ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
    return not node.style and node.tag == guessed


class YamlProblem(Exception):
    def __init__(self, code: str, message: str, mark: Any, help: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.mark, self.help = code, message, mark, help


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


class NodeReader:
    """Composes YAML texts and turns their nodes into plain data, reporting each problem
    at its position."""

    def __init__(self, report: Collector) -> None:
        self.report = report
        self.rejected: set[tuple[Any, ...]] = set()
        """Paths of values already reported, so the schema does not report them again."""
        self.constructor = SafeConstructor()

    def span(self, place: Place) -> Span:
        node, source = place
        return source.span_of(
            node.start_mark.index, max(node.end_mark.index, node.start_mark.index + 1)
        )

    def compose(self, source: Source) -> Node | None:
        """The document's root node; None (reported) if it is invalid or empty."""
        try:
            _refuse_anchors(source.text)
            root = yaml.compose(source.text, Loader=Loader)
        except YamlProblem as problem:
            self.report.error(
                problem.code,
                problem.message,
                self.mark_span(problem.mark, source),
                help=problem.help,
            )
            return None
        except yaml.reader.ReaderError as error:
            span = source.span_of(error.position, error.position + 1)
            self.report.error(
                "E101",
                f"invalid YAML: character {error.character!r} is not allowed",
                span,
                help="remove the control character",
            )
            return None
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
            return None
        except yaml.YAMLError as error:
            self.report.error("E101", f"invalid YAML: {error}", source.span_of(0, 1))
            return None
        if root is None:
            self.report.error(
                "E200",
                "the spec is empty",
                source.span_of(0, 1),
                help="a spec starts with `name: mynet` and `input: 3x224x224`",
            )
        return root

    def mark_span(self, mark: Any, source: Source) -> Span | None:
        if mark is None:
            return None
        index = min(mark.index, max(0, len(source.text) - 1))
        return source.span_of(index, index + 1)

    def to_python(
        self, node: Node, source: Source, path: tuple[Any, ...], depth: int
    ) -> tuple[Any, dict[Any, Place]]:
        """Plain data plus the node of every path, checking tags, keys, scalars, nesting."""
        places: dict[Any, Place] = {path: (node, source)}
        if depth > MAX_NESTING:
            self.report.error("E200", "the spec is nested too deeply", self.span((node, source)))
            return None, places
        if isinstance(node, ScalarNode):
            return self.scalar(node, source, path), places
        if node.tag not in STANDARD_TAGS:
            self.reject_tag(node, source, path)
            return None, places
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
            key = self.key(key_node, source)
            if key is None:
                continue
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

    def reject_tag(self, node: Node, source: Source, path: tuple[Any, ...]) -> None:
        self.rejected.add(path)
        self.report.error(
            "E103",
            f"YAML tag '{node.tag}' is not allowed in specs",
            self.span((node, source)),
            help="remove the tag; spec values are plain strings, numbers and mappings",
        )

    def key(self, node: Node, source: Source) -> str | None:
        """A mapping key: text, whichever YAML version reads it (None: reported)."""
        if not isinstance(node, ScalarNode) or node.tag not in STANDARD_TAGS:
            self.report.error("E200", "mapping keys must be plain names", self.span((node, source)))
            return None
        text = str(node.value)
        if implicit(node):
            kind = node.tag.rpartition(":")[2]
            kind = kind if kind != "str" else yaml12_kind(text)
            if kind != "str":
                self.report.error(
                    "E107",
                    f"the key '{text}' is {_KIND_WORDS.get(kind, 'a ' + kind)} in YAML, not a name",
                    self.span((node, source)),
                    help=f"quote it ('{text}') or choose another name",
                )
                return None
        return text

    def scalar(self, node: ScalarNode, source: Source, path: tuple[Any, ...]) -> Any:
        """A scalar's value; None (reported, and the path marked rejected) if refused."""
        text = str(node.value)
        guessed = implicit(node)
        if node.tag not in STANDARD_TAGS and not guessed:
            self.reject_tag(node, source, path)
            return None
        kind = node.tag.rpartition(":")[2]
        kind12 = yaml12_kind(text) if guessed else kind
        if len(text) > MAX_NUMBER_LENGTH and {kind, kind12} & _NUMBERS:
            self.rejected.add(path)
            self.report.error(
                "E313",
                NUMBER_TOO_LONG.format(length=len(text)),
                self.span((node, source)),
                help=NUMBER_HELP,
            )
            return None
        if not guessed:
            return self.constructor.construct_object(node)
        new = yaml12_value(text, kind12)
        if node.tag in STANDARD_TAGS:
            old = self.constructor.construct_object(node)
            if type(old) is type(new) and repr(old) == repr(new):
                return old
            meaning = reading(old)
        else:
            meaning = f"a {kind}"  # a timestamp, a merge key
        self.rejected.add(path)
        self.report.error(
            "E107",
            f"'{text}' means {meaning} in YAML 1.1 but {reading(new)} in YAML 1.2",
            self.span((node, source)),
            help=f"write it so that every YAML reader agrees: quoted ('{text}') for text, "
            "or a plain number or true/false",
        )
        return None
