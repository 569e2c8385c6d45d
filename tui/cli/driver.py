"""The command line's driver, shared by every headless mode (``--run``, ``--resume``,
``--sweep``, ``--watch``, ``--compare``): plain or live output, and a run driven from a worker
thread while the main thread renders its events and owns the signals.

:func:`drive` runs the engine in a worker thread and sends events through a queue; the main
thread renders them and owns the signals (:class:`StopSignals`). Ctrl+C, SIGTERM (``timeout``,
``docker stop``, a CI cancel, Slurm) and SIGHUP (the SSH connection or the tmux window went away)
each ask the engine to stop after the current batch and save: status "stopped", exit 130, 143 or
129 (128 + the signal, as shells report it). SIGUSR1 is how ``cifar-tui --stop`` asks the same
(exit 130). A second Ctrl+C, SIGTERM or SIGHUP exits at once: the files on disk are always
consistent. After SIGHUP the terminal is gone: what would be written to it is dropped, and the
run goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from core.errors import EXIT_STOPPED
from core.events import Event
from core.following.protocol import STOPPERS  # the one signal table (who stopped the run)
from core.storage.control import EXIT_FOR_STOPPER, PRUNE_SIGNAL

#: A second one of these quits at once; SIGUSR1 (``--stop``) only asks again.
URGENT = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NOTICE = {
    signal.SIGINT: "stopping after the current batch (Ctrl+C again to quit at once)",
    # (who asked, --stop or a console's s, the run's stop note says: core/storage/control.py)
    signal.SIGUSR1: "stop requested (cifar-tui --stop or a console's s): stopping after the "
    "current batch",
    PRUNE_SIGNAL: "the study's pruner gave this trial up: stopping after the current batch",
}


def use_plain(args: argparse.Namespace, stream: TextIO = sys.stdout) -> bool:
    return bool(
        getattr(args, "plain", False)
        or os.environ.get("NO_COLOR")
        or os.environ.get("CI")
        or not stream.isatty()
    )


class StopSignals:
    """The stop signals' handlers for a run or a sweep. A handler only notes the signal and
    calls ``stop(by)`` (a thread-safe request: it sets a flag); the line saying so is printed
    by :meth:`announce`, from the main thread's loop, and so is the terminal dropped after a
    SIGHUP. A second urgent signal exits at once with its own code (os._exit: no file is
    half-written, each is atomic or append-only)."""

    def __init__(self, stop: Callable[[str], None]):
        self.stop = stop
        self.by = ""  # who asked first: RunFinished.stopped_by
        self._urgent = False
        self._unsaid: list[int] = []
        self._ttys: list[int] = []
        self._previous: dict[int, Any] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Handle the stop signals while the block runs (only the main thread can)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self._ttys = [fd for fd in (1, 2) if os.isatty(fd)]
        for signum in STOPPERS:
            self._previous[signum] = signal.signal(signum, self.handle)
        try:
            yield self
        finally:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)
            self._previous.clear()
            self.announce()

    def handle(self, signum: int, frame: Any = None) -> None:
        if signum in URGENT and self._urgent:
            os._exit(EXIT_FOR_STOPPER.get(STOPPERS[signum], EXIT_STOPPED))
        self._urgent = self._urgent or signum in URGENT
        self._unsaid.append(signum)
        if not self.by:
            self.by = STOPPERS[signum]
            self.stop(self.by)

    @property
    def exit_code(self) -> int:
        """The code for a stop these signals asked for: 130, 129 (SIGHUP) or 143 (SIGTERM)."""
        return EXIT_FOR_STOPPER.get(self.by, EXIT_STOPPED)

    def announce(self) -> None:
        """Say which signals came since the last call (main thread, outside any handler)."""
        while self._unsaid:
            signum = self._unsaid.pop(0)
            if signum == signal.SIGHUP:
                self.drop_terminal()
            name = signal.Signals(signum).name
            line = NOTICE.get(signum, f"{name}: stopping after the current batch and saving")
            if signum in URGENT and signum != signal.SIGINT:
                line += " (a second signal quits at once)"
            with contextlib.suppress(OSError):
                print(f"\n{line}", file=sys.stderr, flush=True)

    def drop_terminal(self) -> None:
        """The terminal hung up: point what wrote to it at /dev/null, so no write fails (a
        log file or a pipe keeps its output)."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in self._ttys:
            os.dup2(devnull, fd)
        os.close(devnull)
        self._ttys = []


def drive(run: Any, render: Any, signals: StopSignals | None = None) -> str:
    """Run the engine in a worker thread; render its events and handle the stop signals here
    (``signals``: a sweep's, installed by its caller for the whole sweep)."""
    events: queue.Queue[Event | None] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["status"] = run.execute()
        except BaseException as exc:  # surfaced in the main thread below
            outcome["error"] = exc
        finally:
            events.put(None)

    run.subscribe(events.put)
    own = signals is None
    signals = signals or StopSignals(run.request_stop)
    worker = threading.Thread(target=work, name="cifar-tui-engine", daemon=True)
    with signals.installed() if own else contextlib.nullcontext(signals):
        worker.start()
        try:
            _pump(events, render, signals)
        finally:
            if hasattr(render, "close"):
                with contextlib.suppress(OSError):
                    render.close()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["status"]


def _pump(events: queue.Queue[Event | None], render: Any, signals: StopSignals) -> None:
    """Render events until the worker's end mark; a terminal that fails mid-write (hung up,
    a closed pipe) is dropped, and the run goes on."""
    while True:
        signals.announce()
        try:
            event = events.get(timeout=0.2)
        except queue.Empty:
            continue
        if event is None:
            return
        try:
            render(event)
        except OSError:
            signals.drop_terminal()
