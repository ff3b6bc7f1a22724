"""What lowering passes around: limits, the shape carried along, a namespace, an entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archspec import ir
from archspec.frontend import syntax as s
from archspec.lower.arguments import Scope

MAX_REPEAT = 100_000
MAX_LAYERS = 100_000
MAX_NESTING = 64

Shape = ir.Shape | None
"""The shape flowing at a point; None once an error made it unknown (reported once)."""


class Abort(Exception):
    """Lowering cannot go on (a size limit); the diagnostic is already recorded."""


@dataclass(frozen=True)
class Entry:
    """One item after conditions are applied, repeats expanded and unnamed groups spliced."""

    name: str | None
    target: s.Call | s.Group | s.Branches
    item: s.Item
    scope: Scope
    stride: int | None = None
    """The stride this copy takes (the first of ``x n /2``)."""
    times: int = 1
    """Copies of a named item, which form a submodule of that name."""
    run: ir.Repeat | None = None
    """On the first entry of an unnamed item's copies ``x n`` whose count may be a
    keyword (``Lowerer.sole_depth``): the run they form, counted from this entry."""


@dataclass
class Namespace:
    """The names taken in one module, and the number the next unnamed item gets."""

    path: str
    used: set[str] = field(default_factory=set)
    index: int = 0
    runs: list[ir.Repeat] = field(default_factory=list)
    """The runs of unnamed copies lowered here (``Entry.run``), counted in steps."""

    def child(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name


class Unkept(dict[Any, Any]):
    """A cache that keeps nothing, and never hashes a key."""

    def get(self, key: Any, default: Any = None) -> Any:
        return default

    def __contains__(self, key: object) -> bool:
        return False

    def __setitem__(self, key: Any, value: Any) -> None:
        pass
