"""``cifar-tui --watch RUN_DIR``: follow a run that another process trains, from any terminal.

The run's files carry its events (core/storage/follow.py): they are rendered as ``--run``
renders them, a live table and progress bar on a terminal, plain lines when piped or with
``--plain``. The watcher ends when the run ends, with the run's exit code (0, 1, 129, 130,
143; 1 too for a run killed while watched). Ctrl+C only detaches the watcher (exit 0): the run
goes on. A run that is not live is shown as it ended: its epoch table and its status. Given a
sweep directory, it follows the run the sweep trains now.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.errors import EXIT_FAILED, EXIT_OK, RunDirError
from core.following.session import follow
from core.format import epoch_cells, epoch_line
from core.storage.control import exit_code_for, lock_holder
from core.storage.follow import RunFollower
from core.storage.index import live_runs
from core.storage.rundir import RunRecord, is_live, load_run, read_json
from core.table import Column, Table
from tui.cli.driver import use_plain
from tui.cli.render import LiveRenderer, PlainRenderer

#: Seconds between two looks at the files: rows and progress show well within 2 s.
POLL_SECONDS = 0.25


def watch(args: argparse.Namespace) -> int:
    run_dir = current_run(Path(args.watch))
    record = load_run(run_dir)  # RunDirError (exit 2) for what is not a run
    follower = RunFollower(run_dir)
    if not follower.is_live():
        _show_ended(record, use_plain(args))
        code = follower.exit_code()
        ending = follower.finished  # None: no ending in events.jsonl (killed, or older files)
        return code if ending is not None else exit_code_for(record.status)
    plain = use_plain(args)
    pid = lock_holder(run_dir)
    print(f"watching {run_dir} (pid {pid}); Ctrl+C stops watching, not the run", flush=True)
    render: Any = PlainRenderer(history=True) if plain else LiveRenderer()
    try:
        return _follow(run_dir, render)
    except KeyboardInterrupt:
        _close(render)
        print(f"\nstopped watching; the run goes on (pid {pid})", flush=True)
        return EXIT_OK
    finally:
        _close(render)


def current_run(path: Path) -> Path:
    """``path``, or for a sweep directory the run it trains now (else its last one started)."""
    try:
        runs = read_json(path / "sweep.json").get("runs") or []
    except (OSError, ValueError, AttributeError):
        return path
    runs = runs if isinstance(runs, list) else []  # a hand-edited sweep.json: checked by type
    started = [
        Path(r["run_dir"])
        for r in runs
        if isinstance(r, dict) and isinstance(r.get("run_dir"), str) and r["run_dir"]
    ]
    live = live_runs(started)  # through the runs index: a lock tried only where "running"
    chosen = (live or started or [None])[-1]
    if chosen is None:
        raise RunDirError(f"{path}: no run of this sweep has started yet")
    print(f"sweep {path.name}: its {'current' if live else 'last'} run is {chosen}", flush=True)
    return chosen


def _follow(run_dir: Path, render: Any) -> int:
    """Render the latest session's events as they come (core/following/session.py); the run's
    exit code at its end."""
    ending = follow(
        lambda: run_dir, render, lambda: not is_live(run_dir), latest=True, interval=POLL_SECONDS
    )
    assert ending is not None  # no stop event: it follows to the end
    if ending.finished is None:  # the lock went free with no ending written
        _close(render)
        print("the run's process ended without saving an ending: it was killed "
              "(status interrupted; --resume continues it)", flush=True)  # fmt: skip
        return EXIT_FAILED
    return exit_code_for(ending.finished.status, ending.finished.stopped_by)


def _close(render: Any) -> None:
    if hasattr(render, "close"):
        render.close()


def _show_ended(record: RunRecord, plain: bool) -> None:
    """A run no process trains: its epochs and how it ended."""
    title = f"{record.name} ({record.path}): {record.status}, not live"
    if plain:
        print(title)
        for row in record.epochs:
            print(epoch_line(row, _planned(record)))
    else:
        from rich.console import Console

        from tui.tables import rich_table

        Console().print(rich_table(_epoch_table(record), title))
    message = (record.report.get("error") or {}).get("message")
    if message:
        print(f"error: {message}")


def _planned(record: RunRecord) -> int:
    return int(((record.report.get("profile") or {}).get("train") or {}).get("epochs") or 0)


def _epoch_table(record: RunRecord) -> Table:
    from core.format import EPOCH_COLUMNS

    columns = [Column(name, name, "text") for name in EPOCH_COLUMNS]
    rows: list[list[Any]] = [epoch_cells(row, _planned(record)) for row in record.epochs]
    return Table(columns, rows)
