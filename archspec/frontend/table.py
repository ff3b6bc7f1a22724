"""The grammar's LALR tables, computed once and shipped beside the grammar.

Building a Lark parser from the grammar takes most of a cold start (a third of a second
here, in every process). ``archspec.lark.json`` holds the parser Lark builds, serialised
(its own ``memo_serialize``), with the SHA-256 of the grammar and Lark's version: a
process loads it in milliseconds, and falls back to building from the grammar when
either differs. It is plain JSON (dictionaries with integer keys are written as pairs),
so nothing in it can run. Regenerate it after changing the grammar:

    python -m archspec.frontend.table
"""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import lark
from lark import Lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

from archspec.files import write_output

START_RULES = ("file", "definitions", "sequence", "stage", "shape", "expr")
TABLE = "archspec.lark.json"
PAIRS = "__pairs__"
"""A dictionary whose keys are not all strings, written as a list of [key, value]."""


def grammar_text() -> str:
    return files("archspec.frontend").joinpath("archspec.lark").read_text()


def fingerprint(grammar: str) -> dict[str, str]:
    return {
        "grammar_sha256": hashlib.sha256(grammar.encode()).hexdigest(),
        "lark": lark.__version__,
    }


def build(grammar: str) -> Lark:
    return Lark(grammar, parser="lalr", start=list(START_RULES), propagate_positions=True)


def load() -> Lark:
    """The parser: from the shipped tables when they fit this grammar and this Lark."""
    grammar = grammar_text()
    try:
        text = files("archspec.frontend").joinpath(TABLE).read_text()
        stored = json.loads(text, object_hook=_pairs)
    except (OSError, ValueError):
        return build(grammar)
    if stored.get("fingerprint") != fingerprint(grammar):
        return build(grammar)
    memo = {int(k): v for k, v in stored["memo"].items()}
    parser: Lark = Lark._load_from_dict(stored["data"], memo)  # type: ignore[no-untyped-call]
    return parser


def encode(value: Any) -> Any:
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {PAIRS: [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def _pairs(value: dict[str, Any]) -> Any:
    """json's hook for each object read: a pairs list back into a dictionary."""
    if len(value) == 1 and PAIRS in value:
        return {_key(k): v for k, v in value[PAIRS]}
    return value


def _key(key: Any) -> Any:
    """JSON keys come back as lists where Python had tuples; dict keys must be hashable."""
    return tuple(_key(k) for k in key) if isinstance(key, list) else key


def save(path: Path) -> None:
    grammar = grammar_text()
    data, memo = build(grammar).memo_serialize([TerminalDef, Rule])
    document = {"fingerprint": fingerprint(grammar), "data": encode(data), "memo": encode(memo)}
    text = json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n"
    write_output(path, text.encode())


if __name__ == "__main__":
    target = Path(__file__).with_name(TABLE)
    save(target)
    print(f"wrote {target}")
