"""Checks an emitted network class makes of its keyword arguments, copied into the file.

They are real functions, so that the copy is code that runs and is type-checked here; an
emitted file refuses what ``archspec build -D`` refuses, with a ValueError.
"""

from __future__ import annotations

from importlib.resources import files

from archspec.codegen import pysource as py


def check_depth(name: str, value: int, most: int = 100_000) -> None:
    """A repeat count as a spec takes it (as ``-D``): a whole number from 1 to archspec's
    limit on a count (``lower.context.MAX_REPEAT``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"depth {name} must be a whole number from 1, found {value!r}")
    if value > most:
        raise ValueError(f"depth {name} {value:,} is over the limit of {most:,}")


def check_source(name: str) -> str:
    """The source of one check, for an emitted file."""
    return py.top_level_source(files("archspec.codegen").joinpath("checks.py").read_text(), name)
