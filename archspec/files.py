"""What archspec reads and writes on disk: spec files in, outputs out.

Specs are untrusted data. A spec file, and every spec it extends, must be a regular file
whose name (and, through any symbolic links, whose target) has a spec suffix; it is
opened so that a FIFO or a device can neither block nor be read, and at most
MAX_SPEC_BYTES are read, whatever ``stat`` says. Outputs are written as regular files
only, atomically, keeping an existing file's permission bits, and never over an input.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

SPEC_SUFFIXES = (".yaml", ".yml", ".arch")
YAML_SUFFIXES = (".yaml", ".yml")
MAX_SPEC_BYTES = 1 << 20
_CHUNK = 1 << 16
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once instead of waiting for a writer
    | getattr(os, "O_NOCTTY", 0)  # a terminal device never becomes our controlling terminal
    | getattr(os, "O_CLOEXEC", 0)
)


class FileProblem(Exception):
    """A file that must not, or cannot, be read or written; the message names it."""

    def __init__(self, message: str, help: str = "") -> None:
        super().__init__(message)
        self.message, self.help = message, help


def kind_of(mode: int) -> str:
    """What a file is, in words, for messages: 'a directory', 'a FIFO', ..."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _suffixes(suffixes: tuple[str, ...]) -> str:
    return ", ".join(suffixes[:-1]) + " or " + suffixes[-1]


def read_spec(
    path: Path,
    suffixes: tuple[str, ...] = SPEC_SUFFIXES,
    within: Path | None = None,
    name: str = "",
) -> str:
    """The text of a spec file, checked before a byte is read: its name and its resolved
    target end in one of ``suffixes``, it lies inside the folder ``within`` (when given,
    after resolving links), and it is a regular file. Raises FileProblem, whose message
    calls the file ``name`` (default: the path)."""
    name = name or str(path)
    expected = f"a spec file ({_suffixes(suffixes)})"
    if "\0" in str(path):
        raise FileProblem(f"{name} is not a file name: it holds a NUL character")
    if path.suffix.lower() not in suffixes:
        raise FileProblem(f"{name} is not {expected}")
    real = Path(os.path.realpath(path))
    if real.suffix.lower() not in suffixes:
        raise FileProblem(f"{name} is a link to {real}, which is not {expected}")
    if within is not None and not real.is_relative_to(within):
        raise FileProblem(f"{name} is outside the folder {within}")
    try:
        mode = os.stat(real).st_mode
        if not stat.S_ISREG(mode):
            raise FileProblem(f"cannot read {name}: it is {kind_of(mode)}, not a regular file")
        descriptor = os.open(real, _OPEN_FLAGS)
    except OSError as error:
        raise FileProblem(f"cannot read {name}: {error.strerror or error}") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # replaced since the stat
            raise FileProblem(f"cannot read {name}: it is not a regular file")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = read_bounded(handle, name)
    except OSError as error:
        raise FileProblem(f"cannot read {name}: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    return decode(data, name)


def spec_root(folder: Path) -> Path:
    """The folder a spec's bases must stay in: the repository that holds ``folder`` (the
    nearest folder above it with a ``.git``), else ``folder`` itself; links resolved.
    A spec received with a repository may use any spec of that repository, nothing else."""
    real = Path(os.path.realpath(folder))
    for candidate in (real, *real.parents):
        if (candidate / ".git").exists():
            return candidate
    return real


def read_bounded(handle: BinaryIO, name: str) -> bytes:
    """At most MAX_SPEC_BYTES from ``handle``: one byte more is an error, not a truncation."""
    data = bytearray()
    while len(data) <= MAX_SPEC_BYTES:
        chunk = handle.read(min(_CHUNK, MAX_SPEC_BYTES + 1 - len(data)))
        if not chunk:
            return bytes(data)
        data += chunk
    raise FileProblem(
        f"{name} is larger than {MAX_SPEC_BYTES >> 10} KiB", "specs are short; is this a spec?"
    )


def read_stdin() -> str:
    """A spec from standard input (the command-line argument ``-``), bounded as a file."""
    return decode(read_bounded(sys.stdin.buffer, "standard input"), "standard input")


def decode(data: bytes, name: str) -> str:
    """UTF-8, with or without a byte-order mark (which editors on Windows add)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileProblem(
            f"{name} is not UTF-8 text (byte {error.start} is {data[error.start]:#04x})",
            "specs are UTF-8 text files",
        ) from None


def write_output(path: Path, data: bytes, inputs: Iterable[Path] = ()) -> Path:
    """Write ``data`` to ``path`` as a regular file, atomically: a temporary file in the
    same folder, renamed over the target, so a failed run leaves nothing half-written.

    Refused: a directory, device, FIFO or socket; any of ``inputs`` (the same inode: the
    spec being compiled, its bases, the weights being read); a link to nothing. A
    symbolic link is written through: its target is replaced and the link stays. An
    existing file keeps its permission bits; a new one gets the umask's. Returns the file
    written (the link's target for a link). Raises FileProblem.
    """
    target, shown, existing = check_output(path, inputs)
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE(existing.st_mode) & 0o777 if existing else 0o666 & ~umask
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise FileProblem(f"cannot write {shown}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)  # mkstemp makes it private
            if existing is not None and os.geteuid() == 0:
                os.fchown(handle.fileno(), existing.st_uid, existing.st_gid)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise FileProblem(f"cannot write {shown}: {error.strerror}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def append_output(path: Path, data: bytes) -> None:
    """Append ``data`` to a regular file (created if missing): a log that grows row by
    row, such as a training run's ``metrics.csv``. Refused as ``write_output`` refuses.
    Raises FileProblem."""
    target, shown, _ = check_output(path)
    try:
        with open(target, "ab") as handle:
            handle.write(data)
    except OSError as error:
        raise FileProblem(f"cannot write {shown}: {error.strerror}") from None


def replace_directory(staging: Path, target: Path) -> None:
    """A folder written whole beside ``target`` (a checkpoint) takes its place; only a
    folder, never a file, link or device, is replaced. Raises FileProblem."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FileProblem(f"cannot replace {target}: it is not a folder")
    try:
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError as error:
        raise FileProblem(f"cannot replace {target}: {error.strerror}") from None


def check_output(
    path: Path, inputs: Iterable[Path] = ()
) -> tuple[Path, str, os.stat_result | None]:
    """What ``write_output`` checks before writing, for a command to check before its work:
    the file to write (a link's target), its name for messages, and its status if it
    exists. Raises FileProblem."""
    target = Path(os.path.realpath(path))
    shown = str(path) if target == Path(os.path.abspath(path)) else f"{path} (-> {target})"
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise FileProblem(f"cannot write {shown}: {error.strerror}") from None
    if existing is None and os.path.islink(path):
        raise FileProblem(f"cannot write {shown}: the link points to nothing")
    if existing is not None:
        _check_replaceable(existing, shown, inputs)
    return target, shown, existing


def _check_replaceable(existing: os.stat_result, shown: str, inputs: Iterable[Path]) -> None:
    if not stat.S_ISREG(existing.st_mode):
        raise FileProblem(
            f"cannot write {shown}: it is {kind_of(existing.st_mode)}, not a regular file",
            "outputs are regular files: give a file path, or - for standard output",
        )
    for source in inputs:
        try:
            found = os.stat(source)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (existing.st_dev, existing.st_ino):
            raise FileProblem(
                f"cannot write {shown}: it is {source}, an input of this command",
                "choose another output path",
            )
