"""``--sweep STUDY --slurm``: a [search] study's trials as Slurm jobs (core/sweeps/slurm.py).

On submitit's local executor (``executor = "local"``): the sweep's process asks the study (its
journal in the sweep directory) for trials, each trial is a job of its own that trains its run
directory and reports to the pruner from there, and a job preempted as Slurm does it (a signal to
its training process) is requeued and resumes the same trial's run to completion.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import SMOKE, start_cli

from core.errors import EXIT_OK
from core.storage import rundir
from core.storage.control import lock_holder
from core.sweeps.slurm import TIME_LIMIT, SweepJob
from core.sweeps.study import JOURNAL, TrialRef, optuna_module, storage

TINY = ("data.synthetic_train=300", "data.synthetic_test=60", "profiler.trace=false")


def start_array(path: Path, runs: Path, epochs: int) -> subprocess.Popen[str]:
    """``cifar-tui --sweep STUDY --slurm`` on tiny data, left running (JAX: quicker to start)."""
    args = ["--sweep", str(path), "--slurm", "--runs-dir", str(runs), "--plain"]
    for item in (*TINY, f"train.epochs={epochs}"):
        args += ["--set", item]
    return start_cli(*args, env={"KERAS_BACKEND": "jax"})


def study_file(tmp_path: Path, trials: int, pruner: str, at_once: int) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(
        f'name = "study"\nbase = "{SMOKE}"\n\n[search]\ntrials = {trials}\nmethod = "random"\n'
        f'pruner = "{pruner}"\nstartup_trials = 1\nwarmup_epochs = 1\nseed = 3\n\n'
        '[search.space]\n"train.learning_rate" = { log_uniform = [1e-4, 1e-2] }\n'
        '"train.batch_size" = { choice = [16, 32] }\n\n'
        f'[slurm]\nexecutor = "local"\narray_parallelism = {at_once}\n'
    )
    return path


def sweep_folder(runs: Path) -> Path:
    (folder,) = (runs / "sweeps").iterdir()
    return folder


def sweep_json(runs: Path) -> dict[str, Any]:
    return json.loads((sweep_folder(runs) / "sweep.json").read_text())


def optuna_trials(runs: Path) -> list[Any]:
    optuna = optuna_module()
    folder = sweep_folder(runs)
    (name,) = optuna.get_all_study_names(storage(folder))
    study = optuna.load_study(study_name=name, storage=storage(folder))
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def test_a_job_carries_its_trial_through_pickling_and_requeue(tmp_path: Path) -> None:
    """What submitit pickles for a trial's job, and the job a checkpoint requeues, keep the
    trial (its journal, its id, its pruner): the requeued job reports to the same trial."""
    ref = TrialRef(str(tmp_path), "study", 7, 3, "val_accuracy", "median", None)
    job = SweepJob(str(tmp_path), str(tmp_path / "note.txt"), {}, "/runs/trial-1", ref)
    again = pickle.loads(pickle.dumps(job))
    assert again.trial == ref and again.run_dir == "/runs/trial-1"
    requeued = again.checkpoint().function  # no run going on: nothing to stop
    assert requeued.trial == ref and requeued.run_dir == "/runs/trial-1"


@pytest.mark.slow
def test_a_study_on_slurm_completes_its_trials_and_names_the_best(
    tmp_path: Path, private_cache: Path
) -> None:
    """3 trials x 2 epochs, 2 jobs at once: every trial asked once, distinct settings, each
    told to the study, and the summary names the best."""
    runs = tmp_path / "runs"
    proc = start_array(study_file(tmp_path, 3, "median", 2), runs, epochs=2)
    out, err = proc.communicate(timeout=900)
    print(out[-4000:], err[-2000:])
    assert proc.returncode == EXIT_OK, out + err
    data = sweep_json(runs)
    assert [r["index"] for r in data["runs"]] == [1, 2, 3]
    assert {r["status"] for r in data["runs"]} <= {"completed", "pruned"}
    settings = [json.dumps(r["overrides"], sort_keys=True) for r in data["runs"]]
    assert len(set(settings)) == 3
    trials = optuna_trials(runs)
    assert [t.number for t in trials] == [0, 1, 2]
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    assert all(sorted(t.intermediate_values) == [1, 2] for t in trials)  # the jobs reported
    assert [t.user_attrs["run_dir"] for t in trials] == [r["run_dir"] for r in data["runs"]]
    best = data["search"]["best"]
    assert best is not None
    assert f"best trial: {best['trial']} (val_accuracy" in out
    summary = (sweep_folder(runs) / "summary.md").read_text()
    assert f"- best trial: {best['trial']}" in summary
    assert (sweep_folder(runs) / JOURNAL).is_file() and "a job per trial" in out


def trial_events(run_dir: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return [e for e in events if e["type"] in ("run_opened", "epoch_ended", "run_finished")]


@pytest.mark.slow
def test_a_preempted_trial_is_requeued_and_resumes_as_the_same_trial(
    tmp_path: Path, private_cache: Path
) -> None:
    """One job at a time (the loop's one-run path). SIGUSR2 to trial 1's training process
    (submitit's signal before the time limit): the job saves and is requeued, and the requeued
    job resumes that trial's run directory with no epoch lost or repeated; the study ends with
    its 2 planned trials."""
    runs = tmp_path / "runs"
    proc = start_array(study_file(tmp_path, 2, "none", 1), runs, epochs=3)
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if "epoch 1/3" in line:
            break
    else:
        pytest.fail("never printed an epoch:\n" + "".join(seen))
    run_dir = Path(sweep_json(runs)["runs"][0]["run_dir"])
    pid = lock_holder(run_dir)
    assert pid is not None and pid != proc.pid  # the job's own process trains it
    os.kill(pid, signal.SIGUSR2)
    out, err = proc.communicate(timeout=900)
    print("".join(seen) + out, err[-2000:])
    assert proc.returncode == EXIT_OK, "".join(seen) + out + err
    events = trial_events(run_dir)
    assert sum(e["type"] == "run_opened" for e in events) == 2  # the requeued job resumed it
    stops = [e for e in events if e["type"] == "run_finished" and e["status"] == "stopped"]
    assert len(stops) == 1 and stops[0]["stopped_by"] == TIME_LIMIT
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "completed"
    assert [e["epoch"] for e in events if e["type"] == "epoch_ended"] == [1, 2, 3]
    assert [row["epoch"] for row in rundir.load_run(run_dir).epochs] == [1, 2, 3]
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed", "completed"]
    trials = optuna_trials(runs)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert trials[0].user_attrs["run_dir"] == str(run_dir)
    assert len(list(runs.glob("*/profile.toml"))) == 2  # no trial ran in a second directory
    assert "up to" not in out  # one job at a time: array_parallelism = 1
