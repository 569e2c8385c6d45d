"""Modal screens: a yes/no question (quitting during a run, starting a long sweep), the list
of keys, and a file browser for the data path."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Footer, Static
from textual.widgets.directory_tree import DirEntry
from textual.widgets.tree import TreeNode

from tui.fit import break_name, shorten_name


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismisses with the answer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(
        self, question: str, yes: str = "Yes, stop and quit (y)", no: str = "No (n)"
    ) -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog"):
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(self.yes, id="yes", variant="error", compact=True)
                yield Button(self.no, id="no", variant="primary", compact=True)
        yield Footer()  # this dialog's keys, not those of the screen under it

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def keys_table(sections: dict[str, list[tuple[str, str]]]) -> Table:
    """Help's table: each section's keys (tui/console/help_keys.py, from the bindings)."""
    table = Table(box=None, expand=True, padding=(0, 1), show_header=False, show_edge=False)
    table.add_column("key", style="bold", no_wrap=True, min_width=10)
    table.add_column("does", ratio=1)
    for section, keys in sections.items():
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
        # p, w and b work from help too: they close it and show their screen.
        Binding("p", "go('launch')", show=False),
        Binding("w", "go('watch')", show=False),
        Binding("b", "go('runs')", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help", classes="dialog"):
            yield Static("cifar-tui keys", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(keys_table(self.sections()), id="help-keys")
            yield Static("escape closes · the footer shows the keys of each screen", id="help-hint")
        yield Footer()  # this dialog's keys, not those of the screen under it

    def sections(self) -> dict[str, list[tuple[str, str]]]:
        from tui.console.help_keys import help_sections

        return help_sections(type(self.app), self.app.get_key_display)

    def action_close(self) -> None:
        self.dismiss(None)

    async def action_go(self, mode: str) -> None:
        self.dismiss(None)
        await self.app.run_action(f"switch_mode({mode!r})")


def home_form(path: Path) -> str:
    """A path as people write it: under the home folder as ``~/...``, else in full."""
    try:
        home = Path.home()
        below = path.relative_to(home)
    except (RuntimeError, ValueError):  # no home folder, or the path is not under it
        return str(path)
    return "~" if below == Path() else f"~/{below}"


class DataFolderTree(DirectoryTree):
    """Folders and image archives only: what a folder source can read; its root said as
    :func:`home_form` says it, and a name too long for the width shortened at a separator
    with "…" (the picker's title says the highlighted one in full), so nothing scrolls
    sideways."""

    def __init__(self, path: Path, **kwargs) -> None:
        super().__init__(path, **kwargs)
        self.root.set_label(home_form(path))

    async def watch_path(self) -> None:
        await super().watch_path()
        self.root.set_label(home_form(Path(self.path)))

    def render_label(self, node: TreeNode[DirEntry], base_style: Style, style: Style) -> Text:
        label = super().render_label(node, base_style, style)
        depth, parent = 0, node.parent
        while parent is not None:
            depth, parent = depth + 1, parent.parent
        room = self.scrollable_content_region.width - depth * self.guide_depth
        wide = label.cell_len - len(label.plain)  # the icon's second cell
        if room > 2 and label.cell_len > room:
            plain = label.plain
            kept = len(shorten_name(plain, room - wide)) - 1  # less its "…"
            label = label[:kept]
            label.append("…")
        return label

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            path
            for path in paths
            if not path.name.startswith(".")
            and (path.is_dir() or path.name.endswith((".tar.gz", ".tgz", ".tar")))
        ]


class PathPicker(ModalScreen[Path | None]):
    """Browse for a folder source's path: a train/ + test/ folder or a .tar.gz of one.

    enter opens a folder (or picks an archive), u uses the highlighted folder, backspace goes
    up one folder, escape cancels. Dismisses with the chosen path, or None.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("u", "use", "Use this"),
        Binding("backspace", "up", "Up a folder"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, start: str | Path) -> None:
        super().__init__()
        start = Path(start).expanduser()
        while not start.is_dir() and start != start.parent:
            start = start.parent
        self.root = start.resolve()
        self.highlighted: Path = self.root

    def compose(self) -> ComposeResult:
        with Vertical(id="picker", classes="dialog"):
            yield Static(id="picker-title", markup=False)
            yield DataFolderTree(self.root, id="picker-tree")
            yield Static(
                "enter opens · u uses the highlighted folder · backspace: up · escape cancels",
                id="picker-hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        self._title()
        self.query_one(DataFolderTree).focus()
        self.call_after_refresh(self._title)  # laid out: its width known

    def on_resize(self) -> None:
        self._title()

    def _title(self) -> None:
        """ "Data path: ~/data/cifar10-mini", the path on lines of its own where it is long,
        broken after its separators (never inside a name where it has them)."""
        title = self.query_one("#picker-title", Static)
        path, width = home_form(self.highlighted), title.content_region.width
        if width < 1 or len(path) + len("Data path: ") <= width:
            title.update(f"Data path: {path}")
        else:
            title.update("Data path:\n" + break_name(path, width))

    def on_tree_node_highlighted(self, event: DirectoryTree.NodeHighlighted) -> None:
        data = event.node.data
        if data is not None:
            self.highlighted = Path(data.path)
            self._title()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(Path(event.path))  # only archives are listed

    def action_use(self) -> None:
        self.dismiss(self.highlighted)

    def action_up(self) -> None:
        tree = self.query_one(DataFolderTree)
        self.root = self.highlighted = self.root.parent
        tree.path = self.root
        self._title()

    def action_cancel(self) -> None:
        self.dismiss(None)
