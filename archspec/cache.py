"""Results computed from spec files, kept while those files hold the same texts.

A compile is a pure function of its texts, parameters and input, so the compiler keeps
its last results: loading a spec again (an editor checking again, a notebook cell run
twice) or compiling it with other parameters (a sweep) skips the work already done. A
result is keyed by the first spec's text; every other file it read (the specs it
``extends``) is read again on each use and compared, so an edited base is never missed.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

from archspec.files import FileProblem, read_spec
from archspec.source import Source

T = TypeVar("T")

FileTexts = tuple[tuple[str, str], ...]
"""(resolved path, text) of each file a result was read from, besides the first."""


class SpecCache(Generic[T]):
    """The last ``size`` results, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, tuple[T, FileTexts]] = OrderedDict()

    def get(self, key: Hashable) -> T | None:
        found = self.entries.get(key)
        if found is None:
            return None
        value, others = found
        if not all(_holds(path, text) for path, text in others):
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: T, others: Iterable[Source]) -> None:
        texts = tuple((os.path.realpath(s.name), s.text) for s in others if s.path is not None)
        self.entries[key] = (value, texts)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()


def spec_key(source: Source, *rest: Hashable) -> tuple[Hashable, ...]:
    """A spec file is known by its resolved path as well as its text: the same text in
    another folder extends other files."""
    where = None if source.path is None else os.path.realpath(source.path)
    return (source.name, where, source.text, *rest)


def _holds(path: str, text: str) -> bool:
    try:
        return read_spec(Path(path)) == text
    except FileProblem:
        return False
