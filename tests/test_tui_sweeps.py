"""The console's sweeps and comparisons, driven with Textual's pilot.

One test runs a real two-run sweep (the smoke profile cut to 300 synthetic images and one epoch)
from the sweeps screen and watches it run by run. The others need no training: a stand-in engine
(instant epochs, written as the engine writes them) pins stop and resume through the sweep
directory, and fabricated run directories are marked and compared.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeRun
from helpers import markdown_tables
from test_sweeps import MISSING_DATA, assert_ended_by_missing_data, fake_sweep
from test_tui import in_event_loop, sweeps_listed, wait_for
from test_tui_helpers import REPO, copy_profiles, lr_run, standard_runs
from textual.widgets import DataTable, Static

from core.compare import Comparison, RunRow
from core.errors import DataError
from core.sweeps.spec import load_sweep
from tui.console.app import create_app
from tui.console.screens.compare import CompareScreen, export_comparison, series_labels
from tui.console.screens.dialogs import ConfirmScreen
from tui.console.screens.launch import LaunchScreen
from tui.console.screens.runs import RunsScreen
from tui.console.screens.sweeps import SweepsScreen
from tui.console.screens.watch import WatchScreen
from tui.console.state import RunState
from tui.console.widgets.plots import MetricPlot

TRAIN_TIMEOUT = 150.0  # seconds for the whole real sweep; ~25 s on 2 CPU cores
FAST_TIMEOUT = 60.0  # a bound on a failure only: every wait is on a condition

TINY_SWEEP = """\
name = "tiny"
description = "Two learning rates, one epoch each"
base = "../tiny.toml"

[grid]
"train.learning_rate" = [0.001, 0.002]
"""


def tiny_profiles(target: Path, epochs: int = 1) -> Path:
    """A profiles folder with ``tiny.toml`` (smoke on 300 images, ``epochs`` epochs) and the
    sweep ``sweeps/tiny.toml`` over two learning rates."""
    profiles = copy_profiles(target)
    smoke = (REPO / "profiles" / "smoke.toml").read_text(encoding="utf-8")
    for old, new in (
        ('name = "smoke"', 'name = "tiny"'),
        ("synthetic_train = 600", "synthetic_train = 300"),
        ("synthetic_test = 100", "synthetic_test = 60"),
        ("epochs = 3", f"epochs = {epochs}"),
    ):
        assert old in smoke, old
        smoke = smoke.replace(old, new)
    (profiles / "tiny.toml").write_text(smoke, encoding="utf-8")
    (profiles / "sweeps").mkdir()
    (profiles / "sweeps" / "tiny.toml").write_text(TINY_SWEEP, encoding="utf-8")
    return profiles


def sweep_line(screen: WatchScreen) -> str:
    return str(screen.query_one("#sweep", Static).render())


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def headers(table: DataTable) -> list[str]:
    return [str(c.label) for c in table.columns.values()]


def last_notification(app: Any) -> str:
    return list(app._notifications)[-1].message


# -- a real sweep -------------------------------------------------------------------------


@pytest.mark.slow
@in_event_loop
async def test_queue_a_tiny_sweep_and_watch_it_run_by_run(tmp_path: Path) -> None:
    profiles = tiny_profiles(tmp_path / "profiles")
    runs_dir = tmp_path / "runs"
    app = create_app(profiles, runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        # The pick screen's S lists the sweep files with their run count.
        await pilot.press("S")
        await sweeps_listed(pilot)  # the screen reads the sweep files in a thread
        sweeps = app.screen
        assert isinstance(sweeps, SweepsScreen)
        table = sweeps.query_one("#sweeps", DataTable)
        assert cells(table) == [["tiny", "2", "-", "Two learning rates, one epoch each"]]
        details = str(sweeps.query_one("#sweep-details", Static).render())
        assert "1 lr=0.001 · 2 lr=0.002" in details
        assert f"cifar-tui --sweep {profiles / 'sweeps' / 'tiny.toml'}" in details

        # enter queues it: the watch screen follows it run by run.
        await pilot.press("enter")
        await pilot.pause()
        watch = app.screen
        assert isinstance(watch, WatchScreen)
        assert app.run_active and app.sweep_active
        await wait_for(
            pilot, lambda: "run 1/2 lr=0.001" in sweep_line(watch), TRAIN_TIMEOUT, "run 1"
        )
        await wait_for(
            pilot, lambda: "run 2/2 lr=0.002" in sweep_line(watch), TRAIN_TIMEOUT, "run 2"
        )
        line = sweep_line(watch)
        assert "sweep tiny: run 2/2 lr=0.002 · ETA" in line
        assert "1 lr=0.001 ✔" in line  # the first run's outcome, while the second trains
        await wait_for(pilot, lambda: not app.run_active, TRAIN_TIMEOUT, "the end of the sweep")
        assert app.sweep_state is not None and app.sweep_state.error is None
        snap = app.sweep_state.snapshot
        assert snap is not None and snap.status == "completed"
        assert [r.status for r in snap.runs] == ["completed", "completed"]
        assert "sweep tiny: completed, 2 of 2 runs finished" in sweep_line(watch)
        assert app.run_state.finished is not None  # the watch shows the last run, finished
        assert app.run_state.started is not None
        assert app.run_state.started.name == "tiny-lr-0.002"

        # The sweep directory is the one `cifar-tui --sweep` uses, with its summary.
        sweep = load_sweep(profiles / "sweeps" / "tiny.toml")
        folder = runs_dir / "sweeps" / sweep.dir_name
        assert snap.path == folder
        data = json.loads((folder / "sweep.json").read_text())
        assert data["status"] == "completed"
        assert data["command"] == (
            f"cifar-tui --sweep {profiles / 'sweeps' / 'tiny.toml'} --runs-dir {runs_dir}"
        )
        assert "# Sweep tiny: completed" in (folder / "summary.md").read_text()
        rows = list(csv.DictReader(io.StringIO((folder / "summary.csv").read_text())))
        assert [(r["label"], r["status"]) for r in rows] == [
            ("lr=0.001", "completed"),
            ("lr=0.002", "completed"),
        ]

        # Both runs are ordinary runs on the runs screen.
        await pilot.press("b")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        listed = runs.query_one("#runs", DataTable)
        statuses = sorted(
            (Path(str(key.value)).name.split("-", 2)[2], str(listed.get_cell(key, "status")))
            for key in listed.rows
        )
        assert statuses == [("tiny-lr-0.001", "✔ completed"), ("tiny-lr-0.002", "✔ completed")]

        # The sweeps screen says so; starting it again skips both runs (nothing trains).
        await pilot.press("p", "S")
        sweeps = app.screen
        assert isinstance(sweeps, SweepsScreen)
        assert cells(sweeps.query_one("#sweeps", DataTable))[0][2] == "completed 2/2"
        before = sorted(runs_dir.iterdir())
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.run_active, FAST_TIMEOUT, "the finished sweep")
        assert sorted(runs_dir.iterdir()) == before
        assert app.sweep_state.snapshot.status == "completed"


# -- stop and resume, with a stand-in engine ----------------------------------------------


def hold_after_first_epoch(run: FakeRun, epoch: int) -> None:
    """The first run to reach this waits after its first epoch until it is asked to stop (the
    test presses s); later runs go straight on."""
    FakeRun.hook = None
    run.wait_for_stop(FAST_TIMEOUT)


@pytest.fixture
def fake_engine(
    monkeypatch: pytest.MonkeyPatch, fake_run: type[FakeRun]
) -> Iterator[type[FakeRun]]:
    """The console's sweep builds its runs with core.training.engine.Run: the stand-in here
    (``fake_run`` resets it and skips freeing models between its runs)."""
    monkeypatch.setattr("core.training.engine.Run", FakeRun)
    yield FakeRun


@in_event_loop
async def test_stop_stops_the_sweep_and_starting_it_again_resumes(
    tmp_path: Path, fake_engine: type[FakeRun]
) -> None:
    profiles = tiny_profiles(tmp_path / "profiles", epochs=2)
    runs_dir = tmp_path / "runs"
    app = create_app(profiles, runs_dir)
    fake_engine.hook = hold_after_first_epoch
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("S")
        await sweeps_listed(pilot)
        await pilot.press("enter")
        watch = app.screen
        assert isinstance(watch, WatchScreen)
        # After epoch 1 of 2 (2 s each, the stand-in says): 3 epochs of the sweep are left.
        await wait_for(pilot, lambda: "ETA 0:06" in sweep_line(watch), FAST_TIMEOUT, "epoch 1")
        assert "sweep tiny: run 1/2 lr=0.001 · ETA 0:06 (3 epoch(s) left" in sweep_line(watch)
        assert "1 lr=0.001 ▶ 1/2" in sweep_line(watch)

        await pilot.press("s")  # stops the run after its batch, and the sweep
        await wait_for(pilot, lambda: not app.run_active, FAST_TIMEOUT, "the stop")
        snap = app.sweep_state.snapshot
        assert snap.status == "stopped"
        assert [(r.status, r.epochs_done) for r in snap.runs] == [("stopped", 1), ("pending", 0)]
        line = sweep_line(watch)
        assert "sweep tiny: stopped, 0 of 2 runs finished · start it again to resume" in line
        assert "1 lr=0.001 ■ 1/2" in line and "2 lr=0.002 ·" in line
        outcome = str(watch.query_one("#outcome", Static).render())
        assert "and the sweep with it: start the sweep again" in outcome
        assert fake_engine.made == ["start tiny-lr-0.001"]

        # Start the same sweep again: the stopped run resumes, the other starts.
        await pilot.press("p", "S")
        assert cells(app.screen.query_one("#sweeps", DataTable))[0][2] == "stopped 0/2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.run_active, FAST_TIMEOUT, "the resumed sweep")
        assert app.sweep_state.snapshot.status == "completed"
        (first,) = [p for p in runs_dir.iterdir() if p.name.endswith("tiny-lr-0.001")]
        (second,) = [p for p in runs_dir.iterdir() if p.name.endswith("tiny-lr-0.002")]
        assert fake_engine.made == [
            "start tiny-lr-0.001",
            f"resume {first.name}",
            "start tiny-lr-0.002",
        ]
        assert [row["epoch"] for row in app.run_state.epochs] == [1, 2]
        folder = app.sweep_state.snapshot.path
        assert json.loads((folder / "sweep.json").read_text())["status"] == "completed"

        # c on the sweeps screen compares the sweep's runs (its directory stands for them).
        await pilot.press("p", "S")
        await sweeps_listed(pilot)
        await pilot.press("c")
        await pilot.pause()
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        # each run by its directory's name without the date (whole at 80 columns)
        assert [row[:2] for row in cells(compare.query_one("#compare-table", DataTable))] == [
            [first.name.split("-", 2)[2], "0.001"],
            [second.name.split("-", 2)[2], "0.002"],
        ]
        assert list(compare.query_one("#compare-val", MetricPlot).series) == [
            "lr=0.001",
            "lr=0.002",
        ]


@in_event_loop
async def test_quit_during_a_sweep_stops_it_and_leaves_it_resumable(
    tmp_path: Path, fake_engine: type[FakeRun]
) -> None:
    profiles = tiny_profiles(tmp_path / "profiles", epochs=2)
    app = create_app(profiles, tmp_path / "runs")
    fake_engine.hook = hold_after_first_epoch
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("S")
        await sweeps_listed(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.run_state.epochs) == 1, FAST_TIMEOUT, "epoch 1")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "A sweep is running" in app.screen.question
        await pilot.press("y")  # the app leaves once the sweep has closed its directory
        await wait_for(pilot, lambda: not app.is_running, FAST_TIMEOUT, "the exit")
    assert app.return_value == 130
    (folder,) = (tmp_path / "runs" / "sweeps").iterdir()
    data = json.loads((folder / "sweep.json").read_text())
    assert data["status"] == "stopped"
    assert [r["status"] for r in data["runs"]] == ["stopped", "pending"]


@pytest.mark.usefixtures("lasting_toasts")
@in_event_loop
async def test_a_run_that_cannot_start_ends_the_sweep_as_on_the_command_line(
    tmp_path: Path, fake_engine: type[FakeRun]
) -> None:
    """The console half of test_sweeps' command-line test: the same sweep, the same run that
    cannot start (missing data), the same sweep directory afterwards; the console shows it."""
    runs_dir = tmp_path / "runs"
    fake_engine.cannot_start = {"smoke-lr-0.002": DataError(MISSING_DATA)}
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.start_sweep(load_sweep(fake_sweep(tmp_path)))
        await wait_for(pilot, lambda: not app.run_active, FAST_TIMEOUT, "the end of the sweep")
        assert app.sweep_state is not None and app.sweep_state.error == MISSING_DATA
        assert app.run_state.error == MISSING_DATA and app.engine_status == "error"
        watch = app.screen
        assert isinstance(watch, WatchScreen)
        assert f"sweep fake: stopped by an error: {MISSING_DATA}" in sweep_line(watch)
        outcome = str(watch.query_one("#outcome", Static).render())
        assert f"The run could not start: {MISSING_DATA}" in outcome
        assert MISSING_DATA in last_notification(app)
    assert fake_engine.made == ["start smoke-lr-0.001", "start smoke-lr-0.002"]
    assert_ended_by_missing_data(runs_dir)


@pytest.mark.usefixtures("lasting_toasts")
@in_event_loop
async def test_a_sweep_waits_for_the_current_run_and_bad_sweeps_say_why(tmp_path: Path) -> None:
    profiles = tiny_profiles(tmp_path / "profiles")
    (profiles / "sweeps" / "broken.toml").write_text(
        'base = "../tiny.toml"\n\n[grid]\n"train.learning_rat" = [0.1]\n', encoding="utf-8"
    )
    app = create_app(profiles, tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("S")
        await sweeps_listed(pilot)  # the screen reads the sweep files in a thread
        sweeps = app.screen
        table = sweeps.query_one("#sweeps", DataTable)
        assert [row[:3] for row in cells(table)] == [["broken", "-", "invalid"], ["tiny", "2", "-"]]
        details = str(sweeps.query_one("#sweep-details", Static).render())
        assert 'did you mean "learning_rate"' in details
        await pilot.press("enter")  # refused with the error: nothing starts
        await pilot.pause()
        assert not app.run_active and isinstance(app.screen, SweepsScreen)
        await pilot.press("c")  # never run: nothing to compare
        assert isinstance(app.screen, SweepsScreen)

        app.run_state = RunState(label="smoke", active=True)  # as if a run were training
        await pilot.press("down", "enter")
        await pilot.pause()
        assert not app.sweep_active and isinstance(app.screen, SweepsScreen)
        assert "A run is already training" in last_notification(app)
        await pilot.press("escape")
        assert isinstance(app.screen, LaunchScreen)


# -- marking and comparing runs -----------------------------------------------------------


def compare_runs(runs_dir: Path) -> tuple[Path, Path]:
    """The standard fabricated runs, plus one at learning rate 0.002 (the newest)."""
    paths = standard_runs(runs_dir)
    other = lr_run(runs_dir, "20260104-100000-smoke", 0.002, gain=0.1, test_accuracy=0.41)
    return paths["completed"], other


@pytest.mark.usefixtures("lasting_toasts")
@in_event_loop
async def test_mark_two_runs_compare_and_export(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    completed, other = compare_runs(runs_dir)
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        table = runs.query_one("#runs", DataTable)
        await pilot.press("c")  # nothing marked: a warning, no compare screen
        assert isinstance(app.screen, RunsScreen)

        # space marks the selected run and moves down; space on a marked run unmarks it.
        await pilot.press("space", "space")  # the lr=0.002 run, then the killed one
        assert runs.marked == [other, runs_dir / "20260103-180000-smoke"]
        await pilot.press("up", "m")
        assert runs.marked == [other]
        await pilot.press("down", "space")  # the completed run (oldest, last row)
        assert runs.marked == [other, completed]
        assert str(table.get_cell(str(other), "mark")) == "✓"
        assert str(table.get_cell(str(runs_dir / "20260102-090000-smoke"), "mark")) == " "
        hint = str(runs.query_one("#runs-hint", Static).render())
        assert "2 marked: c compares them" in hint

        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        main = screen.query_one("#compare-table", DataTable)
        # The console's words, to fit 80 columns: short names (the title names the keys),
        # accuracy as a percentage as on the runs screen, each status with its mark; the
        # parameter count, the same for both, only side by side.
        assert headers(main)[:2] == ["run", "lr"]  # differing settings first
        assert headers(main)[2:] == ["s/ep", "best val", "test", "input", "status"]
        # runs by their directory's name with as little of the date as tells them apart
        assert cells(main) == [
            [other.name[9:], "0.002", "4.39", "41.0%", "41.0%", "0.8%", "✔ completed"],
            [completed.name[9:], "0.001", "4.39", "31.0%", "29.0%", "0.8%", "✔ completed"],
        ]
        pair = screen.query_one("#compare-pair", DataTable)
        assert pair.display
        assert headers(pair) == ["", "lr=0.002", "lr=0.001", "b - a"]
        assert cells(pair)[0] == ["lr", "0.002", "0.001", ""]
        assert ["test", "41.0%", "29.0%", "-12.0 pts"] in cells(pair)
        assert ["params", "552,874", "552,874", "+0"] in cells(pair)
        title = str(screen.query_one("#compare-title", Static).render())
        assert "2 runs: settings that differ: train.learning_rate" in title

        val = screen.query_one("#compare-val", MetricPlot)
        assert list(val.series) == ["lr=0.002", "lr=0.001"]  # one labelled series per run
        assert val.series["lr=0.001"] == [0.059999999, 0.18000001, 0.31]
        assert val.points == 3
        assert len(screen.query_one("#compare-loss", MetricPlot).series) == 2

        # e exports Markdown and CSV next to the runs, and says where.
        await pilot.press("e")
        await pilot.pause()
        (markdown,) = runs_dir.glob("compare-*.md")
        (table_csv,) = runs_dir.glob("compare-*.csv")
        assert markdown.stem == table_csv.stem
        assert str(markdown) in last_notification(app)
        tables = markdown_tables(markdown.read_text())
        assert [row["train.learning_rate"] for row in tables[0]] == ["0.002", "0.001"]
        assert [row["test acc"] for row in tables[0]] == ["41.0%", "29.0%"]
        assert tables[1][0] == {
            "": "train.learning_rate",
            other.name: "0.002",
            completed.name: "0.001",
            "difference (b - a)": "",
        }
        rows = list(csv.DictReader(io.StringIO(table_csv.read_text())))
        assert [(r["run"], r["train.learning_rate"], r["test_accuracy"]) for r in rows] == [
            (other.name, "0.002", "0.41"),
            (completed.name, "0.001", "0.29"),
        ]
        assert rows[0]["run_dir"] == str(other)

        await pilot.press("escape")
        assert app.screen is runs and runs.marked == [other, completed]


def test_series_labels_and_exports_never_overwrite(tmp_path: Path) -> None:
    def row(name: str, **settings: Any) -> RunRow:
        return RunRow(name, tmp_path / name, "completed", settings, {})

    two = Comparison.of([row("a", **{"train.learning_rate": 0.001}), row("b")])
    assert series_labels(two) == ["lr=0.001", "lr=-"]  # a key one run lacks
    many = Comparison.of(
        [row("a", **{"x.a": 1, "x.b": 1, "x.c": 1}), row("b", **{"x.a": 2, "x.b": 2, "x.c": 2})]
    )
    assert series_labels(many) == ["a", "b"]  # too many differences: the run directories
    same = Comparison.of([row("a", **{"x.a": 1}), row("b", **{"x.a": 1})])
    assert series_labels(same) == ["a", "b"]

    first = export_comparison(two, tmp_path / "out", "20260101-120000")
    second = export_comparison(two, tmp_path / "out", "20260101-120000")
    assert [p.name for p in first] == ["compare-20260101-120000.md", "compare-20260101-120000.csv"]
    assert [p.name for p in second] == [
        "compare-20260101-120000-2.md",
        "compare-20260101-120000-2.csv",
    ]
