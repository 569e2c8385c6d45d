"""What ``cifar-tui`` checks and installs before anything else: the stop signals' first
handlers (a Ctrl+C or SIGTERM in the first half second of ``--run`` ends the process quietly
with its exit code, not a KeyboardInterrupt traceback from inside an import), the Keras backend
(named, before Keras is imported), and a terminal for the console."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from core.errors import EXIT_USAGE, CifarTuiError

#: Until the run's own handlers (tui/cli/headless.py's StopSignals) take over, nothing has been
#: written that a stop must save: the process ends at once, with the code the signal's stop has.
EARLY = {signal.SIGINT: 130, signal.SIGTERM: 143}
#: Modes that import Keras: the backend must be usable before they start.
KERAS_MODES = ("check", "run", "resume", "sweep", "predict")


@contextlib.contextmanager
def early_signals() -> Iterator[None]:
    """The early handlers while ``cifar-tui`` runs; the previous ones back after (main() may
    be called in-process, by tests or scripts)."""
    previous = install_early_signals()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if signal.getsignal(signum) is _early_exit:
                signal.signal(signum, handler)


def install_early_signals() -> dict[int, Any]:
    """Install them where Python's defaults are; returns the handlers they replaced."""
    replaced: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return replaced  # main() called from a thread (tests): only the main thread has handlers
    for signum in EARLY:
        handler = signal.getsignal(signum)
        if handler in (signal.default_int_handler, signal.SIG_DFL):
            replaced[signum] = signal.signal(signum, _early_exit)
    return replaced


def release_early_signals() -> None:
    """Python's own handlers back, for the modes that read Ctrl+C as a KeyboardInterrupt
    (--watch stops watching; the console)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in EARLY:
        if signal.getsignal(signum) is _early_exit:
            signal.signal(
                signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            )


def _early_exit(signum: int, frame: Any = None) -> None:
    raise SystemExit(EARLY[signum])  # no traceback: SystemExit prints nothing


class NoTerminal(CifarTuiError):
    exit_code = EXIT_USAGE


def check_before_keras(args: argparse.Namespace) -> None:
    """The backend for modes that import Keras; a terminal for the console."""
    console = not any(
        getattr(args, mode, None) for mode in (*KERAS_MODES, "compare", "watch", "stop", "export")
    )
    if console or args.watch:
        release_early_signals()
    if console and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise NoTerminal(
            "the console needs a terminal (stdin and stdout are not one here); "
            "to train without one: cifar-tui --run PROFILE (see cifar-tui --help)"
        )
    if console or any(getattr(args, mode, None) for mode in KERAS_MODES):
        from core.backend_check import check_backend
        from core.profiles import keras_backend

        check_backend(keras_backend())
