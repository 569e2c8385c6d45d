"""Messages that carry work done in threads to the UI thread.

Worker threads never touch widgets or reactives: they only ``post_message`` one of these
(thread-safe in Textual), and the ``on_...`` handlers then run on the UI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

from core.events import Event

if TYPE_CHECKING:
    from pathlib import Path

    from tui.console.sweep_runner import SweepSnapshot


class EngineEvent(Message):
    """One event of the engine (core.events), forwarded from the engine thread, or read back
    from the files of a run another process trains (``source``: the follower that read it)."""

    def __init__(self, event: Event, source: int | None = None) -> None:
        super().__init__()
        self.event = event
        self.source = source


class FollowDone(Message):
    """The followed run's process is gone (``status``: how its files say it ended, "interrupted"
    when they never said), or the run could not be followed (``error``)."""

    def __init__(self, source: int, status: str | None, error: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.status = status
        self.error = error


class DetachedStarted(Message):
    """A detached training process was started (``run_dir``, ``pid``), or could not be
    (``error``): the console attaches to it. ``source``: the launch's RunState."""

    def __init__(
        self, source: int, run_dir: Path | None, pid: int | None, error: str | None = None
    ) -> None:
        super().__init__()
        self.source = source
        self.run_dir = run_dir
        self.pid = pid
        self.error = error


class RunsRead(Message):
    """Runs read again in a thread (live ones, new ones, changed ones: ``records``, each a
    ``RunSummary`` with its cells), and runs gone (``removed``), for the runs screen's rows."""

    def __init__(self, records: list[Any], removed: list[Path] | None = None) -> None:
        super().__init__()
        self.records = records
        self.removed = removed or []


class RunsListed(Message):
    """Every run of the runs directory as the index holds it (``complete``: after a refresh
    that re-read whatever changed; ``records`` None: nothing changed, the table is whole), for
    the runs screen's whole table."""

    def __init__(self, records: list[Any] | None, complete: bool) -> None:
        super().__init__()
        self.records = records
        self.complete = complete


class LastResults(Message):
    """The newest run of each profile name, read from the runs index in a thread, for the
    pick screen's "last run" column."""

    def __init__(self, results: dict[str, Any]) -> None:
        super().__init__()
        self.results = results


class EngineDone(Message):
    """``Run.execute()`` returned ``status``, or raised before training (``error``)."""

    def __init__(self, status: str | None, error: str | None = None) -> None:
        super().__init__()
        self.status = status
        self.error = error


class SweepRunStarting(Message):
    """The sweep worker starts (or resumes) run ``index``: it becomes the console's current run,
    and its engine events follow."""

    def __init__(
        self,
        snapshot: SweepSnapshot,
        index: int,
        action: str,
        profiler_window: tuple[int, int] | None,
    ) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.index = index
        self.action = action  # "start" or "resume"
        self.profiler_window = profiler_window


class SweepUpdate(Message):
    """Where the sweep stands now (a run ended, an epoch was measured): statuses and ETA."""

    def __init__(self, snapshot: SweepSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class SweepDone(Message):
    """The sweep worker is done: every run ran, it was stopped, or ``error`` ended it early (a
    run could not start, as core.sweeps.loop describes; ``snapshot`` is None when the sweep
    directory could not even be opened)."""

    def __init__(self, snapshot: SweepSnapshot | None, error: str | None = None) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.error = error


class DatasetLoaded(Message):
    """Training images of a profile's data source, decoded in a thread."""

    def __init__(
        self, images: Any, labels: Any, class_names: tuple[str, ...], description: str
    ) -> None:
        super().__init__()
        self.images = images
        self.labels = labels
        self.class_names = class_names
        self.description = description


class DatasetFailed(Message):
    """The data source could not be loaded; ``error`` says why, for the user."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
