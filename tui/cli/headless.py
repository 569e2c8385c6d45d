"""Headless front: ``--run`` and ``--resume`` with Rich (``--sweep`` and ``--compare`` live
beside it; the driver they share, signals included, is tui/cli/driver.py).

On a terminal the epochs form a live table under a progress bar; piped, in CI, with NO_COLOR or
--plain, each epoch is one plain line, with no control characters and no per-batch lines.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from core.hints import RunFigures
from core.storage.control import exit_code_for
from tui.cli.driver import drive, use_plain
from tui.cli.render import LiveRenderer, PlainRenderer


def run_headless(args: argparse.Namespace) -> int:
    """``--run`` or ``--resume`` (the storage-level rule, through ``Run.resume``); the exit code."""
    from core.profiles import load_profile
    from core.training.engine import Run

    if args.resume:
        run = Run.resume(Path(args.resume), overrides=args.overrides)
    else:
        profile = load_profile(args.run, args.hparams, args.overrides)
        run = Run(profile, Path(args.runs_dir))
    from tui.cli.detach import note_run_dir

    note_run_dir(run)  # a detached child tells its parent where the run lives
    render = PlainRenderer() if use_plain(args) else LiveRenderer()
    figures = RunFigures()  # for the one-line hint under the finish line
    run.subscribe(figures)
    status = drive(run, render)
    hint = figures.hint()
    if hint:
        with contextlib.suppress(OSError):
            print(f"hint: {hint}", flush=True)
    return exit_code_for(status, getattr(run, "stopped_by", ""))
