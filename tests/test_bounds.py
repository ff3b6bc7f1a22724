"""Bounded output, time and size: repeated diagnostics merged, at most MAX_SHOWN printed,
compiling stopped after MAX_COLLECTED, totals limited before any backend allocates."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.analysis import budget
from archspec.cli.app import app
from archspec.diagnostics import MAX_COLLECTED, MAX_SHOWN
from archspec.files import MAX_SPEC_BYTES


def spec_error(text: str) -> archspec.SpecError:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(text)
    return caught.value


def unknown_layers(count: int) -> str:
    return "name: t\ninput: 3x8x8\nstem: " + " ".join(f"lay{i}" for i in range(count)) + "\n"


def test_one_mistake_repeated_is_one_error_with_its_count() -> None:
    started = time.monotonic()
    error = spec_error("name: t\ninput: 3x8x8\nstem: foo x 100000\n")
    assert time.monotonic() - started < 20  # 0.6 s here; 20 s before (100,000 errors, 13.7 MB)
    (diagnostic,) = error.diagnostics
    assert diagnostic.message == "unknown layer or block 'foo' (100,000 times)"
    assert len(error.render()) < 500


def test_at_most_max_shown_are_printed_then_a_count() -> None:
    error = spec_error(unknown_layers(MAX_SHOWN + 10))
    assert len(error.diagnostics) == len(error.as_json()) == MAX_SHOWN + 10 and error.complete
    assert error.render().count("error[E300]") == MAX_SHOWN
    assert error.render().endswith("... and 10 more errors")
    assert error.short().splitlines()[-1] == "... and 10 more errors"
    assert len(error.short().splitlines()) == MAX_SHOWN + 1


def test_compiling_stops_after_max_collected_distinct_errors() -> None:
    error = spec_error(unknown_layers(MAX_COLLECTED + 500))
    assert len(error.diagnostics) == MAX_COLLECTED and not error.complete
    assert error.render().endswith(
        f"... and {MAX_COLLECTED - MAX_SHOWN:,} more errors; stopped after {MAX_COLLECTED:,} "
        "distinct errors"
    )


def test_long_names_are_clipped_in_messages() -> None:
    error = spec_error("name: t\ninput: 3x8x8\nstem: " + "x" * 100_000 + "y\n")
    assert len(error.render()) < 1500


def test_a_spec_full_of_distinct_errors_takes_seconds() -> None:
    """256 KiB of distinct mistakes (a quarter of the size limit; the time is linear in the
    size, and parsing dominates it: about 5 s for 1 MiB on an idle core here)."""
    text = unknown_layers(32_000)
    assert len(text) > MAX_SPEC_BYTES // 4
    started = time.monotonic()
    error = spec_error(text)
    assert time.monotonic() - started < 30
    assert not error.complete and len(error.render()) < 20_000


def test_the_command_line_prints_the_bounded_report() -> None:
    result = CliRunner().invoke(app, ["check", "tests/errors/repeated_unknown.yaml"])
    assert result.exit_code == 1 and result.output.count("error[E300]") == 1
    assert "(100,000 times)" in result.output


def test_to_torch_and_to_flax_refuse_before_allocating() -> None:
    """A network within the limits but larger than the machine is refused with its size,
    before the framework is even imported."""
    code = (
        "import sys, archspec\n"
        "from archspec.analysis import budget\n"
        "arch = archspec.load('specs/resnet34.yaml')\n"
        "budget.memory_bytes = lambda: 1 << 20\n"
        "for build in (arch.to_torch, arch.to_flax):\n"
        "    try:\n"
        "        build()\n"
        "    except archspec.SpecError as error:\n"
        "        print(error.code, error.diagnostics[0].message)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'flax')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    lines = result.stdout.splitlines()
    expected = (
        "E408 the model needs about 0.1 GiB for its parameters and buffers, "
        "more than this machine's 0.0 GiB of memory"
    )
    assert lines == [expected, expected, "[]"]


def test_backends_refuse_a_network_beyond_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that did not come through the compiler (built by hand, or loaded under
    other limits) is checked again by every backend entry point."""
    arch = archspec.load("specs/resnet34.yaml")
    monkeypatch.setattr(budget, "MAX_PARAMETERS", 1000)
    for entry in (lambda: arch.source("torch"), arch.to_torch, arch.to_flax):
        with pytest.raises(archspec.SpecError) as caught:
            entry()
        assert caught.value.code == "E313" and "the limit is 1,000" in str(caught.value)


def test_build_refuses_an_absurd_network_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "model.py"
    result = CliRunner().invoke(
        app, ["build", "tests/errors/too_many_parameters.yaml", "-o", str(out)]
    )
    assert result.exit_code == 1 and "9,895,632,961,536 parameters" in result.output
    assert "36,864.1 GiB" in result.output and not out.exists()
