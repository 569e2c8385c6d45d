"""The console's keys say what they do (issue 25): b always shows the runs list, help lists
every binding, footers offer only what applies, and p leaves the focus where typing works.
Pilot tests on hand-written runs: nothing trains."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from helpers import console_in_pty, read_pty_until
from test_tui import SIZE, in_event_loop, wait_for
from test_tui_helpers import copy_profiles, fake_report, killed_copy, write_run
from textual.widgets import DataTable, Input, Static

from core.storage.resume import why_not_resume
from tui.console.app import CifarTuiApp, create_app
from tui.console.help_keys import KEY_NAMES, help_sections, section_of
from tui.console.screens.dialogs import HelpScreen
from tui.console.screens.launch import LaunchScreen
from tui.console.screens.report import ReportScreen
from tui.console.screens.runs import RunsScreen
from tui.console.terminal import say_slow_exit


def footer_keys(app: CifarTuiApp) -> set[str]:
    """The keys the footer offers now (the active bindings that show)."""
    active = app.screen.active_bindings.values()
    return {b.binding.key for b in active if b.enabled and b.binding.show}


@in_event_loop
async def test_b_always_shows_the_runs_list(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, "20260101-120000-smoke", fake_report())
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)
        assert "b" in footer_keys(app)  # the list is not what is shown: b is offered
        await pilot.press("p")
        assert isinstance(app.screen, LaunchScreen)
        await pilot.press("b")  # the report opened over the list before: the list now
        assert isinstance(app.screen, RunsScreen)
        assert "b" not in footer_keys(app)  # already shown
        await pilot.press("p", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("b")  # from help over the pick screen: help closes, the list shows
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)  # help is not left over the pick screen


def screens_and_keyed_widgets() -> list[type]:
    """Found here on its own, not with help's code: every Screen class defined in tui.console's
    modules, and every widget there with bindings of its own."""
    import importlib
    import inspect
    import pkgutil

    from textual.screen import Screen
    from textual.widget import Widget

    import tui.console

    found = []
    for info in pkgutil.walk_packages(tui.console.__path__, "tui.console."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and (
                issubclass(cls, Screen) or (issubclass(cls, Widget) and "BINDINGS" in vars(cls))
            ):
                found.append(cls)
    return found


def test_help_lists_every_key_of_every_screen() -> None:
    """Generated from the bindings: every key of the app and of every screen (modal ones too)
    and keyed widget in tui/console is in help, in that class's section; a new screen cannot
    be missed."""
    classes = screens_and_keyed_widgets()
    names = {cls.__name__ for cls in classes}
    assert {"ConfirmScreen", "PathPicker", "HelpScreen", "RunsTable", "ConfusionMap"} <= names
    sections = help_sections(CifarTuiApp)
    for owner in [CifarTuiApp, *classes]:
        section = section_of(owner)
        assert section in sections, owner
        listed = " / ".join(keys for keys, _ in sections[section]).split(" / ")
        for binding in vars(owner).get("BINDINGS", []):
            for key in binding.key.split(","):
                assert KEY_NAMES.get(key, key) in listed, (owner.__name__, binding.key, listed)
    words = {s: dict(rows) for s, rows in sections.items()}
    # The keys the issue found missing: m, i, enter on Classes; n/p/a in mistakes; +/- sweeps.
    assert {"m", "i"} <= set(words["Report"])
    assert "enter" in words["Classes tab (the matrix)"]
    assert {"n", "p", "a"} <= set(words["Mistakes"])
    assert {"+ / =", "-"} <= set(words["Sweeps"])
    # ...and those the audit found: the browser's backspace and escape, the question's y and n,
    # and the runs list's ctrl+home / ctrl+end, which README names.
    assert words["Data path browser"]["backspace"] == "up a folder"
    assert "escape" in words["Data path browser"]
    assert words["Questions"]["y"] == "yes" and words["Questions"]["n / escape"] == "no"
    assert words["Runs"]["ctrl+home"] == "the first run"
    assert words["Runs"]["ctrl+end"] == "the last run"
    assert list(sections)[:2] == ["Everywhere", "Pick"]  # TITLES' order


def test_a_screen_nobody_titled_still_shows_in_help() -> None:
    from textual.screen import Screen

    class NewThingScreen(Screen):
        pass

    assert section_of(NewThingScreen) == "New thing"


@in_event_loop
async def test_the_help_screen_shows_the_generated_keys(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        from rich.console import Console

        console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(app.screen.query_one("#help-keys", Static).content)
        text = console.export_text()
        assert "next pair (true -> predicted)" in text and "more runs at once" in text


@in_event_loop
async def test_resume_is_offered_exactly_where_the_engine_would_resume(tmp_path: Path) -> None:
    """r in the footer of the runs list and of each report where ``why_not_resume`` accepts the
    run (stopped, interrupted, failed), and nowhere else; r where it is not offered still says
    why (a diverged run: the lower rate to give it)."""
    runs_dir = tmp_path / "runs"
    finished = write_run(runs_dir, "20260101-120000-smoke", fake_report())
    runs = {"completed": finished, "interrupted": killed_copy(finished, "20260102-080000-smoke")}
    for day, status in ((3, "stopped"), (4, "failed"), (5, "diverged")):
        report = fake_report(status, epochs=2, test_accuracy=None)
        runs[status] = write_run(runs_dir, f"2026010{day}-080000-smoke", report)
    accepted = {status for status, path in runs.items() if why_not_resume(path) is None}
    assert accepted == {"stopped", "interrupted", "failed"}
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        listing = app.screen
        assert isinstance(listing, RunsScreen)
        await wait_for(pilot, lambda: len(listing.rows) == len(runs), 10, "the runs")
        in_list: dict[str, bool] = {}
        for status, path in runs.items():
            listing.goto(listing.ordered.index(path))
            await pilot.pause()
            assert listing.selected_path() == path
            in_list[status] = "r" in footer_keys(app)
            if status == "completed":  # r, not offered, says why rather than nothing
                await pilot.press("r")
                await pilot.pause()
                said = [n.message for n in app._notifications]
                assert any("already completed" in m for m in said), said
        assert in_list == {s: s in accepted for s in runs}
        in_report: dict[str, bool] = {}
        for status in ("failed", "diverged", "completed"):  # (each report takes a second)
            listing.goto(listing.ordered.index(runs[status]))
            await pilot.press("enter")
            report = app.screen
            assert isinstance(report, ReportScreen) and report.run_dir == runs[status]
            await wait_for(pilot, lambda r=report: r.record is not None, 10, "the report")
            await pilot.pause()
            in_report[status] = "r" in footer_keys(app)
            if status == "diverged":
                await pilot.press("r")  # refused: it says why, and the report stays
                await pilot.pause()
                assert app.screen is report
                said = [n.message for n in app._notifications]
                assert any("Give it a lower one" in m for m in said), said
            await pilot.press("escape")
            await pilot.pause()
        assert in_report == {"failed": True, "diverged": False, "completed": False}


@in_event_loop
async def test_after_p_digits_go_to_the_epochs(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b", "p")
        launch = app.screen
        assert isinstance(launch, LaunchScreen)
        assert isinstance(app.focused, DataTable) and app.focused.id == "profiles"
        await pilot.press("1", "2")
        epochs = launch.query_one("#field-epochs", Input)
        assert app.focused is epochs and epochs.value == "12"


#: The console with a stand-in for TensorFlow in sys.modules, as after a run (nothing trains).
WITH_TENSORFLOW_LOADED = """
import importlib.machinery, sys, types
stand_in = types.ModuleType("tensorflow")
stand_in.__spec__ = importlib.machinery.ModuleSpec("tensorflow", None)  # the backend check asks
sys.modules["tensorflow"] = stand_in
from tui.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_quitting_says_so_once_tensorflow_is_loaded() -> None:
    """TensorFlow's teardown takes seconds after the screen is gone: the terminal says why."""
    said = io.StringIO()
    assert say_slow_exit(said, {"tensorflow": object()})
    assert said.getvalue() == "cifar-tui: quitting… (TensorFlow is shutting down)\n"
    quiet = io.StringIO()
    assert not say_slow_exit(quiet, {"textual": object()}) and quiet.getvalue() == ""


def test_quitting_in_a_terminal_says_so_after_the_screen_is_gone(tmp_path: Path) -> None:
    """The console in a pty, TensorFlow "loaded": after q, the bytes that follow leaving the
    alternate screen say it is quitting (what the user sees during the teardown)."""
    args = ["--profiles-dir", str(copy_profiles(tmp_path / "profiles"))]
    args += ["--runs-dir", str(tmp_path / "runs")]
    argv = [sys.executable, "-c", WITH_TENSORFLOW_LOADED, *args]
    with console_in_pty(argv) as (proc, master, screen):
        read_pty_until(master, screen, lambda: b"Launch" in screen, 60, "the pick screen")
        os.write(master, b"q")
        read_pty_until(master, screen, lambda: proc.poll() is not None, 30, "the exit")
        read_pty_until(master, screen, lambda: False, 0.5, "")  # what is left to read
    assert proc.returncode == 0
    after = bytes(screen).rpartition(b"\x1b[?1049l")
    assert after[1], bytes(screen[-300:])
    assert "cifar-tui: quitting… (TensorFlow is shutting down)" in after[2].decode(), after[2]


@in_event_loop
async def test_every_footer_keeps_help_and_quit_at_80_columns(tmp_path: Path) -> None:
    from textual.widgets._footer import FooterKey

    runs_dir = tmp_path / "runs"
    finished = write_run(runs_dir, "20260101-120000-smoke", fake_report())
    killed_copy(finished, "20260105-080000-smoke")  # resumable: the report offers r too
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        for keys in ([], ["w"], ["b"], ["b", "enter"], ["b", "space", "space", "c"], ["S"]):
            await pilot.press("p", *keys)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            shown = {f.key: f.region.right for f in app.screen.query(FooterKey)}
            name = type(app.screen).__name__
            for key in ("question_mark", "q", *(k for k in ("p", "w", "b") if k in shown)):
                assert shown.get(key, 99) <= 80, (name, key, shown)


@in_event_loop
async def test_the_pick_screen_at_80x24_shows_the_path_end_and_the_whole_checkbox(
    tmp_path: Path,
) -> None:
    from textual.widgets import Checkbox, Select

    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        launch = app.screen
        assert isinstance(launch, LaunchScreen)
        box = launch.query_one("#keep-training", Checkbox)
        assert box.region.right <= box.parent.region.right  # "…closes", not "…close"
        launch.query_one("#field-source", Select).value = "folder"
        await pilot.pause()
        long_path = tmp_path / "a" / "long" / "parent" / "folder" / "data" / "cifar10-mini"
        launch._path_chosen(long_path)
        await pilot.pause()
        field = launch.query_one("#field-path", Input)
        assert field.size.width < len(str(long_path))
        assert field.scroll_offset.x > 0  # the end (cifar10-mini) is what shows


@in_event_loop
async def test_a_finished_sweep_says_it_has_finished(tmp_path: Path) -> None:
    import json

    from test_tui import sweeps_listed
    from test_tui_sweeps import tiny_profiles

    from core.sweeps.spec import load_sweep

    profiles = tiny_profiles(tmp_path / "profiles")
    runs_dir = tmp_path / "runs"
    folder = runs_dir / "sweeps" / load_sweep(profiles / "sweeps" / "tiny.toml").dir_name
    folder.mkdir(parents=True)
    done = {"status": "completed"}
    (folder / "sweep.json").write_text(json.dumps({"status": "completed", "runs": [done, done]}))
    app = create_app(profiles, runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("S")
        sweeps = await sweeps_listed(pilot)
        await pilot.pause()
        details = str(sweeps.query_one("#sweep-details", Static).render())
        assert "completed 2/2. Every run has finished; the summary is" in details
        assert "enter goes on" not in details and "finished. enter" not in details


def test_the_readmes_key_table_names_only_keys_help_lists() -> None:
    """README's console table is read against the bindings: every key it names for a screen is
    one help lists for that screen (or everywhere), so the README cannot promise a key that
    does nothing."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("## The console", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    sections = help_sections(CifarTuiApp)
    listed = {
        name: {key.strip() for keys, _ in rows_ for key in keys.split(" / ")}
        for name, rows_ in sections.items()
    }
    screens = {
        "pick": ["Pick", "Data path browser"],
        "watch": ["Watch"],
        "runs": ["Runs"],
        "report": ["Report", "Classes tab (the matrix)"],
        "mistakes": ["Mistakes"],
        "sweeps": ["Sweeps"],
        "help": ["Help"],
    }
    key = re.compile(r"^(?:.|enter|space|escape|tab|backspace|(?:ctrl|shift)\+\w+)$")
    seen = set()
    for row in rows[1:]:  # the header row names no screen
        label, keys_cell = row.strip("| ").split(" | ", 1)
        screen = label.split(" ", 1)[0]
        assert screen in screens, f"README names a screen help does not: {label}"
        seen.add(screen)
        allowed = set().union(listed["Everywhere"], *(listed[s] for s in screens[screen]))
        for token in re.findall(r"`([^`]+)`", keys_cell):
            if key.match(token):
                assert KEY_NAMES.get(token, token) in allowed, (screen, token, sorted(allowed))
    assert seen == set(screens)
    # The sentence under the table: q quits everywhere else.
    assert "q" in listed["Everywhere"]
