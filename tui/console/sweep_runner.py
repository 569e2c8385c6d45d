"""The console's sweep: core.sweeps.loop's SweepLoop, run in the engine's thread worker.

The loop is the one ``cifar-tui --sweep`` (tui/cli/sweep.py) runs, so both fronts share one
sweep directory and one behaviour: finished runs are skipped, a stopped or interrupted run
resumes, the rest start, a run that cannot start ends the sweep with its error, and
``sweep.json`` / ``summary.md`` / ``summary.csv`` are kept up to date. The same command (or
starting the sweep again in the console) resumes it.

:class:`ConsoleHooks` only turns the loop's news into messages: each run's engine events as
:class:`~tui.console.messages.EngineEvent` (so the watch screen shows it like any run) and its end
as :class:`~tui.console.messages.EngineDone`, and :class:`~tui.console.messages.SweepRunStarting`,
:class:`~tui.console.messages.SweepUpdate` and :class:`~tui.console.messages.SweepDone` carrying
immutable :class:`~tui.console.views.SweepSnapshot` copies. The engine trains in the worker
thread itself, so the :class:`~core.sweeps.sweepdir.SweepDir` is only touched on that thread.

With ``parallel`` > 1 (the sweeps screen's "runs at once") the runs are the command line's
``--parallel`` ones (core/sweeps/parallel.py: each a process of its own, on its own slot), and
their events come on the loop's lane threads. The console's run detail then shows the run
started last: only its events and its end reach the app as the current run's; every run's
epochs still update the sweep line, which counts the runs active together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from core.errors import CifarTuiError
from core.events import BatchProgress, EpochEnded, Event, RunFinished
from core.sweeps.loop import ERROR, SweepHooks, SweepLoop
from core.sweeps.placement import place_sweep
from core.sweeps.spec import Sweep
from core.sweeps.sweepdir import SKIP, SweepEntry
from tui.console.messages import EngineDone, EngineEvent, SweepDone, SweepRunStarting, SweepUpdate
from tui.console.runner import ProgressThrottle, RunControl
from tui.console.study_view import study_info, trial_fields
from tui.console.views import StudyInfo, SweepRunView, SweepSnapshot

Post = Callable[[Message], object]


def _view(entry: SweepEntry, live_epochs: int = 0, study: StudyInfo | None = None) -> SweepRunView:
    record = entry.record
    return SweepRunView(
        index=entry.run.index,
        label=entry.label,
        status=entry.status,
        epochs=entry.epochs,
        epochs_done=entry.epochs_done + live_epochs,
        test_accuracy=record.test_accuracy if record else None,
        best_val_accuracy=record.best_val_accuracy if record else None,
        message=entry.error_message,
        run_dir=str(entry.run_dir) if entry.run_dir else None,
        **trial_fields(entry, study),
    )


def snapshot(loop: SweepLoop, live: dict[int, int] | None = None) -> SweepSnapshot:
    """Copy what the UI shows, the current run's epochs measured so far included (``live``:
    each active run's, by index, when several go on at once)."""
    sweep_dir = loop.sweep_dir
    assert sweep_dir is not None
    current = loop.current.run.index if loop.current is not None else None
    if live is None:
        live = {current: len(loop.live_seconds)} if current is not None else {}
    study = study_info(loop.sweep)
    runs = tuple(_view(e, live.get(e.run.index, 0), study) for e in sweep_dir.entries)
    return SweepSnapshot(
        name=sweep_dir.sweep.name,
        path=sweep_dir.path,
        status=sweep_dir.status,
        runs=runs,
        eta=loop.eta(),
        current=current,
        planned=loop.sweep.planned,
        study=study,
        active=tuple(e.run.index for e in loop.active),
        parallel=loop.parallel,
    )


class ConsoleHooks(SweepHooks):
    """Posts what the sweep loop says, as messages for the UI thread. With runs at once, only
    the run started last is the console's current run (its events, its end); the others
    update the sweep line alone."""

    def __init__(self, post: Post) -> None:
        self.post = post
        self.loop: SweepLoop | None = None
        self._throttle = ProgressThrottle()
        self._shown: int | None = None  # the index of the run the app shows
        self._live: dict[int, int] = {}  # epochs measured so far, by active run (parallel)
        # Deciding "is this the shown run?" and posting its event are one step, so no event of
        # the run shown before lands after the next run's SweepRunStarting (lane threads).
        self._posting = threading.Lock()

    def _snapshot(self) -> SweepSnapshot:
        loop = self.loop
        assert loop is not None
        if loop.parallel == 1:
            return snapshot(loop)
        with loop._lock:  # lane threads ask too: the loop's lock keeps sweep.json's writers out
            return snapshot(loop, dict(self._live))

    def sweep_started(self, loop: SweepLoop) -> None:
        self.loop = loop
        self.post(SweepUpdate(self._snapshot()))

    def run_starting(self, entry: SweepEntry, action: str) -> None:
        if action == SKIP:
            return
        window: tuple[int, int] | None = None
        if entry.run.profile.profiler.enabled:
            first, last = entry.run.profile.profiler.batches
            window = (first, last)
        self._live[entry.run.index] = 0
        message = SweepRunStarting(self._snapshot(), entry.run.index, action, window)
        with self._posting:
            self._throttle = ProgressThrottle()
            self._shown = entry.run.index
            self.post(message)

    def event(self, entry: SweepEntry, event: Event) -> None:
        if isinstance(event, EpochEnded):
            self._live[entry.run.index] = self._live.get(entry.run.index, 0) + 1
        with self._posting:
            shown = entry.run.index == self._shown
            if shown and not (isinstance(event, BatchProgress) and not self._throttle.allow(event)):
                self.post(EngineEvent(event))
        if isinstance(event, EpochEnded):
            self.post(SweepUpdate(self._snapshot()))

    def run_ended(
        self, entry: SweepEntry, finished: RunFinished | None, error: CifarTuiError | None
    ) -> None:
        self._live.pop(entry.run.index, None)
        with self._posting:
            shown = entry.run.index == self._shown
        if error is not None:
            if shown:
                self.post(EngineDone(None, str(error)))
            return
        if shown:
            self.post(EngineDone(finished.status if finished else entry.status))
        self.post(SweepUpdate(self._snapshot()))

    def sweep_ended(self, loop: SweepLoop) -> None:
        final = snapshot(loop) if loop.sweep_dir is not None else None
        self.post(SweepDone(final, str(loop.error) if loop.error is not None else None))


def _loop(
    sweep: Sweep, runs_dir: Path, hooks: ConsoleHooks, command: str, parallel: int
) -> SweepLoop:
    """The sweep loop: the engine in this thread, or (``parallel`` > 1) the command line's
    ``--parallel`` process runs, one slot each (core/sweeps/placement.py places both)."""
    placement = place_sweep(sweep, runs_dir, parallel)  # the sweeps screen showed any warning
    loop = SweepLoop(
        sweep,
        runs_dir,
        hooks,
        command=command,
        make_run=placement.make_run,
        resume_run=placement.resume_run,
        parallel=placement.parallel,
    )
    placement.bind(loop)
    return loop


def execute_sweep(
    sweep: Sweep, runs_dir: Path, control: RunControl, post: Post, command: str, parallel: int = 1
) -> str:
    """The sweep worker's body (runs in a thread); returns the sweep's final status, or "error"
    when it could not go on. ``control`` stops the loop (every active run), from the UI thread;
    ``parallel``: runs at once."""
    loop = _loop(sweep, runs_dir, ConsoleHooks(post), command, parallel)
    control.attach(loop)
    try:
        return loop.run()
    except Exception as exc:  # a bug: say so (the loop has closed the sweep directory)
        final = snapshot(loop) if loop.sweep_dir is not None else None
        post(SweepDone(final, f"{exc.__class__.__name__}: {exc}"))
        return ERROR
