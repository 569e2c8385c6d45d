"""The two fixed kinds of sweep: a ``[grid]`` (the cartesian product of value lists, in file
order) and ``[[runs]]`` (each run written out with a label and a ``set`` table).

Each turns the file into run specs (``Spec``) that ``SweepReader.resolve`` makes runs of.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.sweeps.reader import Place, Spec, SweepReader
from core.values import cut, flatten, show, show_value, suggest

RUN_KEYS = ("label", "set", "base", "hparams")
#: Short names used in grid labels ("lr=0.002" reads better than "learning_rate=0.002").
SHORT_NAMES = {"learning_rate": "lr", "batch_size": "batch"}
MAX_RUNS = 1000
MAX_LABEL = 80


def short_names(keys: list[str]) -> dict[str, str]:
    """Each grid key as its labels name it: its last part, the whole key where two would clash."""
    short = {k: SHORT_NAMES.get(k.rsplit(".", 1)[-1], k.rsplit(".", 1)[-1]) for k in keys}
    clashes = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {k: (k if s in clashes else s) for k, s in short.items()}


# -- [grid] --------------------------------------------------------------------------------


def grid_specs(reader: SweepReader, base: Path | None, hparams: Path | None) -> list[Spec]:
    """The cartesian product of the grid's value lists, in file order."""
    axes = _grid_axes(reader)
    at = Place("[grid]", reader.span_of("grid"))
    for dotted, values in axes:
        _check_axis(reader, dotted, values, at)
    total = math.prod(len(values) for _, values in axes)
    if total > MAX_RUNS:
        raise reader.fail(
            f"[grid] expands to {total} runs; a sweep may have at most {MAX_RUNS}",
            key="grid",
        )
    if base is None:
        raise reader.fail(
            'a [grid] sweep needs base = "<run profile>" (relative to this file)', key="grid"
        )
    keys = [dotted for dotted, _ in axes]
    short = short_names(keys)
    specs = []
    for index, combo in enumerate(itertools.product(*(v for _, v in axes)), start=1):
        settings = dict(zip(keys, combo, strict=True))
        label = " ".join(f"{short[k]}={show_value(v)}" for k, v in settings.items())
        run_at = Place(f'[grid] run {index} "{cut(label)}"', at.span)
        specs.append(Spec(index, label, run_at, settings, base, hparams))
    return specs


def _grid_axes(reader: SweepReader) -> list[tuple[str, Any]]:
    """The grid's (dotted key, values) pairs; the grid must be a non-empty table."""
    grid = reader.raw["grid"]
    if not isinstance(grid, dict):
        raise reader.fail(
            f'[grid] must be a table of "table.key" = [values], got {show(grid)}',
            key="grid",
        )
    axes = list(flatten(grid).items())
    if not axes:
        raise reader.fail(
            "[grid] is empty: give at least one key and the values to try, "
            'e.g. "train.learning_rate" = [0.001, 0.002]',
            key="grid",
        )
    return axes


def _check_axis(reader: SweepReader, dotted: str, values: Any, at: Place) -> None:
    """One grid key: a non-empty list in which each value makes its own run."""
    if not isinstance(values, list):
        raise reader.fail(
            f"must be a list of the values to try, e.g. [{show(values)}], got {show(values)}",
            dotted,
            at,
        )
    if not values:
        raise reader.fail("is an empty list: give at least one value to try", dotted, at)
    shown = [show_value(v) for v in values]
    twice = sorted({s for s in shown if shown.count(s) > 1})
    if twice:
        raise reader.fail(f"lists {twice[0]} more than once: each value makes one run", dotted, at)


def runs_specs(reader: SweepReader, base: Path | None, hparams: Path | None) -> list[Spec]:
    """Each [[runs]] table, in file order."""
    runs = reader.raw["runs"]
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise reader.fail(
            "must be one or more [[runs]] tables, each with a label and a set table, "
            f"got {show(runs)}",
            key="runs",
        )
    labels: dict[str, int] = {}  # label -> the run that has it
    return [
        _run(reader, index, entry, labels, base, hparams)
        for index, entry in enumerate(runs, start=1)
    ]


def _run(
    reader: SweepReader,
    index: int,
    entry: dict[str, Any],
    labels: dict[str, int],
    base: Path | None,
    hparams: Path | None,
) -> Spec:
    """One [[runs]] table: its keys, its label, its settings and the profiles under them."""
    at = Place(f"[[runs]] {index}", reader.span_of("runs", index))
    for key in entry:
        if key not in RUN_KEYS:
            raise reader.fail(
                "unknown key in [[runs]]"
                + suggest(key, RUN_KEYS)
                + "; allowed: "
                + ", ".join(RUN_KEYS),
                key,
                at,
            )
    label = _run_label(reader, entry, labels, at)
    labels[label] = index
    at = replace(at, where=f'[[runs]] {index} "{label}"')
    settings = entry.get("set", {})
    if not isinstance(settings, dict):
        raise reader.fail(
            'must be a table of "table.key" = value, e.g. { "train.optimizer" = "sgd" }, '
            f"got {show(settings)}",
            "set",
            at,
        )
    run_base = reader.file(entry["base"], "base", at) if "base" in entry else base
    if run_base is None:
        raise reader.fail(
            'no base profile: add base = "<run profile>" at the top of the file or in this run',
            at=at,
            line=at.header_line,
        )
    run_hparams = reader.file(entry["hparams"], "hparams", at) if "hparams" in entry else hparams
    return Spec(index, label, at, flatten(settings), run_base, run_hparams)


def _run_label(
    reader: SweepReader, entry: dict[str, Any], labels: dict[str, int], at: Place
) -> str:
    """A run's label: present, one short line, and not another run's."""
    if "label" not in entry:
        raise reader.fail(
            'missing key "label" (a short name for the run, e.g. "sgd")',
            at=at,
            line=at.header_line,
        )
    label = entry["label"]
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL or "\n" in label:
        raise reader.fail(
            f"must be a non-empty one-line string of at most {MAX_LABEL} characters, "
            f"got {show(label)}",
            "label",
            at,
        )
    if label in labels:
        raise reader.fail(
            f'"{label}" is already the label of [[runs]] {labels[label]}: each run needs its own',
            "label",
            at,
        )
    return label
