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
    #: The first epoch's extra time over a steady one, and how many runs still pay it.
    compile_seconds: float = 0.0
    starts: int = 0


def estimate(
    measured: Iterable[float], epochs_left: int, firsts: Iterable[float] = (), starts: int = 0
) -> Eta:
    """The median steady epoch time (``measured``; a run's first epochs when none is steady
    yet) x epochs left, plus each of ``starts`` runs still to start paying its first epoch's
    extra time over a steady one (compiling); no seconds until an epoch was measured."""
    steady, first = list(measured), list(firsts)
    seconds = steady or first
    if not seconds:
        return Eta(None, epochs_left, None)
    median = statistics.median(seconds)
    extra = max(0.0, statistics.median(first) - median) if first else 0.0
    total = median * epochs_left + extra * starts
    return Eta(total, epochs_left, median, extra, starts if extra else 0)


def shared(eta: Eta, lanes: int) -> Eta:
    """The same epochs left, gone through by ``lanes`` runs at once (a sweep's ``--parallel``)."""
    if eta.seconds is None or lanes <= 1:
        return eta
    return replace(eta, seconds=eta.seconds / lanes)
