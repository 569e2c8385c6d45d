"""The console's session: the current run or sweep, and the rules for what may happen next.

A plain class with no Textual in it, so its transitions are tested without the pilot
(tests/test_session.py). The app (tui/console/app.py) owns one, calls a transition when a key or
a worker's message asks for one, and redraws; the screens read it through the app. One run or
sweep at a time: ``begin_run`` (this console's engine in a thread worker), ``begin_sweep``,
``begin_attached`` (a run another process trains, followed from its files), then ``run_over`` /
``sweep_done`` when its worker says it ended.
"""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any

from core.errors import EXIT_STOPPED
from core.events import Event
from tui.console.state import RunState, SweepState

if TYPE_CHECKING:
    from pathlib import Path

    from core.storage.rundir import RunRecord
    from tui.console.views import SweepSnapshot


class RunControl:
    """A stop switch shared by the UI thread and the engine thread.

    The UI may ask to stop before the worker has even built its ``Run``; the request is kept
    and passed on as soon as the run is attached, so no stop is ever lost. ``by`` says who
    asked ("user", or a signal's name), as the run's RunFinished keeps it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run: Any = None
        self._stop = False
        self._by = "user"

    def attach(self, run: Any) -> None:
        with self._lock:
            self._run = run
            stop, by = self._stop, self._by
        if stop:
            _ask_stop(run, by)

    def request_stop(self, by: str = "user") -> None:
        with self._lock:
            if not self._stop:
                self._by = by
            self._stop = True
            run, by = self._run, self._by
        if run is not None:
            _ask_stop(run, by)

    @property
    def stop_requested(self) -> bool:
        with self._lock:
            return self._stop


def _ask_stop(target: Any, by: str) -> None:
    """``target.request_stop``, telling it who asked where it takes that (a Run does)."""
    if "by" in inspect.signature(target.request_stop).parameters:
        target.request_stop(by=by)
    else:
        target.request_stop()


class Session:
    """The current run (``run_state``), the running or last sweep (``sweep_state``), the stop
    switch of this console's engine (``control``) and how its last run ended
    (``engine_status``)."""

    def __init__(self) -> None:
        self.run_state = RunState()
        self.sweep_state: SweepState | None = None
        self.control = RunControl()
        self.engine_status: str | None = None  # what the last execute() returned
        #: The pick screen's "keep training if this terminal closes": launches and resumes
        #: start a detached process (followed from its files) instead of the thread worker.
        self.keep_training = False
        self.quitting = False  # a quit was confirmed: leave once the engine is done
        self.quit_code = EXIT_STOPPED  # what leaving after a stop returns (128 + a signal)
        self._warned: set[str] = set()  # warning codes already shown this session
        self._sources = 0  # numbers attached views: a replaced follower's events are dropped

    # -- queries -------------------------------------------------------------------------------

    @property
    def sweep_active(self) -> bool:
        return self.sweep_state is not None and self.sweep_state.active

    @property
    def busy(self) -> bool:
        """A run trains, or a sweep is between two of its runs: the engine is busy (a run
        attached from another process is not this console's engine)."""
        return (self.run_state.active and not self.run_state.attached) or self.sweep_active

    @property
    def can_stop(self) -> bool:
        """The current run trains: in this console's engine, or attached."""
        return self.busy or (self.run_state.attached and self.run_state.active)

    def busy_message(self) -> str:
        """Why nothing else can start now (one engine worker at a time)."""
        if self.sweep_active:
            return "A sweep is running: stop it first (w, then s)."
        return "A run is already training: stop it first (w, then s)."

    def offers_resume(self, status: str) -> bool:
        """Whether a screen offers r for a run read back as ``status``: where ``why_not_resume``
        would accept it, judged without reading files (the engine's rule by status alone)."""
        from core.storage.resume import resumes_as_is

        return not self.busy and resumes_as_is(status)

    def why_not_resume(self, record: RunRecord) -> str | None:
        """Why ``record`` cannot be resumed now, or None if it can (the engine's own rule)."""
        if self.busy:
            return self.busy_message()
        from core.storage.resume import why_not_resume

        return why_not_resume(record.path)

    def accepts(self, source: int) -> bool:
        """Whether a message read by follower ``source`` is about the current run."""
        return source == self.run_state.source

    def first_warning(self, code: str) -> bool:
        """True the first time a warning code comes this session."""
        new = code not in self._warned
        self._warned.add(code)
        return new

    # -- transitions ---------------------------------------------------------------------------

    def begin_run(self, label: str, profiler_window: tuple[int, int] | None = None) -> RunControl:
        """A run in this console's engine: a fresh state and stop switch (no sweep line)."""
        self.sweep_state = None
        self.run_state = RunState(
            label=label, active=True, status="starting", profiler_window=profiler_window
        )
        self.control = RunControl()
        self.engine_status = None
        return self.control

    def begin_sweep(self, name: str, file: str, planned: int, command: str) -> RunControl:
        """A sweep in this console's engine; its stop switch stops the loop and its runs."""
        self.sweep_state = SweepState(name, file, planned, command)
        self.run_state = RunState(label=f"sweep {name}", status="opening the sweep")
        self.control = RunControl()
        self.engine_status = None
        return self.control

    def begin_sweep_run(
        self,
        snapshot: SweepSnapshot,
        index: int,
        action: str,
        profiler_window: tuple[int, int] | None = None,
    ) -> bool:
        """The sweep's next run becomes the current run; False when no sweep is on."""
        if self.sweep_state is None:
            return False
        self.sweep_state.snapshot = snapshot
        self.run_state = RunState(
            label=snapshot.run(index).label,
            active=True,
            status="resuming" if action == "resume" else "starting",
            profiler_window=profiler_window,
        )
        self.engine_status = None
        return True

    def begin_attached(
        self,
        label: str,
        status: str,
        pid: int | None = None,
        followed_dir: Path | str | None = None,
    ) -> int:
        """A run another process trains, read from its files; returns its source number (the
        follower's messages carry it, so a replaced follower's are dropped)."""
        self._sources += 1
        self.sweep_state = None
        self.run_state = RunState(
            label=label,
            active=True,
            attached=True,
            status=status,
            source=self._sources,
            pid=pid,
            followed_dir=str(followed_dir) if followed_dir is not None else None,
        )
        self.engine_status = None
        return self._sources

    def apply(self, event: Event) -> None:
        self.run_state.apply(event)

    def request_stop(self, by: str = "user") -> bool:
        """Ask this console's engine to stop after the current batch; False if it was asked
        already."""
        if self.control.stop_requested:
            return False
        self.control.request_stop(by=by)
        self.run_state.stopping = self.run_state.active
        return True

    def run_over(self, status: str | None, error: str | None) -> None:
        """The current run's thread or followed process is done; ``error``: it never started."""
        state = self.run_state
        state.active = False
        self.engine_status = status or "error"
        if error:
            state.error, state.status = error, "could not start"

    def sweep_done(self, snapshot: SweepSnapshot | None, error: str | None) -> SweepState | None:
        """The sweep worker ended (``error``: the sweep could not go on); returns the sweep."""
        sweep = self.sweep_state
        if sweep is None:
            return None
        sweep.active = False
        self.run_state.active = False  # the worker is done, even if a bug cut its run short
        if snapshot is not None:
            sweep.snapshot = snapshot
        sweep.error = error
        if self.run_state.label == f"sweep {sweep.name}":  # no run started (all finished before)
            self.run_state.status = snapshot.status if snapshot else "not started"
        return sweep
