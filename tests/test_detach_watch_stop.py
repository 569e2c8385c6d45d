"""A run independent of the terminal that started it: ``--detach``, ``--watch``, ``--stop``.

Every wait here is on a file, a line or a process, with a generous deadline: never a sleep that
assumes a speed. Detached children are killed at teardown if a test left one running.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import SMOKE, read_line, run_cli, start_cli

from core.storage.control import lock_holder
from core.storage.rundir import is_live, load_run, read_history

TINY = ["--set", "data.synthetic_train=300", "--set", "data.synthetic_test=60"]
STARTED = re.compile(r"^started (\S+) \(pid (\d+)\), detached from this terminal$", re.M)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def status(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "report.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return "none"


def events(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if f'"type": "{kind}"' in line]


@pytest.fixture
def detached(tmp_path: Path) -> Iterator[Callable[..., tuple[Path, int, float]]]:
    """``detached(*args)``: ``cifar-tui ARGS --detach``; returns (directory, pid, the time the
    command returned). Whatever is still training at teardown is killed."""
    started: list[tuple[Path, int]] = []

    def start(*args: str) -> tuple[Path, int, float]:
        proc = run_cli(*args, "--runs-dir", str(tmp_path / "runs"), "--detach", timeout=240)
        returned = time.time()
        assert proc.returncode == 0, proc.stdout + proc.stderr
        found = STARTED.search(proc.stdout)
        assert found, proc.stdout
        started.append((Path(found.group(1)), int(found.group(2))))
        return Path(found.group(1)), int(found.group(2)), returned

    yield start
    for run_dir, pid in started:
        if lock_holder(run_dir) == pid:  # still our child, still training
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_detach_returns_before_training_and_the_run_completes_without_its_parent(detached):
    run_dir, pid, returned = detached("--run", str(SMOKE), *TINY, "--set", "train.epochs=2")
    assert lock_holder(run_dir) in (pid, None)  # the child's lock (None: already done)
    # The parent is gone (run_cli waited for it); the child, in a session of its own, goes on.
    wait_until(lambda: not is_live(run_dir), "the detached run to end", timeout=300)
    assert status(run_dir) == "completed"
    assert [row["epoch"] for row in read_history(run_dir / "history.csv")] == [1, 2]
    first_epoch = events(run_dir, "epoch_ended")[0]["time"]
    assert returned < first_epoch, "the command returned before the first epoch ended"
    log = (run_dir / "output.log").read_text()
    assert "run completed." in log and "epoch 2/2" in log
    assert not list(run_dir.parent.glob(".detached-*")), "the early log moved into the run"


def test_detach_refuses_a_bad_profile_before_starting_anything(tmp_path, cli):
    bad = tmp_path / "bad.toml"
    bad.write_text(SMOKE.read_text().replace('optimizer = "adam"', 'optimizer = "adamw"'))
    proc = cli("--run", str(bad), "--runs-dir", str(tmp_path / "runs"), "--detach", timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "optimizer" in proc.stderr and "started" not in proc.stdout
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_watch_shows_epochs_as_they_end_and_ends_with_the_runs_exit_code(tmp_path):
    """The watcher prints epochs 1 and 2 while the run trains (the run is signalled only then),
    and exits with the code SIGTERM gave the run."""
    runs = tmp_path / "runs"
    run = start_cli("--run", str(SMOKE), "--runs-dir", str(runs), "--plain", *TINY,
                    "--set", "train.epochs=60")  # fmt: skip
    started = [run]
    try:
        wait_until(lambda: runs.is_dir() and any(runs.iterdir()), "the run directory")
        (run_dir,) = list(runs.iterdir())
        wait_until(lambda: (run_dir / "events.jsonl").exists(), "the event log")
        watcher = start_cli("--watch", str(run_dir), "--plain")
        started.append(watcher)
        seen: list[str] = []
        read_line(watcher, "epoch 2/60", seen)
        assert any(line.startswith("epoch 1/60") for line in seen)
        assert run.poll() is None  # still training: these rows came as it went
        run.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=180)
        assert watcher.returncode == 143, "".join(seen) + out + err
        assert "run stopped: stopped by SIGTERM" in out
        assert run.wait(timeout=180) == 143
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.slow
def test_stop_a_detached_run_after_a_watcher_detached_from_it(detached, cli):
    run_dir, pid, _ = detached("--run", str(SMOKE), *TINY, "--set", "train.epochs=300")
    wait_until(lambda: read_history(run_dir / "history.csv"), "a first epoch")
    watcher = start_cli("--watch", str(run_dir), "--plain")
    seen: list[str] = []
    read_line(watcher, "epoch 1/300", seen)  # the finished epochs, then the live ones
    watcher.send_signal(signal.SIGINT)  # Ctrl+C only detaches the watcher
    out, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 0 and "the run goes on" in out
    assert lock_holder(run_dir) == pid

    proc = cli("--stop", str(run_dir), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"asked process {pid} to stop" in proc.stdout and ": stopped; resume" in proc.stdout
    assert status(run_dir) == "stopped" and not is_live(run_dir)
    assert events(run_dir, "run_finished")[-1]["stopped_by"] == "SIGUSR1"

    again = cli("--stop", str(run_dir), timeout=60)  # nothing trains it now
    assert again.returncode == 2 and "not live" in again.stderr
    ended = cli("--watch", str(run_dir), "--plain", timeout=60)  # shown as it ended
    assert ended.returncode == 130, ended.stdout + ended.stderr
    assert "stopped, not live" in ended.stdout and "epoch 1/300" in ended.stdout
    assert len(load_run(run_dir).epochs) >= 1
