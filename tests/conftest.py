from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Under pytest-xdist each worker gets a core of its own: one math thread each, and OpenMP
# threads that sleep instead of spinning while the other worker computes (spinning made a
# torch forward 70x slower here). Set before any test module imports torch or jax.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.yaml"))


@pytest.fixture(autouse=True, scope="session")
def _run_from_repository_root() -> None:
    """Spec paths in tests and golden data are relative to the repository root."""
    os.chdir(ROOT)


@pytest.fixture(scope="session")
def golden() -> dict:
    return json.loads((ROOT / "tests" / "golden.json").read_text())
