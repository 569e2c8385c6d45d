"""Follow a run that another process trains, from its files alone.

The process training a run appends every event but progress to ``events.jsonl`` as it happens,
and keeps the current epoch's progress in ``progress.json`` (replaced atomically, at most twice a
second and at each epoch's end; core/storage/recorder.py). :class:`RunFollower` turns both back
into the engine's events, so a watcher renders them with the same code as the process that
trains: ``--watch`` in the command line, the console's watch screen.

A resumed run appends to the same ``events.jsonl``: each session starts with a RunOpened, and
what the follower knows of an ending (``exit_code``) is reset by it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path
from typing import Any

from core.errors import EXIT_FAILED
from core.events import BatchProgress, EpochEnded, Event, RunFinished, RunOpened, RunStarted
from core.events import from_dict as event_from_dict
from core.storage.control import exit_code_for
from core.storage.rundir import is_live, parse_json, read_json
from core.storage.system_report import SYSTEM_FILE, reading_from_line

EVENTS_FILE = "events.jsonl"
PROGRESS_FILE = "progress.json"
#: A poll returns at most this many of the system sampler's readings (the latest): a watcher
#: that arrives late needs the recent ones, not an hour of them.
SYSTEM_READINGS = 60


class RunFollower:
    """Reads a run directory's new events on each ``poll``; reading only, any thread."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._lock = threading.Lock()
        self._offset = 0  # bytes of events.jsonl already read (whole lines only)
        self._system_offset = 0  # ... and of system.jsonl
        self._pending: list[Event] = []  # read by exit_code, not yet returned by poll
        self._progress: dict[str, Any] | None = None  # the last progress.json returned
        self._session_start = 0.0  # time of the latest RunOpened
        self._epochs_done = 0  # the latest session's finished epochs (or where it resumed)
        self._finished: RunFinished | None = None  # the latest session's ending

    # -- reading ----------------------------------------------------------------------------------

    def poll(self) -> list[Event]:
        """The events appended since the last poll, then the current epoch's progress when it
        changed (and is newer than the last finished epoch)."""
        with self._lock:
            progress = self._read_progress()  # first: the events read next are as new
            events, self._pending = [*self._pending, *self._read_events()], []
            events += self._read_system()
            if progress is not None and self._fresh(progress):
                events.append(progress)
            return events

    def _read_events(self) -> list[Event]:
        """Whole lines appended since the last read; a torn last line waits for its end."""
        try:  # non-blocking, a regular file only: a FIFO planted there must not hang a watcher
            fd = os.open(self.run_dir / EVENTS_FILE, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return []
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return []
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        events = []
        for line in data[:end].splitlines():
            event = _parse(line)
            if event is not None:
                self._note(event)
                events.append(event)
        return events

    def _read_system(self) -> list[Event]:
        """This session's system readings appended to system.jsonl since the last read (the
        latest SYSTEM_READINGS of them); a torn last line waits for its end."""
        try:
            with open(self.run_dir / SYSTEM_FILE, "rb") as fh:
                fh.seek(self._system_offset)
                data = fh.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self._system_offset += end
        readings = [reading_from_line(line) for line in data[:end].splitlines()]
        mine = [r for r in readings if r is not None and r.time >= self._session_start]
        return list(mine[-SYSTEM_READINGS:])

    def _note(self, event: Event) -> None:
        if isinstance(event, RunOpened):
            self._session_start, self._finished, self._epochs_done = event.time, None, 0
        elif isinstance(event, RunStarted):
            self._epochs_done = event.initial_epoch
        elif isinstance(event, EpochEnded):
            self._epochs_done = max(self._epochs_done, event.epoch)
        elif isinstance(event, RunFinished):
            self._finished = event

    def _read_progress(self) -> BatchProgress | None:
        """progress.json when it changed since the last poll."""
        data: Any = None
        with contextlib.suppress(OSError, ValueError):
            data = read_json(self.run_dir / PROGRESS_FILE, 1 << 20)
        if not isinstance(data, dict) or data == self._progress:
            return None
        self._progress = data
        event = _parse_dict(data)
        return event if isinstance(event, BatchProgress) else None

    def _fresh(self, progress: BatchProgress) -> bool:
        """Progress of this session's current epoch: not an earlier session's, not an epoch
        already finished, not after the run's end."""
        return (
            self._finished is None
            and progress.time >= self._session_start
            and progress.epoch > self._epochs_done
        )

    # -- the run's state --------------------------------------------------------------------------

    def is_live(self) -> bool:
        """Whether a process trains the run now (holds its lock)."""
        return is_live(self.run_dir)

    @property
    def finished(self) -> RunFinished | None:
        """The latest session's RunFinished, once a poll (or ``exit_code``) has read it."""
        with self._lock:
            return self._finished

    def exit_code(self) -> int | None:
        """None while the run trains; then its process's exit code: 0 completed, 1 failed or
        diverged (or killed: no RunFinished), 130 stopped, 129 / 143 stopped by SIGHUP /
        SIGTERM. Events it reads to find out are still returned by the next ``poll``."""
        with self._lock:
            if self._finished is None:
                if is_live(self.run_dir):
                    return None
                # The lock is free: everything the run wrote is in the file now.
                self._pending += self._read_events()
            if self._finished is None:
                return EXIT_FAILED
            return exit_code_for(self._finished.status, self._finished.stopped_by)


def _parse(line: bytes) -> Event | None:
    try:
        data = parse_json(line)
    except ValueError:
        return None
    return _parse_dict(data) if isinstance(data, dict) else None


def _parse_dict(data: dict[str, Any]) -> Event | None:
    """The event ``data`` holds, or None for a type or field this version does not know."""
    try:
        return event_from_dict(data)
    except (KeyError, TypeError):
        return None
