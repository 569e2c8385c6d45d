"""How ``--run``, ``--sweep`` and ``--watch`` show a run's events: one plain line each, or a live
Rich table.

The words come from ``core.format`` (the console shows the same ones); the events arrive through
``core.dispatch``: each renderer has one ``on_<event type>`` method per event it shows. A watcher
(``--watch``) gets the same events read back from the run's files (core/storage/follow.py), so
it shows what the training process shows.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from core.dispatch import EventConsumer, dispatch
from core.evaluation import evaluated_line
from core.events import (
    BatchProgress,
    EpochEnded,
    Evaluated,
    Event,
    ProfilerSummary,
    RunFinished,
    RunStarted,
    RunWarning,
    Status,
    SystemSampled,
)
from core.format import (
    EPOCH_COLUMNS,
    device_line,
    epoch_cells,
    epoch_eta_text,
    epoch_line,
    epoch_row,
    finished_line,
    fmt,
    profiler_line,
    run_eta_text,
    run_started_line,
)
from core.status import style_of
from core.system_format import epoch_system_line, live_line, unavailable_text

#: The live table keeps this many of the latest epochs on screen.
LIVE_ROWS = 20
#: The live view's system line: a sparkline of this many recent readings.
SYSTEM_READINGS = 20


def xprof_line(event: ProfilerSummary) -> str | None:
    """The second ProfilerSummary (at the end) adds xprof's reading of the trace: only that."""
    return f"xprof: {event.details['xprof']}" if "xprof" in event.details else None


def earlier_profile_line(event: RunStarted) -> str | None:
    """A resumed run's input-pipeline figure, measured by an earlier session (the profiler
    window is not measured twice)."""
    if not event.initial_epoch or not event.input_pipeline:
        return None
    try:
        summary = ProfilerSummary(**event.input_pipeline)
    except TypeError:  # a report written by another version
        return None
    return f"{profiler_line(summary)} (measured before the resume)"


def summary_line(event: ProfilerSummary, shown_before: bool) -> str:
    """The input-pipeline line: xprof's reading (the second summary), or the figure. After a
    resumed run's earlier figure, the engine sends a new one only when this session measured
    the whole window (core/training/callbacks.py): it says that it replaces the earlier."""
    line = xprof_line(event)
    if line is not None:
        return line
    if shown_before:
        return f"{profiler_line(event)} (its window measured now: this replaces the figure above)"
    return profiler_line(event)


class RunClock:
    """The finished epochs' times and the latest progress: what a whole-run ETA needs."""

    def __init__(self) -> None:
        self.epochs = 0
        self.seconds: list[float] = []
        self.progress: BatchProgress | None = None

    def start(self, event: RunStarted) -> None:
        self.epochs = event.epochs
        self.seconds = [row["seconds"] for row in event.history if row.get("seconds")]
        self.progress = None

    def ended(self, event: EpochEnded) -> None:
        self.seconds.append(event.seconds)
        self.progress = None

    def eta_text(self) -> str:
        return run_eta_text(self.seconds, self.epochs, self.progress)


class PlainRenderer(EventConsumer):
    """One line per epoch and per notable event; nothing per batch. ``history``: also a line
    for each epoch a resumed run had finished before (a watcher shows the whole run)."""

    def __init__(self, out: TextIO = sys.stdout, *, history: bool = False):
        self.out = out
        self.history = history
        self.epochs = 0
        self.run_dir: str | None = None
        self.profiled = False
        self.clock = RunClock()

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def on_run_started(self, event: RunStarted) -> None:
        self.epochs, self.run_dir = event.epochs, event.run_dir
        self.clock.start(event)
        self.say(run_started_line(event))
        if event.system_unavailable:
            self.say(f"system metrics: {unavailable_text(event.system_unavailable)}")
        if self.history:
            for row in event.history:
                self.say(epoch_line(row, self.epochs))
        earlier = earlier_profile_line(event)
        if earlier is not None:
            self.profiled = True
            self.say(earlier)

    def on_epoch_ended(self, event: EpochEnded) -> None:
        self.clock.ended(event)
        eta = self.clock.eta_text() if event.epoch < self.epochs else ""
        self.say(epoch_line(epoch_row(event), self.epochs) + (f"  {eta}" if eta else ""))
        if event.system:  # the epoch's host and GPU figures: one plain line more
            self.say(epoch_system_line(event.epoch, event.system))

    def on_profiler_summary(self, event: ProfilerSummary) -> None:
        self.say(summary_line(event, self.profiled))
        self.profiled = True

    def on_warning(self, event: RunWarning) -> None:
        self.say(f"warning: {event.message}")

    def on_evaluated(self, event: Evaluated) -> None:
        self.say(evaluated_line(event))

    def on_run_finished(self, event: RunFinished) -> None:
        self.say(finished_line(event, self.run_dir))


class LiveRenderer(EventConsumer):
    """A live Rich table of epochs with a progress bar for the current epoch: its ETA (once
    measured) and the whole run's."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.table import Column

        self.console = Console()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            # Widths held, so the bar does not jump as the ETAs appear.
            TextColumn("{task.fields[eta]}", table_column=Column(min_width=9)),
            TextColumn("{task.fields[run_eta]}", table_column=Column(min_width=15)),
            console=self.console,
        )
        self.task: Any = None
        self.task_epoch = 0
        self.rows: list[dict[str, Any]] = []
        self.epochs = 0
        self.status = "starting"
        self.header = ""  # the run's name and device line, once it has started
        self.profiled = False  # an input-pipeline figure was shown (a resumed run's earlier)
        self.run_dir: str | None = None
        self.clock = RunClock()
        self.readings: list[SystemSampled] = []  # the recent ones: the system line
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
        if self.readings:
            from rich.text import Text

            line = Text(live_line(self.readings, SYSTEM_READINGS), no_wrap=True, overflow="crop")
            return Group(table, self.progress, line)
        return Group(table, self.progress)

    def __call__(self, event: Event) -> None:
        dispatch(self, event)
        if self.live.is_started:  # stopped once the run has finished
            self.live.update(self._view())

    def on_status(self, event: Status) -> None:
        self.status = event.message

    def on_run_started(self, event: RunStarted) -> None:
        self.epochs, self.run_dir = event.epochs, event.run_dir
        self.rows = [dict(row) for row in event.history]
        self.clock.start(event)
        self.status = self.header = f"{event.name}: {device_line(event)}"
        earlier = earlier_profile_line(event)
        if earlier is not None:
            self.profiled = True
            self.console.print(earlier, markup=False)

    def on_batch_progress(self, event: BatchProgress) -> None:
        self.clock.progress = event
        description = f"epoch {event.epoch}/{self.epochs}"
        fields = {"loss": fmt(event.loss), "eta": epoch_eta_text(event)}
        fields["run_eta"] = self.clock.eta_text() if event.epoch < self.epochs else ""
        if self.task is None:
            self.task = self.progress.add_task(description, total=event.steps, **fields)
        elif event.epoch != self.task_epoch:  # a new epoch: a new bar, not the last one's end
            self.progress.reset(self.task, total=event.steps, description=description)
        self.task_epoch = event.epoch
        self.progress.update(
            self.task, description=description, completed=event.step, total=event.steps, **fields
        )

    def on_epoch_ended(self, event: EpochEnded) -> None:
        # The "first steps compile the model" note is over once an epoch has ended.
        self.status = self.header or self.status
        self.rows.append(epoch_row(event))
        self.clock.ended(event)

    def on_system_sampled(self, event: SystemSampled) -> None:
        self.readings = [*self.readings[-(SYSTEM_READINGS - 1) :], event]

    def on_profiler_summary(self, event: ProfilerSummary) -> None:
        self.console.print(summary_line(event, self.profiled), markup=False)
        self.profiled = True

    def on_warning(self, event: RunWarning) -> None:
        self.console.print(f"[bold yellow]warning:[/] {event.message}")

    def on_evaluated(self, event: Evaluated) -> None:
        self.console.print(evaluated_line(event), markup=False)

    def on_run_finished(self, event: RunFinished) -> None:
        self.live.update(self._view())
        self.live.stop()
        line = finished_line(event, self.run_dir)
        self.console.print(line, style=style_of(event.status), markup=False)

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()
