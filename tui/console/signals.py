"""Signals the console takes as keys: on the event loop, each only schedules a call on the app,
which then runs on the UI thread like any message (tui/console/app.py says what each does)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable


def install_signals(
    signums: Iterable[int],
    call_later: Callable[..., object],
    handle: Callable[[int], object],
) -> list[int]:
    """Handle ``signums`` with ``call_later(handle, signum)`` (the app's: on the UI thread);
    returns those installed (none off POSIX, or off the main thread: the defaults stay)."""
    installed: list[int] = []
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_running_loop()
        for signum in signums:
            try:
                loop.add_signal_handler(signum, call_later, handle, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append(signum)
    return installed


def remove_signals(signums: list[int]) -> None:
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_running_loop()
        for signum in signums:
            loop.remove_signal_handler(signum)
    signums.clear()
