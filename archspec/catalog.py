"""The shipped specs, by name, and the one rule that tells names, paths and directories apart.

The specs under ``specs/`` are package data (``archspec/specs`` in a wheel), so an
installed archspec has its networks: ``archspec.load("resnet50")``, ``archspec flops vgg19``.
A spec's name is its path under ``specs/`` without the suffix: ``resnet50``,
``cifar/resnet20``, ``torchvision/resnet50``.

The rule for an argument (documented in docs/language.md, "Files"):

1. one ending in ``.yaml``, ``.yml`` or ``.arch`` (any case) is a file path;
2. on the command line, ``-`` is standard input and an existing directory stands for the
   spec files in it and below it;
3. anything else is a shipped spec's name, or an error naming the closest ones.
"""

from __future__ import annotations

import os
from functools import cache
from importlib.resources import files
from pathlib import Path

from archspec.diagnostics import Diagnostic, SpecError, did_you_mean
from archspec.files import SPEC_SUFFIXES, spec_root
from archspec.source import printable

MAX_DIRECTORY_SPECS = 1000
"""The most spec files a directory argument may hold (a bound on work and output)."""


@cache
def shipped_root() -> Path:
    return Path(os.path.realpath(str(files("archspec") / "specs")))


def bases_root(folder: Path) -> Path:
    """The folder a spec's bases must stay in: the shipped specs' folder for a shipped
    spec (installed, it is in no repository), else ``files.spec_root``."""
    root = shipped_root()
    return root if Path(os.path.realpath(folder)).is_relative_to(root) else spec_root(folder)


@cache
def shipped() -> dict[str, Path]:
    """Every shipped spec: name -> file, in name order."""
    root = shipped_root()
    return {
        path.relative_to(root).with_suffix("").as_posix(): path
        for path in sorted(spec_files(root, limit=None), key=lambda p: p.relative_to(root))
    }


def is_spec_path(argument: str) -> bool:
    return argument.lower().endswith(SPEC_SUFFIXES)


def shipped_spec(name: str) -> Path:
    """The file of a shipped spec, or E106 with the closest names."""
    found = shipped().get(name)
    if found is not None:
        return found
    suggestion = did_you_mean(name, shipped())
    hint = f"{suggestion} " if suggestion else ""
    raise SpecError(
        [
            Diagnostic(
                code="E106",
                message=f"'{printable(name)}' is neither a spec file nor a shipped spec's name",
                help=f"{hint}spec files end in {', '.join(SPEC_SUFFIXES)}; "
                "`archspec list` shows the shipped names",
            )
        ]
    )


def spec_files(folder: Path, limit: int | None = MAX_DIRECTORY_SPECS) -> list[Path]:
    """The spec files in ``folder`` and below, sorted; at most ``limit`` of them (E106 past
    it). Links to folders are not followed, so a loop cannot make this endless."""
    found: list[Path] = []
    for directory, folders, names in os.walk(folder):  # links to folders: not followed
        folders.sort()
        for name in sorted(names):
            if is_spec_path(name):
                found.append(Path(directory, name))
                if limit is not None and len(found) > limit:
                    raise SpecError(
                        [
                            Diagnostic(
                                code="E106",
                                message=f"{printable(str(folder))} holds more than {limit} "
                                "spec files",
                                help="name the files, or a folder holding fewer",
                            )
                        ]
                    )
    return found
