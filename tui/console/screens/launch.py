"""The pick screen: choose a model profile and a hyperparameter profile, adjust, launch.

Listing and validating never build a model or import TensorFlow. Every change re-resolves
the profile with ``core.profiles.load_profile`` (edits become ``table.key=value`` overrides,
exactly like ``--set``); a ProfileError is shown inline and disables the launch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    Select,
    Static,
)

from core.config import OPTIMIZERS, PRECISIONS
from core.format import short_count
from core.profiles import load_profile
from tui.console.catalog import (
    HparamsEntry,
    ProfileEntry,
    last_result_text,
    last_results,
    list_hparams,
    list_model_profiles,
    settings_rows,
)
from tui.console.runner import LaunchRequest, command_line

if TYPE_CHECKING:
    from core.config import Profile
    from tui.console.app import CifarTuiApp

HPARAMS_DESCRIPTION_WIDTH = 60
REVALIDATE_DELAY = 0.3  # seconds of typing pause before the profile is resolved again


@dataclass(frozen=True)
class Field:
    """A common setting editable before launch, and the profile key it overrides."""

    id: str
    key: str
    label: str
    input_type: str = "text"
    choices: tuple[str, ...] = ()


FIELDS = (
    Field("epochs", "train.epochs", "epochs", "integer"),
    Field("batch", "train.batch_size", "batch size", "integer"),
    Field("lr", "train.learning_rate", "learning rate"),
    Field("optimizer", "train.optimizer", "optimizer", choices=OPTIMIZERS),
    Field("precision", "train.precision", "precision", choices=PRECISIONS),
)


def value_text(value: Any) -> str:
    """A profile value as it would be typed in a field (floats round-trip exactly)."""
    return repr(value) if isinstance(value, float) else str(value)


class LaunchScreen(Screen):
    """Pick, check and launch a run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "launch", "Launch"),
        Binding("i", "images", "Images"),
        Binding("S", "sweeps", "Sweeps"),
        # While a field has focus its printable keys are text, so the footer offers a way out.
        Binding("escape", "leave_field", "Leave field"),
        Binding("ctrl+l", "launch_from_field", "Launch"),
    ]

    app: CifarTuiApp

    def __init__(self) -> None:
        super().__init__()
        self.profiles: list[ProfileEntry] = []
        self.hparams: list[HparamsEntry] = []
        self.profile_index = 0
        self.hparams_index = 0
        self.base: Profile | None = None  # profile + hparams, before the fields' overrides
        self.resolved: Profile | None = None  # what a launch would run now
        self.overrides: list[str] = []
        self.error: str | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="pick"):
            with Vertical(id="lists"):
                yield Static("Model profiles", classes="section")
                yield DataTable(id="profiles", cursor_type="row", zebra_stripes=True)
                yield Static("Hyperparameter profile", classes="section")
                yield DataTable(id="hparams", cursor_type="row", show_header=False)
            with Vertical(id="details"):
                yield Static(id="description", markup=False)
                with Grid(id="form"):
                    for field in FIELDS:
                        yield Label(field.label, classes="field-label")
                        if field.choices:
                            yield Select(
                                [(c, c) for c in field.choices],
                                id=f"field-{field.id}",
                                allow_blank=False,
                                compact=True,
                            )
                        else:
                            yield Input(
                                id=f"field-{field.id}",
                                type=field.input_type,
                                compact=True,
                                select_on_focus=True,
                            )
                yield Static(id="error", markup=False)
                with VerticalScroll(id="resolved-scroll"):
                    yield Static(id="resolved", markup=False)
                yield Button("Launch (l)", id="launch", variant="success", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "pick a profile"
        self.query_one("#error", Static).display = False
        self.profiles = list_model_profiles(self.app.profiles_dir)
        self.hparams = list_hparams(self.app.profiles_dir)
        table = self.query_one("#profiles", DataTable)
        table.add_column("profile", key="profile")
        table.add_column(Text("params", justify="right"), key="params")
        table.add_column("last run", key="last")
        results = last_results(self.app.runs_dir)
        for index, entry in enumerate(self.profiles):
            name = Text(entry.name, style="red" if entry.error else "")
            last = "invalid" if entry.error else last_result_text(results.get(entry.name))
            table.add_row(
                name, Text(short_count(entry.params), justify="right"), last, key=str(index)
            )
        hp_table = self.query_one("#hparams", DataTable)
        hp_table.add_column("name", key="name")
        hp_table.add_column("description", key="description", width=HPARAMS_DESCRIPTION_WIDTH)
        for index, entry in enumerate(self.hparams):
            hp_table.add_row(
                Text(entry.name, style="bold"), Text(entry.description, style="dim"), key=str(index)
            )
        if not self.profiles:
            self._show_error(f"No model profiles (*.toml) in {self.app.profiles_dir}.")
        else:
            self.select_changed()
        table.focus()

    def on_screen_resume(self) -> None:
        self.refresh_results()

    def refresh_results(self) -> None:
        """Update the "last run" column (a run may have finished since)."""
        table = self.query_one("#profiles", DataTable)
        results = last_results(self.app.runs_dir)
        for index, entry in enumerate(self.profiles):
            if not entry.error:
                text = last_result_text(results.get(entry.name))
                table.update_cell(str(index), "last", text, update_width=True)

    # -- choosing ---------------------------------------------------------------------------

    @property
    def profile_entry(self) -> ProfileEntry | None:
        return self.profiles[self.profile_index] if self.profiles else None

    @property
    def hparams_entry(self) -> HparamsEntry:
        return self.hparams[self.hparams_index]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table_id, row = event.data_table.id, event.cursor_row
        if table_id == "profiles" and row != self.profile_index:
            self.profile_index = row
            self.select_changed()
        elif table_id == "hparams" and row != self.hparams_index:
            self.hparams_index = row
            self.select_changed()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter moves on: profile, then hyperparameters, then the first field."""
        if event.data_table.id == "profiles":
            self.query_one("#hparams", DataTable).focus()
        elif event.data_table.id == "hparams":
            self.query_one("#field-epochs", Input).focus()

    def select_changed(self) -> None:
        """A new profile or hyperparameter choice: resolve it and fill the fields from it."""
        entry = self.profile_entry
        if entry is None:
            return
        description = Text()
        description.append(entry.name, "bold")
        if entry.description:
            description.append(f": {entry.description}")
        self.query_one("#description", Static).update(description)
        self.base = None
        if entry.error:
            self._failed(entry.error)
            return
        try:
            self.base = load_profile(entry.path, self.hparams_entry.path)
        except Exception as exc:  # a ProfileError, shown inline; never a crash
            self._failed(str(exc))
            return
        for field in FIELDS:
            value = value_text(self.base.get(field.key))
            if field.choices:
                self.query_one(f"#field-{field.id}", Select).value = value
            else:
                self.query_one(f"#field-{field.id}", Input).value = value
        self.revalidate()

    def field_overrides(self) -> list[str]:
        """``table.key=value`` for every field that differs from the chosen profiles."""
        items = []
        for field in FIELDS:
            if field.choices:
                value = self.query_one(f"#field-{field.id}", Select).value
                text = "" if value is Select.BLANK else str(value)
            else:
                text = self.query_one(f"#field-{field.id}", Input).value.strip()
            if not text:
                continue
            if self.base is not None and text == value_text(self.base.get(field.key)):
                continue
            items.append(f"{field.key}={text}")
        return items

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(REVALIDATE_DELAY, self.revalidate)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field checks the settings and moves on to the next field."""
        self.revalidate()
        self.focus_next()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()  # "Leave field" shows only while a field has focus

    def _editing(self) -> bool:
        return isinstance(self.app.focused, (Input, Select))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("leave_field", "launch_from_field"):
            return self._editing()
        return True

    def action_launch_from_field(self) -> None:
        self.action_launch()

    def action_leave_field(self) -> None:
        self.query_one("#profiles", DataTable).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.revalidate()

    def revalidate(self) -> Profile | None:
        """Resolve profile + hyperparameters + field overrides; show the result or the error."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        entry = self.profile_entry
        if entry is None or entry.error or self.base is None:
            return None
        overrides = self.field_overrides()
        try:
            profile = load_profile(entry.path, self.hparams_entry.path, overrides)
        except Exception as exc:  # a ProfileError, shown inline; never a crash
            self._failed(str(exc), keep_fields=True)
            return None
        self.resolved, self.overrides = profile, overrides
        self._show_error(None)
        self._draw_resolved(profile, overrides)
        self.query_one("#launch", Button).disabled = False
        return profile

    def _failed(self, message: str, keep_fields: bool = False) -> None:
        self.resolved = None
        self._show_error(message)
        self.query_one("#launch", Button).disabled = True
        if not keep_fields:
            self.query_one("#resolved", Static).update("")

    def _show_error(self, message: str | None) -> None:
        self.error = message
        error = self.query_one("#error", Static)
        error.update(f"✖ {message}" if message else "")
        error.display = message is not None

    def _draw_resolved(self, profile: Profile, overrides: list[str]) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        hp = self.hparams_entry
        table.add_row("hparams", hp.name if hp.path is None else f"{hp.name} ({hp.description})")
        for label, value in settings_rows(profile):
            table.add_row(label, value)
        table.add_row("overrides", " ".join(overrides) if overrides else "none")
        self.query_one("#resolved", Static).update(table)

    # -- actions ----------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch":
            self.action_launch()

    def action_launch(self) -> None:
        profile = self.revalidate()
        entry = self.profile_entry
        if profile is None or entry is None:
            self.app.bell()
            self.notify(
                self.error or "Nothing to launch.",
                title="Cannot launch",
                severity="error",
                markup=False,
            )
            return
        command = command_line(
            entry.path, self.hparams_entry.path, self.overrides, self.app.runs_dir
        )
        self.app.start_run(
            LaunchRequest(
                label=profile.name, runs_dir=self.app.runs_dir, profile=profile, command=command
            )
        )

    def action_sweeps(self) -> None:
        from tui.console.screens.sweeps import SweepsScreen

        self.app.push_screen(SweepsScreen())

    def action_images(self) -> None:
        profile = self.resolved or self.base
        if profile is None:
            self.notify(
                self.error or "Choose a valid profile first.", severity="error", markup=False
            )
            return
        from tui.console.screens.images import ImagesScreen

        self.app.push_screen(ImagesScreen(profile, profile.name))
