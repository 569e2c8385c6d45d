"""The compare screen: saved runs side by side, and their curves overlaid.

The table is ``core.compare``'s (the same as ``cifar-tui --compare``): the settings that differ
first, then s/epoch, best validation accuracy, test accuracy, input-bound %, parameters and
status; for exactly two runs also each difference side by side. The console writes them in its
own words so they fit 80 columns: short setting names ("lr"), short headers, accuracy as a
percentage as on the runs screen, and each status with its mark. The validation accuracy of every
run is drawn in one plot, each run with its own marker (training loss beside it when the terminal
is wide enough). ``e`` writes the comparison to ``<runs-dir>/compare-<time>.md`` and ``.csv``
with core.compare's exports.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.compare import METRICS, Comparison, RunRow, collect
from core.errors import CifarTuiError
from core.format import percent, percent_points
from core.status import mark_of
from core.storage.rundir import RunRecord, atomic_write, load_run
from core.sweeps.spec import SHORT_NAMES
from core.table import format_cell, format_delta
from core.values import show_value
from tui.console.screens.runs import planned_epochs
from tui.console.widgets.plots import MARKERS, MetricPlot

if TYPE_CHECKING:
    from tui.console.app import CifarTuiApp

#: A run directory's name: <YYYYmmdd>-<HHMMSS>-<profile name>.
STAMP = re.compile(r"^(\d{8})-(\d{6})-(.+)$")
#: Up to this many differing settings name a run's curve ("lr=0.002"); more, and its directory.
LABEL_KEYS = 2
#: The console's headers for core.compare's metrics: short enough for 80 columns.
HEADERS = {
    "seconds_per_epoch": "s/ep",
    "best_val_accuracy": "best val",
    "test_accuracy": "test",
    "input_bound_percent": "input",
}


#: The metrics that leave the table, in this order, when it is wider than the screen
#: (fit_columns); the accuracies always stay.
NARROW_DROP = ("params", "input_bound_percent", "seconds_per_epoch")


#: Columns a vertical scrollbar takes (Textual's default), kept free for the runs table.
SCROLLBAR = 2


#: Headers that would read alike side by side ("batch" next to "batches"): said in full.
CLEAR_NAMES = {"train.batch_size": "batch_size", "profiler.batches": "profiler.batches"}


def short(key: str) -> str:
    """A setting's short name: "lr" for train.learning_rate, "optimizer" for train.optimizer."""
    if key in CLEAR_NAMES:
        return CLEAR_NAMES[key]
    last = key.rsplit(".", 1)[-1]
    return SHORT_NAMES.get(last, last)


def shown(value: object) -> str:
    """A setting's value; "-" where it changes nothing for that run (core/relevance.py)."""
    return "-" if value is None else show_value(value)


def cell_text(value: object, kind: str) -> str:
    """A comparison value as the console writes it: accuracy as a percentage, as elsewhere,
    and the input-bound share with its % sign."""
    if kind == "accuracy" and isinstance(value, (int, float)):
        return percent(value)
    if kind == "percent" and isinstance(value, (int, float)):
        return percent_points(value)
    return format_cell(value, kind)


def delta_text(a: object, b: object, kind: str) -> str:
    """``b - a``: percentage points for accuracy and the input-bound share ("+12.0 pts"),
    else core's delta."""
    numbers = all(isinstance(v, (int, float)) for v in (a, b))
    if kind in ("accuracy", "percent"):
        scale = 100 if kind == "accuracy" else 1
        return f"{(b - a) * scale:+.1f} pts" if numbers else ""  # type: ignore[operator]
    return format_delta(a, b, kind)


def status_text(row: RunRow) -> str:
    return f"{mark_of(row.status)} {row.status}"


def series_labels(comparison: Comparison) -> list[str]:
    """A short, unique name per run for the plots' legends: its differing settings when they
    are few ("lr=0.001"), else its run directory's name."""
    rows = comparison.rows
    if comparison.keys and len(comparison.keys) <= LABEL_KEYS:
        labels = [
            " ".join(f"{short(k)}={shown(row.setting(k))}" for k in comparison.keys) for row in rows
        ]
        if len(set(labels)) == len(labels):
            return labels
    return run_names(comparison)


def plotted_runs(records: list[RunRecord], labels: list[str]) -> list[tuple[str, RunRecord]]:
    """The runs whose curves are drawn: all, up to one per marker; past that, the best by
    validation accuracy (more would share markers and could not be told apart)."""
    runs = list(zip(labels, records, strict=True))
    if len(runs) <= len(MARKERS):
        return runs
    best = sorted(runs, key=lambda run: -(run[1].best_val_accuracy or 0.0))[: len(MARKERS)]
    return [run for run in runs if run in best]


def key_text(drawn: list[tuple[str, RunRecord]], total: int, width: int = 0) -> str:
    """ "key: • lr=0.001  + lr=0.002 ...": every curve's marker and run, and what is left out;
    given a ``width``, its lines break between runs, never between a marker and its run."""
    pairs = zip(drawn, MARKERS, strict=False)  # at most one run per marker (plotted_runs)
    items = ["key:", *(f"{marker} {label}" for (label, _), marker in pairs)]
    if len(drawn) < total:
        items.append(f"({len(drawn)} of {total} runs drawn: the best by validation accuracy)")
    if width <= 0:
        return items[0] + " " + "  ".join(items[1:])
    lines = [items[0]]
    for item in items[1:]:
        gap = " " if lines[-1] == "key:" else "  "
        if cell_len(lines[-1] + gap + item) <= width:
            lines[-1] += gap + item
        else:
            lines.append(item)
    return "\n".join(lines)


def export_comparison(comparison: Comparison, folder: Path, stamp: str) -> tuple[Path, Path]:
    """Write ``compare-<stamp>.md`` and ``.csv`` in ``folder`` (never over an earlier export)."""
    folder.mkdir(parents=True, exist_ok=True)
    base, n = f"compare-{stamp}", 1
    while (folder / f"{base}.md").exists() or (folder / f"{base}.csv").exists():
        n += 1
        base = f"compare-{stamp}-{n}"
    markdown, table = folder / f"{base}.md", folder / f"{base}.csv"
    atomic_write(markdown, comparison.to_markdown())
    atomic_write(table, comparison.to_csv())
    return markdown, table


@dataclass(frozen=True)
class MainColumn:
    """A column of the one-row-per-run table: its header and cells in the console's words."""

    header: str
    cells: tuple[str, ...]
    left: bool = False  # names and settings read left to right, numbers right
    attr: str = ""  # core.compare's metric, "status", or "" for the run and its settings

    @property
    def width(self) -> int:
        """Its width in a DataTable: the widest of header and cells, a cell of padding each side."""
        return max(cell_len(text) for text in (self.header, *self.cells)) + 2

    @property
    def same(self) -> bool:
        return len(set(self.cells)) == 1


def main_columns(comparison: Comparison) -> list[MainColumn]:
    """The one-row-per-run table, column by column: the run, the settings that differ, the
    metrics, the status."""
    metrics = [m for m in METRICS if m.attr != "params" or _differ(comparison, "params")]
    rows = comparison.rows
    columns = [MainColumn("run", tuple(run_names(comparison)), left=True)]
    columns += [
        MainColumn(short(k), tuple(shown(row.setting(k)) for row in rows), left=True)
        for k in comparison.keys
    ]
    columns += [
        MainColumn(
            HEADERS.get(m.attr, m.title),
            tuple(cell_text(row.metrics.get(m.attr), m.kind) for row in rows),
            attr=m.attr,
        )
        for m in metrics
    ]
    columns.append(MainColumn("status", tuple(status_text(row) for row in rows), attr="status"))
    return columns


def table_width(columns: list[MainColumn]) -> int:
    return sum(column.width for column in columns)


def fit_columns(columns: list[MainColumn], width: int) -> tuple[list[MainColumn], list[str]]:
    """The columns that fit ``width`` whole, and what the table leaves out, said in a line.

    In turn, while the table is too wide: a metric that is the same for every run leaves the
    table for the line ("input 0.8% for every run"); the status keeps only its mark, next to the
    run, and the line says what each mark means; the metrics that differ but matter least go
    (their values stay in the side-by-side table and the exports). The run's name, the settings
    that differ and the accuracies always stay: past that, the table scrolls sideways.
    """
    notes: list[str] = []
    shown = list(columns)
    for attr in NARROW_DROP:
        if table_width(shown) <= width:
            return shown, notes
        column = next((c for c in shown if c.attr == attr and c.same), None)
        if column is not None:
            shown.remove(column)
            notes.append(f"{column.header} {column.cells[0]} for every run")
    if table_width(shown) > width:
        status = next(c for c in shown if c.attr == "status")
        shown.remove(status)
        marks = tuple(cell.split(" ", 1)[0] for cell in status.cells)
        shown.insert(1, MainColumn("", marks, left=True, attr="status"))
        notes.append("  ".join(dict.fromkeys(status.cells)))  # each mark and its word, once
    left_out = []
    for attr in NARROW_DROP:
        if table_width(shown) <= width:
            break
        column = next((c for c in shown if c.attr == attr), None)
        if column is not None:
            shown.remove(column)
            left_out.append(column.header)
    if left_out:
        notes.append(f"{', '.join(left_out)}: left out at this width (e exports every column)")
    return shown, notes


def run_names(comparison: Comparison) -> list[str]:
    """Each run's name as a narrow table shows it whole: its directory's name without the
    date ("smoke-lr-0.002"; "130052-smoke" or "1205-130052-smoke" where two would read alike);
    the title and the exports keep the full directory."""
    labels = [row.label for row in comparison.rows]
    stamped = [STAMP.match(label) for label in labels]
    if not all(stamped):
        return labels
    names = [m.group(3) for m in stamped if m]
    if len(set(names)) == len(names):
        return names
    for form in ("{time}-{name}", "{day}-{time}-{name}"):
        shorter = [
            form.format(day=m.group(1)[4:], time=m.group(2), name=m.group(3)) for m in stamped if m
        ]
        if len(set(shorter)) == len(shorter):
            return shorter
    return labels


def _differ(comparison: Comparison, attr: str) -> bool:
    """Whether the runs differ in a metric: the same model's parameter count is left out of
    the table (the side-by-side view and the exports keep it), so the rest fits 80 columns."""
    return len({row.metrics.get(attr) for row in comparison.rows}) > 1


def pair_cells(comparison: Comparison, labels: list[str]) -> tuple[list[str], list[list[str]]]:
    """Two runs side by side: each differing setting and each metric, and the difference."""
    a, b = comparison.rows
    rows = [[short(k), shown(a.setting(k)), shown(b.setting(k)), ""] for k in comparison.keys]
    for m in METRICS:
        va, vb = a.metrics.get(m.attr), b.metrics.get(m.attr)
        title = HEADERS.get(m.attr, m.title)
        rows.append(
            [title, cell_text(va, m.kind), cell_text(vb, m.kind), delta_text(va, vb, m.kind)]
        )
    rows.append(["status", status_text(a), status_text(b), ""])
    return ["", labels[0], labels[1], "b - a"], rows


def fill_table(widget: DataTable, headers: list[str], rows: list[list[str]], left: int) -> None:
    """Cells in a DataTable: the first ``left`` columns (names) to the left, numbers right."""
    widget.clear(columns=True)
    for index, header in enumerate(headers):
        widget.add_column(Text(header, justify="left" if index < left else "right"))
    for row in rows:
        widget.add_row(
            *(Text(cell, justify="left" if i < left else "right") for i, cell in enumerate(row))
        )


class CompareScreen(Screen):
    """Runs (or sweep directories, standing for their runs) compared."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("e", "export", "Export"),  # .md and .csv (help says so)
    ]

    app: CifarTuiApp

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.comparison: Comparison | None = None
        self.records: list[RunRecord] = []
        self.labels: list[str] = []
        self.columns: list[MainColumn] = []
        self.shown_headers: list[str] | None = None
        self.drawn: list[tuple[str, RunRecord]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-title", markup=False)
        with VerticalScroll(id="compare-tables"):
            yield DataTable(id="compare-table", cursor_type="none", zebra_stripes=True)
            yield Static(id="compare-note", markup=False)  # what a narrow table leaves out
            yield Static("side by side", id="compare-pair-title", classes="compare-heading")
            yield DataTable(id="compare-pair", cursor_type="none", zebra_stripes=True)
        with Horizontal(id="compare-plots"):
            yield MetricPlot("validation accuracy", id="compare-val")
            yield MetricPlot("training loss", id="compare-loss")
        yield Static(id="compare-key", markup=False)  # each curve's marker and run
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "compare runs"
        title = self.query_one("#compare-title", Static)
        try:
            rows = collect(self.paths)
            self.records = [load_run(row.path) for row in rows if row.path is not None]
        except CifarTuiError as exc:
            title.update(Text(f"✖ Cannot compare: {exc}", "bold red"))
            for part in ("#compare-tables", "#compare-plots", "#compare-key"):
                self.query_one(part).display = False
            return
        comparison = self.comparison = Comparison.of(rows)
        self.sub_title = f"compare {len(rows)} runs"
        text = Text()
        text.append(f"{len(rows)} runs", "bold")
        if comparison.keys:
            text.append(": settings that differ: " + ", ".join(comparison.keys))
        else:
            text.append(": the runs have the same settings")
        title.update(text)
        self.labels = series_labels(comparison)
        self.columns = main_columns(comparison)
        self._fill_main()
        pair = len(rows) == 2
        if pair:
            headers, cells = pair_cells(comparison, self.labels)
            fill_table(self.query_one("#compare-pair", DataTable), headers, cells, 1)
        for part in ("#compare-pair-title", "#compare-pair"):
            self.query_one(part).display = pair
        planned = max((planned_epochs(r) or 0 for r in self.records), default=0) or None

        drawn = plotted_runs(self.records, self.labels)

        def curves(key: str) -> dict[str, list[float | None]]:
            return {label: [e.get(key) for e in record.epochs] for label, record in drawn}

        for plot_id, key in (("#compare-val", "val_accuracy"), ("#compare-loss", "loss")):
            plot = self.query_one(plot_id, MetricPlot)
            plot.key_outside = True  # many runs: the key line below names every curve
            plot.show(curves(key), planned)
        self.drawn = drawn
        self._draw_key()
        self.query_one("#compare-table", DataTable).focus()

    def on_resize(self) -> None:
        if self.comparison is not None:
            self._fill_main()
            self._draw_key()

    def _fill_main(self) -> None:
        """The one-row-per-run table, with the columns that fit the screen whole (the rest said
        in the line under it)."""
        # The table's room: the screen less a vertical scrollbar, should the tables need one.
        shown, notes = fit_columns(self.columns, self.app.size.width - SCROLLBAR)
        if [c.header for c in shown] == self.shown_headers:
            return
        self.shown_headers = [c.header for c in shown]
        headers = [c.header for c in shown]
        rows = [list(row) for row in zip(*(c.cells for c in shown), strict=True)]
        left = sum(1 for c in shown if c.left)
        fill_table(self.query_one("#compare-table", DataTable), headers, rows, left)
        note = self.query_one("#compare-note", Static)
        note.update(" · ".join(notes))
        note.display = bool(notes)

    def _draw_key(self) -> None:
        key = self.query_one("#compare-key", Static)
        width = self.app.size.width - 2  # its padding
        key.update(key_text(self.drawn, len(self.records), width))

    # -- actions ------------------------------------------------------------------------------

    def action_export(self) -> None:
        if self.comparison is None:
            self.notify("Nothing to export.", severity="warning", markup=False)
            return
        try:
            markdown, table = export_comparison(
                self.comparison, self.app.runs_dir, time.strftime("%Y%m%d-%H%M%S")
            )
        except OSError as exc:
            self.notify(
                f"Cannot write to {self.app.runs_dir}: {exc.strerror or exc}",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"Wrote {markdown} and {table.name}", title="Exported", markup=False)

    def action_back(self) -> None:
        self.dismiss()
