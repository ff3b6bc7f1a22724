"""The wheel as a user gets it: built without warnings, installed into a fresh virtual
environment with the core dependencies only, and run on a spec outside the checkout."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import archspec

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # ~45 s: an isolated build, then the core dependencies
CLEAN = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
"""No checkout on the path: what runs is what the wheel installed."""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``pip wheel .`` (isolated build, as a user runs it) and its verbose output, from a
    copy of the project files, so that the build leaves nothing in the checkout."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "archspec", source / "archspec", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-w", str(out), "-v"],
        capture_output=True,
        text=True,
        timeout=600,
        env=CLEAN,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (built,) = out.glob("archspec_nets-*.whl")
    return built, build.stdout + build.stderr


def test_the_wheel_builds_without_deprecations_and_declares_its_metadata(
    wheel: tuple[Path, str],
) -> None:
    built, log = wheel
    assert not re.search(r"(?i)deprecat", log), [
        line for line in log.splitlines() if "eprecat" in line
    ]
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "archspec/stdlib/blocks.arch" in names and "archspec/py.typed" in names
    assert {"archspec/specs/cifar/cifar.yaml", "archspec/specs/arch/resnet_d.arch"} <= set(names)
    assert f"Version: {archspec.__version__}\n" in metadata
    assert "License-Expression: MIT\n" in metadata
    assert "Requires-Dist: rich>=13\n" in metadata
    torch_extra = re.findall(r'Requires-Dist: (\S+).*; extra == "torch"', metadata)
    assert torch_extra == ["torch>=2.4"]  # torchvision only in dev: archspec never imports it
    assert re.search(r'Requires-Dist: onnxruntime\S*; extra == "export"', metadata)


def test_the_wheel_installs_alone_and_counts_a_spec_outside_the_checkout(
    wheel: tuple[Path, str], tmp_path: Path
) -> None:
    built, _ = wheel
    environment = tmp_path / "venv"
    venv.create(environment)  # no pip of its own: ensurepip alone takes longer than the rest
    python = environment / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(built)],
        capture_output=True,
        text=True,
        timeout=600,
        env=CLEAN,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "specs" / "resnet34.yaml", work / "resnet34.yaml")

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(environment / "bin" / "archspec"), *args],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
            env=CLEAN,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    (record,) = json.loads(run("flops", "resnet34.yaml", "--json"))
    assert (record["params"], record["macs"]) == (21_623_848, 3_644_493_824)
    # the shipped specs are package data: by name, bases (`extends`) included
    by_name = json.loads(run("flops", "resnet50", "cifar/resnet110", "vgg19", "--json"))
    assert [r["params"] for r in by_name] == [25_557_032, 1_727_962, 143_667_240]
    listed = json.loads(run("list", "--json"))
    assert len(listed) == len(list((ROOT / "specs").rglob("*.yaml"))) + 2  # and two .arch
    assert run("--version").strip() == f"archspec {archspec.__version__}"
    where = subprocess.run(
        [str(python), "-c", "import archspec, sys; print(archspec.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
        env=CLEAN,
    ).stdout
    assert Path(where.strip()).is_relative_to(environment)
