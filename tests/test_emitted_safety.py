"""Untrusted specs cannot put code into an emitted module (issue 8), in both backends:
the cases found, a property test over every text slot of a spec, the emitter bugs, and
the last gate (E407: an emitter bug is an error, never a written file)."""

from __future__ import annotations

import keyword
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.frontend.grammar import KEYWORDS
from archspec.lower import names

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from emitted_checks import (  # noqa: E402
    assert_module_shape,
    assert_only_in_strings,
    docstrings,
    execute,
)
from torch_helpers import import_file, write_extra  # noqa: E402

BACKENDS = ["torch", "flax"]
PAYLOAD = 'x"""; open("pwned", "w"); """'
"""Pasted into a docstring as it is, this closes it and creates ./pwned on import."""


def flat(text: str) -> str:
    """Text with its whitespace collapsed: docstrings wrap long lines."""
    return " ".join(text.split())


def build(spec: str | Path, backend: str, output: Path) -> Any:
    from typer.testing import CliRunner

    from archspec.cli.app import app

    return CliRunner().invoke(app, ["build", str(spec), "--backend", backend, "-o", str(output)])


def built_and_imported(spec: str | Path, backend: str, directory: Path, monkeypatch: Any) -> str:
    """``archspec build`` the spec, check the text, import it from ``directory``: nothing
    may run but the definitions (no ./pwned appears)."""
    target = directory / f"out_{backend}.py"
    result = build(spec, backend, target)
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert_module_shape(text)
    monkeypatch.chdir(directory)
    import_file(target)
    assert not (directory / "pwned").exists()
    return text


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["yaml", "arch"])
def test_paper_source_stays_inside_the_docstring(
    form: str, backend: str, tmp_path: Path, monkeypatch: Any
) -> None:
    source = PAYLOAD + " \\N{BULLET} \\x4 \\"
    spec = tmp_path / f"paper.{form}"
    if form == "yaml":
        spec.write_text(
            "name: paper\ninput: 3x8x8\nstem: conv(4, 1)\n"
            f"paper: {{macs: 1.0e+9, source: '{source}'}}\n"
        )
    else:  # a .arch string cannot hold its own quote: the other one is still a payload
        spec.write_text(
            f"network paper\ninput 3x8x8\nstem conv(4, 1)\npaper macs=1e9 source='{source}'\n"
        )
    text = built_and_imported(spec, backend, tmp_path, monkeypatch)
    assert flat(source) in flat(docstrings(text)[-1])  # the network class's, as written


@pytest.mark.parametrize("backend", BACKENDS)
def test_parameter_names_are_identifiers_where_they_are_written(
    backend: str, tmp_path: Path
) -> None:
    spec = tmp_path / "params.yaml"
    spec.write_text(
        "name: params\ninput: 3x8x8\n"
        'params: {ok: 1, \'k"""; import os; """\': 1}\nstem: conv(4, 1)\n'
    )
    result = build(spec, backend, tmp_path / "out.py")
    column = spec.read_text().splitlines()[2].index("'k") + 1
    assert result.exit_code == 1 and "error[E204]" in result.output
    assert f"--> {spec}:3:{column}" in result.output and "^^^" in result.output
    assert not (tmp_path / "out.py").exists()


@pytest.mark.parametrize("name", ["class", "true", "shortcut", "lambda"])
def test_parameter_names_may_not_be_keywords(name: str) -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(f"name: t\ninput: 3x8x8\nparams: {{'{name}': 1}}\nstem: conv(4, 1)\n")
    first = caught.value.diagnostics[0]
    assert (first.code, first.span.line, first.span.column) == ("E311", 3, 10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_string_parameter_values_stay_inside_docstrings(
    backend: str, tmp_path: Path, monkeypatch: Any
) -> None:
    spec = tmp_path / "values.yaml"
    spec.write_text(
        "name: values\ninput: 3x8x8\nstem: conv(4, 1)\n"
        f"params: {{tag: '{PAYLOAD}', note: \"a\\x1b[2J\\u202eb\\\\N{{BULLET}}\"}}\n"
    )
    text = built_and_imported(spec, backend, tmp_path, monkeypatch)
    assert "\x1b" not in text and "\u202e" not in text  # shown as escapes, not sent raw
    assert f"tag='{PAYLOAD}'" in flat(docstrings(text)[0])
    assert 'note="a\\x1b[2J\\u202eb\\\\N{BULLET}"' in flat(docstrings(text)[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_spec_path_stays_inside_the_docstring(
    backend: str, tmp_path: Path, monkeypatch: Any
) -> None:
    folder = tmp_path / (PAYLOAD + " \\N{BULLET} \\x4 \x1b[2J")
    folder.mkdir()
    spec = folder / "net.yaml"
    spec.write_text("name: net\ninput: 3x8x8\nstem: conv(4, 1)\n")
    text = built_and_imported(spec, backend, tmp_path, monkeypatch)
    assert flat(f"Source: {spec}.".replace("\x1b", "\\x1b")) in flat(docstrings(text)[0])


# ---- every text slot, any text


CANARY = "zq9canary"
PIECES = [
    '"""',
    "'''",
    '"',
    "'",
    "\\",
    "\\N{BULLET}",
    "\\x4",
    "\\u00",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\x1b[2J",
    "\u2028",
    "\x0c",
    "\x85",
    "\u202e",
    "\ufeff",
    "#",
    "); import os; (",
    "\t",
    " ",
    "{}",
    "\U0001f600",
]
TEXT = st.lists(
    st.sampled_from(PIECES) | st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
    max_size=6,
).map("".join)
PATH_TEXT = st.lists(
    st.sampled_from(PIECES) | st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF) | TEXT,
    max_size=4,
).map("".join)
"""Paths may hold lone surrogates: undecodable bytes in a file name, as Python reads them."""
NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True)


def marked(text: str) -> str:
    return text + CANARY + text


def folder_for(base: Path, text: str) -> Path:
    """A folder whose name holds ``text``, as far as the filesystem allows (no '/' or NUL,
    255 bytes); where it refuses even that, a plain one (that slot is then untested)."""
    name = "d" + text.replace("/", "_").replace("\x00", "_")
    try:
        while len(os.fsencode(name)) > 200:
            name = name[:-1]
        (base / name).mkdir()
        return base / name
    except (OSError, UnicodeEncodeError, ValueError):
        (base / "plain").mkdir()
        return base / "plain"


def assert_safe(arch: Any, mark: bool = True) -> None:
    for backend in BACKENDS:
        text = arch.source(backend)
        assert_module_shape(text)
        if mark:
            assert_only_in_strings(text, CANARY)
        execute(text, f"emitted_{backend}")  # definitions only: nothing else runs


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    source=TEXT,
    description=TEXT,
    value=TEXT,
    path=PATH_TEXT,
    parameter=NAME.filter(lambda n: n not in KEYWORDS and not keyword.iskeyword(n)),
    network=NAME.filter(lambda n: not names.refused_network_name(n)),
)
def test_any_text_in_any_slot_of_a_yaml_spec_stays_text(
    source: str, description: str, value: str, path: str, parameter: str, network: str
) -> None:
    """Paper source, description, a string parameter's value and the file path hold any
    text (with a canary), the parameter and network names any valid name: the emitted
    modules compile, hold only definitions, and the canary is only ever in a string."""
    spec = {
        "name": network,
        "description": marked(description),
        "input": "3x4x4",
        "params": {parameter: marked(value)},
        "paper": {"macs": 1.0e6, "source": marked(source)},
        "stem": "conv(2, 1) g=(bn relu)",
        "head": "flatten fc(2)",
    }
    text = yaml.safe_dump(spec, allow_unicode=True, width=1 << 30, sort_keys=False)
    with tempfile.TemporaryDirectory() as base:
        folder = folder_for(Path(base), marked(path))
        (folder / "net.yaml").write_text(text, encoding="utf-8")
        arch = archspec.load(folder / "net.yaml")
        assert arch.network.paper is not None and CANARY in arch.network.paper.source
        assert_safe(arch)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=TEXT.map(lambda t: t.replace('"', "").replace("\n", "").replace("\r", "")))
def test_any_text_in_an_arch_paper_source_stays_text(source: str) -> None:
    text = f'network net\ninput 3x4x4\nstem conv(2, 1)\npaper macs=1e6 source="{marked(source)}"\n'
    with tempfile.TemporaryDirectory() as base:
        (Path(base) / "net.arch").write_text(text, encoding="utf-8")
        assert_safe(archspec.load(Path(base) / "net.arch"))


# ---- emitter bugs


@pytest.mark.parametrize("backend", BACKENDS)
def test_unnamed_layers_with_varying_arguments_get_valid_parameter_names(
    backend: str, tmp_path: Path, monkeypatch: Any
) -> None:
    """``cbr(16) cbr(16, 2)``: torchvision's features.0.0 naming. The stride of the
    unnamed conv ``0`` is the block's parameter ``conv0_stride`` (was ``0_stride``)."""
    text = built_and_imported(write_extra(tmp_path, "cbr.arch"), backend, tmp_path, monkeypatch)
    assert "conv0_stride: int = 2" in text and "strides=conv0_stride" in text.replace(
        "stride=", "strides="
    )
    assert "conv0_stride=1" in text  # cbr(16): the first of three, stride 1


def test_nested_blocks_build_for_flax_from_the_command_line(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Was a raw TypeError; the module's state and program equal the in-memory build's
    (test_backend_flax checks every spec that way)."""
    pytest.importorskip("flax")
    text = built_and_imported(write_extra(tmp_path, "nested.arch"), "flax", tmp_path, monkeypatch)
    assert "a_downsample: Callable[[jax.Array], jax.Array] | None = None" in text
    assert "self.a = InnerBlock(" in text and "downsample=a_downsample," in text


def test_non_finite_float_arguments_are_refused_where_written() -> None:
    """``bn(eps=1e999)`` is inf: refused at its place (E313), so no emitted file ever has
    to spell a non-finite number."""
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load("name: eps\ninput: 3x8x8\nstem: conv(4) bn(eps=1e999)\n")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E313" and "not a finite number" in diagnostic.message
    assert diagnostic.span is not None and (diagnostic.span.line, diagnostic.span.column) == (3, 22)


# ---- the last gate


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "emitted",
    ['"""A module."""\nprint("runs on import")\n', '"""A module."""\nclass (:\n', "x = 1\n"],
)
def test_an_emitter_bug_is_an_internal_error_and_nothing_is_written(
    backend: str, emitted: str, tmp_path: Path, monkeypatch: Any
) -> None:
    """Whatever an emitter returns is parsed, compiled and checked for an emitted
    module's shape before it is written: otherwise E407, exit 1, no file."""
    if backend == "flax":
        pytest.importorskip("flax")
    monkeypatch.setattr("archspec.codegen.emitter.Emitter.source", lambda self: emitted)
    target = tmp_path / "out.py"
    result = build("specs/cifar/resnet20.yaml", backend, target)
    assert result.exit_code == 1 and "error[E407]" in result.output, result.output
    assert not target.exists()


def test_a_name_that_is_not_an_identifier_never_becomes_code(monkeypatch: Any) -> None:
    monkeypatch.setattr(
        "archspec.codegen.emitter.camel_case", lambda name, fallback="Net": "Net; import os"
    )
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load("specs/cifar/resnet20.yaml").source("torch")
    assert caught.value.code == "E407" and "not a Python identifier" in str(caught.value)
