"""The console, driven with Textual's pilot: pick, launch, watch, stop, browse, resume.

The training tests run the real engine on the smoke profile (synthetic data, CPU) for a few
epochs; they wait for the worker by polling ``pilot.pause()`` with a timeout, never by a fixed
sleep. The other tests need no training and take a second or two each.
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from test_tui_helpers import REPO, copy_profiles, fake_report, killed_copy, standard_runs, write_run
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Markdown, Static

from core.events import BatchProgress, RunFinished, RunWarning
from tui.console.app import CifarTuiApp, create_app
from tui.console.messages import EngineDone, EngineEvent
from tui.console.runner import ProgressThrottle, RunControl, command_line
from tui.console.screens.dialogs import ConfirmScreen, HelpScreen
from tui.console.screens.images import ImagesScreen, ImageTile, half_block
from tui.console.screens.launch import LaunchScreen
from tui.console.screens.report import ReportScreen
from tui.console.screens.runs import RunsScreen, sort_records
from tui.console.screens.sweeps import SweepsScreen
from tui.console.screens.watch import WatchScreen
from tui.console.state import RunState

SIZE = (120, 40)
TRAIN_TIMEOUT = 150.0  # seconds; the smoke profile needs ~15-30 s on 2 CPU cores

BROKEN_PROFILE = """\
name = "broken"
description = "a typo in a key"

[model]
architecture = "vgg_small"

[train]
epocs = 3
"""


def in_event_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in its own event loop (no pytest asyncio plugin is needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


#: The least any wait_for waits before it fails. Each wait is on a condition, so the deadline
#: only bounds a failure; a loaded machine (the suite beside other work) takes many times longer.
WAIT_AT_LEAST = 60.0


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Let the app run until ``condition`` holds; fail after ``timeout`` seconds (at least
    WAIT_AT_LEAST)."""
    timeout = max(timeout, WAIT_AT_LEAST)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.1)


async def sweeps_listed(pilot: Pilot, timeout: float = WAIT_AT_LEAST) -> SweepsScreen:
    """The sweeps screen, once its worker has brought the list of sweep files (it reads and
    validates them in a thread): await this after pressing S, before reading or using the list."""
    screen = pilot.app.screen
    assert isinstance(screen, SweepsScreen), screen
    await wait_for(pilot, lambda: screen.listed, timeout, "the list of sweep files")
    return screen


def table_column(table: DataTable, key: str) -> list[str]:
    return [str(table.get_cell(row, key)) for row in table.rows]


def status_of(screen: RunsScreen, run_dir: Path) -> str:
    """The status word of a run's row (after its mark, before who stopped it)."""
    table = screen.query_one("#runs", DataTable)
    return str(table.get_cell(str(run_dir), "status")).split()[1].rstrip(",")


# -- the whole path, with the real engine -------------------------------------------------


@pytest.mark.slow
@in_event_loop
async def test_pick_launch_watch_stop_browse_resume(tmp_path: Path) -> None:
    profiles = copy_profiles(tmp_path / "profiles")
    runs_dir = tmp_path / "runs"
    app = create_app(profiles, runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        launch = app.screen
        assert isinstance(launch, LaunchScreen)
        assert [e.name for e in launch.profiles] == ["smoke"]

        # Pick the smoke profile and the lr-0.002 hyperparameter profile, by keyboard.
        hparams = launch.query_one("#hparams", DataTable)
        hparams.focus()
        names = [e.name for e in launch.hparams]
        for _ in range(names.index("lr-0.002")):
            await pilot.press("down")
        await pilot.pause()
        assert launch.hparams_entry.name == "lr-0.002"
        assert launch.query_one("#field-lr", Input).value == "0.002"

        # Enter goes on to the settings (the epochs field, its text selected): type over it.
        await pilot.press("enter")
        assert app.focused is launch.query_one("#field-epochs", Input)
        await pilot.press("2", "enter")
        await pilot.pause()
        assert launch.overrides == ["train.epochs=2"]
        assert launch.resolved is not None and launch.resolved.train.epochs == 2
        assert launch.resolved.train.learning_rate == 0.002
        assert not launch.query_one("#error", Static).display

        # Launch with the mouse; the watch screen comes up and the UI keeps answering.
        await pilot.click("#launch")
        await pilot.pause()
        assert app.run_active
        watch = app.screen
        assert isinstance(watch, WatchScreen)
        table = watch.query_one("#epochs", DataTable)
        accuracy = watch.query_one("#plot-accuracy")
        await wait_for(pilot, lambda: table.row_count >= 1, TRAIN_TIMEOUT, "the first epoch")
        started = app.run_state.started
        assert started is not None
        # The device line says what the run reported it trains on (any backend, any device).
        import keras  # loaded by the engine by now

        assert started.backend == keras.backend.backend()
        device = str(watch.query_one("#device", Static).render())
        assert f"{started.backend} on {', '.join(started.devices)}" in device
        assert accuracy.points >= 1 and accuracy.draws >= 2
        assert set(accuracy.series) == {"train", "validation"}
        assert app.run_state.progress is not None  # the bar moved during the epoch
        # Every warning the run sent shows (no_gpu on a CPU machine, none on a GPU one).
        warned = app.run_state.warnings
        warnings = watch.query_one("#warnings", Static)
        assert warnings.display == bool(warned)
        assert all(w.message in str(warnings.render()) for w in warned)

        # Stop mid-run.
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.run_active, TRAIN_TIMEOUT, "the stop")
        assert app.engine_status == "stopped"
        assert app.run_state.finished is not None
        assert app.run_state.finished.status == "stopped"
        stopped_epochs = len(app.run_state.epochs)
        assert 1 <= stopped_epochs <= 2  # 1 unless the stop lost a race with the last batch
        run_dir = Path(app.run_state.run_dir or "")
        report = json.loads((run_dir / "report.json").read_text())
        assert report["status"] == "stopped"
        gpu = report["environment"]["gpu"]
        assert ("no_gpu" in [w.code for w in warned]) == (not gpu)
        assert "stopped" in str(watch.query_one("#outcome", Static).render()).lower()

        # The runs screen lists it as stopped; its report opens from its files.
        await pilot.press("b")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        assert status_of(runs, run_dir) == "stopped"
        await pilot.press("enter")
        await pilot.pause()
        report = app.screen
        assert isinstance(report, ReportScreen)
        await wait_for(pilot, lambda: report.record is not None, 10, "the report")
        assert report.markdown.startswith("# Run smoke: stopped")
        assert report.query_one("#report-accuracy").points == stopped_epochs
        assert report.query_one("#report", Markdown).source == report.markdown

        # Resume it from the report (r): the worker runs Run.resume, to completion.
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, WatchScreen)
        await wait_for(pilot, lambda: not app.run_active, TRAIN_TIMEOUT, "the resumed run")
        assert app.engine_status == "completed", app.run_state.error
        assert [row["epoch"] for row in app.run_state.epochs] == [1, 2]
        assert watch.query_one("#epochs", DataTable).row_count == 2
        assert watch.query_one("#plot-loss").points == 2
        await pilot.press("b")
        assert status_of(app.screen, run_dir) == "completed"


# -- no training needed -------------------------------------------------------------------


@in_event_loop
async def test_broken_profile_shows_inline_error(tmp_path: Path) -> None:
    profiles = copy_profiles(tmp_path / "profiles", {"broken.toml": BROKEN_PROFILE})
    app = create_app(profiles, tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        launch = app.screen
        assert isinstance(launch, LaunchScreen)
        assert [e.name for e in launch.profiles] == ["broken", "smoke"]
        error = launch.query_one("#error", Static)
        # A first visit starts on the quick profile (smoke), not the first in the list.
        assert launch.profile_entry.name == "smoke" and not error.display
        await pilot.press("up")  # the broken profile: its error shows inline, launch is off
        await pilot.pause()
        assert error.display
        assert 'unknown key in [train] (did you mean "epochs"?)' in str(error.render())
        assert launch.query_one("#launch", Button).disabled
        await pilot.press("l")  # refused with a message, no crash, no run
        await pilot.pause()
        assert not app.run_active and app.is_running

        # The valid profile clears it; a bad value typed in a field brings an error back.
        await pilot.press("down")
        await pilot.pause()
        assert not error.display and launch.resolved is not None
        launch.query_one("#field-lr", Input).focus()  # as tab would: the text is selected
        await pilot.press("0", "enter")
        await pilot.pause()
        assert error.display  # in the form's words, not --set's
        assert "learning rate: must be a number > 0" in str(error.render())
        assert launch.query_one("#launch", Button).disabled
        launch.query_one("#field-batch", Input).focus()
        await pilot.press("9", "9", "9", "enter")  # two problems now: lr shown first
        launch.query_one("#field-lr", Input).focus()
        await pilot.press("0", ".", "0", "1", "enter")
        await pilot.pause()
        assert "batch_size 999 is larger than the 500 training" in str(error.render())
        assert app.is_running


@in_event_loop
async def test_killed_run_shows_interrupted(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    finished = write_run(runs_dir, "20260101-120000-smoke", fake_report())
    killed = killed_copy(finished, "20260105-080000-smoke")
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        assert status_of(runs, killed) == "interrupted"
        assert status_of(runs, finished) == "completed"
        # Newest first: the killed run is selected; its report says "interrupted".
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)
        report = app.screen  # it reads the run in a thread: wait for it
        await wait_for(pilot, lambda: report.record is not None, 10, "the report")
        assert report.markdown.startswith("# Run smoke: interrupted")
        await pilot.press("escape")
        # A completed run cannot be resumed: refused with a message, nothing starts.
        await pilot.press("down", "r")
        await pilot.pause()
        assert not app.run_active and isinstance(app.screen, RunsScreen)
        # The launch screen shows each profile's last result.
        await pilot.press("p")
        table = app.screen.query_one("#profiles", DataTable)
        assert table_column(table, "last") == ["◆ interrupted"]


@in_event_loop
async def test_runs_screen_sorts(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    paths = standard_runs(runs_dir)
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        runs = app.screen
        table = runs.query_one("#runs", DataTable)
        assert [Path(str(k.value)).name for k in table.rows] == sorted(
            [p.name for p in paths.values()], reverse=True
        )
        await pilot.press("o")  # next column: status
        assert runs.sort_key == "status"
        assert table_column(table, "status") == ["✔ completed", "◆ interrupted", "■ stopped"]
        await pilot.press("O")
        assert table_column(table, "status") == ["■ stopped", "◆ interrupted", "✔ completed"]
        runs.sort_by("test")  # what clicking the "test" header does; runs without go last
        assert table_column(table, "test")[0] == "29.0%"
        await pilot.click("#runs", offset=(5, 0))  # the "run" header, after the mark column
        await pilot.pause()
        assert runs.sort_key == "run"


@in_event_loop
async def test_quit_during_a_run_asks_first(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        app.run_state = RunState(label="smoke", active=True)  # as if the engine were running
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen) and app.is_running
        assert not app.control.stop_requested
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert app.control.stop_requested and app.is_running  # waits for the engine to stop
        app.post_message(EngineDone("stopped"))
        await pilot.pause()
    assert app.return_value == 130


@pytest.mark.usefixtures("lasting_toasts")
@in_event_loop
async def test_warnings_and_bad_endings_cannot_be_missed(tmp_path: Path) -> None:
    """Fed the events of a diverged run, as the worker posts them: banner and notification."""
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        app.run_state = RunState(label="smoke", active=True)
        for event in (
            RunWarning("not_learning", "The training loss is still at chance level."),
            RunFinished("diverged", "Diverged: loss became nan", None, None, 3.0),
        ):
            app.post_message(EngineEvent(event))
        app.post_message(EngineDone("diverged"))
        await wait_for(pilot, lambda: not app.run_active, 5, "the end of the run")
        watch = app.screen
        outcome = watch.query_one("#outcome", Static)
        assert outcome.display and outcome.has_class("-error")
        assert "Run diverged: Diverged: loss became nan" in str(outcome.render())
        assert "still at chance" in str(watch.query_one("#warnings", Static).render())
        severities = [n.severity for n in app._notifications]
        assert "warning" in severities and "error" in severities

        # A run that could not start (e.g. missing data) says why, in the same place.
        app.run_state = RunState(label="smoke", active=True)
        app.post_message(EngineDone(None, "CIFAR-10 is not cached"))
        await wait_for(pilot, lambda: not app.run_active, 5, "the engine's answer")
        assert "could not start: CIFAR-10 is not cached" in str(outcome.render())


@in_event_loop
async def test_resumed_run_shows_its_earlier_epochs_from_the_event(tmp_path: Path) -> None:
    """A resumed run's finished epochs come with RunStarted: no history.csv is read (there is
    none here), and only the epochs up to the resumed one show."""
    from test_tui_helpers import EPOCHS

    from core.events import EpochEnded, RunStarted

    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        app.run_state = RunState(label="smoke", active=True)
        started = RunStarted(
            run_dir=str(tmp_path / "nowhere"),
            name="smoke",
            epochs=3,
            initial_epoch=1,
            steps_per_epoch=10,
            batch_size=50,
            params_total=552874,
            params_trainable=551722,
            backend="jax",
            devices=["cpu:cpu"],
            train_images=500,
            val_images=100,
            test_images=100,
            history=EPOCHS[:2],  # epoch 2 finished after the last checkpoint: done again
        )
        app.post_message(EngineEvent(started))
        await pilot.pause()
        watch = app.screen
        table = watch.query_one("#epochs", DataTable)
        assert table_column(table, "epoch") == ["1/3"]
        assert "jax on CPU" in str(watch.query_one("#device", Static).render())
        assert "resumed after epoch 1" in str(watch.query_one("#device", Static).render())
        for row in EPOCHS[1:]:
            app.post_message(EngineEvent(EpochEnded(**row)))
        await pilot.pause()
        assert table_column(table, "epoch") == ["1/3", "2/3", "3/3"]
        assert table_column(table, "loss") == ["1.5501", "0.2802", "0.1176"]
        assert watch.query_one("#plot-loss").points == 3
        assert not (tmp_path / "nowhere").exists()


@in_event_loop
async def test_sweep_files_are_read_off_the_ui_thread_and_not_on_resize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tui.console.screens import sweeps as sweeps_module

    profiles = copy_profiles(tmp_path / "profiles")
    (profiles / "sweeps").mkdir()
    (profiles / "sweeps" / "lr.toml").write_text(
        'base = "../smoke.toml"\n\n[grid]\n"train.learning_rate" = [0.001, 0.002]\n',
        encoding="utf-8",
    )
    readers: list[threading.Thread] = []
    real = sweeps_module.list_sweeps

    def counted(*args: Any) -> Any:
        readers.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(sweeps_module, "list_sweeps", counted)
    app = create_app(profiles, tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("S")
        screen = await sweeps_listed(pilot)
        table = screen.query_one("#sweeps", DataTable)
        assert table_column(table, "runs") == ["2"]
        assert len(readers) == 1 and readers[0] is not threading.main_thread()
        wide = table.columns["description"].width
        await pilot.resize_terminal(90, 30)
        await pilot.pause()
        assert table.columns["description"].width == wide - (SIZE[0] - 90)  # laid out again
        assert table_column(table, "runs") == ["2"] and len(readers) == 1  # nothing read again
        await pilot.press("escape", "S")  # shown again: a sweep may have run since
        await sweeps_listed(pilot)
        assert len(readers) == 2


@in_event_loop
async def test_help_and_quit(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "w")
        assert isinstance(app.screen, WatchScreen)
        await pilot.press("s")  # no run: a message, nothing else
        await pilot.press("q")
    assert app.return_value == 0


@in_event_loop
async def test_images_view(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, ImagesScreen)
        await wait_for(pilot, lambda: len(screen.query(ImageTile)) == 12, 30, "the images")
        tile = screen.query(ImageTile).first()
        assert tile.caption.startswith("#0 pattern")
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.start == 12, 5, "the next page")
        await pilot.press("escape")
        assert isinstance(app.screen, LaunchScreen)


# -- small pieces -------------------------------------------------------------------------


def test_half_block_draws_two_pixels_per_cell() -> None:
    image = [[(x * 8, y * 8, 0) for x in range(32)] for y in range(32)]
    text = half_block(image)
    lines = text.plain.split("\n")
    assert len(lines) == 16 and all(line == "▀" * 32 for line in lines)
    first = text.spans[0].style
    assert first.color.triplet == (0, 0, 0) and first.bgcolor.triplet == (0, 8, 0)
    mono = half_block(image, mono=True).plain.split("\n")
    assert len(mono) == 16 and "▀" not in "".join(mono)


def test_progress_throttle_and_run_control() -> None:
    now = [0.0]
    throttle = ProgressThrottle(0.25, clock=lambda: now[0])

    def progress(step: int) -> BatchProgress:
        return BatchProgress(
            epoch=1, step=step, steps=10, loss=1.0, accuracy=0.5, epoch_seconds=1.0, eta_seconds=1.0
        )

    assert throttle.allow(progress(1))
    now[0] = 0.1
    assert not throttle.allow(progress(2))
    assert throttle.allow(progress(10))  # an epoch's last step always shows
    now[0] = 0.5
    assert throttle.allow(progress(3))

    class FakeRun:
        stopped = False

        def request_stop(self) -> None:
            self.stopped = True

    control, run = RunControl(), FakeRun()
    control.request_stop()  # before the worker attached its run: kept
    control.attach(run)
    assert run.stopped


def test_command_line_and_sorting(tmp_path: Path) -> None:
    line = command_line(
        Path("profiles/smoke.toml"),
        Path("profiles/hparams/sgd.toml"),
        ["train.epochs=2"],
        Path("my runs"),
    )
    assert line == (
        "cifar-tui --run profiles/smoke.toml --hparams profiles/hparams/sgd.toml "
        "--set train.epochs=2 --runs-dir 'my runs'"
    )
    from core.storage.rundir import list_runs

    standard_runs(tmp_path)
    records = list_runs(tmp_path)
    ordered = sort_records(records, "test", reverse=True)
    assert ordered[0].test_accuracy == 0.29 and ordered[-1].test_accuracy is None


def test_console_module_imports_no_tensorflow() -> None:
    """The console must paint before TensorFlow loads: nothing heavy at import or mount, nor
    when help imports every module of the console to find its screens."""
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from tui.console.app import create_app\n"
        "async def main():\n"
        "    app = create_app(Path('profiles'), Path('/nonexistent-runs'))\n"
        "    async with app.run_test() as pilot:\n"
        "        await pilot.pause()\n"
        "        await pilot.press('question_mark')\n"
        "        await pilot.pause()\n"
        "        assert type(app.screen).__name__ == 'HelpScreen', app.screen\n"
        "asyncio.run(main())\n"
        "heavy = ('tensorflow', 'keras', 'jax', 'core.training.engine')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


@in_event_loop
async def test_app_factory_lists_its_folders(tmp_path: Path) -> None:
    """The app lists the profiles and the runs of the folders it is made for, and no others."""
    profiles = copy_profiles(tmp_path / "p", {"other.toml": BROKEN_PROFILE})
    paths = standard_runs(tmp_path / "r")
    write_run(tmp_path / "elsewhere", "20260109-000000-smoke", fake_report())
    app = create_app(profiles, tmp_path / "r")
    assert isinstance(app, CifarTuiApp)
    async with app.run_test(size=SIZE) as pilot:
        assert [e.name for e in app.screen.profiles] == ["other", "smoke"]
        await pilot.press("b")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        listed = {Path(str(key.value)) for key in runs.query_one("#runs", DataTable).rows}
        assert listed == set(paths.values())
