"""``cifar-tui --sweep``: a sweep's runs one after another, each shown as ``--run`` shows it.

The sweep itself is core.sweeps.loop's :class:`~core.sweeps.loop.SweepLoop`; this front prints
it. Between runs it prints one status line per run and an ETA for the whole sweep (the median
measured epoch time so far x the epochs left). Ctrl+C stops the current run as with ``--run``
(status "stopped") and then the sweep (exit 130); so do SIGTERM (exit 143), SIGHUP (exit 129)
and ``cifar-tui --stop SWEEP_DIR`` (SIGUSR1, exit 130), through the same handlers as ``--run``
(tui/cli/driver.py), installed once for the whole sweep. The same command resumes it: finished
runs are skipped, the stopped one resumes from its last epoch, the rest start. Exit codes: 0
every run completed, 1 some failed or diverged (the sweep goes on past them), 2 a bad sweep file
(nothing written) or a run that cannot start (the sweep ends there, its summary written, and the
error's one line is printed), 130 (129, 143) stopped.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from core.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, CifarTuiError
from core.events import EpochEnded, Event, RunFinished, RunWarning
from core.following.session import REQUEUED
from core.format import compile_text, duration, metric_text
from core.status import BAD_ENDINGS, FINISHED, RunStatus, style_of
from core.storage import rundir
from core.sweeps.loop import Listener, SweepHooks, SweepLoop, run_here, sweep_command
from core.sweeps.placement import SLURM_KEYS, place_sweep
from core.sweeps.search import trial_name
from core.sweeps.spec import Sweep, load_sweep
from core.sweeps.sweepdir import RESUME, SKIP, START, SweepDir, SweepEntry
from core.values import show_value
from tui.cli.driver import StopSignals, drive, use_plain
from tui.cli.render import LiveRenderer, PlainRenderer
from tui.tables import plain_text, rich_table


def run_sweep(args: argparse.Namespace) -> int:
    """The ``--sweep`` mode: validate every run first, then run them in turn (``--parallel N``:
    up to N at once, each in a process of its own; ``--slurm``: as Slurm jobs, which this
    command waits for on the login node: core/sweeps/placement.py)."""
    sweep = load_sweep(args.sweep, args.overrides)
    runs_dir = Path(args.runs_dir)
    rundir.check_writable(runs_dir)
    slurm = (
        {k: getattr(args, k, None) for k in SLURM_KEYS} if getattr(args, "slurm", False) else None
    )
    placement = place_sweep(sweep, runs_dir, getattr(args, "parallel", None) or 1, slurm)
    if placement.warning:
        print(f"warning: {placement.warning}", file=sys.stderr, flush=True)
    command = sweep_command(args.sweep, args.overrides, args.runs_dir, args.plain, placement.extra)
    driver = SweepDriver(
        sweep,
        runs_dir,
        plain=use_plain(args),
        command=command,
        make_run=placement.make_run,
        resume_run=placement.resume_run,
        parallel=placement.parallel,
    )
    placement.bind(driver.loop)
    if placement.note:
        driver.say(placement.note)
    return driver.execute()


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"  # as every front says accuracy


def results(entry: SweepEntry) -> str:
    """A finished run in a few words: its accuracies, or why it failed."""
    record = entry.record
    if record is None:
        return entry.status
    if entry.status == RunStatus.COMPLETED:
        return f"test accuracy {_acc(record.test_accuracy)}, val {_acc(record.best_val_accuracy)}"
    return entry.error_message or f"{entry.epochs_done} of {entry.epochs} epochs"


def outcome(entry: SweepEntry, finished: RunFinished | None) -> str:
    """How a run of this session ended: "completed in 1:05, test accuracy 41.0%, val 43.0%"."""
    took = f" in {duration(finished.total_seconds)}" if finished else ""
    if entry.status == RunStatus.COMPLETED:
        return f"completed{took}, {results(entry)}"
    if entry.status == RunStatus.STOPPED:
        said = f"stopped after {entry.epochs_done} of {entry.epochs} epochs"
        if finished and finished.stopped_by not in ("", "user"):
            # what stopped it: a signal, cifar-tui --stop, scancel, a time limit
            said += " " + (finished.message or finished.stopped_by).replace("stopped ", "", 1)
        return said
    if entry.status == RunStatus.PRUNED:  # a study's trial: the pruner says why
        why = finished.message if finished and finished.message else ""
        return f"pruned after {entry.epochs_done} of {entry.epochs} epochs" + (
            f" ({why.split(': ', 1)[-1]})" if why else ""
        )
    message = finished.message if finished and finished.message else results(entry)
    return f"{entry.status}{took}: {message}"


def eta_line(loop: SweepLoop) -> str:
    assert loop.sweep_dir is not None
    entries = loop.sweep_dir.entries
    eta = loop.eta()
    done = sum(e.status in FINISHED for e in entries)
    what = "trials" if loop.sweep.search is not None else "runs"
    if eta.seconds is None or eta.median_epoch_seconds is None:
        when = "ETA unknown (no epoch measured yet)"
    else:
        when = (
            f"ETA {duration(eta.seconds)} ({eta.epochs_left} epochs left at a median "
            f"{eta.median_epoch_seconds:.1f} s/epoch{compile_text(eta)})"
        )
    if loop.parallel > 1:  # the ETA shares the epochs left between the runs at once
        when = f"{len(loop.active)} running, up to {loop.parallel} at once; {when}"
    return f"sweep {loop.sweep.name}: {done} of {loop.sweep.planned} {what} finished; {when}"


def epoch_line(event: EpochEnded, epochs: int) -> str:
    """One run's epoch among runs at once: "epoch 2/3 3.2s loss 0.4800 accuracy 81.0% ..."."""
    parts = [f"epoch {event.epoch}/{epochs}", f"{event.seconds:.1f}s"]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        value = getattr(event, name, None)
        if value is not None:
            parts.append(f"{name} {metric_text(name, value)}")
    return "  ".join(parts)


def exit_code(loop: SweepLoop, stopped: int = EXIT_STOPPED) -> int:
    """``stopped``: the code of the stop that ended the sweep (130, 129, 143)."""
    assert loop.sweep_dir is not None
    statuses = [e.status for e in loop.sweep_dir.entries]
    done = len(statuses) >= loop.sweep.planned and all(s in FINISHED for s in statuses)
    if loop.stop_requested and not done:
        return stopped
    if any(s in BAD_ENDINGS for s in statuses):
        return EXIT_FAILED
    good = (RunStatus.COMPLETED, RunStatus.PRUNED)  # a pruned trial is a study's answer too
    return EXIT_OK if done and all(s in good for s in statuses) else stopped


class SweepDriver(SweepHooks):
    """The command line's face of the sweep loop: status lines, each run rendered as ``--run``
    renders it (the engine in a worker thread, Ctrl+C and rendering on the main thread)."""

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
        parallel: int = 1,
    ):
        """``make_run(profile)`` and ``resume_run(run_dir)`` default to the engine's Run.
        ``parallel`` > 1: up to that many runs at once, each on a thread of its own that waits
        for it (``make_run`` then makes process runs), shown as one line per epoch."""
        self.sweep = sweep
        self.plain = plain
        self.out = out or sys.stdout
        self.parallel = parallel
        self._said = threading.Lock()  # lines of runs at once stay whole
        self.signals = StopSignals(self._stop_all)
        self.loop = SweepLoop(
            sweep,
            runs_dir,
            self,
            command=command,
            make_run=make_run,
            resume_run=resume_run,
            execute=self._execute if parallel == 1 else run_here,
            parallel=parallel,
            idle=self.signals.announce,
        )
        self._renderer: Any = None
        self._console: Any = None
        if not plain:
            from rich.console import Console

            self._console = Console()

    # -- control ---------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop the current run after its current batch, then the sweep (any thread)."""
        self.loop.request_stop()

    def _stop_all(self, by: str) -> None:
        self.loop.request_stop(by)

    def _on_sigint(self, signum: int = signal.SIGINT, frame: Any = None) -> None:
        """A stop signal, as its handler takes it (tests call it between runs)."""
        self.signals.handle(signum, frame)

    def execute(self) -> int:
        """Run what is left of the sweep; returns the exit code. A run that cannot start raises
        its CifarTuiError once the sweep is closed: ``main`` prints its one line, exit 2."""
        with self.signals.installed():
            self.loop.run()
        if self.loop.error is not None:
            raise self.loop.error
        return exit_code(self.loop, self.signals.exit_code)

    def _execute(self, run: Any, listener: Listener) -> str:
        """One run, as ``--run`` runs it; the loop's listener sees each event before it shows."""
        renderer = PlainRenderer(self.out) if self.plain else LiveRenderer()
        self._renderer = renderer
        try:
            return drive(run, listener, self.signals)
        finally:
            self._renderer = None
            if hasattr(renderer, "close"):
                renderer.close()

    # -- output ----------------------------------------------------------------------------------

    def say(self, text: str, style: str = "") -> None:
        with self._said:
            if self._console is None:
                print(text, file=self.out, flush=True)
            else:
                from rich.text import Text

                self._console.print(Text(text, style=style))

    def _tag(self, entry: SweepEntry) -> str:
        return f"[{self._number(entry)}] {self.sweep.name} {self._name(entry)}"

    def _name(self, entry: SweepEntry) -> str:
        """A run's label; a study's trial with Optuna's number too ("trial 4 (Optuna #3)")."""
        return trial_name(entry.run.index) if self.sweep.search is not None else entry.label

    def _number(self, entry: SweepEntry) -> str:
        return f"{entry.run.index}/{self.sweep.planned}"

    # -- the loop's hooks ------------------------------------------------------------------------

    def sweep_started(self, loop: SweepLoop) -> None:
        assert loop.sweep_dir is not None
        plan = [loop.sweep_dir.action(e) for e in loop.sweep_dir.entries]
        parts = [f"{plan.count(START)} to start"]
        if plan.count(RESUME):
            parts.append(f"{plan.count(RESUME)} to resume")
        if plan.count(SKIP):
            parts.append(f"{plan.count(SKIP)} finished earlier")
        what = f"{len(plan)} runs"
        if self.sweep.search is not None:  # a study: its trials are asked as it goes
            parts[0] = f"{self.sweep.planned - len(plan)} to ask"
            if plan.count(START):  # asked, but killed before their run directory existed
                parts.insert(1, f"{plan.count(START)} to start again")
            what = f"a study of {self.sweep.search.describe()}"
        self.say(
            f"sweep {self.sweep.name}: {what} from {self.sweep.path} -> "
            f"{loop.sweep_dir.path} ({', '.join(parts)})",
            "bold",
        )
        self.say(eta_line(loop))

    def run_starting(self, entry: SweepEntry, action: str) -> None:
        name, number = self.sweep.name, self._number(entry)
        if action == SKIP:
            self.say(f"{self._tag(entry)}: {entry.status} earlier, skipped ({results(entry)})")
        elif action == RESUME:
            assert entry.record is not None  # what it was before this session started it
            what = f'run {number} "{entry.label}"'
            if self.sweep.search is not None:
                what = trial_name(entry.run.index, self.sweep.planned)
            self.say(
                f"sweep {name}: resuming {what} "
                f"({entry.record.status} after {entry.epochs_done} of {entry.epochs} epochs)",
                "bold",
            )
        elif self.sweep.search is not None:
            settings = " ".join(f"{k}={show_value(v)}" for k, v in entry.run.overrides.items())
            trial = trial_name(entry.run.index, self.sweep.planned)
            self.say(f"sweep {name}: starting {trial}: {settings}", "bold")
        else:
            self.say(f'sweep {name}: starting run {number} "{entry.label}"', "bold")

    def event(self, entry: SweepEntry, event: Event) -> None:
        if self._renderer is not None:
            self._renderer(event)
        elif self.parallel > 1 and isinstance(event, EpochEnded):  # runs at once: a line each
            self.say(f"{self._tag(entry)}: {epoch_line(event, entry.epochs)}")
        elif isinstance(event, RunWarning) and event.code == REQUEUED:  # a job goes on later
            self.say(f"{self._tag(entry)}: {event.message}", "yellow")

    def run_ended(
        self, entry: SweepEntry, finished: RunFinished | None, error: CifarTuiError | None
    ) -> None:
        if error is not None:
            return  # said once, as the sweep's error, when the sweep is closed
        self.say(f"{self._tag(entry)}: {outcome(entry, finished)}", style_of(entry.status))
        sweep_dir = self.loop.sweep_dir
        assert sweep_dir is not None
        left = any(sweep_dir.action(e) != SKIP for e in sweep_dir.entries)
        if left and not self.loop.stop_requested:
            self.say(eta_line(self.loop))

    def sweep_ended(self, loop: SweepLoop) -> None:
        if loop.sweep_dir is not None:
            self._footer(loop.sweep_dir)

    def _footer(self, sweep_dir: SweepDir) -> None:
        table = sweep_dir.summary_table()
        title = f"sweep {self.sweep.name}: {sweep_dir.status}"
        if self._console is None:
            print(plain_text(table, title), file=self.out, flush=True)
        else:
            self._console.print(rich_table(table, title, self._console.width))
        if self.sweep.search is not None:
            from core.sweeps.study import study_report

            for sentence in study_report(sweep_dir).sentences():
                self.say(sentence)
        self.say(f"summary: {sweep_dir.path / 'summary.md'} and summary.csv")
        if sweep_dir.status not in (RunStatus.COMPLETED, RunStatus.FAILED):
            command = self.loop.command or "cifar-tui --sweep ..."
            self.say(f"resume with the same command: {command}")
