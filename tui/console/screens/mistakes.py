"""The images screen's "mistakes" view of a finished run: test images its model got wrong.

The run's test pass kept its most confident mistakes in the report (core/evaluation.py: the test
index, the true and predicted classes, the confidence); the images themselves come from the run's
data source, loaded in a thread worker as the images screen loads them, and are drawn the same
way (half blocks, tui/console/screens/images.py). Each tile says the test index, the true class,
the predicted one and the confidence. The view shows every kept mistake, most confident first, or
one confusion pair (chosen on the report's matrix, or with p / P here); a class's row shows the
mistakes of that true class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from core.errors import CifarTuiError
from core.evaluation import ClassResults, class_results, missing_reason
from core.format import percent
from tui.console.screens.images import PAGE, TILE_WIDTH, half_block


@dataclass
class Mistakes:
    """What the worker read: the run's figures and the test images of its kept mistakes."""

    results: ClassResults
    images: dict[int, Any]  # test index -> (32, 32, 3) uint8
    description: str


class MistakeTile(Static):
    """One misclassified image: index and true class, then the prediction and confidence."""

    def __init__(self, image: Any, mistake: dict[str, Any], names: tuple[str, ...], mono: bool):
        text = half_block(image, mono)
        first = f"#{mistake['index']} {names[mistake['true']]}"
        second = f"-> {names[mistake['predicted']]} {percent(mistake['confidence'])}"
        for line, style in ((first, "bold"), (second, "")):
            text.append("\n")
            text.append(line[:TILE_WIDTH].center(TILE_WIDTH), style)
        super().__init__(text, classes="mistake-tile")
        self.mistake = mistake


class MistakesScreen(Screen):
    """A page of the run's most confident mistakes, of all pairs or of one."""

    DEFAULT_CSS = """
    #mistakes-status { height: auto; padding: 0 1; }
    #mistakes-status.-error { background: $error 20%; text-style: bold; }
    #mistakes { grid-size: 2; grid-columns: 32; grid-rows: 18; grid-gutter: 1 2;
                height: auto; padding: 0 1; }
    .mistake-tile { width: 32; height: 18; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("n", "page(1)", "Next"),
        Binding("N", "page(-1)", "Previous", show=False),
        Binding("p", "pair(1)", "Next pair"),
        Binding("P", "pair(-1)", "Previous pair", show=False),
        Binding("a", "all", "All"),
    ]

    class Loaded(Message):
        def __init__(self, mistakes: Mistakes | None, error: str = "") -> None:
            super().__init__()
            self.mistakes, self.error = mistakes, error

    def __init__(
        self, run_dir: Path, pair: tuple[int, int] | None = None, true: int | None = None
    ) -> None:
        """``pair``: (true, predicted) to show alone; ``true`` without a pair: that class's."""
        super().__init__()
        self.run_dir = Path(run_dir)
        self.pair = pair
        self.true = true if pair is None else None
        self.data: Mistakes | None = None
        self.start = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="mistakes-status", markup=False)
        with VerticalScroll(id="mistakes-scroll"):
            yield Grid(id="mistakes")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"mistakes of {self.run_dir.name}"
        self._status(f"Reading {self.run_dir} and its test images…")
        self.load(self.run_dir)

    @work(thread=True, exclusive=True, group="mistakes", exit_on_error=False)
    def load(self, run_dir: Path) -> None:
        """Read the run and decode its data source in a thread; the result comes as a message."""
        try:
            self.post_message(self.Loaded(read_mistakes(run_dir)))
        except CifarTuiError as exc:
            self.post_message(self.Loaded(None, str(exc)))
        except Exception as exc:  # a data source that no longer loads: say so, do not crash
            self.post_message(self.Loaded(None, f"{exc.__class__.__name__}: {exc}"))

    def on_mistakes_screen_loaded(self, message: Loaded) -> None:
        if message.mistakes is None:
            self._status(message.error, error=True)
            return
        self.data = message.mistakes
        self.show_page()

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#mistakes-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def shown(self) -> list[dict[str, Any]]:
        """The mistakes this view shows, most confident first."""
        if self.data is None:
            return []
        mistakes = self.data.results.mistakes_of(self.pair)
        if self.true is not None:
            mistakes = [m for m in mistakes if m["true"] == self.true]
        return mistakes

    def show_page(self) -> None:
        if self.data is None:
            return
        names, mistakes = self.data.results.class_names, self.shown()
        end = min(len(mistakes), self.start + PAGE)
        mono = self.app.no_color
        grid = self.query_one("#mistakes", Grid)
        grid.remove_children()
        grid.mount_all(
            MistakeTile(self.data.images[m["index"]], m, names, mono)
            for m in mistakes[self.start : end]
        )
        self._fit_columns()
        self._status(self._describe(len(mistakes), end))

    def _describe(self, count: int, end: int) -> str:
        results = self.data.results if self.data else None
        if results is None:
            return ""
        if self.pair is not None:
            what = f"{results.confusion_text(self.pair)} test images"
        elif self.true is not None:
            what = f"true class {results.class_names[self.true]}"
        else:
            what = f"{int(results.confusion.sum() - results.confusion.trace())} mistakes in all"
        if not count:
            return f"{what}: none kept (the report keeps the most confident of each pair)"
        return (
            f"{what}; the {count} most confident kept, {self.start + 1}-{end} shown "
            "(n: next page, p: next pair, a: all)"
        )

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        grid = self.query_one("#mistakes", Grid)
        grid.styles.grid_size_columns = max(1, (self.size.width - 2) // (TILE_WIDTH + 2))

    def action_page(self, step: int) -> None:
        total = len(self.shown())
        if total:
            self.start = (self.start + step * PAGE) % total
            self.show_page()

    def action_pair(self, step: int) -> None:
        """The next confusion pair with kept mistakes, largest count first."""
        if self.data is None:
            return
        pairs = confusion_pairs(self.data.results)
        if not pairs:
            return
        index = pairs.index(self.pair) + step if self.pair in pairs else 0 if step > 0 else -1
        self.pair, self.true, self.start = pairs[index % len(pairs)], None, 0
        self.show_page()

    def action_all(self) -> None:
        self.pair, self.true, self.start = None, None, 0
        self.show_page()

    def action_back(self) -> None:
        self.dismiss()


def confusion_pairs(results: ClassResults) -> list[tuple[int, int]]:
    """(true, predicted) pairs that have kept mistakes, by their count, largest first."""
    pairs = {(m["true"], m["predicted"]) for m in results.mistakes}
    return sorted(pairs, key=lambda pair: (-int(results.confusion[pair]), pair))


def read_mistakes(run_dir: Path) -> Mistakes:
    """The run's kept mistakes and their test images (raises CifarTuiError with the reason)."""
    from core.data import load_dataset
    from core.profiles import profile_from_dict
    from core.storage.rundir import load_run

    record = load_run(run_dir)
    results = class_results(record.report)
    if results is None:
        raise CifarTuiError(missing_reason(record.report, str(record.status)))
    profile = profile_from_dict(record.report.get("profile") or {}, str(run_dir / "profile.toml"))
    data = load_dataset(profile.data, num_classes_hint=len(results.class_names))
    if len(data.y_test) != int(results.confusion.sum()) or any(
        m["index"] >= len(data.y_test) or int(data.y_test[m["index"]]) != m["true"]
        for m in results.mistakes
    ):
        raise CifarTuiError(
            f"the test images of {data.description} are not those this run was tested on "
            "(the data source changed since)"
        )
    images = {m["index"]: data.x_test[m["index"]] for m in results.mistakes}
    return Mistakes(results, images, data.description)
