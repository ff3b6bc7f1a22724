"""Property: whatever a mutation does to a valid spec, loading it either succeeds or
raises SpecError with a location; never another exception, never a hang."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec

SEEDS = [
    Path(p).read_text()
    for p in (
        "specs/resnet34.yaml",
        "specs/torchvision/resnet50.yaml",
        "specs/cifar/cifar.yaml",
        "specs/vgg/vgg.yaml",
        "specs/arch/resnet_d.arch",
        "specs/arch/resnet34.arch",
    )
]
TOKENS = [
    "(",
    ")",
    "=",
    ",",
    "x",
    "/2",
    "x 1000000000",
    ":",
    "-",
    "&a",
    "*a",
    "!!python/object",
    "'",
    '"',
    "\n",
    "  ",
    "#",
    "conv",
    "bn",
    "basic",
    "shortcut=",
    "1e9",
    "0",
    "-1",
    "//",
    "[",
    "{",
    "if",
    "else",
    "+ shortcut",
    "->",
    "stride=",
    "block",
    "let",
    "\t",
    "é",
    "x 100 x 100",
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = draw(st.sampled_from(TOKENS) | st.text(max_size=3))
        width = draw(st.integers(1, 12))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + width :]
        elif action == "replace":
            text = text[:at] + piece + text[at + width :]
        else:
            text = text[:at] + text[at : at + width] * 3 + text[at:]
    return text


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def expire(*_: object) -> None:
        raise TimeoutError(f"loading took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_load_or_raise_spec_error(text: str) -> None:
    with deadline(10):
        try:
            arch = archspec.load(text)
        except archspec.SpecError as error:
            assert error.diagnostics and error.render()
        else:
            assert arch.counts.params >= 0
