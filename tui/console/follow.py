"""Runs trained by other processes, seen from the console: follow one, start one detached.

A run trained elsewhere (a detached run, a headless one, another console's) is followed from
its files by the one follow loop (core/following/session.py). :func:`follow_run` is the body of
the app's follow worker (a thread): it reads the files about twice a second and posts what it
reads as :class:`~tui.console.messages.EngineEvent` messages, the same path a thread run's
events take, so the watch screen draws an attached run exactly like its own.
:func:`start_detached` is the body of the worker that starts a detached process
(``cifar-tui --detach``) for a "keep training" launch.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from core.following.protocol import ERROR_PREFIX, cli_argv
from core.following.session import Ending, follow
from tui.console.messages import DetachedStarted, EngineEvent, FollowDone
from tui.console.runner import LaunchRequest

#: Seconds between two reads of a followed run's files (progress.json changes at most twice a
#: second, so the view is never more than about a second late).
FOLLOW_INTERVAL = 0.5
#: Seconds ``cifar-tui --detach`` may take to print where the run goes (it returns long
#: before training starts).
DETACH_TIMEOUT = 60.0
Post = Callable[[Message], object]


def process_alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie that no one reaped counts as gone)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    return True


def follow_run(
    run_dir: Path,
    source: int,
    post: Post,
    stop: threading.Event,
    pid: int | None = None,
    interval: float = FOLLOW_INTERVAL,
) -> str | None:
    """Post a run's events as its files show them (core/following/session.py) until its
    process is gone or ``stop`` is set.

    ``pid``: the process just started to train it, which may not hold the run's lock yet (the
    run counts as live while it runs, until the lock was seen once). A run whose process ends
    without a RunFinished is shown as interrupted. Returns how it ended (None when stopped).
    """
    from core.storage.rundir import is_live

    seen_live = False

    def over() -> bool:
        nonlocal seen_live
        live = is_live(Path(run_dir))
        seen_live = seen_live or live
        return not live and (seen_live or not process_alive(pid))

    ending = follow(
        lambda: Path(run_dir),
        lambda event: post(EngineEvent(event, source)),
        over,
        stop=stop,
        interval=interval,
    )
    if ending is None:
        return None
    return _ended(run_dir, source, post, ending)


def _ended(run_dir: Path, source: int, post: Post, ending: Ending) -> str:
    """The followed process is gone: say how the run ended (interrupted when it never said)."""
    if not ending.started and ending.finished is None:
        post(FollowDone(source, None, _last_words(Path(run_dir))))
        return "error"
    if ending.finished is None:
        post(EngineEvent(ending.interrupted(), source))
    post(FollowDone(source, ending.status))
    return ending.status


def _last_words(run_dir: Path) -> str:
    """Why a detached run ended before training: the last line of its output.log."""
    with contextlib.suppress(OSError):
        lines = (run_dir / "output.log").read_text(errors="replace").strip().splitlines()
        if lines:
            return lines[-1]
    return f"the process training {run_dir} ended before training started"


# -- starting a detached run --------------------------------------------------------------------


def detached_argv(request: LaunchRequest) -> list[str]:
    """``cifar-tui ... --detach`` for a launch: the command the run's report keeps (so the
    detached run resolves the same profile), or ``--resume RUN_DIR``."""
    if request.resume_dir is not None:
        return cli_argv("--resume", str(request.resume_dir), "--detach")
    if request.command is None:
        raise ValueError("a detached launch needs the launch's command line")
    return cli_argv(*shlex.split(request.command)[1:], "--detach")


def start_detached(
    request: LaunchRequest, source: int, post: Post, timeout: float = DETACH_TIMEOUT
) -> None:
    """Run ``cifar-tui --detach`` (it returns once the run is on its way) and post where the
    run is and which process trains it, or why it could not start."""
    try:
        done = subprocess.run(
            detached_argv(request),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NO_COLOR": "1"},
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        post(DetachedStarted(source, None, None, f"cannot start a detached run: {exc}"))
        return
    run_dir, pid = parse_detached(done.stdout)
    if done.returncode != 0 or run_dir is None:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        error = said[-1] if said else f"cifar-tui --detach exited {done.returncode}"
        post(DetachedStarted(source, None, None, error.removeprefix(ERROR_PREFIX)))
        return
    post(DetachedStarted(source, run_dir, pid))


#: The line ``cifar-tui --detach`` says where the run went with (tui/cli/detach.py).
STARTED_LINE = re.compile(r"^started (?P<dir>.+) \(pid (?P<pid>\d+)\)", re.MULTILINE)


def parse_detached(output: str) -> tuple[Path | None, int | None]:
    """The run directory and pid ``cifar-tui --detach`` printed (None, None when it did not
    say: it gave up waiting for the run to open)."""
    match = STARTED_LINE.search(output)
    if match is None:
        return None, None
    return Path(match["dir"]), int(match["pid"])
