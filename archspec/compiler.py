"""compile_spec: read -> parse -> lower (shapes inferred on the way) -> Architecture.

Each stage collects every independent diagnostic it can, and stops the pipeline with one
SpecError when anything was wrong.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from archspec import symbolic
from archspec.analysis.budget import check_totals
from archspec.architecture import Architecture, Traced
from archspec.cache import SpecCache, spec_key
from archspec.catalog import is_spec_path, shipped_spec
from archspec.diagnostics import Collector, Diagnostic, SpecError, TooManyErrors
from archspec.files import MAX_SPEC_BYTES, FileProblem, read_spec
from archspec.frontend import syntax as s
from archspec.frontend.archfile import read_arch
from archspec.frontend.yamlfile import YamlReader
from archspec.lower import lower_network
from archspec.lower.lowerer import BlockKey, BuiltBlock
from archspec.source import Source


def read_source(spec: str | Path | Source) -> Source:
    """A spec file (a Path, or a str ending in a spec suffix), a shipped spec's name (any
    other one-line str: ``catalog``'s rule), or spec text (a str with a line break)."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, str) and "\n" not in spec and not is_spec_path(spec):
        spec = shipped_spec(spec)
    if isinstance(spec, Path) or "\n" not in spec:
        try:
            return Source(str(spec), read_spec(Path(spec)), Path(spec))
        except FileProblem as problem:
            raise _fail("E105", problem.message, problem.help) from None
    if len(spec) > MAX_SPEC_BYTES:
        raise _fail("E105", f"the spec text is larger than {MAX_SPEC_BYTES >> 10} KiB")
    return Source("<text>", spec.removeprefix("\ufeff"))


def _fail(code: str, message: str, help: str = "") -> SpecError:
    return SpecError([Diagnostic(code=code, message=message, help=help)])


def _is_arch(source: Source) -> bool:
    """A file is what its suffix says; spec text is .arch when it opens with `network`."""
    if source.path is not None:
        return source.path.suffix.lower() == ".arch"
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
    spec: str | Path | Source, parameters: dict[str, Any] | None = None, input: str | None = None
) -> Architecture:
    return _cached(read_source(spec), parameters, input)


def compile_text(
    text: str, parameters: dict[str, Any] | None = None, input: str | None = None
) -> Architecture:
    """Spec text itself, never read as a path (``archspec.loads``)."""
    if len(text) > MAX_SPEC_BYTES:
        raise _fail("E105", f"the spec text is larger than {MAX_SPEC_BYTES >> 10} KiB")
    return _cached(Source("<text>", text.removeprefix("\ufeff")), parameters, input)


CACHED_SPECS = 64


@dataclass(frozen=True)
class Read:
    """A spec's syntax tree, the Sources of the specs it extends, and the blocks that
    compiles of this tree have built (``lower_network``'s ``blocks``)."""

    tree: s.SpecTree
    others: tuple[Source, ...]
    blocks: dict[BlockKey, BuiltBlock] = field(default_factory=dict)


COMPILED: SpecCache[Architecture] = SpecCache(CACHED_SPECS)
"""The last compiled specs, by text, parameters and input (an Architecture is immutable)."""
TREES: SpecCache[Read] = SpecCache(CACHED_SPECS)
"""The last specs read into syntax trees: a sweep over a parameter compiles again without
reading the files again, and reuses the blocks earlier compiles built."""


def _cached(source: Source, parameters: dict[str, Any] | None, input: str | None) -> Architecture:
    values = tuple(sorted((k, type(v).__name__, v) for k, v in (parameters or {}).items()))
    key = spec_key(source, values, input)
    found = COMPILED.get(key)
    if found is not None:
        return found
    with _without_cycle_collection():
        arch, others = _compile(source, parameters, input)
    COMPILED.put(key, arch, others)
    return arch


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


def _compile(
    source: Source, parameters: dict[str, Any] | None, input: str | None
) -> tuple[Architecture, tuple[Source, ...]]:
    """The Architecture, and the Sources of the other files it was read from."""
    report = Collector()
    sources = {source.name: source}
    try:
        read = _read(source, report, sources)
        if read is None:
            report.raise_if_any(sources)
        assert read is not None
        network, _ = lower_network(
            read.tree, source, report, dict(parameters or {}), input, read.blocks
        )
    except TooManyErrors:
        report.raise_if_any(sources, complete=False)
        raise
    report.raise_if_any(sources)
    assert network is not None
    files = tuple(s.path for s in sources.values() if s.path is not None)
    arch = Architecture(
        network=network,
        arguments=dict(network.parameters),
        files=files,
        recompile=partial(_cached, source, input=input),
        tracer=partial(trace, source, input=input),
    )
    check_totals(network, report, arch.counts)  # counted once: the Architecture keeps them
    report.raise_if_any(sources)
    return arch, tuple(s for s in sources.values() if s is not source)


def trace(source: Source, parameters: dict[str, Any] | None, input: str | None) -> Traced | None:
    """The spec lowered again on traced numbers (``archspec.symbolic``): its IR, whose
    fields hold the terms they were computed by, and what its structure was decided on.
    None where that fails: it lowers as the compile it follows did, so that
    is a spec too large to lower without caches, or a rule that cannot take a traced
    number; either way the emitted class then takes only the keywords found without it
    (``codegen.knobs``), which need no trace."""
    report = Collector()
    read = _read(source, report, {source.name: source})
    if read is None:
        return None
    with _without_cycle_collection(), symbolic.tracing() as seen:
        try:
            network, _ = lower_network(
                read.tree, source, report, dict(parameters or {}), input, tracing=True
            )
        except Exception:  # noqa: BLE001 - a refinement that is allowed to be missing
            return None
    if network is None or report.diagnostics:
        return None
    decided = frozenset(seen.decided | seen.counted)
    counted = frozenset(seen.counted - seen.decided)
    return Traced(network, decided, tuple(seen.guards), counted, dict(seen.counts))


def _read(source: Source, report: Collector, sources: dict[str, Source]) -> Read | None:
    """A spec's syntax tree, read again only when a file changed; one read with a
    diagnostic is not kept, so its diagnostics are reported every time."""
    key = spec_key(source)
    found = TREES.get(key)
    if found is not None:
        sources.update((other.name, other) for other in found.others)
        return found
    if _is_arch(source):
        tree = read_arch(source, report)
    else:
        tree = YamlReader(source, report, sources).read()
    if tree is None:
        return None
    read = Read(tree, tuple(other for other in sources.values() if other is not source))
    if not report.log:
        TREES.put(key, read, read.others)
    return read
