"""Every status a run or a sweep run can have, its groupings and how it looks, in one place.

``report.json`` stores the plain string (a ``StrEnum`` compares equal to it), so files written
before this enum read the same. ``pruned`` is a study's trial its pruner stopped early because it
was losing (core/sweeps/study.py): finished, not stopped, and not a failure. ``interrupted``
is never written: readers derive it from a ``running`` report whose lock no process holds.
``pending`` exists only in a sweep's bookkeeping.
"""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    DIVERGED = "diverged"
    PRUNED = "pruned"

    @classmethod
    def parse(cls, value: object) -> RunStatus | None:
        """The status a file says, or None when it says something else (a damaged report)."""
        try:
            return cls(str(value))
        except ValueError:
            return None


#: What ``report.json`` may say; the engine writes nothing else.
WRITTEN = (
    RunStatus.RUNNING,
    RunStatus.COMPLETED,
    RunStatus.STOPPED,
    RunStatus.FAILED,
    RunStatus.DIVERGED,
    RunStatus.PRUNED,
)
#: Who stops a run its study's pruner gives up on (``Run.request_stop(PRUNER)``): it ends
#: "pruned" rather than "stopped", and the sweep goes on.
PRUNER = "pruner"
#: Who stopped a run with the console's s while another process trained it (the stop note of
#: core/storage/control.py names it; the signal alone would say ``--stop``).
CONSOLE = "console"
#: Why a "stopped" run stopped, by who asked (RunFinished.stopped_by): the words its message,
#: report.json's ``stop`` and every status line use.
STOPPED_BY = {
    "user": "stopped by the user",
    CONSOLE: "stopped by the console (s)",
    "SIGUSR1": "stopped by cifar-tui --stop (SIGUSR1)",
    "SIGHUP": "stopped by SIGHUP (the terminal or SSH connection closed)",
    "SIGTERM": "stopped by SIGTERM (timeout, docker stop, a Slurm time limit)",
}


def stopped_message(by: str) -> str:
    """ "stopped by the user", "stopped by SIGTERM (...)": why a run stopped."""
    return STOPPED_BY.get(by or "user", f"stopped by {by}")


#: The same in a word, for a status column: "stopped (SIGTERM)".
STOPPED_BY_SHORT = {
    "user": "user",
    CONSOLE: "console",
    "SIGUSR1": "--stop",
    "SIGHUP": "SIGHUP",
    "SIGTERM": "SIGTERM",
}


def status_with_cause(status: str, stopped_by: str = "") -> str:
    """ "stopped (SIGTERM)": a stopped run's status with who stopped it, where it is known."""
    if status != RunStatus.STOPPED or not stopped_by:
        return str(status)
    return f"{status} ({STOPPED_BY_SHORT.get(stopped_by, stopped_by)})"


#: A run that ended badly: the same settings would end the same way.
BAD_ENDINGS = (RunStatus.FAILED, RunStatus.DIVERGED)
#: A run that can go on from its last finished epoch.
RESUMABLE = (RunStatus.STOPPED, RunStatus.INTERRUPTED)
#: A run ``--resume`` takes as it is, no --set needed (a diverged one needs a new rate).
RESUMES_AS_IS = (*RESUMABLE, RunStatus.FAILED, RunStatus.PRUNED)
#: A sweep never runs these again.
FINISHED = (RunStatus.COMPLETED, RunStatus.PRUNED, *BAD_ENDINGS)
#: Statuses a run ends a ``Run.execute()`` with.
ENDINGS = (RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.PRUNED, *BAD_ENDINGS)

#: How a status shows in a terminal: a mark that reads without colour, and a Rich style.
MARK = {
    RunStatus.COMPLETED: "✔",
    RunStatus.STOPPED: "■",
    RunStatus.INTERRUPTED: "◆",
    RunStatus.FAILED: "✖",
    RunStatus.DIVERGED: "✖",
    RunStatus.PRUNED: "✂",
    RunStatus.RUNNING: "▶",
    RunStatus.PENDING: "·",
}
STYLE = {
    RunStatus.COMPLETED: "green",
    RunStatus.STOPPED: "yellow",
    RunStatus.INTERRUPTED: "magenta",
    RunStatus.FAILED: "bold red",
    RunStatus.DIVERGED: "bold red",
    RunStatus.PRUNED: "blue",
    RunStatus.RUNNING: "bold cyan",
    RunStatus.PENDING: "dim",
}


def style_of(status: str) -> str:
    parsed = RunStatus.parse(status)
    return STYLE[parsed] if parsed is not None else ""


def mark_of(status: str) -> str:
    parsed = RunStatus.parse(status)
    return MARK[parsed] if parsed is not None else "?"
