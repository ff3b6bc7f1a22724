"""Language fixes found while making specs safe: arithmetic `+`, the shortcut's stride,
definitions nobody uses, YAML's guessed types, -D given twice."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import archspec
from archspec import ir, ops
from archspec.cli.app import app

HEAD = "name: t\ninput: 3x16x16\nparams: {w: 8}\n"


def codes(text: str) -> list[str]:
    try:
        archspec.load(text)
    except archspec.SpecError as error:
        return [d.code for d in error.diagnostics]
    return []


@pytest.mark.parametrize(
    ("expression", "channels"),
    [
        ("1 + 1", 2),
        ("(w) + 8", 16),
        ("w+8", 16),
        ("2 * (w) + 8", 24),
        ("(w) - 1", 7),
        ("-(w) + 9", 1),
        ("w + w + w", 24),
    ],
)
def test_binary_plus_after_a_number_or_a_parenthesis(expression: str, channels: int) -> None:
    arch = archspec.load(HEAD + f"stem: conv({expression}, 3)\n")
    conv = arch.network.members[0].node
    assert isinstance(conv, ir.Layer) and isinstance(conv.op, ops.Conv2d)
    assert conv.op.out_channels == channels


def test_plus_shortcut_still_closes_a_body_after_a_condition_or_a_comment() -> None:
    define = (
        "define: |\n"
        "  block b(c, stride=1) = conv(c, 3, stride=stride) pool=maxpool(1) if stride > 1 + 0\n"
        "    conv(c, 3) + # the shortcut\n"
        "      shortcut -> relu\n"
    )
    arch = archspec.load(HEAD + define + "stages:\n  s1: b(8) x 2 /2\n")
    blocks = [
        p.node for p in ir.walk(arch.network) if isinstance(p.node, ir.Group) and p.node.definition
    ]
    assert [ir.shortcut_kind(b) for b in blocks] == ["projection", "identity"]


def test_the_shortcut_subsamples_by_the_strides_of_the_body() -> None:
    """A strided pool counts as a stride: the projection gets stride 2, as the body."""
    define = (
        "define: |\n  block b(c, stride=1) = conv(c, 3) maxpool(3, stride=stride, padding=1) "
        "+ shortcut\n"
    )
    arch = archspec.load(HEAD + define + "stages:\n  s1: b(16) /2\n")
    conv = ir.find(arch.network, "s1.0.downsample.0")
    assert isinstance(conv, ir.Layer) and isinstance(conv.op, ops.Conv2d)
    assert conv.op.stride == 2 and conv.output == (16, 8, 8)


def test_unused_definitions_without_mistakes_are_fine() -> None:
    define = (
        "define: |\n"
        "  block spare(width, stride=1, k=3) =\n"
        "    let mid = width // 2\n"
        "    conv(mid, k, stride=stride) (bn relu) x 2 conv(width, kernel=1) bn + shortcut\n"
        "  projection down(channels, stride) = avgpool(stride) conv(channels, 1) bn\n"
    )
    assert codes(HEAD + define + "stem: conv(8)\n") == []
    unused_projection = "define: |\n  projection down(channels, stride) = conv(channels, 1) bnn\n"
    assert codes(HEAD + unused_projection + "stem: conv(8)\n") == ["E300"]
    block_as_layer = "define: |\n  projection p(c, s) = conv(c, 1)\n  block b(c) = p(c, 1)\n"
    assert codes(HEAD + block_as_layer + "stem: conv(8)\n") == ["E300"]


@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        ("1:30", "the number 90 in YAML 1.1 but the text '1:30'"),
        ("yes", "true in YAML 1.1 but the text 'yes'"),
        ("Off", "false in YAML 1.1 but the text 'Off'"),
        ("010", "the number 8 in YAML 1.1 but the number 10"),
        ("0b101", "the number 5 in YAML 1.1 but the text '0b101'"),
        ("1_000", "the number 1000 in YAML 1.1 but the text '1_000'"),
        ("1e3", "the text '1e3' in YAML 1.1 but the number 1000.0"),
        ("0o17", "the text '0o17' in YAML 1.1 but the number 15"),
        ("2001-12-14", "a timestamp in YAML 1.1 but the text '2001-12-14'"),
    ],
)
def test_yaml_values_read_differently_by_yaml_1_1_and_1_2_are_refused(
    value: str, meaning: str
) -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(HEAD.replace("{w: 8}", f"{{w: {value}}}") + "stem: conv(8)\n")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E107" and meaning in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 13)  # type: ignore[union-attr]
    assert "quoted" in diagnostic.help


@pytest.mark.parametrize("value", ["3.6e+9", "0x1F", ".5", "-1", "true", "'yes'", '"1:30"', "8"])
def test_values_every_yaml_reads_alike_are_accepted(value: str) -> None:
    assert "E107" not in codes(HEAD.replace("{w: 8}", f"{{w: {value}}}") + "stem: conv(8)\n")


@pytest.mark.parametrize("key", ["true", "null", "1", "1:30", "yes", "~"])
def test_parameter_names_that_yaml_reads_as_values_are_refused(key: str) -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(HEAD.replace("{w: 8}", f"{{{key}: 8}}") + "stem: conv(8)\n")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E107" and f"the key '{key}' is" in diagnostic.message


def test_a_repeated_or_absurd_define_is_a_usage_error() -> None:
    runner = CliRunner()
    twice = runner.invoke(app, ["flops", "specs/cifar/cifar.yaml", "-D", "n=3", "-D", "n=5"])
    assert twice.exit_code == 2 and "-D n is given twice" in twice.output
    both = runner.invoke(app, ["diff", "specs/cifar/cifar.yaml", "-D", "n=3", "-A", "n=5"])
    assert both.exit_code == 2 and "-D n is given twice" in both.output
    huge = runner.invoke(app, ["flops", "specs/cifar/cifar.yaml", "-D", "n=" + "9" * 5000])
    assert huge.exit_code == 2
    assert "-D n: a number of 5,000 characters is absurdly large" in huge.output
