"""Snapshots of the console's screens at the corners of its breakpoints and at the sizes a
newcomer meets (pytest-textual-snapshot).

The app switches its layout at 110 columns (-narrow / -wide) and 34 rows (-short / -tall). The
main screens (pick, watch, runs, help) are drawn at one size inside each of the four corners, and
at 100x30 (narrow and short, the size of many a laptop's split terminal); the secondary screens
(a watch in the middle of a sweep, the report, its plots, compare with two and four runs) at
80x24, 100x30 and 160x45. ``test_sizes_are_the_corners`` keeps those sizes honest if the
breakpoints move.

Deterministic: fixed profiles and fabricated run directories under relative paths, no clock, no
training, nothing read from this machine (the watch screen is fed fixed engine events, so its
backend and device are the same everywhere). Update them with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_tui_helpers import EPOCHS, lr_run, standard_console

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
    SystemSampled,
)
from core.sweeps.sweepdir import Eta
from tui.console.app import CifarTuiApp
from tui.console.messages import EngineDone, EngineEvent
from tui.console.state import RunState, SweepState
from tui.console.sweep_runner import SweepRunView, SweepSnapshot

#: One terminal size inside each corner of the breakpoints, and 100x30; the classes each gets.
SIZES = {
    (80, 24): ("-narrow", "-short"),
    (100, 30): ("-narrow", "-short"),
    (100, 40): ("-narrow", "-tall"),
    (120, 30): ("-wide", "-short"),
    (160, 45): ("-wide", "-tall"),
}


def _size_param(size: tuple[int, int], *marks: pytest.MarkDecorator):
    width, height = size
    corner = "".join(SIZES[size]).lstrip("-")
    return pytest.param(size, id=f"{width}x{height}-{corner}", marks=marks)


ALL_SIZES = [_size_param(size) for size in SIZES]
#: The secondary screens: the smallest, the newcomer's 100x30 and the largest. The fast lane
#: keeps 80x24, where a screen breaks first; the larger two run with the whole suite (CI).
THREE_SIZES = [
    _size_param((80, 24)),
    _size_param((100, 30), pytest.mark.slow),
    _size_param((160, 45), pytest.mark.slow),
]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CifarTuiApp:
    return standard_console(tmp_path, monkeypatch)


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", ALL_SIZES)
def test_sizes_are_the_corners(app: CifarTuiApp, size: tuple[int, int]) -> None:
    async def classes() -> set[str]:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            return set(pilot.app.screen.classes)

    expected = set(SIZES[size])
    assert asyncio.run(classes()) & {"-narrow", "-wide", "-short", "-tall"} == expected


def test_every_corner_is_drawn() -> None:
    corners = {SIZES[size] for size in SIZES}
    assert len(corners) == 4  # narrow/wide x short/tall


@pytest.mark.parametrize("size", ALL_SIZES)
def test_launch_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", ALL_SIZES)
def test_runs_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, press=["b"], run_before=settle)


@pytest.mark.parametrize("size", ALL_SIZES)
def test_help_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, press=["question_mark"], run_before=settle)


def run_started(name: str, run_dir: str) -> RunStarted:
    return RunStarted(
        run_dir=run_dir,
        name=name,
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
    )


NO_GPU = RunWarning(
    "no_gpu", "No GPU found; training on the CPU (CPU:CPU:0). It works, slowly.", time=0
)
PROFILED = ProfilerSummary(
    input_bound_percent=0.83,
    verdict="not",
    method="wait",
    window=[3, 8],
    batches_measured=6,
    complete=True,
    advice=["No change needed: the input pipeline keeps up with training."],
    details={},
    time=0,
)


def finished_run_events() -> list[Event]:
    """A completed three-epoch run, as the engine sends it, with fixed numbers, backend and
    device (time=0 throughout)."""
    run_dir = "runs/20260104-100000-smoke"
    events: list[Event] = [
        RunOpened(run_dir=run_dir, name="smoke", resumed=False, time=0),
        Status("loading data (synthetic)", time=0),
        run_started("smoke", run_dir),
        NO_GPU,
        PROFILED,
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


def mid_sweep_events() -> list[Event]:
    """Run 2 of a three-run sweep in its third epoch, with two warnings."""
    run_dir = "runs/20260104-100000-smoke-lr-0.002"
    events: list[Event] = [
        RunOpened(run_dir=run_dir, name="smoke-lr-0.002", resumed=False, time=0),
        run_started("smoke-lr-0.002", run_dir),
        NO_GPU,
        RunWarning(
            "not_learning",
            "The training loss is still at chance level after 2 epochs: try a lower learning "
            "rate (train.learning_rate) or another optimizer.",
            time=0,
        ),
        PROFILED,
    ]
    events += [EpochEnded(**row, time=0) for row in EPOCHS[:-1]]
    # The system sampler's readings: a GPU busier each second (the watch screen's system line).
    gpus = [{"index": 0, "util": 10.0 * i, "mem_mb": 9_000.0, "mem_total_mb": 81_559.0,
             "power_w": 100.0 + 30 * i, "temp_c": 50.0 + i} for i in range(10)]  # fmt: skip
    events += [SystemSampled(float(i), 3, 98.0, 2_150.0, 40.0, 20_000.0, [g], time=0)
               for i, g in enumerate(gpus)]  # fmt: skip
    events.append(
        BatchProgress(
            epoch=3, step=4, steps=10, loss=0.2, accuracy=0.9, epoch_seconds=2.0, eta_seconds=3.0
        )
    )
    return events


def sweep_state() -> SweepState:
    """The console's sweep while its second run trains: run 1 completed, run 3 pending."""
    views = (
        SweepRunView(1, "lr=0.001", "completed", 3, 3, test_accuracy=0.95),
        SweepRunView(2, "lr=0.002", "running", 3, 2),
        SweepRunView(3, "lr=0.004", "pending", 3, 0),
    )
    snapshot = SweepSnapshot(
        name="smoke-lr",
        path=Path("runs/sweeps/smoke-lr-0a1b2c3d"),
        status="running",
        runs=views,
        eta=Eta(seconds=41.0, epochs_left=4, median_epoch_seconds=4.4),
        current=2,
    )
    command = "cifar-tui --sweep profiles/sweeps/smoke-lr.toml --runs-dir runs"
    return SweepState("smoke-lr", "profiles/sweeps/smoke-lr.toml", 3, command, snapshot=snapshot)


async def feed_finished_run(pilot) -> None:
    """The watch screen after a completed run, fed its events as the engine worker posts
    them, then the worker's end."""
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


async def feed_mid_sweep(pilot) -> None:
    """The watch screen in the middle of a sweep's second run, banners and all."""
    the_app: CifarTuiApp = pilot.app
    the_app.sweep_state = sweep_state()
    the_app.run_state = RunState(label="smoke-lr-0.002", active=True, profiler_window=(3, 8))
    for event in mid_sweep_events():
        the_app.post_message(EngineEvent(event))
    await pilot.pause()
    await pilot.press("w")
    await settle(pilot)
    the_app.clear_notifications()
    await pilot.pause()


async def open_report(pilot) -> None:
    await pilot.press("b")
    screen = pilot.app.screen
    table = screen.query_one("#runs")
    table.move_cursor(row=table.get_row_index(str(Path("runs/20260101-120000-smoke"))))
    await pilot.press("enter")
    await settle(pilot)


async def open_plots(pilot) -> None:
    await pilot.press("b", "enter")  # newest first: the interrupted run
    await settle(pilot)
    await pilot.press("v")
    await settle(pilot)


async def compare_two(pilot) -> None:
    await pilot.press("b")
    await settle(pilot)
    # Newest first: mark the lr=0.002 run, then the completed run (the last row).
    await pilot.press("space", "down", "down", "space", "c")
    await settle(pilot)


async def compare_four(pilot) -> None:
    await pilot.press("b")
    await settle(pilot)
    await pilot.press("space", "space", "space", "space", "c")  # the four newest
    await settle(pilot)


@pytest.mark.parametrize("size", ALL_SIZES)
def test_watch_screen(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=feed_finished_run)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_watch_mid_sweep(app, snap_compare, size) -> None:
    """A banner a line each (sweep, warnings), so the plots keep their rows at 80x24."""
    assert snap_compare(app, terminal_size=size, run_before=feed_mid_sweep)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_report_view(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_report)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_report_plots(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_plots)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_compare_screen(app, snap_compare, size) -> None:
    """Two runs marked on the runs screen (they differ in the learning rate), then compared."""
    lr_run(Path("runs"), "20260104-100000-smoke", 0.002, gain=0.1, test_accuracy=0.41)
    assert snap_compare(app, terminal_size=size, run_before=compare_two)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_compare_four_runs(app, snap_compare, size) -> None:
    """Four runs: no side-by-side table; each curve with its own marker."""
    lr_run(Path("runs"), "20260104-100000-smoke", 0.002, gain=0.1, test_accuracy=0.41)
    lr_run(Path("runs"), "20260105-100000-smoke", 0.004, gain=0.2, test_accuracy=0.5)
    assert snap_compare(app, terminal_size=size, run_before=compare_four)
