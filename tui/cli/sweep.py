"""``cifar-tui --sweep``: a sweep's runs one after another, each shown as ``--run`` shows it.

Between runs it prints one status line per run and an ETA for the whole sweep (the median
measured epoch time so far x the epochs left). Ctrl+C stops the current run as with ``--run``
(status "stopped") and then the sweep (exit 130); the same command resumes it: finished runs are
skipped, the stopped one resumes from its last epoch, the rest start. Exit codes: 0 every run
completed, 1 some failed or diverged (the sweep goes on past them), 2 a bad sweep file (nothing
written), 130 stopped.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from core.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED
from core.events import EpochEnded, Event, RunFinished
from core.storage import rundir
from core.sweeps.spec import Sweep, load_sweep
from core.sweeps.sweepdir import FINISHED, SweepDir, SweepEntry
from core.training.engine import release_models
from tui.cli.headless import LiveRenderer, PlainRenderer, drive, use_plain
from tui.tables import plain_text, rich_table


def run_sweep(args: argparse.Namespace) -> int:
    """The ``--sweep`` mode: validate every run first, then run them in turn."""
    sweep = load_sweep(args.sweep, args.overrides)
    runs_dir = Path(args.runs_dir)
    rundir.check_writable(runs_dir)
    driver = SweepDriver(sweep, runs_dir, plain=use_plain(args), command=sweep_command(args))
    return driver.execute()


def sweep_command(args: argparse.Namespace) -> str:
    """The command line that repeats (and so resumes) this sweep."""
    parts = ["cifar-tui", "--sweep", args.sweep]
    for item in args.overrides:
        parts += ["--set", item]
    parts += ["--runs-dir", str(args.runs_dir)]
    if args.plain:
        parts.append("--plain")
    return shlex.join(parts)


def duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class _Tracker:
    """Sits between the engine's events and a run renderer: notes the run directory as soon as
    it exists (so a killed sweep finds it) and the epoch times (for the sweep's ETA)."""

    def __init__(self, sweep_dir: SweepDir, entry: SweepEntry, run: Any, renderer: Any):
        self.sweep_dir, self.entry, self.run, self.renderer = sweep_dir, entry, run, renderer
        self.seconds: list[float] = []
        self.finished: RunFinished | None = None

    def __call__(self, event: Event) -> None:
        if self.entry.run_dir is None and getattr(self.run, "run_dir", None) is not None:
            self.sweep_dir.attach(self.entry, self.run.run_dir)
        if isinstance(event, EpochEnded):
            self.seconds.append(event.seconds)
        elif isinstance(event, RunFinished):
            self.finished = event
        self.renderer(event)

    def close(self) -> None:
        if hasattr(self.renderer, "close"):
            self.renderer.close()


class SweepDriver:
    """Runs a validated sweep in this process: skip, resume or start each run, then summarize."""

    def __init__(
        self,
        sweep: Sweep,
        runs_dir: Path,
        *,
        plain: bool = True,
        command: str = "",
        out: TextIO | None = None,
        make_run: Callable[[Any], Any] | None = None,
        resume_run: Callable[[Path], Any] | None = None,
    ):
        """``make_run(profile)`` and ``resume_run(run_dir)`` default to the engine's Run."""
        self.sweep = sweep
        self.runs_dir = Path(runs_dir)
        self.plain = plain
        self.command = command
        self.out = out or sys.stdout
        self.stop = threading.Event()
        self.current_run: Any = None
        self._make_run = make_run
        self._resume_run = resume_run
        self._tracker: _Tracker | None = None
        self._console: Any = None
        if not plain:
            from rich.console import Console

            self._console = Console()

    # -- control ---------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop the current run after its current batch, then the sweep (any thread)."""
        self.stop.set()
        if self.current_run is not None:
            self.current_run.request_stop()

    def _on_sigint(self, signum: int, frame: Any) -> None:
        """Ctrl+C between runs (during a run, drive() handles it and the run stops)."""
        if self.stop.is_set():
            os._exit(EXIT_STOPPED)
        self.request_stop()
        print("\nstopping the sweep (Ctrl+C again to quit at once)", file=sys.stderr, flush=True)

    # -- output ----------------------------------------------------------------------------------

    def say(self, text: str, style: str = "") -> None:
        if self._console is None:
            print(text, file=self.out, flush=True)
        else:
            from rich.text import Text

            self._console.print(Text(text, style=style))

    def _eta_line(self, sweep_dir: SweepDir) -> str:
        live = self._tracker.seconds if self._tracker else []
        eta = sweep_dir.eta(live)
        done = sum(e.status in FINISHED for e in sweep_dir.entries)
        if eta.seconds is None:
            when = "ETA unknown (no epoch measured yet)"
        else:
            assert eta.median_epoch_seconds is not None
            when = (
                f"ETA {duration(eta.seconds)} ({eta.epochs_left} epochs left at a median "
                f"{eta.median_epoch_seconds:.1f} s/epoch)"
            )
        return f"sweep {self.sweep.name}: {done} of {len(sweep_dir.entries)} runs finished; {when}"

    def _results(self, entry: SweepEntry) -> str:
        record = entry.record
        if record is None:
            return entry.status
        if entry.status == "completed":
            return (
                f"test accuracy {_acc(record.test_accuracy)}, val {_acc(record.best_val_accuracy)}"
            )
        error = (record.report.get("error") or {}).get("message", "")
        return error or f"{entry.epochs_done} of {entry.epochs} epochs"

    def _outcome(self, entry: SweepEntry, finished: RunFinished | None) -> str:
        took = f" in {duration(finished.total_seconds)}" if finished else ""
        if entry.status == "completed":
            return f"completed{took}, {self._results(entry)}"
        if entry.status == "stopped":
            return f"stopped after {entry.epochs_done} of {entry.epochs} epochs"
        message = finished.message if finished and finished.message else self._results(entry)
        return f"{entry.status}{took}: {message}"

    # -- the sweep -------------------------------------------------------------------------------

    def execute(self) -> int:
        """Run what is left of the sweep; returns the exit code."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_sigint) if main else None
        try:
            sweep_dir = SweepDir.open(self.runs_dir, self.sweep, self.command)
        except BaseException:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            raise
        try:
            sweep_dir.state = "running"
            sweep_dir.save()
            self._header(sweep_dir)
            for entry in sweep_dir.entries:
                if self.stop.is_set():
                    break
                self._one(sweep_dir, entry)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            sweep_dir.state = "stopped" if self.stop.is_set() else "incomplete"
            sweep_dir.save()
            sweep_dir.write_summary()
            sweep_dir.close()
        self._footer(sweep_dir)
        statuses = [e.status for e in sweep_dir.entries]
        if self.stop.is_set() and not all(s in FINISHED for s in statuses):
            return EXIT_STOPPED
        if any(s in ("failed", "diverged") for s in statuses):
            return EXIT_FAILED
        return EXIT_OK if all(s == "completed" for s in statuses) else EXIT_STOPPED

    def _header(self, sweep_dir: SweepDir) -> None:
        plan = [sweep_dir.action(e) for e in sweep_dir.entries]
        parts = [f"{plan.count('start')} to start"]
        if plan.count("resume"):
            parts.append(f"{plan.count('resume')} to resume")
        if plan.count("skip"):
            parts.append(f"{plan.count('skip')} finished earlier")
        self.say(
            f"sweep {self.sweep.name}: {len(plan)} runs from {self.sweep.path} -> "
            f"{sweep_dir.path} ({', '.join(parts)})",
            "bold",
        )
        self.say(self._eta_line(sweep_dir))

    def _one(self, sweep_dir: SweepDir, entry: SweepEntry) -> None:
        count = len(sweep_dir.entries)
        number = f"{entry.run.index}/{count}"
        tag = f"[{number}] {self.sweep.name} {entry.label}"
        action = sweep_dir.action(entry)
        if action == "skip":
            self.say(f"{tag}: {entry.status} earlier, skipped ({self._results(entry)})")
            return
        from core.training.engine import Run

        if action == "resume":
            assert entry.run_dir is not None
            self.say(
                f'sweep {self.sweep.name}: resuming run {number} "{entry.label}" '
                f"({entry.status} after {entry.epochs_done} of {entry.epochs} epochs)",
                "bold",
            )
            run = (self._resume_run or Run.resume)(entry.run_dir)
        else:
            self.say(f'sweep {self.sweep.name}: starting run {number} "{entry.label}"', "bold")
            run = (
                self._make_run(entry.run.profile)
                if self._make_run
                else Run(entry.run.profile, self.runs_dir)
            )
        sweep_dir.mark_started(entry)
        self.current_run = run  # from here a Ctrl+C also stops the run itself
        if self.stop.is_set():  # Ctrl+C while the run was being set up: leave it untouched
            self.current_run = None
            entry.started = None
            sweep_dir.refresh(entry)
            sweep_dir.save()
            return
        renderer = PlainRenderer(self.out) if self.plain else LiveRenderer()
        tracker = self._tracker = _Tracker(sweep_dir, entry, run, renderer)
        try:
            status = drive(run, tracker)
        finally:
            self.current_run = None
            self._tracker = None
            if entry.run_dir is None and getattr(run, "run_dir", None) is not None:
                entry.run_dir = Path(run.run_dir).resolve()
            sweep_dir.finish(entry)
            release_models()
        if status == "stopped" or run.stop_requested:
            self.stop.set()
        style = "green" if entry.status == "completed" else "bold red"
        self.say(f"{tag}: {self._outcome(entry, tracker.finished)}", style)
        if any(sweep_dir.action(e) != "skip" for e in sweep_dir.entries) and not self.stop.is_set():
            self.say(self._eta_line(sweep_dir))

    def _footer(self, sweep_dir: SweepDir) -> None:
        table = sweep_dir.summary_table()
        title = f"sweep {self.sweep.name}: {sweep_dir.status}"
        if self._console is None:
            print(plain_text(table, title), file=self.out, flush=True)
        else:
            self._console.print(rich_table(table, title))
        self.say(f"summary: {sweep_dir.path / 'summary.md'} and summary.csv")
        if sweep_dir.status not in ("completed", "failed"):
            self.say(f"resume with the same command: {self.command or 'cifar-tui --sweep ...'}")
