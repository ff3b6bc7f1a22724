"""The error corpus: every file in tests/errors is a broken spec whose first line says
the code, the position and a fragment of the message it must produce.

    # expect E305 at 8:11: shortcut A cannot reduce channels
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archspec

ERRORS = Path(__file__).parent / "errors"
CORPUS = sorted(p for p in ERRORS.iterdir() if p.suffix in (".yaml", ".arch"))
EXPECT = re.compile(r"# expect (E\d{3}) at (\d+)(?::(\d+))?: (.+)")
PACKAGE = Path(archspec.__file__).parent


def expectation(path: Path) -> tuple[str, int, int | None, str]:
    match = EXPECT.match(path.read_text(encoding="utf-8-sig").splitlines()[0])
    assert match, f"{path.name}: first line must be '# expect EXXX at L:C: message'"
    code, line, column, fragment = match.groups()
    return code, int(line), int(column) if column else None, fragment


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_broken_spec_is_reported_where_it_is_wrong(path: Path) -> None:
    code, line, column, fragment = expectation(path)
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(path)
    first = caught.value.diagnostics[0]
    assert first.code == code, caught.value.render()
    assert first.span is not None and first.span.file == str(path)
    assert first.span.line == line, caught.value.render()
    if column is not None:
        assert first.span.column == column, caught.value.render()
    assert fragment in first.message + " " + first.help, caught.value.render()
    rendered = caught.value.render()
    assert f"--> {path}:{line}:" in rendered and "^" in rendered  # the line, with a caret


def test_every_error_code_has_a_broken_spec() -> None:
    """A code the compiler can raise but no spec in the corpus exercises is untested."""
    raised = set()
    for source in PACKAGE.rglob("*.py"):
        if "backends" in source.parts or "cli" in source.parts:
            continue  # E4xx: tested with the backends and the command line
        raised |= set(re.findall(r'"(E[123]\d\d)"', source.read_text()))
    covered = {expectation(p)[0] for p in CORPUS}
    assert raised - covered == set()


def test_independent_errors_are_all_reported_in_one_run(tmp_path: Path) -> None:
    spec = tmp_path / "many.yaml"
    spec.write_text(
        "name: many\ninput: 3x32x32\nstem: conv(16, k=3) bn relu\n"
        "stages:\n  layer1: basic(16) x 1000000000\n  layer2: basic(32, strid=2) x 3\n"
        "head: >-\n  global_avgpool flatten\n  fc(10\n"
    )
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(spec)
    found = [(d.code, d.span.line, d.span.column) for d in caught.value.diagnostics if d.span]
    # by position: the bad argument, the absurd depth, the misspelt keyword, the unclosed call
    assert found == [("E301", 3, 16), ("E313", 5, 23), ("E301", 6, 21), ("E100", 9, 7)]


def test_short_form_is_one_line_per_error() -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(ERRORS / "shortcut_a_narrows.yaml")
    assert caught.value.short() == (
        f"{ERRORS / 'shortcut_a_narrows.yaml'}:8:11: error[E305]: "
        "shortcut A cannot reduce channels (64 -> 32) at layer2.0"
    )


def test_long_lines_are_shown_as_a_window_around_the_caret(tmp_path: Path) -> None:
    spec = tmp_path / "long.yaml"
    spec.write_text("name: t\ninput: 3x8x8\nstem: " + "relu " * 100 + "bnn " + "relu " * 100 + "\n")
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(spec)
    excerpt_line, caret_line = caught.value.render().splitlines()[3:5]
    assert len(excerpt_line) < 120 and excerpt_line.startswith("3 | ...")
    position = caret_line.index("^")
    assert excerpt_line[position : position + 3] == "bnn" and caret_line.count("^") == 3
