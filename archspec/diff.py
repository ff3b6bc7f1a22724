"""Two architectures side by side: stage by stage counts, shapes, and what changed.

Specs may name the same thing differently (a plain block's last relu and a basic block's
relu after the addition have different paths), so nothing is matched by path: the stem
(everything before the first stage) goes with the stem, the i-th stage with the i-th stage,
what follows a stage with what follows it, and inside a stage modules pair up by position.
Counts come from the cost pass, so the deltas are exact integers.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import zip_longest

from archspec import ir
from archspec.api import Architecture
from archspec.cost import Counts
from archspec.shapes import describe as describe_shape
from archspec.source import printable
from archspec.summary import describe_module, describe_op

SectionKey = tuple[int, int]
"""(-1, 0) the stem, (i, 0) the i-th stage, (i, 1) the modules after the i-th stage."""


@dataclass(frozen=True)
class Section:
    """A run of top-level modules: the stem, one stage, or what follows a stage."""

    name: str
    modules: tuple[ir.Module, ...]
    counts: Counts
    output: ir.Shape

    def members(self) -> tuple[ir.Module, ...]:
        """What is compared position by position: a stage's blocks, or the modules."""
        only = self.modules[0] if len(self.modules) == 1 else None
        if isinstance(only, ir.Sequence) and only.stage:
            return only.children
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


def _sections(arch: Architecture) -> dict[SectionKey, Section]:
    network = arch.network
    runs: dict[SectionKey, list[ir.Module]] = {}
    stage = -1
    for child in network.children:
        if isinstance(child, ir.Sequence) and child.stage:
            stage += 1
            runs[(stage, 0)] = [child]
        else:
            runs.setdefault((stage, 1) if stage >= 0 else (-1, 0), []).append(child)
    last = stage
    return {
        key: Section(
            name=_section_name(key, modules, last),
            modules=tuple(modules),
            counts=sum((arch.counts_by_path[m.path] for m in modules), Counts()),
            output=modules[-1].output,
        )
        for key, modules in runs.items()
    }


def _section_name(key: SectionKey, modules: list[ir.Module], last: int) -> str:
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
    a: ir.Module | None,
    b: ir.Module | None,
    counts_a: dict[str, Counts],
    counts_b: dict[str, Counts],
) -> Change | None:
    before = counts_a[a.path] if a is not None else Counts()
    after = counts_b[b.path] if b is not None else Counts()
    if a is None and b is not None:
        what = f"added {describe_module(b)}"
    elif b is None and a is not None:
        what = f"removed {describe_module(a)}"
    elif a is not None and b is not None:
        what = "; ".join(_differences(a, b))
        if not what and before == after:
            return None
    return Change(
        path_a=a.path if a is not None else "",
        path_b=b.path if b is not None else "",
        what=what or "same structure",
        params=after.params - before.params,
        macs=after.macs - before.macs,
    )


def _differences(a: ir.Module, b: ir.Module) -> list[str]:
    if isinstance(a, ir.Block) and isinstance(b, ir.Block):
        return _block_differences(a, b)
    found = []
    if describe_module(a) != describe_module(b):
        found.append(f"{describe_module(a)} => {describe_module(b)}")
    if not isinstance(a, ir.Layer) or not isinstance(b, ir.Layer):
        found += _layer_differences(_ops(a), _ops(b))
    if a.output != b.output:
        found.append(f"output {describe_shape(a.output)} => {describe_shape(b.output)}")
    return found


def _block_differences(a: ir.Block, b: ir.Block) -> list[str]:
    found = []
    if a.block != b.block:
        found.append(f"{a.block} => {b.block}")
    arguments_b = dict(b.arguments)
    found += [
        f"{key} {value} => {arguments_b[key]}"
        for key, value in a.arguments
        if key in arguments_b and arguments_b[key] != value
    ]
    if a.shortcut != b.shortcut:
        found.append(f"shortcut {a.shortcut} => {b.shortcut}")
    found += _downsample_difference(a.downsample, b.downsample)
    found += _layer_differences(_main_path(a), _main_path(b))
    if a.output != b.output:
        found.append(f"output {describe_shape(a.output)} => {describe_shape(b.output)}")
    return found


def _downsample_difference(a: ir.Module | None, b: ir.Module | None) -> list[str]:
    text_a = "; ".join(_ops(a)) if a is not None else ""
    text_b = "; ".join(_ops(b)) if b is not None else ""
    if text_a == text_b:
        return []
    if not text_a:
        return [f"adds downsample ({text_b})"]
    if not text_b:
        return [f"drops downsample ({text_a})"]
    return [f"downsample ({text_a}) => ({text_b})"]


def _main_path(block: ir.Block) -> list[str]:
    """The residual branch and what follows the addition, without the shortcut."""
    return [op for module in (*block.body, *block.after) for op in _ops(module)]


def _ops(module: ir.Module) -> list[str]:
    """The layers of a module (itself, for a layer), described."""
    layers: Iterable[ir.Layer] = [module] if isinstance(module, ir.Layer) else ir.layers(module)
    return [describe_op(layer.op) for layer in layers]


def _layer_differences(a: list[str], b: list[str]) -> list[str]:
    """The edits that turn one list of layers into the other, e.g. ``+relu``."""
    found = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "; ".join(a[i1:i2]), "; ".join(b[j1:j2])
        if tag == "delete":
            found.append(f"-{removed}")
        elif tag == "insert":
            found.append(f"+{added}")
        elif tag == "replace":
            found.append(f"{removed} => {added}")
    return found


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
