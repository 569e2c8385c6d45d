"""The headless command as a user runs it: a subprocess, its output, its exit codes, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.storage.rundir import load_run, read_history

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "profiles" / "smoke.toml")
SMALL = ["--set", "data.synthetic_train=300", "--set", "data.synthetic_test=60"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli.main", *args]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    return e


def run_cli(*args: str, timeout: int = 300, extra_env: dict[str, str] | None = None):
    """``cifar-tui ARGS`` as a subprocess from the repository root, output captured."""
    return subprocess.run(
        cli(*args),
        capture_output=True,
        text=True,
        env=env() | (extra_env or {}),
        timeout=timeout,
        cwd=ROOT,
    )


def only_run(runs: Path) -> Path:
    (run_dir,) = list(runs.iterdir())
    return run_dir


@pytest.mark.slow
def test_run_completes_with_plain_output_when_piped(tmp_path):
    runs = tmp_path / "runs"
    proc = run_cli("--run", SMOKE, "--runs-dir", str(runs), *SMALL, "--set", "train.epochs=2")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out and "\r" not in out, "no control characters in piped output"
    lines = out.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/2", "2/2"]
    assert not any("step" in line and "/" in line and "epoch" not in line for line in lines)
    assert lines[-1].startswith("run completed.")
    assert "Traceback" not in proc.stderr
    run_dir = only_run(runs)
    assert json.loads((run_dir / "report.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_diverged_run_exits_1(tmp_path):
    proc = run_cli(
        "--run",
        SMOKE,
        "--runs-dir",
        str(tmp_path),
        "--set",
        "train.learning_rate=10.0",
        "--set",
        "train.optimizer=sgd",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "run diverged" in proc.stdout
    assert "Traceback" not in proc.stderr
    # The engine's side of a NaN loss, on the same run.
    record = load_run(only_run(tmp_path))
    assert record.status == record.report["status"] == "diverged"
    message = record.report["error"]["message"]
    # Here validation sees the blow-up first (inf after epoch 1); test_engine has the per-batch
    # check.
    assert "loss became" in message and "epoch" in message
    assert "train.learning_rate" in message


def test_bad_profile_exits_2_and_writes_nothing(tmp_path):
    runs = tmp_path / "runs"
    proc = run_cli(
        "--run", SMOKE, "--runs-dir", str(runs), "--set", "train.batch_size=0", timeout=60
    )
    assert proc.returncode == 2
    assert "train.batch_size" in proc.stderr and "Traceback" not in proc.stderr
    assert not runs.exists()


def test_unwritable_runs_dir_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("--run", SMOKE, "--runs-dir", str(blocker / "runs"), timeout=120)
    assert proc.returncode == 2
    assert "cannot write runs" in proc.stderr and "Traceback" not in proc.stderr


MINI = ROOT.parent / "shared" / "data" / "cifar10-mini"


@pytest.mark.slow
@pytest.mark.skipif(not MINI.is_dir(), reason=f"no CIFAR-10 sample at {MINI}")
def test_shipped_profile_runs_offline_from_the_local_copy(tmp_path):
    """``cifar-tui --run profiles/vgg_small.toml`` keeps ``source = "cifar10"`` and, with no
    network, reads the copy that $CIFAR_TUI_CIFAR10 names."""
    runs = tmp_path / "runs"
    quick = ["train.epochs=1", "data.limit=300", "data.validation_size=100"]
    args = [a for item in quick for a in ("--set", item)]
    proc = run_cli(
        "--run",
        str(ROOT / "profiles" / "vgg_small.toml"),
        "--runs-dir",
        str(runs),
        *args,
        extra_env={"CIFAR_TUI_CIFAR10": str(MINI), "KERAS_HOME": str(tmp_path / "no-keras")},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((only_run(runs) / "report.json").read_text())
    assert report["status"] == "completed"
    assert report["profile"]["data"]["source"] == "cifar10"
    assert not (tmp_path / "no-keras" / "datasets").exists()  # nothing was downloaded


def _start(runs: Path, epochs: int) -> subprocess.Popen:
    return subprocess.Popen(
        cli("--run", SMOKE, "--runs-dir", str(runs), *SMALL, "--set", f"train.epochs={epochs}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
    )


def _wait_for_line(proc: subprocess.Popen, prefix: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return
    proc.kill()
    pytest.fail(f"never printed {prefix!r}")


@pytest.mark.slow
def test_ctrl_c_stops_with_status_stopped_and_exit_130(tmp_path):
    """Many epochs planned, so the signal lands long before the last one, however fast the
    machine: the run stops after its current batch."""
    runs = tmp_path / "runs"
    proc = _start(runs, epochs=50)
    _wait_for_line(proc, "epoch 1/50")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    record = load_run(only_run(runs))
    assert record.status == "stopped"
    assert 1 <= len(record.epochs) < 50


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_finishes_every_epoch_once(tmp_path):
    """Killed after epoch 2 of 6 (four epochs and the test evaluation left: the kill lands
    first even on a fast GPU), then resumed: epochs 1-6 each once."""
    runs = tmp_path / "runs"
    proc = _start(runs, epochs=6)
    _wait_for_line(proc, "epoch 2/6")
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait(timeout=30)
    run_dir = only_run(runs)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "running"
    record = load_run(run_dir)
    assert record.status == "interrupted"
    finished = [row["epoch"] for row in read_history(run_dir / "history.csv")]
    assert finished[:2] == [1, 2]

    proc = run_cli("--resume", str(run_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "resuming after epoch" in proc.stdout
    history = read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "completed"
    assert [e["epoch"] for e in report["epochs"]] == [1, 2, 3, 4, 5, 6]
    assert report["test"]["accuracy"] is not None


def test_resume_of_a_completed_run_is_a_usage_error(tmp_path):
    (tmp_path / "profile.toml").write_text((ROOT / "profiles" / "smoke.toml").read_text())
    (tmp_path / "report.json").write_text(json.dumps({"status": "completed", "profile": {}}))
    proc = run_cli("--resume", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert "already completed" in proc.stderr and "Traceback" not in proc.stderr


def test_plain_mode_choice(monkeypatch):
    import argparse
    import io

    from tui.cli.driver import use_plain

    class Tty(io.StringIO):
        def isatty(self):
            return True

    for var in ("NO_COLOR", "CI"):
        monkeypatch.delenv(var, raising=False)
    assert not use_plain(argparse.Namespace(plain=False), Tty())
    assert use_plain(argparse.Namespace(plain=True), Tty())
    assert use_plain(argparse.Namespace(plain=False), io.StringIO())  # piped
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_plain(argparse.Namespace(plain=False), Tty())
