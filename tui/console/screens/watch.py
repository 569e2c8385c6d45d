"""The watch screen: a run's epochs, progress, plots, input pipeline, device and warnings.

It draws from the app's :class:`~tui.console.state.RunState`. The app calls
:meth:`WatchScreen.apply`
for each engine event (on the UI thread); batch progress only moves the bar, and the plots are
redrawn at epoch end only, so watching costs the training little. During a sweep a line on top
(from :class:`~tui.console.state.SweepState`) says which run of how many this is, the sweep's ETA
and each run's outcome so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static

from core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    ProfilerSummary,
    RunFinished,
    RunStarted,
    RunWarning,
    Status,
)
from tui.console.catalog import duration, fmt, percent
from tui.console.state import BAD_ENDINGS, RunState, SweepState
from tui.console.widgets.plots import MetricPlot

if TYPE_CHECKING:
    from core.sweeps.sweepdir import Eta
    from tui.console.app import CifarTuiApp
    from tui.console.sweep_runner import SweepRunView

EPOCH_COLUMNS = ("epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
VERDICT_STYLE = {"not": "green", "moderately": "yellow", "highly": "bold red"}


#: How each run's outcome shows on the sweep line: a mark and its style.
RUN_MARK = {
    "completed": ("✔", "green"),
    "stopped": ("■", "yellow"),
    "interrupted": ("■", "magenta"),
    "failed": ("✖", "bold red"),
    "diverged": ("✖", "bold red"),
    "running": ("▶", "bold cyan"),
    "pending": ("·", "dim"),
}


def eta_text(eta: Eta) -> str:
    if eta.seconds is None or eta.median_epoch_seconds is None:
        return "ETA unknown until an epoch is measured"
    return (
        f"ETA {duration(eta.seconds)} ({eta.epochs_left} epoch(s) left at "
        f"{eta.median_epoch_seconds:.1f} s/epoch)"
    )


def run_outcome(view: SweepRunView) -> Text:
    """ "2 lr=0.002 ✔ 29.0%": a sweep run, its mark and its test accuracy or epochs."""
    mark, style = RUN_MARK.get(view.status, ("?", ""))
    text = Text(f"{view.index} {view.label} ")
    text.append(mark, style)
    if view.status == "completed":
        accuracy = view.test_accuracy if view.test_accuracy is not None else view.best_val_accuracy
        text.append(f" {percent(accuracy)}")
    elif view.status in ("stopped", "interrupted", "running"):
        text.append(f" {view.epochs_done}/{view.epochs}")
    elif view.status != "pending":
        text.append(f" {view.status}")
    return text


def sweep_text(sweep: SweepState, stopping: bool) -> Text:
    """The sweep line: "sweep NAME: run 2/3 LABEL · ETA ...", then each run's outcome."""
    snap = sweep.snapshot
    text = Text()
    text.append(f"sweep {sweep.name}", "bold")
    if snap is None:
        if sweep.error:
            text.append(f": cannot start: {sweep.error}", "bold red")
        else:
            text.append(": opening its directory…")
        return text
    count = len(snap.runs)
    busy = " · stopping…" if stopping else ""
    if sweep.active and snap.current is not None:
        text.append(f": run {snap.current}/{count} {snap.run(snap.current).label}", "bold")
        text.append(busy or f" · {eta_text(snap.eta)}")
    elif sweep.active:
        text.append(f": {snap.finished} of {count} runs finished" + (busy or " · next run…"))
    elif sweep.error:
        text.append(f": stopped by an error: {sweep.error}", "bold red")
    else:
        text.append(f": {snap.status}, {snap.finished} of {count} runs finished")
        if snap.status in ("completed", "failed"):
            text.append(f" · summary {snap.path / 'summary.md'}")
        else:
            text.append(" · start it again to resume (p, then S)")
    text.append("\n")
    text.append(Text("   ").join(run_outcome(view) for view in snap.runs))
    return text


def epoch_cells(row: dict[str, Any], planned: int) -> list[Text]:
    cells = [
        f"{row['epoch']}/{planned}" if planned else str(row["epoch"]),
        fmt(row.get("seconds"), ".2f"),
        fmt(row.get("loss")),
        fmt(row.get("accuracy")),
        fmt(row.get("val_loss")),
        fmt(row.get("val_accuracy")),
        fmt(row.get("lr"), ".2e"),
    ]
    return [Text(cell, justify="right") for cell in cells]


class WatchScreen(Screen):
    """Live view of the console's run."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("s", "stop", "Stop run")]

    app: CifarTuiApp

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sweep", markup=False)
        yield Static(id="device", markup=False)
        yield Static(id="outcome", markup=False)
        yield Static(id="warnings", markup=False)
        with Horizontal(id="progress-row"):
            yield Static(id="progress-label", markup=False)
            yield ProgressBar(id="progress", show_eta=False, show_percentage=False)
            yield Static(id="progress-info", markup=False)
        with Container(id="upper"):
            yield DataTable(id="epochs", cursor_type="row", zebra_stripes=True)
            yield Static(id="pipeline", markup=False)
        with Horizontal(id="plots"):
            yield MetricPlot("accuracy", id="plot-accuracy")
            yield MetricPlot("loss", id="plot-loss")
            yield MetricPlot("learning rate", id="plot-lr")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "watch"
        table = self.query_one("#epochs", DataTable)
        for column in EPOCH_COLUMNS:
            table.add_column(Text(column, justify="right"), key=column)
        self.query_one("#pipeline", Static).border_title = "input pipeline"
        self.redraw()

    @property
    def state(self) -> RunState:
        return self.app.run_state

    # -- drawing ------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Draw everything from the state (on mount, and when a new run starts)."""
        table = self.query_one("#epochs", DataTable)
        table.clear()
        for row in self.state.epochs:
            table.add_row(*epoch_cells(row, self.state.planned_epochs), key=str(row["epoch"]))
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)
        self.draw_sweep()
        self._draw_device()
        self._draw_banner()
        self._draw_progress()
        self._draw_pipeline()
        self._draw_plots()
        self.refresh_bindings()

    def apply(self, event: Event) -> None:
        """Update only what ``event`` changes (the state already holds it)."""
        if isinstance(event, BatchProgress):
            self._draw_progress()
        elif isinstance(event, EpochEnded):
            self._add_epoch_row()
            self._draw_plots()
            self._draw_progress()
        elif isinstance(event, (Status, RunStarted)):
            self._draw_device()
            self._draw_progress()
            self._draw_pipeline()
        elif isinstance(event, ProfilerSummary):
            self._draw_pipeline()
        elif isinstance(event, RunWarning):
            self._draw_banner()
        elif isinstance(event, RunFinished):
            self._draw_device()
            self._draw_banner()
            self._draw_progress()
            self._draw_pipeline()
            self.refresh_bindings()

    def draw_status(self) -> None:
        """The run's state changed outside an event (stopping, engine done): show it."""
        self.draw_sweep()
        self._draw_device()
        self._draw_banner()
        self._draw_progress()
        self.refresh_bindings()

    def draw_sweep(self) -> None:
        """The sweep line, shown while a sweep runs and after it (until a single run starts)."""
        widget = self.query_one("#sweep", Static)
        sweep = self.app.sweep_state
        widget.display = sweep is not None
        if sweep is not None:
            stopping = sweep.active and self.app.control.stop_requested
            widget.update(sweep_text(sweep, stopping))

    def _add_epoch_row(self) -> None:
        table = self.query_one("#epochs", DataTable)
        row = self.state.epochs[-1]
        key = str(row["epoch"])
        if key in table.rows:  # a resumed epoch seen before: redraw all rows
            self.redraw()
            return
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        table.add_row(*epoch_cells(row, self.state.planned_epochs), key=key)
        if follow:
            table.move_cursor(row=table.row_count - 1)

    def _draw_device(self) -> None:
        s = self.state
        line = Text()
        if s.started is not None:
            e = s.started
            line.append(e.name, "bold")
            line.append(
                f" · {e.backend} on {', '.join(e.devices)} · {e.params_total:,} params"
                f" · batch {e.batch_size} · {e.train_images} train images"
            )
            if e.initial_epoch:
                line.append(f" · resumed after epoch {e.initial_epoch}")
        elif s.label:
            line.append(s.label, "bold")
        else:
            line.append(
                "No run yet. Pick a profile (p) and launch it (l), or resume one from "
                "the runs screen (b)."
            )
        if s.label:
            if s.active and s.stopping:
                line.append(" · stopping after the current batch…", "bold")
            else:
                status = f" · {s.status}" + ("…" if s.active else "")
                line.append(status, "" if s.active else "bold")
        self.query_one("#device", Static).update(line)

    def _draw_banner(self) -> None:
        """The outcome (completed, stopped, failed...) and the warnings, where they show."""
        s = self.state
        outcome, level = "", ""
        if s.error:
            outcome, level = f"✖ The run could not start: {s.error}", "-error"
        elif s.finished is not None:
            f = s.finished
            if f.status in BAD_ENDINGS:
                outcome, level = f"✖ Run {f.status}: {f.message}", "-error"
            elif f.status == "stopped":
                outcome = (
                    f"■ Stopped after {len(s.epochs)} epoch(s): resume it from the runs "
                    "screen (b, then r)."
                )
                if self.app.sweep_state is not None:
                    outcome = (
                        f"■ Stopped after {len(s.epochs)} epoch(s), and the sweep with it: "
                        "start the sweep again to resume both (p, then S)."
                    )
                level = "-info"
            else:
                test = (
                    f", test accuracy {percent(f.test_accuracy)}"
                    if f.test_accuracy is not None
                    else ""
                )
                outcome = f"✔ Completed in {duration(f.total_seconds)}{test}."
                level = "-ok"
            if s.run_dir:
                outcome += f" Report: {s.run_dir}/report.md"
        widget = self.query_one("#outcome", Static)
        widget.update(outcome)
        widget.set_classes(level)
        widget.display = bool(outcome)
        warnings = self.query_one("#warnings", Static)
        warnings.update("\n".join(f"⚠ {w.message}" for w in s.warnings))
        warnings.display = bool(s.warnings)

    def _draw_progress(self) -> None:
        s = self.state
        bar = self.query_one("#progress", ProgressBar)
        label = self.query_one("#progress-label", Static)
        info = self.query_one("#progress-info", Static)
        p = s.progress
        planned = s.planned_epochs
        if p is not None:
            label.update(f"epoch {p.epoch}/{planned} ")
            bar.update(total=p.steps, progress=p.step)
            if s.active:
                eta = "" if p.step >= p.steps else f" · ETA {duration(p.eta_seconds)}"
                info.update(
                    f" {p.step}/{p.steps}{eta} · loss {fmt(p.loss)} · acc {fmt(p.accuracy, '.3f')}"
                )
            else:
                info.update(f" {s.status} at step {p.step}/{p.steps}")
        elif s.active:
            label.update("epoch - ")
            bar.update(total=None, progress=0)
            info.update(f" {s.status}…")
        else:
            label.update("epoch - ")
            bar.update(total=1, progress=0)
            info.update("")

    def _draw_pipeline(self) -> None:
        s = self.state
        pane = self.query_one("#pipeline", Static)
        text = Text()
        if s.profiler is not None:
            p = s.profiler
            from core.training.profiler import VERDICT_TEXT

            text.append(
                f"{p.input_bound_percent:.1f}% input-bound", VERDICT_STYLE.get(p.verdict, "bold")
            )
            text.append(
                f": {VERDICT_TEXT.get(p.verdict, p.verdict)} "
                f"(batches {p.window[0]}-{p.window[1]}, {p.batches_measured} measured)"
            )
            for tip in p.advice:
                text.append(f"\n{tip}")
        elif s.profiler_window is not None and s.active:
            first, last = s.profiler_window
            text.append(f"measured over global batches {first}-{last} (not reached yet)")
        elif s.active or s.started is not None:
            text.append("not measured")
        else:
            text.append("measured during the run: how long each step waits for its batch")
        pane.update(text)

    def _draw_plots(self) -> None:
        s = self.state
        planned = s.planned_epochs or None
        self.query_one("#plot-accuracy", MetricPlot).show(
            {"train": s.series("accuracy"), "validation": s.series("val_accuracy")}, planned
        )
        self.query_one("#plot-loss", MetricPlot).show(
            {"train": s.series("loss"), "validation": s.series("val_loss")}, planned
        )
        self.query_one("#plot-lr", MetricPlot).show({"lr": s.series("lr")}, planned)

    # -- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.app.run_active else None  # dimmed when nothing trains
        return True

    def action_stop(self) -> None:
        self.app.stop_run()
