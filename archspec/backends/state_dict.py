"""Does a set of weights fit a network? Which tensors are missing, unexpected or misshapen.

A state_dict that does not fit usually misses or adds whole modules (a projection
shortcut, a classifier of another size), so the report names the largest module whose
tensors are all unmatched, with a count (``layer2.0.downsample (6 tensors)``), instead
of listing up to hundreds of keys. Framework-free: keys are dotted torch names or flax
paths, values are shapes.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from archspec.diagnostics import Diagnostic, SpecError

Shape = tuple[int, ...]
SHOWN = 8
"""At most this many groups per kind of problem; the rest are counted."""

TORCHVISION = (
    (
        re.compile(r"(conv1|bn1|fc)\.|layer[1-4]\.\d+\.(conv[1-3]|bn[1-3]|downsample\.[01])\."),
        ("conv1.weight", (64, 3, 7, 7)),
    ),
    (re.compile(r"(features|classifier)\.\d+\."), ("features.0.weight", (64, 3, 3, 3))),
)
"""torchvision's ResNet and VGG: the pattern of every key, and the first tensor's shape."""
TORCHVISION_HINT = (
    "if these are torchvision's weights, use a spec in its layout: specs/torchvision/ "
    "(ResNets with option B shortcuts and the stride on the 3x3) or specs/vgg*.yaml load "
    "them as they are"
)


@dataclass(frozen=True)
class Unmatched:
    """Keys of one kind (missing or unexpected): how many, and grouped by module."""

    count: int
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Mismatch:
    """What keeps weights from loading; false when they fit."""

    missing: Unmatched
    unexpected: Unmatched
    misshapen: tuple[tuple[str, Shape, Shape], ...]
    """(key, found shape, expected shape)"""

    def __bool__(self) -> bool:
        return bool(self.missing.count or self.unexpected.count or self.misshapen)


def compare(
    expected: Mapping[Hashable, Shape], found: Mapping[Hashable, Shape], separator: str = "."
) -> Mismatch:
    """Compare keys and shapes; missing and unexpected tensors are grouped by module."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    everything = [*expected, *unexpected]
    return Mismatch(
        missing=Unmatched(len(missing), _grouped(missing, everything, separator)),
        unexpected=Unmatched(len(unexpected), _grouped(unexpected, everything, separator)),
        misshapen=tuple(
            (_text(key, separator), tuple(found[key]), tuple(shape))
            for key, shape in expected.items()
            if key in found and tuple(found[key]) != tuple(shape)
        ),
    )


def _parts(key: Hashable) -> tuple[str, ...]:
    return (
        tuple(str(part) for part in key) if isinstance(key, tuple) else tuple(str(key).split("."))
    )


def _text(key: Hashable, separator: str) -> str:
    return separator.join(_parts(key))


def _grouped(keys: list[Hashable], everything: list[Hashable], separator: str) -> tuple[str, ...]:
    """Each key under the shortest module prefix all of whose tensors are in ``keys``."""
    chosen = {_parts(key) for key in keys}
    totals: dict[tuple[str, ...], int] = {}
    clean: dict[tuple[str, ...], bool] = {}
    for parts in map(_parts, everything):
        for end in range(1, len(parts) + 1):
            prefix = parts[:end]
            totals[prefix] = totals.get(prefix, 0) + 1
            clean[prefix] = clean.get(prefix, True) and parts in chosen
    groups: dict[tuple[str, ...], int] = {}
    for parts in map(_parts, keys):
        prefix = next(parts[:end] for end in range(1, len(parts) + 1) if clean[parts[:end]])
        groups[prefix] = totals[prefix]
    return tuple(
        separator.join(prefix) + ("" if prefix in chosen else f" ({_tensors(count)})")
        for prefix, count in groups.items()
    )


def _tensors(count: int) -> str:
    return f"{count} tensor{'s' if count != 1 else ''}"


def _error(mismatch: Mismatch, what: str, help: str, found: Mapping[Hashable, Shape]) -> SpecError:
    """E404: one line per kind of problem, at most ``SHOWN`` groups each."""
    lines = [f"the {what} does not fit the spec:"]
    for kind, unmatched in (("missing", mismatch.missing), ("unexpected", mismatch.unexpected)):
        if unmatched.count:
            lines.append(f"  {kind} {_tensors(unmatched.count)}: {_capped(unmatched.groups)}")
    if mismatch.misshapen:
        shapes = [
            f"{key} is {shape}, the spec needs {need}" for key, shape, need in mismatch.misshapen
        ]
        lines.append(f"  wrong shape: {_capped(shapes)}")
    if looks_like_torchvision(found):
        help = TORCHVISION_HINT
    return SpecError([Diagnostic(code="E404", message="\n".join(lines), help=help)])


def _capped(items: tuple[str, ...] | list[str]) -> str:
    more = len(items) - SHOWN
    return "; ".join(items[:SHOWN]) + (f"; and {more} more" if more > 0 else "")


def looks_like_torchvision(found: Mapping[Hashable, Shape]) -> bool:
    """Every key is named as in a torchvision ResNet (or VGG), whose first conv it has."""
    return any(
        tuple(found.get(key, ())) == shape
        and all(isinstance(k, str) and pattern.match(k) for k in found)
        for pattern, (key, shape) in TORCHVISION
    )


def check(
    expected: Mapping[Hashable, Shape],
    found: Mapping[Hashable, Shape],
    what: str,
    help: str = "load weights saved for this spec and its -D values: keys are its module paths",
    separator: str = ".",
) -> None:
    """Raise E404 unless ``found`` has exactly the expected keys with the expected shapes."""
    mismatch = compare(expected, found, separator)
    if mismatch:
        raise _error(mismatch, what, help, found)
