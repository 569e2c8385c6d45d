"""``--sweep FILE --slurm``: the runs as one job array through submitit (core/sweeps/slurm.py).

The array runs on submitit's local executor (``executor = "local"`` in the sweep's [slurm]
table): the same pickled jobs, signals and requeues as on a cluster, on this machine. A
preemption is simulated as Slurm does it, by a signal to the job's training process (found
through its run's lock): the run stops after its current batch, saves, is requeued, and the
requeued job resumes it to completion with no epoch lost or repeated.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, SMOKE, cli_command, cli_env, run_cli

from core.errors import EXIT_OK, EXIT_STOPPED, EXIT_USAGE, ProfileError
from core.storage import rundir
from core.storage.control import lock_holder
from core.sweeps.slurm import INSTALL, PREEMPTED, TIME_LIMIT, SlurmSettings, read_settings
from core.sweeps.spec import load_sweep

TINY = ("data.synthetic_train=300", "data.synthetic_test=60", "profiler.trace=false")


def sweep_file(tmp_path: Path, slurm: str = 'executor = "local"\n', rates: str = "0.001") -> Path:
    path = tmp_path / "array.toml"
    path.write_text(
        f'name = "array"\nbase = "{SMOKE}"\n\n[grid]\n"train.learning_rate" = [{rates}]\n\n'
        f"[slurm]\n{slurm}"
    )
    return path


# --- settings ------------------------------------------------------------------------------------


def test_the_slurm_table_and_the_flags_over_it(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, 'partition = "gpu"\ngpus_per_run = 2\ntime_limit = 120\n')
    assert read_settings(path) == SlurmSettings(partition="gpu", gpus_per_run=2, time_limit=120)
    flags = {"partition": None, "gpus_per_run": 4, "array_parallelism": 3}
    settings = read_settings(path, flags)
    assert (settings.partition, settings.gpus_per_run, settings.array_parallelism) == ("gpu", 4, 3)
    assert load_sweep(path).name == "array"  # the table belongs to the sweep file


@pytest.mark.parametrize(
    ("table", "key", "line", "message"),
    [
        (
            "partiton = 1\n",
            "slurm.partiton",
            8,
            'unknown key in [slurm] (did you mean "partition"?)',
        ),
        ("time_limit = 0\n", "slurm.time_limit", 8, "must be an integer >= 1, got 0"),
        ('executor = "cloud"\n', "slurm.executor", 8, 'must be "slurm" or "local", got "cloud"'),
        ("gpus_per_run = true\n", "slurm.gpus_per_run", 8, "must be an integer >= 0, got True"),
    ],
)
def test_a_broken_slurm_table_is_a_located_error(
    tmp_path: Path, table: str, key: str, line: int, message: str
) -> None:
    path = sweep_file(tmp_path, table)
    with pytest.raises(ProfileError) as caught:
        load_sweep(path)  # checked with the rest of the sweep, --slurm or not
    assert (caught.value.key, caught.value.line) == (key, line)
    assert caught.value.message.startswith(message)
    assert str(caught.value).startswith(f"{path}:{line}: {key}: ")


# --- the command line ----------------------------------------------------------------------------


def test_without_submitit_slurm_says_how_to_install_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['submitit'] = None; from tui.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    args = ["--sweep", str(sweep_file(tmp_path)), "--slurm", "--runs-dir", str(tmp_path / "r")]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_USAGE, proc.stdout + proc.stderr
    assert proc.stderr == f"cifar-tui: error: {INSTALL}\n"
    assert 'pip install -e ".[slurm]"' in proc.stderr
    assert not (tmp_path / "r" / "sweeps").exists()


def test_the_core_does_not_import_submitit() -> None:
    code = (
        "import sys, core.sweeps.slurm, core.sweeps.loop, tui.cli.sweep; "
        "print('submitit' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert proc.stdout.strip() == "False", proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slurm"], "--slurm goes with --sweep"),
        (["--sweep", "s.toml", "--partition", "gpu"], "--partition goes with --slurm"),
        (["--sweep", "s.toml", "--slurm", "--parallel", "2"], "not with --parallel"),
    ],
)
def test_slurm_flags_go_with_slurm(args: list[str], message: str) -> None:
    proc = run_cli(*args, timeout=60)
    assert proc.returncode == EXIT_USAGE and message in proc.stderr


# --- the array on submitit's local executor ------------------------------------------------------


def start_array(path: Path, runs: Path, epochs: int) -> subprocess.Popen[str]:
    args = ["--sweep", str(path), "--slurm", "--runs-dir", str(runs), "--plain"]
    for item in (*TINY, f"train.epochs={epochs}"):
        args += ["--set", item]
    return subprocess.Popen(
        cli_command(*args),
        cwd=REPO,
        env=cli_env({"KERAS_BACKEND": "jax"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], fragment: str, seen: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if fragment in line:
            return
    pytest.fail(f"never printed {fragment!r}:\n{''.join(seen)}")


def the_run(runs: Path) -> Path:
    (folder,) = (runs / "sweeps").iterdir()
    data = json.loads((folder / "sweep.json").read_text())
    return Path(data["runs"][0]["run_dir"])


def sessions(run_dir: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return [e for e in events if e["type"] in ("run_opened", "epoch_ended", "run_finished")]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGUSR2, signal.SIGTERM], ids=["USR2", "TERM"])
def test_a_preempted_job_is_requeued_and_resumes_to_completion(
    signum: int, tmp_path: Path, private_cache: Path
) -> None:
    """SIGUSR2 (submitit's signal before the time limit) or SIGTERM (Slurm's preemption) to the
    job's training process: stop, save, requeue, resume, complete; epochs 1, 2, 3 once each."""
    runs = tmp_path / "runs"
    proc = start_array(sweep_file(tmp_path), runs, epochs=3)
    seen: list[str] = []
    wait_for_line(proc, ": epoch 1/3", seen)
    run_dir = the_run(runs)
    pid = lock_holder(run_dir)
    assert pid is not None and pid != proc.pid  # the job's own process trains it
    import os

    os.kill(pid, signum)
    out, err = proc.communicate(timeout=600)
    print("".join(seen) + out, err)
    assert proc.returncode == EXIT_OK, "".join(seen) + out + err
    events = sessions(run_dir)
    kinds = [(e["type"], e.get("status") or e.get("epoch")) for e in events]
    assert kinds.count(("run_opened", None)) == 2, kinds  # the requeued job opened it again
    stops = [e for e in events if e["type"] == "run_finished" and e["status"] == "stopped"]
    # SIGUSR2: the time limit's warning; SIGTERM off Slurm: a preemption
    by = TIME_LIMIT if signum == signal.SIGUSR2 else PREEMPTED
    assert len(stops) == 1 and stops[0]["stopped_by"] == by
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "completed"
    assert [e["epoch"] for e in events if e["type"] == "epoch_ended"] == [1, 2, 3]
    record = rundir.load_run(run_dir)
    assert [row["epoch"] for row in record.epochs] == [1, 2, 3]
    assert "sweep array: completed" in out and "array lr=0.001: completed" in out
    requeued = "preempted, requeued" if signum == signal.SIGTERM else "time limit reached, requeued"
    assert f"[1/1] array lr=0.001: {requeued}" in out


@pytest.mark.slow
def test_ctrl_c_stops_the_array_and_the_same_command_submits_what_is_left(
    tmp_path: Path, private_cache: Path
) -> None:
    runs = tmp_path / "runs"
    path = sweep_file(tmp_path)
    proc = start_array(path, runs, epochs=3)
    seen: list[str] = []
    wait_for_line(proc, ": epoch 1/3", seen)
    proc.send_signal(signal.SIGINT)  # the job's run gets SIGUSR1: stop and save, no requeue
    out, err = proc.communicate(timeout=300)
    print("".join(seen) + out, err)
    assert proc.returncode == EXIT_STOPPED, "".join(seen) + out + err
    run_dir = the_run(runs)
    assert rundir.load_run(run_dir).status == "stopped"
    assert "resume with the same command: cifar-tui --sweep" in out and "--slurm" in out
    again = start_array(path, runs, epochs=3)
    out, err = again.communicate(timeout=600)
    print(out, err)
    assert again.returncode == EXIT_OK, out + err
    assert 'resuming run 1/1 "lr=0.001"' in out
    record = rundir.load_run(run_dir)
    assert record.status == "completed" and [r["epoch"] for r in record.epochs] == [1, 2, 3]
