"""The console as a newcomer meets it, driven with Textual's pilot (no training).

The data fields of the pick form fix a profile whose data does not fit; the folder browser picks
a path; a letter in a number field says why it is refused; ctrl+l leaves the field so the
screen's keys work; a long sweep asks first and every sweep gets the form's overrides; statuses
stay apart under NO_COLOR; the report screen says what it reads at once; "No GPU" is said once.
Launches and sweeps are caught at the app's door (``start_run`` / ``start_sweep``) instead of
training: what they would run is what is checked.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from test_tui import in_event_loop, sweeps_listed, wait_for
from test_tui_helpers import copy_profiles, fake_report, standard_runs, write_run
from textual.widgets import Button, DataTable, Input, Select, Static

from core.data import LOCAL_CIFAR10
from core.events import RunFinished, RunWarning
from core.status import MARK, RunStatus
from tui.console.app import CifarTuiApp, create_app
from tui.console.messages import EngineEvent
from tui.console.screens.dialogs import ConfirmScreen, PathPicker
from tui.console.screens.launch import LaunchScreen
from tui.console.screens.report import ReportScreen
from tui.console.screens.runs import RunsScreen
from tui.console.screens.watch import WatchScreen
from tui.console.state import RunState
from tui.console.widgets.plots import MetricPlot, log_ticks

SIZE = (120, 40)

#: The small VGG on CIFAR-10 as shipped: a 5,000-image validation split.
REAL_DATA_PROFILE = """\
name = "vgg_small"
description = "Small VGG on CIFAR-10"

[model]
architecture = "vgg_small"

[data]
source = "cifar10"
validation_size = 5000

[train]
epochs = 20
batch_size = 128
"""

FOUR_RUN_SWEEP = """\
name = "four"
base = "../smoke.toml"

[grid]
"train.learning_rate" = [0.001, 0.002, 0.003, 0.004]
"""

TWO_RUN_SWEEP = """\
name = "two"
base = "../smoke.toml"

[grid]
"train.learning_rate" = [0.001, 0.002]
"""


def text(widget: Static) -> str:
    """What a Static shows, as plain text (a Rich table included)."""
    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def catch_launches(app: CifarTuiApp) -> list[Any]:
    """Record what the app would start instead of training it."""
    started: list[Any] = []
    app.start_run = lambda request: started.append(request) or True  # type: ignore[method-assign]
    app.start_sweep = lambda sweep: started.append(sweep) or True  # type: ignore[method-assign]
    return started


async def choose_profile(pilot, launch: LaunchScreen, name: str) -> None:
    index = [e.name for e in launch.profiles].index(name)
    launch.query_one("#profiles", DataTable).move_cursor(row=index)
    await pilot.pause()
    await pilot.pause()


async def type_into(pilot, launch: LaunchScreen, field: str, *keys: str) -> None:
    """Focus a field (its text selected, as tab leaves it), type over it, press enter."""
    launch.query_one(f"#field-{field}", Input).focus()
    await pilot.press(*keys, "enter")
    await pilot.pause()


# -- the data fields --------------------------------------------------------------------------


@in_event_loop
async def test_a_profile_whose_data_does_not_fit_shows_its_values_and_is_fixed_from_the_form(
    tmp_path: Path, cifar10_mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCAL_CIFAR10, str(cifar10_mini))  # the 1,200-image sample
    profiles = copy_profiles(tmp_path / "profiles", {"vgg_small.toml": REAL_DATA_PROFILE})
    app = create_app(profiles, tmp_path / "runs")
    started = catch_launches(app)
    async with app.run_test(size=SIZE) as pilot:
        launch = app.screen
        assert isinstance(launch, LaunchScreen)
        await choose_profile(pilot, launch, "vgg_small")
        error = launch.query_one("#error", Static)
        # The error in the form's words; the fields show this profile's values, not smoke's.
        assert text(error).startswith("✖ validation size: validation_size 5000")
        assert "the source has 1000 training images" in text(error)
        assert launch.query_one("#field-epochs", Input).value == "20"
        assert launch.query_one("#field-batch", Input).value == "128"
        assert launch.query_one("#field-source", Select).value == "cifar10"
        assert launch.query_one("#field-val", Input).value == "5000"
        path = launch.query_one("#field-path", Input)
        assert path.disabled and str(cifar10_mini) in path.placeholder
        assert launch.query_one("#launch", Button).disabled
        # The summary shows the settings as they are now, never a previous profile's.
        summary = text(launch.query_one("#resolved", Static))
        assert "batch 128, 20 epochs" in summary and "not launchable" in summary

        # The validation size fixes it; the epochs field is edited too, and both apply.
        await type_into(pilot, launch, "val", "2", "0", "0")
        await type_into(pilot, launch, "epochs", "1")
        assert not error.display and launch.resolved is not None
        assert launch.overrides == ["train.epochs=1", "data.validation_size=200"]
        assert launch.resolved.data.validation_size == 200
        assert "5000" not in text(launch.query_one("#resolved", Static))
        await pilot.press("escape", "l")  # leave the field, then the screen's key
        assert [r.profile.train.epochs for r in started] == [1]


@in_event_loop
async def test_folder_source_path_from_the_browser(
    tmp_path: Path, cifar10_mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(cifar10_mini.parent)  # the browser starts where the console runs
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        launch = app.screen
        path = launch.query_one("#field-path", Input)
        assert path.disabled  # synthetic: no path
        launch.query_one("#field-source", Select).value = "folder"
        await pilot.pause()
        assert not path.disabled
        error = launch.query_one("#error", Static)
        assert text(error).startswith('✖ data source: source = "folder" needs data.path')

        launch.query_one("#browse", Button).press()
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, PathPicker)
        # Folders first: the sample's folder is the first entry under the start folder.
        await wait_for(pilot, lambda: picker.query_one("#picker-tree").cursor_line >= 0, 5, "tree")
        await pilot.press("down")
        await wait_for(pilot, lambda: picker.highlighted == cifar10_mini, 5, "the sample folder")
        await pilot.press("u")
        await pilot.pause()
        assert app.screen is launch and path.value == str(cifar10_mini)
        assert not error.display, text(error)
        assert launch.overrides == ["data.source=folder", f"data.path={cifar10_mini}"]
        # Back to synthetic: the path is set aside, not sent.
        launch.query_one("#field-source", Select).value = "synthetic"
        await pilot.pause()
        assert path.disabled and launch.overrides == [] and not error.display


@in_event_loop
async def test_letters_in_a_number_field_say_why(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        launch = app.screen
        epochs = launch.query_one("#field-epochs", Input)
        epochs.focus()
        await pilot.press("end", "x")
        await pilot.pause()
        note = launch.query_one("#note", Static)
        assert note.display and "epochs takes a whole number" in text(note)
        assert epochs.value == "3"
        await pilot.press("backspace", "4")  # a digit clears the note
        await pilot.pause()
        assert not note.display and epochs.value == "4"
        await type_into(pilot, launch, "lr", "q")
        assert "learning rate takes a number" in text(note)


# -- safe defaults ----------------------------------------------------------------------------


@in_event_loop
async def test_the_first_visit_starts_on_the_quick_profile_then_on_the_last_used(
    tmp_path: Path,
) -> None:
    profiles = copy_profiles(tmp_path / "profiles", {"alexnet.toml": REAL_DATA_PROFILE})
    app = create_app(profiles, tmp_path / "runs")
    async with app.run_test(size=SIZE):
        assert app.screen.profile_entry.name == "smoke"  # not the first in the list
    write_run(tmp_path / "runs", "20260101-120000-vgg_small", fake_report(name="vgg_small"))
    app = create_app(profiles, tmp_path / "runs")
    async with app.run_test(size=SIZE):
        assert app.screen.profile_entry.name == "vgg_small"


@in_event_loop
async def test_after_ctrl_l_the_screen_keys_work(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    started = catch_launches(app)
    async with app.run_test(size=SIZE) as pilot:
        launch = app.screen
        launch.query_one("#field-lr", Input).focus()
        await pilot.press("0", ".", "0", "0", "2", "ctrl+l")
        await pilot.pause()
        assert [r.profile.train.learning_rate for r in started] == [0.002]
        assert app.focused is launch.query_one("#profiles", DataTable)
        await pilot.press("l")  # a screen key again, not a letter in the learning rate
        assert len(started) == 2 and launch.query_one("#field-lr", Input).value == "0.002"
        await pilot.press("b")
        assert isinstance(app.screen, RunsScreen)


@in_event_loop
async def test_a_long_sweep_asks_first_and_every_sweep_gets_the_form_overrides(
    tmp_path: Path,
) -> None:
    profiles = copy_profiles(tmp_path / "profiles")
    (profiles / "sweeps").mkdir()
    (profiles / "sweeps" / "four.toml").write_text(FOUR_RUN_SWEEP, encoding="utf-8")
    (profiles / "sweeps" / "two.toml").write_text(TWO_RUN_SWEEP, encoding="utf-8")
    standard_runs(tmp_path / "runs")  # earlier small-VGG runs: a time estimate
    app = create_app(profiles, tmp_path / "runs")
    started = catch_launches(app)
    async with app.run_test(size=SIZE) as pilot:
        launch = app.screen
        await type_into(pilot, launch, "val", "5", "0")
        await type_into(pilot, launch, "lr", "0", ".", "0", "0", "3")  # the sweeps vary it
        await pilot.press("escape", "S")
        sweeps = await sweeps_listed(pilot)
        details = text(sweeps.query_one("#sweep-details", Static))
        assert "4 runs x 3 epochs = 12 epochs, about 0:53" in details
        assert "With the pick form's settings on every run: data.validation_size=50." in details
        assert "Left out (the sweep sets them per run): train.learning_rate." in details

        await pilot.press("enter")  # four runs: a question first
        await pilot.pause()
        question = app.screen
        assert isinstance(question, ConfirmScreen) and not started
        assert "4 runs x 3 epochs = 12 epochs" in question.question
        await pilot.press("n")
        assert isinstance(app.screen, type(sweeps)) and not started
        await pilot.press("enter", "y")
        await pilot.pause()
        (four,) = started
        assert four.overrides == ("data.validation_size=50",)
        rates = [run.profile.train.learning_rate for run in four.runs]
        assert rates == [0.001, 0.002, 0.003, 0.004]  # the grid, not the form's 0.003
        assert {run.profile.data.validation_size for run in four.runs} == {50}

        await pilot.press("p", "S")
        await sweeps_listed(pilot)
        await pilot.press("down", "enter")  # two runs: no question
        await pilot.pause()
        assert [len(s.runs) for s in started] == [4, 2]


# -- readable ---------------------------------------------------------------------------------


@in_event_loop
async def test_statuses_are_told_apart_without_colour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    runs_dir = tmp_path / "runs"
    standard_runs(runs_dir)
    write_run(runs_dir, "20260106-000000-smoke", fake_report("failed", test_accuracy=None))
    write_run(runs_dir, "20260107-000000-smoke", fake_report("diverged", test_accuracy=None))
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        assert app.no_color
        await pilot.press("b")
        table = app.screen.query_one("#runs", DataTable)
        cells = [table.get_cell(row, "status") for row in table.rows]
        words = [str(cell).split()[-1] for cell in cells]
        assert sorted(words) == ["completed", "diverged", "failed", "interrupted", "stopped"]
        for cell, word in zip(cells, words, strict=True):
            assert str(cell) == f"{MARK[RunStatus(word)]} {word}"
            # No colour to turn grey on the grey stripes: plain, or bold for a bad ending.
            assert str(cell.style) == ("bold" if word in ("failed", "diverged") else "")


@in_event_loop
async def test_the_report_screen_says_what_it_reads_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.console.screens import report as report_module

    gate = threading.Event()
    real = report_module.report_markdown

    def slow(record: Any) -> str:
        gate.wait(10)
        return real(record)

    monkeypatch.setattr(report_module, "report_markdown", slow)
    paths = standard_runs(tmp_path / "runs")
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        app.open_report(paths["completed"])
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReportScreen) and screen.record is None
        status = screen.query_one("#report-status", Static)
        assert text(status) == f"Reading {paths['completed']}…"
        gate.set()
        await wait_for(pilot, lambda: screen.record is not None, 10, "the report")
        assert not status.display and screen.markdown.startswith("# Run smoke: completed")


@pytest.mark.usefixtures("lasting_toasts")
@in_event_loop
async def test_no_gpu_is_said_once_and_the_watch_screen_is_not_covered(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    no_gpu = RunWarning("no_gpu", "No GPU found; training on the CPU.")
    stalled = RunWarning("not_learning", "The training loss is still at chance level.")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        for _ in range(2):  # two runs, as in a sweep
            app.run_state = RunState(label="smoke", active=True)
            for event in (no_gpu, stalled, RunFinished("completed", "", 1.0, 0.9, 3.0)):
                app.post_message(EngineEvent(event))
            await pilot.pause()
        watch = app.screen
        assert isinstance(watch, WatchScreen)
        toasts = [n.message for n in app._notifications]
        assert toasts == [stalled.message]  # once; no_gpu and the ending are on the screen
        warnings = watch.query_one("#warnings", Static)
        assert text(warnings).startswith("⚠ 2 warnings (d shows all): No GPU found")
        await pilot.press("d")
        assert warnings.has_class("-full") and text(warnings).startswith("⚠ No GPU found")
        await pilot.press("p")
        app.post_message(EngineEvent(RunFinished("completed", "", 1.0, 0.9, 3.0)))
        await pilot.pause()
        assert [n.message for n in app._notifications][-1] == "Run completed."  # off screen


def test_the_learning_rate_plot_is_logarithmic_where_it_spans_decades() -> None:
    assert log_ticks([1e-3, 1e-3, 1e-5]) == [1e-5, 1e-4, 1e-3]
    assert log_ticks([1e-3, 5e-4]) is None  # less than a decade: linear reads as well
    assert log_ticks([0.0, 1e-3]) is None
    plot = MetricPlot("learning rate")
    plot.show_epochs([{"lr": 1e-3}, {"lr": 1e-5}], "lr", None)
    assert plot.log_scale
    plot.show_epochs([{"accuracy": 0.1, "val_accuracy": 0.2}], "accuracy", None)
    assert not plot.log_scale
