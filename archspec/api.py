"""The front door: ``archspec.load`` and ``archspec.loads``, and the Architecture they return."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec.architecture import Architecture, LayerRow
from archspec.source import Source


def load(
    spec: str | Path | Source, /, *, input: str | None = None, **parameters: Any
) -> Architecture:
    """Compile a spec file (a Path, or a one-line str ending in .yaml, .yml or .arch),
    spec text (YAML or .arch), or a Source, with parameter overrides (a parameter may be
    named ``spec``; none may be named ``input``, the language's word for the input size).

    Raises ``SpecError`` (with every located diagnostic) if the spec is wrong.
    """
    from archspec.compiler import compile_spec

    return compile_spec(spec, parameters=parameters, input=input)


def loads(text: str, /, *, input: str | None = None, **parameters: Any) -> Architecture:
    """Compile spec text (YAML or the .arch form), with parameter overrides.

    Unlike ``load``, the argument is never taken for a path. Raises ``SpecError``.
    """
    from archspec.compiler import compile_text

    return compile_text(text, parameters=parameters, input=input)


__all__ = ["Architecture", "LayerRow", "load", "loads"]
