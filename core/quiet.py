"""Silence the native libraries' start-up chatter, which bypasses Python's stderr.

TensorFlow and XLA write absl/CUDA-probe lines ("Could not find cuda drivers...") straight to
file descriptor 2 while they load, before TF_CPP_MIN_LOG_LEVEL applies. In a console or a log file
that is noise, so the first Keras import and the device probe run with fd 2 pointed at /dev/null.
Python exceptions are unaffected: they are raised, and printed, after fd 2 is restored.

TensorFlow is also imported where no front can wrap it: on the JAX backend Keras imports it to
seed it (``keras.utils.set_random_seed``), in the engine's thread. :func:`quiet_imports` installs
an import hook that loads such modules with fd 2 silenced, whoever imports them first.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

#: Modules whose first import writes native chatter to fd 2.
CHATTY_MODULES = ("tensorflow", "xprof")


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


class _QuietLoader(importlib.abc.Loader):
    """A module's own loader, run with fd 2 silenced; anything else is asked of the original."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with quiet_native_stderr():
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds the named top-level modules as the path finder would, with a quiet loader."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = set(names)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        # Not discarded here: importlib.util.find_spec (the backend check) asks too, before the
        # real import; once imported, the module is in sys.modules and never asked for again.
        # Its submodules load inside its own (quiet) import.
        if fullname not in self.names or fullname in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_imports(names: Iterable[str] = CHATTY_MODULES) -> None:
    """Import ``names`` with fd 2 silenced from now on, wherever they are first imported."""
    if any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        return
    pending = [name for name in names if name not in sys.modules]
    if pending:
        sys.meta_path.insert(0, _QuietFinder(pending))


class _RetracingFilter:
    """Drops TensorFlow's "N out of the last M calls to <function> triggered tf.function
    retracing" warning: a sweep builds a new model for every run in one process, so its
    functions are traced again by design, and the advice (reduce_retracing=True...) is not
    the user's to follow."""

    def filter(self, record: Any) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def silence_retracing_warning() -> None:
    """Install the filter on TensorFlow's logger (named "tensorflow"; it may be imported
    later: the logger object is the same). Idempotent."""
    import logging

    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _RetracingFilter) for f in logger.filters):
        logger.addFilter(_RetracingFilter())
