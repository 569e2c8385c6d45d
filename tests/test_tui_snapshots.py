"""Snapshots of the console's main screens at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic: fixed profiles and fabricated run directories under relative paths, no clock,
no training (the watch screen is fed fixed engine events). Update them with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_helpers import copy_profiles, lr_run, standard_runs

from core.events import (
    BatchProgress,
    EpochEnded,
    ProfilerSummary,
    RunStarted,
    RunWarning,
    Status,
)
from tui.console.app import CifarTuiApp, create_app
from tui.console.messages import EngineEvent
from tui.console.state import RunState

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CifarTuiApp:
    monkeypatch.chdir(tmp_path)
    copy_profiles(tmp_path / "profiles")
    standard_runs(tmp_path / "runs")
    return create_app(Path("profiles"), Path("runs"))


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_launch_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, press=["b"], run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_report_view(app, snap_compare, size) -> None:
    async def open_completed(pilot) -> None:
        await pilot.press("b")
        screen = pilot.app.screen
        table = screen.query_one("#runs")
        table.move_cursor(row=table.get_row_index(str(Path("runs/20260101-120000-smoke"))))
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_completed)


@pytest.mark.parametrize("size", SIZES)
def test_report_plots(app, snap_compare, size) -> None:
    async def open_plots(pilot) -> None:
        await pilot.press("b", "enter")  # newest first: the interrupted run
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_plots)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, press=["question_mark"], run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_watch_screen(app, snap_compare, size) -> None:
    """The watch screen fed fixed engine events, as the worker would post them."""

    async def feed(pilot) -> None:
        the_app: CifarTuiApp = pilot.app
        the_app.run_state = RunState(label="smoke", active=True, profiler_window=(3, 8))
        events = [
            Status("loading data (synthetic)", time=0),
            RunStarted(
                run_dir="runs/20260104-100000-smoke",
                name="smoke",
                epochs=5,
                initial_epoch=0,
                steps_per_epoch=10,
                batch_size=50,
                params_total=552874,
                params_trainable=551722,
                backend="tensorflow",
                devices=["CPU:CPU:0"],
                train_images=500,
                val_images=100,
                test_images=100,
                time=0,
            ),
            RunWarning(
                "no_gpu", "No GPU found; training on the CPU (CPU:CPU:0). It works, slowly.", time=0
            ),
            ProfilerSummary(
                input_bound_percent=0.83,
                verdict="not",
                method="wait",
                window=[3, 8],
                batches_measured=6,
                complete=True,
                advice=["No change needed: the input pipeline keeps up with training."],
                details={},
                time=0,
            ),
        ]
        from test_tui_helpers import EPOCHS

        events += [EpochEnded(**row, time=0) for row in EPOCHS]
        events.append(
            BatchProgress(
                epoch=4,
                step=6,
                steps=10,
                loss=0.0812,
                accuracy=0.981,
                epoch_seconds=2.5,
                eta_seconds=1.7,
                time=0,
            )
        )
        for event in events:
            the_app.post_message(EngineEvent(event))
        await pilot.press("w")
        await settle(pilot)
        the_app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=feed)


@pytest.mark.parametrize("size", SIZES)
def test_compare_screen(app, snap_compare, size) -> None:
    """Two runs marked on the runs screen (they differ in the learning rate), then compared."""
    lr_run(Path("runs"), "20260104-100000-smoke", 0.002, gain=0.1, test_accuracy=0.41)

    async def compare(pilot) -> None:
        await pilot.press("b")
        await settle(pilot)
        # Newest first: mark the lr=0.002 run, then the completed run (the last row).
        await pilot.press("space", "down", "down", "space", "c")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=compare)
