"""Following a run from its files (core/storage/follow.py) and stopping it from another process
(core/storage/control.py), without training: a recorder fed by hand, a child holding a lock."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import REPO

from core import events as ev
from core.errors import RunDirError
from core.profiles import load_profile
from core.storage.control import (
    exit_code_for,
    lock_holder,
    request_stop,
    wait_stopped,
)
from core.storage.follow import RunFollower
from core.storage.recorder import RunRecorder

ENV = {"backend": "tensorflow", "devices": ["CPU:0"], "gpu": False, "python": "3.11"}


def started(run_dir: Path, initial_epoch: int = 0) -> ev.RunStarted:
    return ev.RunStarted(str(run_dir), "smoke", 3, initial_epoch, 10, 50, 9, 8, "tensorflow",
                         ["CPU:0"], 500, 100, 100)  # fmt: skip


def ended(epoch: int) -> ev.EpochEnded:
    return ev.EpochEnded(epoch, 1.5, 2.0, 0.1, 2.1, 0.1, 0.001)


def progress(epoch: int, step: int, steps: int = 10) -> ev.BatchProgress:
    return ev.BatchProgress(epoch, step, steps, 2.0, 0.1, step * 0.1, (steps - step) * 0.1)


def finished(status: str = "completed", by: str = "") -> ev.RunFinished:
    return ev.RunFinished(status, "", None, None, 3.0, stopped_by=by)


@pytest.fixture
def recorder(tmp_path: Path):
    profile = load_profile(REPO / "profiles" / "smoke.toml", overrides=["train.epochs=3"])
    rec = RunRecorder.create(tmp_path / "runs", profile)
    rec(ev.RunOpened(str(rec.run_dir), "smoke", False, ENV, "synthetic"))
    yield rec
    rec.close()


def types(events: list[ev.Event]) -> list[str]:
    return [e.type for e in events]


def test_a_follower_returns_each_event_once_and_waits_for_a_torn_line(recorder):
    follower = RunFollower(recorder.run_dir)
    assert types(follower.poll()) == ["run_opened"]
    assert follower.poll() == []
    recorder(started(recorder.run_dir))
    log = recorder.run_dir / "events.jsonl"
    epoch = ended(1)
    whole = json.dumps(epoch.to_dict()) + "\n"
    with open(log, "a") as fh:  # a writer caught mid-line
        fh.write(whole[:20])
    assert types(follower.poll()) == ["run_started"]
    with open(log, "a") as fh:
        fh.write(whole[20:])
    (new,) = follower.poll()
    assert new == epoch
    assert follower.exit_code() is None and follower.is_live()


def test_progress_is_written_at_a_bounded_rate_and_read_once(recorder):
    follower = RunFollower(recorder.run_dir)
    recorder(started(recorder.run_dir))
    follower.poll()
    recorder(progress(1, 3))
    recorder(progress(1, 4))  # within the interval: not written
    (seen,) = follower.poll()
    assert isinstance(seen, ev.BatchProgress) and (seen.epoch, seen.step) == (1, 3)
    assert follower.poll() == []  # unchanged file: nothing new
    recorder(progress(1, 10))  # the epoch's end is always written
    assert [(p.epoch, p.step) for p in follower.poll()] == [(1, 10)]
    assert "batch_progress" not in (recorder.run_dir / "events.jsonl").read_text()


def test_progress_of_a_finished_epoch_or_an_ended_run_is_not_returned(recorder):
    recorder(started(recorder.run_dir))
    recorder(progress(1, 10))
    recorder(ended(1))
    follower = RunFollower(recorder.run_dir)
    assert types(follower.poll()) == ["run_opened", "run_started", "epoch_ended"]
    recorder(progress(2, 10))
    recorder(finished())
    assert types(follower.poll()) == ["run_finished"]


def test_exit_codes_follow_the_latest_session(recorder):
    run_dir = recorder.run_dir
    follower = RunFollower(run_dir)
    recorder(started(run_dir))
    recorder(ended(1))
    recorder(finished("stopped", "SIGTERM"))
    recorder.close()
    assert follower.exit_code() == 143
    assert types(follower.poll())[-1] == "run_finished"  # exit_code's reading is not lost
    resumed = RunRecorder.reopen(run_dir)
    resumed(ev.RunOpened(str(run_dir), "smoke", True, ENV, "synthetic"))
    follower.poll()
    assert follower.exit_code() is None  # the earlier session's ending no longer counts
    resumed.close()  # killed: no RunFinished
    assert follower.exit_code() == 1


@pytest.mark.parametrize(
    ("status", "by", "code"),
    [
        ("completed", "", 0),
        ("stopped", "user", 130),
        ("stopped", "SIGUSR1", 130),
        ("stopped", "SIGHUP", 129),
        ("stopped", "SIGTERM", 143),
        ("failed", "", 1),
        ("diverged", "", 1),
    ],
)
def test_exit_code_for_each_ending(status, by, code):
    assert exit_code_for(status, by) == code


#: A child that holds a directory's lock, as a training process does, and on SIGUSR1 saves
#: "stopped" and lets go (outside the handler, as the fronts do).
HOLDER = textwrap.dedent(
    """
    import json, signal, sys, threading
    from pathlib import Path
    from core.storage.rundir import RunLock, atomic_write
    d = Path(sys.argv[1])
    lock = RunLock(d)
    lock.acquire()
    atomic_write(d / "report.json", json.dumps({"status": "running"}))
    asked = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *a: asked.set())
    print("ready", flush=True)
    asked.wait(120)
    atomic_write(d / "report.json", json.dumps({"status": "stopped"}))
    lock.release()
    """
)


@pytest.fixture
def holder(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    yield run_dir, child
    if child.poll() is None:
        child.kill()
    child.wait(30)


def test_the_lock_holder_comes_from_the_kernel_not_the_file(holder):
    run_dir, child = holder
    assert lock_holder(run_dir) == child.pid
    (run_dir / ".lock").write_text(str(os.getpid()))  # a wrong pid in the file
    assert lock_holder(run_dir) == child.pid


def test_request_stop_signals_the_holder_and_wait_stopped_sees_it_saved(holder):
    run_dir, child = holder
    assert request_stop(run_dir) == child.pid
    assert wait_stopped(run_dir, timeout=60) == "stopped"
    assert child.wait(30) == 0
    assert lock_holder(run_dir) is None


def test_a_run_that_is_not_live_cannot_be_stopped(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").write_text(str(os.getpid()))  # a killed run's pid, now someone else's
    (run_dir / "report.json").write_text(json.dumps({"status": "running"}))
    assert lock_holder(run_dir) is None
    with pytest.raises(RunDirError, match="not live"):
        request_stop(run_dir)
    assert wait_stopped(run_dir, timeout=1) == "interrupted"


# -- what a watcher (and the training process) shows of time ------------------------------------


def test_the_epoch_eta_waits_for_measured_steps():
    from core.format import epoch_eta_text
    from core.training.callbacks import measured_eta

    first = (1, 100.0)  # the first step ended at t=100 s (after compiling)
    assert math.isnan(measured_eta(first, 1, 50, 100.0))  # nothing timed after it
    assert math.isnan(measured_eta(first, 3, 50, 100.2))  # 2 steps in 0.2 s: too few
    assert measured_eta(first, 4, 50, 100.3) == pytest.approx(4.6)  # 3 steps: 0.1 s each
    assert measured_eta(first, 2, 50, 101.5) == pytest.approx(72.0)  # 1 step, 1.5 s
    assert measured_eta(first, 50, 50, 105.0) == 0.0
    assert epoch_eta_text(ev.BatchProgress(1, 1, 50, 2.0, 0.1, 2.4, math.nan)) == ""
    assert epoch_eta_text(ev.BatchProgress(1, 4, 50, 2.0, 0.1, 2.7, 4.6)) == "ETA 0:05"
    assert epoch_eta_text(ev.BatchProgress(1, 50, 50, 2.0, 0.1, 7.0, 0.0)) == ""


def test_the_run_eta_comes_from_measured_epochs():
    from core.format import duration, run_eta, run_eta_text

    assert duration(math.nan) == "-"
    assert run_eta([], 5) is None and run_eta_text([], 5) == ""
    # epoch 1 of 5 under way, its own ETA unknown yet: nothing to say
    assert run_eta([], 5, ev.BatchProgress(1, 1, 10, 2.0, 0.1, 9.0, math.nan)) is None
    # its projection (4 s in, 6 s left: 10 s an epoch) stands in for a finished epoch
    assert run_eta([], 5, ev.BatchProgress(1, 4, 10, 2.0, 0.1, 4.0, 6.0)) == 46.0
    assert run_eta([30.0], 5) == 120.0  # one epoch (it compiled): the only measure there is
    assert run_eta([30.0, 10.0, 12.0], 5) == 22.0  # median 11 s without the first, x 2 left
    # epoch 4 under way, 5 s left in it, then epoch 5 at 11 s
    assert run_eta([30.0, 10.0, 12.0], 5, ev.BatchProgress(4, 5, 10, 2.0, 0.1, 6.0, 5.0)) == 16
    assert run_eta_text([30.0, 10.0, 12.0], 5) == "run ETA 0:22"


def test_the_profiler_says_which_batches_it_measured():
    from core.format import profiler_line
    from core.training.profiler import InputProfiler

    profile = load_profile(REPO / "profiles" / "smoke.toml")
    early = InputProfiler(500, 520)
    for batch in range(1, 13):
        early.record(batch, 0.01, 0.1)
    summary = early.summary(profile)
    assert summary is not None and summary.window == [3, 12]
    assert summary.planned_window == [500, 520]
    assert "(batches 3-12; the run ended before its window 500-520)" in profiler_line(summary)
    inside = InputProfiler(3, 8)
    for batch in range(1, 6):
        inside.record(batch, 0.01, 0.1)
    summary = inside.summary(profile)
    assert summary is not None and summary.window == [3, 8] and not summary.complete
    assert "(batches 3-5; the run ended inside its window 3-8)" in profiler_line(summary)
