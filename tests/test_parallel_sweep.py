"""``--sweep FILE --parallel N``: up to N runs at once, each in a process of its own.

The loop's side (core/sweeps/loop.py, ``parallel``) runs with the stand-in engine (FakeRun), on
threads: runs that must meet at a barrier can only pass it together, so overlap is proven, not
timed. The process side (core/sweeps/parallel.py) runs the real command on the smoke-lr sweep:
its runs overlap, a Ctrl+C stops every active run and the same command resumes the sweep.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeRun
from helpers import REPO, cli_command, cli_env

from core.errors import EXIT_OK, EXIT_STOPPED
from core.sweeps import parallel
from core.sweeps.loop import SweepHooks, SweepLoop
from core.sweeps.parallel import Slot, plan_slots
from core.sweeps.spec import load_sweep
from tui.cli.sweep import SweepDriver

SMOKE = REPO / "profiles" / "smoke.toml"
SMOKE_LR = REPO / "profiles" / "sweeps" / "smoke-lr.toml"
TINY = ("data.synthetic_train=300", "data.synthetic_test=60", "profiler.trace=false")


#: FakeRun reset around each test, and no models to free between its runs (conftest.py).
pytestmark = pytest.mark.usefixtures("fake_run")


def fake_sweep(tmp_path: Path, rates: str = "0.001, 0.002, 0.003") -> Path:
    path = tmp_path / "fake.toml"
    path.write_text(
        f'name = "fake"\nbase = "{SMOKE}"\n\n[grid]\n"train.learning_rate" = [{rates}]\n'
    )
    return path


def driver(path: Path, runs: Path, width: int = 2) -> SweepDriver:
    import io

    return SweepDriver(
        load_sweep(path, ["train.epochs=2"]),
        runs,
        plain=True,
        out=io.StringIO(),
        command="cifar-tui --sweep fake.toml --parallel 2",
        make_run=lambda profile: FakeRun(profile, runs),
        resume_run=FakeRun.resume,
        parallel=width,
    )


def sweep_json(runs: Path) -> dict[str, Any]:
    (folder,) = (runs / "sweeps").iterdir()
    return json.loads((folder / "sweep.json").read_text())


# --- the slots ---------------------------------------------------------------------------------


def test_gpus_are_split_between_the_slots() -> None:
    slots, warning = plan_slots(2, ["0", "1", "2", "3"])
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0,1", "2,3"] and warning == ""
    slots, warning = plan_slots(3, ["0", "1"])
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "1", "0"]
    assert slots[0].env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert "3 parallel runs on 2 GPUs: runs share a GPU" in warning


def test_without_a_gpu_each_slot_gets_a_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_cores", lambda: [0, 1, 2, 3])
    slots, warning = plan_slots(2, [])
    assert [s.cores for s in slots] == [(0, 1), (2, 3)]
    assert slots[1].env["OMP_NUM_THREADS"] == "2" and slots[1].label == "CPU cores 2,3"
    assert "no GPU found: the 2 parallel runs share this machine's 4 CPU cores (2 each)" in warning


def test_a_pool_hands_each_slot_to_one_run_at_a_time() -> None:
    pool = parallel.SlotPool([Slot(0), Slot(1)])
    first, second = pool.take(), pool.take()
    assert {first.number, second.number} == {0, 1}
    pool.give(second)
    assert pool.take() is second


# --- the loop with runs at once (stand-in engine, threads) ------------------------------------


def test_runs_overlap_and_all_complete(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    meet = threading.Barrier(2, timeout=30)
    seen: list[tuple[str, int]] = []

    def hook(run: FakeRun, epoch: int) -> None:
        seen.append((run.profile.name, epoch))
        if epoch == 1 and run.profile.train.learning_rate in (0.001, 0.002):
            meet.wait()  # passes only when runs 1 and 2 train at the same time

    FakeRun.hook = hook
    front = driver(fake_sweep(tmp_path), runs)
    assert front.execute() == EXIT_OK
    out = front.out.getvalue()  # type: ignore[attr-defined]
    print(out)
    assert [r["status"] for r in sweep_json(runs)["runs"]] == ["completed"] * 3
    assert "[1/3] fake lr=0.001: epoch 1/2" in out and "[3/3] fake lr=0.003: completed" in out
    assert "running, up to 2 at once" in out
    assert sorted(seen) == sorted(
        (f"smoke-lr-{r}", e) for r in (0.001, 0.002, 0.003) for e in (1, 2)
    )


def test_a_stop_reaches_every_active_run_and_the_same_command_resumes(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    path = fake_sweep(tmp_path)
    meet = threading.Barrier(2, timeout=30)
    front = driver(path, runs)

    def hook(run: FakeRun, epoch: int) -> None:
        if epoch == 1:
            meet.wait()  # both runs are between their epochs: stop the sweep now
            if run.profile.train.learning_rate == 0.001:
                front._on_sigint(signal.SIGINT)
            assert run.wait_for_stop(30)

    FakeRun.hook = hook
    assert front.execute() == EXIT_STOPPED
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["stopped", "stopped", "pending"]
    assert data["status"] == "stopped"
    FakeRun.reset()
    again = driver(path, runs)
    assert again.execute() == EXIT_OK
    assert [r["status"] for r in sweep_json(runs)["runs"]] == ["completed"] * 3
    assert sorted(FakeRun.made)[:2] == sorted(f"resume {Path(r['run_dir']).name}"
                                               for r in data["runs"][:2])  # fmt: skip


class _FirstTwoEnded(SweepHooks):
    """Sets ``done`` once runs 1 and 2 are reaped (their entries finished in the loop)."""

    def __init__(self) -> None:
        self.ended = 0
        self.done = threading.Event()

    def run_ended(self, entry: Any, finished: Any, error: Any) -> None:
        if entry.run.profile.train.learning_rate in (0.001, 0.002):
            self.ended += 1
            if self.ended == 2:
                self.done.set()


def test_the_eta_shares_the_epochs_left_between_the_lanes(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    etas = []
    hooks = _FirstTwoEnded()

    def hook(run: FakeRun, epoch: int) -> None:
        if run.profile.train.learning_rate == 0.003:
            # Run 3 starts when one lane frees; the other of runs 1 and 2 may still be going.
            # Wait until both are reaped, so one run (one lane) is left by construction.
            assert hooks.done.wait(30)
            etas.append(loop.eta())

    FakeRun.hook = hook
    loop = SweepLoop(
        load_sweep(fake_sweep(tmp_path), ["train.epochs=2"]),
        runs,
        hooks,
        make_run=lambda profile: FakeRun(profile, runs),
        resume_run=FakeRun.resume,
        parallel=2,
    )
    assert loop.run() == "completed"
    # run 3 alone is left: one lane, its epochs at 2 s each
    assert etas[0].seconds == etas[0].epochs_left * 2.0


# --- the real command: runs in processes ------------------------------------------------------


def sweep_cli(runs: Path, *extra: str) -> list[str]:
    args = ["--sweep", str(SMOKE_LR), "--runs-dir", str(runs), "--parallel", "2", "--plain"]
    for item in (*TINY, *extra):
        args += ["--set", item]
    return cli_command(*args)


def events_of(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_parallel_smoke_lr_stop_then_resume(tmp_path: Path, private_cache: Path) -> None:
    runs = tmp_path / "runs"
    argv = sweep_cli(runs, "train.epochs=3")
    env = cli_env({"KERAS_BACKEND": "jax"})
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    seen, training = [], set()
    for line in proc.stdout:
        seen.append(line)
        if ": epoch 1/3" in line:
            training.add(line.split(":")[0])
        if len(training) == 2:  # two runs train at once: stop the sweep
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=300)
    out = "".join(seen) + out
    print(out, err)
    assert proc.returncode == EXIT_STOPPED, out + err
    assert "warning: no GPU found: the 2 parallel runs share this machine's" in err
    first = sweep_json(runs)
    assert first["command"].endswith("--parallel 2 --plain")
    assert "stopped" in [r["status"] for r in first["runs"]]
    starts = [r["started"] for r in first["runs"][:2]]
    assert all(starts), first  # run 2 started with run 1, before it ended
    # Both runs trained at once: each opened before the other's session ended.
    opened = {r["label"]: events_of(Path(r["run_dir"]))[0]["time"] for r in first["runs"][:2]}
    ended = {
        r["label"]: [
            e["time"] for e in events_of(Path(r["run_dir"])) if e["type"] == "run_finished"
        ]
        for r in first["runs"][:2]
    }
    assert max(opened.values()) < min(t[0] for t in ended.values())

    again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    print(again.stdout, again.stderr)
    assert again.returncode == EXIT_OK, again.stdout + again.stderr
    final = sweep_json(runs)
    assert [r["status"] for r in final["runs"]] == ["completed"] * 3
    for run in final["runs"]:
        history = (Path(run["run_dir"]) / "history.csv").read_text().splitlines()
        assert [row.split(",")[0] for row in history[1:]] == ["1", "2", "3"]
        assert (Path(run["run_dir"]) / "output.log").is_file()
    assert not list(runs.glob(".parallel-*"))  # no profile, note or early log left behind
    assert "sweep smoke-lr: completed" in again.stdout


@pytest.mark.slow
def test_parallel_sweep_process_imports_no_framework(tmp_path: Path) -> None:
    """The sweep's own process only starts and follows its runs: no TensorFlow, no JAX."""
    code = (
        "import sys; from tui.cli.main import main; code = main(sys.argv[1:]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'jax')))"
    )
    args = sweep_cli(tmp_path / "runs", "train.epochs=1")[3:]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=cli_env({"KERAS_BACKEND": "jax"}),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
