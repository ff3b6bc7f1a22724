"""The table of ops by language name; each family module registers its ops on import."""

from __future__ import annotations

from typing import TypeVar

from archspec.ops.base import Op

OPS: dict[str, type[Op]] = {}
"""Every op by its language name, in registration order (the reference's order)."""

INTERNAL: set[str] = set()
"""Ops that lowering creates but specs cannot write (option A's zero-padding shortcut)."""

OpClass = TypeVar("OpClass", bound=type[Op])


def register(cls: OpClass) -> OpClass:
    """Add an op class to the registry (a class decorator); names must be unique."""
    if cls.NAME in OPS:
        raise ValueError(f"op '{cls.NAME}' is registered twice")
    OPS[cls.NAME] = cls
    return cls


def register_internal(cls: OpClass) -> OpClass:
    INTERNAL.add(cls.NAME)
    return register(cls)


def language_ops() -> dict[str, type[Op]]:
    """The ops a spec may write, by name."""
    return {name: cls for name, cls in OPS.items() if name not in INTERNAL}
