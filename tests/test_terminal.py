"""Spec text on a terminal: control characters made visible (one function, used by every
renderer), never interpreted as rich markup or emoji."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.analysis.diff import diff
from archspec.cli.app import app
from archspec.source import printable

ESC = "\x1b"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"{ESC}[2J", "\\x1b[2J"),
        ("a\rb\tc\x7f", "a\\x0db\\x09c\\x7f"),
        ("\x9b31m", "\\x9b31m"),  # C1 CSI, which some terminals obey
        ("safe\u202eexe.yaml", "safe\\u202eexe.yaml"),  # a right-to-left override
        ("zero\u200bwidth\u2028line", "zero\\u200bwidth\\u2028line"),
        ("\ud800", "\\ud800"),  # a lone surrogate would make printing fail
        ("line one\nline two", "line one\nline two"),
        ("é, 中文, ∑, 🙂 and [bold] :x:", "é, 中文, ∑, 🙂 and [bold] :x:"),
    ],
)
def test_printable_shows_what_a_terminal_would_act_on(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_an_escape_in_a_spec_line_is_shown_with_the_caret_under_it() -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(Path("tests/errors/control_characters.arch"))
    rendered = caught.value.render()
    assert ESC not in rendered
    lines = rendered.splitlines()
    assert (
        lines[0] == "error[E100]: unexpected '\\x1b'; expected '(', ')', '+ shortcut' or "
        "'+ identity', ',', '->', '/', a name, a string"
    )
    code, caret = lines[3], lines[4]
    assert code == "4 | stem conv(16) \\x1b[2Jbnn"
    assert caret.index("^") == code.index("\\x1b") and caret.count("^") == len("\\x1b")


def test_summary_shows_the_paper_source_made_visible() -> None:
    title = 'source: "Table 1\\e]0;owned\\e\\\\"'  # YAML's \e is ESC: a terminal title
    summary = archspec.load(
        f"name: t\ninput: 3x8x8\npaper: {{params: 100, {title}}}\nstem: conv(4)\n"
    ).summary()
    assert ESC not in summary and "Paper: 100 params (Table 1\\x1b]0;owned\\x1b\\)" in summary


def test_diff_shows_parameter_values_made_visible() -> None:
    spec = 'name: t\ninput: 3x8x8\nparams: {act: "relu\\e[8m"}\nstem: conv(4)\n'
    a, b = archspec.load(spec), archspec.load(spec, act="x\u202ey")
    report = diff(a, b).render()
    assert ESC not in report and "\u202e" not in report
    assert "[act=relu\\x1b[8m]" in report and "[act=x\\u202ey]" in report


def test_the_command_line_takes_spec_text_literally(tmp_path: Path) -> None:
    """Neither rich markup nor emoji codes in spec text (or a file name) are interpreted."""
    spec = tmp_path / "[bold]net:x:.yaml"
    spec.write_text('name: t\ninput: 3x8x8\nstem: conv("[red]:x:")\n')
    result = CliRunner().invoke(app, ["check", str(spec)])
    assert result.exit_code == 1
    assert 'conv("[red]:x:")' in result.output and "[bold]net:x:.yaml" in result.output
    assert "❌" not in result.output
    spec.write_text("name: t\ninput: 3x8x8\nstem: conv(4)\n")
    ok = CliRunner().invoke(app, ["check", str(spec)])
    assert ok.output == f"{spec}: ok\n"
