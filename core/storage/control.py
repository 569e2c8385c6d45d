"""Stop a run (or a sweep) from another process: find who trains it, ask it to stop, wait.

A run directory (or a sweep directory) is locked with ``flock`` on ``<dir>/.lock`` for as long
as a process trains it, and the lock file holds that process's pid. The pid alone is not proof:
a killed run leaves its pid in the file, and the number may since belong to someone else. So
:func:`lock_holder` asks the kernel's lock table (``/proc/locks``) which process holds a lock on
that very file (by its inode), and only that process is ever signalled.

The signal is SIGUSR1: every cifar-tui front that trains handles it as "stop after the current
batch and save" (a process that does not handle it would be killed by it, which is why the pid
is checked first). How a run ended maps to the process's exit code with :func:`exit_code_for`.

A signal carries no word of who sent it, so an asker other than ``cifar-tui --stop`` (the
console's s: :data:`CONSOLE`) first leaves its name in the directory's stop note
(:data:`STOP_NOTE`), which ``--stop`` clears; the engine that stops takes it back with
:func:`take_stopper` (a stop that came as SIGUSR1 is recorded as that asker's).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from core.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, RunDirError
from core.safe_files import read_regular
from core.status import CONSOLE, RunStatus
from core.storage.rundir import atomic_write, is_live, read_json

#: The signal ``cifar-tui --stop`` sends: "stop after the current batch and save".
STOP_SIGNAL = signal.SIGUSR1
#: The signal a study's pruner sends a trial training in a process of its own (``--parallel``):
#: it stops after the current batch like the others, and ends "pruned" (core.status.PRUNER).
PRUNE_SIGNAL = signal.SIGUSR2
#: Exit codes of a run stopped by a signal, as shells report it (128 + the signal).
EXIT_HANGUP = 128 + signal.SIGHUP  # 129: the terminal went away (SSH dropped, tmux closed)
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143: timeout, docker stop, a CI cancel, Slurm
#: RunFinished.stopped_by (a signal's name) -> the exit code; any other stop is 130.
EXIT_FOR_STOPPER = {"SIGHUP": EXIT_HANGUP, "SIGTERM": EXIT_TERMINATED}
LOCK_FILE = ".lock"
PROC_LOCKS = Path("/proc/locks")
#: Who asked the stop that the next SIGUSR1 brings, when it is not ``cifar-tui --stop``.
STOP_NOTE = ".stop-by"
#: The askers a stop note may name (RunFinished.stopped_by): anything else in the file is
#: ignored, so what lies in a run directory cannot put its own words into a report.
NOTED_STOPPERS = (CONSOLE,)


def exit_code_for(status: str, stopped_by: str = "") -> int:
    """The process exit code of a run (or sweep) that ended with ``status``: 0 completed (or
    pruned: a study's trial its pruner gave up on, which is no failure), 130 stopped (129 / 143
    when SIGHUP / SIGTERM stopped it), 1 otherwise."""
    if status in (RunStatus.COMPLETED, RunStatus.PRUNED):
        return EXIT_OK
    if status == RunStatus.STOPPED:
        return EXIT_FOR_STOPPER.get(stopped_by, EXIT_STOPPED)
    return EXIT_FAILED


def _kernel_holders(inode: int, device: tuple[int, int]) -> list[tuple[int, bool]]:
    """(pid, same device) of every granted lock on ``inode`` in ``/proc/locks``."""
    holders = []
    for line in PROC_LOCKS.read_text().splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 18534 fe:00:2147710 0 EOF"; a waiter has "->" after the id.
        if len(fields) < 6 or fields[1] == "->":
            continue
        with contextlib.suppress(ValueError):
            major, minor, ino = fields[5].split(":")
            if int(ino) == inode:
                holders.append((int(fields[4]), (int(major, 16), int(minor, 16)) == device))
    return holders


def _written_pid(lock: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(lock.read_text().strip())
    return None


def lock_holder(directory: Path) -> int | None:
    """The pid of the process that holds ``<directory>/.lock`` now, or None when no one does.

    Read from the kernel's lock table by the lock file's inode; where there is no
    ``/proc/locks`` (not Linux), the pid the file holds, if its lock is held."""
    lock = Path(directory) / LOCK_FILE
    try:
        stat = lock.stat()
    except OSError:
        return None
    if not is_live(Path(directory)):
        return None
    written = _written_pid(lock)
    try:
        holders = _kernel_holders(stat.st_ino, (os.major(stat.st_dev), os.minor(stat.st_dev)))
    except OSError:
        return written
    # Prefer a lock on the same device; an overlay filesystem may report another one.
    pids = [pid for pid, same in holders if same] or [pid for pid, _ in holders]
    if written in pids:
        return written
    return pids[0] if pids else None


def request_stop(directory: Path, by: str = "") -> int:
    """Ask the process training ``directory`` (a run or a sweep) to stop after the current
    batch and save; returns its pid. Raises RunDirError when nothing trains it. ``by``: who
    asks, when it is not ``cifar-tui --stop`` (one of NOTED_STOPPERS), left in the stop note
    before the signal goes; without it, a note left by an earlier asker is cleared."""
    directory = Path(directory)
    if not directory.is_dir() or not is_run_or_sweep(directory):
        raise RunDirError(
            f"{directory} is not a run or sweep directory (it holds no report.json, "
            "profile.toml or sweep.json); nothing was signalled"
        )
    lock = directory / LOCK_FILE
    if lock.is_symlink():
        raise RunDirError(f"{lock} is a link, not a run's lock; nothing was signalled")
    pid = lock_holder(directory)
    if pid is None or pid <= 0:
        raise RunDirError(
            f"{directory} is not live: no process is training it ({status_of(directory)})"
        )
    command = process_command(pid)
    if command == []:
        raise RunDirError(f"{directory}: its process {pid} has just ended")
    if command is not None and not is_cifar_tui(command):
        raise RunDirError(
            f"{lock} is held by process {pid} ({_short(command)}), which is not cifar-tui; "
            "nothing was signalled"
        )
    _leave_stop_note(directory, by)
    try:
        os.kill(pid, STOP_SIGNAL)
    except ProcessLookupError:
        _leave_stop_note(directory, "")
        raise RunDirError(f"{directory}: its process {pid} has just ended") from None
    except PermissionError:
        _leave_stop_note(directory, "")
        raise RunDirError(
            f"{directory} is trained by process {pid}, which this user may not signal"
        ) from None
    return pid


def _leave_stop_note(directory: Path, by: str) -> None:
    """Name ``by`` in the stop note (atomically: the stopped process never reads half of it), or
    remove the note when there is no one to name. Where it cannot be written, the stop still
    goes: it is then recorded as ``--stop``'s."""
    note = Path(directory) / STOP_NOTE
    with contextlib.suppress(OSError):
        if by:
            atomic_write(note, by, sync=False)
        else:
            note.unlink(missing_ok=True)


def noted_stopper(directory: Path) -> str:
    """The asker the stop note of ``directory`` names (one of NOTED_STOPPERS), or ""."""
    noted = ""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        noted = read_regular(Path(directory) / STOP_NOTE, 64, "a stop note").decode().strip()
    return noted if noted in NOTED_STOPPERS else ""


def take_stopper(directory: Path | None, by: str) -> str:
    """Who stopped the run in ``directory``, which its process was told was ``by``: the stop
    note's asker when the stop came as the stop signal and a note names one, else ``by``. The
    note is removed either way (it was about this stop)."""
    if directory is None:
        return by
    noted = noted_stopper(directory)
    with contextlib.suppress(OSError):
        (Path(directory) / STOP_NOTE).unlink(missing_ok=True)
    return noted if noted and by == STOP_SIGNAL.name else by


#: The files that make a directory a run or a sweep (a bare ``.lock`` does not: any program may
#: lock a file of that name).
OWN_FILES = ("report.json", "profile.toml", "history.csv", "events.jsonl", "sweep.json")
#: What the command line of a process that trains runs holds: the ``cifar-tui`` script, the
#: module (``python -m tui.cli.main``: --detach, --parallel), a Slurm job (submitit), or code
#: that imports the engine (``python -c``, as tests and scripts do).
CIFAR_TUI_MARKS = ("cifar-tui", "tui.cli.main", "submitit", "core.storage", "core.training")


def is_run_or_sweep(directory: Path) -> bool:
    return any((Path(directory) / name).is_file() for name in OWN_FILES)


def process_command(pid: int) -> list[str] | None:
    """A process's command line from /proc: [] when it has ended, None where there is no /proc
    to ask."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone ([]: it ended), or no /proc on this system (None: cannot tell)
        return [] if Path("/proc/self/cmdline").exists() else None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def is_cifar_tui(command: list[str]) -> bool:
    return any(mark in part for part in command for mark in CIFAR_TUI_MARKS)


def _short(command: list[str]) -> str:
    text = " ".join(command) or "command line unknown"
    return text if len(text) <= 60 else text[:57] + "..."


def status_of(directory: Path) -> str:
    """What ``report.json`` (a run) or ``sweep.json`` (a sweep) says, or "unknown"."""
    for name in ("report.json", "sweep.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return str(read_json(Path(directory) / name, 1 << 24).get("status"))
    return "unknown"


def wait_stopped(directory: Path, timeout: float) -> str | None:
    """Wait until no process holds ``directory``'s lock; returns the status it was left with
    ("interrupted" when it still says running: killed), or None when ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    while is_live(Path(directory)):
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
    # Read once the lock is free: a process writes its status before it lets go, so a status
    # still "running" now means it was killed on the way.
    status = status_of(directory)
    return RunStatus.INTERRUPTED if status == RunStatus.RUNNING else status
