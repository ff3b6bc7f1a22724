"""What a spec may make archspec read: regular spec files, bounded, inside its repository;
never a FIFO or a device, never a file that is not a spec (and never its content)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli.app import app
from archspec.files import MAX_SPEC_BYTES

SPEC = "name: t\ninput: 3x8x8\nstem: conv(4) relu\n"
SECRET = "TOPSECRET: the content of a file that is not a spec\n"


def first_error(spec: str | Path) -> archspec.Diagnostic:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(spec)
    return caught.value.diagnostics[0]


def run_cli(*args: str, stdin: str | None = None):  # noqa: ANN201
    return CliRunner().invoke(app, list(args), input=stdin)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder outside any repository: its bases may not leave it."""
    (tmp_path / "specs").mkdir()
    return tmp_path / "specs"


def test_a_fifo_as_the_spec_is_refused_at_once(folder: Path) -> None:
    fifo = folder / "pipe.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    error = first_error(fifo)
    assert time.monotonic() - started < 5
    assert error.code == "E105" and "it is a FIFO, not a regular file" in error.message


def test_a_fifo_as_a_base_is_refused_at_once(folder: Path) -> None:
    os.mkfifo(folder / "base.yaml")
    spec = folder / "spec.yaml"
    spec.write_text("extends: base.yaml\nname: t\n")
    started = time.monotonic()
    error = first_error(spec)
    assert time.monotonic() - started < 5
    assert error.message == "cannot read 'base.yaml': it is a FIFO, not a regular file"
    assert error.span is not None and (error.span.line, error.span.column) == (1, 10)


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "/proc/self/environ"])
def test_devices_and_proc_files_behind_a_spec_name_are_refused(folder: Path, target: str) -> None:
    """A link named like a spec does not make its target one."""
    (folder / "base.yaml").symlink_to(target)
    spec = folder / "spec.yaml"
    spec.write_text("extends: base.yaml\nname: t\n")
    started = time.monotonic()
    error = first_error(spec)
    assert time.monotonic() - started < 5
    assert error.code == "E105" and "is a link to" in error.message
    assert error.span is not None and error.span.line == 1


def test_a_base_that_is_not_a_spec_is_never_echoed(folder: Path) -> None:
    (folder / "notes.txt").write_text(SECRET)
    (folder / "notes.yaml").symlink_to(folder / "notes.txt")
    for base in ("notes.txt", "notes.yaml"):
        spec = folder / "spec.yaml"
        spec.write_text(f"extends: {base}\nname: t\n")
        result = CliRunner().invoke(app, ["check", str(spec)])
        assert result.exit_code == 1 and "error[E105]" in result.output
        assert "TOPSECRET" not in result.output


def test_bases_stay_inside_the_spec_folder_outside_any_repository(tmp_path: Path) -> None:
    outside = tmp_path / "secret.yaml"
    outside.write_text("name: " + SECRET)
    inner = tmp_path / "project" / "specs"
    inner.mkdir(parents=True)
    (inner / "base.yaml").write_text(SPEC)
    (inner / "sub").mkdir()
    (inner / "link.yaml").symlink_to(outside)
    ok = inner / "ok.yaml"
    ok.write_text("extends: ./sub/../base.yaml\nname: ok\n")
    assert archspec.load(ok).name == "ok"
    for base in ("../../secret.yaml", "link.yaml"):
        bad = inner / "bad.yaml"
        bad.write_text(f"extends: {base}\nname: t\n")
        error = first_error(bad)
        assert error.code == "E105" and "is outside the folder" in error.message
        assert "TOPSECRET" not in error.message + error.help


def test_bases_may_use_dot_dot_inside_their_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "common").mkdir()
    (tmp_path / "models" / "cifar").mkdir(parents=True)
    (tmp_path / "common" / "base.yaml").write_text(SPEC)
    spec = tmp_path / "models" / "cifar" / "net.yaml"
    spec.write_text("extends: ../../common/base.yaml\nname: net\n")
    assert archspec.load(spec).counts.params == 4 * 3 * 9


def test_a_spec_larger_than_the_bound_is_refused_without_stat(folder: Path) -> None:
    big = folder / "big.yaml"
    big.write_text(SPEC + "#" * MAX_SPEC_BYTES)
    error = first_error(big)
    assert error.code == "E105" and "is larger than 1024 KiB" in error.message
    spec = folder / "spec.yaml"
    spec.write_text("extends: big.yaml\nname: t\n")
    assert first_error(spec).code == "E105"


@pytest.mark.parametrize("name", ["spec.txt", "spec", "specs.yaml.bak"])
def test_a_spec_must_have_a_spec_suffix(folder: Path, name: str) -> None:
    (folder / name).write_text(SPEC)
    error = first_error(folder / name)
    assert error.code == "E105" and "is not a spec file (.yaml, .yml or .arch)" in error.message


def test_a_directory_with_a_spec_suffix_is_refused(folder: Path) -> None:
    (folder / "dir.yaml").mkdir()
    error = first_error(folder / "dir.yaml")
    assert "it is a directory, not a regular file" in error.message


def test_upper_case_suffixes_and_byte_order_marks_are_specs(folder: Path) -> None:
    arch = "network t\ninput 3x8x8\nstem conv(4) relu\n"
    (folder / "r.ARCH").write_text("\ufeff" + arch, encoding="utf-8")
    (folder / "r.YAML").write_text("\ufeff" + SPEC, encoding="utf-8")
    for path in (folder / "r.ARCH", folder / "r.YAML"):
        assert archspec.load(path).counts.params == 108
    assert archspec.load("\ufeff" + arch).counts.params == 108


def test_the_command_line_reads_a_spec_from_standard_input() -> None:
    result = run_cli("flops", "-", "--json", stdin=Path("specs/resnet34.yaml").read_text())
    assert result.exit_code == 0, result.output
    assert '"params": 21623848' in result.output
    check = run_cli("check", "-", stdin=SPEC)
    assert check.exit_code == 0 and check.output.strip() == "standard input: ok"
    broken = run_cli("check", "-", stdin="name: t\ninput: 3x8x8\nstem: bnn\n")
    assert broken.exit_code == 1 and "--> <stdin>:3:7" in broken.output


def test_standard_input_is_bounded() -> None:
    result = run_cli("check", "-", stdin=SPEC + "#" * MAX_SPEC_BYTES)
    assert result.exit_code == 1
    assert (
        "error[E105]: cannot read the spec: standard input is larger than 1024 KiB" in result.output
    )


def test_a_command_line_argument_is_a_path_or_a_name_never_spec_text() -> None:
    runner = CliRunner()
    for argument in ("conv relu", "name: t"):
        result = runner.invoke(app, ["check", "--", argument])
        assert result.exit_code == 1 and "error[E106]" in result.output, result.output
        assert "neither a spec file nor a shipped spec's name" in result.output
    result = runner.invoke(app, ["check", "--", "-x.yaml"])
    assert result.exit_code == 1 and "error[E105]" in result.output, result.output
    missing = runner.invoke(app, ["check", "specs/nope.yaml"])
    assert "cannot read specs/nope.yaml: No such file or directory" in missing.output


def test_diff_reads_standard_input_once() -> None:
    result = run_cli("diff", "-", "-B", "n=5", stdin=Path("specs/cifar/cifar.yaml").read_text())
    assert result.exit_code == 0, result.output
    assert "total" in result.output and "+194,432" in result.output
