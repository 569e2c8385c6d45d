"""What the console's screens show of a sweep: immutable copies the sweep worker makes on its
thread (tui/console/sweep_runner.py) and hands to the UI thread. No widgets, no Textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.eta import Eta
from core.status import FINISHED


@dataclass(frozen=True)
class StudyInfo:
    """What the screens need to know of a study besides its trials."""

    objective: str  # val_accuracy or val_loss
    maximize: bool
    description: str  # "8 trials, tpe, val_accuracy (higher is better), median pruner"


@dataclass(frozen=True)
class SweepRunView:
    """One run of the sweep as the UI shows it (a copy: safe to hand to another thread)."""

    index: int
    label: str
    status: str  # pending, running, or a run status
    epochs: int  # planned
    epochs_done: int
    test_accuracy: float | None = None
    best_val_accuracy: float | None = None
    message: str = ""  # why a run failed or diverged
    run_dir: str | None = None
    # A study's trial (tui/console/study_view.py): its settings, objective per epoch, best.
    settings: tuple[tuple[str, Any], ...] = ()
    curve: tuple[float | None, ...] = ()
    objective: float | None = None


@dataclass(frozen=True)
class SweepSnapshot:
    """The sweep directory's bookkeeping at one moment, for the UI thread."""

    name: str
    path: Path  # the sweep directory
    status: str  # running, completed, failed, stopped, incomplete
    runs: tuple[SweepRunView, ...]
    eta: Eta
    current: int | None = None  # index of the run training now
    planned: int = 0  # runs in all (a study's trials are not all asked yet); 0: len(runs)
    study: StudyInfo | None = None  # a [search] sweep's objective and description
    active: tuple[int, ...] = ()  # the runs going on now, in the order they started
    parallel: int = 1  # runs at once, at most

    @property
    def finished(self) -> int:
        return sum(r.status in FINISHED for r in self.runs)

    @property
    def total(self) -> int:
        return self.planned or len(self.runs)

    def run(self, index: int) -> SweepRunView:
        return next(r for r in self.runs if r.index == index)
