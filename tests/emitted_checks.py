"""Independent checks on an emitted module's text (not archspec's own ``codegen.verify``):
it compiles, holds only what an emitted module holds, and spec text (marked by a canary)
sits only inside string constants and comments."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path


def is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def assert_module_shape(text: str) -> ast.Module:
    """Compiles as the import would (UTF-8 bytes); top level: a docstring, imports,
    ``__all__ = [...]``, functions, and classes made of a docstring and methods."""
    raw = text.encode("utf-8")
    compile(raw, "<emitted>", "exec", dont_inherit=True)
    tree = ast.parse(raw)
    assert is_docstring(tree.body[0])
    for node in tree.body[1:]:
        if isinstance(node, ast.Assign):
            assert [ast.unparse(t) for t in node.targets] == ["__all__"]
            assert isinstance(node.value, ast.List)
            assert all(isinstance(e, ast.Constant) for e in node.value.elts)
        elif isinstance(node, ast.ClassDef):
            body = node.body[1:] if is_docstring(node.body[0]) else node.body
            assert all(isinstance(s, ast.FunctionDef) for s in body), ast.unparse(node)[:200]
        else:
            assert isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef), ast.dump(node)
    for node in ast.walk(tree):  # help(model) shows no control characters
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
            doc = ast.get_docstring(node, clean=False) or ""
            assert all(c.isprintable() or c == "\n" for c in doc), repr(doc)
    return tree


def assert_only_in_strings(text: str, canary: str) -> None:
    """``canary`` appears only in string constants (AST) and string or comment tokens."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            if isinstance(value, str) and canary in value:
                assert isinstance(node, ast.Constant), f"{type(node).__name__}.{field}"
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if canary in token.string:
            assert token.type in (tokenize.STRING, tokenize.COMMENT), token


def docstrings(text: str) -> list[str]:
    tree = ast.parse(text)
    found = [ast.get_docstring(tree, clean=False) or ""]
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            found.append(ast.get_docstring(node, clean=False) or "")
    return found


def execute(text: str, name: str) -> dict[str, object]:
    """Run the module's code in a fresh namespace, as an import would."""
    namespace: dict[str, object] = {"__name__": name}
    exec(compile(text, name, "exec", dont_inherit=True), namespace)
    return namespace


def assert_ruff_keeps(directory: Path) -> None:
    """Every emitted file in ``directory`` is as ``ruff format`` lays it out at the line
    lengths projects use (88, 100): a layout that holds at any line length."""
    for width in ("88", "100"):
        ruff = [sys.executable, "-m", "ruff", "format", "--check", "--isolated"]
        done = subprocess.run([*ruff, "--line-length", width, str(directory)], capture_output=True)
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
