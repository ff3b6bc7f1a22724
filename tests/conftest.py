from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.yaml"))


@pytest.fixture(autouse=True, scope="session")
def _run_from_repository_root() -> None:
    """Spec paths in tests and golden data are relative to the repository root."""
    os.chdir(ROOT)


@pytest.fixture(scope="session")
def golden() -> dict:
    return json.loads((ROOT / "tests" / "golden.json").read_text())
