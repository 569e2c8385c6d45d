"""The console in a real terminal: ``run_console`` (the ``cifar-tui`` command with no
arguments) and the plumbing that keeps TensorFlow's native messages off the screen.

Kept apart from the app (tui/console/app.py), which the tests drive through the pilot with no
terminal at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from core.errors import EXIT_OK
from tui.console.app import create_app

#: Libraries whose teardown keeps the process alive for seconds once they are loaded, each with
#: the name the user knows it by.
SLOW_TO_LEAVE = {"tensorflow": "TensorFlow", "jax": "JAX"}


def run_console(profiles_dir: Path, runs_dir: Path) -> int:
    """Run the console in this terminal; returns the exit code (130 if a run was stopped)."""
    app = create_app(profiles_dir, runs_dir)
    # Our own loop: leaving it does not wait for the engine thread (asyncio.run would, with
    # the screen already gone and nothing said); the interpreter waits for it at exit instead.
    loop = asyncio.new_event_loop()
    with _native_stderr_to_log() as (driver_class, log_path):
        if driver_class is not None:
            app.driver_class = driver_class
        result = app.run(loop=loop)
    session = app.session
    if session.sweep_active:
        command = session.sweep_state.command if session.sweep_state else ""
        print(
            "cifar-tui: the sweep stops; its run is saved after the current batch. Resume it "
            f"from the console or with: {command}",
            file=sys.stderr,
            flush=True,
        )
    elif session.busy:
        print(
            "cifar-tui: the run stops after its current batch and is saved; it can be "
            "resumed from the runs screen.",
            file=sys.stderr,
            flush=True,
        )
    elif session.run_state.attached and session.run_state.active and session.run_state.run_dir:
        where = shlex.quote(session.run_state.run_dir)
        print(
            f"cifar-tui: the run trains on in its own process: cifar-tui --watch {where} "
            f"follows it, cifar-tui --stop {where} stops it.",
            file=sys.stderr,
            flush=True,
        )
    code = result if isinstance(result, int) else EXIT_OK
    if app.return_code:
        code = app.return_code
        if log_path is not None:  # the crash report went to the log: show it
            with contextlib.suppress(OSError):
                sys.stderr.write(log_path.read_text(encoding="utf-8", errors="replace")[-20000:])
    say_slow_exit(sys.stderr)
    return code


def say_slow_exit(stream: TextIO, modules: Mapping[str, object] = sys.modules) -> bool:
    """Say on ``stream`` that the process is quitting when a library that takes seconds to tear
    down is loaded (returns whether it said so). The screen is gone by then and the interpreter
    still waits for the engine thread and TensorFlow's teardown: without a word, the terminal
    just hangs. (Not hurried with os._exit: the engine thread may still be saving a stopped
    run, and atexit handlers flush what the libraries hold.)"""
    slow = [name for module, name in SLOW_TO_LEAVE.items() if module in modules]
    if not slow:
        return False
    verb = "is" if len(slow) == 1 else "are"
    text = f"cifar-tui: quitting… ({' and '.join(slow)} {verb} shutting down)"
    print(text, file=stream, flush=True)
    return True


@contextlib.contextmanager
def _native_stderr_to_log():
    """Keep TensorFlow's C++ messages (written straight to fd 2) off the console's screen.

    Textual draws on stderr; TensorFlow's native code writes there too, which would scribble
    over the screen. While the console runs, fd 2 goes to a log file and Textual draws on a
    duplicate of the terminal's descriptor. Yields the driver class to use and the log's path
    (both None when nothing was redirected).
    """
    if os.name != "posix" or not os.isatty(2) or os.environ.get("TEXTUAL_DRIVER"):
        yield None, None
        return
    from textual.drivers.linux_driver import LinuxDriver

    log_path = Path(tempfile.gettempdir()) / f"cifar-tui-console-{os.getuid()}.log"
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="replace")
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError:
        terminal.close()
        yield None, None
        return

    class TerminalDriver(LinuxDriver):
        """The Linux driver, drawing on the saved terminal descriptor."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._file = terminal

    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield TerminalDriver, log_path
    finally:
        sys.stderr.flush()
        os.dup2(terminal_fd, 2)
        terminal.close()
