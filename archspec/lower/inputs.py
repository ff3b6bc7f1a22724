"""The network's input shape: ``CxHxW``, where a size may be a parameter's name.

``3x224x224`` is the plain form. A size taken from a parameter stands apart, with spaces
around its ``x``: ``in_channels x 224x224``, ``c x h x w``. The spaces are what tells the
name ``max_x`` from a size followed by ``x``: a name never touches an ``x``.
"""

from __future__ import annotations

import re

from archspec import ir, symbolic
from archspec.diagnostics import Collector, did_you_mean
from archspec.frontend import syntax as s
from archspec.ops.base import MAX_CHANNELS
from archspec.source import Span

MAX_INPUT_SIZE = 1 << 16
SPACED_X = re.compile(r"[ \t]+x[ \t]+")
SIZES = re.compile(r"\d+(?:x\d+)*")
EXAMPLE = "e.g. 3x224x224, or in_channels x 224x224 with a parameter in_channels"


def input_names(text: str) -> set[str]:
    """The parameters an input shape reads."""
    return {part for part in _parts(text) if s.IDENTIFIER.match(part)}


def _parts(text: str) -> list[str]:
    """The shape's parts between spaced ``x``s: ``3x224x224`` is one, ``c x 224x224`` two."""
    return SPACED_X.split(text.strip())


def input_shape(
    text: str, span: Span | None, report: Collector, scope: dict[str, s.Value]
) -> ir.Shape | None:
    """The shape ``text`` gives with the parameters in ``scope``; None after a report."""
    sizes: list[int] = []
    for part in _parts(text):
        if SIZES.fullmatch(part):
            sizes += (int(d) if len(d) < 10 else MAX_INPUT_SIZE + 1 for d in part.split("x"))
        elif not s.IDENTIFIER.match(part):
            sizes = []
            break
        elif part not in scope:
            report.error(
                "E304",
                f"the input names '{part}', which is not a parameter",
                span,
                help=did_you_mean(part, scope) or f"declare it: params: {{{part}: 3}}",
            )
            return None
        elif isinstance(value := scope[part], bool) or not isinstance(value, int):
            report.error(
                "E315",
                f"input size '{part}' must be a whole number, found {value!r}",
                span,
                help=f"give the parameter a whole number: -D {part}=3",
            )
            return None
        else:
            sizes.append(value)
    if len(sizes) != 3:
        report.error("E204", f"input must be CxHxW, found '{text}'", span, help=EXAMPLE)
        return None
    plain = [symbolic.plain(size) for size in sizes]  # a check: it decides nothing
    if min(plain) < 1 or plain[0] > MAX_CHANNELS or max(plain[1:]) > MAX_INPUT_SIZE:
        shown = "x".join(map(str, sizes))
        report.error(
            "E313",
            f"input is out of range (1..{MAX_CHANNELS} channels, "
            f"1..{MAX_INPUT_SIZE} pixels), found {shown}",
            span,
        )
        return None
    return (sizes[0], sizes[1], sizes[2])
