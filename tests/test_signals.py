"""SIGTERM, SIGHUP and SIGUSR1 stop a headless run as the first Ctrl+C does: after the current
batch, saved, status "stopped", with the exit code a shell expects (tui/cli/driver.py)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from helpers import SMOKE, read_line, run_cli, start_cli

from core.events import from_dict
from core.storage.rundir import load_run, read_history
from tui.cli.driver import StopSignals

TINY = ["--set", "data.synthetic_train=300", "--set", "data.synthetic_test=60"]


def only_run(runs: Path) -> Path:
    (run_dir,) = list(runs.iterdir())
    return run_dir


def finished_event(run_dir: Path) -> dict:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"run_finished"' in line][-1]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143)])
def test_a_signal_stops_and_saves_then_resume_finishes_every_epoch_once(tmp_path, signum, code):
    """Sent once epoch 2 is printed, with 6 planned: the run stops after its current batch,
    saved as stopped, and a resume trains the epochs left, each once. SIGTERM stands for the
    stop signals here (one process each costs a training and a resume): SIGHUP and SIGUSR1 take
    the same handler, whose codes and lines the tests below check for each."""
    runs = tmp_path / "runs"
    args = ["--run", str(SMOKE), "--runs-dir", str(runs), "--plain", *TINY]
    proc = start_cli(*args, "--set", "train.epochs=6")
    seen: list[str] = []
    read_line(proc, "epoch 2/6", seen)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=180)
    name = signal.Signals(signum).name
    assert proc.returncode == code, "".join(seen) + out + err
    assert f"{name}: stopping after the current batch" in err and "Traceback" not in err
    assert f"run stopped: stopped by {name}" in out
    run_dir = only_run(runs)
    record = load_run(run_dir)
    assert record.status == "stopped"
    done = [row["epoch"] for row in read_history(run_dir / "history.csv")]
    assert done == list(range(1, len(done) + 1)) and 2 <= len(done) < 6
    assert finished_event(run_dir)["stopped_by"] == name

    proc = run_cli("--resume", str(run_dir), "--plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [row["epoch"] for row in read_history(run_dir / "history.csv")] == [1, 2, 3, 4, 5, 6]
    # the input-pipeline figure of the first session is kept, and shown, and is the only one
    assert "(measured before the resume)" in proc.stdout
    first = json.loads(json.dumps(record.report["input_pipeline"]))
    report = json.loads((run_dir / "report.json").read_text())
    assert report["input_pipeline"] == first
    assert "window_incomplete" not in {w["code"] for w in report["warnings"]}
    assert report["status"] == "completed" and len(report["epochs"]) == 6


@pytest.mark.slow
def test_timeout_preserve_status_passes_a_stopped_runs_143_through(tmp_path):
    """README: ``timeout --preserve-status -s TERM N cifar-tui --run ...`` exits with the run's
    143, and report.json records the stop as SIGTERM. timeout's timer is a SIGALRM to itself:
    the test sends that SIGALRM once epoch 1 is printed, so timeout's own stop lands mid-run on
    any machine (a duration alone would race the run's start on a slow one, its end on a fast
    one). Its other path, 124 without --preserve-status, is timeout's own."""
    import subprocess

    from helpers import REPO, cli_command, cli_env

    runs = tmp_path / "runs"
    args = ["--run", str(SMOKE), "--runs-dir", str(runs), "--plain", *TINY,
            "--set", "train.epochs=6"]  # fmt: skip
    argv = ["timeout", "--preserve-status", "-s", "TERM", "600", *cli_command(*args)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=cli_env())  # fmt: skip
    seen: list[str] = []
    read_line(proc, "epoch 1/6", seen)
    proc.send_signal(signal.SIGALRM)  # timeout's time is up: it sends the command SIGTERM
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 143, "".join(seen) + out + err
    assert "SIGTERM: stopping after the current batch" in err and "Traceback" not in err
    report = json.loads((only_run(runs) / "report.json").read_text())
    assert report["status"] == "stopped" and 1 <= len(report["epochs"]) < 6
    assert report["stop"]["by"] == "SIGTERM"


def test_the_handler_only_asks_and_a_second_urgent_signal_quits_at_once(monkeypatch, capsys):
    asked: list[str] = []
    quits: list[int] = []
    monkeypatch.setattr(os, "_exit", quits.append)
    signals = StopSignals(asked.append)
    signals.handle(signal.SIGUSR1)  # cifar-tui --stop
    signals.handle(signal.SIGUSR1)  # asked again: nothing more
    assert asked == ["SIGUSR1"] and quits == [] and signals.exit_code == 130
    assert capsys.readouterr().err == ""  # nothing said inside a handler
    signals.announce()
    err = capsys.readouterr().err
    assert err.count("stop requested (cifar-tui --stop or a console's s)") == 2
    signals.handle(signal.SIGHUP)  # the first urgent one: asks (already asked), no quit
    assert quits == []
    signals.handle(signal.SIGTERM)  # the second: quits at once with its own code
    assert quits == [143] and asked == ["SIGUSR1"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_each_stop_signal_stops_by_its_name_with_its_code_and_line(signum, code, capsys):
    """What the end-to-end SIGTERM run above shows of its signal, for SIGHUP too: the stop is
    asked by the signal's name (RunFinished.stopped_by), the exit code is the shell's, and the
    line names it (piped, so SIGHUP's terminal drop has nothing to drop)."""
    asked: list[str] = []
    signals = StopSignals(asked.append)
    signals.handle(signum)
    name = signal.Signals(signum).name
    assert asked == [name] and signals.by == name and signals.exit_code == code
    signals.announce()
    assert f"{name}: stopping after the current batch" in capsys.readouterr().err


def test_installed_handlers_take_real_signals_and_give_the_old_ones_back(capsys):
    asked: list[str] = []
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals(asked.append).installed() as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 30
        while not asked and time.monotonic() < deadline:
            time.sleep(0.01)  # Python runs the handler between bytecodes of this thread
        assert asked == ["SIGTERM"] and signals.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) == before
    assert "SIGTERM: stopping after the current batch and saving" in capsys.readouterr().err


def test_run_finished_reads_back_without_stopped_by():
    """events.jsonl written before stopped_by existed still reads."""
    old = {"type": "run_finished", "status": "stopped", "message": "stopped by the user",
           "test_loss": None, "test_accuracy": None, "total_seconds": 1.0, "time": 0}  # fmt: skip
    assert from_dict(old).stopped_by == ""
