"""The op registry: every primitive op of the language, one class each (see ``base``).

Importing this package registers the standard families; ``OPS`` maps a language name to
its class. Adding an op is one class in one of these files (or your own, registered with
``register``) plus one lowering entry per backend.
"""

from archspec.ops import activation, conv, linear, norm, pool, structure
from archspec.ops.base import Argument, Op, Role, Shape, ShapeProblem, Tensor
from archspec.ops.registry import INTERNAL, OPS, language_ops, register

__all__ = [
    "INTERNAL",
    "OPS",
    "Argument",
    "Op",
    "Role",
    "Shape",
    "ShapeProblem",
    "Tensor",
    "activation",
    "conv",
    "language_ops",
    "linear",
    "norm",
    "pool",
    "register",
    "structure",
]
