"""The pick screen: choose a model profile and a hyperparameter profile, adjust, launch.

Listing and validating never build a model or import TensorFlow. Every change re-resolves
the profile with ``core.profiles.load_profile`` (edits become ``table.key=value`` overrides,
exactly like ``--set``); a ProfileError is shown inline, in the form's words, and disables the
launch. The fields come from the profile as resolved without the data check, so a profile whose
data does not fit (a validation split larger than the sample) still shows its own values, and
the form (data source, path, validation size, limit) can fix it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    Select,
    Static,
)

from core.config import OPTIMIZERS, PRECISIONS, SOURCES
from core.errors import CifarTuiError, ProfileError
from core.format import short_count
from core.profiles import SET_SOURCE, load_profile
from core.status import mark_of
from tui.console.catalog import (
    HparamsEntry,
    ProfileEntry,
    last_results,
    list_hparams,
    list_model_profiles,
    settings_rows,
)
from tui.console.runner import LaunchRequest, command_line

if TYPE_CHECKING:
    from core.config import Profile
    from core.storage.rundir import RunRecord
    from tui.console.app import CifarTuiApp

REVALIDATE_DELAY = 0.3  # seconds of typing pause before the profile is resolved again
#: The profile a first visit starts on when no run says which was used last: seconds, not hours.
QUICK_PROFILE = "smoke"
#: Below this many columns for the descriptions the hyperparameter list shows names only (the
#: chosen one's description is in the settings summary).
DESCRIPTION_MIN_WIDTH = 30
#: What a number field accepts, said when a refused character is typed.
NUMBER_WORDS = {"integer": "a whole number", "number": "a number (e.g. 0.001 or 1e-3)"}


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
    Field("lr", "train.learning_rate", "learning rate", "number"),
    Field("optimizer", "train.optimizer", "optimizer", choices=OPTIMIZERS),
    Field("precision", "train.precision", "precision", choices=PRECISIONS),
    Field("source", "data.source", "data source", choices=SOURCES),
    Field("path", "data.path", "data path"),
    Field("val", "data.validation_size", "validation size", "integer"),
    Field("limit", "data.limit", "image limit", "integer"),
)
FIELD_BY_KEY = {field.key: field for field in FIELDS}


def value_text(value: Any) -> str:
    """A profile value as it would be typed in a field (floats round-trip exactly)."""
    return repr(value) if isinstance(value, float) else str(value)


def form_error(exc: Exception) -> str:
    """An error in the form's words: "epochs: must be an integer >= 1..." for a key the form
    edits (with the file and line when a profile file set it), the whole message otherwise."""
    if isinstance(exc, ProfileError) and exc.key in FIELD_BY_KEY:
        where = ""
        if exc.file != SET_SOURCE:
            where = f" (set in {exc.file}" + (f":{exc.line}" if exc.line else "") + ")"
        return f"{FIELD_BY_KEY[exc.key].label}: {exc.message}{where}"
    return str(exc)


#: Runs the pick screen may read from their files on the UI thread at mount (a new, small runs
#: directory); more are read by a worker (core/storage/index.py keeps them for next time).
SYNC_READS = 32


def last_run_cell(record: RunRecord | None) -> Text:
    """ "✔ 29.0%" (a completed run's test accuracy), "◆ interrupted"... or "-" for never run:
    the status's mark reads without colour, and the cell fits a narrow list."""
    if record is None:
        return Text("-")
    from core.format import percent

    acc = record.test_accuracy
    figure = percent(acc) if acc is not None else record.status
    return Text(f"{mark_of(record.status)} {figure}")


def starting_index(entries: list[ProfileEntry], results: dict[str, RunRecord]) -> int:
    """Where the list starts: the profile used last (newest run first), else the quick one."""
    names = {entry.name: index for index, entry in enumerate(entries) if not entry.error}
    for name in results:  # newest run first
        if name in names:
            return names[name]
    return names.get(QUICK_PROFILE, 0)


class NumberInput(Input):
    """A number field that says why a typed character was refused, instead of only ringing."""

    class Refused(Message):
        def __init__(self, field_input: NumberInput) -> None:
            super().__init__()
            self.input = field_input

    def restricted(self) -> None:
        self.post_message(self.Refused(self))


class PathInput(Input):
    """The data path field: unfocused, a long path keeps its end (the dataset) in view, also
    after a relayout (the "last run" column filled by a worker, a resize), which scrolls an
    input back to its start."""

    def show_end(self) -> None:
        if not self.has_focus:
            self.cursor_position = len(self.value)
            self.call_after_refresh(self.scroll_to, x=len(self.value), animate=False)

    def _on_resize(self, event: events.Resize) -> None:
        self.show_end()


class LaunchScreen(Screen):
    """Pick, check and launch a run."""

    class LastResults(Message):
        """The newest run of each profile name, read from the runs index in a thread, for the
        "last run" column."""

        def __init__(self, results: dict[str, Any]) -> None:
            super().__init__()
            self.results = results

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
        self.results_read = False  # the "last run" column is filled (False: a worker reads)
        self._first_index: int | None = None  # where a first visit started, until it moves

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
                    yield from self._compose_fields()
                yield Static(id="note", markup=False)
                yield Static(id="error", markup=False)
                with VerticalScroll(id="resolved-scroll"):
                    yield Static(id="resolved", markup=False)
                yield Checkbox(
                    "keep training if terminal closes",  # whole at 80 columns
                    self.app.session.keep_training,
                    id="keep-training",
                    compact=True,
                    tooltip="The run trains in a process of its own: closing the terminal, a "
                    "dropped SSH connection or quitting the console does not stop it.",
                )
                yield Button("Launch (l)", id="launch", variant="success", compact=True)
        yield Footer()

    def _compose_fields(self) -> ComposeResult:
        for field in FIELDS:
            yield Label(field.label, classes="field-label")
            widget_id = f"field-{field.id}"
            if field.choices:
                options = [(c, c) for c in field.choices]
                yield Select(options, id=widget_id, allow_blank=False, compact=True)
            elif field.id == "path":
                with Horizontal(id="path-cell"):
                    yield PathInput(id=widget_id, compact=True, select_on_focus=True)
                    yield Button("Browse", id="browse", compact=True)
            else:
                yield NumberInput(
                    id=widget_id, type=field.input_type, compact=True, select_on_focus=True
                )

    def on_mount(self) -> None:
        self.sub_title = "pick a profile"
        for part in ("#error", "#note"):
            self.query_one(part, Static).display = False
        self.profiles = list_model_profiles(self.app.profiles_dir)
        self.hparams = list_hparams(self.app.profiles_dir)
        table = self.query_one("#profiles", DataTable)
        table.add_column("profile", key="profile")
        table.add_column(Text("params", justify="right"), key="params")
        table.add_column("last run", key="last")
        results = self._results_now()
        for index, entry in enumerate(self.profiles):
            name = Text(entry.name, style="red" if entry.error else "")
            last = Text("✖ invalid") if entry.error else last_run_cell(results.get(entry.name))
            table.add_row(
                name, Text(short_count(entry.params), justify="right"), last, key=str(index)
            )
        self._fill_hparams()
        if not self.profiles:
            self._show_error(f"No model profiles (*.toml) in {self.app.profiles_dir}.")
            self._enable_fields(False)
        else:
            self.profile_index = starting_index(self.profiles, results)
            self._first_index = None if self.results_read else self.profile_index
            table.move_cursor(row=self.profile_index)
            self.select_changed()
        table.focus()
        if not self.results_read:
            self.call_after_refresh(self._read_results)  # after the first paint: no GIL race

    def _results_now(self) -> dict[str, Any]:
        """The "last run" of each profile at once when a small runs directory allows it (at
        most SYNC_READS runs read on the UI thread); else a worker brings it (LastResults)."""
        import sqlite3

        try:
            results = last_results(self.app.runs_dir, max_reads=SYNC_READS)
        except sqlite3.Error:
            results = None
        self.results_read = results is not None
        return results or {}

    @work(thread=True, exclusive=True, group="last-results", exit_on_error=False)
    def _read_results(self) -> None:
        self.post_message(self.LastResults(last_results(self.app.runs_dir) or {}))

    def on_launch_screen_last_results(self, message: LaunchScreen.LastResults) -> None:
        """The worker's "last run" column; a first visit not moved yet goes on to the profile
        used last, as it would have had the runs been read at once."""
        self.results_read = True
        self._show_results(message.results)
        if self._first_index is not None and self._first_index == self.profile_index:
            self.profile_index = starting_index(self.profiles, message.results)
            self.query_one("#profiles", DataTable).move_cursor(row=self.profile_index)
            self.select_changed()
        self._first_index = None

    def _fill_hparams(self) -> None:
        """The hyperparameter list: names, and their descriptions where there is room."""
        hp_table = self.query_one("#hparams", DataTable)
        row = hp_table.cursor_row
        hp_table.clear(columns=True)
        name_width = max(len(entry.name) for entry in self.hparams)
        room = self.query_one("#lists").size.width - name_width - 5  # cell padding, scrollbar
        hp_table.add_column("name", key="name", width=name_width)
        wide = room >= DESCRIPTION_MIN_WIDTH
        if wide:
            hp_table.add_column("description", key="description", width=room)
        for index, entry in enumerate(self.hparams):
            cells = [Text(entry.name, style="bold")]
            if wide:
                cells.append(Text(entry.description, style="dim"))
            hp_table.add_row(*cells, key=str(index), height=None if wide else 1)
        hp_table.move_cursor(row=max(0, row))

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill_hparams)

    def on_screen_resume(self) -> None:
        self.refresh_results()
        # Back on the pick screen (p): focus starts on the profile list, as on the first visit,
        # never on a field left behind or on nothing.
        if not self._editing():
            self.query_one("#profiles", DataTable).focus()

    def on_key(self, event: events.Key) -> None:
        """A digit typed on the lists is meant for the epochs: it goes to that field (typed
        nowhere, it would launch the old number with nothing on screen to say so)."""
        if event.character and event.character.isdigit() and not self._editing():
            field = self.query_one("#field-epochs", Input)
            if field.disabled:
                return
            event.stop()
            field.select_on_focus = False  # keep the digit: the next one follows it
            field.focus()
            field.value = event.character
            field.cursor_position = len(field.value)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if isinstance(event.widget, Input):
            event.widget.select_on_focus = True  # as the field was made (on_key turns it off)
        if event.widget.id == "field-path":
            self._show_path_end()

    def refresh_results(self) -> None:
        """Update the "last run" column (a run may have finished since): from a worker."""
        self._read_results()

    def _show_results(self, results: dict[str, Any]) -> None:
        table = self.query_one("#profiles", DataTable)
        for index, entry in enumerate(self.profiles):
            if not entry.error:
                cell = last_run_cell(results.get(entry.name))
                table.update_cell(str(index), "last", cell, update_width=True)

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
        """A new profile or hyperparameter choice: fill the fields from it, then check it.

        The fields come from the profile resolved without the data check, so they show this
        profile's values even when its data does not fit; the full check follows.
        """
        entry = self.profile_entry
        if entry is None:
            return
        description = Text()
        description.append(entry.name, "bold")
        if entry.description:
            description.append(f": {entry.description}")
        self.query_one("#description", Static).update(description)
        self.base = None
        try:
            if entry.error:
                raise CifarTuiError(entry.error)
            self.base = load_profile(entry.path, self.hparams_entry.path, check_data=False)
        except CifarTuiError as exc:  # the file itself is wrong: nothing to fill the form with
            self._enable_fields(False)
            self._failed(form_error(exc))
            self.query_one("#resolved", Static).update(
                "Fix the file (or pick another profile): the settings show once it reads."
            )
            return
        self._enable_fields(True)
        self._fill_fields(self.base)
        self.revalidate()

    def _fill_fields(self, profile: Profile) -> None:
        for field in FIELDS:
            value = value_text(profile.get(field.key))
            if field.choices:
                self.query_one(f"#field-{field.id}", Select).value = value
            else:
                self.query_one(f"#field-{field.id}", Input).value = value
        self._update_path_field(profile.data.source)
        self._show_path_end()

    def _enable_fields(self, enabled: bool) -> None:
        for field in FIELDS:
            widget = self.query_one(f"#field-{field.id}")
            widget.disabled = not enabled
            if not enabled and isinstance(widget, Input):
                widget.value = ""
        self.query_one("#browse", Button).disabled = not enabled

    def _update_path_field(self, source: str) -> None:
        """The path is the folder source's; for cifar10 it says where the data comes from."""
        from core.data import LOCAL_CIFAR10

        path = self.query_one("#field-path", Input)
        folder = source == "folder"
        path.disabled = not folder
        self.query_one("#browse", Button).disabled = not folder
        local = os.environ.get(LOCAL_CIFAR10)
        if source == "cifar10":
            path.placeholder = f"${LOCAL_CIFAR10}: {local}" if local else "keras.datasets download"
        else:
            path.placeholder = "a train/ + test/ folder or .tar.gz" if folder else "not used"

    def _field_text(self, field: Field) -> str:
        if field.choices:
            value = self.query_one(f"#field-{field.id}", Select).value
            return "" if value is Select.BLANK else str(value)
        return self.query_one(f"#field-{field.id}", Input).value.strip()

    def field_overrides(self) -> list[str]:
        """``table.key=value`` for every field that differs from the chosen profiles."""
        if self.base is None:
            return []
        items = []
        folder = self._field_text(FIELD_BY_KEY["data.source"]) == "folder"
        for field in FIELDS:
            text = self._field_text(field)
            if field.id == "path" and not folder:
                if self.base.data.path:  # the file's path would be refused without a folder
                    items.append('data.path=""')
                continue
            if not text or text == value_text(self.base.get(field.key)):
                continue
            items.append(f"{field.key}={text}")
        return items

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_note(None)
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(REVALIDATE_DELAY, self.revalidate)

    def on_number_input_refused(self, message: NumberInput.Refused) -> None:
        """A letter typed in a number field: say what the field takes (the text is unchanged)."""
        field_id = (message.input.id or "").removeprefix("field-")
        field = next((f for f in FIELDS if f.id == field_id), None)
        if field is not None:
            self._show_note(
                f"{field.label} takes {NUMBER_WORDS[field.input_type]}: letters are not typed in"
            )

    def _show_note(self, text: str | None) -> None:
        note = self.query_one("#note", Static)
        note.update(text or "")
        note.display = text is not None

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
        """ctrl+l: launch, and leave the field so the screen's keys work again afterwards."""
        self.action_leave_field()
        self.action_launch()

    def action_leave_field(self) -> None:
        self.query_one("#profiles", DataTable).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "field-source":
            self._update_path_field(str(event.value))
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
        except CifarTuiError as exc:  # a ProfileError, shown inline; never a crash
            self.overrides = overrides
            self._failed(form_error(exc))
            self._draw_unchecked(entry, overrides)
            return None
        self.resolved, self.overrides = profile, overrides
        self._show_error(None)
        self._draw_resolved(profile, overrides)
        self.query_one("#launch", Button).disabled = False
        return profile

    def _draw_unchecked(self, entry: ProfileEntry, overrides: list[str]) -> None:
        """While an error shows, the summary shows the settings as typed (without the data
        check, when they resolve that far), never the last valid ones."""
        try:
            profile = load_profile(entry.path, self.hparams_entry.path, overrides, check_data=False)
        except CifarTuiError:
            self.query_one("#resolved", Static).update(
                "The settings show here once the error above is fixed."
            )
            return
        self._draw_resolved(profile, overrides, checked=False)

    def _failed(self, message: str) -> None:
        self.resolved = None
        self._show_error(message)
        self.query_one("#launch", Button).disabled = True

    def _show_error(self, message: str | None) -> None:
        self.error = message
        error = self.query_one("#error", Static)
        error.update(f"✖ {message}" if message else "")
        error.display = message is not None

    def _draw_resolved(self, profile: Profile, overrides: list[str], checked: bool = True) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        hp = self.hparams_entry
        table.add_row("hparams", hp.name if hp.path is None else f"{hp.name} ({hp.description})")
        for label, value in settings_rows(profile):
            table.add_row(label, value)
        table.add_row("overrides", " ".join(overrides) if overrides else "none")
        if not checked:
            table.add_row("", Text("not launchable until the error above is fixed", "italic"))
        self.query_one("#resolved", Static).update(table)

    # -- actions ----------------------------------------------------------------------------

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "keep-training":
            self.app.session.keep_training = event.value  # launches and resumes follow it

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch":
            self.action_launch()
        elif event.button.id == "browse":
            self.action_browse()

    def action_browse(self) -> None:
        """Choose the folder source's path in a file browser."""
        from tui.console.screens.dialogs import PathPicker

        path = self.query_one("#field-path", Input)
        self.app.push_screen(PathPicker(path.value or "."), self._path_chosen)

    def _path_chosen(self, chosen: Path | None) -> None:
        if chosen is not None:
            self.query_one("#field-path", Input).value = str(chosen)
            self._show_path_end()
            self.revalidate()

    def _show_path_end(self) -> None:
        """A long path shows its end (which dataset), not its start (a parent folder)."""
        self.query_one("#field-path", PathInput).show_end()

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
        """The sweep files; a sweep started there gets this form's overrides on every run."""
        from tui.console.screens.sweeps import SweepsScreen

        self.app.push_screen(SweepsScreen(tuple(self.field_overrides())))

    def action_images(self) -> None:
        profile = self.resolved or self.base
        if profile is None:
            self.notify(
                self.error or "Choose a valid profile first.", severity="error", markup=False
            )
            return
        from tui.console.screens.images import ImagesScreen

        self.app.push_screen(ImagesScreen(profile, profile.name))
