"""The sweep directory, ``<runs-dir>/sweeps/<name>-<hash>/``: what a sweep has done so far.

It holds ``sweep.json`` (the sweep file, and for each run its label, settings, run directory or
null, and status) and a summary table, ``summary.md`` and ``summary.csv``, refreshed after each
run. The runs themselves are ordinary run directories in the runs directory, and they are the
truth: every status is re-read from them, so a sweep stopped or killed at any moment resumes by
skipping what finished, resuming what stopped and starting the rest. The hash in the name comes
from the expanded, resolved runs: the same command finds the same directory; changed settings
(a ``--set`` too) make a new sweep.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core.compare import METRICS, differing_keys
from core.errors import RunDirError
from core.eta import Eta, estimate
from core.status import BAD_ENDINGS, FINISHED, RunStatus
from core.storage.rundir import RunLock, RunRecord, atomic_write, load_run
from core.sweeps.reader import SCHEMA, Sweep, SweepRun
from core.sweeps.sweepfile import (
    SWEEP_FILE,
    SWEEPS_FOLDER,
    locate,
    sweep_run_dirs,
    try_read_sweep_file,
)
from core.table import Column, Table
from core.values import flatten

__all__ = ["SWEEPS_FOLDER", "SWEEP_FILE", "Eta", "SweepDir", "SweepEntry", "sweep_run_dirs"]
#: What a sweep does with a run (``SweepDir.action``); FINISHED (core.status) runs are skipped:
#: a failed or diverged run would do the same again.
SKIP, RESUME, START = "skip", "resume", "start"
SUMMARY_METRICS = tuple(m for m in METRICS if m.attr != "params")


@dataclass
class SweepEntry:
    """One run of the sweep and where it stands."""

    run: SweepRun
    run_dir: Path | None = None
    status: str = RunStatus.PENDING  # pending, running, then a run status (or interrupted)
    started: float | None = None
    record: RunRecord | None = None

    @property
    def label(self) -> str:
        return self.run.label

    @property
    def epochs(self) -> int:
        return self.run.profile.train.epochs

    @property
    def epochs_done(self) -> int:
        return len(self.record.epochs) if self.record else 0

    @property
    def error_message(self) -> str:
        """Why the run failed or diverged, as its report says ("" if it says nothing)."""
        return self.record.error_message if self.record is not None else ""

    @property
    def epochs_left(self) -> int:
        return 0 if self.status in FINISHED else max(0, self.epochs - self.epochs_done)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.run.index,
            "label": self.label,
            "overrides": self.run.overrides,
            "base": str(self.run.base),
            "hparams": str(self.run.hparams) if self.run.hparams else None,
            "name": self.run.profile.name,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "status": self.status,
            "started": self.started,
        }


class SweepFeed(Protocol):
    """Where the runs come from (core/sweeps/source.py RunSource): it adds runs earlier sessions
    made before sweep.json is read back, and its own parts of sweep.json and the summary (a
    study's settings and trials). The directory never imports the study."""

    def restore(self, sweep_dir: SweepDir) -> None: ...

    def sweep_json(self, sweep_dir: SweepDir) -> dict[str, Any]: ...

    def summary_table(self, sweep_dir: SweepDir) -> Table | None: ...

    def summary_lines(self, sweep_dir: SweepDir) -> list[str]: ...


class SweepDir:
    """An open sweep directory, locked against a second process running the same sweep."""

    def __init__(self, path: Path, sweep: Sweep, runs_dir: Path, command: str = ""):
        self.path = path
        self.sweep = sweep
        self.runs_dir = runs_dir
        self.command = command
        self.entries = [SweepEntry(run) for run in sweep.runs]
        self.state: str = "incomplete"  # the sweep loop sets "running" and "stopped"
        self.error: str | None = None  # why the sweep could not go on (a run could not start)
        self._lock = RunLock(path)
        self.source: SweepFeed | None = None

    @classmethod
    def open(
        cls,
        runs_dir: Path,
        sweep: Sweep,
        command: str = "",
        source: SweepFeed | None = None,
    ) -> SweepDir:
        """Create or reopen the sweep's directory and read back what earlier sessions did
        (``source``: a study adds the trials it holds first, and writes its own parts)."""
        path = Path(runs_dir) / SWEEPS_FOLDER / sweep.dir_name
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create {path}: {exc.strerror or exc}") from None
        sweep_dir = cls(path, sweep, Path(runs_dir), command)
        try:
            sweep_dir._lock.acquire()
        except RunDirError:
            raise RunDirError(
                f"this sweep is already running in another process ({path})"
            ) from None
        sweep_dir.source = source
        if source is not None:
            try:
                source.restore(sweep_dir)
            except BaseException:
                sweep_dir.close()
                raise
        sweep_dir._read_back()
        sweep_dir.save()
        sweep_dir.write_summary()
        return sweep_dir

    def close(self) -> None:
        self._lock.release()

    # -- state -----------------------------------------------------------------------------------

    def _read_back(self) -> None:
        previous = try_read_sweep_file(self.path)
        old_runs = previous.runs if previous is not None else ()
        for entry, old in zip(self.entries, old_runs, strict=False):
            if old.label != entry.label:
                continue
            entry.started = old.started
            if old.run_dir is not None:
                entry.run_dir = locate(old.run_dir, self.runs_dir)
        for entry in self.entries:
            self.refresh(entry)
        self._adopt_orphans()

    def refresh(self, entry: SweepEntry) -> None:
        """Re-read one run's status from its run directory."""
        entry.record = None
        if entry.run_dir is None or not entry.run_dir.is_dir():
            entry.run_dir = None
            entry.status = RunStatus.PENDING
            return
        # A damaged run reads as what its files still say (load_run), and a resume rebuilds
        # it; one killed before it saved its profile has nothing to resume: start it afresh.
        try:
            record = load_run(entry.run_dir)
        except RunDirError:
            record = None
        if record is None or not record.report["profile"]:
            entry.run_dir = None
            entry.status = RunStatus.PENDING
            return
        entry.record = record
        entry.status = record.status

    def _adopt_orphans(self) -> None:
        """A run started but killed before sweep.json named its directory: find it by profile."""
        claimed = {e.run_dir.resolve() for e in self.entries if e.run_dir is not None}
        for entry in self.entries:
            if entry.run_dir is not None or entry.started is None:
                continue
            want = json.dumps(entry.run.profile.to_dict(), sort_keys=True)
            for child in sorted(self.runs_dir.iterdir()):
                if child.name == SWEEPS_FOLDER or not child.is_dir():
                    continue
                if child.resolve() in claimed or child.stat().st_mtime < entry.started - 2:
                    continue
                try:
                    record = load_run(child)
                except RunDirError:
                    continue
                if json.dumps(record.report.get("profile"), sort_keys=True) == want:
                    entry.run_dir = child.resolve()
                    claimed.add(entry.run_dir)
                    self.refresh(entry)
                    break

    def action(self, entry: SweepEntry) -> str:
        """SKIP a finished run, RESUME a stopped or interrupted one, START the rest."""
        if entry.status in FINISHED:
            return SKIP
        if entry.run_dir is not None and entry.record is not None:
            return RESUME
        return START

    def mark_started(self, entry: SweepEntry) -> None:
        entry.started = time.time()
        entry.status = RunStatus.RUNNING
        self.save()

    def attach(self, entry: SweepEntry, run_dir: Path) -> None:
        """Record a new run's directory as soon as the engine has made it."""
        entry.run_dir = Path(run_dir).resolve()
        self.save()

    def finish(self, entry: SweepEntry) -> None:
        self.refresh(entry)
        self.save()
        self.write_summary()

    @property
    def status(self) -> str:
        """completed, failed (all finished, some failed or diverged), running, stopped, or
        incomplete (not running now, runs left)."""
        statuses = [e.status for e in self.entries]
        # A study's trials not asked for yet are not finished either.
        if len(statuses) >= self.sweep.planned and all(s in FINISHED for s in statuses):
            if any(s in BAD_ENDINGS for s in statuses):
                return RunStatus.FAILED
            return RunStatus.COMPLETED
        return self.state

    def eta(self, live_seconds: list[float] | tuple[float, ...] = ()) -> Eta:
        """The steady epoch time (the median epoch after each run's first) x epochs left, plus
        what each run still to start spends compiling: its first epoch's extra time over a
        steady one (``live_seconds``: epochs of the run going on now that its record does not
        hold yet; none yet means it is compiling now)."""
        firsts: list[float] = []
        steady: list[float] = []
        for e in self.entries:
            rows = e.record.epochs if e.record is not None else []
            for row in rows:
                if row.get("seconds") is not None:
                    (firsts if row.get("epoch") == 1 else steady).append(row["seconds"])
        live = list(live_seconds)
        firsts += live[:1]
        steady += live[1:]
        left = max(0, sum(e.epochs_left for e in self.entries) - len(live))
        # Runs that still compile: those not begun (a resumed one compiles again, too) and the
        # live one until its first epoch is measured.
        starts = sum(1 for e in self.entries if e.epochs_left and e.epochs_done == 0)
        if live:
            starts = max(0, starts - 1)
        if self.sweep.search is not None:  # trials still to ask: at most the base's epochs
            asked = max(0, self.sweep.planned - len(self.entries))
            left += asked * self.sweep.search.epochs
            starts += asked
        return estimate(steady, left, firsts, starts)

    # -- files -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = self._dict()
        if self.source is not None:
            data.update(self.source.sweep_json(self))
        return data

    def _dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "name": self.sweep.name,
            "description": self.sweep.description,
            "sweep_file": str(self.sweep.path.resolve()),
            "hash": self.sweep.digest,
            "set": list(self.sweep.overrides),
            "command": self.command,
            "runs_dir": str(self.runs_dir.resolve()),
            "status": self.status,
            "error": self.error,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "runs": [e.to_dict() for e in self.entries],
        }

    def save(self) -> None:
        atomic_write(self.path / SWEEP_FILE, json.dumps(self.to_dict(), indent=2, default=str))

    def summary_table(self) -> Table:
        """label, status, the settings that differ between the runs, then the measurements (a
        study: its trials, best objective first)."""
        table = self.source.summary_table(self) if self.source is not None else None
        if table is not None:
            return table
        keys = differing_keys([flatten(e.run.profile.to_dict()) for e in self.entries])
        columns = [
            Column("#", "index", "number"),
            Column("label", "label"),
            Column("status", "status"),
            *(Column(k, k, "setting") for k in keys),
            *(Column(m.title, m.attr, m.kind) for m in SUMMARY_METRICS),
            Column("run dir", "run_dir", csv_only=True),
        ]
        rows = []
        for e in self.entries:
            settings = flatten(e.run.profile.to_dict())
            rows.append(
                [
                    e.run.index,
                    e.label,
                    e.status,
                    *(settings.get(k) for k in keys),
                    *(getattr(e.record, m.attr) if e.record else None for m in SUMMARY_METRICS),
                    str(e.run_dir) if e.run_dir else None,
                ]
            )
        return Table(columns, rows)

    def write_summary(self) -> None:
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.status] = counts.get(e.status, 0) + 1
        lines = [f"# Sweep {self.sweep.name}: {self.status}", ""]
        if self.sweep.description:
            lines += [self.sweep.description, ""]
        if self.error:
            lines += [f"Stopped by an error: {self.error}", ""]
        lines.append(f"- sweep file: `{self.sweep.path}`")
        if self.command:
            lines.append(f"- command: `{self.command}`")
        if self.source is not None:
            lines += self.source.summary_lines(self)
        lines += [
            f"- runs: {len(self.entries)} ("
            + ", ".join(f"{n} {status}" for status, n in counts.items())
            + ")",
            f"- run directories: `{self.runs_dir}`",
            f"- updated: {time.strftime('%Y-%m-%d %H:%M:%S')}",
            "",
            self.summary_table().to_markdown(),
            "s/epoch is the median epoch after the first (which compiles the model). "
            f"Compare runs: `cifar-tui --compare {shlex.quote(str(self.path))}`.",
        ]
        atomic_write(self.path / "summary.md", "\n".join(lines) + "\n")
        atomic_write(self.path / "summary.csv", self.summary_table().to_csv())
