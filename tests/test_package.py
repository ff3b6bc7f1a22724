"""The package's shape: a line budget per module, and imports that point one way.

Both are read from the source text, so they cost milliseconds: CI keeps the package
small and its dependencies acyclic, as tinygrad keeps its line count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import archspec

PACKAGE = Path(archspec.__file__).parent
BUDGET = 400
"""The most lines one module may have; split a module along its responsibilities first."""


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The archspec modules a module imports, anywhere in it but under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.If) and "TYPE_CHECKING" in ast.unparse(guard.test)
        for node in ast.walk(guard)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("archspec")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("archspec"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found.add(target if target in known else str(node.module))
    return found & set(known)


def test_no_module_is_over_the_line_budget() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in sizes.items() if n > BUDGET} == {}


def test_imports_have_no_cycles() -> None:
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    cycles = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target) :] + [target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_core_imports_no_framework_or_backend() -> None:
    """Frontend, lowering, IR, ops and analysis stay below the backends and the CLI."""
    known = modules()
    core = ("archspec.frontend", "archspec.lower", "archspec.ops", "archspec.ir")
    above = ("archspec.backends", "archspec.cli")
    for name, path in known.items():
        if name.startswith(core):
            assert not {t for t in imports(path, known) if t.startswith(above)}, name


FRAMEWORKS = {"torch", "torchvision", "jax", "flax", "optax", "orbax"}


def module_level_imports(path: Path) -> set[str]:
    """The top-level packages a module imports when it is imported (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_backends_import_a_framework_at_module_level() -> None:
    """Importing anything outside ``archspec.backends`` never loads torch or jax."""
    importers = {
        name
        for name, path in modules().items()
        if module_level_imports(path) & FRAMEWORKS and not name.startswith("archspec.backends")
    }
    assert importers == set()
    assert "torch" in module_level_imports(PACKAGE / "backends" / "pytorch" / "trainer.py")
