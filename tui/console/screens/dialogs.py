"""Modal screens: the yes/no question before quitting a run, and the list of keys."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

#: Sections of (key, what it does): the help screen's content, in the order a user meets them.
KEYS: dict[str, list[tuple[str, str]]] = {
    "Everywhere": [
        ("p", "pick: profiles, hyperparameters and settings; launch"),
        ("w", "watch the current run"),
        ("b", "browse the runs directory"),
        ("? / F1", "this help"),
        ("q / ctrl+c", "quit (asks first while a run trains)"),
        ("tab", "move between panes (shift+tab back); the mouse works too"),
    ],
    "Pick": [
        ("up / down", "choose a model profile, then a hyperparameter profile"),
        ("enter", "go on: profiles, hyperparameters, settings"),
        ("l", "launch the run (or the Launch button)"),
        ("i", "look at training images of the profile's data"),
        ("S", "sweeps: the sweep files of profiles/sweeps"),
    ],
    "Sweeps": [
        ("enter", "run the sweep's runs in turn; again, it resumes (finished runs are skipped)"),
        ("c", "compare the runs the sweep has made so far"),
        ("escape", "back"),
    ],
    "Watch": [
        ("s", "stop after the current batch (a sweep stops too); both can be resumed"),
    ],
    "Runs": [
        ("enter", "open the selected run's report"),
        ("r", "resume a stopped or interrupted run"),
        ("space / m", "mark or unmark the run to compare"),
        ("c", "compare the marked runs"),
        ("o / O", "sort by the next column / reverse (or click a header)"),
        ("u", "read the runs directory again"),
    ],
    "Compare": [
        ("e", "export the comparison: <runs dir>/compare-<time>.md and .csv"),
        ("escape", "back"),
    ],
    "Report": [("v", "switch between the report and its plots"), ("escape", "back")],
    "Images": [("n / N", "next / previous page"), ("escape", "back")],
}


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismisses with the answer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog"):
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes, stop and quit (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def keys_table() -> Table:
    table = Table(box=None, expand=True, padding=(0, 1), show_header=False, show_edge=False)
    table.add_column("key", style="bold", no_wrap=True, min_width=10)
    table.add_column("does", ratio=1)
    for section, keys in KEYS.items():
        table.add_row(f"[b u]{section}[/]", "")
        for key, what in keys:
            table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Every key of the console."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("f1", "close", show=False),
        Binding("q", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help", classes="dialog"):
            yield Static("cifar-tui keys", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(keys_table(), id="help-keys")
            yield Static("escape closes · the footer shows the keys of each screen", id="help-hint")

    def action_close(self) -> None:
        self.dismiss(None)
