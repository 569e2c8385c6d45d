"""The child-process protocol: what a process that trains a run and the one following it share.

A parent that starts ``cifar-tui --run`` (``--detach``, ``--parallel``) or submits a job
(``--slurm``) does not know where the run will live until the engine opens it. It names a note
file; the child writes the run directory there on RunOpened (:func:`write_note`) and the parent
reads it (:func:`read_note`). A detached or parallel child is told the note and where its early
output goes through :data:`ENV_NOTE` and :data:`ENV_LOG`; a Slurm job carries its note in its
pickle. A child that cannot start says why on one stderr line starting with :data:`ERROR_PREFIX`
(exit 2). A stop is asked with a signal: :data:`STOPPERS` says, for each signal a training
process handles, who it says stopped the run; :func:`signal_for` is the way back.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from core.events import Event
from core.status import PRUNER
from core.storage import rundir
from core.storage.control import PRUNE_SIGNAL

#: The note file a child of ``--run`` writes its run directory to, and the early output file it
#: moves into the run's ``output.log`` once the run exists.
ENV_NOTE = "CIFAR_TUI_DETACH_NOTE"
ENV_LOG = "CIFAR_TUI_DETACH_LOG"
OUTPUT_LOG = "output.log"
#: How every error line of the command starts (tui/cli/main.py prints it, parents read it).
ERROR_PREFIX = "cifar-tui: error: "

#: The signals that stop a run after its current batch, and who each says stopped it
#: (RunFinished.stopped_by). The one table: the command's handlers (tui/cli/headless.py) and
#: every parent that signals a child read it.
STOPPERS: dict[int, str] = {
    signal.SIGINT: "user",
    signal.SIGTERM: "SIGTERM",
    signal.SIGHUP: "SIGHUP",
    signal.SIGUSR1: "SIGUSR1",
    PRUNE_SIGNAL: PRUNER,  # a study's trial in a process of its own: it ends "pruned"
}
_SIGNAL_OF = {by: signum for signum, by in STOPPERS.items()}


def signal_for(by: str) -> int:
    """The signal that asks a child to stop as ``by`` did ("user", a signal's name, PRUNER);
    SIGINT (the user's stop) for anything else."""
    if by in _SIGNAL_OF:
        return _SIGNAL_OF[by]
    return int(getattr(signal, by, signal.SIGINT)) if by.startswith("SIG") else signal.SIGINT


# --- the note ----------------------------------------------------------------------------------


def write_note(note: Path, run_dir: Path | str) -> None:
    """Tell the parent where the run lives (atomically: it never reads half a path)."""
    rundir.atomic_write(Path(note), str(run_dir))


def read_note(note: Path | str | None) -> Path | None:
    """The run directory a child noted; None while it has not (or no note was asked for)."""
    if note is None:
        return None
    with contextlib.suppress(OSError):
        text = Path(note).read_text().strip()
        return Path(text) if text else None
    return None


def error_line(text: str) -> str | None:
    """The last error line a child printed, without its prefix; None when it printed none."""
    lines = [line for line in text.splitlines() if line.startswith(ERROR_PREFIX)]
    return lines[-1].removeprefix(ERROR_PREFIX) if lines else None


# --- command lines -------------------------------------------------------------------------------


def cli_argv(*args: str, python: str = sys.executable) -> list[str]:
    """``cifar-tui ARGS`` as this interpreter runs it (``python -m tui.cli.main``): the same code
    as the parent's, installed or not."""
    return [python, "-m", "tui.cli.main", *args]


def run_argv(
    *,
    profile: Path | None = None,
    resume: Path | None = None,
    runs_dir: Path | None = None,
    plain: bool = True,
    extra: Sequence[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """``cifar-tui --run PROFILE`` or ``--resume RUN_DIR``, as a user would type it."""
    mode = ["--resume", str(resume)] if resume is not None else ["--run", str(profile)]
    where = ["--runs-dir", str(runs_dir)] if runs_dir is not None else []
    return cli_argv(*mode, *where, *extra, *(["--plain"] if plain else []), python=python)


# --- what the sweep loop drives ------------------------------------------------------------------


class RunLike(Protocol):
    """A run as the sweep loop (core/sweeps/loop.py) and the fronts drive it: the engine's Run,
    a child process's run (core/sweeps/parallel.py) or a Slurm job's (core/sweeps/slurm.py)."""

    run_dir: Path | None
    stopped_by: str

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Every event of the run, as it comes (on the thread that trains or follows it)."""

    def request_stop(self, by: str = "user") -> None:
        """Stop after the current batch (any thread); ``by``: "user", a signal's name, PRUNER."""

    @property
    def stop_requested(self) -> bool:
        """Whether a stop was asked."""

    def execute(self) -> str:
        """Train (or follow) the run to its end; its status."""
