"""How long is left: one estimate every front and report reads (a sweep's, a run's lanes').

Kept apart from the sweep directory and the formatter so that both, and anything below them,
can use it without importing each other.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Eta:
    seconds: float | None  # None until an epoch has been measured
    epochs_left: int
    median_epoch_seconds: float | None


def estimate(measured: Iterable[float], epochs_left: int) -> Eta:
    """Median measured epoch time x epochs left; no seconds until one epoch was measured."""
    seconds = list(measured)
    if not seconds:
        return Eta(None, epochs_left, None)
    median = statistics.median(seconds)
    return Eta(median * epochs_left, epochs_left, median)


def shared(eta: Eta, lanes: int) -> Eta:
    """The same epochs left, gone through by ``lanes`` runs at once (a sweep's ``--parallel``)."""
    if eta.seconds is None or lanes <= 1:
        return eta
    return replace(eta, seconds=eta.seconds / lanes)
