"""The state of the console's current run (and sweep), kept apart from any widget.

The app applies every engine event here (on the UI thread); the watch screen draws from it, so
the screen can be built, hidden or rebuilt at any moment without losing what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.dispatch import EventConsumer
from core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    ProfilerSummary,
    RunFinished,
    RunStarted,
    RunWarning,
    Status,
    SystemSampled,
)
from core.format import epoch_row

if TYPE_CHECKING:
    from tui.console.views import SweepSnapshot


#: System readings the watch screen keeps: its sparkline's width.
SYSTEM_READINGS = 24


@dataclass
class RunState(EventConsumer):
    """Everything the watch screen shows about the current (or last) run."""

    label: str = ""
    active: bool = False
    #: Trained by another process (a detached run, a headless one, another console's) and
    #: followed from its files; the console can ask it to stop but does not own it.
    attached: bool = False
    #: The follower whose events this state takes (stale events of an earlier one are dropped).
    source: int | None = None
    pid: int | None = None  # the process training an attached run, when known
    followed_dir: str | None = None  # an attached run's directory, known before its events
    stopping: bool = False  # a stop was asked for; the engine stops after the current batch
    status: str = "idle"  # a Status message while starting, then the run's status
    planned_epochs: int = 0
    profiler_window: tuple[int, int] | None = None
    started: RunStarted | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    progress: BatchProgress | None = None
    profiler: ProfilerSummary | None = None
    warnings: list[RunWarning] = field(default_factory=list)
    finished: RunFinished | None = None
    error: str | None = None
    #: The latest system readings (SYSTEM_READINGS at most): the watch screen's system line.
    readings: list[SystemSampled] = field(default_factory=list)

    @property
    def run_dir(self) -> str | None:
        return self.started.run_dir if self.started else self.followed_dir

    def apply(self, event: Event) -> None:
        """Take in one engine event (the ``on_<type>`` method below, if there is one)."""
        self(event)

    def on_status(self, event: Status) -> None:
        self.status = event.message

    def on_run_started(self, event: RunStarted) -> None:
        self.started = event
        self.planned_epochs = event.epochs
        self.status = "training"
        # A new session of the run: an attached view replays the log, where an earlier
        # session's end comes before this one's start.
        self.finished, self.progress, self.readings = None, None, []
        if event.initial_epoch and event.history:
            # A resumed run: its earlier epochs come with the event (no file read here, on the
            # UI thread), and they are what the checkpoint kept.
            self.epochs = [dict(r) for r in event.history if r["epoch"] <= event.initial_epoch]
        if event.input_pipeline and self.profiler is None:
            self.profiler = profiler_summary(event.input_pipeline)

    def on_batch_progress(self, event: BatchProgress) -> None:
        self.progress = event
        if self.status.startswith("training"):
            self.status = "training"  # steps are running: the "first steps compile" note is over

    def on_system_sampled(self, event: SystemSampled) -> None:
        self.readings = [*self.readings[-(SYSTEM_READINGS - 1) :], event]

    def on_epoch_ended(self, event: EpochEnded) -> None:
        self.epochs = [e for e in self.epochs if e["epoch"] < event.epoch] + [epoch_row(event)]
        if self.status.startswith("training"):
            self.status = "training"  # the "first steps compile" note is over

    def on_profiler_summary(self, event: ProfilerSummary) -> None:
        self.profiler = event

    def on_warning(self, event: RunWarning) -> None:
        if all(w.code != event.code for w in self.warnings):
            self.warnings.append(event)

    def on_run_finished(self, event: RunFinished) -> None:
        self.finished = event
        self.status = event.status


def profiler_summary(fields: dict[str, Any]) -> ProfilerSummary | None:
    """An earlier session's input-pipeline measurement (the report's ``input_pipeline``, kept
    in a resumed run's RunStarted), as the event that first carried it."""
    try:
        return ProfilerSummary(**fields)
    except TypeError:  # written by another version: the pane says "not measured" instead
        return None


@dataclass
class SweepState:
    """The console's sweep (running, or the last one): what the watch screen's sweep line shows.

    ``snapshot`` is the worker's latest copy of the sweep directory's bookkeeping; the current
    run itself is in the app's RunState as for any run.
    """

    name: str
    file: str
    runs: int
    command: str
    active: bool = True
    snapshot: SweepSnapshot | None = None
    error: str | None = None
