"""The run directory's one writer: every file of a run, kept from the engine's events.

``RunRecorder.create`` makes a new run directory (``RunRecorder.reopen`` continues one), takes its
lock and writes ``profile.toml``; from then on it is one more listener of the run's events and
keeps ``events.jsonl``, ``history.csv``, ``model_summary.txt``, ``report.json`` and ``report.md``
from them alone. Beside the events it keeps the checkpoint (``checkpoint/``), which holds weights
no event carries: the Keras callback hands it a function that saves them.

Durability (core/storage/rundir.py does the low-level writes): every file is append-only or
replaced atomically. An epoch counts as finished once its checkpoint is saved; its history row,
its event and the report follow, and a kill in between is repaired by ``restore`` from the row
``state.json`` keeps. ``report.json`` is first written when training starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from core.config import Profile
from core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    ModelBuilt,
    ProfilerSummary,
    RunFinished,
    RunOpened,
    RunStarted,
    RunWarning,
)
from core.status import BAD_ENDINGS, RunStatus
from core.storage import rundir

#: ``save(path)`` / ``load(path)``: write or read the model's weights (and optimizer state).
WeightsIO = Callable[[Path], None]


class RunRecorder:
    """Owns every file of one run directory. Call it with each event, from the engine's thread;
    ``close`` at the end releases the lock."""

    def __init__(self, run_dir: Path, *, resumed: bool):
        """Use ``create`` or ``reopen``. Takes the run's lock: nothing is written without it."""
        self.run_dir = run_dir
        self.resumed = resumed
        self.report: dict[str, Any] = {}
        self.epochs: list[dict[str, Any]] = []
        self._started = False  # report.json is written from RunStarted on
        self._lock = rundir.RunLock(run_dir)
        self._lock.acquire()  # raises if another process trains this run
        self._log: rundir.EventLog | None = rundir.EventLog(run_dir / "events.jsonl")

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def create(cls, runs_dir: Path, profile: Profile, command: str | None = None) -> RunRecorder:
        """A new ``runs/<stamp>-<name>`` directory holding the profile it will train."""
        from core.profiles import dump_profile

        run_dir = rundir.new_run_dir(runs_dir, profile.name)
        recorder = cls(run_dir, resumed=False)
        recorder.report = _new_report(profile, command, run_dir)
        rundir.atomic_write(run_dir / "profile.toml", dump_profile(profile))
        return recorder

    @classmethod
    def reopen(cls, run_dir: Path) -> RunRecorder:
        """Continue ``run_dir``: its report and finished epochs as its files hold them."""
        recorder = cls(Path(run_dir), resumed=True)
        try:
            record = rundir.load_run(recorder.run_dir)
        except BaseException:
            recorder.close()
            raise
        recorder.report, recorder.epochs = record.report, list(record.epochs)
        recorder.report["status"] = RunStatus.RUNNING
        recorder.report.pop("error", None)
        return recorder

    def close(self) -> None:
        """Stop recording and release the lock (the files stay as the last event left them)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        self._lock.release()

    @property
    def earlier_seconds(self) -> float:
        """Training time before this process resumed the run: the last total written, or (a
        killed run) the sum of its finished epochs."""
        if not self.resumed:
            return 0.0
        total = (self.report.get("timing") or {}).get("total_seconds")
        return total or sum(e.get("seconds") or 0.0 for e in self.epochs)

    # -- the events ---------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Record one event: its own file first (an epoch's history row), then the event log,
        then the report, so each file is at least as far along as the one after it."""
        if isinstance(event, BatchProgress) or self._log is None:
            return  # progress is for the fronts only: a run sends thousands
        handler = self._HANDLERS.get(type(event))
        rewrite = handler(self, event) if handler is not None else False
        self._log.append(event.to_dict())
        if rewrite:
            self.write_report()

    def _opened(self, event: RunOpened) -> bool:
        if event.environment:
            self.report["environment"] = event.environment
        if not self.resumed and event.data:
            self.report["data"] = event.data
        return False

    def _model_built(self, event: ModelBuilt) -> bool:
        rundir.atomic_write(self.run_dir / "model_summary.txt", event.summary + "\n")
        self.report["model"] = {
            "name": event.name,
            "params_total": event.params_total,
            "params_trainable": event.params_trainable,
            "params_non_trainable": event.params_non_trainable,
        }
        return False

    def _run_started(self, event: RunStarted) -> bool:
        if self.resumed:
            entry = {"from_epoch": event.initial_epoch, "time": event.time}
            self.report["resumed"] = [*self.report.get("resumed", []), entry]
        self._started = True
        return True

    def _epoch_ended(self, event: EpochEnded) -> bool:
        row = {key: getattr(event, key) for key in rundir.HISTORY_FIELDS}
        self.epochs.append(row)
        rundir.append_history(self.run_dir / "history.csv", row)
        return True

    def _profiled(self, event: ProfilerSummary) -> bool:
        # The xprof pass sends the summary a second time, with its reading added.
        self.report["input_pipeline"] = {
            key: value for key, value in event.to_dict().items() if key not in ("type", "time")
        }
        return True

    def _warned(self, event: RunWarning) -> bool:
        entry = {"code": event.code, "message": event.message}
        if entry in self.report["warnings"]:
            return False
        self.report["warnings"].append(entry)
        return self._started  # before training starts, the first report will hold it

    def _finished(self, event: RunFinished) -> bool:
        self.report["status"] = event.status
        if event.status == RunStatus.COMPLETED:
            self.report["test"] = {"loss": event.test_loss, "accuracy": event.test_accuracy}
        self.report["timing"] = {**self.report["timing"], "total_seconds": event.total_seconds}
        if event.status in BAD_ENDINGS:
            error = {"type": event.error_type or event.status, "message": event.message}
            if event.traceback:
                error["traceback"] = event.traceback
            self.report["error"] = error
        return True

    _HANDLERS: ClassVar[dict[type, Callable[[RunRecorder, Any], bool]]] = {
        RunOpened: _opened,
        ModelBuilt: _model_built,
        RunStarted: _run_started,
        EpochEnded: _epoch_ended,
        ProfilerSummary: _profiled,
        RunWarning: _warned,
        RunFinished: _finished,
    }

    def write_report(self) -> None:
        """``report.json`` and its human summary ``report.md``, each replaced atomically."""
        from core.storage.report import render_markdown

        self.report["epochs"] = self.epochs
        total = (self.report.get("timing") or {}).get("total_seconds")
        self.report["timing"] = rundir.timing(self.epochs, total)
        text = json.dumps(self.report, indent=2, default=rundir._json_default)
        rundir.atomic_write(self.run_dir / "report.json", text)
        rundir.atomic_write(self.run_dir / "report.md", render_markdown(self.report))

    # -- the checkpoint -----------------------------------------------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoint"

    def save_checkpoint(
        self, save: WeightsIO, row: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> None:
        """Save the epoch ``row`` finished: weights under a temporary name, renamed, then
        ``state.json`` naming them (with ``row`` and ``extra``, e.g. ReduceLROnPlateau's
        counters), then the older weights removed. A kill at any moment leaves a consistent
        pair. The epoch's EpochEnded event must follow: it writes history and report."""
        directory = self.checkpoint_dir
        directory.mkdir(exist_ok=True)
        epoch = row["epoch"]
        weights = directory / f"epoch-{epoch:04d}.weights.h5"
        tmp = directory / f".tmp-{epoch:04d}.weights.h5"
        save(tmp)
        tmp.replace(weights)
        state = {"epoch": epoch, "weights": weights.name, "row": row, **(extra or {})}
        rundir.atomic_write(directory / "state.json", json.dumps(state))
        for old in directory.glob("epoch-*.weights.h5"):
            if old != weights:
                old.unlink(missing_ok=True)

    def restore(self, load: WeightsIO) -> dict[str, Any] | None:
        """Load the last checkpoint's weights with ``load`` and make history agree with it: no
        epoch lost (killed between checkpoint and history) or counted twice. Returns the saved
        state (``epoch``, ``row`` and the extras), or None when no epoch had finished."""
        state_path = self.checkpoint_dir / "state.json"
        state = json.loads(state_path.read_text()) if state_path.exists() else None
        if state is not None:
            load(self.checkpoint_dir / state["weights"])
        done = state["epoch"] if state else 0
        path = self.run_dir / "history.csv"
        history = rundir.read_history(path)
        kept = [row for row in history if row["epoch"] <= done]
        if state and (not kept or kept[-1]["epoch"] < done):
            kept.append(state["row"])
        if len(kept) != len(history) or not path.exists():
            rundir.write_history(path, kept)
        self.epochs = kept
        return state


def _new_report(profile: Profile, command: str | None, run_dir: Path) -> dict[str, Any]:
    """A new run's report before anything happened; its keys in the order report.json shows."""
    return {
        "schema": rundir.SCHEMA,
        "status": RunStatus.RUNNING,
        "profile": profile.to_dict(),
        "command": command or f"cifar-tui --run {run_dir / 'profile.toml'}",
        "environment": {},
        "model": {},
        "epochs": [],
        "test": None,
        "input_pipeline": None,
        "timing": rundir.timing([], None),
        "warnings": [],
        "resumed": [],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data": None,
    }
