"""What -o may write: regular files only, atomically, never an input; an existing file
keeps its permission bits and a symbolic link is written through. (CI runs as root, so
these tests also show that a device node is never replaced.)"""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archspec.cli.app import app
from archspec.files import FileProblem, write_output

PACKAGE = Path(__file__).resolve().parent.parent / "archspec"
SPEC = "name: t\ninput: 3x8x8\nstem: conv(4) relu\n"


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("command", [("build",), ("graph", "--dot")])
def test_a_device_node_is_never_replaced(spec: Path, command: tuple[str, ...]) -> None:
    result = invoke(*command[:1], str(spec), *command[1:], "-o", "/dev/null")
    assert result.exit_code == 1
    assert "error[E402]: cannot write /dev/null: it is a character device" in result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fifos_sockets_and_directories_are_refused(spec: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "out.py"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.py"))
    try:
        for target, kind in (
            (fifo, "a FIFO"),
            (tmp_path / "sock.py", "a socket"),
            (tmp_path, "a directory"),
        ):
            result = invoke("build", str(spec), "-o", str(target))
            assert result.exit_code == 1 and f"it is {kind}, not a regular file" in result.output
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        assert stat.S_ISSOCK(os.stat(tmp_path / "sock.py").st_mode)
    finally:
        server.close()


def test_inputs_are_never_overwritten(spec: Path, tmp_path: Path) -> None:
    os.link(spec, tmp_path / "hard.py")
    (tmp_path / "child.yaml").write_text("extends: spec.yaml\nname: child\n")
    for command, target in (
        (["build", str(spec)], spec),
        (["build", str(spec)], tmp_path / "hard.py"),
        (["graph", str(tmp_path / "child.yaml"), "--dot"], spec),
    ):
        result = invoke(*command, "-o", str(target))
        assert result.exit_code == 1 and "an input of this command" in result.output
    assert spec.read_text() == SPEC


def test_an_existing_file_keeps_its_mode_and_a_new_one_follows_the_umask(
    spec: Path, tmp_path: Path
) -> None:
    existing = tmp_path / "model.py"
    existing.write_text("old")
    existing.chmod(0o640)
    assert invoke("build", str(spec), "-o", str(existing)).exit_code == 0
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640 and "class T" in existing.read_text()
    umask = os.umask(0o022)
    try:
        assert invoke("build", str(spec), "-o", str(tmp_path / "new.py")).exit_code == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o644
    assert leftovers(tmp_path) == []


def test_a_symbolic_link_is_written_through(spec: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "model.py"
    real.write_text("old")
    link = tmp_path / "link.py"
    link.symlink_to(real)
    result = invoke("build", str(spec), "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and "class T" in real.read_text()
    dangling = tmp_path / "dangling.py"
    dangling.symlink_to(tmp_path / "nowhere.py")
    result = invoke("build", str(spec), "-o", str(dangling))
    assert result.exit_code == 1 and "the link points to nothing" in result.output
    assert not (tmp_path / "nowhere.py").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.py"
    target.write_text("old")

    def broken(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(FileProblem, match="No space left on device"):
        write_output(target, b"new")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_convert_never_replaces_a_device_or_a_folder_that_is_not_a_checkpoint(
    spec: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not read")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    for target in ("/dev/null", str(tmp_path / "photos")):
        result = invoke("convert", str(spec), str(weights), target, "--force")
        assert result.exit_code == 1 and "cannot replace" in result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and (tmp_path / "photos" / "cat.jpg").exists()
    os.mkfifo(tmp_path / "fifo.pt")
    result = invoke("convert", str(spec), str(tmp_path / "fifo.pt"), str(tmp_path / "out"))
    assert result.exit_code == 1 and "it is a FIFO" in result.output


def test_every_command_writes_through_the_one_writer() -> None:
    """Only archspec/files.py creates or replaces files; commands call it (write_or_exit)."""
    writers = re.compile(r"os\.replace|tempfile|write_text|write_bytes|open\([^)]*[\"'][wa]")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "files.py" and writers.search(path.read_text())
    ]
    assert offenders == []
