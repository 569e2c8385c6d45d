"""The state of the console's current run (and sweep), kept apart from any widget.

The app applies every engine event here (on the UI thread); the watch screen draws from it, so
the screen can be built, hidden or rebuilt at any moment without losing what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from tui.console.sweep_runner import SweepSnapshot

BAD_ENDINGS = ("failed", "diverged")


@dataclass
class RunState:
    """Everything the watch screen shows about the current (or last) run."""

    label: str = ""
    active: bool = False
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

    @property
    def run_dir(self) -> str | None:
        return self.started.run_dir if self.started else None

    def apply(self, event: Event) -> None:
        if isinstance(event, Status):
            self.status = event.message
        elif isinstance(event, RunStarted):
            self.started = event
            self.planned_epochs = event.epochs
            self.status = "training"
        elif isinstance(event, BatchProgress):
            self.progress = event
        elif isinstance(event, EpochEnded):
            row = {
                k: getattr(event, k)
                for k in ("epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
            }
            self.epochs = [e for e in self.epochs if e["epoch"] < event.epoch] + [row]
            if self.status.startswith("training"):
                self.status = "training"  # the "first steps compile" note is over
        elif isinstance(event, ProfilerSummary):
            self.profiler = event
        elif isinstance(event, RunWarning):
            if all(w.code != event.code for w in self.warnings):
                self.warnings.append(event)
        elif isinstance(event, RunFinished):
            self.finished = event
            self.status = event.status

    def series(self, key: str) -> list[float | None]:
        return [e.get(key) for e in self.epochs]


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
