"""compile_spec: read -> parse -> lower (shapes inferred on the way) -> Architecture.

Each stage collects every independent diagnostic it can, and stops the pipeline with one
SpecError when anything was wrong.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from archspec.architecture import Architecture
from archspec.diagnostics import Collector, Diagnostic, SpecError
from archspec.frontend.archfile import read_arch
from archspec.frontend.yamlfile import YamlReader
from archspec.lower import lower_network
from archspec.source import Source

MAX_SPEC_BYTES = 1 << 20


def read_source(spec: str | Path) -> Source:
    """A path to a spec file, or spec text itself (YAML or .arch)."""
    if isinstance(spec, Path) or ("\n" not in spec and spec.endswith((".yaml", ".yml", ".arch"))):
        path = Path(spec)
        try:
            if path.stat().st_size > MAX_SPEC_BYTES:
                raise _fail(
                    "E105", f"{path} is larger than {MAX_SPEC_BYTES >> 10} KiB; specs are short"
                )
            return Source(str(spec), path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise _fail("E105", f"cannot read {spec}: {reason}") from None
    if len(spec) > MAX_SPEC_BYTES:
        raise _fail("E105", "the spec text is too large")
    return Source("<text>", spec)


def _fail(code: str, message: str) -> SpecError:
    return SpecError([Diagnostic(code=code, message=message)])


def _is_arch(source: Source) -> bool:
    if source.name.endswith(".arch"):
        return True
    first = next(
        (
            line.strip()
            for line in source.lines
            if line.strip() and not line.strip().startswith("#")
        ),
        "",
    )
    return first.startswith("network ")


def compile_spec(
    spec: str | Path, parameters: dict[str, Any] | None = None, input: str | None = None
) -> Architecture:
    with _without_cycle_collection():
        return _compile(read_source(spec), parameters, input)


def compile_text(
    text: str, parameters: dict[str, Any] | None = None, input: str | None = None
) -> Architecture:
    """Spec text itself, never read as a path (``archspec.loads``)."""
    if len(text) > MAX_SPEC_BYTES:
        raise _fail("E105", "the spec text is too large")
    with _without_cycle_collection():
        return _compile(Source("<text>", text), parameters, input)


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Compiling allocates many small objects and frees no cycles; the collector would
    only rescan the growing IR again and again (a third of the time at depth 12002)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compile(source: Source, parameters: dict[str, Any] | None, input: str | None) -> Architecture:
    report = Collector()
    sources = {source.name: source}
    tree = (
        read_arch(source, report)
        if _is_arch(source)
        else YamlReader(source, report, sources).read()
    )
    if tree is None:
        report.raise_if_any(sources)
    assert tree is not None
    network, arguments = lower_network(tree, source, report, dict(parameters or {}), input)
    report.raise_if_any(sources)
    assert network is not None
    return Architecture(network=network, arguments=arguments)
