"""A look at the data: training images of a profile's source, drawn with half blocks.

Each terminal cell shows two pixels: "▀" with the upper pixel as foreground colour and the
lower one as background, so a 32x32 image is 32 columns by 16 rows. With NO_COLOR the cells
are shades (" ░▒▓█") of the two pixels' brightness instead. The data loads in a thread worker:
a folder source may have to be decoded first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from core.errors import CifarTuiError

if TYPE_CHECKING:
    from core.config import Profile

UPPER_HALF = "▀"
SHADES = " ░▒▓█"
PAGE = 12
TILE_WIDTH = 32


def half_block(image: Any, mono: bool = False) -> Text:
    """An (H, W, 3) uint8 image as Text: W columns, ceil(H/2) rows."""
    height, width = len(image), len(image[0])
    text = Text(no_wrap=True, overflow="crop")
    styles: dict[tuple[int, ...], Style] = {}
    for y in range(0, height, 2):
        if y:
            text.append("\n")
        for x in range(width):
            upper = tuple(int(c) for c in image[y][x][:3])
            lower = tuple(int(c) for c in image[y + 1][x][:3]) if y + 1 < height else (0, 0, 0)
            if mono:
                level = (sum(upper) + sum(lower)) / (6 * 255)
                text.append(SHADES[min(len(SHADES) - 1, int(level * len(SHADES)))])
                continue
            key = upper + lower
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(
                    color=Color.from_rgb(*upper), bgcolor=Color.from_rgb(*lower)
                )
            text.append(UPPER_HALF, style)
    return text


class ImageTile(Static):
    """One image and its class name."""

    def __init__(self, image: Any, caption: str, mono: bool) -> None:
        text = half_block(image, mono)
        text.append("\n")
        text.append(caption[:TILE_WIDTH].center(TILE_WIDTH), "bold")
        super().__init__(text, classes="tile")
        self.caption = caption


class ImagesScreen(Screen):
    """A page of training images of the selected profile's data source."""

    class DatasetLoaded(Message):
        """Training images of a profile's data source, decoded in a thread."""

        def __init__(
            self, images: Any, labels: Any, class_names: tuple[str, ...], description: str
        ) -> None:
            super().__init__()
            self.images = images
            self.labels = labels
            self.class_names = class_names
            self.description = description

    class DatasetFailed(Message):
        """The data source could not be loaded; ``error`` says why, for the user."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("n", "page(1)", "Next"),
        Binding("N", "page(-1)", "Previous", show=False),
    ]

    def __init__(self, profile: Profile, label: str) -> None:
        super().__init__()
        self.profile = profile
        self.label = label
        self.images: Any = None
        self.labels: Any = None
        self.class_names: tuple[str, ...] = ()
        self.description = ""
        self.start = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="images-status", markup=False)
        with VerticalScroll(id="images-scroll"):
            yield Grid(id="images")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"data of {self.label}"
        self.query_one("#images-status", Static).update(
            f"Loading {self.profile.data.source} data for {self.label}…"
        )
        self.load(self.profile)

    @work(thread=True, exclusive=True, group="images", exit_on_error=False)
    def load(self, profile: Profile) -> None:
        """Decode the data source in a thread; the result comes back as a message."""
        try:
            from core.data import load_dataset

            data = load_dataset(profile.data)
        except CifarTuiError as exc:
            self.post_message(self.DatasetFailed(str(exc)))
            return
        except Exception as exc:  # e.g. a failed download: say so, do not crash
            self.post_message(self.DatasetFailed(f"{exc.__class__.__name__}: {exc}"))
            return
        self.post_message(
            self.DatasetLoaded(data.x_train, data.y_train, data.class_names, data.description)
        )

    def on_images_screen_dataset_loaded(self, message: ImagesScreen.DatasetLoaded) -> None:
        self.images, self.labels = message.images, message.labels
        self.class_names, self.description = message.class_names, message.description
        self.show_page()

    def on_images_screen_dataset_failed(self, message: ImagesScreen.DatasetFailed) -> None:
        status = self.query_one("#images-status", Static)
        status.update(f"Cannot load the data: {message.error}")
        status.add_class("-error")

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        grid = self.query_one("#images", Grid)
        grid.styles.grid_size_columns = max(1, (self.size.width - 2) // (TILE_WIDTH + 2))

    def show_page(self) -> None:
        if self.images is None:
            return
        total = len(self.images)
        end = min(total, self.start + PAGE)
        mono = self.app.no_color
        grid = self.query_one("#images", Grid)
        grid.remove_children()
        tiles = []
        for index in range(self.start, end):
            label = int(self.labels[index])
            name = self.class_names[label] if 0 <= label < len(self.class_names) else str(label)
            tiles.append(ImageTile(self.images[index], f"#{index} {name}", mono))
        grid.mount_all(tiles)
        self._fit_columns()
        self.query_one("#images-status", Static).update(
            f"{self.description}: training images {self.start}-{end - 1} of {total} "
            f"(n: next {PAGE}, N: previous)"
        )

    def action_page(self, step: int) -> None:
        if self.images is None:
            return
        total = len(self.images)
        self.start = (self.start + step * PAGE) % max(1, total)
        self.show_page()

    def action_back(self) -> None:
        self.dismiss()
