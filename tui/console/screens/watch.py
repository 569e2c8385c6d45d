"""The watch screen: a run's epochs, progress, plots, input pipeline, device and warnings.

It draws from the app's :class:`~tui.console.state.RunState`. It subscribes to the app's
``watch_news`` signal: for each engine event (on the UI thread) :meth:`WatchScreen.apply`
redraws only what that event changes (its ``show_<event type>`` method): batch progress only
moves the bar, and the plots are redrawn at epoch end only, so watching costs the training
little. The words are ``core.format``'s, as on the command line. During a sweep a line on top
(from :class:`~tui.console.state.SweepState`) says which run of how many this is, the sweep's ETA
and each run's outcome so far.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static

from core.dispatch import dispatch
from core.errors import CifarTuiError
from core.events import Event
from core.format import (
    EPOCH_COLUMNS,
    device_line,
    epoch_cells,
    epoch_eta_text,
    eta_text,
    finish_text,
    fmt,
    input_bound_text,
    percent,
    report_hint,
    run_eta,
    run_eta_text,
    verdict_text,
)
from core.hints import hint_for_run
from core.status import BAD_ENDINGS, MARK, RESUMABLE, RunStatus, mark_of, style_of
from core.sweeps.search import trial_name
from core.system_format import live_line
from tui.console.screens.dialogs import ConfirmScreen
from tui.console.state import RunState, SweepState
from tui.console.study_view import curve_series, study_text, trial_series
from tui.console.widgets.plots import RUN_FIGURES, MetricPlot

if TYPE_CHECKING:
    from tui.console.app import CifarTuiApp
    from tui.console.views import SweepRunView

VERDICT_STYLE = {"not": "green", "moderately": "yellow", "highly": "bold red"}


#: What the app's ``watch_news`` signal carries besides engine events: draw everything again (a
#: new run), the run's status (stopping, over), or the sweep line.
REDRAW, STATUS, SWEEP = "redraw", "status", "sweep"
WatchNews = Event | str


def run_outcome(view: SweepRunView, study: bool = False) -> Text:
    """ "2 lr=0.002 ✔ 29.0%": a sweep run, its mark and its test accuracy or epochs; a study's
    trial by both its numbers, "trial 2 (Optuna #1) ✔ 29.0%"."""
    text = Text(f"{trial_name(view.index)} " if study else f"{view.index} {view.label} ")
    text.append(mark_of(view.status), style_of(view.status))
    if view.status == RunStatus.COMPLETED:
        accuracy = view.test_accuracy if view.test_accuracy is not None else view.best_val_accuracy
        text.append(f" {percent(accuracy)}")
    elif view.status in (*RESUMABLE, RunStatus.RUNNING):
        text.append(f" {view.epochs_done}/{view.epochs}")
    elif view.status != RunStatus.PENDING:
        text.append(f" {view.status}")
    return text


def state_eta(state: RunState) -> float | None:
    """The run's own time left (the progress line's "run ETA"), while it trains."""
    if not state.active:
        return None
    seconds = [e["seconds"] for e in state.epochs if e.get("seconds") is not None]
    return run_eta(seconds, state.planned_epochs, state.progress)


def sweep_text(sweep: SweepState, stopping: bool, run_left: float | None = None) -> Text:
    """The sweep line: "sweep NAME: run 2/3 LABEL · ETA ...", then each run's outcome.
    ``run_left``: the current run's own ETA; the sweep's is never shorter (both are shown, and
    the sweep's, counted from finished epochs, lags the run's between epochs)."""
    snap = sweep.snapshot
    if snap is not None and run_left is not None:
        eta = snap.eta
        if eta.seconds is not None and eta.seconds < run_left:
            snap = replace(snap, eta=replace(eta, seconds=run_left))
    text = Text()
    text.append(f"sweep {sweep.name}", "bold")
    if snap is None:
        if sweep.error:
            text.append(f": cannot start: {sweep.error}", "bold red")
        else:
            text.append(": opening its directory…")
        return text
    count = snap.total
    busy = " · stopping…" if stopping else ""
    if sweep.active and snap.current is not None and snap.study is not None:
        text.append(f": {trial_name(snap.current, count)}", "bold")  # settings: the study line
        text.append(busy or f" · {eta_text(snap.eta)}")
    elif sweep.active and snap.current is not None:
        text.append(f": run {snap.current}/{count} {snap.run(snap.current).label}", "bold")
        if len(snap.active) > 1:  # runs at once: the one shown below is the latest started
            text.append(f" · {len(snap.active)} running, up to {snap.parallel} at once")
        text.append(busy or f" · {eta_text(snap.eta)}")
    elif sweep.active:
        runs = "trials" if snap.study is not None else "runs"
        text.append(f": {snap.finished} of {count} {runs} finished" + (busy or " · next run…"))
    elif sweep.error:
        text.append(f": stopped by an error: {sweep.error}", "bold red")
    else:
        text.append(f": {snap.status}, {snap.finished} of {count} runs finished")
        if snap.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            text.append(f" · summary {snap.path / 'summary.md'}")
        else:
            text.append(" · start it again to resume (p, then S)")
    text.append("\n")
    study = snap.study is not None
    text.append(Text("   ").join(run_outcome(view, study) for view in snap.runs))
    return text


def window_text(state: RunState) -> str:
    """Where the input pipeline will be measured: the profile's window, or, for a run too
    short to reach it, the batches it will have instead (core/training/profiler.py)."""
    assert state.profiler_window is not None
    first, last = state.profiler_window
    total = state.planned_epochs * state.started.steps_per_epoch if state.started else 0
    if total and total < first:
        return (
            f"to be measured at the end: this run's {total} batches stop short of the "
            f"window {first}-{last}, so its batches after the first two stand in"
        )
    return f"measured over global batches {first}-{last} (not reached yet)"


#: What the progress line leaves out first where its figures do not all fit (80 columns).
PROGRESS_DROP = ("acc", "epoch_eta", "loss", "run_eta")


def progress_parts(state: RunState) -> list[tuple[str, str]]:
    """The progress line's figures, each with its name in :data:`PROGRESS_DROP`."""
    p = state.progress
    assert p is not None
    seconds = [e["seconds"] for e in state.epochs if e.get("seconds") is not None]
    parts = [
        ("step", f"{p.step}/{p.steps}"),
        ("epoch_eta", epoch_eta_text(p)),
        ("run_eta", run_eta_text(seconds, state.planned_epochs, p)),
        ("loss", f"loss {fmt(p.loss)}"),
        ("acc", f"acc {percent(p.accuracy)}"),
    ]
    return [(key, text) for key, text in parts if text]


def fit_parts(parts: list[tuple[str, str]], width: int) -> str:
    """ " 12/38 · ETA 0:05 · ...": the figures joined, less those that do not fit ``width``
    (:data:`PROGRESS_DROP` in turn), so none is cut; ``width`` 0: all of them."""
    kept = list(parts)
    for key in PROGRESS_DROP:
        if not width or len(" " + " · ".join(text for _, text in kept)) <= width:
            break
        kept = [(k, text) for k, text in kept if k != key]
    return " " + " · ".join(text for _, text in kept) if kept else ""


def progress_info(state: RunState) -> str:
    """ "12/38 · ETA 0:05 · run ETA 1:23 · loss 1.2034 · acc 0.512": where the current epoch
    is, its time left and the whole run's (from the measured epochs)."""
    return fit_parts(progress_parts(state), 0)


class ProgressInfo(Static):
    """The progress line's figures: at its width, those that do not fit are left out (the
    least needed first), never cut; laid out again when its width changes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, **kwargs)
        self.parts: list[tuple[str, str]] = []

    def show(self, parts: list[tuple[str, str]]) -> None:
        self.parts = parts
        self.update(fit_parts(parts, self.size.width))

    def on_resize(self) -> None:
        self.update(fit_parts(self.parts, self.size.width))


def epoch_row_cells(row: dict[str, Any], planned: int) -> list[Text]:
    return [Text(cell, justify="right") for cell in epoch_cells(row, planned)]


def outcome_of(state: RunState, in_sweep: bool) -> tuple[str, str]:
    """The banner under the device line: how the run ended (or why it never started), and its
    CSS class (-error, -info, -ok); empty while the run goes on."""
    if state.error:
        return f"{MARK[RunStatus.FAILED]} The run could not start: {state.error}", "-error"
    finished = state.finished
    if finished is None:
        return "", ""
    outcome = f"{mark_of(finished.status)} {finish_text(finished, len(state.epochs))}"
    if finished.status in BAD_ENDINGS:
        level = "-error"
    elif finished.status in RESUMABLE:  # stopped, or (attached) its process was killed
        level = "-info"
        if in_sweep:
            outcome += ", and the sweep with it: start the sweep again to resume both (p, then S)."
        else:
            outcome += ": resume it from the runs screen (b, then r)."
    else:
        level = "-ok"
    hint = hint_for_run(state.started, state.epochs, finished)
    if hint:
        outcome += f" {hint}"
    if state.run_dir:
        outcome += f" {report_hint(state.run_dir)}"
    return outcome, level


def _hidden(widget: Any) -> Any:
    """A widget that shows only for a study (WatchScreen._draw_study)."""
    widget.display = False
    return widget


class WatchScreen(Screen):
    """Live view of the console's run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "stop", "Stop run"),
        Binding("d", "details", "Details"),
    ]
    #: The banners that take one line unless details are asked for (d).
    BANNERS = ("#sweep", "#warnings", "#pipeline", "#outcome")

    app: CifarTuiApp
    details = False  # every banner in full (d); else one line each, so the plots keep room
    _drawn_status: str | None = None  # the status the device line shows

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sweep", markup=False)
        yield _hidden(Static(id="study", markup=False))  # a study's trial and best so far
        yield Static(id="device", markup=False)
        yield Static(id="outcome", markup=False)
        yield Static(id="warnings", markup=False)
        with Horizontal(id="progress-row"):
            yield Static(id="progress-label", markup=False)
            yield ProgressBar(id="progress", show_eta=False, show_percentage=False)
            yield ProgressInfo(id="progress-info")
        yield Static(id="system", markup=False)  # the host and GPU: one line
        with Container(id="upper"):
            yield DataTable(id="epochs", cursor_type="row", zebra_stripes=True)
            yield Static(id="pipeline", markup=False)
        with Horizontal(id="plots"):
            yield MetricPlot("accuracy", id="plot-accuracy")
            yield MetricPlot("loss", id="plot-loss")
            yield MetricPlot("learning rate", id="plot-lr")
            # A study's: each trial's objective by number, and each trial's curve.
            yield _hidden(MetricPlot("objective by trial", id="plot-trials", scatter=True))
            yield _hidden(MetricPlot("trial curves", id="plot-curves", legend=False))
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "watch"
        table = self.query_one("#epochs", DataTable)
        for column in EPOCH_COLUMNS:
            table.add_column(Text(column, justify="right"), key=column)
        self.query_one("#pipeline", Static).border_title = "input pipeline"
        self.redraw()
        # Immediately: the app's state changed just before, and the next news may change it.
        self.app.watch_news.subscribe(self, self.on_news, immediate=True)

    def on_news(self, news: WatchNews) -> None:
        """The app's news of the current run: an engine event to show, or what to draw again."""
        if news == REDRAW:
            self.redraw()
        elif news == STATUS:
            self.draw_status()
        elif news == SWEEP:
            self.draw_sweep()
        elif not isinstance(news, str):
            self.apply(news)

    @property
    def state(self) -> RunState:
        return self.app.session.run_state

    # -- drawing ------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Draw everything from the state (on mount, and when a new run starts)."""
        table = self.query_one("#epochs", DataTable)
        table.clear()
        for row in self.state.epochs:
            table.add_row(*epoch_row_cells(row, self.state.planned_epochs), key=str(row["epoch"]))
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)
        self.draw_sweep()
        self._draw_device()
        self._draw_banner()
        self._draw_progress()
        self._draw_system()
        self._draw_pipeline()
        self._draw_plots()
        self.refresh_bindings()

    def apply(self, event: Event) -> None:
        """Update only what ``event`` changes (the state already holds it): ``show_<type>``."""
        dispatch(self, event, prefix="show_")

    def show_batch_progress(self, event: Event) -> None:
        self._draw_progress()
        sweep = self.app.sweep_state
        if sweep is not None and sweep.active:  # its ETA is never under the run's own
            self._draw_sweep_line()
        if self._drawn_status != self.state.status:  # the "first steps compile" note ended
            self._draw_device()

    def show_system_sampled(self, event: Event) -> None:
        self._draw_system()

    def show_epoch_ended(self, event: Event) -> None:
        self._add_epoch_row()
        self._draw_plots()
        self._draw_progress()

    def show_status(self, event: Event) -> None:
        self._draw_device()
        self._draw_progress()
        self._draw_pipeline()

    def show_run_started(self, event: Event) -> None:
        self.redraw()  # a resumed run brings its earlier epochs: the table and plots too

    def show_profiler_summary(self, event: Event) -> None:
        self._draw_pipeline()

    def show_warning(self, event: Event) -> None:
        self._draw_banner()

    def show_run_finished(self, event: Event) -> None:
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
        self._draw_sweep_line()
        self._draw_study()

    def _draw_sweep_line(self) -> None:
        widget = self.query_one("#sweep", Static)
        sweep = self.app.session.sweep_state
        widget.display = sweep is not None
        if sweep is not None:
            stopping = sweep.active and self.app.session.control.stop_requested
            widget.update(sweep_text(sweep, stopping, state_eta(self.state)))

    def _study_snapshot(self) -> Any:
        """The study's snapshot while the console's sweep is a study, else None."""
        sweep = self.app.session.sweep_state
        snap = sweep.snapshot if sweep is not None else None
        return snap if snap is not None and snap.study is not None else None

    def _draw_study(self) -> None:
        """The study line and plots in place of the loss and rate plots (a study only)."""
        snap = self._study_snapshot()
        study = snap is not None
        for selector, shown in (
            ("#study", study),
            ("#plot-trials", study),
            ("#plot-curves", study),
            ("#plot-loss", not study),
            ("#plot-lr", not study),
        ):
            self.query_one(selector).display = shown
        if snap is None:
            return
        sweep = self.app.session.sweep_state
        assert sweep is not None
        self.query_one("#study", Static).update(study_text(snap, snap.study, sweep.active))
        trials = self.query_one("#plot-trials", MetricPlot)
        trials.title = f"{snap.study.objective} by trial"
        trials.show(trial_series(snap), snap.total)
        self._draw_curves()

    def _draw_curves(self) -> None:
        snap = self._study_snapshot()
        if snap is None:
            return
        curves = self.query_one("#plot-curves", MetricPlot)
        curves.title = f"{snap.study.objective} per epoch"
        live = self.state.epochs if snap.current is not None else []
        curves.show(curve_series(snap, snap.study, live), self.state.planned_epochs or None)

    def _add_epoch_row(self) -> None:
        table = self.query_one("#epochs", DataTable)
        row = self.state.epochs[-1]
        key = str(row["epoch"])
        if key in table.rows:  # a resumed epoch seen before: redraw all rows
            self.redraw()
            return
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        table.add_row(*epoch_row_cells(row, self.state.planned_epochs), key=key)
        if follow:
            table.move_cursor(row=table.row_count - 1)

    def _draw_device(self) -> None:
        s = self.state
        line = Text()
        if s.started is not None:
            line.append(s.started.name, "bold")
            line.append(f" · {device_line(s.started)}")
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
            if s.attached and s.active and s.pid:  # trained elsewhere: survives this console
                line.append(f" · pid {s.pid}", "dim")
        self._drawn_status = s.status
        self.query_one("#device", Static).update(line)

    def _draw_banner(self) -> None:
        """The outcome (completed, stopped, failed...) and the warnings, where they show."""
        s = self.state
        outcome, level = outcome_of(s, in_sweep=self.app.session.sweep_state is not None)
        widget = self.query_one("#outcome", Static)
        widget.update(outcome)
        widget.set_classes(level)
        widget.display = bool(outcome)
        warnings = self.query_one("#warnings", Static)
        lines = [f"⚠ {w.message}" for w in s.warnings]
        if len(lines) > 1 and not self.details:
            lines[0] = f"⚠ {len(lines)} warnings (d shows all): {lines[0][2:]}"
        warnings.update("\n".join(lines))
        warnings.display = bool(s.warnings)

    def _draw_progress(self) -> None:
        s = self.state
        bar = self.query_one("#progress", ProgressBar)
        label = self.query_one("#progress-label", Static)
        info = self.query_one("#progress-info", ProgressInfo)
        p = s.progress
        planned = s.planned_epochs
        if p is not None:
            label.update(f"epoch {p.epoch}/{planned} ")
            bar.update(total=p.steps, progress=p.step)
            if s.active:
                info.show(progress_parts(s))
            else:
                info.show([("status", f"{s.status} at step {p.step}/{p.steps}")])
        elif s.active:
            label.update("epoch - ")
            bar.update(total=None, progress=0)
            info.show([("status", f"{s.status}…")])
        else:
            label.update("epoch - ")
            bar.update(total=1, progress=0)
            info.show([])

    def _draw_system(self) -> None:
        """The latest system reading after a sparkline of the recent ones (GPU utilization,
        or the process's CPU without a GPU); a note until the first."""
        s = self.state
        line = live_line(s.readings, width=len(s.readings) or 1)
        if not line:
            line = "system: first reading after a second of training" if s.active else ""
        self.query_one("#system", Static).update(line)

    def _draw_pipeline(self) -> None:
        s = self.state
        pane = self.query_one("#pipeline", Static)
        text = Text()
        if s.profiler is not None:
            p = s.profiler
            text.append(
                input_bound_text(p.input_bound_percent), VERDICT_STYLE.get(p.verdict, "bold")
            )
            text.append(
                f": {verdict_text(p.verdict)} "
                f"(batches {p.window[0]}-{p.window[1]}, {p.batches_measured} measured)"
            )
            for tip in p.advice:
                text.append(f"\n{tip}")
        elif s.profiler_window is not None and s.active:
            text.append(window_text(s))
        elif s.active or s.started is not None:
            text.append("not measured")
        else:
            text.append("measured during the run: how long each step waits for its batch")
        pane.update(text)

    def _draw_plots(self) -> None:
        planned = self.state.planned_epochs or None
        for figure in RUN_FIGURES:
            plot = self.query_one(f"#plot-{figure}", MetricPlot)
            plot.show_epochs(self.state.epochs, figure, planned)
        self._draw_curves()  # a study's: the trial training now has one more epoch

    # -- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.app.session.can_stop else None  # dimmed when nothing trains
        return True

    def action_stop(self) -> None:
        """Stop this console's run; a run another process trains is asked to, once confirmed."""
        if self.state.attached and not self.app.session.sweep_active:
            self._confirm_stop_attached()
        else:
            self.app.stop_run()

    def _confirm_stop_attached(self) -> None:
        state = self.state
        if not state.active:
            self.notify("The run is not training.", timeout=3, markup=False)
            return
        if state.stopping or isinstance(self.app.screen, ConfirmScreen):
            return
        who = f"process {state.pid}" if state.pid else "another process"
        question = (
            f"Stop {state.label}? It trains in {who}; it stops after the current batch, is "
            "saved and can be resumed."
        )
        self.app.push_screen(ConfirmScreen(question, yes="Yes, stop it (y)"), self._stop_attached)

    def _stop_attached(self, yes: bool | None) -> None:
        state = self.state
        if not yes or not (state.attached and state.active and state.run_dir):
            return
        from core.status import CONSOLE
        from core.storage.control import request_stop

        try:  # the run records itself stopped by the console (its stop note), not by --stop
            state.pid = request_stop(Path(state.run_dir), by=CONSOLE)
        except CifarTuiError as exc:
            self.notify(str(exc), title="Cannot stop", severity="warning", markup=False)
            return
        state.stopping = True
        self.draw_status()

    def action_details(self) -> None:
        """Show every banner in full, or one line each again."""
        self.details = not self.details
        for banner in self.BANNERS:
            self.query_one(banner).set_class(self.details, "-full")
        self._draw_banner()
