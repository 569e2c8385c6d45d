"""One sweep loop for every front: ``SweepLoop(sweep, runs_dir, hooks).run()``.

The loop owns a sweep's lifecycle: it opens the sweep directory (core.sweeps.sweepdir), marks it
running, then for each run skips it (finished earlier), resumes it (stopped or interrupted) or
starts it, records the run's directory in ``sweep.json`` as soon as the engine announces it
(``RunOpened``), keeps the epoch times of the run going on for the ETA, frees the finished
run's models before the next run builds its own, and in one ``finally`` writes the state and
the summary and closes the directory. A front (the command line, the console, later a parallel
or Slurm launcher) plugs in through :class:`SweepHooks` and decides only how things show, and
through ``execute``: how one run is run and where its events are delivered. Where the runs come
from is a :class:`RunSource`: the sweep file's list, which a study's source
(core/sweeps/study.py) extends by one trial whenever the runs so far are done.

Stopping: :meth:`SweepLoop.request_stop` may be called from any thread. Before a run starts the
sweep simply ends; while a run is being set up (between its ``make_run`` and its start) the run
is left untouched, as if the stop had come first; during training the run stops after its
current batch (status "stopped") and the sweep ends after it. The same command resumes it.

A run that cannot start (a :class:`~core.errors.CifarTuiError` from ``make_run``/``resume_run``
or from ``run.execute()`` before the run wrote anything: missing data, an unwritable runs
directory, a run directory another process holds) ends the sweep, whatever the front: the next
runs would fail the same way. ``loop.error`` holds the error, ``sweep.json`` and ``summary.md``
record it, the directory is closed, ``hooks.run_ended`` gets the error (when the run had been
handed to ``execute``) and ``hooks.sweep_ended`` follows. The command line then prints the
error's one line and exits 2; the console shows it. A sweep directory that cannot be opened
(the same sweep runs in another process) ends the same way, with ``loop.sweep_dir`` None.
A run that fails or diverges while training is not such an error: it is recorded and the sweep
goes on. Any other exception is a bug: the directory is still closed, and it propagates.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from core.dispatch import dispatch
from core.errors import CifarTuiError
from core.events import EpochEnded, Event, RunFinished, RunOpened
from core.status import RunStatus
from core.sweeps.spec import Sweep
from core.sweeps.sweepdir import RESUME, SKIP, Eta, SweepDir, SweepEntry

Listener = Callable[[Event], None]
#: Runs one run to its end and returns its status; every event of the run must reach
#: ``listener`` (on whichever thread the front likes) before it returns.
Execute = Callable[[Any, Listener], str]
#: What :meth:`SweepLoop.run` returns when the sweep could not go on (see the module's docstring).
ERROR = "error"


def sweep_command(
    sweep_file: str | Path, overrides: Sequence[str], runs_dir: str | Path, plain: bool = False
) -> str:
    """The command line that repeats (and so resumes) a sweep; kept in ``sweep.json``."""
    parts = ["cifar-tui", "--sweep", str(sweep_file)]
    for item in overrides:
        parts += ["--set", item]
    parts += ["--runs-dir", str(runs_dir)]
    if plain:
        parts.append("--plain")
    return shlex.join(parts)


def run_here(run: Any, listener: Listener) -> str:
    """The default ``execute``: the engine trains in this thread and calls ``listener`` from it."""
    run.subscribe(listener)
    return run.execute()


class SweepHooks:
    """What the loop tells a front. Each method does nothing here: a front overrides what it
    shows. All are called on the loop's thread, except :meth:`event`, which comes on the thread
    the front's ``execute`` delivers events on."""

    def sweep_started(self, loop: SweepLoop) -> None:
        """The directory is open and marked running; ``loop.sweep_dir`` holds the plan."""

    def run_starting(self, entry: SweepEntry, action: str) -> None:
        """``action`` is "skip" (finished earlier, nothing runs), "resume" or "start"."""

    def event(self, entry: SweepEntry, event: Event) -> None:
        """One event of the engine, after the loop has noted it (sweep.json, ETA)."""

    def run_ended(
        self, entry: SweepEntry, finished: RunFinished | None, error: CifarTuiError | None
    ) -> None:
        """The run is over and its entry re-read from its directory; ``error``: it could not
        start (the sweep ends next)."""

    def sweep_ended(self, loop: SweepLoop) -> None:
        """The directory is closed (``loop.sweep_dir`` None if it never opened)."""


class RunSource:
    """Where runs come from beyond the sweep file's list. This one adds none (a [grid] or
    [[runs]]); a study's (core/sweeps/study.py) asks its next trial whenever the runs so far
    are done, so the list grows as the loop goes, through the same lifecycle."""

    def restore(self, sweep_dir: SweepDir) -> None:
        """The directory is open and locked: add the runs earlier sessions made, before
        sweep.json is read back."""

    def next_entry(self, sweep_dir: SweepDir) -> SweepEntry | None:
        """The next run, appended to ``sweep_dir.entries``; None when there are no more."""
        return None

    def listener(self, entry: SweepEntry, run: Any) -> Listener | None:
        """A listener the run itself calls, on the engine's thread (a pruner)."""
        return None

    def settle(self, entry: SweepEntry) -> None:
        """The entry's run is over, or finished earlier (skipped): its status is re-read."""


def default_source(sweep: Sweep) -> RunSource:
    """A study's source for a [search] sweep (Optuna imported only then), else none."""
    if sweep.search is None:
        return RunSource()
    from core.sweeps.study import StudySource

    return StudySource(sweep.search)


def _default_make_run(runs_dir: Path) -> Callable[[Any], Any]:
    def make(profile: Any) -> Any:
        from core.training.engine import Run  # here: the engine's imports are not free

        return Run(profile, runs_dir)

    return make


def _default_resume_run(run_dir: Path) -> Any:
    from core.training.engine import Run

    return Run.resume(run_dir)


def _release_models() -> None:
    from core.training.engine import release_models

    release_models()


class SweepLoop:
    """Runs what is left of one validated sweep, one run after another, in the calling thread."""

    def __init__(
        self,
        sweep: Sweep,
        runs_dir: Path | str,
        hooks: SweepHooks | None = None,
        *,
        command: str = "",
        make_run: Callable[[Any], Any] | None = None,
        resume_run: Callable[[Path], Any] | None = None,
        execute: Execute = run_here,
        source: RunSource | None = None,
    ) -> None:
        """``make_run(profile)`` and ``resume_run(run_dir)`` default to the engine's Run;
        ``source`` to :func:`default_source`."""
        self.sweep = sweep
        self.runs_dir = Path(runs_dir)
        self.hooks = hooks or SweepHooks()
        self.command = command
        self.make_run = make_run or _default_make_run(self.runs_dir)
        self.resume_run = resume_run or _default_resume_run
        self.execute = execute
        self.source = source if source is not None else default_source(sweep)
        self.sweep_dir: SweepDir | None = None
        self.error: CifarTuiError | None = None
        self.current: SweepEntry | None = None  # the run handed to execute, if any
        self.live_seconds: list[float] = []  # its epochs so far (its record is read at the end)
        self.finished: RunFinished | None = None  # its RunFinished, once sent
        self._stop = threading.Event()
        # Makes "stopped?" and "which run?" one step. Reentrant: a SIGINT handler that stops
        # the loop may run on the very thread that holds it.
        self._lock = threading.RLock()
        self._run: Any = None

    # -- control (any thread) -------------------------------------------------------------------

    def request_stop(self, by: str = "user") -> None:
        """Stop the current run after its current batch, then the sweep; ``by``: "user" or
        the signal's name (the run's RunFinished.stopped_by)."""
        with self._lock:
            self._stop.set()
            run = self._run
        if run is not None:
            run.request_stop(by)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # -- the sweep --------------------------------------------------------------------------------

    def eta(self) -> Eta:
        """The sweep's ETA, counting the epochs the current run has measured so far."""
        assert self.sweep_dir is not None
        return self.sweep_dir.eta(self.live_seconds)

    def run(self) -> str:
        """Run what is left; returns the sweep's final status, or ERROR (``self.error``)."""
        try:
            self.sweep_dir = SweepDir.open(
                self.runs_dir, self.sweep, self.command, restore=self.source.restore
            )
        except CifarTuiError as exc:
            self.error = exc
            self.hooks.sweep_ended(self)
            return ERROR
        try:
            self._run_entries(self.sweep_dir)
        except CifarTuiError as exc:  # a run could not start: see the module's docstring
            self.error = exc
        finally:
            self._close(self.sweep_dir)
        self.hooks.sweep_ended(self)
        return ERROR if self.error is not None else self.sweep_dir.status

    def _run_entries(self, sweep_dir: SweepDir) -> None:
        sweep_dir.state = RunStatus.RUNNING
        sweep_dir.save()
        self.hooks.sweep_started(self)
        for entry in self._entries(sweep_dir):
            self._one(sweep_dir, entry)

    def _entries(self, sweep_dir: SweepDir) -> Iterator[SweepEntry]:
        """The entries in order until a stop; then what the source adds (a study's trials)."""
        position = 0
        while not self.stop_requested:
            if position == len(sweep_dir.entries) and self.source.next_entry(sweep_dir) is None:
                return
            yield sweep_dir.entries[position]
            position += 1

    def _close(self, sweep_dir: SweepDir) -> None:
        sweep_dir.state = RunStatus.STOPPED if self.stop_requested else "incomplete"
        sweep_dir.error = str(self.error) if self.error is not None else None
        sweep_dir.save()
        sweep_dir.write_summary()
        sweep_dir.close()

    # -- one run ----------------------------------------------------------------------------------

    def _one(self, sweep_dir: SweepDir, entry: SweepEntry) -> None:
        action = sweep_dir.action(entry)
        if action == SKIP:
            self.source.settle(entry)
            self.hooks.run_starting(entry, action)
            return
        if action == RESUME:
            assert entry.run_dir is not None
            run = self.resume_run(entry.run_dir)
        else:
            run = self.make_run(entry.run.profile)
        listener = self.source.listener(entry, run)
        if listener is not None:
            run.subscribe(listener)
        if not self._claim(entry, run):
            return
        status: str | None = None
        error: CifarTuiError | None = None
        try:
            sweep_dir.mark_started(entry)
            self.hooks.run_starting(entry, action)
            status = self.execute(run, self._listen)
        except CifarTuiError as exc:
            error = exc
        finally:
            self._release(sweep_dir, entry)
        self.source.settle(entry)
        self.hooks.run_ended(entry, self.finished, error)
        if error is not None:
            raise error
        if status == RunStatus.STOPPED or (run.stop_requested and status != RunStatus.PRUNED):
            self._stop.set()  # the run was stopped (Ctrl+C, the stop key): so is the sweep

    def _claim(self, entry: SweepEntry, run: Any) -> bool:
        """Make ``run`` the one a stop reaches, unless a stop came while it was set up: then
        return False, and the run is never started (its entry stays as it was)."""
        with self._lock:
            if self._stop.is_set():
                return False
            self._run, self.current = run, entry
            self.live_seconds, self.finished = [], None
        return True

    def _listen(self, event: Event) -> None:
        """Every event of the current run: the loop's own notes first, then the front's."""
        assert self.current is not None
        dispatch(self, event, prefix="_on_")
        self.hooks.event(self.current, event)

    def _on_run_opened(self, event: RunOpened) -> None:
        """The run's directory exists: name it in sweep.json, so a sweep killed from now on
        still finds the run."""
        assert self.sweep_dir is not None and self.current is not None
        self.sweep_dir.attach(self.current, Path(event.run_dir))

    def _on_epoch_ended(self, event: EpochEnded) -> None:
        self.live_seconds.append(event.seconds)

    def _on_run_finished(self, event: RunFinished) -> None:
        self.finished = event

    def _release(self, sweep_dir: SweepDir, entry: SweepEntry) -> None:
        """The run is over, however it ended: re-read it, and free its models."""
        with self._lock:
            self._run = None
        self.current = None
        if entry.run_dir is None:  # it never made its directory: nothing of it to adopt later
            entry.started = None
        sweep_dir.finish(entry)
        self.live_seconds = []  # its record holds them now
        _release_models()
