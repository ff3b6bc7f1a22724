"""`archspec train --backend flax`: data parallel over jax devices, orbax checkpoints, resume.

The two-device run is a subprocess: XLA's host device count is fixed once jax starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import computed, metrics, write_cifar
from typer.testing import CliRunner

from archspec.cli.app import app

pytest.importorskip("flax")
pytest.importorskip("optax")
pytest.importorskip("orbax.checkpoint")

runner = CliRunner()


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cifar(tmp_path_factory.mktemp("cifar"))


def arguments(cifar: Path, out: Path) -> list[str]:
    return ["train", str(cifar / "tiny.yaml"), "--backend", "flax", "--data", str(cifar),
            "--batch-size", "16", "--lr", "0.05", "--steps", "12", "--eval-every", "4",
            "--out", str(out)]  # fmt: skip


@pytest.mark.slow
def test_flax_trainer_lowers_the_loss_on_two_devices_and_resumes_exactly(
    cifar: Path, tmp_path: Path
) -> None:
    """Two host devices (batch split in two) against one device, resumed half-way:
    the same losses to 1e-6 relative (measured: 5e-8); the resumed run equals the
    uninterrupted one exactly."""
    environment = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    command = [sys.executable, "-m", "archspec", *arguments(cifar, tmp_path / "two")]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "on 2 cpu devices" in result.stdout
    two = metrics(tmp_path / "two")
    assert float(two[-1]["train_loss"]) < 0.8 * float(two[0]["train_loss"]), two
    state = tmp_path / "two/checkpoints/step-0000012"
    assert (state / "state").is_dir() and (state / "meta.json").is_file()

    split = tmp_path / "split"
    for extra in (["--until", "6"], ["--resume"]):
        done = runner.invoke(app, [*arguments(cifar, split), *extra])
        assert done.exit_code == 0, done.output
    one = computed(metrics(split))
    for a, b in zip(one, computed(two), strict=True):
        assert a["step"] == b["step"] and a["lr"] == b["lr"]
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=1e-6)
    whole = runner.invoke(app, arguments(cifar, tmp_path / "whole"))
    assert whole.exit_code == 0, whole.output
    assert computed(metrics(tmp_path / "whole")) == one

    evaluated = runner.invoke(app, ["eval", str(cifar / "tiny.yaml"), "--checkpoint", str(state)])
    assert evaluated.exit_code == 0, evaluated.output
    assert f"test error {float(two[-1]['test_error']):.2f}%" in evaluated.output
