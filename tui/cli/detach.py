"""``--detach``: train in a process of its own session, tied to no terminal.

``cifar-tui --run PROFILE --detach`` (also ``--resume RUN_DIR``, ``--sweep FILE``) checks what it
can first (a bad profile: exit 2, nothing started), then starts the same command without
``--detach`` as a new session (setsid: no controlling terminal, so closing the terminal, an SSH
drop or a killed tmux session sends it nothing), stdin from /dev/null and its output going to
``output.log`` in the run (or sweep) directory. It prints the directory and the pid and returns
once the child holds the directory's lock: before the model is built, well before training.

Where the run lives is known only once the engine opens it. The parent names a note file in
``$CIFAR_TUI_DETACH_NOTE``; the child (``note_run_dir``) writes the run directory there on
RunOpened and moves its early output (``$CIFAR_TUI_DETACH_LOG``, beside the runs) into the run's
``output.log``. A child that fails before that (missing data) exits, and the parent prints its
output and returns its exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.events import Event, RunOpened
from core.following.protocol import ENV_LOG, ENV_NOTE, OUTPUT_LOG, cli_argv, read_note, write_note
from core.storage import rundir
from core.storage.control import lock_holder

#: How long the parent waits for the child to open its directory (Keras's import is in it).
START_TIMEOUT = 120.0


# -- the child ----------------------------------------------------------------------------------


class _RunNote:
    """Listener in a detached child: on RunOpened, the early output joins the run's directory
    and the parent learns where it is (engine thread; the files are the child's own)."""

    def __init__(self, note: Path, log: Path | None):
        self.note, self.log = note, log

    def __call__(self, event: Event) -> None:
        if not isinstance(event, RunOpened) or self.note is None:
            return
        run_dir = Path(event.run_dir)
        if self.log is not None:
            with contextlib.suppress(OSError):  # same filesystem: the open file moves with it
                os.replace(self.log, run_dir / OUTPUT_LOG)
        with contextlib.suppress(OSError):
            write_note(self.note, run_dir)
        self.note = None  # type: ignore[assignment]


def note_run_dir(run: Any) -> None:
    """In a detached child of ``--run``: tell the parent the run directory once it exists."""
    note = os.environ.pop(ENV_NOTE, None)
    log = os.environ.pop(ENV_LOG, None)
    if note:
        run.subscribe(_RunNote(Path(note), Path(log) if log else None))


# -- the parent ---------------------------------------------------------------------------------


@dataclass
class Plan:
    """Where the child's output goes, and how the parent knows it has started."""

    log: Path
    directory: Path | None  # known up front (resume, sweep); else read from ``note``
    note: Path | None = None


def plan(args: argparse.Namespace) -> Plan:
    """Check the command as the child will (a CifarTuiError here: exit 2, nothing started)."""
    runs_dir = Path(args.runs_dir)
    if args.resume:
        from core.storage.resume import plan_resume  # the engine's rule, without the engine

        run_dir = plan_resume(Path(args.resume), args.overrides).run_dir
        return Plan(run_dir / OUTPUT_LOG, run_dir)
    if args.sweep:
        from core.sweeps.spec import load_sweep
        from core.sweeps.sweepdir import SWEEPS_FOLDER

        sweep = load_sweep(args.sweep, args.overrides)
        rundir.check_writable(runs_dir)
        sweep_dir = runs_dir / SWEEPS_FOLDER / sweep.dir_name
        sweep_dir.mkdir(parents=True, exist_ok=True)
        return Plan(sweep_dir / OUTPUT_LOG, sweep_dir)
    from core.profiles import load_profile

    load_profile(args.run, args.hparams, args.overrides)
    rundir.check_writable(runs_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fd, note = tempfile.mkstemp(dir=runs_dir, prefix=f".detached-{stamp}-", suffix=".run")
    os.close(fd)
    return Plan(Path(note).with_suffix(".log"), None, Path(note))


def child_argv(argv: list[str]) -> list[str]:
    """The same command without --detach, in plain lines (a log file is no terminal)."""
    rest = [arg for arg in argv if arg != "--detach"]
    if "--plain" not in rest:
        rest.append("--plain")
    return cli_argv(*rest)


def spawn(argv: list[str], where: Plan) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if where.note is not None:
        env[ENV_NOTE], env[ENV_LOG] = str(where.note), str(where.log)
    with rundir.open_log(where.log) as log:  # never through a link planted there
        return subprocess.Popen(
            child_argv(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # setsid: no terminal, no SIGHUP when this one closes
            close_fds=True,
            env=env,
        )


def started_in(child: subprocess.Popen[bytes], where: Plan) -> Path | None:
    """The directory once the child holds its lock; None while it starts."""
    directory = where.directory or read_note(where.note)
    if directory is not None and lock_holder(directory) == child.pid:
        return directory
    return None


def detach(args: argparse.Namespace, argv: list[str]) -> int:
    """``--detach``: start the child, wait until it holds its directory, say where it is."""
    where = plan(args)
    child = spawn(argv, where)
    deadline = time.monotonic() + START_TIMEOUT
    directory = None
    while directory is None and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        directory = started_in(child, where)
    if where.note is not None:
        where.note.unlink(missing_ok=True)
    if directory is None and child.poll() is not None:
        return _failed(child, where)
    if directory is None:
        print(
            f"started pid {child.pid}, still opening its run after {START_TIMEOUT:.0f} s; "
            f"its output: {where.log}",
            flush=True,
        )
        return 0
    _say_started(directory, child.pid)
    return 0


def _failed(child: subprocess.Popen[bytes], where: Plan) -> int:
    """The child ended before it opened its directory: its output says why."""
    with contextlib.suppress(OSError):
        sys.stderr.write(where.log.read_text(errors="replace"))
    if where.note is not None:  # the early log of a run that never opened
        where.log.unlink(missing_ok=True)
    return child.returncode or 1


def _say_started(directory: Path, pid: int) -> None:
    path = shlex.quote(str(directory))
    print(f"started {directory} (pid {pid}), detached from this terminal", flush=True)
    print(f"  output: {directory / OUTPUT_LOG}", flush=True)
    print(f"  watch:  cifar-tui --watch {path}", flush=True)
    print(f"  stop:   cifar-tui --stop {path}", flush=True)
