"""The console and runs that outlive the terminal: signals, attached runs, stop from the console.

The fast tests drive a fake writer: a child process that records a run with the real recorder
(events.jsonl, progress.json, history, report, the lock), one step per line it reads, and handles
SIGUSR1 as ``cifar-tui --stop`` expects (stop, save, exit 130). The console (Textual's pilot)
follows it from its files. The slow tests train the smoke profile for real. Every wait is on a
condition with a generous timeout, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import SMOKE, cli_env, console_in_pty, read_pty_until, run_cli, start_cli
from test_tui import SIZE, TRAIN_TIMEOUT, in_event_loop, status_of, table_column, wait_for
from test_tui_helpers import REPO, copy_profiles
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from core.events import BatchProgress, EpochEnded, RunFinished, RunStarted, Status
from core.profiles import load_profile
from core.storage.control import STOP_NOTE
from tui.console.app import CifarTuiApp, create_app
from tui.console.follow import detached_argv, parse_detached, process_alive
from tui.console.messages import EngineDone
from tui.console.runner import LaunchRequest
from tui.console.screens.dialogs import ConfirmScreen
from tui.console.screens.runs import RunsScreen
from tui.console.screens.watch import WatchScreen, fit_parts, progress_info, progress_parts
from tui.console.state import RunState

WAIT = 20.0  # seconds: generous for a file read every 0.5 s on a busy machine

WRITER = r"""
import os, select, signal, sys
from pathlib import Path
from core import events as ev
from core.profiles import load_profile
from core.status import stopped_message
from core.storage.control import take_stopper
from core.storage.recorder import RunRecorder

rec = RunRecorder.create(Path(sys.argv[2]), load_profile(sys.argv[1], overrides=["train.epochs=3"]))
run_dir, stop = str(rec.run_dir), []
signal.signal(signal.SIGUSR1, lambda *_: stop.append(True))  # only a flag, as the CLI does
rec(ev.RunOpened(run_dir, "smoke", False, {"backend": "tensorflow", "gpu": False}, "synthetic"))
rec(ev.RunStarted(run_dir, "smoke", 3, 0, 10, 50, 9, 8, "tensorflow", ["CPU:0"], 500, 100, 100))
rec(ev.Status("training (the first steps compile the model)"))
print(run_dir, flush=True)
pending = b""
while not stop:
    if not select.select([0], [], [], 0.05)[0]:
        continue
    pending += os.read(0, 4096)
    while b"\n" in pending:
        line, pending = pending.split(b"\n", 1)
        kind, *numbers = line.decode().split()
        if kind == "progress":
            epoch, step = map(int, numbers)
            rec(ev.BatchProgress(epoch, step, 10, 2.0, 0.1, step * 0.5, (10 - step) * 0.5))
        elif kind == "epoch":
            rec(ev.EpochEnded(int(numbers[0]), 5.0, 2.0, 0.1, 2.1, 0.1, 0.001))
by = take_stopper(Path(run_dir), "SIGUSR1")  # who sent SIGUSR1, as the engine asks once stopped
rec(ev.RunFinished("stopped", stopped_message(by), None, None, 3.0, stopped_by=by))
rec.close()
sys.exit(130)
"""


class FakeWriter:
    """A child process training nothing, recording a run step by step as it is told."""

    def __init__(self, runs_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(SMOKE), str(runs_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        self.run_dir = Path(self.proc.stdout.readline().strip())
        assert self.run_dir.is_dir(), self.run_dir

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def text_of(app: CifarTuiApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def until(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    await wait_for(pilot, condition, WAIT, what)


async def app_exit(app: CifarTuiApp, timeout: float) -> None:
    """Wait for the app to leave (the pilot cannot pause an app that is gone)."""
    deadline = time.monotonic() + timeout
    while app.is_running:
        assert time.monotonic() < deadline, f"the console did not leave within {timeout:.0f} s"
        await asyncio.sleep(0.05)


# -- attached runs, from a fake writer ---------------------------------------------------------


@in_event_loop
async def test_a_console_follows_another_process_run_and_stops_it(tmp_path: Path) -> None:
    """A run another process records: its live row moves on the runs screen, enter opens its
    watch screen, progress and epochs arrive, s (confirmed) stops it through SIGUSR1."""
    runs_dir = tmp_path / "runs"
    writer = FakeWriter(runs_dir)
    try:
        app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("b")
            runs = app.screen
            assert isinstance(runs, RunsScreen)
            assert status_of(runs, writer.run_dir) == "running" and writer.run_dir in runs.live
            await pilot.press("enter")  # a live run: its watch screen, attached
            await pilot.pause()
            assert isinstance(app.screen, WatchScreen)
            state = app.run_state
            assert state.attached and not app.run_active and app.can_stop
            assert state.pid == writer.proc.pid
            await until(pilot, lambda: "compile" in state.status, "the run's status")
            assert f"pid {writer.proc.pid}" in text_of(app, "#device")

            writer.send("progress 1 4")
            await until(pilot, lambda: state.progress is not None, "the epoch's progress")
            assert state.status == "training"  # the compile note ends with the first batch
            assert "compile" not in text_of(app, "#device")
            assert text_of(app, "#progress-info").startswith(" 4/10 · ETA 0:03")
            table = app.screen.query_one("#epochs", DataTable)
            writer.send("epoch 1")
            await until(pilot, lambda: table.row_count == 1, "the first epoch's row")

            # The runs screen's live row moves by itself.
            await pilot.press("b")
            epochs_cell = lambda: table_column(runs.query_one("#runs", DataTable), "epochs")  # noqa: E731
            await until(pilot, lambda: epochs_cell() == ["1/3"], "the live row at 1/3")
            writer.send("epoch 2")
            await until(pilot, lambda: epochs_cell() == ["2/3"], "the live row at 2/3")

            # s on the attached run: a question first, then SIGUSR1 to the lock's holder.
            await pilot.press("w", "s")
            assert isinstance(app.screen, ConfirmScreen)
            assert f"process {writer.proc.pid}" in app.screen.question
            await pilot.press("y")
            await pilot.pause()
            assert state.stopping
            await until(pilot, lambda: not state.active, "the run's end")
            assert state.finished is not None and state.finished.status == "stopped"
            assert app.engine_status == "stopped" and not app.can_stop
            assert writer.proc.wait(10) == 130
            # The console's s is recorded as the console's (its stop note), not as --stop's:
            # in the banner, report.json, report.md and the runs list.
            assert "Stopped by the console (s) after 2 epoch(s)" in text_of(app, "#outcome")
            report = json.loads((writer.run_dir / "report.json").read_text())
            assert report["status"] == "stopped" and report["stop"]["by"] == "console"
            assert "stopped by the console (s)" in (writer.run_dir / "report.md").read_text()
            assert not (writer.run_dir / STOP_NOTE).exists()
            await pilot.press("b")
            await until(pilot, lambda: status_of(runs, writer.run_dir) == "stopped", "the row")
            row = str(runs.query_one("#runs", DataTable).get_cell(str(writer.run_dir), "status"))
            assert "stopped (console)" in row
    finally:
        writer.close()


def test_a_console_stopped_by_sigusr1_says_who_asked(tmp_path: Path) -> None:
    """The toast of a console whose run gets SIGUSR1 names the asker its stop note names."""
    from tui.console.app import stop_asked_text

    assert stop_asked_text(str(tmp_path)) == (
        "Stopping after the current batch, as cifar-tui --stop asked."
    )
    (tmp_path / STOP_NOTE).write_text("console")
    assert "as another console's s asked" in stop_asked_text(str(tmp_path))
    (tmp_path / STOP_NOTE).write_text("anything else")  # not a word the note may say
    assert "as cifar-tui --stop asked" in stop_asked_text(str(tmp_path))


def test_stop_from_the_command_line_clears_a_console_s_stale_note(tmp_path: Path) -> None:
    """A console's stop note left behind (its signal never came) does not make a later
    ``cifar-tui --stop`` the console's: --stop clears it, and the run says --stop stopped it."""
    writer = FakeWriter(tmp_path / "runs")
    try:
        (writer.run_dir / STOP_NOTE).write_text("console")
        proc = run_cli("--stop", str(writer.run_dir), timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert writer.proc.wait(10) == 130
    finally:
        writer.close()
    report = json.loads((writer.run_dir / "report.json").read_text())
    assert report["stop"] == {"by": "SIGUSR1", "message": "stopped by cifar-tui --stop (SIGUSR1)"}
    assert not (writer.run_dir / STOP_NOTE).exists()


@in_event_loop
async def test_a_followed_run_whose_process_is_killed_shows_interrupted(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    writer = FakeWriter(runs_dir)
    try:
        app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
        async with app.run_test(size=SIZE) as pilot:
            assert app.attach_run(writer.run_dir)
            state = app.run_state
            writer.send("epoch 1")
            await until(pilot, lambda: len(state.epochs) == 1, "the first epoch")
            writer.proc.kill()
            await until(pilot, lambda: not state.active, "the end of the followed run")
            assert state.finished is not None and state.finished.status == "interrupted"
            outcome = app.screen.query_one("#outcome", Static)
            assert outcome.has_class("-info")
            assert "interrupted" in text_of(app, "#outcome")
            assert "resume it from the runs screen" in text_of(app, "#outcome")
            await pilot.press("s")  # nothing trains any more: no question
            assert not isinstance(app.screen, ConfirmScreen)
    finally:
        writer.close()


@in_event_loop
async def test_a_replaced_follower_is_not_heard_and_quitting_leaves_the_run(tmp_path: Path) -> None:
    """Attaching to another run stops the first follower; its late events are dropped. Quitting
    while attached asks nothing: the run is not this console's, and trains on."""
    runs_dir = tmp_path / "runs"
    first, second = FakeWriter(runs_dir), FakeWriter(runs_dir)
    try:
        app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
        async with app.run_test(size=SIZE) as pilot:
            assert app.attach_run(first.run_dir)
            old = app.run_state
            await until(pilot, lambda: old.started is not None, "the first run's start")
            assert app.attach_run(second.run_dir)
            new = app.run_state
            await until(pilot, lambda: new.started is not None, "the second run's start")
            first.send("epoch 1")
            second.send("progress 1 2")
            await until(pilot, lambda: new.progress is not None, "the second run's progress")
            assert new.epochs == [] and new.run_dir == str(second.run_dir)
            await pilot.press("q")
            await app_exit(app, 10)
        assert app.return_value == 0
        assert first.proc.poll() is None and second.proc.poll() is None  # both train on
    finally:
        first.close()
        second.close()


# -- signals ----------------------------------------------------------------------------------


@in_event_loop
async def test_signals_stop_the_engine_run_and_leave_normally(tmp_path: Path) -> None:
    """SIGUSR1 (cifar-tui --stop) stops the console's run and keeps it open; SIGHUP stops it
    too, waits for the engine to save, then leaves with 129."""
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        app.run_state = RunState(label="smoke", active=True)  # as if the engine were running
        os.kill(os.getpid(), signal.SIGUSR1)
        await until(pilot, lambda: app.control.stop_requested, "the stop SIGUSR1 asks")
        assert app.is_running and app.control._by == "SIGUSR1"

        app.control = type(app.control)()  # a fresh run, not yet asked to stop
        os.kill(os.getpid(), signal.SIGHUP)
        await until(pilot, lambda: app.control.stop_requested, "the stop SIGHUP asks")
        assert app.control._by == "SIGHUP" and app.is_running  # it waits for the save
        app.post_message(EngineDone("stopped"))
        await app_exit(app, 10)
    assert app.return_value == 129
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # handlers gone with the app


@in_event_loop
async def test_sigterm_with_nothing_training_leaves_at_once(tmp_path: Path) -> None:
    app = create_app(copy_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=SIZE):
        os.kill(os.getpid(), signal.SIGTERM)
        await app_exit(app, 10)
    assert app.return_value == 143


# -- pieces ------------------------------------------------------------------------------------


def test_progress_says_the_epoch_and_run_eta_and_the_compile_note_ends() -> None:
    state = RunState(label="smoke", active=True)
    state.apply(RunStarted("r", "smoke", 4, 0, 10, 50, 1, 1, "jax", ["cpu"], 1, 1, 1))
    state.apply(Status("training (the first steps compile the model)"))
    assert state.status.startswith("training (")
    state.apply(BatchProgress(1, 1, 10, 2.5, 0.1, 4.0, float("nan")))
    assert state.status == "training"  # the first batch ran: compiling is over
    assert progress_info(state).startswith(" 1/10 · loss 2.5000")  # no ETA measured yet
    state.apply(EpochEnded(1, 6.0, 2.0, 0.1, 2.1, 0.1, 0.001))
    state.apply(BatchProgress(2, 4, 10, 1.25, 0.5, 2.0, 3.0))
    # 3 s left in epoch 2, then epochs 3 and 4 at the measured 6 s each.
    assert progress_info(state) == " 4/10 · ETA 0:03 · run ETA 0:15 · loss 1.2500 · acc 50.0%"
    # Where they do not all fit (80x24 leaves 44 columns), the least needed go whole, in turn.
    parts = progress_parts(state)
    assert fit_parts(parts, 57) == progress_info(state)  # all of them
    assert fit_parts(parts, 56) == " 4/10 · ETA 0:03 · run ETA 0:15 · loss 1.2500"
    assert fit_parts(parts, 44) == " 4/10 · run ETA 0:15 · loss 1.2500"
    assert fit_parts(parts, 20) == " 4/10 · run ETA 0:15"


def test_a_resumed_session_replayed_from_the_log_starts_afresh() -> None:
    state = RunState(label="smoke", active=True, attached=True)
    state.apply(RunStarted("r", "smoke", 3, 0, 10, 50, 1, 1, "jax", ["cpu"], 1, 1, 1))
    state.apply(EpochEnded(1, 6.0, 2.0, 0.1, 2.1, 0.1, 0.001))
    state.apply(EpochEnded(2, 6.0, 2.0, 0.1, 2.1, 0.1, 0.001))  # not in the checkpoint
    state.apply(RunFinished("stopped", "", None, None, 12.0))
    history = [{"epoch": 1, "seconds": 6.0, "loss": 2.0, "accuracy": 0.1, "val_loss": 2.1,
                "val_accuracy": 0.1, "lr": 0.001}]  # fmt: skip
    pipeline = {"input_bound_percent": 1.5, "verdict": "not", "method": "wait", "window": [3, 8],
                "batches_measured": 6, "complete": True, "advice": [], "details": {}}  # fmt: skip
    state.apply(RunStarted("r", "smoke", 3, 1, 10, 50, 1, 1, "jax", ["cpu"], 1, 1, 1,
                           history=history, input_pipeline=pipeline))  # fmt: skip
    assert state.finished is None and [e["epoch"] for e in state.epochs] == [1]
    assert state.profiler is not None and state.profiler.input_bound_percent == 1.5


def test_detached_launch_command_and_answer(tmp_path: Path) -> None:
    command = "cifar-tui --run 'my profiles/smoke.toml' --set train.epochs=2 --runs-dir runs"
    request = LaunchRequest(label="smoke", runs_dir=Path("runs"), command=command)
    argv = detached_argv(request)
    assert argv[:3] == [sys.executable, "-m", "tui.cli.main"]
    assert argv[3:] == ["--run", "my profiles/smoke.toml", "--set", "train.epochs=2",
                        "--runs-dir", "runs", "--detach"]  # fmt: skip
    resume = LaunchRequest(label="r", runs_dir=tmp_path, resume_dir=tmp_path / "run")
    assert detached_argv(resume)[3:] == ["--resume", str(tmp_path / "run"), "--detach"]
    said = "started runs/2026 x-smoke (pid 4242), detached from this terminal\n  output: y\n"
    assert parse_detached(said) == (Path("runs/2026 x-smoke"), 4242)
    assert parse_detached("started pid 7, still opening its run after 60 s") == (None, None)
    assert process_alive(os.getpid()) and not process_alive(None)


# -- with training ------------------------------------------------------------------------------


def smoke_request(runs_dir: Path, epochs: int = 8) -> LaunchRequest:
    profile = load_profile(SMOKE, overrides=[f"train.epochs={epochs}"])
    return LaunchRequest(label="smoke", runs_dir=runs_dir, profile=profile)


def run_finished(run_dir: Path) -> dict:
    """The last RunFinished in the run's events.jsonl."""
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["type"] == "run_finished"][-1]


@pytest.mark.slow
@in_event_loop
async def test_sighup_stops_and_saves_the_console_run(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        assert app.start_run(smoke_request(runs_dir))
        state = app.run_state
        await wait_for(pilot, lambda: state.progress is not None, TRAIN_TIMEOUT, "training")
        run_dir = Path(state.run_dir or "")
        os.kill(os.getpid(), signal.SIGHUP)
        await app_exit(app, TRAIN_TIMEOUT)
    assert app.return_value == 129 and app.engine_status == "stopped"
    assert json.loads((run_dir / "report.json").read_text())["status"] == "stopped"
    assert run_finished(run_dir)["stopped_by"] == "SIGHUP"


@pytest.mark.slow
def test_console_in_a_terminal_sent_sighup_saves_and_restores_the_terminal(
    tmp_path: Path,
) -> None:
    """The console in a pty launches the smoke profile (l); SIGHUP: the run is saved stopped,
    and the last bytes leave the alternate screen, turn mouse tracking off, show the cursor."""
    runs_dir = tmp_path / "runs"
    profiles = copy_profiles(tmp_path / "profiles")
    args = ["--profiles-dir", str(profiles), "--runs-dir", str(runs_dir)]
    with console_in_pty([sys.executable, "-m", "tui.cli.main", *args]) as (proc, master, screen):
        read_pty_until(master, screen, lambda: b"Launch" in screen, 60, "the pick screen")
        os.write(master, b"l")
        progress = lambda: list(runs_dir.glob("*/progress.json"))  # noqa: E731
        read_pty_until(master, screen, lambda: bool(progress()), TRAIN_TIMEOUT, "training")
        run_dir = progress()[0].parent
        mark = len(screen)
        proc.send_signal(signal.SIGHUP)
        read_pty_until(master, screen, lambda: proc.poll() is not None, TRAIN_TIMEOUT, "the exit")
        read_pty_until(master, screen, lambda: False, 0.5, "")  # what is left to read
    assert proc.returncode == 129
    assert json.loads((run_dir / "report.json").read_text())["status"] == "stopped"
    tail = bytes(screen[mark:])
    for sequence in (b"\x1b[?1049l", b"\x1b[?1000l", b"\x1b[?25h"):
        assert sequence in tail, (sequence, tail[-300:])


@pytest.mark.slow
@in_event_loop
async def test_a_console_watches_a_headless_run_and_stops_it(tmp_path: Path) -> None:
    """cifar-tui --run in another process: the console attached to it sees its epochs arrive,
    and s stops it (exit 130, saved stopped)."""
    runs_dir = tmp_path / "runs"
    proc = start_cli("--run", str(SMOKE), "--set", "train.epochs=8", "--runs-dir", str(runs_dir))
    try:
        app = create_app(copy_profiles(tmp_path / "profiles"), runs_dir)
        async with app.run_test(size=SIZE) as pilot:
            live = lambda: [p.parent for p in runs_dir.glob("*/.lock")]  # noqa: E731
            await wait_for(pilot, lambda: bool(live()), TRAIN_TIMEOUT, "the run's directory")
            assert app.attach_run(live()[0])
            await pilot.pause()
            state = app.run_state
            table = app.screen.query_one("#epochs", DataTable)
            await wait_for(pilot, lambda: table.row_count >= 1, TRAIN_TIMEOUT, "an epoch")
            await pilot.press("s", "y")
            await wait_for(pilot, lambda: not state.active, TRAIN_TIMEOUT, "the stop")
            assert state.finished is not None and state.finished.status == "stopped"
            assert state.finished.message == "stopped by the console (s)"
        assert proc.wait(TRAIN_TIMEOUT) == 130
        report = json.loads((Path(state.run_dir or "") / "report.json").read_text())
        assert report["stop"] == {"by": "console", "message": "stopped by the console (s)"}
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.mark.slow
@in_event_loop
async def test_keep_training_launches_a_detached_run_that_outlives_the_console(
    tmp_path: Path,
) -> None:
    """With "keep training" on, l starts a process of its own, which the watch screen follows;
    the console quits without a question, and the run trains on until it is stopped."""
    from core.storage.control import lock_holder, request_stop, wait_stopped

    runs_dir = tmp_path / "runs"
    profiles = copy_profiles(tmp_path / "profiles")
    smoke = profiles / "smoke.toml"  # epochs enough to outlive the test (stopped at its end)
    smoke.write_text(smoke.read_text().replace("\nepochs = 3\n", "\nepochs = 50\n"))
    app = create_app(profiles, runs_dir)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.click("#keep-training")
            assert app.keep_training
            await pilot.press("l")
            await pilot.pause()
            assert app.run_state.attached and isinstance(app.screen, WatchScreen)
            started = lambda: app.run_state.progress is not None  # noqa: E731
            await wait_for(pilot, started, TRAIN_TIMEOUT, "training")
            state = app.run_state
            assert state.pid is not None and state.pid != os.getpid() and not app.run_active
            assert state.planned_epochs == 50 and "training" in text_of(app, "#device")
            await pilot.press("q")  # no question: the run is not this console's
            await app_exit(app, 10)
        run_dir = Path(state.run_dir or "")
        assert lock_holder(run_dir) == state.pid  # it trains on without the console
        assert request_stop(run_dir) == state.pid
        assert wait_stopped(run_dir, TRAIN_TIMEOUT) == "stopped"
        assert (run_dir / "output.log").is_file()
    finally:
        for lock in runs_dir.glob("*/.lock"):  # never leave a detached run behind
            if lock_holder(lock.parent):
                request_stop(lock.parent)
                wait_stopped(lock.parent, TRAIN_TIMEOUT)
