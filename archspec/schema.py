"""The JSON Schema editors use for YAML specs (``archspec schema``).

spec.SpecFile gives the keys, their types, descriptions and patterns; this adds what an
editor offers as completions, read from the language itself so that it cannot go
stale: the standard blocks (``basic(64) x 2``) for stages, the built-in layers with
their required arguments (``conv(channels, kernel)``) for the stem and the head, and the
standard projections beside A, B, C and none for ``shortcut``.
"""

from __future__ import annotations

from typing import Any

from archspec.compiler import standard_library
from archspec.frontend import syntax as s
from archspec.layers import LAYERS
from archspec.spec import SpecFile

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    schema = SpecFile.model_json_schema()
    properties = schema["properties"]
    blocks = [d.name for d in standard_library() if isinstance(d, s.BlockDef)]
    projections = [d.name for d in standard_library() if isinstance(d, s.ProjectionDef)]
    properties["stages"]["additionalProperties"]["examples"] = [
        example for name in blocks for example in (f"{name}(64) x 2", f"{name}(128) x 2 /2")
    ]
    layers = [_layer_template(name) for name in LAYERS]
    for key in ("stem", "head"):
        properties[key]["examples"] = layers
    properties["shortcut"]["anyOf"][0]["enum"] += projections
    return {"$schema": DIALECT, **schema}


def _layer_template(name: str) -> str:
    """``conv(channels, kernel)``: a layer with the arguments it cannot do without."""
    required = [parameter.name for parameter in LAYERS[name].parameters if parameter.required]
    return f"{name}({', '.join(required)})" if required else name
