"""The command line: exit codes, output formats, and a start that loads no framework."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from archspec.cli.app import app
from archspec.ops.reference import reference_markdown

runner = CliRunner()


def invoke(*args: str):  # noqa: ANN201
    return runner.invoke(app, list(args))


def test_flops_reproduces_the_papers_headline_figures() -> None:
    result = invoke("flops", "specs/plain34.yaml", "specs/resnet34.yaml", "specs/vgg19.yaml")
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): line
        for line in result.output.splitlines()
        if line.count("│") > 4
    }
    for name, figure in (("plain34", "3.6"), ("resnet34", "3.6"), ("vgg19", "19.6")):
        cells = [c.strip() for c in rows[name].split("│")]
        assert cells[4] == figure  # the GFLOPs column, one decimal as in the paper


def test_flops_json_has_exact_integers_and_breakdowns() -> None:
    result = invoke(
        "flops", "specs/torchvision/resnet18.yaml", "--json", "--per-stage", "--per-layer"
    )
    assert result.exit_code == 0
    (record,) = json.loads(result.output)
    assert record["spec"] == "specs/torchvision/resnet18.yaml" and record["name"] == "resnet18"
    assert (record["input"], record["params"], record["macs"]) == (
        "3x224x224",
        11_689_512,
        1_814_073_344,
    )
    assert [s["name"] for s in record["stages"]] == ["layer1", "layer2", "layer3", "layer4"]
    assert sum(layer["macs"] for layer in record["layers"]) == record["macs"]


def test_defines_and_input_override() -> None:
    result = invoke("flops", "specs/cifar/cifar.yaml", "-D", "n=18", "--input", "3x64x64", "--json")
    (record,) = json.loads(result.output)
    assert (
        record["params"] == 1_727_962
        and record["input"] == "3x64x64"
        and record["parameters"] == {"n": 18, "num_classes": 10, "in_channels": 3}
    )


def test_check_passes_and_fails_with_every_error() -> None:
    assert invoke("check", "specs/resnet34.yaml", "specs/arch/resnet_d.arch").exit_code == 0
    result = invoke(
        "check", "tests/errors/shortcut_a_narrows.yaml", "tests/errors/unknown_layer.yaml"
    )
    assert result.exit_code == 1
    assert "error[E305]" in result.output and "error[E300]" in result.output
    assert "--> tests/errors/shortcut_a_narrows.yaml:8:11" in result.output


def test_check_short_form() -> None:
    result = invoke("check", "--short", "tests/errors/unknown_argument.yaml")
    assert result.exit_code == 1
    assert (
        "tests/errors/unknown_argument.yaml:4:16: error[E301]: unknown argument 'k' of conv"
        in result.output
    )


def test_bad_define_is_a_usage_error() -> None:
    result = invoke("flops", "specs/cifar/cifar.yaml", "-D", "n")
    assert result.exit_code == 2 and "name=value" in result.output


def test_missing_file_is_a_clear_error() -> None:
    result = invoke("check", "specs/nope.yaml")
    assert result.exit_code == 1 and "cannot read specs/nope.yaml" in result.output


def test_schema_is_a_json_schema_of_the_yaml_form() -> None:
    schema = json.loads(invoke("schema").output)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {"name", "input", "stages", "shortcut", "define", "extends"} <= set(schema["properties"])
    assert set(schema["then"]["required"]) == {"name", "input"}  # unless it `extends` a spec


def test_language_reference_is_current() -> None:
    """docs/language.md embeds the layer table generated from the op registry."""
    assert invoke("reference").output == reference_markdown()
    assert reference_markdown() in Path("docs/language.md").read_text()


def test_flops_check_and_build_import_neither_torch_nor_jax() -> None:
    code = (
        "import sys\n"
        "from archspec.cli.app import app\n"
        "runs = (['flops', 'specs/resnet34.yaml', 'specs/vgg19.yaml'],\n"
        "        ['check', 'specs/resnet50.yaml'],\n"
        "        ['build', 'specs/resnet34.yaml', '--backend', 'torch', '-o', '-'],\n"
        "        ['build', 'specs/resnet34.yaml', '--backend', 'flax', '-o', '-'])\n"
        "for args in runs:\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, done.code\n"
        "frameworks = ('torch', 'jax', 'flax', 'graphviz', 'onnx', 'pandas')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in frameworks)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_console_script_and_module_entry_points() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "archspec", "flops", "specs/cifar/resnet20.yaml"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "269,722" in result.stdout


def test_shortcut_option_override_from_the_command_line() -> None:
    result = invoke("flops", "specs/resnet34.yaml", "-D", "shortcut=B", "--json")
    (record,) = json.loads(result.output)
    # option B everywhere the shape changes: torchvision's resnet34
    assert (record["params"], record["macs"]) == (21_797_672, 3_663_761_408)
    bad = invoke("check", "specs/resnet34.yaml", "-D", "shortcut=D")
    assert bad.exit_code == 1 and "unknown shortcut option 'D'" in bad.output


def test_check_json_lists_every_diagnostic_with_its_span() -> None:
    result = invoke("check", "--json", "tests/errors/unknown_argument.yaml", "specs/resnet34.yaml")
    assert result.exit_code == 1
    (diagnostic,) = json.loads(result.stdout)
    assert diagnostic["code"] == "E301" and diagnostic["help"] == "did you mean 'kernel'?"
    span = diagnostic["span"]
    assert (span["file"], span["line"], span["column"]) == (
        "tests/errors/unknown_argument.yaml",
        4,
        16,
    )
    assert json.loads(invoke("check", "--json", "specs/resnet34.yaml").stdout) == []
