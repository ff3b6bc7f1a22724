"""The front door: ``archspec.load``, and the Architecture it returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec.architecture import Architecture, LayerRow


def load(spec: str | Path, *, input: str | None = None, **parameters: Any) -> Architecture:
    """Compile a spec file (YAML or .arch) or spec text, with parameter overrides.

    Raises ``SpecError`` (with every located diagnostic) if the spec is wrong.
    """
    from archspec.compiler import compile_spec

    return compile_spec(spec, parameters=parameters, input=input)


__all__ = ["Architecture", "LayerRow", "load"]
