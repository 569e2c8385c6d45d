"""The runs screen: every run in the runs directory, sortable, to open, resume or compare.

Runs are read from their files alone (``core.storage.rundir.list_runs``), so runs made headless,
finished, stopped or killed ("interrupted": still "running" on disk with no live lock) all show.
Runs marked with space (or m) are compared with c (``tui.console.screens.compare``), in the order
marked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.errors import RunDirError
from core.format import fmt, percent, percent_points
from core.status import BAD_ENDINGS, RESUMABLE, RunStatus, mark_of, status_with_cause, style_of
from core.storage.rundir import RunRecord, list_runs, load_run, looks_like_run
from tui.console.messages import RunsRead

if TYPE_CHECKING:
    from tui.console.app import CifarTuiApp


def planned_epochs(record: RunRecord) -> int | None:
    return (record.report.get("profile") or {}).get("train", {}).get("epochs")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: Callable[[RunRecord], str]
    sort: Callable[[RunRecord], Any]
    right: bool = False


def _epochs(r: RunRecord) -> str:
    planned = planned_epochs(r)
    return f"{len(r.epochs)}/{planned}" if planned else str(len(r.epochs))


def _best_val(r: RunRecord) -> str:
    return percent(r.best_val_accuracy)


def _test(r: RunRecord) -> str:
    return percent(r.test_accuracy)


def _seconds(r: RunRecord) -> str:
    return fmt(r.seconds_per_epoch, ".1f")


def _input_bound(r: RunRecord) -> str:
    return percent_points(r.input_bound_percent, 0)


def _status(r: RunRecord) -> str:
    damaged = ", damaged" if r.problems else ""  # the report view says what is wrong
    status = status_with_cause(r.status, r.stopped_by)
    return f"{mark_of(r.status)} {status}{damaged}"  # the mark reads without colour


def status_style(status: str, no_color: bool) -> str:
    """The status's colour; with NO_COLOR the plain text (a colour made grey could sink into
    the row's grey), bold for a bad ending."""
    if no_color:
        return "bold" if status in BAD_ENDINGS else ""
    return style_of(status)


COLUMNS = (
    Column("run", "run", lambda r: r.path.name, lambda r: r.path.name),
    Column("status", "status", _status, lambda r: r.status),
    Column("model", "model", lambda r: r.architecture, lambda r: r.architecture),
    Column("epochs", "epochs", _epochs, lambda r: len(r.epochs), right=True),
    Column("best_val", "best val", _best_val, lambda r: r.best_val_accuracy, right=True),
    Column("test", "test", _test, lambda r: r.test_accuracy, right=True),
    Column("s_epoch", "s/ep", _seconds, lambda r: r.seconds_per_epoch, right=True),
    Column("input_bound", "input", _input_bound, lambda r: r.input_bound_percent, right=True),
)
#: Seconds between two reads of the live runs (and of runs new in the directory).
LIVE_INTERVAL = 1.0
#: Below this width the model column is left out (the run's name holds its profile).
MODEL_COLUMN_MIN_WIDTH = 100
COLUMN_KEYS = [c.key for c in COLUMNS]
MARK_KEY = "mark"  # the first column: a mark on runs to compare (not a sort column)
MARK = "✓"


def read_live(runs_dir: Path, live: list[Path], known: set[str]) -> list[RunRecord]:
    """The live runs read again, and runs new in ``runs_dir`` since (``known``: names already
    listed): the runs screen's timer, off the UI thread. Runs that vanished are left out."""
    paths = list(live)
    if runs_dir.is_dir():
        paths += [c for c in runs_dir.iterdir() if c.is_dir() and c.name not in known]
    records = []
    for path in paths:
        if looks_like_run(path) and not path.name.startswith("."):  # however early killed
            with contextlib.suppress(RunDirError):
                records.append(load_run(path))
    return records


def sort_records(records: list[RunRecord], key: str, reverse: bool) -> list[RunRecord]:
    """Sort by a column; runs without a value (None) always go last."""
    column = COLUMNS[COLUMN_KEYS.index(key)]
    present = [r for r in records if column.sort(r) is not None]
    missing = [r for r in records if column.sort(r) is None]
    return sorted(present, key=column.sort, reverse=reverse) + missing


class RunsScreen(Screen):
    """The runs directory as a table."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open report", show=False),
        Binding("r", "resume", "Resume"),
        Binding("o", "sort_next", "Sort"),
        Binding("O", "sort_reverse", "Reverse", show=False),
        Binding("u", "reload", "Reload"),
        Binding("m", "mark", "Mark"),  # the footer shows m: "space" would not fit at 80 columns
        Binding("space", "mark", "Mark", show=False),
        Binding("c", "compare", "Compare"),
    ]

    app: CifarTuiApp

    def __init__(self) -> None:
        super().__init__()
        self.records: list[RunRecord] = []
        self._shown: list[Column] = []
        self.sort_key = "run"
        self.sort_reverse = True  # newest first
        self.marked: list[Path] = []  # runs to compare, in the order they were marked
        self.live: set[Path] = set()  # runs some process trains: their rows are read again

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(id="runs-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"runs in {self.app.runs_dir}"
        self.reload()
        self.set_interval(LIVE_INTERVAL, self._refresh_live)

    def on_resize(self) -> None:
        if self._visible_columns() != self._shown:
            self._fill()

    def _visible_columns(self) -> list[Column]:
        wide = self.size.width >= MODEL_COLUMN_MIN_WIDTH
        return [c for c in COLUMNS if wide or c.key != "model"]

    def on_screen_resume(self) -> None:
        self.reload()

    def _header(self, column: Column) -> Text:
        arrow = ""
        if column.key == self.sort_key:
            arrow = " ▼" if self.sort_reverse else " ▲"
        return Text(column.label + arrow, justify="right" if column.right else "left")

    def reload(self) -> None:
        """Read the runs directory again (cheap: report.json and history.csv per run)."""
        self.records = list_runs(self.app.runs_dir)
        present = {r.path for r in self.records}
        self.marked = [p for p in self.marked if p in present]
        self._fill()

    def _refresh_live(self) -> None:
        """Read the live runs again, and any new run, in a thread (only while shown)."""
        if self.is_current:
            known = {r.path.name for r in self.records}
            self._read_live(sorted(self.live), known)

    @work(thread=True, exclusive=True, group="live-rows", exit_on_error=False)
    def _read_live(self, live: list[Path], known: set[str]) -> None:
        records = read_live(self.app.runs_dir, live, known)
        if records:
            self.post_message(RunsRead(records))

    def on_runs_read(self, message: RunsRead) -> None:
        """Fresh records of live (or new) runs: their rows change in place, unless a run is
        new or a cell outgrows its column (then the table is rebuilt)."""
        fresh = {r.path: r for r in message.records}
        rebuild = any(p not in {r.path for r in self.records} for p in fresh)
        self.records = [fresh.pop(r.path, r) for r in self.records] + list(fresh.values())
        self.live = {r.path for r in self.records if r.status == RunStatus.RUNNING}
        if rebuild or not self._update_rows(message.records):
            self._fill()

    def _update_rows(self, records: list[RunRecord]) -> bool:
        """Update these runs' cells in place; False when one no longer fits its column."""
        table = self.query_one("#runs", DataTable)
        for record in records:
            for column in self._shown:
                value = column.cell(record)
                if len(value) > (table.columns[column.key].width or 0):
                    return False
                table.update_cell(str(record.path), column.key, self._cell(record, column, value))
        return True

    def _cell(self, record: RunRecord, column: Column, value: str) -> Text:
        style = ""
        if column.key == "status":
            style = status_style(record.status, self.app.no_color)
        return Text(value, style=style, justify="right" if column.right else "left")

    def _fill(self) -> None:
        """Rebuild the table: columns (their sort arrow, the width), then the sorted rows."""
        table = self.query_one("#runs", DataTable)
        self.live = {r.path for r in self.records if r.status == RunStatus.RUNNING}
        selected = self.selected_path()
        self._shown = self._visible_columns()
        table.clear(columns=True)
        records = sort_records(self.records, self.sort_key, self.sort_reverse)
        rows = [[column.cell(record) for column in self._shown] for record in records]
        table.add_column(Text(MARK), key=MARK_KEY, width=1)
        for index, column in enumerate(self._shown):
            header = self._header(column)
            # Fixed widths: every cell is known here, and auto widths lagged a render behind.
            width = max([header.cell_len] + [len(row[index]) for row in rows])
            table.add_column(header, key=column.key, width=width)
        for record, row in zip(records, rows, strict=True):
            cells = [self._mark_cell(record.path)]
            for column, value in zip(self._shown, row, strict=True):
                cells.append(self._cell(record, column, value))
            table.add_row(*cells, key=str(record.path))
        if selected is not None and str(selected) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected)))
        hint = self.query_one("#runs-hint", Static)
        if self.records:
            label = COLUMNS[COLUMN_KEYS.index(self.sort_key)].label
            order = "descending" if self.sort_reverse else "ascending"
            marks = (
                f" · {len(self.marked)} marked: c compares them"
                if self.marked
                else " · space or m marks runs to compare"
            )
            hint.update(
                f"{len(self.records)} run(s), sorted by {label} ({order}) · enter: open"
                f"{marks} · click a header to sort"
            )
        else:
            hint.update(
                f"No runs yet in {self.app.runs_dir}. Launch one from the pick screen (p), or "
                "with cifar-tui --run PROFILE."
            )

    def _mark_cell(self, path: Path) -> Text:
        return Text(MARK if path in self.marked else " ", style="bold green")

    def selected_path(self) -> Path | None:
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return Path(key) if key else None

    def selected_record(self) -> RunRecord | None:
        path = self.selected_path()
        return next((r for r in self.records if r.path == path), None)

    def sort_by(self, key: str, reverse: bool | None = None) -> None:
        if reverse is None:
            # Same column: flip. A new one: numbers best-first, the run (its time) newest
            # first, other text A to Z.
            column = COLUMNS[COLUMN_KEYS.index(key)]
            new_order = column.right or key == "run"
            reverse = not self.sort_reverse if key == self.sort_key else new_order
        self.sort_key, self.sort_reverse = key, reverse
        self._fill()

    # -- events and actions ---------------------------------------------------------------

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_key.value in COLUMN_KEYS:
            self.sort_by(str(event.column_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()  # r Resume follows the highlighted run

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """r Resume is offered for a stopped or interrupted run only."""
        if action == "resume":
            record = self.selected_record()
            return record is not None and record.status in RESUMABLE
        return True

    def action_open(self) -> None:
        """A live run opens its watch screen (followed from its files); others their report."""
        path = self.selected_path()
        if path in self.live:
            self.app.open_live(path)
        elif path is not None:
            self.app.open_report(path)

    def action_resume(self) -> None:
        record = self.selected_record()
        if record is None:
            return
        self.app.resume_run(record)

    def action_sort_next(self) -> None:
        index = (COLUMN_KEYS.index(self.sort_key) + 1) % len(COLUMN_KEYS)
        self.sort_by(COLUMN_KEYS[index])
        self.notify(f"sorted by {COLUMNS[index].label}", timeout=2, markup=False)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_key, not self.sort_reverse)

    def action_reload(self) -> None:
        self.reload()

    def action_mark(self) -> None:
        """Mark or unmark the selected run, then move down (space, space marks a run of rows)."""
        path = self.selected_path()
        if path is None:
            return
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked.append(path)
        self._fill()
        table = self.query_one("#runs", DataTable)
        table.move_cursor(row=min(table.cursor_row + 1, table.row_count - 1))

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify(
                "Mark two or more runs to compare (space marks the selected run).",
                severity="warning",
                markup=False,
            )
            return
        from tui.console.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(list(self.marked)))
