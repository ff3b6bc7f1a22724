"""The standard blocks (``archspec/stdlib/blocks.arch``), parsed once per process."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from archspec.frontend import syntax as s
from archspec.frontend.dsl import parse
from archspec.frontend.grammar import Locator
from archspec.source import Source

STDLIB_NAME = "<stdlib>/blocks.arch"


@lru_cache(maxsize=1)
def standard_library() -> tuple[s.Definition, ...]:
    text = files("archspec.stdlib").joinpath("blocks.arch").read_text()
    return tuple(parse(text, "definitions", Locator(Source(STDLIB_NAME, text))))
