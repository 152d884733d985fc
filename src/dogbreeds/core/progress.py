"""Progress bars (rich) with rate and ETA, silent when stderr is not a terminal or ``DOGBREEDS_PROGRESS=0``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Bar:
    """A handle to advance; does nothing when no bar is shown."""

    def __init__(self, progress: Any = None, task: Any = None, unit: str = "") -> None:
        self._progress, self._task, self._unit = progress, task, unit

    def advance(self, n: int = 1) -> None:
        if self._progress is None:
            return
        self._progress.advance(self._task, n)
        speed = self._progress.tasks[0].speed
        if speed:
            self._progress.update(self._task, rate=f"{speed:.1f} {self._unit}/s")


@contextmanager
def progress(desc: str, *, total: int, unit: str = "items") -> Iterator[Bar]:
    """A bar on stderr for work of ``total`` steps."""
    if total <= 0 or os.environ.get("DOGBREEDS_PROGRESS", "1") == "0" or not sys.stderr.isatty():
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, TextColumn("{task.fields[rate]}"), console=Console(stderr=True), transient=True) as p:
        yield Bar(p, p.add_task(desc, total=total, rate=""), unit)
