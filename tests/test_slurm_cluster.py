"""``--sweep FILE --slurm`` on a real Slurm cluster: the ``cluster`` lane.

``bash benchmarks/slurm/up.sh`` (as root) brings up a one-node cluster on this machine (Debian's
slurmctld, slurmd and munge; accounting off, as on many small clusters); CI runs it, then this
lane with ``pytest -m cluster``. Without a cluster every test here is skipped, saying so.

Each test submits a tiny sweep (the smoke profile on a few hundred synthetic images, JAX) and
does to its job what a cluster does every day: ``scancel``, ``scontrol requeue`` (what Slurm's
requeue-preemption does), a one-minute time limit, a study's pruner, Ctrl+C of the submitter.
Slurm holds a requeued job about two minutes before it may start again; :func:`release_held`
(``scontrol update JobId=... StartTime=now``) shortens that wait, as an operator could.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import SMOKE, read_line, run_cli, start_cli

from core.errors import EXIT_OK, EXIT_STOPPED

TINY = ("data.synthetic_train=300", "data.synthetic_test=60", "profiler.trace=false")
JAX = {"KERAS_BACKEND": "jax"}  # the jobs inherit the submitter's environment (sbatch)


def cluster_state() -> str:
    """Why the lane cannot run here ("" when a cluster answers and submitit is installed)."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no Slurm cluster here (bash benchmarks/slurm/up.sh brings one up, as root)"
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20
        ).stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo does not answer ({exc}): is slurmctld up? (benchmarks/slurm/up.sh)"
    if not any(s.rstrip("*~#") in ("idle", "mix", "alloc") for s in states):
        return f"no Slurm node takes jobs (sinfo: {' '.join(states) or 'nothing'})"
    try:
        import submitit  # noqa: F401
    except ImportError:
        return 'submitit is not installed (pip install -e ".[slurm]")'
    return ""


NO_CLUSTER = cluster_state()
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(bool(NO_CLUSTER), reason=NO_CLUSTER),
]


def sweep_file(tmp_path: Path, name: str, rates: str = "0.001", slurm: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nbase = "{SMOKE}"\n\n[grid]\n"train.learning_rate" = [{rates}]\n\n'
        f"[slurm]\ngpus_per_run = 0\ntime_limit = 10\n{slurm}"
    )
    return path


def sweep_args(path: Path, runs: Path, epochs: int) -> list[str]:
    args = ["--sweep", str(path), "--slurm", "--runs-dir", str(runs), "--plain"]
    for item in (*TINY, f"train.epochs={epochs}"):
        args += ["--set", item]
    return args


def jobs_of(name: str, states: str = "all") -> list[str]:
    """The Slurm job ids of a sweep's jobs (their name is cifar-tui-NAME), in any state Slurm
    still knows (``states``: squeue's -t)."""
    out = subprocess.run(
        ["squeue", "-h", "-n", f"cifar-tui-{name}", "-t", states, "-o", "%i"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.split()


def job_field(job: str, key: str) -> str:
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=30
    ).stdout
    fields = dict(part.split("=", 1) for part in out.split() if "=" in part)
    return fields.get(key, "")


class release_held:
    """While the block runs, a requeued job of ``name`` held until its BeginTime may start at
    once (``scontrol update JobId=... StartTime=now``); counts the jobs it released."""

    def __init__(self, name: str):
        self.name = name
        self.released = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> release_held:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(2.0):
            for job in jobs_of(self.name, "PD"):
                if job_field(job, "Reason") == "BeginTime":
                    subprocess.run(
                        ["scontrol", "update", f"JobId={job}", "StartTime=now"],
                        capture_output=True,
                        timeout=30,
                    )
                    self.released += 1


def wait_gone(name: str, timeout: float = 120) -> None:
    """Until Slurm runs nothing of the sweep's jobs (a cancelled job completes first)."""
    deadline = time.monotonic() + timeout
    while jobs_of(name, "PD,R,CG,S") and time.monotonic() < deadline:
        time.sleep(1)
    assert not jobs_of(name, "PD,R,CG,S"), subprocess.run(["squeue"], capture_output=True).stdout


def sweep_json(runs: Path) -> dict[str, Any]:
    (folder,) = (runs / "sweeps").iterdir()
    return json.loads((folder / "sweep.json").read_text())


def events_of(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    kinds = ("run_opened", "epoch_ended", "run_finished")
    return [e for e in map(json.loads, lines) if e["type"] in kinds]


def epochs_once(events: list[dict[str, Any]], epochs: int) -> None:
    """Every epoch trained exactly once, over however many sessions, and the run completed."""
    assert [e["epoch"] for e in events if e["type"] == "epoch_ended"] == list(range(1, epochs + 1))
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "completed"


def job_logs(runs: Path) -> str:
    (folder,) = (runs / "sweeps").iterdir()
    return "".join(p.read_text(errors="replace") for p in (folder / "slurm").glob("*_log.*"))


def finish(proc: subprocess.Popen[str], seen: list[str], timeout: float) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    out = "".join(seen) + out
    print(out, err[-3000:])
    return out, err


# --- the tests -----------------------------------------------------------------------------------


def test_a_three_run_sweep_completes_and_compare_sees_it(tmp_path: Path) -> None:
    """Three jobs of one array at once; the submitter's terminal holds no submitit warnings
    (sacct is never asked: accounting is off here); the runs list and --compare see all three."""
    runs = tmp_path / "runs"
    path = sweep_file(tmp_path, "three", "0.001, 0.002, 0.003")
    proc = run_cli(*sweep_args(path, runs, epochs=2), env=JAX, timeout=600)
    print(proc.stdout, proc.stderr[-3000:])
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert "sweep three: completed" in proc.stdout
    assert "sacct" not in proc.stdout + proc.stderr and "submitit" not in proc.stderr
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed"] * 3
    from core.storage.rundir import list_runs  # what the console's runs screen lists

    listed = {str(record.path) for record in list_runs(runs)}
    assert {r["run_dir"] for r in data["runs"]} <= listed
    (folder,) = (runs / "sweeps").iterdir()
    compared = run_cli("--compare", str(folder), env={"NO_COLOR": "1"}, timeout=120)
    assert compared.returncode == EXIT_OK, compared.stderr
    assert compared.stdout.startswith("3 runs"), compared.stdout
    rows = [line.split() for line in compared.stdout.splitlines()[3:]]  # title, header, rule
    assert sorted((row[0], row[1]) for row in rows) == sorted(
        (Path(r["run_dir"]).name, str(r["overrides"]["train.learning_rate"])) for r in data["runs"]
    )


def test_scancel_cancels_the_job_and_stops_the_run(tmp_path: Path) -> None:
    """scancel sends SIGTERM, as a preemption does: the job asks Slurm, which says cancelled,
    so the run stops for good (no requeue) and says so, and so does the sweep."""
    runs = tmp_path / "runs"
    proc = start_cli(*sweep_args(sweep_file(tmp_path, "cancel"), runs, epochs=6), env=JAX)
    seen: list[str] = []
    read_line(proc, "[1/1] cancel lr=0.001: epoch 1/6", seen, timeout=300)
    (job,) = jobs_of("cancel", "R")
    subprocess.run(["scancel", job], check=True, timeout=30)
    out, err = finish(proc, seen, timeout=300)
    assert proc.returncode == EXIT_STOPPED, out + err
    assert "by scancel: the job was cancelled, nothing requeues it" in out
    assert "sweep cancel: stopped" in out and "requeued" not in out
    wait_gone("cancel")
    assert job_field(job, "Restarts") in ("", "0")  # never requeued (or already forgotten)
    run_dir = Path(sweep_json(runs)["runs"][0]["run_dir"])
    events = events_of(run_dir)
    assert sum(e["type"] == "run_opened" for e in events) == 1
    assert events[-1]["status"] == "stopped" and "scancel" in events[-1]["stopped_by"]
    from core.storage.rundir import load_run

    assert load_run(run_dir).status == "stopped"


def test_scontrol_requeue_is_followed_to_completion(tmp_path: Path) -> None:
    """scontrol requeue (Slurm's requeue-preemption): the job saves and leaves the requeue to
    Slurm (no second requeue, no traceback); the submitter says "preempted, requeued", follows
    the requeued job, and the sweep completes with every epoch trained once, exit 0."""
    runs = tmp_path / "runs"
    proc = start_cli(*sweep_args(sweep_file(tmp_path, "requeue"), runs, epochs=4), env=JAX)
    seen: list[str] = []
    read_line(proc, "[1/1] requeue lr=0.001: epoch 1/4", seen, timeout=300)
    (job,) = jobs_of("requeue", "R")
    with release_held("requeue") as released:
        subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
        out, err = finish(proc, seen, timeout=600)
    assert proc.returncode == EXIT_OK, out + err
    assert "[1/1] requeue lr=0.001: preempted, requeued" in out
    assert "sweep requeue: completed" in out and released.released >= 1
    run_dir = Path(sweep_json(runs)["runs"][0]["run_dir"])
    events = events_of(run_dir)
    assert sum(e["type"] == "run_opened" for e in events) == 2
    stops = [e for e in events if e["type"] == "run_finished" and e["status"] == "stopped"]
    assert [e["stopped_by"] for e in stops] == ["preemption"]
    epochs_once(events, 4)
    logs = job_logs(runs)
    assert "Traceback" not in logs and "scontrol requeue" not in logs, logs[-3000:]


class warn_after_each_epoch:
    """While the block runs, each epoch the sweep's one run finishes (but its last) is followed
    by the time limit's warning, SIGUSR2, sent to the running job as Slurm's ``--signal`` sends
    it (``scancel --signal=USR2``): on an idle machine five tiny epochs finish in seconds, before
    slurmctld's timer (checked about every 30 s) sends the warning of a one-minute limit, so the
    test sends it at the moment that makes every slice finish exactly one epoch."""

    def __init__(self, name: str, runs: Path, epochs: int):
        self.name, self.runs, self.epochs = name, runs, epochs
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> warn_after_each_epoch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _finished_epochs(self) -> int:
        try:
            run_dir = Path(sweep_json(self.runs)["runs"][0]["run_dir"])
            return sum(e["type"] == "epoch_ended" for e in events_of(run_dir))
        except (OSError, ValueError, KeyError, TypeError):  # not started, or a line being written
            return 0

    def _loop(self) -> None:
        warned = 0  # epochs after which the warning went out
        while not self._stop.wait(0.5):
            done = self._finished_epochs()
            if warned < done < self.epochs:
                for job in jobs_of(self.name, "R"):
                    subprocess.run(
                        ["scancel", "--signal=USR2", job], capture_output=True, timeout=30
                    )
                    self.sent += 1
                warned = done


def test_a_run_longer_than_five_time_limit_slices_completes(tmp_path: Path) -> None:
    """A one-minute limit with the warning (SIGUSR2) 50 s before it: each slice stops after its
    first epoch, saves and requeues itself, past submitit's max_num_timeout (3 requeues): 5
    slices, 5 epochs, each once. The warning is also sent after each epoch by the test
    (warn_after_each_epoch), so the slices do not depend on how fast the machine is."""
    runs = tmp_path / "runs"
    path = sweep_file(tmp_path, "slices", slurm="signal_delay = 50\n")
    path.write_text(path.read_text().replace("time_limit = 10", "time_limit = 1"))
    # 1,500 images: a steady epoch of seconds, so the warning sent as one epoch ends lands
    # within the next (300 images' 0.7 s epoch could end before it arrives).
    args = (*sweep_args(path, runs, epochs=5), "--set", "data.synthetic_train=1500")
    proc = start_cli(*args, env=JAX)
    with release_held("slices"), warn_after_each_epoch("slices", runs, 5):
        out, err = finish(proc, [], timeout=840)
    assert proc.returncode == EXIT_OK, out + err
    assert out.count("[1/1] slices lr=0.001: time limit reached, requeued") >= 4
    run_dir = Path(sweep_json(runs)["runs"][0]["run_dir"])
    events = events_of(run_dir)
    assert sum(e["type"] == "run_opened" for e in events) >= 5
    epochs_once(events, 5)
    assert "timed-out too many times" not in job_logs(runs)


def test_time_limit_shorter_than_the_signal_delay_is_refused(tmp_path: Path) -> None:
    """signal_delay = 90 against a one-minute limit would stop each job as it starts."""
    runs = tmp_path / "runs"
    path = sweep_file(tmp_path, "short", slurm="signal_delay = 90\n")
    proc = run_cli(*sweep_args(path, runs, 2), "--time-limit", "1", timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "slurm.signal_delay: must be less than the time limit (1 min = 60 s), got 90" in (
        proc.stderr
    )
    assert not (runs / "sweeps").exists() and not jobs_of("short")  # nothing started


def test_a_study_on_the_cluster_prunes_a_losing_trial(tmp_path: Path) -> None:
    """Two trials one after another, the second with a learning rate that cannot learn (the
    random sampler's seed 4 asks 0.003, then 1e-9): the median pruner, told each epoch by the
    job itself, gives it up; the study completes."""
    runs = tmp_path / "runs"
    path = tmp_path / "study.toml"
    path.write_text(
        f'name = "study"\nbase = "{SMOKE}"\n\n[search]\ntrials = 2\nmethod = "random"\n'
        'pruner = "median"\nstartup_trials = 1\nwarmup_epochs = 1\nseed = 4\n\n'
        '[search.space]\n"train.learning_rate" = { choice = [0.003, 1e-9] }\n\n'
        "[slurm]\ngpus_per_run = 0\ntime_limit = 10\narray_parallelism = 1\n"
    )
    proc = run_cli(*sweep_args(path, runs, epochs=3), env=JAX, timeout=840)
    print(proc.stdout, proc.stderr[-3000:])
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    statuses = [r["status"] for r in sweep_json(runs)["runs"]]
    assert statuses == ["completed", "pruned"], statuses
    assert "pruned after" in proc.stdout and "sweep study: completed" in proc.stdout


def test_ctrl_c_stops_every_job_without_requeue_and_the_same_command_resumes(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    args = sweep_args(sweep_file(tmp_path, "ctrlc", "0.001, 0.002"), runs, epochs=3)
    proc = start_cli(*args, env=JAX)
    seen: list[str] = []
    read_line(proc, "[1/2] ctrlc lr=0.001: epoch 1/3", seen, timeout=300)
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, seen, timeout=300)
    assert proc.returncode == EXIT_STOPPED, out + err
    assert "requeued" not in out and "resume with the same command" in out
    wait_gone("ctrlc")  # nothing of the array pending: no requeue
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["stopped", "stopped"], data["runs"]
    again = run_cli(*args, env=JAX, timeout=600)
    print(again.stdout, again.stderr[-3000:])
    assert again.returncode == EXIT_OK, again.stdout + again.stderr
    assert 'resuming run 1/2 "lr=0.001"' in again.stdout
    for entry in sweep_json(runs)["runs"]:
        epochs_once(events_of(Path(entry["run_dir"])), 3)
