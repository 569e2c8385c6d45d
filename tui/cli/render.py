"""How ``--run`` and ``--sweep`` show a run's events: one plain line each, or a live Rich table.

The words come from ``core.format`` (the console shows the same ones); the events arrive through
``core.dispatch``: each renderer has one ``on_<event type>`` method per event it shows.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from core.dispatch import EventConsumer, dispatch
from core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    ProfilerSummary,
    RunFinished,
    RunStarted,
    RunWarning,
    Status,
)
from core.format import (
    EPOCH_COLUMNS,
    device_line,
    epoch_cells,
    epoch_line,
    epoch_row,
    finished_line,
    fmt,
    profiler_line,
    run_started_line,
)
from core.status import style_of

#: The live table keeps this many of the latest epochs on screen.
LIVE_ROWS = 20


def xprof_line(event: ProfilerSummary) -> str | None:
    """The second ProfilerSummary (at the end) adds xprof's reading of the trace: only that."""
    return f"xprof: {event.details['xprof']}" if "xprof" in event.details else None


class PlainRenderer(EventConsumer):
    """One line per epoch and per notable event; nothing per batch."""

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self.epochs = 0
        self.run_dir: str | None = None
        self.profiled = False

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def on_run_started(self, event: RunStarted) -> None:
        self.epochs, self.run_dir = event.epochs, event.run_dir
        self.say(run_started_line(event))

    def on_epoch_ended(self, event: EpochEnded) -> None:
        self.say(epoch_line(epoch_row(event), self.epochs))

    def on_profiler_summary(self, event: ProfilerSummary) -> None:
        line = xprof_line(event)
        if line is None and not self.profiled:
            line = profiler_line(event)
        self.profiled = True
        if line is not None:
            self.say(line)

    def on_warning(self, event: RunWarning) -> None:
        self.say(f"warning: {event.message}")

    def on_run_finished(self, event: RunFinished) -> None:
        self.say(finished_line(event, self.run_dir))


class LiveRenderer(EventConsumer):
    """A live Rich table of epochs with a progress bar (and ETA) for the current epoch."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = Console()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task: Any = None
        self.rows: list[dict[str, Any]] = []
        self.epochs = 0
        self.status = "starting"
        self.run_dir: str | None = None
        self.live = Live(self._view(), console=self.console, refresh_per_second=4)
        self.live.start()

    def _view(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        table = Table(title=self.status, title_justify="left")
        for column in EPOCH_COLUMNS:
            table.add_column(column, justify="right")
        for row in self.rows[-LIVE_ROWS:]:
            table.add_row(*epoch_cells(row, self.epochs))
        return Group(table, self.progress)

    def __call__(self, event: Event) -> None:
        dispatch(self, event)
        if self.live.is_started:  # stopped once the run has finished
            self.live.update(self._view())

    def on_status(self, event: Status) -> None:
        self.status = event.message

    def on_run_started(self, event: RunStarted) -> None:
        self.epochs, self.run_dir = event.epochs, event.run_dir
        self.status = f"{event.name}: {device_line(event)}"

    def on_batch_progress(self, event: BatchProgress) -> None:
        description = f"epoch {event.epoch}/{self.epochs}"
        if self.task is None:
            self.task = self.progress.add_task(description, total=event.steps, loss="-")
        self.progress.update(
            self.task,
            description=description,
            completed=event.step,
            total=event.steps,
            loss=fmt(event.loss),
        )

    def on_epoch_ended(self, event: EpochEnded) -> None:
        self.rows.append(epoch_row(event))

    def on_profiler_summary(self, event: ProfilerSummary) -> None:
        self.console.print(xprof_line(event) or profiler_line(event), markup=False)

    def on_warning(self, event: RunWarning) -> None:
        self.console.print(f"[bold yellow]warning:[/] {event.message}")

    def on_run_finished(self, event: RunFinished) -> None:
        self.live.update(self._view())
        self.live.stop()
        line = finished_line(event, self.run_dir)
        self.console.print(line, style=style_of(event.status), markup=False)

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()
