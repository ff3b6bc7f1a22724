"""Frontends: positions inside YAML strings, the .arch form, presets, literals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archspec
from archspec import ir
from archspec.frontend.dsl import parse_literal
from archspec.frontend.yamlfile import align


def test_arch_and_yaml_forms_compile_to_the_same_ir() -> None:
    arch = archspec.load("specs/arch/resnet34.arch").network
    yaml = archspec.load("specs/resnet34.yaml").network
    assert ir.to_data(arch) == ir.to_data(yaml)
    first = arch.members[0].node
    assert first.span is not None and first.span.file.endswith(".arch")


def test_spec_text_loads_without_a_file() -> None:
    text = (
        "name: tiny\ninput: 3x8x8\nstem: conv(4, 3) bn relu\nhead: global_avgpool flatten fc(2)\n"
    )
    arch = archspec.load(text)
    assert arch.network.output == (2,) and [m.name for m in arch.network.members] == list("012345")


@pytest.mark.parametrize(
    ("layout", "line", "column"),
    [
        ("head: global_avgpool flatten fcc(10)", 4, 30),  # plain scalar
        ('head: "global_avgpool flatten fcc(10)"', 4, 31),  # quoted: past the quote
        ("head: >-\n  global_avgpool\n  flatten fcc(10)", 6, 11),  # folded, second line
        ("head: |\n  global_avgpool\n    flatten\n  fcc(10)", 7, 3),  # literal block
    ],
)
def test_positions_inside_yaml_strings(tmp_path: Path, layout: str, line: int, column: int) -> None:
    spec = tmp_path / "where.yaml"
    spec.write_text(f"name: where\ninput: 3x8x8\nstem: conv(4)\n{layout}\n")
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(spec)
    span = caught.value.span
    assert (span.line, span.column, span.end_column - span.column) == (line, column, 3)
    assert caught.value.diagnostics[0].help == "did you mean 'fc'?"


def test_align_maps_every_value_character_into_the_raw_text() -> None:
    raw = ">-\n  a(1)\n  b"
    offsets = align("a(1) b", raw, 100)
    assert [raw[o - 100] for o in offsets[:6]] == ["a", "(", "1", ")", "\n", "b"]


def test_presets_override_parameters_and_keys() -> None:
    resnet = archspec.load("specs/cifar/resnet56.yaml")
    plain = archspec.load("specs/cifar/plain56.yaml")
    expected = {"n": 9, "num_classes": 10, "in_channels": 3}
    assert dict(resnet.network.parameters) == expected == dict(plain.network.parameters)
    assert resnet.network.shortcut == "A" and plain.network.shortcut == "none"
    assert resnet.counts.params == plain.counts.params  # option A adds no parameters


def test_errors_in_a_base_spec_point_into_the_base_file(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "name: base\ninput: 3x8x8\nparams: {w: 4}\nstem: conv(w) bnn\n"
    )
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\nparams: {w: 8}\n")
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(tmp_path / "child.yaml")
    span = caught.value.span
    assert span.file.endswith("base.yaml") and (span.line, span.column) == (4, 15)
    assert "4 | stem: conv(w) bnn" in caught.value.render()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("18", 18),
        ("2.5", 2.5),
        ("-3", -3),
        ("true", True),
        ("false", False),
        ("B", "B"),
        ("1e9", 1e9),
    ],
)
def test_command_line_literals(text: str, value: object) -> None:
    parsed = parse_literal(text)
    assert parsed == value and type(parsed) is type(value)


def test_parameters_override_and_are_type_checked() -> None:
    assert archspec.load("specs/cifar/cifar.yaml", n=18).counts.params == 1_727_962
    with pytest.raises(archspec.SpecError, match="parameter 'n' takes a whole number") as caught:
        archspec.load("specs/cifar/cifar.yaml", n=2.5)
    declared = (
        Path("specs/cifar/cifar.yaml")
        .read_text()
        .splitlines()
        .index("params: {n: 3, num_classes: 10, in_channels: 3}")
    )
    assert caught.value.span.line == declared + 1  # where the spec declares n
    with pytest.raises(archspec.SpecError, match="expected one of 'in_channels', 'n'"):
        archspec.load("specs/cifar/cifar.yaml", m=3)


def test_comments_and_multiline_definitions_in_yaml(tmp_path: Path) -> None:
    spec = tmp_path / "custom.yaml"
    spec.write_text(
        "name: custom\ninput: 3x16x16\nshortcut: B\n"
        "define: |\n"
        "  # a block with a width multiplier and a conditional layer\n"
        "  block mine(width, stride=1, k=2) =\n"
        "      let mid = width * k\n"
        "      conv1=conv(mid, 3, stride=stride) bn1=bn relu1=relu\n"
        "      drop=dropout(0.1) if k > 1\n"
        "      conv2=conv(width, 3) bn2=bn + shortcut -> relu\n"
        "stem: conv(8)\nstages:\n  layer1: mine(8) x 2\n  layer2: mine(16, k=1) x 1 /2\n"
    )
    network = archspec.load(spec).network
    first, second = (stage.members[0].node for _, stage in network.stages())
    assert isinstance(first, ir.Group) and isinstance(second, ir.Group)
    body = [m.name for m in first.members]
    assert body == ["conv1", "bn1", "relu1", "drop", "conv2", "bn2", "6"]  # "6": the relu
    assert "drop" not in [m.name for m in second.members]  # k == 1: the condition drops it
    assert ir.shortcut_kind(second) == "projection" and ir.shortcut_kind(first) == "identity"


def test_shipped_parse_tables_are_current_and_parse_alike() -> None:
    """archspec.lark.json fits the grammar (regenerate: python -m archspec.frontend.table)
    and parses every spec's text exactly as a parser built from the grammar does."""
    from archspec.frontend import table

    grammar = table.grammar_text()
    shipped = json.loads((Path(table.__file__).parent / table.TABLE).read_text())
    assert shipped["fingerprint"]["grammar_sha256"] == table.fingerprint(grammar)["grammar_sha256"]
    loaded, built = table.load(), table.build(grammar)
    texts = [p.read_text() for p in sorted(Path("specs").rglob("*.arch"))]
    texts.append(Path("archspec/stdlib/blocks.arch").read_text())
    for text in texts:
        start = "file" if text.lstrip().startswith(("network", "#")) else "definitions"
        assert loaded.parse(text, start=start) == built.parse(text, start=start)
