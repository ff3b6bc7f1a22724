"""codegen.escape: any text becomes a correct literal, docstring or comment line; only
identifiers become code. No framework needed."""

from __future__ import annotations

import ast
import subprocess
import sys
import tokenize
from io import StringIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archspec.codegen import pysource as py
from archspec.codegen.escape import (
    UnsafeName,
    comment_line,
    formatted,
    identifier,
    is_identifier,
    literal,
    string,
    visible,
)

NASTY = [
    'x"""; open("/tmp/p", "w"); """',
    "x'''; import os; '''",
    "\\N{BULLET} \\x41 \\u0041 \\",
    'ends with a quote"',
    "ends with a backslash\\",
    "a\nb\rc\r\nd",
    "nul\x00 esc\x1b[31m bell\x07 del\x7f",
    "line\u2028para\u2029nel\x85 ff\x0c vt\x0b",
    "bidi \u202eevil\u202c zero\u200bwidth \ufeffbom",
    "lone \udcff \ud800 surrogates",
    "nbsp\xa0 ideographic\u3000 space",
    "emoji \U0001f600 and \U000e0001 tag",
    'it\'s "both"',
    '"""',
    "'",
    "",
]
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
"""Any code point, unpaired surrogates included (a path read from disk can hold them)."""


@pytest.mark.parametrize("text", NASTY)
def test_string_literal_evaluates_to_the_text(text: str) -> None:
    source = string(text)
    assert ast.literal_eval(source) == text
    assert source.isprintable()  # one line, no raw control character
    source.encode("utf-8")  # surrogates escaped: the file can be written


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_any_text_round_trips_through_a_literal(text: str) -> None:
    source = string(text)
    assert ast.literal_eval(source) == text and source.isprintable()
    assert ast.literal_eval(literal(text)) == text


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_any_text_makes_a_docstring_and_a_comment_that_hold(text: str) -> None:
    canary = "CANARY"
    lines = py.docstring(f"{text}{canary}{text}\n\nsecond {text} paragraph", 1)
    module = "class C:\n" + "\n".join(lines) + "\n"
    tree = ast.parse(module.encode("utf-8"))
    assert len(tree.body) == 1 and len(tree.body[0].body) == 1  # the docstring alone
    doc = ast.get_docstring(tree.body[0], clean=False) or ""
    assert canary in doc
    assert all(c.isprintable() or c == "\n" for c in doc)
    # comments wrap long words (not docstrings): the canary is a word of its own here
    comment = "x = 1\n" + "\n".join(py.comment(f"{text} {canary} {text}", 0)) + "\ny = 2\n"
    tokens = list(tokenize.generate_tokens(StringIO(comment).readline))
    assert [t for t in tokens if canary in t.string][0].type == tokenize.COMMENT
    assert [t.string for t in tokens if t.type == tokenize.NAME] == ["x", "y"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ANY_TEXT, st.sampled_from(["{i}", "{n}", "{", "}"])), max_size=6))
def test_any_template_makes_an_f_string_of_its_holes(parts: list[str]) -> None:
    """Named copies (``f"unit{i + 1}"``): the text around the holes is only text."""
    template = "".join(parts)
    source = formatted(template, {"{i}": "i", "{n}": "i + 1"})
    assert source.isprintable() and isinstance(ast.parse(source).body[0], ast.Expr)
    expected = template.replace("{i}", "7").replace("{n}", "8")
    assert eval(compile(source, "<named>", "eval"), {"i": 7}) == expected
    assert eval(formatted(template, {})) == template  # no hole: a plain string


def test_docstring_shows_spec_text_as_written_apart_from_control_characters() -> None:
    text = 'paper "x\\N{BULLET}" \\ and\x1b[2J'
    lines = py.docstring(text, 0)
    doc = ast.literal_eval("\n".join(lines))
    assert doc == 'paper "x\\N{BULLET}" \\ and\\x1b[2J'
    assert visible("tab\tnew\nline\u202e") == "tab\\tnew\\nline\\u202e"
    assert comment_line("a\nb") == "a\\nb"


def test_non_finite_floats_are_expressions_not_names() -> None:
    assert literal(float("inf")) == 'float("inf")'
    assert literal(float("-inf")) == 'float("-inf")'
    assert literal(float("nan")) == 'float("nan")'
    assert [literal(v) for v in (True, 3, 0.1, 1e-05)] == ["True", "3", "0.1", "1e-05"]
    assert eval(literal(float("-inf"))) == float("-inf")


@pytest.mark.parametrize(
    "name",
    ["class", "None", "a b", "1x", "x-y", "", "a;import os", "ｆｏｒｗａｒｄ", "ﬁ"],
)
def test_only_identifiers_become_code(name: str) -> None:
    """Keywords, non-identifiers, and names Python would fold to another (NFKC) refused."""
    assert not is_identifier(name)
    with pytest.raises(UnsafeName):
        identifier(name)
    assert identifier("conv1") == "conv1" and identifier("_0") == "_0"


def test_escaped_text_is_stable_under_ruff_format(tmp_path: Path) -> None:
    """Literals choose the quotes ruff prefers and docstrings keep their escapes, so the
    emitted files stay formatter-clean whatever the spec says."""
    ruff = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True)
    if ruff.returncode:
        pytest.skip("ruff is not installed")
    body = [f"X{i} = {string(text)}" for i, text in enumerate(NASTY)]
    for i, text in enumerate(NASTY):
        body += ["", "", f"class C{i}:", *py.docstring(f"Doc {text}", 1)]
        body += ["", "", f"class D{i}:", *py.docstring(f"Doc {text}\n\nmore {text}", 1)]
    path = tmp_path / "escaped.py"
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    for command in (["check", "--select", "E,F,W,B,UP"], ["format", "--check", "--diff"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--isolated", str(path)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
