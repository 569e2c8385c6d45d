"""Where a sweep's runs come from, beyond the sweep file's list: :class:`RunSource`.

The plain source adds none (a ``[grid]`` or ``[[runs]]``); a study's (core/sweeps/study.py)
asks its next trial whenever the runs so far are done, so the list grows as the loop goes,
through the same lifecycle. The source also writes its own parts of ``sweep.json`` and the
summary, so the sweep directory (core/sweeps/sweepdir.py) never imports the study.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.events import Event
from core.following.protocol import RunLike

if TYPE_CHECKING:
    from core.sweeps.sweepdir import SweepDir, SweepEntry
    from core.table import Table

Listener = Callable[[Event], None]


class RunSource:
    """Where runs come from beyond the sweep file's list. This one adds none."""

    def restore(self, sweep_dir: SweepDir) -> None:
        """The directory is open and locked: add the runs earlier sessions made, before
        sweep.json is read back."""

    def next_entry(self, sweep_dir: SweepDir) -> SweepEntry | None:
        """The next run, appended to ``sweep_dir.entries``; None when there are no more."""
        return None

    def listener(self, entry: SweepEntry, run: RunLike) -> Listener | None:
        """A listener the run itself calls, on the engine's thread (a pruner)."""
        return None

    def settle(self, entry: SweepEntry) -> None:
        """The entry's run is over, or finished earlier (skipped): its status is re-read."""

    def sweep_json(self, sweep_dir: SweepDir) -> dict[str, Any]:
        """Keys this source adds to sweep.json (a study: "search")."""
        return {}

    def summary_table(self, sweep_dir: SweepDir) -> Table | None:
        """The summary's table, where this source has its own (None: the sweep's runs)."""
        return None

    def summary_lines(self, sweep_dir: SweepDir) -> list[str]:
        """Lines this source adds to summary.md's head."""
        return []
