"""Checks an emitted network class makes of its keyword arguments, copied into the file.

They are real functions, so that the copy is code that runs and is type-checked here; an
emitted file refuses what ``archspec build -D`` refuses, with a ValueError. The built-in
functions of expressions a class computes with are copied the same way, from
``lower.functions`` (``functions.COPIED``): one definition, the same numbers.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from archspec.codegen import pysource as py
from archspec.lower.functions import COPIED


def check_depth(name: str, value: int, most: int = 100_000) -> int:
    """A repeat count as a spec takes it (as ``-D``): a whole number from 1 to archspec's
    limit on a count (``lower.context.MAX_REPEAT``); returned, for a computed count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"depth {name} must be a whole number from 1, found {value!r}")
    if value > most:
        raise ValueError(f"depth {name} {value:,} is over the limit of {most:,}")
    return value


def check_structure(holds: bool, /, **values: object) -> None:
    """A comparison the spec chose the network's structure by, at the values the file was
    built with (a residual addition where two widths agree): elsewhere the spec builds
    another network, which ``archspec build -D`` writes."""
    if not holds:
        given = ", ".join(f"{name}={value!r}" for name, value in values.items())
        raise ValueError(
            f"{given} changes the network's structure (a block, branch or shortcut the spec "
            "chooses by these values): build the spec at them with archspec build -D"
        )


@cache
def check_source(name: str) -> str:
    """The source of one check, or of a function of ``lower.functions`` the file carries
    (``functions.COPIED``), for an emitted file; read once a process."""
    module = "archspec.lower" if name in COPIED else "archspec.codegen"
    text = files(module).joinpath("functions.py" if name in COPIED else "checks.py")
    return py.top_level_source(text.read_text(), name)
