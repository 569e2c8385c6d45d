"""Which Keras backends can run here, checked before anything imports Keras: an unknown or
uninstalled ``KERAS_BACKEND`` is one line naming the usable ones, not a traceback from inside
Keras's import."""

from __future__ import annotations

import importlib.util

from core.errors import CifarTuiError

#: The backends cifar-tui's engine runs on (its tests cover both), by the module each needs.
SUPPORTED = {"tensorflow": "tensorflow", "jax": "jax"}


class BackendError(CifarTuiError):
    """KERAS_BACKEND (or ~/.keras/keras.json) names a backend that cannot run here (exit 2)."""


def usable_backends() -> list[str]:
    return [name for name, module in SUPPORTED.items() if _installed(module)]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_backend(backend: str) -> None:
    """BackendError unless ``backend`` is supported and installed."""
    usable = ", ".join(usable_backends()) or "none (install tensorflow or jax)"
    if backend not in SUPPORTED:
        raise BackendError(
            f"KERAS_BACKEND={backend!r} is not a backend cifar-tui runs on; usable here: {usable}"
        )
    if not _installed(SUPPORTED[backend]):
        raise BackendError(
            f"KERAS_BACKEND={backend!r}: {SUPPORTED[backend]} is not installed; usable here: "
            f"{usable}"
        )
