"""The bridge between the engine thread and the UI: a stop switch and the worker's body.

The console runs the same engine as the headless command (``core.training.engine.Run``), in a
Textual
thread worker. The worker's only way back to the UI is ``post``: every engine event is posted
as an :class:`~tui.console.messages.EngineEvent`, and the end as an
:class:`~tui.console.messages.EngineDone`.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from core.errors import CifarTuiError
from core.events import PROGRESS_INTERVAL, BatchProgress, Event
from tui.console.messages import EngineDone, EngineEvent
from tui.console.session import RunControl

if TYPE_CHECKING:
    from core.config import Profile


@dataclass(frozen=True)
class LaunchRequest:
    """What to run: a resolved profile (a new run) or a run directory to resume."""

    label: str
    runs_dir: Path
    profile: Profile | None = None
    resume_dir: Path | None = None
    command: str | None = None


def command_line(path: Path, hparams: Path | None, overrides: list[str], runs_dir: Path) -> str:
    """The headless command that repeats a console launch (kept in the run's report)."""
    args = ["cifar-tui", "--run", str(path)]
    if hparams is not None:
        args += ["--hparams", str(hparams)]
    for item in overrides:
        args += ["--set", item]
    args += ["--runs-dir", str(runs_dir)]
    return shlex.join(args)


class ProgressThrottle:
    """Lets through at most one batch update per ``interval`` seconds, and every epoch's last."""

    def __init__(
        self, interval: float = PROGRESS_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last = float("-inf")

    def allow(self, event: BatchProgress) -> bool:
        now = self._clock()
        if event.step >= event.steps or now - self._last >= self.interval:
            self._last = now
            return True
        return False


def execute(request: LaunchRequest, control: RunControl, post: Callable[[Message], object]) -> str:
    """The engine worker's body (runs in a thread): build the run, execute it, post events.

    Importing ``core.training.engine`` here, not at module level, keeps TensorFlow out of the
    console's start-up. Returns the final status, or "error" when the run could not start.
    """
    throttle = ProgressThrottle()

    def sink(event: Event) -> None:
        if isinstance(event, BatchProgress) and not throttle.allow(event):
            return
        post(EngineEvent(event))

    try:
        from core.training.engine import Run

        if request.resume_dir is not None:
            run = Run.resume(request.resume_dir, sink)
        else:
            assert request.profile is not None
            run = Run(request.profile, request.runs_dir, sink, command=request.command)
        control.attach(run)
        status = run.execute()
    except CifarTuiError as exc:
        post(EngineDone(None, str(exc)))
        return "error"
    except Exception as exc:  # a bug or a crash outside the engine's own handling
        post(EngineDone(None, f"{exc.__class__.__name__}: {exc}"))
        return "error"
    post(EngineDone(status))
    return status
