"""The console's Session (tui/console/session.py) without the pilot: its transitions and its
answers to "busy?", "can stop?" and "why not resume?"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import REPO

from core import events as ev
from core.eta import Eta
from core.status import RunStatus
from tui.console.session import Session
from tui.console.views import SweepRunView, SweepSnapshot


class FakeRun:
    def __init__(self) -> None:
        self.stops: list[str] = []

    def request_stop(self, by: str = "user") -> None:
        self.stops.append(by)


def snapshot(status: str = RunStatus.RUNNING) -> SweepSnapshot:
    runs = (
        SweepRunView(1, "lr=0.001", "completed", 2, 2),
        SweepRunView(2, "lr=0.002", "pending", 2, 0),
    )
    return SweepSnapshot("grid", Path("/sweeps/grid-1"), status, runs, Eta(None, 2, None))


def test_the_session_module_imports_no_textual() -> None:
    code = "import sys, tui.console.session; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_a_new_session_is_idle() -> None:
    session = Session()
    assert not session.busy and not session.can_stop and not session.sweep_active
    assert session.engine_status is None and session.run_state.status == "idle"


def test_a_run_makes_it_busy_until_it_is_over_and_a_stop_is_asked_once() -> None:
    session = Session()
    control = session.begin_run("smoke", (3, 8))
    state = session.run_state
    assert session.busy and session.can_stop and not session.sweep_active
    assert (state.label, state.status, state.profiler_window) == ("smoke", "starting", (3, 8))
    assert session.busy_message() == "A run is already training: stop it first (w, then s)."
    run = FakeRun()
    control.attach(run)
    assert session.request_stop("SIGUSR1") and state.stopping
    assert not session.request_stop("user")  # asked already: the run keeps who asked first
    assert run.stops == ["SIGUSR1"]
    session.run_over(RunStatus.STOPPED, None)
    assert not session.busy and session.engine_status == RunStatus.STOPPED


def test_a_run_that_could_not_start_keeps_its_error() -> None:
    session = Session()
    session.begin_run("smoke")
    session.run_over(None, "no CIFAR-10 data at /nowhere")
    state = session.run_state
    assert session.engine_status == "error" and not session.busy
    assert (state.error, state.status) == ("no CIFAR-10 data at /nowhere", "could not start")


def test_a_new_run_starts_with_a_fresh_state_and_stop_switch() -> None:
    session = Session()
    first = session.begin_run("a")
    session.request_stop()
    session.run_over(RunStatus.STOPPED, None)
    second = session.begin_run("b")
    assert second is not first and not second.stop_requested
    assert not session.run_state.stopping and session.engine_status is None


def test_a_sweep_is_busy_between_its_runs_and_its_runs_become_the_current_run() -> None:
    session = Session()
    session.begin_sweep("grid", "grid.toml", 2, "cifar-tui --sweep grid.toml")
    assert session.sweep_active and session.busy
    assert session.run_state.label == "sweep grid" and not session.run_state.active
    assert session.busy_message() == "A sweep is running: stop it first (w, then s)."
    assert session.begin_sweep_run(snapshot(), 2, "resume", None)
    assert session.run_state.label == "lr=0.002" and session.run_state.status == "resuming"
    session.run_over(RunStatus.COMPLETED, None)
    assert session.busy  # the sweep goes on
    sweep = session.sweep_done(snapshot(RunStatus.COMPLETED), None)
    assert sweep is session.sweep_state and sweep is not None and not sweep.active
    assert not session.busy and sweep.snapshot is not None
    assert sweep.snapshot.status == RunStatus.COMPLETED


def test_a_sweep_with_nothing_left_to_run_says_so_on_its_line() -> None:
    session = Session()
    session.begin_sweep("grid", "grid.toml", 2, "")
    session.sweep_done(snapshot(RunStatus.COMPLETED), None)
    assert session.run_state.status == RunStatus.COMPLETED
    session.begin_sweep("grid", "grid.toml", 2, "")
    session.sweep_done(None, "this sweep is already running in another process")
    assert session.run_state.status == "not started"
    assert session.sweep_state is not None and session.sweep_state.error


def test_sweep_news_without_a_sweep_is_ignored() -> None:
    session = Session()
    assert not session.begin_sweep_run(snapshot(), 1, "start")
    assert session.sweep_done(None, None) is None


def test_an_attached_run_can_be_stopped_but_leaves_the_engine_free() -> None:
    session = Session()
    first = session.begin_attached("smoke", "reading its files", 4242, "/runs/smoke-1")
    assert session.can_stop and not session.busy
    assert session.run_state.run_dir == "/runs/smoke-1" and session.run_state.pid == 4242
    assert session.accepts(first)
    second = session.begin_attached("other", "starting a process of its own")
    assert second != first and not session.accepts(first) and session.accepts(second)


def test_events_go_to_the_current_run() -> None:
    session = Session()
    session.begin_run("smoke")
    session.apply(ev.Status("loading data"))
    assert session.run_state.status == "loading data"


def test_a_warning_is_new_once() -> None:
    session = Session()
    assert session.first_warning("slow_disk") and not session.first_warning("slow_disk")


def test_resume_is_refused_while_busy_and_otherwise_asks_the_engines_rule(tmp_path: Path) -> None:
    from core.storage.rundir import RunRecord

    session = Session()
    record = RunRecord(tmp_path / "gone", {})
    assert session.why_not_resume(record) == f"{tmp_path / 'gone'}: no such run directory"
    session.begin_run("smoke")
    assert session.why_not_resume(record) == session.busy_message()
