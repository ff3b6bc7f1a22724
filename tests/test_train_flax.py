"""`archspec train --backend flax`: data parallel over jax devices, orbax checkpoints, resume.

Every run is a subprocess with two XLA host devices (the count is fixed once jax starts),
sharing a persistent compilation cache: the network's random initialisation alone takes
XLA about 20 s to compile here, even for the tiny spec, and is compiled once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import computed, metrics, write_cifar

pytest.importorskip("flax")
pytest.importorskip("optax")
pytest.importorskip("orbax.checkpoint")


def archspec(*arguments: str, cache: Path) -> str:
    environment = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
    }
    command = [sys.executable, "-m", "archspec", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_flax_trainer_lowers_the_loss_on_two_devices_and_resumes_exactly(tmp_path: Path) -> None:
    data = write_cifar(tmp_path / "data")
    cache = tmp_path / "xla-cache"
    common = ["train", str(data / "tiny.yaml"), "--backend", "flax", "--data", str(data),
              "--batch-size", "16", "--lr", "0.05", "--steps", "12",
              "--eval-every", "4"]  # fmt: skip
    out = archspec(*common, "--out", str(tmp_path / "whole"), cache=cache)
    assert "on 2 cpu devices" in out
    whole = metrics(tmp_path / "whole")
    assert float(whole[-1]["train_loss"]) < 0.8 * float(whole[0]["train_loss"]), whole
    state = tmp_path / "whole/checkpoints/step-0000012"
    assert (state / "state").is_dir() and (state / "meta.json").is_file()

    split = tmp_path / "split"
    archspec(*common, "--out", str(split), "--until", "6", cache=cache)
    assert (split / "checkpoints/step-0000006/state").is_dir()
    archspec(*common, "--out", str(split), "--resume", cache=cache)
    assert computed(metrics(split)) == computed(whole)

    evaluated = archspec("eval", str(data / "tiny.yaml"), "--checkpoint", str(state), cache=cache)
    assert f"test error {float(whole[-1]['test_error']):.2f}%" in evaluated
