"""Silence the native libraries' start-up chatter, which bypasses Python's stderr.

TensorFlow and XLA write absl/CUDA-probe lines ("Could not find cuda drivers...") straight to
file descriptor 2 while they load, before TF_CPP_MIN_LOG_LEVEL applies. In a console or a log file
that is noise, so the first Keras import and the device probe run with fd 2 pointed at /dev/null.
Python exceptions are unaffected: they are raised, and printed, after fd 2 is restored.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. captured by a test runner)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
