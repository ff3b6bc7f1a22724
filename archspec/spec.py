"""The YAML form's schema: which keys a spec has, their types, and what they mean.

Validated with pydantic (strict, extra keys forbidden); ``archspec schema`` prints its
JSON Schema so that editors can complete and check specs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SHORTCUT_OPTIONS = ("A", "B", "C", "none")


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
        extra="forbid", frozen=True, strict=True, title="archspec network spec"
    )

    name: str = Field(description="the network's name; also the emitted class and file name")
    extends: str | None = Field(
        None, description="path of a spec this one presets: its keys, with these on top"
    )
    description: str = Field("", description="free text")
    input: str = Field(description="input shape CxHxW, e.g. 3x224x224")
    shortcut: str = Field(
        "B",
        description="default shortcut option: A (zero-pad identity), B (project where the "
        "shape changes), C (project everywhere), none (plain net), or a projection defined "
        "in `define`",
    )
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict,
        description="network parameters with defaults, overridable with -D name=value",
    )
    paper: PaperSpec | None = Field(None, description="the paper's figures for this network")
    define: str = Field("", description="DSL definitions: `block ...` and `projection ...`")
    stem: str = Field("", description="DSL sequence before the stages")
    stages: dict[str, str] = Field(
        default_factory=dict,
        description="stage name -> `block(args) x depth [/stride] [shortcut=option]`",
    )
    head: str = Field("", description="DSL sequence after the stages")


TOP_LEVEL_KEYS = tuple(SpecFile.model_fields)
