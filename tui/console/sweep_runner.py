"""The console's sweep: a sweep's runs one after another, in the engine's thread worker.

The bookkeeping is core.sweeps.sweepdir's, used exactly as ``cifar-tui --sweep`` (tui/cli/sweep.py)
uses it, so both fronts share one sweep directory: finished runs are skipped, a stopped or
interrupted run resumes, the rest start, and ``sweep.json`` / ``summary.md`` / ``summary.csv``
are kept up to date. The same command (or starting the sweep again in the console) resumes it.

Each run goes through ``tui.console.runner.execute``, the body a single console run uses, so the
watch screen shows it like any run. The worker reaches the UI only by posting messages: the runs'
engine events, and :class:`~tui.console.messages.SweepRunStarting`,
:class:`~tui.console.messages.SweepUpdate`
and :class:`~tui.console.messages.SweepDone` carrying immutable :class:`SweepSnapshot` copies. The
:class:`~core.sweeps.sweepdir.SweepDir` itself is only touched on the worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from core.errors import CifarTuiError
from core.events import EpochEnded
from core.sweeps.spec import Sweep
from core.sweeps.sweepdir import FINISHED, Eta, SweepDir, SweepEntry
from tui.console.messages import EngineDone, EngineEvent, SweepDone, SweepRunStarting, SweepUpdate
from tui.console.runner import LaunchRequest, RunControl, execute

Post = Callable[[Message], object]


@dataclass(frozen=True)
class SweepRunView:
    """One run of the sweep as the UI shows it (a copy: safe to hand to another thread)."""

    index: int
    label: str
    status: str  # pending, running, or a run status
    epochs: int  # planned
    epochs_done: int
    test_accuracy: float | None = None
    best_val_accuracy: float | None = None
    message: str = ""  # why a run failed or diverged
    run_dir: str | None = None


@dataclass(frozen=True)
class SweepSnapshot:
    """The sweep directory's bookkeeping at one moment, for the UI thread."""

    name: str
    path: Path  # the sweep directory
    status: str  # running, completed, failed, stopped, incomplete
    runs: tuple[SweepRunView, ...]
    eta: Eta
    current: int | None = None  # index of the run training now

    @property
    def finished(self) -> int:
        return sum(r.status in FINISHED for r in self.runs)

    def run(self, index: int) -> SweepRunView:
        return self.runs[index - 1]


def _view(entry: SweepEntry, live_epochs: int = 0) -> SweepRunView:
    record = entry.record
    message = ""
    if record is not None:
        message = str((record.report.get("error") or {}).get("message", ""))
    return SweepRunView(
        index=entry.run.index,
        label=entry.label,
        status=entry.status,
        epochs=entry.epochs,
        epochs_done=entry.epochs_done + live_epochs,
        test_accuracy=record.test_accuracy if record else None,
        best_val_accuracy=record.best_val_accuracy if record else None,
        message=message,
        run_dir=str(entry.run_dir) if entry.run_dir else None,
    )


def snapshot(
    sweep_dir: SweepDir, current: int | None = None, live_seconds: Sequence[float] = ()
) -> SweepSnapshot:
    """Copy what the UI shows; ``live_seconds``: epochs the current run measured so far."""
    runs = tuple(
        _view(e, len(live_seconds) if e.run.index == current else 0) for e in sweep_dir.entries
    )
    return SweepSnapshot(
        name=sweep_dir.sweep.name,
        path=sweep_dir.path,
        status=sweep_dir.status,
        runs=runs,
        eta=sweep_dir.eta(list(live_seconds)),
        current=current,
    )


class SweepControl(RunControl):
    """The stop switch of a whole sweep: a stop ends the current run after its batch and starts
    no other. It also keeps the current Run, so the worker can record the run's directory in
    sweep.json as soon as the engine has made it (a sweep killed then still finds it)."""

    def __init__(self) -> None:
        super().__init__()
        self.current: Any = None  # set and read on the worker thread only

    def attach(self, run: Any) -> None:
        self.current = run
        super().attach(run)


class _Tracker:
    """The ``post`` handed to ``execute`` for one run: forwards every message to the UI, notes
    the run directory once it exists, and sends the sweep's ETA after each measured epoch."""

    def __init__(
        self, sweep_dir: SweepDir, entry: SweepEntry, control: SweepControl, post: Post
    ) -> None:
        self.sweep_dir, self.entry, self.control, self.post = sweep_dir, entry, control, post
        self.seconds: list[float] = []
        self.error: str | None = None

    def __call__(self, message: Message) -> None:
        if isinstance(message, EngineDone) and message.error:
            self.error = message.error
        run = self.control.current
        if self.entry.run_dir is None and getattr(run, "run_dir", None) is not None:
            self.sweep_dir.attach(self.entry, run.run_dir)
        self.post(message)
        if isinstance(message, EngineEvent) and isinstance(message.event, EpochEnded):
            self.seconds.append(message.event.seconds)
            self.post(SweepUpdate(snapshot(self.sweep_dir, self.entry.run.index, self.seconds)))


def execute_sweep(
    sweep: Sweep, runs_dir: Path, control: SweepControl, post: Post, command: str
) -> str:
    """The sweep worker's body (runs in a thread); returns the sweep's final status, or "error"
    when its directory could not be opened (e.g. the same sweep runs in another process)."""
    try:
        sweep_dir = SweepDir.open(Path(runs_dir), sweep, command)
    except CifarTuiError as exc:
        post(SweepDone(None, str(exc)))
        return "error"
    error: str | None = None
    try:
        sweep_dir.state = "running"
        sweep_dir.save()
        post(SweepUpdate(snapshot(sweep_dir)))
        for entry in sweep_dir.entries:
            if control.stop_requested:
                break
            error = _one(sweep_dir, entry, control, post)
            if error is not None:
                break
    except Exception as exc:  # a bug: say so; the finally below keeps the directory whole
        error = f"{exc.__class__.__name__}: {exc}"
    finally:
        sweep_dir.state = "stopped" if control.stop_requested else "incomplete"
        sweep_dir.save()
        sweep_dir.write_summary()
        sweep_dir.close()
    final = snapshot(sweep_dir)
    post(SweepDone(final, error))
    return final.status


def _one(sweep_dir: SweepDir, entry: SweepEntry, control: SweepControl, post: Post) -> str | None:
    """Skip, resume or start one run, as sweep_cli does; returns why the sweep cannot go on."""
    action = sweep_dir.action(entry)
    if action == "skip":
        return None
    sweep_dir.mark_started(entry)
    if control.stop_requested:  # stopped while this run was being set up: leave it unstarted
        entry.started = None
        sweep_dir.refresh(entry)
        sweep_dir.save()
        return None
    profile = entry.run.profile
    window: tuple[int, int] | None = None
    if profile.profiler.enabled:
        first, last = profile.profiler.batches
        window = (first, last)
    post(SweepRunStarting(snapshot(sweep_dir, entry.run.index), entry.run.index, action, window))
    if action == "resume":
        request = LaunchRequest(entry.label, sweep_dir.runs_dir, resume_dir=entry.run_dir)
    else:
        request = LaunchRequest(entry.label, sweep_dir.runs_dir, profile=profile)
    tracker = _Tracker(sweep_dir, entry, control, post)
    try:
        status = execute(request, control, tracker)
    finally:
        run = control.current
        if entry.run_dir is None and getattr(run, "run_dir", None) is not None:
            entry.run_dir = Path(run.run_dir).resolve()
        control.current = None
        sweep_dir.finish(entry)
        from core.training.engine import (
            release_models,  # in the worker: the engine loads TensorFlow
        )

        release_models()
    if status == "error":  # could not start (e.g. missing data): the next runs would not either
        return tracker.error or "the run could not start"
    post(SweepUpdate(snapshot(sweep_dir)))
    return None
