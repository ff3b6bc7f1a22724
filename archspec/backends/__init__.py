"""Backends turn a resolved ir.Network into framework models and source code.

Each backend module exposes ``build(network)`` (an in-memory model) and
``emit_source(network, counts)`` (one standalone module as text). They are imported only
when asked for, so that ``archspec check`` and ``flops`` never load a framework.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from archspec import ir
from archspec.diagnostics import Diagnostic, SpecError

BACKENDS: dict[str, tuple[str, str]] = {
    "torch": ("archspec.backends.pytorch", "torch"),
    "flax": ("archspec.backends.nnx", "flax"),
}
"""backend name -> (module, the extra that installs its framework)"""

DISTRIBUTION = "archspec-nets"


def missing_extra(extra: str, error: ImportError) -> SpecError:
    return SpecError(
        [
            Diagnostic(
                code="E400",
                message=f"the {extra} backend needs {error.name or extra}, which is not installed",
                help=f"pip install '{DISTRIBUTION}[{extra}]'",
            )
        ]
    )


def check_names(network: ir.Network) -> None:
    """Every module name must be one a backend can hold as an attribute.

    Lowering refuses reserved names where the spec writes them; this guards networks
    built by other means (hand-made IR) before any framework sees them.
    """
    from archspec.lower.names import TORCH_MODULE_ATTRIBUTES

    clashes = [place for place in ir.walk(network) if place.name in TORCH_MODULE_ATTRIBUTES]
    if clashes:
        raise SpecError(
            [
                Diagnostic(
                    code="E405",
                    message=f"module name '{place.name}' ({place.path}) clashes with "
                    "torch.nn.Module",
                    span=place.node.span,
                    help="rename it",
                )
                for place in clashes
            ]
        )


def load_backend(name: str) -> ModuleType:
    """Import a backend by name, with a clear error for an unknown name or a missing extra."""
    if name not in BACKENDS:
        from archspec.diagnostics import did_you_mean

        raise SpecError(
            [
                Diagnostic(
                    code="E401",
                    message=f"unknown backend '{name}'",
                    help=did_you_mean(name, BACKENDS),
                )
            ]
        )
    module, extra = BACKENDS[name]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if error.name and error.name.split(".")[0] in {"torch", "jax", "flax", "optax"}:
            raise missing_extra(extra, error) from None
        raise
