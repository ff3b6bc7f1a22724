"""archspec: a compiler from short network specs to checked, counted, runnable models.

Nothing heavy is imported here: torch, jax and graphviz load only when a backend asks.
"""

from archspec.api import Architecture, load
from archspec.diagnostics import Diagnostic, SpecError

__version__ = "0.1.0"
__all__ = ["Architecture", "Diagnostic", "SpecError", "__version__", "load"]
