"""The one follow loop: a run another process trains, read back from its files as events.

:func:`follow` polls a run directory (core.storage.follow.RunFollower) and hands each event to
``emit`` until whatever trains the run is over (``over()``: a child exited, a Slurm job left the
queue, a run's lock went free), reading what was written last after that, and returns the
:class:`Ending`: the latest session's RunFinished, or none (the process was killed: the run is
"interrupted"; or it never opened its run). Every front that follows a run uses it: ``--watch``,
the console, ``--parallel`` and ``--slurm``.

A resumed run's ``events.jsonl`` holds every session: ``since`` keeps the sessions opened from
then on (a sweep's run resumed by this command), ``latest`` the latest one only (a watcher that
attaches). ``goes_on`` says when a session's end is not the run's: a Slurm job preempted or at
its time limit ends its session "stopped" and is requeued; it returns the line to tell instead
(sent as a RunWarning with code :data:`REQUEUED`), the RunFinished is held back, and following
goes on until the job is over: a later session makes it moot, none makes it the ending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.events import Event, RunFinished, RunOpened, RunStarted, RunWarning
from core.status import RunStatus

#: RunWarning.code of a session that ended while the run goes on elsewhere (a requeued job).
REQUEUED = "requeued"
#: What a run whose process ended without saying how is shown with.
INTERRUPTED_MESSAGE = "its process ended without saving an end (killed?)"


@dataclass
class Ending:
    """How a followed run ended: ``finished`` is its latest session's RunFinished (None: the
    process ended without one), ``opened``/``started`` whether a session opened / trained."""

    finished: RunFinished | None = None
    opened: bool = False
    started: bool = False

    @property
    def status(self) -> str:
        """The run's status: its RunFinished's, else "interrupted" (or "" when it never opened)."""
        if self.finished is not None:
            return self.finished.status
        return RunStatus.INTERRUPTED if self.opened else ""

    def interrupted(self) -> RunFinished:
        """The RunFinished a front shows for a run that ended without one."""
        return RunFinished(RunStatus.INTERRUPTED, INTERRUPTED_MESSAGE, None, None, 0.0)


def follow(
    run_dir: Callable[[], Path | None],
    emit: Callable[[Event], None],
    over: Callable[[], bool],
    *,
    since: float | None = None,
    latest: bool = False,
    goes_on: Callable[[RunFinished], str | None] | None = None,
    stop: threading.Event | None = None,
    interval: float = 0.5,
) -> Ending | None:
    """Emit the run's events until ``over()``; its :class:`Ending` (None when ``stop`` was set
    first). ``run_dir()``: the directory once known (a child notes it when its run opens)."""
    from core.storage.follow import RunFollower

    follower: RunFollower | None = None
    ending, held = Ending(), None
    session = since is None and not latest  # whether the current session is emitted
    first = True
    while True:
        done = over()  # first: what the process wrote before it ended is in its files now
        if follower is None:
            found = run_dir()
            follower = RunFollower(found) if found is not None else None
        events = follower.poll() if follower is not None else []
        if latest and first and follower is not None:
            events, session = _latest_session(events), True
        first = first and follower is None
        for event in events:
            if isinstance(event, RunOpened):
                session = session or since is None or event.time >= since
                held = None  # a later session: the held end was not the run's
                if session:
                    ending = Ending(opened=True)
            if not session:
                continue
            if isinstance(event, RunStarted):
                ending.started = True
            elif isinstance(event, RunFinished):
                ending.finished = event
                said = goes_on(event) if goes_on is not None else None
                if said:
                    held = event
                    emit(RunWarning(REQUEUED, said))
                    continue
            emit(event)
        if done:
            if held is not None:
                emit(held)  # no session came after it: it was the run's end after all
            return ending
        if stop is not None:
            if stop.wait(interval):
                return None
        else:
            time.sleep(interval)


def _latest_session(events: list[Event]) -> list[Event]:
    """The latest session's events (a resumed run's RunStarted carries the earlier epochs)."""
    starts = [i for i, event in enumerate(events) if isinstance(event, RunOpened)]
    return events[starts[-1] :] if starts else events
