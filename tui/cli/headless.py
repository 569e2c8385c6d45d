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
from core.events import Event
from core.hints import RunFigures
from core.status import RunStatus
from tui.cli.render import LiveRenderer, PlainRenderer

EXIT_FOR_STATUS = {
    RunStatus.COMPLETED: EXIT_OK,
    RunStatus.STOPPED: EXIT_STOPPED,
    RunStatus.FAILED: EXIT_FAILED,
    RunStatus.DIVERGED: EXIT_FAILED,
}


def use_plain(args: argparse.Namespace, stream: TextIO = sys.stdout) -> bool:
    return bool(
        getattr(args, "plain", False)
        or os.environ.get("NO_COLOR")
        or os.environ.get("CI")
        or not stream.isatty()
    )


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
    figures = RunFigures()  # for the one-line hint under the finish line
    run.subscribe(figures)
    status = drive(run, render)
    hint = figures.hint()
    if hint:
        print(f"hint: {hint}", flush=True)
    return EXIT_FOR_STATUS.get(status, EXIT_FAILED)


def run_sweep(args: argparse.Namespace) -> int:
    """``--sweep``: see tui/cli/sweep.py."""
    from tui.cli.sweep import run_sweep as sweep

    return sweep(args)


def compare(args: argparse.Namespace) -> int:
    """``--compare``: see tui/cli/compare.py."""
    from tui.cli.compare import compare as compare_runs

    return compare_runs(args)
