"""Snapshots of the console's screens at the four corners of its breakpoints
(pytest-textual-snapshot).

The app switches its layout at 110 columns (-narrow / -wide) and 34 rows (-short / -tall). The
main screens (pick, watch, runs, help) are drawn at one size inside each of the four corners; the
report, its plots and compare at the two opposite ones. ``test_sizes_are_the_four_corners``
keeps those sizes honest if the breakpoints move.

Deterministic: fixed profiles and fabricated run directories under relative paths, no clock, no
training, nothing read from this machine (the watch screen is fed fixed engine events, so its
backend and device are the same everywhere). Update them with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_tui_helpers import EPOCHS, copy_profiles, lr_run, standard_runs

from core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    ProfilerSummary,
    RunFinished,
    RunOpened,
    RunStarted,
    RunWarning,
    Status,
)
from tui.console.app import CifarTuiApp, create_app
from tui.console.messages import EngineDone, EngineEvent
from tui.console.state import RunState

#: One terminal size inside each corner of the breakpoints, and the classes it must get.
CORNERS = {
    (80, 24): ("-narrow", "-short"),
    (100, 40): ("-narrow", "-tall"),
    (120, 30): ("-wide", "-short"),
    (160, 45): ("-wide", "-tall"),
}


def _size_param(size: tuple[int, int]):
    width, height = size
    corner = "".join(CORNERS[size]).lstrip("-")
    return pytest.param(size, id=f"{width}x{height}-{corner}")


FOUR_CORNERS = [_size_param(size) for size in CORNERS]
#: The secondary screens, at the smallest and the largest size.
TWO_CORNERS = [_size_param((80, 24)), _size_param((160, 45))]


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


@pytest.mark.parametrize("size", FOUR_CORNERS)
def test_sizes_are_the_four_corners(app: CifarTuiApp, size: tuple[int, int]) -> None:
    async def classes() -> set[str]:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            return set(pilot.app.screen.classes)

    expected = set(CORNERS[size])
    assert asyncio.run(classes()) & {"-narrow", "-wide", "-short", "-tall"} == expected


@pytest.mark.parametrize("size", FOUR_CORNERS)
def test_launch_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", FOUR_CORNERS)
def test_runs_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, press=["b"], run_before=settle)


@pytest.mark.parametrize("size", FOUR_CORNERS)
def test_help_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, press=["question_mark"], run_before=settle)


def finished_run_events() -> list[Event]:
    """A completed three-epoch run, as the engine sends it, with fixed numbers, backend and
    device (time=0 throughout)."""
    run_dir = "runs/20260104-100000-smoke"
    events: list[Event] = [
        RunOpened(run_dir=run_dir, name="smoke", resumed=False, time=0),
        Status("loading data (synthetic)", time=0),
        RunStarted(
            run_dir=run_dir,
            name="smoke",
            epochs=3,
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
    last = EPOCHS[-1]
    events += [EpochEnded(**row, time=0) for row in EPOCHS[:-1]]
    events += [
        BatchProgress(
            epoch=last["epoch"],
            step=10,
            steps=10,
            loss=last["loss"],
            accuracy=last["accuracy"],
            epoch_seconds=last["seconds"],
            eta_seconds=0.0,
            time=0,
        ),
        EpochEnded(**last, time=0),
        RunFinished(
            status="completed",
            message="",
            test_loss=4.5539813,
            test_accuracy=0.29,
            total_seconds=34.249,
            time=0,
        ),
    ]
    return events


@pytest.mark.parametrize("size", FOUR_CORNERS)
def test_watch_screen(app, snap_compare, size) -> None:
    """The watch screen after a completed run, fed its events as the engine worker posts them,
    then the worker's end."""

    async def feed(pilot) -> None:
        the_app: CifarTuiApp = pilot.app
        the_app.run_state = RunState(label="smoke", active=True, profiler_window=(3, 8))
        for event in finished_run_events():
            the_app.post_message(EngineEvent(event))
        the_app.post_message(EngineDone("completed"))
        await pilot.pause()
        await pilot.press("w")
        await settle(pilot)
        the_app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=feed)


@pytest.mark.parametrize("size", TWO_CORNERS)
def test_report_view(app, snap_compare, size) -> None:
    async def open_completed(pilot) -> None:
        await pilot.press("b")
        screen = pilot.app.screen
        table = screen.query_one("#runs")
        table.move_cursor(row=table.get_row_index(str(Path("runs/20260101-120000-smoke"))))
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_completed)


@pytest.mark.parametrize("size", TWO_CORNERS)
def test_report_plots(app, snap_compare, size) -> None:
    async def open_plots(pilot) -> None:
        await pilot.press("b", "enter")  # newest first: the interrupted run
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_plots)


@pytest.mark.parametrize("size", TWO_CORNERS)
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
