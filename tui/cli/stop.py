"""``cifar-tui --stop RUN_DIR``: stop a run (or, given a sweep directory, a sweep) trained by
another process, after its current batch, with everything saved.

The process signalled is the one the kernel says holds the directory's lock (core/storage/
control.py), never just the pid a file names. Then it waits, up to ``--timeout`` seconds, for
the run to be saved and its lock let go. Exit 0 once saved; 2 when nothing trains it; 1 when it
is still going at the timeout (it was asked, and stops after its current batch).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
from pathlib import Path

from core.errors import EXIT_FAILED, EXIT_OK
from core.status import RunStatus
from core.storage.control import request_stop, wait_stopped
from core.storage.rundir import read_json

DEFAULT_TIMEOUT = 300.0


def stop(args: argparse.Namespace) -> int:
    directory = Path(args.stop)
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    pid = request_stop(directory)  # RunDirError when not live: main says it, exit 2
    print(
        f"asked process {pid} to stop {directory} after its current batch; "
        f"waiting up to {timeout:.0f} s for it to save",
        flush=True,
    )
    status = wait_stopped(directory, timeout)
    if status is None:
        print(
            f"{directory}: still running after {timeout:.0f} s (a long batch, or the test "
            f"evaluation); it stops when that ends. Follow it: cifar-tui --watch "
            f"{shlex.quote(str(directory))}",
            flush=True,
        )
        return EXIT_FAILED
    print(f"{directory}: {status}{_next_step(directory, status)}", flush=True)
    return EXIT_OK


def _next_step(directory: Path, status: str) -> str:
    if status not in (RunStatus.STOPPED, RunStatus.INTERRUPTED):
        return ""
    if (directory / "sweep.json").exists():
        command = ""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            command = read_json(directory / "sweep.json").get("command") or ""
        return f"; resume it with the same command: {command or 'cifar-tui --sweep ...'}"
    return f"; resume it with: cifar-tui --resume {shlex.quote(str(directory))}"
