"""The last gate before an emitted module leaves archspec: it must be the module we meant.

Escaping makes spec text safe by construction; this check makes an emitter bug a clear
internal error (E407) instead of a written file that fails on import or, worse, does
something else: the text must encode as UTF-8, parse and compile as Python does on import,
and hold only what emitted modules hold: a docstring, imports, ``__all__``, classes whose
bodies are a docstring and methods, and functions.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from archspec.codegen.escape import UnsafeName
from archspec.diagnostics import Diagnostic, SpecError


def checked_module(emit: Callable[[], str], backend: str) -> str:
    """The text ``emit`` returns, once verified; E407 when it is not a module to write."""
    try:
        text = emit()
        tree = ast.parse(text.encode("utf-8"))
        compile(tree, f"<emitted {backend} module>", "exec", dont_inherit=True)
        if not tree.body or not docstring(tree.body[0]):
            raise ValueError("it does not open with a docstring")
        for node in tree.body[1:]:
            if not expected(node):
                raise ValueError(f"unexpected {type(node).__name__} at line {node.lineno}")
    except (UnsafeName, SyntaxError, ValueError, UnicodeError) as error:
        raise SpecError(
            [
                Diagnostic(
                    code="E407",
                    message=f"internal error: the emitted {backend} module is not valid "
                    f"({type(error).__name__}: {error}); nothing was written",
                    help="please report this bug with the spec that caused it",
                )
            ]
        ) from None
    return text


def docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def expected(node: ast.stmt) -> bool:
    """A statement an emitted module may hold at its top level."""
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef):
        return True
    if isinstance(node, ast.Assign):
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        return names == ["__all__"] and isinstance(node.value, ast.List)
    if isinstance(node, ast.ClassDef):
        body = node.body[1:] if docstring(node.body[0]) else node.body
        return all(isinstance(statement, ast.FunctionDef) for statement in body)
    return False
