"""A saved run's report, read from its files alone: the Markdown report and its plots.

It uses the same ``core.storage.report.render_markdown`` as ``report.md``, on the run as read back
by ``core.storage.rundir.load_run`` (so a killed run shows as "interrupted", with every finished
epoch). Reading the run and drawing its text plots happen in a thread worker, so the screen shows
at once (saying what it reads) and escape works while it loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown, Static, TabbedContent, TabPane

from core.errors import CifarTuiError
from core.storage.rundir import RunRecord, load_run
from tui.console.widgets.confusion import ClassesView, ConfusionMap
from tui.console.widgets.plots import RUN_FIGURES, MetricPlot

if TYPE_CHECKING:
    from tui.console.app import CifarTuiApp


def report_markdown(record: RunRecord) -> str:
    """The run's report as Markdown, with the status a reader derives ("interrupted")."""
    from core.storage.report import render_markdown

    report = dict(record.report)
    report["status"] = record.status
    report["epochs"] = record.epochs
    return render_markdown(report, record.path)


class ReportScreen(Screen):
    """One run's report (tab 1), its plots (tab 2) and what it got wrong per class (tab 3:
    tui/console/widgets/confusion.py)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        # In help, not the footer: the tabs above say it, and at 80 columns the room is for
        # ? Help, q Quit and b Runs.
        Binding("v", "toggle_view", "Plots", show=False),
        Binding("r", "resume", "Resume"),
        # r where the footer does not offer it (completed, diverged, busy): it says why (a
        # diverged run: the lower rate to give it) rather than doing nothing.
        Binding("r", "resume_refused", show=False),
        Binding("m", "classes", "Matrix"),
        Binding("i", "mistakes", "Mistakes"),
    ]

    app: CifarTuiApp

    class Loaded(Message):
        """The worker's reading of the run: its record and Markdown, or why it failed."""

        def __init__(self, record: RunRecord | None, markdown: str, error: str = "") -> None:
            super().__init__()
            self.record, self.markdown, self.error = record, markdown, error

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.record: RunRecord | None = None
        self.markdown = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="report-tabs"):
            with TabPane("Report", id="tab-report"), VerticalScroll(id="report-scroll"):
                yield Static(id="report-status", markup=False)
                yield Markdown(id="report")
            with TabPane("Plots", id="tab-plots"), Horizontal(id="report-plots"):
                yield MetricPlot("accuracy", id="report-accuracy")
                yield MetricPlot("loss", id="report-loss")
                yield MetricPlot("learning rate", id="report-lr")
            with TabPane("Classes", id="tab-classes"):
                yield ClassesView(self.run_dir, id="report-classes")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_dir.name}"
        self.query_one("#report-status", Static).update(f"Reading {self.run_dir}…")
        self.query_one("#report-scroll").focus()
        self._load(self.run_dir)

    @work(thread=True, exclusive=True, group="report")
    def _load(self, run_dir: Path) -> None:
        try:
            record = load_run(run_dir)
            markdown = report_markdown(record)
        except CifarTuiError as exc:
            self.post_message(self.Loaded(None, "", f"Cannot read this run: {exc}"))
            return
        self.post_message(self.Loaded(record, markdown))

    def on_report_screen_loaded(self, message: Loaded) -> None:
        status = self.query_one("#report-status", Static)
        if message.record is None:
            status.update(message.error)
            status.add_class("-error")
            return
        status.display = False
        self.record, self.markdown = message.record, message.markdown
        self.query_one("#report", Markdown).update(self.markdown)
        self.query_one(ClassesView).show(self.record.report, str(self.record.status))
        for figure in RUN_FIGURES:
            plot = self.query_one(f"#report-{figure}", MetricPlot)
            plot.show_epochs(self.record.epochs, figure, None)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers resume exactly where the engine's resume rule accepts the run (m
        and i stay: for a run without per-class figures they say why)."""
        if action == "resume":
            return self.record is not None and self.app.session.offers_resume(self.record.status)
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_toggle_view(self) -> None:
        tabs = self.query_one("#report-tabs", TabbedContent)
        tabs.active = "tab-plots" if tabs.active == "tab-report" else "tab-report"

    def action_classes(self) -> None:
        """The Classes tab: the confusion matrix as a heat map, its cursor focused."""
        self.query_one("#report-tabs", TabbedContent).active = "tab-classes"
        self.query_one("#classes-map").focus()

    def action_mistakes(self) -> None:
        """The images of the run's most confident mistakes (tui/console/screens/mistakes.py)."""
        from tui.console.screens.mistakes import MistakesScreen

        self.app.push_screen(MistakesScreen(self.run_dir))

    def on_confusion_map_cell_chosen(self, message: ConfusionMap.CellChosen) -> None:
        """A cell of the heat map: the images of that confusion (a diagonal cell: the class's
        mistakes)."""
        from tui.console.screens.mistakes import MistakesScreen

        t, p = message.true, message.predicted
        self.app.push_screen(
            MistakesScreen(self.run_dir, (t, p) if p is not None else None, true=t)
        )

    def action_resume(self) -> None:
        if self.record is None:
            return
        reason = self.app.session.why_not_resume(self.record)
        if reason is not None:
            self.notify(reason, severity="warning", markup=False)
            return
        self.dismiss()  # this report is about to change: back to the runs list, then resume
        self.app.resume_run(self.record)

    def action_resume_refused(self) -> None:
        self.action_resume()  # says why it cannot
