"""Two architectures side by side: stage by stage counts, shapes, and what changed.

Specs may name the same thing differently (a plain block's last relu and a basic block's
relu after the addition have different paths), so nothing is matched by path: the stem
(everything before the first stage) goes with the stem, the i-th stage with the i-th stage,
what follows a stage with what follows it, and inside a stage modules pair up by position.
Counts come from the cost pass, so the deltas are exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

from archspec import ir
from archspec.analysis.changes import differences
from archspec.analysis.summary import describe_module
from archspec.architecture import Architecture
from archspec.counts import Counts
from archspec.ops.base import describe as describe_shape
from archspec.source import printable

SectionKey = tuple[int, int]
"""(-1, 0) the stem, (i, 0) the i-th stage, (i, 1) the modules after the i-th stage."""


@dataclass(frozen=True)
class Section:
    """A run of top-level modules: the stem, one stage, or what follows a stage."""

    name: str
    modules: tuple[ir.Place, ...]
    counts: Counts
    output: ir.Shape

    def members(self) -> tuple[ir.Place, ...]:
        """What is compared position by position: a stage's blocks, or the modules."""
        only = self.modules[0] if len(self.modules) == 1 else None
        if only is not None and isinstance(only.node, ir.Group) and only.node.stage:
            return _places(only.node, only.path, only.depth + 1)
        return self.modules


@dataclass(frozen=True)
class Change:
    """One module that differs: where (in A and B), what changed, and its cost."""

    path_a: str
    path_b: str
    what: str
    params: int
    macs: int


@dataclass(frozen=True)
class SectionDiff:
    name: str
    a: Section | None
    b: Section | None
    changes: tuple[Change, ...]

    @property
    def counts_a(self) -> Counts:
        return self.a.counts if self.a else Counts()

    @property
    def counts_b(self) -> Counts:
        return self.b.counts if self.b else Counts()

    @property
    def params(self) -> int:
        return self.counts_b.params - self.counts_a.params

    @property
    def macs(self) -> int:
        return self.counts_b.macs - self.counts_a.macs


@dataclass(frozen=True)
class ArchitectureDiff:
    """B minus A, by section; ``render()`` (or ``str()``) gives the report."""

    label_a: str
    label_b: str
    total_a: Counts
    total_b: Counts
    sections: tuple[SectionDiff, ...]

    @property
    def params(self) -> int:
        return self.total_b.params - self.total_a.params

    @property
    def macs(self) -> int:
        return self.total_b.macs - self.total_a.macs

    def section(self, name: str) -> SectionDiff:
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(f"no section {name!r}: {', '.join(s.name for s in self.sections)}")

    def render(self) -> str:
        return render_diff(self)

    def __str__(self) -> str:
        return self.render()


def diff(a: Architecture | ir.Network, b: Architecture | ir.Network) -> ArchitectureDiff:
    """Compare two architectures (e.g. plain34 and resnet34, or one spec under two -D)."""
    first, second = _architecture(a), _architecture(b)
    sections_a, sections_b = _sections(first), _sections(second)
    keys = sorted(set(sections_a) | set(sections_b))
    return ArchitectureDiff(
        label_a=label(first),
        label_b=label(second),
        total_a=first.counts,
        total_b=second.counts,
        sections=tuple(
            _section_diff(sections_a.get(key), sections_b.get(key), first, second) for key in keys
        ),
    )


def label(arch: Architecture) -> str:
    """``resnet20 [n=3] (specs/cifar/resnet20.yaml)``: name, parameter values, file."""
    network = arch.network
    values = ", ".join(f"{k}={v}" for k, v in arch.arguments.items())
    text = network.name + (f" [{values}]" if values else "")
    return text + (f" ({network.file})" if network.file else "")


def _architecture(value: Architecture | ir.Network) -> Architecture:
    return value if isinstance(value, Architecture) else Architecture(value)


def _places(parent: ir.Network | ir.Node, prefix: str, depth: int) -> tuple[ir.Place, ...]:
    """The direct submodules of ``parent`` (at ``prefix``), with their paths."""
    return tuple(
        ir.Place(f"{prefix}.{m.name}" if prefix else m.name, m.name, m.node, depth)
        for m in ir.children(parent)
    )


def _is_stage(place: ir.Place) -> bool:
    return isinstance(place.node, ir.Group) and place.node.stage


def _sections(arch: Architecture) -> dict[SectionKey, Section]:
    runs: dict[SectionKey, list[ir.Place]] = {}
    stage = -1
    for place in _places(arch.network, "", 0):
        if _is_stage(place):
            stage += 1
            runs[(stage, 0)] = [place]
        else:
            runs.setdefault((stage, 1) if stage >= 0 else (-1, 0), []).append(place)
    last = stage
    return {
        key: Section(
            name=_section_name(key, modules, last),
            modules=tuple(modules),
            counts=sum((arch.counts_by_path[m.path] for m in modules), Counts()),
            output=modules[-1].node.output,
        )
        for key, modules in runs.items()
    }


def _section_name(key: SectionKey, modules: list[ir.Place], last: int) -> str:
    index, part = key
    if index < 0:
        return "stem" if last >= 0 else "layers"
    if part == 0:
        return modules[0].path
    return "head" if index == last else f"after stage {index + 1}"


def _section_diff(
    a: Section | None, b: Section | None, arch_a: Architecture, arch_b: Architecture
) -> SectionDiff:
    names = [s.name for s in (a, b) if s is not None]
    name = names[0] if len(set(names)) == 1 else " / ".join(names)
    members_a = a.members() if a else ()
    members_b = b.members() if b else ()
    changes = []
    for left, right in zip_longest(members_a, members_b):
        change = _compare(left, right, arch_a.counts_by_path, arch_b.counts_by_path)
        if change is not None:
            changes.append(change)
    return SectionDiff(name=name, a=a, b=b, changes=tuple(changes))


def _compare(
    a: ir.Place | None,
    b: ir.Place | None,
    counts_a: dict[str, Counts],
    counts_b: dict[str, Counts],
) -> Change | None:
    before = counts_a[a.path] if a is not None else Counts()
    after = counts_b[b.path] if b is not None else Counts()
    if a is None and b is not None:
        what = f"added {describe_module(b.node)}"
    elif b is None and a is not None:
        what = f"removed {describe_module(a.node)}"
    elif a is not None and b is not None:
        what = "; ".join(differences(a.node, b.node))
        if not what and before == after:
            return None
    return Change(
        path_a=a.path if a is not None else "",
        path_b=b.path if b is not None else "",
        what=what or "same structure",
        params=after.params - before.params,
        macs=after.macs - before.macs,
    )


# -- the report ----------------------------------------------------------------------------


def _signed(value: int) -> str:
    return f"{value:+,}" if value else "0"


def _shapes(section: SectionDiff) -> str:
    shapes = [describe_shape(s.output) if s else "-" for s in (section.a, section.b)]
    return shapes[0] if shapes[0] == shapes[1] else f"{shapes[0]} => {shapes[1]}"


def render_diff(result: ArchitectureDiff) -> str:
    """The report: a table of sections (A, B, B - A), then what changed in each."""
    header = (
        "section",
        "params A",
        "params B",
        "delta",
        "mult-adds A",
        "mult-adds B",
        "delta",
        "output",
    )
    rows = [
        (
            s.name,
            f"{s.counts_a.params:,}",
            f"{s.counts_b.params:,}",
            _signed(s.params),
            f"{s.counts_a.macs:,}",
            f"{s.counts_b.macs:,}",
            _signed(s.macs),
            _shapes(s),
        )
        for s in result.sections
    ]
    a, b = result.total_a, result.total_b
    rows.append(
        (
            "total",
            f"{a.params:,}",
            f"{b.params:,}",
            _signed(result.params),
            f"{a.macs:,}",
            f"{b.macs:,}",
            _signed(result.macs),
            "",
        )
    )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:7], widths[1:7], strict=True)]
        return "  ".join([*cells, row[7]]).rstrip()

    rule = "-" * max(len(line(row)) for row in [header, *rows])
    lines = [
        f"A: {result.label_a}",
        f"B: {result.label_b}",
        "",
        line(header),
        rule,
        *(line(row) for row in rows[:-1]),
        rule,
        line(rows[-1]),
        "",
    ]
    changes = [c for s in result.sections for c in _grouped(s.changes)]
    lines.append("changes (A => B):" if changes else "no structural changes")
    lines += [f"  {change}" for change in changes]
    return printable("\n".join(lines))  # parameter names and values, paths: spec text


def _grouped(changes: tuple[Change, ...]) -> list[str]:
    """One line per run of consecutive modules with the same change and the same cost."""
    runs: list[list[Change]] = []
    for change in changes:
        previous = runs[-1][-1] if runs else None
        same = previous is not None and (previous.what, previous.params, previous.macs) == (
            change.what,
            change.params,
            change.macs,
        )
        if same:
            runs[-1].append(change)
        else:
            runs.append([change])
    return [_describe_run(run) for run in runs]


def _describe_run(run: list[Change]) -> str:
    first = run[0]
    where = _span([c.path_a or c.path_b for c in run])
    other = _span([c.path_b for c in run])
    if first.path_a and first.path_b and other != where:
        where += f" / {other}"
    if first.params or first.macs:
        each = " each" if len(run) > 1 else ""
        cost = f"{_signed(first.params)} params, {_signed(first.macs)} mult-adds{each}"
    else:
        cost = "no cost"
    return f"{where}: {first.what}: {cost}"


def _span(paths: list[str]) -> str:
    """``layer2.1``, ``layer2.2``, ``layer2.3`` -> ``layer2.1-3``."""
    if len(paths) == 1:
        return paths[0]
    first, last = paths[0].rpartition("."), paths[-1].rpartition(".")
    if first[0] == last[0] and first[2].isdigit() and last[2].isdigit():
        return f"{first[0]}.{first[2]}-{last[2]}" if first[0] else f"{first[2]}-{last[2]}"
    return f"{paths[0]} .. {paths[-1]}"
