"""What a run shows while it trains: a metrics line per row, and a progress bar on a terminal.

Rows go to ``console`` (stdout) in every case, so a log file or CI output reads like the
CSV; the bar goes to ``status`` (stderr), transient and only on a terminal, as the other
commands' bars. Its loss and error are this process's recent training batches, refreshed at
most once a second.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from archspec.train.runfolder import Row

REFRESH_S = 1.0


def format_row(row: Row, steps: int) -> str:
    return (
        f"step {row.step}/{steps}  epoch {row.epoch:.2f}  lr {row.lr:.4g}  "
        f"loss {row.train_loss:.4f}  train error {row.train_error:.2f}%  "
        f"test error {row.test_error:.2f}%  {row.images_per_s:,.0f} images/s"
    )


class Reporter:
    """Progress for one run; silent on every process but the first."""

    def __init__(
        self,
        console: Console,
        steps: int,
        start: int,
        enabled: bool = True,
        status: Console | None = None,
    ) -> None:
        self.console, self.steps, self.enabled = console, steps, enabled
        status = status if status is not None else console
        self.live = enabled and status.is_terminal
        self._last = 0.0
        self._bar: Progress | None = None
        self._task = None
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  error {task.fields[error]}"),
                TextColumn("{task.fields[speed]} images/s"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=status,
                transient=True,
            )
            self._task = self._bar.add_task(
                "train", total=steps, completed=start, loss="-", error="-", speed="-"
            )

    def __enter__(self) -> Reporter:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def due(self) -> bool:
        """Whether the bar wants fresh numbers (on a terminal, once a second)."""
        return self.live and time.monotonic() - self._last >= REFRESH_S

    def advance(
        self, step: int, loss: float | None = None, error: float | None = None, speed: float = 0
    ) -> None:
        if self._bar is None or self._task is None:
            return
        fields: dict[str, Any] = {}
        if loss is not None and error is not None:
            self._last = time.monotonic()
            fields = {"loss": f"{loss:.4f}", "error": f"{error:.1f}%", "speed": f"{speed:,.0f}"}
        self._bar.update(self._task, completed=step, **fields)

    def row(self, row: Row) -> None:
        self.say(format_row(row, self.steps))

    def say(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
