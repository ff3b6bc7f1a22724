"""`archspec experiment degradation`: plain and residual nets of each depth, Figure 6."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import metrics, write_cifar
from typer.testing import CliRunner

from archspec.cli.app import app

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

runner = CliRunner()


def test_degradation_experiment_trains_both_families_and_draws_figure_6(tmp_path: Path) -> None:
    data = write_cifar(tmp_path / "data")
    out = tmp_path / "exp"
    command = ["experiment", "degradation", "--data", str(data), "--depths", "8,14", "--steps",
               "4", "--batch-size", "16", "--eval-every", "2", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "degradation.png", "plain-14", "plain-8", "resnet-14", "resnet-8"
    ]  # fmt: skip
    assert (out / "degradation.png").read_bytes()[:4] == b"\x89PNG"
    assert '"shortcut": "none"' in (out / "plain-14/config.json").read_text()
    assert '"n": 2' in (out / "resnet-14/config.json").read_text()
    assert "plain-14: train error" in result.output and "resnet-8: train error" in result.output
    assert [r["step"] for r in metrics(out / "resnet-14")] == ["2", "4"]
    again = runner.invoke(app, command)  # finished runs are kept, the figure redrawn
    assert again.exit_code == 0 and "nothing to do: the run is at step 4 of 4" in again.output
    other = runner.invoke(app, [*command[:-2], "--lr", "0.2", "--out", str(out)])
    assert other.exit_code == 1 and "holds a run with other settings" in other.output
    bad = runner.invoke(app, ["experiment", "degradation", "--depths", "21"])
    assert bad.exit_code == 1 and "21 is not 6n+2" in bad.output
