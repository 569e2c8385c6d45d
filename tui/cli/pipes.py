"""A closed pipe is a normal end for a command-line tool: ``cifar-tui --sweep ... | head``.

Python ignores SIGPIPE, so a write to a pipe whose reader has gone raises BrokenPipeError,
wherever it happens (a renderer, the sweep's lines, the interpreter's last flush). The guard
wraps stdout and stderr: on the first BrokenPipeError the stream's descriptor is pointed at
/dev/null, the write is dropped, and the command goes on to its own end and exit code, as it
does when the terminal hangs up (tui/cli/headless.py): a run or sweep keeps training and
saving, ``--detach`` has started its run. Nothing prints a traceback about it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, TextIO


class PipeGuard:
    """A text stream that drops what it cannot write once its reader has closed the pipe."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if self.closed_pipe:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._drop()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop()

    def _drop(self) -> None:
        """From now on the descriptor writes to /dev/null: buffered text, the interpreter's
        last flush and any child that inherited it go nowhere, without an error."""
        self.closed_pipe = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...: the stream's
        return getattr(self._stream, name)


def guard_pipes() -> None:
    """Guard the process's own stdout and stderr where they are pipes (not a terminal, and not
    replaced by a caller such as pytest's capture)."""
    for name, original in (("stdout", sys.__stdout__), ("stderr", sys.__stderr__)):
        stream = getattr(sys, name)
        if stream is None or stream is not original or isinstance(stream, PipeGuard):
            continue
        with contextlib.suppress(OSError, ValueError):
            if stream.isatty():
                continue
        setattr(sys, name, PipeGuard(stream))
