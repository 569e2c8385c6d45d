"""A run's confusion matrix as a heat map, for the report screen's "Classes" tab.

Rows are the true classes, columns the predicted ones (numbered as the rows), each cell its count.
The diagonal is shaded green by the class's accuracy, the other cells red by their count against
the largest confusion, so the worst confusions stand out; with NO_COLOR the counts stay and the
largest confusions are starred, as in report.md. A cursor picks a cell: enter posts
:class:`ConfusionMap.CellChosen`, and the screen opens the mistakes view
(tui/console/screens/mistakes.py) filtered to that pair (a diagonal cell: all of the class's
mistakes). The worst confusions are named in one line under the map ("cat -> dog 187").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from core.evaluation import ClassResults, class_results, missing_reason, worst_text
from core.format import percent

CELL = 6  # columns per cell: a count up to 9999, a marker and a space
LABEL = 14  # "9 automobile" and a space
CORNER = "true \\ pred"


def heat_style(value: float, diagonal: bool) -> Style:
    """Green for the right answers, red for confusions; ``value`` in [0, 1]."""
    level = max(0.0, min(1.0, value))
    base = (0, 140, 60) if diagonal else (200, 30, 30)
    rgb = tuple(int(20 + (c - 20) * level) for c in base)
    text = "white" if level > 0.35 else "grey70"
    return Style(bgcolor=Color.from_rgb(*rgb), color=text)


def heat_map(
    results: ClassResults, cursor: tuple[int, int] | None = None, mono: bool = False
) -> Text:
    """The matrix as Rich Text: a header of column numbers, a row per true class."""
    names, confusion = results.class_names, results.confusion
    marked = {(names.index(t), names.index(p)) for t, p, _ in results.worst_confusions()}
    off = [int(confusion[t, p]) for t in range(len(names)) for p in range(len(names)) if t != p]
    largest = max([*off, 1])
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"{CORNER:<{LABEL}}", "bold")
    text.append("".join(f"{i:>{CELL - 1}} " for i in range(len(names))) + "\n", "bold")
    for t, name in enumerate(names):
        text.append(f"{f'{t} {name}'[: LABEL - 1]:<{LABEL}}")
        row_total = max(1, int(confusion[t].sum()))
        for p in range(len(names)):
            count = int(confusion[t, p])
            star = "*" if (t, p) in marked else " "
            cell = f"{'.' if count == 0 and t != p else count:>{CELL - 2}}{star} "
            share = count / row_total if t == p else count / largest
            style = Style() if mono else heat_style(share, t == p)
            if (t, p) in marked and mono:
                style = Style(bold=True)
            if cursor == (t, p):
                style += Style(reverse=True, bold=True)
            text.append(cell, style)
        text.append("\n")
    text.rstrip()
    return text


def worst_line(results: ClassResults) -> str:
    return worst_text(results.worst())


def per_class_line(results: ClassResults) -> str:
    return "per class: " + ", ".join(
        f"{name} {percent(acc, 0)}" for name, acc in results.per_class.items()
    )


class ConfusionMap(Static, can_focus=True):
    """The heat map with a cell cursor (arrows), enter: that cell's mistakes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("enter", "open", "Its mistakes"),
    ]

    class CellChosen(Message):
        """Enter on a cell: its true class, and the predicted one (None on the diagonal: all of
        the class's mistakes). The screen decides where that leads."""

        def __init__(self, true: int, predicted: int | None) -> None:
            super().__init__()
            self.true = true
            self.predicted = predicted

    def __init__(self, run_dir: Path, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.run_dir = run_dir
        self.results: ClassResults | None = None
        self.cursor = (0, 0)

    def show(self, results: ClassResults) -> None:
        """Draw ``results``, the cursor on the worst confusion."""
        self.results = results
        names = list(results.class_names)
        worst = results.worst_confusions(1)
        self.cursor = (names.index(worst[0][0]), names.index(worst[0][1])) if worst else (0, 0)
        self._draw()

    def _draw(self) -> None:
        if self.results is not None:
            self.update(heat_map(self.results, self.cursor, self.app.no_color))

    def action_move(self, rows: int, columns: int) -> None:
        if self.results is None:
            return
        k = len(self.results.class_names)
        self.cursor = ((self.cursor[0] + rows) % k, (self.cursor[1] + columns) % k)
        self._draw()

    def action_open(self) -> None:
        if self.results is None:
            return
        t, p = self.cursor
        self.post_message(self.CellChosen(t, p if t != p else None))


class ClassesView(VerticalScroll):
    """The "Classes" tab: the heat map, the worst confusions and each class's accuracy, or why
    the run has none."""

    DEFAULT_CSS = """
    ClassesView { height: 1fr; padding: 0 1; }
    ClassesView > Static { height: auto; }
    ClassesView > ConfusionMap { width: auto; margin: 1 0; }
    ClassesView .classes-line { color: $text-muted; }
    """

    def __init__(self, run_dir: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_dir = run_dir

    def compose(self) -> ComposeResult:
        yield Static("", id="classes-worst", markup=False)
        yield ConfusionMap(self.run_dir, id="classes-map")
        yield Static("", id="classes-per-class", classes="classes-line", markup=False)
        yield Static("", id="classes-help", classes="classes-line", markup=False)

    def show(self, report: dict[str, Any], status: str) -> None:
        """The run's figures (its report, as read back), or one line saying why there are none."""
        results = class_results(report)
        worst = self.query_one("#classes-worst", Static)
        matrix = self.query_one(ConfusionMap)
        if results is None:
            worst.update(missing_reason(report, status))
            matrix.display = False
            return
        worst.update(worst_line(results))
        matrix.show(results)
        self.query_one("#classes-per-class", Static).update(per_class_line(results))
        self.query_one("#classes-help", Static).update(
            "rows: true class, columns: predicted (* the largest confusions). Arrows choose a "
            "cell, enter shows its images; i: all the mistakes."
        )
