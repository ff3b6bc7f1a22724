"""The run folder: ``config.json``, ``metrics.csv``, ``curves.png`` and ``checkpoints/``.

``metrics.csv`` gets one row per evaluation interval; a resumed run first drops rows
past its checkpoint (written before a crash could save the matching checkpoint), then
appends. Checkpoints are ``checkpoints/step-NNNNNNN`` (a ``.pt`` file for torch, an
orbax directory for flax); the newest two are kept.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from archspec.files import FileProblem, append_output, write_output
from archspec.train.config import TrainConfig, TrainError

CHECKPOINT = re.compile(r"step-(\d{7})(\.pt)?$")
KEEP_CHECKPOINTS = 2


@dataclass(frozen=True)
class Row:
    """One line of metrics.csv. Errors are percentages; loss and errors are the interval's
    means over the training batches seen (augmented, in training mode)."""

    step: int
    epoch: float
    lr: float
    train_loss: float
    train_error: float
    test_error: float
    images_per_s: float
    seconds: float
    """wall time of the run so far, over all its sessions, without evaluations"""

    def cells(self) -> list[str]:
        return [repr(v) if isinstance(v, float) else str(v) for v in astuple(self)]


COLUMNS = [f.name for f in fields(Row)]


def write_atomic(path: Path, data: bytes) -> None:
    """A file of the run is replaced whole or not at all (``archspec.files``, the one
    writer); a problem is a TrainError, reported as the others."""
    try:
        write_output(path, data)
    except FileProblem as problem:
        raise TrainError(problem.message) from None


class RunFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_path = root / "config.json"
        self.metrics_path = root / "metrics.csv"
        self.curves_path = root / "curves.png"
        self.checkpoints = root / "checkpoints"

    def create(self, config: TrainConfig) -> None:
        """A new run; an existing run in the same folder is not overwritten."""
        if self.config_path.exists():
            raise TrainError(
                f"{self.root} already holds a run",
                help="continue it with --resume, or choose another --out",
            )
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TrainError(f"cannot create {self.root}: {error.strerror}") from None
        write_atomic(self.config_path, config.to_json().encode())
        self.write_rows([])

    def saved_config(self) -> TrainConfig:
        if not self.config_path.is_file():
            raise TrainError(
                f"nothing to resume: {self.config_path} does not exist",
                help="start the run without --resume, or point --out at its folder",
            )
        return TrainConfig.from_json(self.config_path.read_text())

    def rows(self) -> list[Row]:
        if not self.metrics_path.is_file():
            return []
        with self.metrics_path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != COLUMNS:
                raise TrainError(f"{self.metrics_path}: unexpected columns {reader.fieldnames}")
            rows = []
            for cells in reader:
                values: dict[str, Any] = {name: float(cells[name]) for name in COLUMNS}
                rows.append(Row(**{**values, "step": int(values["step"])}))
            return rows

    def write_rows(self, rows: list[Row]) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(row.cells() for row in rows)
        write_atomic(self.metrics_path, text.getvalue().encode())

    def append(self, row: Row) -> None:
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(row.cells())
        try:
            append_output(self.metrics_path, line.getvalue().encode())
        except FileProblem as problem:
            raise TrainError(problem.message) from None

    def keep_rows_until(self, step: int) -> list[Row]:
        """Drop rows after ``step`` (the checkpoint a resumed run starts from)."""
        rows = [row for row in self.rows() if row.step <= step]
        self.write_rows(rows)
        return rows

    def checkpoint_path(self, step: int, suffix: str) -> Path:
        return self.checkpoints / f"step-{step:07d}{suffix}"

    def latest_checkpoint(self) -> tuple[int, Path] | None:
        found = self._checkpoints()
        return found[-1] if found else None

    def prune_checkpoints(self) -> None:
        for _, path in self._checkpoints()[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    def _checkpoints(self) -> list[tuple[int, Path]]:
        if not self.checkpoints.is_dir():
            return []
        found = []
        for path in self.checkpoints.iterdir():
            match = CHECKPOINT.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)
