"""The runs screen: every run in the runs directory, sortable, to open, resume or compare.

Runs come from the runs index (``core.storage.index``), a cache of what ``load_run`` read from
each run's files, so runs made headless, finished, stopped or killed ("interrupted": still
"running" on disk with no live lock) all show, and ten thousand of them open at once. Nothing that
grows with the runs is done on the UI thread: a small runs directory is listed on mount (at most
SYNC_ROWS runs, SYNC_READS of them read from their files), anything bigger by a thread worker that
shows the index first and then re-reads what changed. The table holds a window of WINDOW rows;
moving past either end of it moves the window, so the keys work over every run. Runs marked with
space (or m) are compared with c (``tui.console.screens.compare``), in the order marked.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from core.format import fmt, percent, percent_points
from core.status import BAD_ENDINGS, RunStatus, mark_of, status_with_cause, style_of
from core.storage.index import RunIndex
from core.storage.system_report import latest_reading
from core.system_format import busy_figure, runs_cell

if TYPE_CHECKING:
    from tui.console.app import CifarTuiApp

#: A run as listed: a ``RunSummary`` (from the index) or a ``RunRecord`` (read from its files).
Run = Any


def planned_epochs(record: Run) -> int | None:
    if hasattr(record, "epochs_planned"):
        return record.epochs_planned
    return (record.report.get("profile") or {}).get("train", {}).get("epochs")


def epochs_done(record: Run) -> int:
    return record.epochs_done if hasattr(record, "epochs_done") else len(record.epochs)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: Callable[[Run], str]
    sort: Callable[[Run], Any]
    right: bool = False


def _epochs(r: Run) -> str:
    planned = planned_epochs(r)
    return f"{epochs_done(r)}/{planned}" if planned else str(epochs_done(r))


def _best_val(r: Run) -> str:
    return percent(r.best_val_accuracy)


def _test(r: Run) -> str:
    return percent(r.test_accuracy)


def _seconds(r: Run) -> str:
    return fmt(r.seconds_per_epoch, ".1f")


def _input_bound(r: Run) -> str:
    return percent_points(r.input_bound_percent, 0)


def _busy(r: Run) -> str:
    """A live run's latest system reading: "GPU 87%" (or "CPU 104%"); "" for the others."""
    return runs_cell(latest_reading(r.path)) if r.status == RunStatus.RUNNING else ""


def _busy_sort(r: Run) -> float | None:
    reading = latest_reading(r.path) if r.status == RunStatus.RUNNING else None
    return busy_figure(reading) if reading is not None else None


def _status(r: Run) -> str:
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
    Column("epochs", "epochs", _epochs, epochs_done, right=True),
    Column("best_val", "best val", _best_val, lambda r: r.best_val_accuracy, right=True),
    Column("test", "test", _test, lambda r: r.test_accuracy, right=True),
    Column("s_epoch", "s/ep", _seconds, lambda r: r.seconds_per_epoch, right=True),
    Column("input_bound", "input", _input_bound, lambda r: r.input_bound_percent, right=True),
    Column("busy", "busy", _busy, _busy_sort, right=True),  # live runs: GPU (or CPU) now
)
#: Seconds between two reads of the live runs (and of runs new in the directory).
LIVE_INTERVAL = 1.0
#: Below this width the model column is left out (the run's name holds its profile).
MODEL_COLUMN_MIN_WIDTH = 100
COLUMN_KEYS = [c.key for c in COLUMNS]
MARK_KEY = "mark"  # the first column: a mark on runs to compare (not a sort column)
MARK = "✓"
#: Runs listed on the UI thread at mount at most (more: a worker lists them)...
SYNC_ROWS = 200
#: ...and runs read from their files there at most (a small, new runs directory).
SYNC_READS = 32
#: Rows the table holds at once (DataTable takes seconds to fill with 10,000).
WINDOW = 200
#: While a worker reads many runs (a new index), the rows read so far show this often.
PROGRESS_SECONDS = 0.5


@dataclass
class Row:
    """A run and its cells' text (made in the worker that read it: cheap on the UI thread)."""

    record: Run
    cells: tuple[str, ...]

    @property
    def path(self) -> Path:
        return self.record.path


def make_row(record: Run) -> Row:
    return Row(record, tuple(column.cell(record) for column in COLUMNS))


def sort_records(records: list[Run], key: str, reverse: bool) -> list[Run]:
    """Sort by a column; runs without a value (None) always go last."""
    column = COLUMNS[COLUMN_KEYS.index(key)]
    present = [r for r in records if column.sort(r) is not None]
    missing = [r for r in records if column.sort(r) is None]
    return sorted(present, key=column.sort, reverse=reverse) + missing


class RunsTable(DataTable):
    """The runs table: a window of the screen's sorted runs. A key that would leave the window
    (up, down, page up, page down, ctrl+home, ctrl+end) moves it instead."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # DataTable's own keys, named here so that help lists them: either end of the list.
        Binding("ctrl+home", "scroll_top", "First run", show=False),
        Binding("ctrl+end", "scroll_bottom", "Last run", show=False),
    ]

    def _owner(self) -> RunsScreen:
        return self.screen  # type: ignore[return-value]

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _go(self, row: int) -> bool:
        """Move to window row ``row``, moving the window when it is outside; False when the
        window holds every run (DataTable's own action then does as it always did)."""
        screen = self._owner()
        if screen.window_start == 0 and len(screen.ordered) <= self.row_count:
            return False
        screen.goto(screen.window_start + row)
        return True

    def action_cursor_down(self) -> None:
        if not (self.cursor_row >= self.row_count - 1 and self._go(self.cursor_row + 1)):
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if not (self.cursor_row <= 0 and self._go(self.cursor_row - 1)):
            super().action_cursor_up()

    def action_page_down(self) -> None:
        target = self.cursor_row + self._page()
        if not (target >= self.row_count and self._go(target)):
            super().action_page_down()

    def action_page_up(self) -> None:
        target = self.cursor_row - self._page()
        if not (target < 0 and self._go(target)):
            super().action_page_up()

    def action_scroll_top(self) -> None:
        if not self._go(-self._owner().window_start):
            super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        screen = self._owner()
        if not self._go(len(screen.ordered) - 1 - screen.window_start):
            super().action_scroll_bottom()


class RunsScreen(Screen):
    """The runs directory as a table."""

    class RunsRead(Message):
        """Runs read again in a thread (live ones, new ones, changed ones: ``records``, each a
        ``Row`` with its cells), and runs gone (``removed``), for the table's rows."""

        def __init__(self, records: list[Row], removed: list[Path] | None = None) -> None:
            super().__init__()
            self.records = records
            self.removed = removed or []

    class RunsListed(Message):
        """Every run of the runs directory as the index holds it (``complete``: after a refresh
        that re-read whatever changed; ``records`` None: nothing changed, the table is whole)."""

        def __init__(self, records: list[Row] | None, complete: bool) -> None:
            super().__init__()
            self.records = records
            self.complete = complete

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open report", show=False),
        Binding("r", "resume", "Resume"),
        # r where the footer does not offer it (completed, diverged, busy): it says why (a
        # diverged run: the lower rate to give it) rather than doing nothing.
        Binding("r", "resume_refused", show=False),
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
        self.rows: dict[Path, Row] = {}  # every run listed, by its directory
        self.ordered: list[Path] = []  # sorted: the table shows a window of it
        self.window_start = 0
        self._widths: list[int] = []
        self._shown: list[Column] = []
        self.sort_key = "run"
        self.sort_reverse = True  # newest first
        self.marked: list[Path] = []  # runs to compare, in the order they were marked
        self.live: set[Path] = set()  # runs some process trains: their rows are read again
        #: Every run is listed (False while a worker reads them; a small runs directory is
        #: listed at once, and the worker then checks every run against its files quietly).
        self.listed = False
        self.index: RunIndex | None = None
        self._loading: Worker | None = None  # the worker listing them, while it runs

    @property
    def records(self) -> list[Run]:
        return [row.record for row in self.rows.values()]

    def compose(self) -> ComposeResult:
        yield Header()
        yield RunsTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(id="runs-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"runs in {self.app.runs_dir}"
        self.index = RunIndex(self.app.runs_dir)
        self.reload()
        self.set_interval(LIVE_INTERVAL, self._refresh_live)

    def on_resize(self) -> None:
        if self._visible_columns() != self._shown:
            self._fill()

    def _visible_columns(self) -> list[Column]:
        wide = self.size.width >= MODEL_COLUMN_MIN_WIDTH
        columns = [c for c in COLUMNS if wide or c.key != "model"]
        # How busy a run keeps its GPU (or CPU) says something only while some run trains.
        return [c for c in columns if self.live or c.key != "busy"]

    def on_screen_resume(self) -> None:
        self.reload(verify=False)  # a return: new, live and changed runs (a fixed cost)

    def _header(self, column: Column) -> Text:
        arrow = ""
        if column.key == self.sort_key:
            arrow = " ▼" if self.sort_reverse else " ▲"
        return Text(column.label + arrow, justify="right" if column.right else "left")

    def reload(self, verify: bool = True) -> None:
        """List the runs: at once from the index when the runs directory is small, then (in
        any case) a worker re-reads what changed; ``verify``: every run is checked against its
        files (on mount and u), else only new, live and recently changed ones and a slice."""
        assert self.index is not None
        try:
            small = not self.rows and self.index.count() <= SYNC_ROWS
            if small and self.index.refresh(max_reads=SYNC_READS).complete:
                self.listed = True  # a small directory, all read: the worker checks quietly
                self._replace([make_row(s) for s in self.index.summaries()])
        except sqlite3.Error:
            pass  # the index is busy: the worker lists the runs
        if not self.rows:
            self._fill()  # the hint says the runs are being read
        if self._loading is None or self._loading.is_finished:  # mount, then resume: one
            self._loading = self._load(self.index, set(self.rows), verify)

    @work(thread=True, exclusive=True, group="runs-load", exit_on_error=False)
    def _load(self, index: RunIndex, shown: set[Path], verify: bool) -> None:
        """The index at once (unless runs are ``shown`` already), then the runs that changed
        read again, posted in batches as they come: only what changed crosses to the UI thread
        (the whole list again only when the count says the table missed something)."""
        if not shown:
            listed = index.summaries()
            shown = {s.path for s in listed}
            self.post_message(self.RunsListed([make_row(s) for s in listed], False))
        pending: list[Row] = []
        posted = [0, time.monotonic()]  # runs read and handed on, when last posted

        def progress(batch: list[Any]) -> None:
            """Runs read so far, posted at most every PROGRESS_SECONDS (each post re-sorts the
            table on the UI thread)."""
            pending.extend(make_row(s) for s in batch)
            posted[0] += len(batch)
            if time.monotonic() - posted[1] >= PROGRESS_SECONDS:
                self.post_message(self.RunsRead(list(pending)))
                pending.clear()
                posted[1] = time.monotonic()

        result = index.refresh(verify=verify, progress=progress)
        # Running runs (liveness again), and runs other threads or processes indexed.
        others = [make_row(s) for s in result.changed[posted[0] :]]
        self.post_message(self.RunsRead(pending + others, result.removed))
        expected = (shown | {s.path for s in result.changed}) - set(result.removed)
        if index.count() != len(expected):  # removed elsewhere (or a race): list them all
            self.post_message(self.RunsListed([make_row(s) for s in index.summaries()], True))
        else:
            self.post_message(self.RunsListed(None, True))

    def _refresh_live(self) -> None:
        """Re-read the live runs, and any new or changed run, in a thread (only while shown)."""
        if self.is_current and self.index is not None:
            self._read_live(self.index)

    @work(thread=True, exclusive=True, group="live-rows", exit_on_error=False)
    def _read_live(self, index: RunIndex) -> None:
        # Unsettled runs and a fixed slice of the others: its cost does not grow with the runs
        # (and while the opening worker reads them all, this tick is skipped, not queued).
        try:
            result = index.refresh(wait=False)
        except sqlite3.Error:
            return  # busy (another thread, or another process past the busy timeout): next tick
        if result.changed or result.removed:
            self.post_message(self.RunsRead([make_row(s) for s in result.changed], result.removed))

    def on_runs_screen_runs_listed(self, message: RunsScreen.RunsListed) -> None:
        """The whole list: the table is rebuilt unless nothing in it changed (None: the rows
        shown are the whole list)."""
        if message.records is None:
            self.listed = self.listed or message.complete
            self._hint()
            return
        rows = {row.path: row for row in message.records}
        same = rows.keys() == self.rows.keys() and all(
            self.rows[p].cells == row.cells for p, row in rows.items()
        )
        self.listed = self.listed or message.complete
        if same and self.rows:
            self.rows = rows
            self._hint()
            return
        self._replace(list(message.records))

    def on_runs_screen_runs_read(self, message: RunsScreen.RunsRead) -> None:
        """Fresh rows of live (or new, or changed) runs: they change in place, unless a run is
        new or gone, moves in the order, or a cell outgrows its column (then a rebuild)."""
        fresh = [row for row in message.records if row.cells != self._cells_of(row.path)]
        gone = [p for p in message.removed if p in self.rows]
        statuses = {row.path: row.record.status for row in message.records}
        self.live = {p for p in self.live if p not in statuses} | {
            p for p, s in statuses.items() if s == RunStatus.RUNNING
        }
        # The busy column comes and goes with the live runs.
        columns_changed = self._visible_columns() != self._shown
        if not fresh and not gone and not columns_changed:
            return
        rebuild = columns_changed or bool(gone) or any(row.path not in self.rows for row in fresh)
        key = COLUMN_KEYS.index(self.sort_key)
        for row in fresh:
            old = self.rows.get(row.path)
            rebuild = rebuild or (old is not None and old.cells[key] != row.cells[key])
            self.rows[row.path] = row
        for path in gone:
            self.rows.pop(path)
        self.marked = [p for p in self.marked if p in self.rows]
        if rebuild or not self._update_rows(fresh):
            self._fill()

    def _cells_of(self, path: Path) -> tuple[str, ...] | None:
        row = self.rows.get(path)
        return row.cells if row is not None else None

    def _replace(self, rows: list[Row]) -> None:
        self.rows = {row.path: row for row in rows}
        self.marked = [p for p in self.marked if p in self.rows]
        self._fill()

    def _update_rows(self, rows: list[Row]) -> bool:
        """Update these runs' cells in place; False when one no longer fits its column."""
        table = self.query_one("#runs", DataTable)
        for row in rows:
            for column in self._shown:
                index = COLUMN_KEYS.index(column.key)
                if len(row.cells[index]) > (table.columns[column.key].width or 0):
                    return False
        for row in rows:
            if str(row.path) not in table.rows:
                continue  # outside the window
            for column in self._shown:
                value = row.cells[COLUMN_KEYS.index(column.key)]
                table.update_cell(str(row.path), column.key, self._cell(row.record, column, value))
        return True

    def _cell(self, record: Run, column: Column, value: str) -> Text:
        style = ""
        if column.key == "status":
            style = status_style(record.status, self.app.no_color)
        return Text(value, style=style, justify="right" if column.right else "left")

    def _fill(self) -> None:
        """Rebuild the table: columns (their sort arrow, the width), then the sorted rows' window
        around the selected run."""
        table = self.query_one("#runs", DataTable)
        self.live = {p for p, row in self.rows.items() if row.record.status == RunStatus.RUNNING}
        selected = self.selected_path()
        self._shown = self._visible_columns()
        table.clear(columns=True)
        column = COLUMNS[COLUMN_KEYS.index(self.sort_key)]
        records = sort_records([row.record for row in self.rows.values()], column.key,
                               self.sort_reverse)  # fmt: skip
        self.ordered = [r.path for r in records]
        table.add_column(Text(MARK), key=MARK_KEY, width=1)
        for column in self._shown:
            header = self._header(column)
            index = COLUMN_KEYS.index(column.key)
            # Fixed widths: every cell is known here, and auto widths lagged a render behind.
            width = max([header.cell_len] + [len(row.cells[index]) for row in self.rows.values()])
            table.add_column(header, key=column.key, width=width)
        at = 0
        if selected is not None and selected in self.rows:
            at = self.ordered.index(selected)
        self.window_start = -1  # nothing shown yet: goto fills the window
        self.goto(at)
        self._hint()

    def goto(self, position: int) -> None:
        """Put the cursor on the run at ``position`` in the sorted list, moving the window of
        rows the table holds when it is outside it."""
        table = self.query_one("#runs", DataTable)
        position = max(0, min(position, len(self.ordered) - 1))
        shown = table.row_count
        if not (0 <= self.window_start <= position < self.window_start + shown):
            start = max(0, min(position - WINDOW // 2, len(self.ordered) - WINDOW))
            table.clear()
            for path in self.ordered[start : start + WINDOW]:
                row = self.rows[path]
                cells = [self._mark_cell(row.path)]
                for column in self._shown:
                    value = row.cells[COLUMN_KEYS.index(column.key)]
                    cells.append(self._cell(row.record, column, value))
                table.add_row(*cells, key=str(row.path))
            self.window_start = start
            self._hint()
        if self.ordered:
            table.move_cursor(row=position - self.window_start)

    def _hint(self) -> None:
        hint = self.query_one("#runs-hint", Static)
        if self.rows:
            label = COLUMNS[COLUMN_KEYS.index(self.sort_key)].label
            order = "descending" if self.sort_reverse else "ascending"
            marks = (
                f" · {len(self.marked)} marked: c compares them"
                if self.marked
                else " · space or m marks runs to compare"
            )
            count = f"{len(self.rows)} run(s)"
            if len(self.ordered) > WINDOW:
                table = self.query_one("#runs", DataTable)
                first = self.window_start + 1
                count += f" (rows {first}-{self.window_start + table.row_count} held)"
            reading = "" if self.listed else " · checking their files…"
            hint.update(
                f"{count}, sorted by {label} ({order}) · enter: open"
                f"{marks} · click a header to sort{reading}"
            )
        elif not self.listed:
            hint.update(f"Reading the runs in {self.app.runs_dir}…")
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

    def selected_record(self) -> Run | None:
        row = self.rows.get(self.selected_path() or Path())
        return row.record if row is not None else None

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
        """r Resume is offered exactly where the engine's resume rule accepts the run."""
        if action == "resume":
            record = self.selected_record()
            return record is not None and self.app.session.offers_resume(record.status)
        return True

    def action_open(self) -> None:
        """A live run opens its watch screen (followed from its files); others their report."""
        path = self.selected_path()
        if path in self.live:
            self._open_live(path)
        elif path is not None:
            self.app.open_report(path)

    def _open_live(self, run_dir: Path) -> None:
        """A live run: its watch screen (this console's own run, or attached)."""
        app, session = self.app, self.app.session
        state = session.run_state
        if session.busy and not state.attached and state.run_dir == str(run_dir):
            app.switch_mode("watch")
        elif session.busy:  # the engine's run keeps the watch screen: the report instead
            text = f"{session.busy_message()} Its report shows how far this run is."
            self.notify(text, timeout=6, markup=False)
            app.open_report(run_dir)
        else:
            app.attach_run(run_dir)

    def action_resume(self) -> None:
        record = self.selected_record()
        if record is None:
            return
        self.app.resume_run(record)

    def action_resume_refused(self) -> None:
        self.action_resume()  # the app's resume_run says why it cannot

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
        table = self.query_one("#runs", DataTable)
        table.update_cell(str(path), MARK_KEY, self._mark_cell(path))
        self._hint()
        position = self.window_start + table.cursor_row
        self.goto(min(position + 1, len(self.ordered) - 1))

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
