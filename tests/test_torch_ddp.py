"""Beyond one process: two DDP replicas (torchrun, gloo, CPU) train a CIFAR spec and end
with identical weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"


def test_two_ddp_replicas_train_to_identical_weights(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        "--spec",
        "specs/cifar/resnet20.yaml",
        "--steps",
        "3",
        "--out",
        str(tmp_path),
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    replicas = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert all(r["world"] == 2 for r in replicas)
    assert replicas[0]["losses"] != replicas[1]["losses"]  # each rank saw its own data
    first, second = (r["state"] for r in replicas)
    assert list(first) == list(second)
    parameters = [k for k in first if not k.endswith(("running_mean", "running_var", "tracked"))]
    for key in parameters:
        assert torch.equal(first[key], second[key]), key
    # Batch-norm running statistics are each rank's own (DDP broadcasts rank 0's before
    # every forward, and the last forward updates them locally), so they may differ.
    torch.manual_seed(0)
    import archspec

    start = archspec.load("specs/cifar/resnet20.yaml").to_torch().state_dict()
    assert not torch.equal(start["fc.weight"], first["fc.weight"])  # the steps changed it
