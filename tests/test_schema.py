"""The JSON Schema editors use: every shipped spec passes, presets included; broken ones fail;
completions come from the language; every key is described."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from archspec.cli.app import app
from archspec.frontend.editor_schema import json_schema

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.yaml"))
VALID = {"name": "net", "input": "3x32x32", "stages": {"layer1": "basic(16) x 2"}}


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_command_prints_the_schema() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0 and json.loads(result.output) == json_schema()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_every_shipped_spec_validates(path: Path, validator: Any) -> None:
    errors = [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_presets_are_among_them() -> None:
    presets = [p for p in SPECS if "extends" in yaml.safe_load(p.read_text())]
    assert len(presets) == 46 and len(SPECS) == 72


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"input": None}, "'input' is a required property"),
        ({"name": None}, "'name' is a required property"),
        ({"input": "3x224"}, "does not match"),
        ({"input": "3x 224x224"}, "does not match"),
        ({"input": "c x 224x224x2"}, "does not match"),
        ({"name": "1net"}, "does not match"),
        ({"shortcut": "b-c"}, "is not valid under any of the given schemas"),
        ({"stagez": {}}, "Additional properties are not allowed"),
        ({"stages": {"2nd": "basic(16) x 2"}}, "does not match"),
        ({"stages": {"layer1": 3}}, "is not of type 'string'"),
        ({"params": {"n": [1, 2]}}, "is not valid under any of the given schemas"),
        ({"paper": {"macs": "3.6G"}}, "is not valid under any of the given schemas"),
    ],
)
def test_broken_specs_are_rejected(change: dict[str, Any], complaint: str, validator: Any) -> None:
    spec = {**VALID, **change}
    spec = {key: value for key, value in spec.items() if value is not None}
    messages = [error.message for error in validator.iter_errors(spec)]
    assert any(complaint in message for message in messages), messages


def test_a_preset_may_leave_out_what_its_base_gives(validator: Any) -> None:
    assert validator.is_valid({"extends": "cifar.yaml", "params": {"n": 5}})
    assert not validator.is_valid({"extends": "cifar.yaml", "input": "3x32"})
    assert validator.is_valid(VALID)


def test_completions_come_from_the_language() -> None:
    properties = json_schema()["properties"]
    options = ["A", "B", "C", "same", "none"]
    assert properties["shortcut"]["anyOf"][0]["enum"] == [*options, "conv1x1", "preact_conv1x1"]
    stages = properties["stages"]["additionalProperties"]["examples"]
    for block in ("basic", "bottleneck", "plain", "preact_basic", "preact_bottleneck"):
        assert f"{block}(64) x 2" in stages and f"{block}(128) x 2 /2" in stages
    assert {"conv(channels)", "bn", "maxpool(kernel)", "fc(features)"} <= set(
        properties["stem"]["examples"]
    )


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from schema["properties"].items()
    for definition in schema.get("$defs", {}).values():
        yield from definition["properties"].items()


def test_every_key_is_described() -> None:
    undocumented = [
        key for key, value in _properties(json_schema()) if not value.get("description")
    ]
    assert undocumented == []


def test_readme_shows_the_editor_line() -> None:
    assert "# yaml-language-server: $schema=" in (ROOT / "README.md").read_text()
