"""Snapshots of the screens the other snapshot files leave out (issue 25), with real content, at
80x24, 100x30 and 160x45: the sweeps screen (a sweep stopped with its runs in mixed states, a
finished study, one never started, a broken file), the confirm dialog a long sweep asks first,
the data's images, and the data folder picker over folders with long names.

Where each screen is drawn (tests/test_tui_snapshots*.py, tests/test_mistakes_console.py):
pick, runs, watch, help (five sizes); watch mid-sweep, a study, the report, its plots, compare
(two runs, four, long names), pick with a long path, the report's matrix and the mistakes view
(three sizes); here the rest.

Deterministic as tests/test_tui_snapshots.py is: fixed profiles, sweep directories and run
directories written from files under relative paths, no clock, no training, nothing read from
this machine (its GPUs and cores are fixed here; the picker starts in a home folder made for
the test, which it shows as ``~``). Update with
``pytest tests/test_tui_snapshots_screens.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from test_tui_helpers import copy_profiles, standard_runs
from test_tui_snapshots import THREE_SIZES, settle
from textual.widgets import DataTable, Select

from tui.console.app import CifarTuiApp, create_app
from tui.console.catalog import list_sweeps
from tui.console.screens import sweeps
from tui.console.screens.dialogs import DataFolderTree, PathPicker

REPO = Path(__file__).resolve().parents[1]

#: A grid of four runs with a long name: more than sweeps.CONFIRM_RUNS, so it asks first.
LONG_SWEEP = "smoke-learning-rates-from-a-ten-thousandth-to-a-hundredth"
LONG_SWEEP_TOML = f"""\
name = "{LONG_SWEEP}"
description = "The smoke profile (small VGG on synthetic images) at four learning rates, to \
see where it stops learning"
base = "../smoke.toml"

[grid]
"train.learning_rate" = [0.0001, 0.001, 0.004, 0.01]
"""
#: A sweep file that cannot be read: its row says "invalid", its details why.
BROKEN_TOML = 'name = "broken"\nbase = "../no-such-profile.toml"\n\n[grid]\n"train.epochs" = [1]\n'
#: The data folder the picker browses: folders and an archive with long names, and a file it
#: does not list.
DATA_FOLDERS = (
    "cifar10-jpeg-train-and-test-folders-as-the-notebook-unpacks-them",
    "cifar10-mini-one-hundred-train-and-twenty-test-images-per-class",
)
DATA_ARCHIVE = "cifar10-jpeg-all-sixty-thousand-images-in-one-archive.tar.gz"


def sweep_profiles(profiles: Path) -> None:
    """The sweep files: the long grid, the shipped smoke-lr and smoke-search, a broken one."""
    folder = profiles / "sweeps"
    folder.mkdir()
    (folder / f"{LONG_SWEEP}.toml").write_text(LONG_SWEEP_TOML, encoding="utf-8")
    (folder / "broken.toml").write_text(BROKEN_TOML, encoding="utf-8")
    for name in ("smoke-lr.toml", "smoke-search.toml"):
        text = (REPO / "profiles" / "sweeps" / name).read_text(encoding="utf-8")
        (folder / name).write_text(text, encoding="utf-8")


def write_sweep_json(directory: Path, data: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sweep.json").write_text(json.dumps(data, indent=2), encoding="utf-8")


def sweep_dirs(profiles: Path, runs: Path) -> None:
    """What earlier sweeps left: the long grid stopped in its third run (one completed, one
    diverged, one stopped, one never started), the study finished (eight trials, three pruned,
    the best at 63%). smoke-lr was never started."""
    entries = {e.name: e for e in list_sweeps(profiles, runs)}
    grid = entries[LONG_SWEEP]
    statuses = ("completed", "diverged", "stopped", "pending")
    assert grid.directory is not None and len(grid.labels) == len(statuses)
    write_sweep_json(
        grid.directory,
        {
            "name": LONG_SWEEP,
            "status": "stopped",
            "runs": [
                {"index": i, "label": label, "status": status}
                for i, (label, status) in enumerate(zip(grid.labels, statuses, strict=True), 1)
            ],
        },
    )
    study = entries["smoke-search"]
    assert study.directory is not None
    trials = ["completed", "completed", "pruned", "completed", "pruned"]
    trials += ["completed", "pruned", "completed"]
    write_sweep_json(
        study.directory,
        {
            "name": "smoke-search",
            "status": "completed",
            "runs": [
                {"index": i, "label": f"trial {i}", "status": status}
                for i, status in enumerate(trials, 1)
            ],
            "search": {
                "trials": 8,
                "objective": "val_accuracy",
                "best": {"number": 4, "objective": 0.63},
            },
        },
    )


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CifarTuiApp:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # the picker shows paths under it as ~/...
    # This machine's devices say nothing here: no GPU, four cores ("up to 4" runs at once).
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(sweeps, "cpu_cores", lambda: 4)
    profiles, runs = Path("profiles"), Path("runs")
    copy_profiles(profiles)
    sweep_profiles(profiles)
    standard_runs(runs)
    sweep_dirs(profiles, runs)
    data = Path("datasets")
    for name in DATA_FOLDERS:
        (data / name / "train").mkdir(parents=True)
    (data / DATA_ARCHIVE).write_bytes(b"")
    (data / "README.txt").write_text("not data: the picker leaves it out\n", encoding="utf-8")
    return create_app(profiles, runs)


async def open_sweeps(pilot, row: str = LONG_SWEEP) -> None:
    await pilot.press("S")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, sweeps.SweepsScreen) and screen.listed
    names = [entry.name for entry in screen.entries]
    screen.query_one("#sweeps", DataTable).move_cursor(row=names.index(row))
    await settle(pilot)


async def open_study(pilot) -> None:
    await open_sweeps(pilot, "smoke-search")


async def ask_to_run_long_sweep(pilot) -> None:
    await open_sweeps(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def open_images(pilot) -> None:
    await pilot.press("i")
    await settle(pilot)


async def until(pilot, condition, what: str) -> None:
    """Pause until ``condition()`` holds (the picker's tree lists folders in a worker that
    never ends, so settle's wait for the workers would wait for ever)."""
    for _ in range(200):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never: {what}")


async def browse_data(pilot) -> None:
    """The picker from the pick form (folder source, no path yet: it starts where the console
    runs, here the home folder), the data folder opened, its second folder highlighted."""
    screen = pilot.app.screen
    screen.query_one("#field-source", Select).value = "folder"
    await pilot.pause()
    screen.action_browse()
    await pilot.pause()
    picker = pilot.app.screen
    assert isinstance(picker, PathPicker)
    tree = picker.query_one(DataFolderTree)
    await until(pilot, lambda: len(tree.root.children) == 3, "the home folder listed")
    assert [str(node.label) for node in tree.root.children] == ["datasets", "profiles", "runs"]
    await pilot.press("down", "enter")  # datasets, the first folder
    datasets = tree.root.children[0]
    await until(pilot, lambda: len(datasets.children) == 3, "the data folder listed")
    await pilot.press("down", "down")
    await until(pilot, lambda: picker.highlighted.name == DATA_FOLDERS[1], "the second folder")
    await pilot.pause()


@pytest.mark.parametrize("size", THREE_SIZES)
def test_sweeps_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_sweeps)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_sweeps_finished_study(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_study)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_confirm_a_long_sweep(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=ask_to_run_long_sweep)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_images_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_images)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_data_folder_picker(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=browse_data)


# -- what the snapshots show, asserted (nothing cut, nothing scrolls sideways) -----------------


def test_names_break_after_separators_and_descriptions_at_words() -> None:
    from tui.fit import break_name, shorten, shorten_name

    assert break_name(LONG_SWEEP, 44).splitlines() == [
        "smoke-learning-rates-from-a-ten-thousandth-",
        "to-a-hundredth",
    ]
    assert break_name("a" * 10, 4).splitlines() == ["aaaa", "aaaa", "aa"]  # no separator
    assert shorten("The smoke profile at four learning rates", 24) == "The smoke profile at…"
    assert shorten_name(DATA_FOLDERS[0], 30) == "cifar10-jpeg-train-and-test-…"
    assert shorten_name("short", 30) == "short"


def test_sweeps_and_the_picker_fit_80_columns_whole(app: CifarTuiApp) -> None:
    """At 80x24 the sweeps table keeps every name whole (a long one over two lines) with no
    sideways scrolling, and so does the picker's tree (a long name shortened with "…", the
    title saying the highlighted path in full)."""

    def fits(widget) -> bool:
        return widget.virtual_size.width <= widget.scrollable_content_region.width

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_sweeps(pilot)
            screen = pilot.app.screen
            table = screen.query_one("#sweeps", DataTable)
            assert fits(table), (table.virtual_size, table.scrollable_content_region)
            names = [str(table.get_row_at(i)[0]).replace("\n", "") for i in range(4)]
            assert names == [entry.name for entry in screen.entries]
            assert [str(table.get_row_at(i)[2]) for i in range(4)] == [
                "invalid", "stopped 2/4", "-", "completed 8/8 best 63.0%"
            ]  # fmt: skip
            await pilot.press("escape")
            await browse_data(pilot)
            picker = pilot.app.screen
            tree = picker.query_one(DataFolderTree)
            assert fits(tree), (tree.virtual_size, tree.scrollable_content_region)
            title = str(picker.query_one("#picker-title").render())
            assert title.replace("\n", "") == f"Data path:~/datasets/{DATA_FOLDERS[1]}"

    asyncio.run(scenario())
