"""Headless front: ``--run``, ``--resume`` (``--sweep`` and ``--compare`` live beside it) with Rich.

The engine runs in a worker thread and sends events through a queue; the main thread renders
them and owns Ctrl+C: the first one asks the engine to stop after the current batch (status
"stopped", exit 130), a second one exits at once (the files on disk are always consistent).
On a terminal the epochs form a live table under a progress bar; piped, in CI, with NO_COLOR or
--plain, each epoch is one plain line, with no control characters and no per-batch lines.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from core.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED
from core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    ProfilerSummary,
    RunFinished,
    RunStarted,
    RunWarning,
    Status,
)
from core.training.profiler import VERDICT_TEXT

EXIT_FOR_STATUS = {
    "completed": EXIT_OK,
    "stopped": EXIT_STOPPED,
    "failed": EXIT_FAILED,
    "diverged": EXIT_FAILED,
}


def use_plain(args: argparse.Namespace, stream: TextIO = sys.stdout) -> bool:
    return bool(
        getattr(args, "plain", False)
        or os.environ.get("NO_COLOR")
        or os.environ.get("CI")
        or not stream.isatty()
    )


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def epoch_line(e: EpochEnded, epochs: int) -> str:
    return (
        f"epoch {e.epoch}/{epochs}  {e.seconds:.2f}s  loss {_fmt(e.loss)}  "
        f"accuracy {_fmt(e.accuracy)}  val_loss {_fmt(e.val_loss)}  "
        f"val_accuracy {_fmt(e.val_accuracy)}  lr {_fmt(e.lr, '.2e')}"
    )


def profiler_line(e: ProfilerSummary) -> str:
    return (
        f"input pipeline: {e.input_bound_percent:.1f}% input-bound "
        f"({VERDICT_TEXT[e.verdict]}) over {e.batches_measured} batches; " + " ".join(e.advice)
    )


def finished_line(e: RunFinished, run_dir: str | None) -> str:
    test = (
        f"test accuracy {_fmt(e.test_accuracy)}, test loss {_fmt(e.test_loss)}; "
        if e.test_accuracy is not None
        else ""
    )
    message = f": {e.message.rstrip('.')}" if e.message else ""
    return (
        f"run {e.status}{message}. {test}"
        f"{e.total_seconds:.1f} s in all. Report: {run_dir}/report.md"
    )


class PlainRenderer:
    """One line per epoch and per notable event; nothing per batch."""

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self.epochs = 0
        self.run_dir: str | None = None
        self.profiled = False

    def __call__(self, event: Event) -> None:
        line = None
        if isinstance(event, RunStarted):
            self.epochs, self.run_dir = event.epochs, event.run_dir
            resumed = f", resuming after epoch {event.initial_epoch}" if event.initial_epoch else ""
            line = (
                f"run {event.name} -> {event.run_dir}: {event.params_total:,} parameters, "
                f"{event.train_images} train / {event.val_images} val / {event.test_images} "
                f"test images, {event.steps_per_epoch} steps per epoch, {event.backend} on "
                f"{', '.join(event.devices)}{resumed}"
            )
        elif isinstance(event, EpochEnded):
            line = epoch_line(event, self.epochs)
        elif isinstance(event, ProfilerSummary):
            # Sent again at the end with xprof's reading of the trace added: print only that.
            line = profiler_line(event) if not self.profiled else None
            if "xprof" in event.details:
                line = f"xprof: {event.details['xprof']}"
            self.profiled = True
        elif isinstance(event, RunWarning):
            line = f"warning: {event.message}"
        elif isinstance(event, RunFinished):
            line = finished_line(event, self.run_dir)
        if line is not None:
            print(line, file=self.out, flush=True)


class LiveRenderer:
    """A live Rich table of epochs with a progress bar (and ETA) for the current epoch."""

    def __init__(self) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = Console()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task = None
        self.rows: list[EpochEnded] = []
        self.epochs = 0
        self.status = "starting"
        self.run_dir: str | None = None
        self.live = Live(
            Group(self._table(), self.progress),
            console=self.console,
            refresh_per_second=4,
            transient=False,
        )
        self._group = Group
        self.live.start()

    def _table(self):
        from rich.table import Table

        table = Table(title=self.status, title_justify="left")
        for col in ("epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            table.add_column(col, justify="right")
        for e in self.rows[-20:]:
            table.add_row(
                f"{e.epoch}/{self.epochs}",
                f"{e.seconds:.2f}",
                _fmt(e.loss),
                _fmt(e.accuracy),
                _fmt(e.val_loss),
                _fmt(e.val_accuracy),
                _fmt(e.lr, ".2e"),
            )
        return table

    def _refresh(self) -> None:
        self.live.update(self._group(self._table(), self.progress))

    def __call__(self, event: Event) -> None:
        if isinstance(event, Status):
            self.status = event.message
        elif isinstance(event, RunStarted):
            self.epochs, self.run_dir = event.epochs, event.run_dir
            self.status = f"{event.name}: {event.params_total:,} parameters on " + ", ".join(
                event.devices
            )
        elif isinstance(event, BatchProgress):
            desc = f"epoch {event.epoch}/{self.epochs}"
            if self.task is None:
                self.task = self.progress.add_task(desc, total=event.steps, loss="-")
            self.progress.update(
                self.task,
                description=desc,
                completed=event.step,
                total=event.steps,
                loss=f"{event.loss:.4f}",
            )
        elif isinstance(event, EpochEnded):
            self.rows.append(event)
        elif isinstance(event, ProfilerSummary):
            if "xprof" in event.details:
                self.console.print(f"xprof: {event.details['xprof']}", markup=False)
            else:
                self.console.print(profiler_line(event), markup=False)
        elif isinstance(event, RunWarning):
            self.console.print(f"[bold yellow]warning:[/] {event.message}")
        elif isinstance(event, RunFinished):
            self._refresh()
            self.live.stop()
            style = "green" if event.status == "completed" else "bold red"
            self.console.print(f"[{style}]{finished_line(event, self.run_dir)}[/]")
            return
        self._refresh()

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()


def drive(run: Any, render: Any) -> str:
    """Run the engine in a worker thread; render its events and handle Ctrl+C here."""
    events: queue.Queue[Event | None] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["status"] = run.execute()
        except BaseException as exc:  # surfaced in the main thread below
            outcome["error"] = exc
        finally:
            events.put(None)

    run.subscribe(events.put)
    interrupts = 0

    def on_sigint(signum, frame):
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            print(
                "\nstopping after the current batch (Ctrl+C again to quit at once)",
                file=sys.stderr,
                flush=True,
            )
            run.request_stop()
        else:
            os._exit(EXIT_STOPPED)

    previous = signal.signal(signal.SIGINT, on_sigint)
    worker = threading.Thread(target=work, name="cifar-tui-engine", daemon=True)
    worker.start()
    try:
        while True:
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if event is None:
                break
            render(event)
    finally:
        signal.signal(signal.SIGINT, previous)
        if hasattr(render, "close"):
            render.close()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["status"]


def run_headless(args: argparse.Namespace) -> int:
    from core.profiles import load_profile
    from core.training.engine import Run

    if args.resume:
        run = Run.resume(Path(args.resume))
    else:
        profile = load_profile(args.run, args.hparams, args.overrides)
        run = Run(profile, Path(args.runs_dir))
    render = PlainRenderer() if use_plain(args) else LiveRenderer()
    status = drive(run, render)
    return EXIT_FOR_STATUS.get(status, EXIT_FAILED)


def run_sweep(args: argparse.Namespace) -> int:
    """``--sweep``: see tui/cli/sweep.py."""
    from tui.cli.sweep import run_sweep as sweep

    return sweep(args)


def compare(args: argparse.Namespace) -> int:
    """``--compare``: see tui/cli/compare.py."""
    from tui.cli.compare import compare as compare_runs

    return compare_runs(args)
