"""The run directory's one writer: every file of a run, kept from the engine's events.

``RunRecorder.create`` makes a new run directory (``RunRecorder.reopen`` continues one), takes its
lock and writes ``profile.toml``; from then on it is one more listener of the run's events and
keeps ``events.jsonl``, ``history.csv``, ``model_summary.txt``, ``report.json`` and ``report.md``
from them alone, and ``system.jsonl``: every reading of the system sampler, appended. Beside
the events it keeps the checkpoint (``checkpoint/``), which holds weights no event carries: the
Keras callback hands it a function that saves them.

Durability (core/storage/rundir.py does the low-level writes): every file is append-only or
replaced atomically. An epoch counts as finished once its checkpoint is saved
(core/storage/checkpoint.py); its history row, its event and the report follow, and a kill in
between is repaired by ``restore`` from the row ``state.json`` keeps: every finished epoch ends
up in every file. ``report.json`` is written as soon as the directory exists. A full disk is
``DiskFull`` naming what could not be saved; the run's end is still recorded if it fits.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Profile
from core.dispatch import EventConsumer, dispatch
from core.evaluation import evaluated_report
from core.events import (
    BatchProgress,
    EpochEnded,
    Evaluated,
    Event,
    ModelBuilt,
    ProfilerSummary,
    RunFinished,
    RunOpened,
    RunStarted,
    RunWarning,
    SystemSampled,
)
from core.status import BAD_ENDINGS, PRUNER, RunStatus
from core.storage import checkpoint, rundir
from core.storage.system_report import SYSTEM_FILE, SystemSeries

#: Seconds between two writes of ``progress.json``: watchers see progress at most this late.
PROGRESS_FILE_INTERVAL = 0.5
WeightsIO = checkpoint.WeightsIO
#: The warning a resume of a damaged run directory leaves in its report.
REPAIRED = "repaired"


class RunRecorder(EventConsumer):
    """Owns every file of one run directory. Call it with each event, from the engine's thread
    (``on_<event type>`` handles each, core/dispatch.py); ``close`` at the end releases the
    lock."""

    def __init__(self, run_dir: Path, *, resumed: bool):
        """Use ``create`` or ``reopen``. Takes the run's lock: nothing is written without it."""
        self.run_dir = run_dir
        self.resumed = resumed
        self.report: dict[str, Any] = {}
        self.epochs: list[dict[str, Any]] = []
        #: Training time before this process resumed the run (set by ``reopen``).
        self.earlier_seconds = 0.0
        self._started = False  # a resumed run's report.json is rewritten from RunStarted on
        #: Warnings of the last ``restore`` (a checkpoint that did not load), for the engine.
        self.notes: list[str] = []
        #: A resume's ``--set`` (train.learning_rate), kept in the report's "resumed" entry.
        self.resume_set: list[str] = []
        #: Why the run's end could not be saved (a full disk): the last report stays.
        self.unsaved = ""
        self._rewrite = False
        self._log: rundir.EventLog | None = None
        self._progress_written = -PROGRESS_FILE_INTERVAL  # monotonic time of progress.json
        rundir.refuse_links(run_dir)  # nothing written may follow a link out of the run
        self._system_log: rundir.EventLog | None = None  # system.jsonl, opened at its 1st line
        #: The system readings' series for the report (core/storage/system_report.py).
        self.system = SystemSeries()
        self._lock = rundir.RunLock(run_dir)
        self._lock.acquire()  # raises if another process trains this run

    def _open(self, first_writes: Callable[[], None]) -> None:
        """Start the event log after ``first_writes``; on a failure, release the lock."""
        try:
            first_writes()
            self._log = rundir.EventLog(self.run_dir / "events.jsonl")
        except BaseException:
            self.close()
            raise

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def create(cls, runs_dir: Path, profile: Profile, command: str | None = None) -> RunRecorder:
        """A new ``runs/<stamp>-<name>`` directory holding the profile it will train and a first
        report: killed from then on, it reads as an interrupted run that ``--resume`` restarts.
        A full disk here is DiskFull, and leaves no directory behind."""
        from core.profiles import dump_profile

        with rundir.disk_guard("a new run directory", runs_dir):
            run_dir = rundir.new_run_dir(runs_dir, profile.name)
        try:
            with rundir.disk_guard("a new run directory", runs_dir):
                recorder = cls(run_dir, resumed=False)
            recorder.report = _new_report(profile, command, run_dir)
            recorder._started = True

            def first_writes() -> None:
                with rundir.disk_guard("a new run directory", runs_dir):
                    rundir.atomic_write(run_dir / "profile.toml", dump_profile(profile))
                recorder.write_report()

            recorder._open(first_writes)
        except rundir.DiskFull:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained in it
            raise
        return recorder

    @classmethod
    def reopen(cls, run_dir: Path) -> RunRecorder:
        """Continue ``run_dir``: its report and finished epochs as its files hold them."""
        recorder = cls(Path(run_dir), resumed=True)
        recorder._open(recorder._read_back)
        return recorder

    def _read_back(self) -> None:
        """The report and epochs as load_run reads them, damage replaced by what the other
        files say (the report is rewritten once training starts)."""
        rundir.remove_stale_temps(self.run_dir)
        record = rundir.load_run(self.run_dir)
        self.report, self.epochs = record.report, list(record.epochs)
        self.report.setdefault("schema", rundir.SCHEMA)
        if not self.report["command"]:
            self.report["command"] = run_command(self.run_dir)
        warnings = [w for w in self.report["warnings"] if w.get("code") != rundir.DAMAGED]
        if record.problems:
            message = (
                "Resumed a damaged run directory (" + record.damage + "); its files were rebuilt "
                "from history.csv, report.json and the checkpoint."
            )
            warnings.append({"code": REPAIRED, "message": message})
        self.report["warnings"] = warnings
        # The last total written, or (a killed run) the sum of its finished epochs.
        total = (self.report.get("timing") or {}).get("total_seconds")
        self.earlier_seconds = total or sum(e.get("seconds") or 0.0 for e in self.epochs)
        self.report["status"] = RunStatus.RUNNING
        self.report.pop("error", None)
        self.system = SystemSeries.from_report(self.report.get("system"))

    def close(self) -> None:
        """Stop recording and release the lock (the files stay as the last event left them)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._system_log is not None:
            self._system_log.close()
            self._system_log = None
        self._lock.release()

    # -- the events ---------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Record one event: its own file first (an epoch's history row), then the event log,
        then the report, so each file is at least as far along as the one after it."""
        if self._log is None:
            return
        if isinstance(event, BatchProgress):  # not logged: a run sends thousands
            self.on_batch_progress(event)
            return
        if isinstance(event, SystemSampled):  # system.jsonl's, not events.jsonl's
            self.on_system_sampled(event)
            return
        self._rewrite = False  # set by the handlers that change the report
        try:
            dispatch(self, event)
            with rundir.disk_guard("the event log", self.run_dir):
                self._log.append(event.to_dict())
            if self._rewrite:
                self.write_report()
        except rundir.DiskFull as exc:
            if not isinstance(event, RunFinished):
                raise  # the engine ends the run "failed" with this line
            self.unsaved = str(exc)  # the end of a run that already failed: the last report stays

    def on_batch_progress(self, event: BatchProgress) -> None:
        """``progress.json``, for watchers in other processes (core/storage/follow.py): replaced
        at most every PROGRESS_FILE_INTERVAL, and at each epoch's end. No fsync: it is a view."""
        now = time.monotonic()
        if event.step < event.steps and now - self._progress_written < PROGRESS_FILE_INTERVAL:
            return
        self._progress_written = now
        text = json.dumps(event.to_dict(), default=rundir._json_default)
        # A fresh temporary file (mkstemp): a link planted at a fixed name is not followed. A
        # view only: a full disk fails the next checkpoint, with a clear error.
        with contextlib.suppress(OSError):
            rundir.atomic_write(self.run_dir / "progress.json", text, sync=False)

    def on_system_sampled(self, event: SystemSampled) -> None:
        """One line more in ``system.jsonl`` (append-only; watchers read it as it grows), and
        a point of the report's series. Never fails the run: a reading that cannot be saved
        is lost, the next checkpoint says why the disk refuses."""
        self.system.add(event)
        try:
            if self._system_log is None:
                self._system_log = rundir.EventLog(self.run_dir / SYSTEM_FILE)
            self._system_log.append(event.to_dict())
        except OSError:
            pass

    def on_run_opened(self, event: RunOpened) -> None:
        if event.environment:
            self.report["environment"] = event.environment
        if not self.resumed and event.data:
            self.report["data"] = event.data

    def on_model_built(self, event: ModelBuilt) -> None:
        with rundir.disk_guard("the model summary", self.run_dir):
            rundir.atomic_write(self.run_dir / "model_summary.txt", event.summary + "\n")
        self.report["model"] = {
            "name": event.name,
            "params_total": event.params_total,
            "params_trainable": event.params_trainable,
            "params_non_trainable": event.params_non_trainable,
        }

    def on_run_started(self, event: RunStarted) -> None:
        if self.resumed:
            entry: dict[str, Any] = {"from_epoch": event.initial_epoch, "time": event.time}
            if self.resume_set:
                entry["set"] = list(self.resume_set)
            self.report["resumed"] = [*self.report.get("resumed", []), entry]
        self.system.unavailable = list(event.system_unavailable)
        self._started = self._rewrite = True

    def on_epoch_ended(self, event: EpochEnded) -> None:
        row = {key: getattr(event, key) for key in rundir.HISTORY_FIELDS}
        if event.system:
            row["system"] = dict(event.system)
        with rundir.disk_guard(f"epoch {event.epoch}'s history row", self.run_dir):
            rundir.append_history(self.run_dir / "history.csv", row)
        self.epochs.append(row)
        self._rewrite = True

    def on_profiler_summary(self, event: ProfilerSummary) -> None:
        # The xprof pass sends the summary a second time, with its reading added.
        self.report["input_pipeline"] = {
            key: value for key, value in event.to_dict().items() if key not in ("type", "time")
        }
        self._rewrite = True

    def on_warning(self, event: RunWarning) -> None:
        entry = {"code": event.code, "message": event.message}
        if entry not in self.report["warnings"]:
            self.report["warnings"].append(entry)
            self._rewrite = self._started  # a resumed run's report waits for RunStarted

    def on_evaluated(self, event: Evaluated) -> None:
        """The test pass's per-class figures (core/evaluation.py); RunFinished keeps them in
        the report's ``test`` for a completed run only."""
        self.report["test"] = evaluated_report(event)

    def on_run_finished(self, event: RunFinished) -> None:
        self.report["status"] = event.status
        if event.status == RunStatus.COMPLETED:
            test = {"loss": event.test_loss, "accuracy": event.test_accuracy}
            self.report["test"] = {**(self.report.get("test") or {}), **test}
        else:  # never figures of a pass whose run then failed
            self.report["test"] = None
        self.report["timing"] = {**self.report["timing"], "total_seconds": event.total_seconds}
        if event.status in (RunStatus.STOPPED, RunStatus.PRUNED):
            # Why it stopped (SIGTERM, SIGHUP, the user, --stop, the pruner), for every reader.
            by = event.stopped_by or (PRUNER if event.status == RunStatus.PRUNED else "user")
            self.report["stop"] = {"by": by, "message": event.message}
        else:
            self.report.pop("stop", None)
        if event.status in BAD_ENDINGS:
            error = {"type": event.error_type or event.status, "message": event.message}
            if event.traceback:
                error["traceback"] = event.traceback
            self.report["error"] = error
        self._rewrite = True

    def write_report(self) -> None:
        """``report.json`` and its human summary ``report.md``, each replaced atomically."""
        from core.storage.report import render_markdown

        self.report["epochs"] = self.epochs
        if self.system:
            self.report["system"] = self.system.to_report()
        total = (self.report.get("timing") or {}).get("total_seconds")
        self.report["timing"] = rundir.timing(self.epochs, total)
        text = json.dumps(self.report, indent=2, default=rundir._json_default)
        with rundir.disk_guard("the report", self.run_dir):
            rundir.atomic_write(self.run_dir / "report.json", text)
            markdown = render_markdown(self.report, self.run_dir)
            rundir.atomic_write(self.run_dir / "report.md", markdown)

    def save_model(self, save: WeightsIO, spec: dict[str, Any]) -> None:
        """The final model as ``model.keras``, written by ``save(path)`` to a temporary name
        and renamed (core/storage/model_file.py); ``spec``: the input it takes, for the report."""
        from core.storage.model_file import save_atomically

        with rundir.disk_guard("model.keras", self.run_dir):
            self.report["saved_model"] = save_atomically(self.run_dir, save, spec)

    def save_exports(self, formats: tuple[str, ...]) -> list[tuple[str, str]]:
        """The profile's ``[export] formats`` written to ``export/`` (core/export.py, each to a
        temporary name renamed), kept in the report's ``exports``; returns ``(format, why)``
        for each that could not be written."""
        from core.export import export_all, load_line

        self.write_report()  # with the test pass's class names, which the exports carry
        with rundir.disk_guard("the exports", self.run_dir):
            results = export_all(self.run_dir, formats)
        failed: list[tuple[str, str]] = []
        kept = [e for e in self.report.get("exports") or [] if e.get("format") not in formats]
        for fmt, done in zip(formats, results, strict=True):
            if isinstance(done, str):
                failed.append((fmt, done))
                continue
            # The report keeps run-relative paths (a child process reports absolute ones).
            path = Path(done.path).resolve().relative_to(self.run_dir.resolve())
            kept.append({**done.to_dict(), "path": str(path), "load": load_line(fmt, path)})
        self.report["exports"] = kept
        return failed

    # -- the checkpoint -----------------------------------------------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoint"

    def save_checkpoint(
        self,
        save: WeightsIO,
        row: dict[str, Any],
        extra: dict[str, Any] | None = None,
        need_bytes: int = 0,
    ) -> None:
        """Save the epoch ``row`` finished, with ``extra`` (ReduceLROnPlateau's counters, the
        random generators' states) beside it, and keep the previous epoch's checkpoint
        (core/storage/checkpoint.py). The epoch's EpochEnded event must follow: it writes
        history and report. ``need_bytes``: the weights' estimated size, for the first save."""
        checkpoint.save(self.checkpoint_dir, save, row, extra, need_bytes)

    def restore(self, load: WeightsIO) -> dict[str, Any] | None:
        """Load the newest checkpoint that loads with ``load`` and make every file agree with
        it: history.csv holds each epoch up to it once, garbage left out (rebuilt from the
        report's epochs where it lost rows), and events.jsonl an epoch_ended for each (a kill
        between checkpoint and event left one out). Returns the saved state (``epoch``,
        ``row`` and the extras), or None when no epoch had finished; ``notes`` then holds the
        warnings to show (a torn checkpoint that cost an epoch)."""
        path = self.run_dir / "history.csv"
        history = rundir.scan_history(path)
        known = {row["epoch"]: row for row in [*self.epochs, *history.rows]}
        state, self.notes = checkpoint.load(self.checkpoint_dir, load, known)
        done = state["epoch"] if state else 0
        if state is not None:
            known.setdefault(done, state["row"])
        kept = [known[epoch] for epoch in sorted(known) if epoch <= done]
        if kept != history.rows or history.garbage or not path.exists():
            with rundir.disk_guard("history.csv", self.run_dir):
                rundir.write_history(path, kept)
        self.epochs = kept
        self._log_missing_epochs()
        return state

    def _log_missing_epochs(self) -> None:
        assert self._log is not None
        events = rundir.read_events(self.run_dir / "events.jsonl")
        logged = {
            e.get("epoch")
            for e in events
            if e["type"] == "epoch_ended" and isinstance(e.get("epoch"), int)  # not hand-edited
        }
        for row in self.epochs:
            if row["epoch"] not in logged:
                with rundir.disk_guard("the event log", self.run_dir):
                    self._log.append(EpochEnded(**row).to_dict())

    def set_overrides(self, profile: Profile, overrides: list[str]) -> None:
        """A resume that changes a setting (``--set train.learning_rate=...``): the saved profile
        and the report say the new value from now on, and the "resumed" entry what was set."""
        from core.profiles import dump_profile

        with rundir.disk_guard("the profile", self.run_dir):
            rundir.atomic_write(self.run_dir / "profile.toml", dump_profile(profile))
        self.report["profile"] = profile.to_dict()
        self.resume_set = list(overrides)


def _new_report(profile: Profile, command: str | None, run_dir: Path) -> dict[str, Any]:
    """A new run's report before anything happened; its keys in the order report.json shows."""
    return {
        "schema": rundir.SCHEMA,
        "status": RunStatus.RUNNING,
        "profile": profile.to_dict(),
        "command": command or run_command(run_dir),
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


def run_command(run_dir: Path) -> str:
    """The command that repeats the run, for report.md's Repeat: quoted for a shell to paste
    (a runs directory may have a space, a quote or a ``$`` in its path)."""
    return "cifar-tui --run " + shlex.quote(str(run_dir / "profile.toml"))
