"""The sweeps screen: the sweep files of the profiles folder, to run (or resume) one, or to
compare the runs it has made.

Each file is validated and expanded as ``cifar-tui --sweep`` would (``core.sweeps.spec``), so the
run count is the real one and a broken file shows its one-line error here instead of failing later.
Starting a sweep whose directory already exists resumes it: finished runs are skipped.
A sweep started here runs with the pick form's overrides (the data settings, say) on every run,
less the keys the sweep varies itself, as ``--set`` would; one of more than
:data:`CONFIRM_RUNS` runs asks first, with its runs x epochs and a time estimate where one exists.
Reading and validating the files is done in a thread worker whenever the screen shows (a sweep
may have run since), never on the UI thread; a resize only lays out the list already read.
+ and - set how many runs go on at once (1, the default, trains in the console's engine; more
run each in a process of its own, as ``--parallel``), up to one per GPU, or per CPU core on a
machine without one (then with plan_slots' warning: the runs share the cores).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from core.errors import CifarTuiError
from core.sweeps import parallel as processes
from tui.console.catalog import SweepFileEntry, list_sweeps
from tui.console.screens.dialogs import ConfirmScreen
from tui.fit import break_name, shorten

if TYPE_CHECKING:
    from core.sweeps.spec import Sweep
    from tui.console.app import CifarTuiApp

DESCRIPTION_MIN_WIDTH = 16
#: The sweep column's narrowest width: a longer name breaks over lines in its cell (after its
#: hyphens), never cut.
NAME_MIN_WIDTH = 12
#: Columns a vertical scrollbar takes (Textual's default), kept free so nothing scrolls sideways.
SCROLLBAR = 2
#: A DataTable cell's padding, both sides.
PADDING = 2
#: A sweep of more runs than this asks before it starts (the notebook's is 11 AlexNet runs).
CONFIRM_RUNS = 3


def plan_text(entry: SweepFileEntry) -> str:
    """ "11 runs x 20-50 epochs = 305 epochs, about 2:30:00 (...)": what starting it costs."""
    epochs = entry.epochs
    low, high = min(epochs), max(epochs)
    each = f"{low}" if low == high else f"{low}-{high}"
    text = f"{entry.runs} runs x {each} epochs = {sum(epochs)} epochs"
    if entry.study:  # pruned trials stop early: the plan is the most it costs
        text = f"{entry.runs} trials x at most {each} epochs = at most {sum(epochs)} epochs"
    return text + (f", {entry.estimate}" if entry.estimate else ", no time estimate yet")


def overrides_text(entry: SweepFileEntry) -> str:
    """The pick form's settings a sweep runs with, and those it leaves to its own runs."""
    text = ""
    if entry.overrides:
        text += "With the pick form's settings on every run: " + " ".join(entry.overrides) + "."
    if entry.dropped:
        keys = ", ".join(item.partition("=")[0] for item in entry.dropped)
        text += f" Left out (the sweep sets them per run): {keys}."
    return text.strip()


def cpu_cores() -> int:
    """The cores this process may use: on a machine without a GPU, the most runs at once."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parallel_text(width: int, limit: int, gpus: list[str]) -> Text:
    """ "Runs at once: 2 (+/- to change, up to 4)", and the warning when they share devices."""
    text = Text(f"\nRuns at once: {width}", "bold")
    text.append(f" (+/- to change, up to {limit})" if limit > 1 else " (one device here)")
    if width > 1:
        text.append(", each a process of its own")
        warning = processes.plan_slots(width, gpus)[1]
        if warning:
            text.append(f"\n⚠ {warning}", "yellow")
    return text


def entry_cells(entry: SweepFileEntry, name_width: int, description_width: int) -> list[str | Text]:
    """A sweep file's row: name, run count, how far it got, and its description when
    ``description_width`` gives it room (or "invalid")."""
    name = break_name(entry.name, name_width)
    if entry.error:
        cells: list[str | Text] = [Text(name, "red"), Text("-", justify="right"), "invalid"]
        description = ""
    else:
        cells = [Text(name, "bold"), Text(str(entry.runs), justify="right"), entry.last]
        description = entry.description
    if description_width:
        cells.append(Text(shorten(description, description_width), "dim"))
    return cells


class SweepsScreen(Screen):
    """Sweep files: enter runs the selected one, c compares the runs it has made so far."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "start", "Run sweep"),
        Binding("l", "start", "Run sweep", show=False),
        # Short words: at 80 columns the footer keeps ? Help and q Quit (help says more).
        Binding("c", "compare", "Compare"),
        Binding("plus,equals_sign", "more", "More"),
        Binding("minus", "fewer", "Fewer"),
        Binding("escape", "back", "Back"),
    ]

    app: CifarTuiApp

    class Listed(Message):
        """The sweep files, read and validated by the worker."""

        def __init__(self, entries: list[SweepFileEntry], gpus: list[str]) -> None:
            super().__init__()
            self.entries = entries
            self.gpus = gpus

    def __init__(self, overrides: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.overrides = tuple(overrides)  # the pick form's, laid over every run
        self.entries: list[SweepFileEntry] = []
        self.listed = False  # True once the worker's first list has arrived
        self.parallel = 1  # runs at once
        self.gpus: list[str] = []  # as the worker found them (nvidia-smi is not for the UI thread)

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="sweeps", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="sweep-details-scroll"):
            yield Static(id="sweep-details", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"sweeps in {self.app.profiles_dir / 'sweeps'}"
        self._fill()
        self.query_one("#sweeps", DataTable).focus()

    def on_resize(self) -> None:
        self._fill()  # the list already read: no file is read again

    def on_screen_resume(self) -> None:
        self.reload()  # also sent when the screen is first shown

    def reload(self) -> None:
        """List the sweep files again, in a thread (a sweep may have run since)."""
        self._list_sweeps(self.app.profiles_dir, self.app.runs_dir, self.overrides)

    @work(thread=True, exclusive=True, group="sweep-list")
    def _list_sweeps(self, profiles_dir: Path, runs_dir: Path, overrides: tuple[str, ...]) -> None:
        entries = list_sweeps(profiles_dir, runs_dir, overrides)
        gpus = processes.visible_gpus()
        if not get_current_worker().is_cancelled:  # a newer listing was asked for
            self.post_message(self.Listed(entries, gpus))

    def on_sweeps_screen_listed(self, message: Listed) -> None:
        self.entries = message.entries
        self.gpus = message.gpus
        self.parallel = min(self.parallel, self.limit)
        self.listed = True
        self._fill()

    def _fill(self) -> None:
        """Lay out the list read last so that it fits the width whole (nothing scrolls
        sideways): a long name breaks over lines in its cell, and the description gets what is
        left of the line, or, with too little left, only the details below."""
        table = self.query_one("#sweeps", DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        name = max([5] + [len(e.name) for e in self.entries])
        last = max([4] + [len(e.last) for e in self.entries])
        # What the name (and the description) have: the width less runs, last and the paddings.
        room = self.app.size.width - SCROLLBAR - (4 + PADDING) - (last + PADDING) - PADDING
        description = room - name - PADDING
        if description < DESCRIPTION_MIN_WIDTH:
            description = 0
            name = max(NAME_MIN_WIDTH, min(name, room))
        table.add_column("sweep", key="sweep", width=name)
        table.add_column(Text("runs", justify="right"), key="runs", width=4)
        table.add_column("last", key="last", width=last)
        if description:
            table.add_column("description", key="description", width=description)
        for index, entry in enumerate(self.entries):
            # height None: as many lines as the name takes
            table.add_row(*entry_cells(entry, name, description), key=str(index), height=None)
        if self.entries:
            table.move_cursor(row=min(max(row, 0), len(self.entries) - 1))
        self._draw_details()

    @property
    def limit(self) -> int:
        """The most runs at once that make sense here: one per GPU, or per core without one."""
        return max(1, len(self.gpus) or cpu_cores())

    def selected(self) -> SweepFileEntry | None:
        table = self.query_one("#sweeps", DataTable)
        if not self.entries or not table.row_count:
            return None
        return self.entries[min(table.cursor_row, len(self.entries) - 1)]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._draw_details()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_start()

    def _draw_details(self) -> None:
        details = self.query_one("#sweep-details", Static)
        entry = self.selected()
        if entry is None and not self.listed:
            details.update(f"Reading the sweep files in {self.app.profiles_dir / 'sweeps'}…")
            return
        if entry is None:
            details.update(
                f"No sweep files (*.toml) in {self.app.profiles_dir / 'sweeps'}. A sweep names a "
                "base profile and a [grid] or [[runs]]: see README.md."
            )
            return
        text = Text()
        text.append(entry.name, "bold")
        if entry.error:
            text.append(f"\n✖ {entry.error}", "bold red")
            details.update(text)
            return
        if entry.description:
            text.append(f": {entry.description}")
        runs = " · ".join(f"{n} {label}" for n, label in enumerate(entry.labels, start=1))
        if entry.study:  # its runs are the trials Optuna asks for as it goes
            text.append(f"\nStudy: {entry.study}")
        else:
            text.append(f"\n{entry.runs} run(s): {runs}")
        text.append(f"\n{plan_text(entry)}.")
        if entry.overrides or entry.dropped:
            text.append(f"\n{overrides_text(entry)}", "bold")
        if entry.last == "-":
            text.append("\nNot started yet. enter runs it; ")
        elif entry.last.split()[0] in ("completed", "failed"):  # every run has its end
            runs = "trial" if entry.study else "run"
            text.append(f"\nRecorded in {entry.directory}: {entry.last}. Every {runs} has ")
            text.append(f"finished; the summary is {entry.directory}/summary.md. ")
        else:
            text.append(f"\nRecorded in {entry.directory}: {entry.last} finished. ")
            text.append("enter goes on with it (finished runs are skipped); ")
        sets = "".join(f" --set {shlex.quote(item)}" for item in entry.overrides)
        width = f" --parallel {self.parallel}" if self.parallel > 1 else ""
        text.append(
            f"headless: cifar-tui --sweep {shlex.quote(str(entry.path))}{sets} "
            f"--runs-dir {shlex.quote(str(self.app.runs_dir))}{width}"
        )
        text.append(parallel_text(self.parallel, self.limit, self.gpus))
        details.update(text)

    # -- actions ------------------------------------------------------------------------------

    def action_start(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        if entry.error:
            self.notify(entry.error, title="Invalid sweep", severity="error", markup=False)
            return
        if self.app.session.busy:
            self.notify(self.app.session.busy_message(), severity="warning", markup=False)
            return
        from core.sweeps.spec import load_sweep

        try:  # again, with the data checked: the file may be newer
            sweep = load_sweep(entry.path, entry.overrides)
        except CifarTuiError as exc:
            self.notify(str(exc), title="Cannot run this sweep", severity="error", markup=False)
            return
        if entry.runs <= CONFIRM_RUNS:
            self._start(sweep)
            return
        question = f"Run sweep {entry.name}? {plan_text(entry)}."
        if entry.last != "-":
            question += f" Recorded so far: {entry.last} finished (finished runs are skipped)."
        if self.parallel > 1:
            question += f" Up to {self.parallel} at once, each a process of its own."
        yes = f"Run {entry.runs} runs (y)"

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(sweep)

        self.app.push_screen(ConfirmScreen(question, yes=yes, no="Not now (n)"), answered)

    def _start(self, sweep: Sweep) -> None:
        if self.app.session.busy:  # a run may have started while the question was open
            self.notify(self.app.session.busy_message(), severity="warning", markup=False)
            return
        self.dismiss()
        if self.parallel == 1:
            self.app.start_sweep(sweep)  # the default, as it always ran
        else:
            self.app.start_sweep(sweep, parallel=self.parallel)

    def action_more(self) -> None:
        self._set_parallel(self.parallel + 1)

    def action_fewer(self) -> None:
        self._set_parallel(self.parallel - 1)

    def _set_parallel(self, width: int) -> None:
        self.parallel = min(max(1, width), self.limit)
        self._draw_details()

    def action_compare(self) -> None:
        entry = self.selected()
        if entry is None or entry.error or entry.directory is None:
            return
        from core.sweeps.sweepfile import try_read_sweep_file

        found = try_read_sweep_file(entry.directory)
        started: list[Path] = found.run_dirs if found is not None else []
        if not started:
            self.notify(
                f"Sweep {entry.name} has no started runs yet.", severity="warning", markup=False
            )
            return
        from tui.console.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen([entry.directory]))

    def action_back(self) -> None:
        self.dismiss()
