"""The compare screen: saved runs side by side, and their curves overlaid.

The table is ``core.compare``'s (the same as ``cifar-tui --compare``): the settings that differ
first, then s/epoch, best validation accuracy, test accuracy, input-bound %, parameters and
status; for exactly two runs also each difference side by side. The validation accuracy of every
run is drawn in one plot (training loss beside it when the terminal is wide enough). ``e`` writes
the comparison to ``<runs-dir>/compare-<time>.md`` and ``.csv`` with core.compare's exports.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.compare import Comparison, collect
from core.errors import CifarTuiError
from core.storage.rundir import RunRecord, atomic_write, load_run
from core.sweeps.spec import SHORT_NAMES
from core.values import show_value
from tui.console.screens.runs import planned_epochs
from tui.console.widgets.plots import MetricPlot

if TYPE_CHECKING:
    from core.table import Table
    from tui.console.app import CifarTuiApp

#: Up to this many differing settings name a run's curve ("lr=0.002"); more, and its directory.
LABEL_KEYS = 2


def series_labels(comparison: Comparison) -> list[str]:
    """A short, unique name per run for the plots' legends: its differing settings when they
    are few ("lr=0.001"), else its run directory's name."""
    rows = comparison.rows
    if comparison.keys and len(comparison.keys) <= LABEL_KEYS:

        def short(key: str) -> str:
            last = key.rsplit(".", 1)[-1]
            return SHORT_NAMES.get(last, last)

        labels = [
            " ".join(f"{short(k)}={show_value(row.settings.get(k))}" for k in comparison.keys)
            for row in rows
        ]
        if len(set(labels)) == len(labels):
            return labels
    return [row.label for row in rows]


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


def fill_table(widget: DataTable, table: Table) -> None:
    """A core.table.Table in a DataTable: the same cells as the terminal and Markdown tables."""
    widget.clear(columns=True)
    numeric = table.numeric()
    for header, right in zip(table.headers(), numeric, strict=True):
        widget.add_column(Text(header, justify="right" if right else "left"))
    for row in table.cells():
        widget.add_row(
            *(
                Text(cell, justify="right" if right else "left")
                for cell, right in zip(row, numeric, strict=True)
            )
        )


class CompareScreen(Screen):
    """Runs (or sweep directories, standing for their runs) compared."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("e", "export", "Export MD+CSV"),
    ]

    app: CifarTuiApp

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.comparison: Comparison | None = None
        self.records: list[RunRecord] = []
        self.labels: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-title", markup=False)
        with VerticalScroll(id="compare-tables"):
            yield DataTable(id="compare-table", cursor_type="none", zebra_stripes=True)
            yield Static("side by side", id="compare-pair-title", classes="compare-heading")
            yield DataTable(id="compare-pair", cursor_type="none", zebra_stripes=True)
        with Horizontal(id="compare-plots"):
            yield MetricPlot("validation accuracy", id="compare-val")
            yield MetricPlot("training loss", id="compare-loss")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "compare runs"
        title = self.query_one("#compare-title", Static)
        try:
            rows = collect(self.paths)
            self.records = [load_run(row.path) for row in rows if row.path is not None]
        except CifarTuiError as exc:
            title.update(Text(f"✖ Cannot compare: {exc}", "bold red"))
            for part in ("#compare-tables", "#compare-plots"):
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
        fill_table(self.query_one("#compare-table", DataTable), comparison.table())
        pair = comparison.pair_table()
        if pair is not None:
            fill_table(self.query_one("#compare-pair", DataTable), pair)
        for part in ("#compare-pair-title", "#compare-pair"):
            self.query_one(part).display = pair is not None
        self.labels = series_labels(comparison)
        planned = max((planned_epochs(r) or 0 for r in self.records), default=0) or None

        def curves(key: str) -> dict[str, list[float | None]]:
            return {
                label: [e.get(key) for e in record.epochs]
                for label, record in zip(self.labels, self.records, strict=True)
            }

        self.query_one("#compare-val", MetricPlot).show(curves("val_accuracy"), planned)
        self.query_one("#compare-loss", MetricPlot).show(curves("loss"), planned)
        self.query_one("#compare-table", DataTable).focus()

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
