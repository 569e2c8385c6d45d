"""The one stand-in for core.training.engine.Run that the sweep tests (both fronts) use.

It has the engine's face (``Run(profile, runs_dir, on_event, command=, resume_dir=)``,
``Run.resume``, ``subscribe``, ``request_stop``, ``stop_requested``, ``run_dir``, ``execute``)
and emits the engine's events in the engine's order: Status, then RunOpened as soon as its
directory exists and is locked, RunStarted, one BatchProgress and one EpochEnded per epoch,
RunFinished. It writes a minimal run directory as it goes (profile.toml, report.json,
history.csv, the lock held while it "trains"), so ``load_run`` and the sweep directory read it
like a real one. Epochs are instant and take ``seconds`` each on paper.

Behaviour is set on the class (``FakeRun.reset()`` restores it; the ``fake_run`` fixtures call
it): a learning rate above 1 diverges at once; ``cannot_start`` maps a profile name to the
CifarTuiError its ``execute`` raises before writing anything (as the engine does for missing
data); ``hook(run, epoch)`` runs after each epoch; ``made`` lists the runs built, in order;
``val_accuracy(profile, epoch)``, when set, gives each epoch's validation accuracy (a study's
trials then differ). A stop requested ``by`` core.status.PRUNER ends the run "pruned", with the
``reason`` as its message, as the engine's does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from core.errors import CifarTuiError
from core.events import BatchProgress, EpochEnded, Event, RunFinished, RunOpened, RunStarted, Status
from core.profiles import dump_profile, profile_from_dict
from core.status import PRUNER
from core.storage import rundir

Listener = Callable[[Event], None]
STEPS = 4  # steps per epoch, as RunStarted and BatchProgress say
TEST_ACCURACY = 0.4


class FakeRun:
    """Stands in for core.training.engine.Run: the engine's events and files, no training."""

    seconds: ClassVar[float] = 2.0
    hook: ClassVar[Callable[[FakeRun, int], None] | None] = None
    cannot_start: ClassVar[dict[str, CifarTuiError]] = {}
    made: ClassVar[list[str]] = []  # "start PROFILE-NAME" / "resume RUN-DIR-NAME"
    val_accuracy: ClassVar[Callable[[Any, int], float] | None] = None

    @classmethod
    def reset(cls) -> None:
        cls.seconds, cls.hook, cls.cannot_start, cls.made = 2.0, None, {}, []
        cls.val_accuracy = None

    def __init__(
        self,
        profile: Any,
        runs_dir: Path | str = "runs",
        on_event: Listener | None = None,
        *,
        command: str | None = None,
        resume_dir: Path | None = None,
    ) -> None:
        self.profile = profile
        self.runs_dir = Path(runs_dir)
        self.command = command
        self.run_dir: Path | None = resume_dir
        self._listeners = [on_event] if on_event is not None else []
        self._stop = threading.Event()
        self.stopped_by = self.stop_reason = ""
        FakeRun.made.append(f"resume {resume_dir.name}" if resume_dir else f"start {profile.name}")

    @classmethod
    def resume(
        cls, run_dir: Path | str, on_event: Callable[[Event], None] | None = None
    ) -> FakeRun:
        run_dir = Path(run_dir)
        report = json.loads((run_dir / "report.json").read_text())
        return cls(profile_from_dict(report["profile"]), run_dir.parent, on_event,
                   resume_dir=run_dir)  # fmt: skip

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def request_stop(self, by: str = "user", reason: str = "") -> None:
        if not self._stop.is_set():
            self.stopped_by, self.stop_reason = by, reason
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_for_stop(self, timeout: float) -> bool:
        """For a ``hook`` that holds the run until the test asks it to stop."""
        return self._stop.wait(timeout)

    # -- the run ----------------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)

    def execute(self) -> str:
        self.emit(Status("checking the runs directory"))
        error = FakeRun.cannot_start.get(self.profile.name)
        if error is not None:
            raise error  # before anything is written, as the engine's user errors are
        report, lock = self._open()
        try:
            status = self._train(report)
        finally:
            lock.release()
        return status

    def _open(self) -> tuple[dict[str, Any], rundir.RunLock]:
        """Make (or reopen) the run directory, lock it, say so."""
        resumed = self.run_dir is not None
        if self.run_dir is None:
            self.run_dir = rundir.new_run_dir(self.runs_dir, self.profile.name)
            rundir.atomic_write(self.run_dir / "profile.toml", dump_profile(self.profile))
            report = {"status": "running", "profile": self.profile.to_dict(), "epochs": []}
        else:
            report = json.loads((self.run_dir / "report.json").read_text())
        lock = rundir.RunLock(self.run_dir)
        lock.acquire()
        report.update(status="running", model={"params_total": 1234})
        report["input_pipeline"] = {"input_bound_percent": 3.0}
        self._write(report)
        self.emit(RunOpened(str(self.run_dir), self.profile.name, resumed))
        return report, lock

    def _train(self, report: dict[str, Any]) -> str:
        epochs: list[dict[str, Any]] = report["epochs"]
        planned = self.profile.train.epochs
        self.emit(
            RunStarted(
                run_dir=str(self.run_dir), name=self.profile.name, epochs=planned,
                initial_epoch=len(epochs), steps_per_epoch=STEPS, batch_size=50,
                params_total=1234, params_trainable=1234, backend="fake", devices=["cpu"],
                train_images=200, val_images=100, test_images=60,
            )
        )  # fmt: skip
        trained = 0
        status = "completed"
        while len(epochs) < planned:
            if self.stop_requested:
                status = self._stopped_status()
                break
            if self.profile.train.learning_rate > 1:
                status = "diverged"
                break
            self._epoch(report, epochs)
            trained += 1
        if status == "completed" and self.stop_requested:
            status = self._stopped_status()
        return self._finish(report, status, trained * FakeRun.seconds)

    def _stopped_status(self) -> str:
        return "pruned" if self.stopped_by == PRUNER else "stopped"

    def _epoch(self, report: dict[str, Any], epochs: list[dict[str, Any]]) -> None:
        assert self.run_dir is not None
        row = {
            "epoch": len(epochs) + 1, "seconds": FakeRun.seconds, "loss": 1.0, "accuracy": 0.5,
            "val_loss": 1.0, "val_accuracy": self._val_accuracy(len(epochs) + 1),
            "lr": self.profile.train.learning_rate,
        }  # fmt: skip
        self.emit(BatchProgress(row["epoch"], STEPS, STEPS, 1.0, 0.5, FakeRun.seconds, 0.0))
        epochs.append(row)
        rundir.append_history(self.run_dir / "history.csv", row)
        self._write(report)
        self.emit(EpochEnded(**row))
        if FakeRun.hook is not None:
            FakeRun.hook(self, row["epoch"])

    def _val_accuracy(self, epoch: int) -> float:
        if FakeRun.val_accuracy is not None:
            return FakeRun.val_accuracy(self.profile, epoch)
        return 0.25 + 0.1 * (epoch - 1)

    def _finish(self, report: dict[str, Any], status: str, seconds: float) -> str:
        report["status"] = status
        message = self.stop_reason if status == "pruned" else ""
        if status == "completed":
            report["test"] = {"loss": 1.0, "accuracy": TEST_ACCURACY}
        if status == "diverged":
            message = "Diverged: the loss became nan"
            report["error"] = {"type": "diverged", "message": message}
        self._write(report)
        accuracy = TEST_ACCURACY if status == "completed" else None
        self.emit(RunFinished(status, message, None, accuracy, seconds))
        return status

    def _write(self, report: dict[str, Any]) -> None:
        assert self.run_dir is not None
        rundir.atomic_write(self.run_dir / "report.json", json.dumps(report))
