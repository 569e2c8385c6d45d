"""The console's "runs at once" (the sweeps screen's + and -): the sweep runs as ``--parallel``.

The process runs of core/sweeps/parallel.py are stood in for by the stand-in engine (FakeRun) on
the loop's lane threads, so nothing trains and nothing races: the two runs meet at a barrier
after their first epoch, which they pass only together (overlap proven, not timed), then hold
until the test's s reaches them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fakes import FakeRun
from test_tui import in_event_loop, sweeps_listed, wait_for
from test_tui_sweeps import sweep_line, tiny_profiles
from textual.widgets import Static

from core.sweeps import parallel
from core.sweeps.parallel import Slot
from tui.console.app import create_app
from tui.console.screens import sweeps as sweeps_screen
from tui.console.screens.watch import WatchScreen

TIMEOUT = 30.0  # generous: every wait is on a condition, none on a race


class FakeProcessRuns:
    """core.sweeps.parallel.ProcessRuns with the stand-in engine: keeps the slots it was given."""

    slots: ClassVar[list[Slot]] = []

    def __init__(self, runs_dir: Path, slots: list[Slot]) -> None:
        self.runs_dir = runs_dir
        FakeProcessRuns.slots = list(slots)

    def make_run(self, profile: Any) -> FakeRun:
        return FakeRun(profile, self.runs_dir)

    def resume_run(self, run_dir: Path) -> FakeRun:
        return FakeRun.resume(run_dir)


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch, fake_run: type[FakeRun]) -> Iterator[None]:
    """A machine of two CPU cores and no GPU; the thread path's engine is the stand-in too
    (``fake_run`` resets it and skips freeing models between its runs)."""
    monkeypatch.setattr(parallel, "visible_gpus", lambda: [])
    monkeypatch.setattr(parallel, "_cores", lambda: [0, 1])
    monkeypatch.setattr(sweeps_screen, "cpu_cores", lambda: 2)
    monkeypatch.setattr(parallel, "ProcessRuns", FakeProcessRuns)
    monkeypatch.setattr("core.training.engine.Run", FakeRun)
    FakeProcessRuns.slots = []
    yield


def details(screen: Any) -> str:
    return str(screen.query_one("#sweep-details", Static).render())


@in_event_loop
async def test_two_at_once_run_together_and_s_stops_both(tmp_path: Path, two_cores: None) -> None:
    profiles = tiny_profiles(tmp_path / "profiles", epochs=2)
    runs_dir = tmp_path / "runs"
    meet = threading.Barrier(2, timeout=TIMEOUT)
    met: list[str] = []

    def hook(run: FakeRun, epoch: int) -> None:
        if epoch == 1:
            meet.wait()  # passes only when both runs train at the same time
            met.append(run.profile.name)
            assert run.wait_for_stop(TIMEOUT)  # held until s

    FakeRun.hook = hook
    app = create_app(profiles, runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("S")
        screen = await sweeps_listed(pilot)
        assert "Runs at once: 1 (+/- to change, up to 2)" in details(screen)
        await pilot.press("plus", "plus", "plus")  # no more than one per core
        assert screen.parallel == 2
        text = details(screen)
        assert "Runs at once: 2" in text and "--parallel 2" in text
        assert "no GPU found: the 2 parallel runs share this machine's 2 CPU cores" in text
        await pilot.press("minus")
        assert screen.parallel == 1 and "no GPU found" not in details(screen)
        await pilot.press("plus", "enter")

        watch = app.screen
        assert isinstance(watch, WatchScreen)
        await wait_for(pilot, lambda: len(met) == 2, TIMEOUT, "both runs past the barrier")
        await wait_for(
            pilot, lambda: "2 running, up to 2 at once" in sweep_line(watch), TIMEOUT, "the line"
        )
        assert [s.cores for s in FakeProcessRuns.slots] == [(0,), (1,)]
        assert app.run_state.label == app.sweep_state.snapshot.run(2).label  # the latest started

        await pilot.press("s")  # every active run stops after its batch, and the sweep
        await wait_for(pilot, lambda: not app.run_active, TIMEOUT, "the stop")
        snap = app.sweep_state.snapshot
        assert snap.status == "stopped"
        assert [(r.status, r.epochs_done) for r in snap.runs] == [("stopped", 1), ("stopped", 1)]
        assert "sweep tiny: stopped, 0 of 2 runs finished" in sweep_line(watch)
    (folder,) = (runs_dir / "sweeps").iterdir()
    data = json.loads((folder / "sweep.json").read_text())
    assert data["status"] == "stopped" and "--parallel 2" in data["command"]
    assert sorted(FakeRun.made) == ["start tiny-lr-0.001", "start tiny-lr-0.002"]


@in_event_loop
async def test_one_at_once_keeps_the_engine_in_the_console(tmp_path: Path, two_cores: None) -> None:
    app = create_app(tiny_profiles(tmp_path / "profiles"), tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("S")
        await sweeps_listed(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.run_active, TIMEOUT, "the sweep")
        assert app.sweep_state.snapshot.status == "completed"
        assert "--parallel" not in app.sweep_state.command
    assert FakeProcessRuns.slots == []  # no process runs: the thread worker's engine
