"""``cifar-tui --compare RUN_DIR...``: saved runs side by side, on the terminal and as files.

One row per run (the settings that differ first, then s/epoch, best validation accuracy, test
accuracy, input-bound %, parameters and status); for exactly two runs also each differing key and
each metric side by side with the difference. A sweep directory stands for its runs. The data
comes from core/compare.py; this module only draws it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from core.compare import Comparison, collect
from core.errors import EXIT_OK, CifarTuiError
from core.storage.rundir import atomic_write
from tui.cli.headless import use_plain
from tui.tables import plain_text, rich_table


def compare(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    comparison = Comparison.of(collect([Path(p) for p in args.compare]))
    title = f"{len(comparison.rows)} runs"
    title += (
        ": settings that differ first" if comparison.keys else ": the runs have the same settings"
    )
    tables = [(title, comparison.table())]
    pair = comparison.pair_table()
    if pair is not None:
        tables.append(("side by side", pair))
    per_class = comparison.class_table()
    if per_class is not None:
        tables.append(("per-class test accuracy", per_class))
    if use_plain(args, out):
        print("\n\n".join(plain_text(t, heading) for heading, t in tables), file=out, flush=True)
    else:
        from rich.console import Console

        console = Console(file=out)
        for heading, t in tables:
            console.print(rich_table(t, heading))
    for note in comparison.notes():  # a damaged run: what is wrong with it
        print(f"note: {note}", file=out, flush=True)
    for option, text in (("markdown", comparison.to_markdown), ("csv", comparison.to_csv)):
        target = getattr(args, option, None)
        if target:
            _write(Path(target), text())
            print(f"{option}: {target}", file=out, flush=True)
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise CifarTuiError(f"cannot write {path}: {exc.strerror or exc}") from None
