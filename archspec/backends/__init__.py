"""Backends turn a resolved ir.Network into framework models and source code.

Each backend module exposes ``build(network)`` (an in-memory model) and
``emit_source(network, counts)`` (one standalone module as text). They are imported only
when asked for, so that ``archspec check`` and ``flops`` never load a framework.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from archspec import ir
from archspec.codegen.escape import is_identifier
from archspec.diagnostics import Diagnostic, SpecError
from archspec.lower.names import class_name, refused_module_name, refused_network_name

BACKENDS: dict[str, tuple[str, str]] = {
    "torch": ("archspec.backends.pytorch", "torch"),
    "flax": ("archspec.backends.nnx", "flax"),
}
"""backend name -> (module, the extra that installs its framework)"""

EXPORT_FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}
"""``archspec export`` formats and their file suffixes (archspec.backends.export writes them)."""

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


def check_names(network: ir.Network) -> None:
    """The names policy, for IRs that did not come through lowering (which refuses these
    names at their place in the spec)."""
    problems = [
        Diagnostic(
            code="E405",
            message=f"module name '{node.name}' ({node.path}) cannot be used: {why}",
            span=node.node.span,
            help="rename it",
        )
        for node in ir.walk(network)
        if (why := module_name_refusal(node.name))
    ]
    why = refused_network_name(network.class_source)
    why = why or ("" if is_identifier(class_name(network.class_source)) else "no class can take it")
    if why:
        message = f"network name '{network.name}' cannot be used: {why}"
        problems.append(Diagnostic(code="E405", message=message, help="rename it"))
    if problems:
        raise SpecError(problems)


def module_name_refusal(name: str) -> str:
    """Why a backend cannot take ``name`` for a module: the names policy."""
    return refused_module_name(name)
