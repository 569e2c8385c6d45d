"""``cifar-tui --compare RUN_DIR...``: saved runs side by side, on the terminal and as files.

One row per run (the settings that differ first, then s/epoch, best validation accuracy, test
accuracy, input-bound %, parameters and status); for exactly two runs also each differing key and
each metric side by side with the difference. A sweep directory stands for its runs; a study's
(a [search] sweep) also gets its trials by objective, the best trial, how many were pruned and
the parameter importances (core/sweeps/study.py). The data comes from core/compare.py; this
module only draws it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from core.compare import Comparison, collect
from core.errors import EXIT_OK, CifarTuiError
from core.storage.rundir import atomic_write
from tui.cli.driver import use_plain
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
    studies = _studies(args.compare)
    for study in studies:
        tables.append((f"study {study.name}: trials by objective, best first", study.table()))
    if use_plain(args, out):
        print("\n\n".join(plain_text(t, heading) for heading, t in tables), file=out, flush=True)
    else:
        from rich.console import Console

        console = Console(file=out)
        for heading, t in tables:
            console.print(rich_table(t, heading, console.width))
    for study in studies:
        for sentence in study.sentences():
            print(f"study {study.name}: {sentence}", file=out, flush=True)
    for note in comparison.notes():  # a damaged run: what is wrong with it
        print(f"note: {note}", file=out, flush=True)
    for option, text in (("markdown", comparison.to_markdown), ("csv", comparison.to_csv)):
        target = getattr(args, option, None)
        if target:
            _write(Path(target), text())
            print(f"{option}: {target}", file=out, flush=True)
    return EXIT_OK


def _studies(paths: list[str]) -> list[Any]:
    """The study reports of the sweep directories among ``paths`` that hold a study."""
    from core.sweeps.study import report_at
    from core.sweeps.sweepfile import is_sweep_dir

    found = [report_at(Path(p)) for p in paths if is_sweep_dir(Path(p))]
    return [study for study in found if study is not None]


def _write(path: Path, text: str) -> None:
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise CifarTuiError(f"cannot write {path}: {exc.strerror or exc}") from None
