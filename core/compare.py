"""Saved runs side by side: the settings that differ, then what each run measured.

Data only (no terminal): ``tui/cli/compare.py`` renders it, ``core/sweeps/sweepdir.py`` reuses it
for a sweep's summary. Settings are compared as flat dotted keys of each run's resolved profile,
so a comparison reads in the same words as the profiles and ``--set``.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import RunDirError
from core.evaluation import ClassResults, class_results
from core.relevance import applies
from core.status import RunStatus, status_with_cause
from core.storage.rundir import RunRecord, load_run, looks_like_run
from core.sweeps.sweepfile import SWEEP_FILE, is_sweep_dir, sweep_run_dirs
from core.table import Column, Table, format_cell, format_delta
from core.values import flatten, show_value

#: Profile keys that label a run rather than set it up.
NOT_SETTINGS = ("name", "description", "export.formats")  # what a run exports: not how it trained


@dataclass(frozen=True)
class Metric:
    attr: str  # RunRecord property, and the CSV header
    title: str
    kind: str


METRICS = (
    Metric("seconds_per_epoch", "s/epoch", "seconds"),  # median of the epochs after the first
    Metric("best_val_accuracy", "best val acc", "accuracy"),
    Metric("test_accuracy", "test acc", "accuracy"),
    Metric("input_bound_percent", "input-bound %", "percent"),
    Metric("params", "params", "count"),
)


@dataclass
class RunRow:
    """One run as a comparison sees it."""

    label: str
    path: Path | None
    status: RunStatus | str  # what a damaged report says stays as it is written
    settings: dict[str, Any]  # flat dotted keys of the resolved profile
    metrics: dict[str, Any]
    #: What is wrong with the run's files ("" when nothing is): the status says "damaged".
    damage: str = ""
    #: Per-class accuracy and the confusion matrix of its test pass (None: the run has none).
    classes: ClassResults | None = None

    @classmethod
    def from_record(cls, record: RunRecord, label: str | None = None) -> RunRow:
        status = RunStatus.parse(record.status) or record.status
        if record.stopped_by:  # "stopped (SIGTERM)"
            status = status_with_cause(status, record.stopped_by)
        return cls(
            label=label or record.path.name,
            path=record.path,
            status=f"{status}, damaged" if record.damage else status,
            settings=flatten(record.report.get("profile") or {}),
            metrics={m.attr: getattr(record, m.attr) for m in METRICS},
            damage=record.damage,
            classes=class_results(record.report),
        )

    def setting(self, key: str) -> Any:
        """The run's value of ``key``, or None ("-") where the key changes nothing for it."""
        return self.settings.get(key) if applies(key, self.settings) else None

    @property
    def worst_class(self) -> str | None:
        """ "cat 61.2%": the class it gets wrong most often."""
        worst = self.classes.worst_class() if self.classes else None
        return f"{worst[0]} {worst[1] * 100:.1f}%" if worst else None


def _shown(value: Any) -> str:
    return "-" if value is None else show_value(value)


def differing_keys(settings: list[dict[str, Any]]) -> list[str]:
    """Dotted keys whose values are not all the same, in profile order (a missing key differs),
    among the runs where the key is used at all (core/relevance.py: ``data.synthetic_*`` of a
    folder run, ``train.momentum`` of an Adam run change nothing, so they differ in nothing)."""
    keys: list[str] = []
    for flat in settings:
        keys += [k for k in flat if k not in keys and k not in NOT_SETTINGS]

    def same(key: str) -> bool:
        first = _comparable(settings[0].get(key, "<missing>"))
        # Stops at the first difference; a plain value is not dumped (1,000 runs x 60 keys).
        # A key that changes nothing for a run (core/relevance.py) neither differs nor counts.
        shown = [flat for flat in settings if applies(key, flat)]
        if not shown:
            return True
        first = _comparable(shown[0].get(key, "<missing>"))
        return all(_comparable(flat.get(key, "<missing>")) == first for flat in shown[1:])

    return [k for k in keys if not same(k)]


def _comparable(value: Any) -> Any:
    """A setting as compared: its type with it (1, 1.0 and true differ, as in JSON)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value)
    return json.dumps(value, sort_keys=True)


@dataclass
class Comparison:
    rows: list[RunRow]
    keys: list[str]

    @classmethod
    def of(cls, rows: list[RunRow]) -> Comparison:
        return cls(rows, differing_keys([r.settings for r in rows]))

    def table(self) -> Table:
        """One row per run: differing settings first, then the metrics and the status."""
        columns = [
            Column("run", "run"),
            *(Column(k, k, "setting") for k in self.keys),
            *(Column(m.title, m.attr, m.kind) for m in METRICS),
            *([Column("worst class", "worst_class")] if self.has_classes else []),
            Column("status", "status"),
            Column("run dir", "run_dir", csv_only=True),
        ]
        rows = [
            [
                r.label,
                *(r.setting(k) for k in self.keys),
                *(r.metrics.get(m.attr) for m in METRICS),
                *([r.worst_class] if self.has_classes else []),
                r.status,
                str(r.path) if r.path else None,
            ]
            for r in self.rows
        ]
        return Table(columns, rows)

    def pair_table(self) -> Table | None:
        """For exactly two runs: each differing key and each metric, both values side by side."""
        if len(self.rows) != 2:
            return None
        a, b = self.rows
        columns = [
            Column("", "item"),
            Column(a.label, "a"),
            Column(b.label, "b"),
            Column("difference (b - a)", "difference", "number"),
        ]
        rows: list[list[Any]] = [
            [key, _shown(a.setting(key)), _shown(b.setting(key)), ""] for key in self.keys
        ]
        for m in METRICS:
            va, vb = a.metrics.get(m.attr), b.metrics.get(m.attr)
            rows.append(
                [
                    m.title,
                    format_cell(va, m.kind),
                    format_cell(vb, m.kind),
                    format_delta(va, vb, m.kind),
                ]
            )
        rows.append(["status", a.status, b.status, ""])
        return Table(columns, rows)

    @property
    def has_classes(self) -> bool:
        """Whether any run has per-class figures (older runs have none: no empty column)."""
        return any(r.classes is not None for r in self.rows)

    def class_table(self) -> Table | None:
        """For two runs with per-class figures over the same classes: each class's accuracy
        side by side, with the difference."""
        if len(self.rows) != 2:
            return None
        a, b = (r.classes for r in self.rows)
        if a is None or b is None or a.class_names != b.class_names:
            return None
        columns = [
            Column("class", "class"),
            Column(self.rows[0].label, "a", "accuracy"),
            Column(self.rows[1].label, "b", "accuracy"),
            Column("difference (b - a)", "difference", "number"),
        ]
        rows = []
        for name in a.class_names:
            va, vb = a.per_class[name], b.per_class[name]
            rows.append([name, va, vb, format_delta(va, vb, "accuracy")])
        return Table(columns, rows)

    def notes(self) -> list[str]:
        """One line for each damaged run: what is wrong, and where its figures come from."""
        return [
            f"{r.label} is damaged: {r.damage}. Its figures come from what still reads; "
            f"--resume {shlex.quote(str(r.path))} rebuilds its files."
            for r in self.rows
            if r.damage
        ]

    def to_markdown(self) -> str:
        lines = [f"# Comparison of {len(self.rows)} runs", ""]
        if self.keys:
            lines += ["Settings that differ: " + ", ".join(f"`{k}`" for k in self.keys), ""]
        else:
            lines += ["The runs have the same settings.", ""]
        lines.append(self.table().to_markdown())
        pair = self.pair_table()
        if pair is not None:
            lines += ["## Side by side", "", pair.to_markdown()]
        per_class = self.class_table()
        if per_class is not None:
            lines += ["## Per class", "", per_class.to_markdown()]
        notes = self.notes()
        if notes:
            lines += ["## Damaged runs", "", *(f"- {note}" for note in notes), ""]
        lines += ["## Run directories", ""]
        lines += [f"- {r.label}: `{r.path}`" for r in self.rows]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        return self.table().to_csv()


def collect(paths: list[Path]) -> list[RunRow]:
    """Runs named on the command line; a sweep directory stands for its started runs."""

    rows: list[RunRow] = []
    seen: set[Path] = set()

    def add(run_dir: Path) -> None:
        key = run_dir.resolve()
        if key not in seen:
            seen.add(key)
            rows.append(RunRow.from_record(load_run(run_dir)))

    for path in paths:
        if is_sweep_dir(path):
            run_dirs = sweep_run_dirs(path)
            if not run_dirs:
                raise RunDirError(f"{path}: this sweep has no started runs yet")
            indexed = _indexed(run_dirs)  # a sweep of 1,000 runs: the runs index, not 1,000 reads
            for run_dir in run_dirs:
                key = run_dir.resolve()
                if key in indexed and key not in seen:
                    seen.add(key)
                    rows.append(RunRow.from_record(indexed[key]))  # type: ignore[arg-type]
                else:
                    add(run_dir)
        elif looks_like_run(path):  # however early it was killed, or damaged
            add(path)
        else:
            if not path.exists():
                raise RunDirError(f"{path}: no such run or sweep directory")
            raise RunDirError(
                f"{path} is not a run directory (no report.json or history.csv) "
                f"nor a sweep directory (no {SWEEP_FILE})"
            )
    return rows


def _indexed(run_dirs: list[Path]) -> dict[Path, Any]:
    """These runs from the runs index of their runs directory (core/storage/index.py), each
    checked against its files' signature and read again where it changed; by resolved path."""
    from core.storage.index import RunIndex

    found: dict[Path, Any] = {}
    by_parent: dict[Path, list[Path]] = {}
    for run_dir in run_dirs:
        resolved = run_dir.resolve()
        by_parent.setdefault(resolved.parent, []).append(resolved)
    for parent, dirs in by_parent.items():
        index = RunIndex(parent)
        try:
            found.update(index.lookup(dirs))
        finally:
            index.close()
    return found
