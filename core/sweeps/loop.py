"""One sweep loop for every front: ``SweepLoop(sweep, runs_dir, hooks).run()``.

The loop owns a sweep's lifecycle: it opens the sweep directory (core.sweeps.sweepdir), marks it
running, then for each run skips it (finished earlier), resumes it (stopped or interrupted) or
starts it, records the run's directory in ``sweep.json`` as soon as the engine announces it
(``RunOpened``), keeps the epoch times of the run going on for the ETA, frees the finished
run's models before the next run builds its own, and in one ``finally`` writes the state and
the summary and closes the directory. A front (the command line, the console) plugs in through
:class:`SweepHooks` and decides only how things show, and through ``execute``: how one run is run
and where its events are delivered. With ``parallel`` > 1 up to that many runs go on at once,
each executed on a thread of its own (``--parallel`` makes each a process of its own:
core/sweeps/parallel.py); a stop then reaches every one of them. Where the runs come
from is a :class:`~core.sweeps.source.RunSource`: the sweep file's list, which a study's source
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

import contextlib
import queue
import shlex
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import CifarTuiError
from core.eta import shared
from core.events import EpochEnded, Event, RunFinished, RunOpened
from core.following.protocol import RunLike
from core.status import FINISHED, RunStatus
from core.sweeps.reader import Sweep
from core.sweeps.source import Listener, RunSource
from core.sweeps.sweepdir import RESUME, SKIP, Eta, SweepDir, SweepEntry

__all__ = ["Listener", "RunSource", "SweepHooks", "SweepLoop", "run_here", "sweep_command"]
#: Runs one run to its end and returns its status; every event of the run must reach
#: ``listener`` (on whichever thread the front likes) before it returns.
Execute = Callable[[RunLike, Listener], str]
#: What :meth:`SweepLoop.run` returns when the sweep could not go on (see the module's docstring).
ERROR = "error"


def sweep_command(
    sweep_file: str | Path,
    overrides: Sequence[str],
    runs_dir: str | Path,
    plain: bool = False,
    extra: Sequence[str] = (),
) -> str:
    """The command line that repeats (and so resumes) a sweep; kept in ``sweep.json``.
    ``extra``: how it runs (``--parallel N``), which the same command keeps."""
    parts = ["cifar-tui", "--sweep", str(sweep_file)]
    for item in overrides:
        parts += ["--set", item]
    parts += ["--runs-dir", str(runs_dir), *extra]
    if plain:
        parts.append("--plain")
    return shlex.join(parts)


def run_here(run: RunLike, listener: Listener) -> str:
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


def default_source(sweep: Sweep) -> RunSource:
    """A study's source for a [search] sweep (Optuna imported only then), else none."""
    if sweep.search is None:
        return RunSource()
    from core.sweeps.study import StudySource

    return StudySource(sweep.search)


def _default_make_run(runs_dir: Path) -> Callable[[Any], RunLike]:
    def make(profile: Any) -> RunLike:
        from core.training.engine import Run  # here: the engine's imports are not free

        return Run(profile, runs_dir)

    return make


def _default_resume_run(run_dir: Path) -> RunLike:
    from core.training.engine import Run

    return Run.resume(run_dir)


def _release_models() -> None:
    from core.training.engine import release_models

    release_models()


@dataclass(eq=False)
class _Active:
    """A run handed to ``execute`` and not yet over: what the loop notes from its events."""

    entry: SweepEntry
    run: RunLike
    live_seconds: list[float] = field(default_factory=list)  # its epochs so far
    finished: RunFinished | None = None  # its RunFinished, once sent


#: What a lane hands back when a run is over: the run, its status, or the error it raised.
Ended = tuple[_Active, "str | None", "BaseException | None"]


class _Inline:
    """One run at a time, executed on the loop's own thread: the default, as ``--sweep`` and
    the console run sweeps (the engine in the process)."""

    width = 1

    def __init__(self, execute: Execute) -> None:
        self.execute = execute
        self._waiting: list[tuple[_Active, Listener]] = []

    @property
    def busy(self) -> int:
        return len(self._waiting)

    def start(self, active: _Active, listener: Listener) -> None:
        self._waiting.append((active, listener))

    def wait(self) -> Ended:
        active, listener = self._waiting.pop(0)
        try:
            return active, self.execute(active.run, listener), None
        except BaseException as exc:  # an error, or a bug: the loop releases the run first
            return active, None, exc


class _Lanes:
    """Up to ``width`` runs at once, each executed on a thread of its own (``--parallel``: each
    run is a process, core/sweeps/parallel.py); the loop's thread waits for the next to end,
    calling ``idle`` a few times a second meanwhile (a front's signal notices)."""

    def __init__(self, execute: Execute, width: int, idle: Callable[[], None]) -> None:
        self.execute, self.width, self.idle = execute, width, idle
        self.busy = 0
        self._ended: queue.Queue[Ended] = queue.Queue()

    def start(self, active: _Active, listener: Listener) -> None:
        self.busy += 1
        name = f"cifar-tui-sweep-{active.entry.run.index}"
        threading.Thread(target=self._work, args=(active, listener), name=name, daemon=True).start()

    def _work(self, active: _Active, listener: Listener) -> None:
        try:
            self._ended.put((active, self.execute(active.run, listener), None))
        except BaseException as exc:  # handed to the loop's thread: an error, or a bug there
            self._ended.put((active, None, exc))

    def wait(self) -> Ended:
        while True:
            try:
                ended = self._ended.get(timeout=0.2)
            except queue.Empty:
                self.idle()
                continue
            self.busy -= 1
            return ended


class SweepLoop:
    """Runs what is left of one validated sweep in the calling thread: one run after another,
    or with ``parallel`` > 1 up to that many at once (each executed on a thread of its own)."""

    def __init__(
        self,
        sweep: Sweep,
        runs_dir: Path | str,
        hooks: SweepHooks | None = None,
        *,
        command: str = "",
        make_run: Callable[[Any], RunLike] | None = None,
        resume_run: Callable[[Path], RunLike] | None = None,
        execute: Execute = run_here,
        source: RunSource | None = None,
        parallel: int = 1,
        idle: Callable[[], None] = lambda: None,
    ) -> None:
        """``make_run(profile)`` and ``resume_run(run_dir)`` default to the engine's Run;
        ``source`` to :func:`default_source`. ``parallel``: runs at once (their ``execute``
        and events then come on threads of their own; ``idle`` is called on the loop's thread
        while it waits for them)."""
        self.sweep = sweep
        self.runs_dir = Path(runs_dir)
        self.hooks = hooks or SweepHooks()
        self.command = command
        self.make_run = make_run or _default_make_run(self.runs_dir)
        self.resume_run = resume_run or _default_resume_run
        self.execute = execute
        self.source = source if source is not None else default_source(sweep)
        self.parallel = max(1, parallel)
        self.idle = idle
        self.sweep_dir: SweepDir | None = None
        self.error: CifarTuiError | None = None
        self._stop = threading.Event()
        # Makes "stopped?" and "which runs?" one step, and keeps sweep.json's writers apart.
        # Reentrant: a SIGINT handler that stops the loop may run on the thread that holds it.
        self._lock = threading.RLock()
        self._active: dict[int, _Active] = {}  # by the entry's index, in the order started

    # -- control (any thread) -------------------------------------------------------------------

    def request_stop(self, by: str = "user") -> None:
        """Stop every active run after its current batch, then the sweep; ``by``: "user" or
        the signal's name (the run's RunFinished.stopped_by)."""
        with self._lock:
            self._stop.set()
            runs = [active.run for active in self._active.values()]
        for run in runs:
            run.request_stop(by)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # -- what the fronts read -------------------------------------------------------------------

    @property
    def active(self) -> list[SweepEntry]:
        """The runs handed to ``execute`` and not over yet, in the order they started."""
        with self._lock:
            return [active.entry for active in self._active.values()]

    @property
    def current(self) -> SweepEntry | None:
        """The latest run started and not over yet (the only one, unless ``parallel``)."""
        entries = self.active
        return entries[-1] if entries else None

    @property
    def live_seconds(self) -> list[float]:
        """The epochs the active runs have measured so far (their records are read at the end)."""
        with self._lock:
            return [s for active in self._active.values() for s in active.live_seconds]

    # -- the sweep --------------------------------------------------------------------------------

    def eta(self) -> Eta:
        """The sweep's ETA, counting the epochs the active runs have measured so far; with
        ``parallel``, the epochs left are shared by as many runs at once as are left."""
        assert self.sweep_dir is not None
        lanes = min(self.parallel, max(1, self.runs_left()))
        return shared(self.sweep_dir.eta(self.live_seconds), lanes)

    def runs_left(self) -> int:
        """Runs not finished yet (the active ones included)."""
        assert self.sweep_dir is not None
        return sum(e.status not in FINISHED for e in self.sweep_dir.entries)

    def run(self) -> str:
        """Run what is left; returns the sweep's final status, or ERROR (``self.error``)."""
        try:
            self.sweep_dir = SweepDir.open(
                self.runs_dir, self.sweep, self.command, source=self.source
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
        lanes = self._lanes()
        try:
            for entry in self._entries(sweep_dir):
                self._start(sweep_dir, entry, lanes)
                while lanes.busy >= lanes.width:
                    self._reap(sweep_dir, lanes.wait())
            while lanes.busy:
                self._reap(sweep_dir, lanes.wait())
        except CifarTuiError:
            self._drain(sweep_dir, lanes)  # the others stop and save before the sweep ends
            raise

    def _lanes(self) -> _Inline | _Lanes:
        if self.parallel == 1:
            return _Inline(self.execute)
        return _Lanes(self.execute, self.parallel, self.idle)

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

    def _start(self, sweep_dir: SweepDir, entry: SweepEntry, lanes: _Inline | _Lanes) -> None:
        """Skip a finished run, or make (or resume) it and hand it to a lane."""
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
        active = _Active(entry, run)
        if not self._claim(active):
            return
        try:
            with self._lock:
                sweep_dir.mark_started(entry)
            self.hooks.run_starting(entry, action)
        except BaseException:
            self._release(sweep_dir, active)
            raise
        lanes.start(active, lambda event: self._listen(active, event))

    def _reap(self, sweep_dir: SweepDir, ended: Ended, draining: bool = False) -> None:
        """A run is over: re-read it, tell the source and the front; an error it raised ends
        the sweep (a bug propagates as it is)."""
        active, status, error = ended
        self._release(sweep_dir, active)
        if error is not None and not isinstance(error, CifarTuiError):
            raise error
        self.source.settle(active.entry)
        self.hooks.run_ended(active.entry, active.finished, error)
        if error is not None:
            raise error
        run = active.run
        if draining:
            return
        if status == RunStatus.STOPPED or (run.stop_requested and status != RunStatus.PRUNED):
            # The run was stopped (Ctrl+C, the stop key, --stop of its directory): so is the
            # sweep, and every other run going on with it.
            self.request_stop(getattr(run, "stopped_by", "") or "user")

    def _drain(self, sweep_dir: SweepDir, lanes: _Inline | _Lanes) -> None:
        """A run could not start: stop the runs going on with it and wait for them to save,
        without marking the sweep stopped (it ends with the error)."""
        with self._lock:
            runs = [active.run for active in self._active.values()]
        for run in runs:
            run.request_stop("user")
        while lanes.busy:
            with contextlib.suppress(CifarTuiError):  # the first error is the sweep's
                self._reap(sweep_dir, lanes.wait(), draining=True)

    def _claim(self, active: _Active) -> bool:
        """Make the run one a stop reaches, unless a stop came while it was set up: then
        return False, and the run is never started (its entry stays as it was)."""
        with self._lock:
            if self._stop.is_set():
                return False
            self._active[active.entry.run.index] = active
        return True

    def _listen(self, active: _Active, event: Event) -> None:
        """Every event of a run: the loop's own notes first, then the front's."""
        if isinstance(event, RunOpened):
            # The run's directory exists: name it in sweep.json, so a sweep killed from now on
            # still finds the run.
            assert self.sweep_dir is not None
            with self._lock:
                self.sweep_dir.attach(active.entry, Path(event.run_dir))
        elif isinstance(event, EpochEnded):
            with self._lock:
                active.live_seconds.append(event.seconds)
        elif isinstance(event, RunFinished):
            active.finished = event
        self.hooks.event(active.entry, event)

    def _release(self, sweep_dir: SweepDir, active: _Active) -> None:
        """The run is over, however it ended: re-read it, and free its models."""
        entry = active.entry
        with self._lock:
            self._active.pop(entry.run.index, None)
            if entry.run_dir is None:  # it never made its directory: nothing to adopt later
                entry.started = None
            sweep_dir.finish(entry)  # its record holds its epochs now
        _release_models()
