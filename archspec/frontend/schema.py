"""The YAML form's schema: which keys a spec has, their types, and what they mean.

Validated with pydantic (strict, extra keys forbidden) once a preset is merged over the
spec it ``extends``. The JSON Schema (``editor_schema``, ``archspec schema``) checks
files as written, for editors: a preset may leave out what its base gives, so ``name``
and ``input`` are required only where ``extends`` is absent; shapes and names carry
their patterns, and the shortcut options their choices.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from archspec.frontend import syntax as s

SHORTCUT_OPTIONS = ("A", "B", "C", "same", "none")
NAME_PATTERN = "^[A-Za-z][A-Za-z0-9_]*$"
_SIZE = "(?:[0-9]+|[A-Za-z_][A-Za-z0-9_]*)"  # a number, or a parameter set apart by spaces
_APART = "[ \\t]+x[ \\t]+"
SHAPE_PATTERN = (
    f"^(?:[0-9]+x[0-9]+x[0-9]+|{_SIZE}{_APART}[0-9]+x[0-9]+|[0-9]+x[0-9]+{_APART}{_SIZE}"
    f"|{_SIZE}{_APART}{_SIZE}{_APART}{_SIZE})$"
)
"""CxHxW as ``archspec.lower.inputs`` reads it: ``3x224x224``, ``in_channels x 224x224``."""


def _required_unless_extends(schema: dict[str, Any]) -> None:
    """A preset names the spec it extends and may omit keys; any other spec needs them."""
    required = schema.pop("required", [])
    schema["if"] = {"not": {"required": ["extends"]}}
    schema["then"] = {"required": required}


class PaperSpec(BaseModel):
    """Figures the paper reports, recorded so `archspec flops` can show the difference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    macs: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="multiply-adds, what the paper calls FLOPs"
    )
    params: float | None = Field(None, ge=0, allow_inf_nan=False, description="parameter count")
    source: str = Field("", description="where in the paper, e.g. 'Table 1'")


class SpecFile(BaseModel):
    """A network spec in YAML. DSL-valued keys are documented in docs/language.md."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="archspec network spec",
        json_schema_extra=_required_unless_extends,
    )

    name: str = Field(
        description="the network's name: a letter, then letters, digits or _; names the "
        "emitted class and file",
        json_schema_extra={"pattern": NAME_PATTERN, "examples": ["resnet50"]},
    )
    extends: str | None = Field(
        None,
        description="path (relative to this file) of a spec this one presets: its keys, with "
        "these on top; `params` merge key by key",
    )
    display_name: str = Field(
        "",
        description="how people write the network's name, e.g. 'ResNet-50': the emitted class "
        "keeps its letters and digits (ResNet50); a spec that extends this one and sets its "
        "own name does not inherit it",
        json_schema_extra={"pattern": s.DISPLAY_PATTERN, "examples": ["ResNet-50"]},
    )
    description: str = Field("", description="free text")
    input: str = Field(
        description="input shape CxHxW (no batch), e.g. 3x224x224; a size may be a "
        "parameter's name, set apart by spaces: in_channels x 224x224",
        json_schema_extra={
            "pattern": SHAPE_PATTERN,
            "examples": ["3x224x224", "in_channels x 224x224"],
        },
    )
    shortcut: str = Field(
        "B",
        description="default shortcut option: A (zero-pad identity), B (project where the "
        "shape changes), C (project everywhere), same (an identity where the shape stays, "
        "none elsewhere), none (plain net), or a projection defined in `define`",
        json_schema_extra={
            "anyOf": [
                {"enum": list(SHORTCUT_OPTIONS)},
                {"pattern": NAME_PATTERN, "description": "a projection's name"},
            ]
        },
    )
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict,
        description="network parameters with defaults, overridable with -D name=value",
        json_schema_extra={"propertyNames": {"pattern": NAME_PATTERN}, "examples": [{"n": 3}]},
    )
    let: dict[str, str] = Field(
        default_factory=dict,
        description="names computed from the parameters, in order, for the stem, stages and "
        "head: name -> expression",
        json_schema_extra={
            "propertyNames": {"pattern": NAME_PATTERN},
            "examples": [{"depth2": "ceil(2 * depth_mult)"}],
        },
    )
    paper: PaperSpec | None = Field(None, description="the paper's figures for this network")
    define: str = Field(
        "",
        description="DSL definitions: `block ...` and `projection ...`",
        json_schema_extra={
            "examples": [
                "projection avgdown(channels, stride) = avgpool(stride) conv(channels, 1) bn"
            ]
        },
    )
    stem: str = Field("", description="DSL sequence before the stages")
    stages: dict[str, str] = Field(
        default_factory=dict,
        description="stage name -> `block(args) x depth [/stride] [shortcut=option]`",
        json_schema_extra={"propertyNames": {"pattern": NAME_PATTERN}},
    )
    head: str = Field("", description="DSL sequence after the stages")


TOP_LEVEL_KEYS = tuple(SpecFile.model_fields)
