"""archspec: a compiler from short network specs to checked, counted, runnable models.

Nothing heavy is imported here: torch, jax and graphviz load only when a backend asks.
"""

from archspec.api import Architecture, load, loads
from archspec.diagnostics import Diagnostic, SpecError

__all__ = ["Architecture", "Diagnostic", "SpecError", "__version__", "load", "loads"]


def _version() -> str:
    """The installed distribution's version; in a source checkout that is not installed,
    the one pyproject.toml declares (the only place it is written)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("archspec-nets")
    except PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        found = (
            re.search(r'(?m)^version = "([^"]+)"', pyproject.read_text())
            if pyproject.is_file()
            else None
        )
        return found.group(1) if found else "unknown"


def __getattr__(name: str) -> str:
    """``archspec.__version__``, read when asked: importlib.metadata costs more than the
    rest of ``import archspec``, and ``archspec flops`` never needs it."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'archspec' has no attribute {name!r}")
