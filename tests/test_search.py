"""Studies: a sweep's [search] table run as an Optuna study through the sweep loop.

The strict validation of [search] is pinned with the other broken sweeps (tests/test_sweeps.py,
tests/broken_sweeps/search_*.toml). Here: the shipped studies, a study run with the stand-in
engine (pruning, the "pruned" status everywhere, the summary, Ctrl+C and the same command, a trial
killed before its directory), the pruning listener and the per-trial samplers, and real studies
on synthetic data (slow).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeRun
from helpers import REPO, cli_command, cli_env, markdown_tables, start_cli

from core.compare import collect
from core.errors import EXIT_OK, EXIT_STOPPED, EXIT_USAGE, DataError
from core.events import EpochEnded, RunOpened
from core.format import duration
from core.status import FINISHED, PRUNER, RunStatus, mark_of
from core.sweeps.spec import load_sweep
from core.sweeps.study import (
    JOURNAL,
    PruningListener,
    make_sampler,
    objective_value,
    optuna_module,
    report_at,
)
from tui.cli.sweep import SweepDriver

SWEEPS = REPO / "profiles" / "sweeps"
SMOKE = REPO / "profiles" / "smoke.toml"


#: FakeRun reset around each test, and no models to free between its runs (conftest.py).
pytestmark = pytest.mark.usefixtures("fake_run")


def good_rate(profile: Any, epoch: int) -> float:
    """A stand-in learning curve: best near a learning rate of 1e-3, rising with epochs."""
    miss = abs(math.log10(profile.train.learning_rate) + 3)
    return round(0.3 + 0.05 * epoch - 0.1 * miss, 4)


def study_file(tmp_path: Path, trials: int = 6, extra: str = "", space: str = "") -> Path:
    path = tmp_path / "study.toml"
    path.write_text(
        f'name = "study"\nbase = "{SMOKE}"\n\n[search]\ntrials = {trials}\nmethod = "random"\n'
        f"startup_trials = 2\n{extra}\n[search.space]\n"
        + (space or '"train.learning_rate" = { log_uniform = [1e-5, 1e-1] }\n')
    )
    return path


def driver_for(path: Path, runs: Path, *overrides: str) -> SweepDriver:
    sweep = load_sweep(path, ["train.epochs=4", *overrides])
    return SweepDriver(
        sweep,
        runs,
        plain=True,
        out=io.StringIO(),
        command="cifar-tui --sweep study.toml",
        make_run=lambda profile: FakeRun(profile, runs),
        resume_run=FakeRun.resume,
    )


def output(driver: SweepDriver) -> str:
    assert isinstance(driver.out, io.StringIO)
    return driver.out.getvalue()


def sweep_folder(runs: Path) -> Path:
    (folder,) = (runs / "sweeps").iterdir()
    return folder


def sweep_json(runs: Path) -> dict[str, Any]:
    return json.loads((sweep_folder(runs) / "sweep.json").read_text())


def run_dirs(runs: Path) -> list[Path]:
    return sorted(p for p in runs.iterdir() if p.is_dir() and p.name != "sweeps")


def optuna_trials(runs: Path) -> list[Any]:
    from core.sweeps.study import storage

    optuna = optuna_module()
    folder = sweep_folder(runs)
    study = optuna.load_study(study_name=folder.name, storage=storage(folder))
    return study.get_trials(deepcopy=False)


# --- the shipped studies -------------------------------------------------------------------------


def test_shipped_studies_are_valid_and_say_what_they_search() -> None:
    smoke = load_sweep(SWEEPS / "smoke-search.toml")
    search = smoke.search
    assert smoke.runs == () and smoke.planned == search.trials == 8
    assert (search.method, search.objective, search.pruner) == ("tpe", "val_accuracy", "median")
    assert search.direction == "maximize" and search.profile.model.architecture == "vgg_small"
    assert {d.key for d in search.space} >= {"train.learning_rate", "train.optimizer"}
    alexnet = load_sweep(SWEEPS / "alexnet-search.toml")
    assert alexnet.search.profile.model.architecture == "alexnet"
    assert alexnet.search.trials == 20 and alexnet.search.pruner == "median"
    keys = {d.key: d for d in alexnet.search.space}
    # the notebook's question: optimizer, batch size, learning rate, augmentation
    assert keys["train.learning_rate"].kind == "log_uniform"
    assert set(keys["train.batch_size"].values) == {64, 128, 256}
    assert set(keys["train.optimizer"].values) == {"adam", "sgd"}
    assert "augment.rotation" in keys


def test_set_and_hparams_reach_every_trial_and_name_the_study(tmp_path: Path) -> None:
    path = study_file(tmp_path)
    plain = load_sweep(path)
    again = load_sweep(path)
    short = load_sweep(path, ["train.epochs=2"])
    assert plain.dir_name == again.dir_name and short.dir_name != plain.dir_name
    trial = short.search.run(3, {"train.learning_rate": 0.002})
    assert trial.label == "trial 3" and trial.profile.name == "smoke-trial-3"
    assert trial.profile.train.epochs == 2 and trial.profile.train.learning_rate == 0.002
    with_hparams = tmp_path / "hp.toml"
    with_hparams.write_text(
        path.read_text().replace(
            f'base = "{SMOKE}"', f'base = "{SMOKE}"\nhparams = "{REPO}/profiles/hparams/sgd.toml"'
        )
    )
    sgd = load_sweep(with_hparams).search.run(1, {"train.learning_rate": 0.01}).profile
    assert sgd.train.optimizer == "sgd" and sgd.train.learning_rate == 0.01  # the space wins


def test_importing_the_study_parts_loads_no_optuna_until_a_study_opens() -> None:
    code = (
        "import sys; from core.sweeps.spec import load_sweep; import core.sweeps.loop; "
        "load_sweep('profiles/sweeps/smoke-search.toml'); "
        "print([m for m in sys.modules if m.split('.')[0] in ('optuna', 'tensorflow')])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_key_searched_and_set_is_one_line_exit_2_and_nothing_written(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.run(
        cli_command(
            "--sweep", "tests/broken_sweeps/valid_search.toml",
            "--set", "train.learning_rate=0.01", "--runs-dir", str(runs),
        ),
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""
    assert "valid_search.toml:10: [search.space]: train.learning_rate: is searched here" in (
        proc.stderr
    )
    assert not runs.exists()


# --- a study with the stand-in engine ------------------------------------------------------------


def test_study_prunes_losing_trials_and_its_summary_names_the_best(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    FakeRun.val_accuracy = good_rate
    driver = driver_for(study_file(tmp_path, trials=8), runs)
    assert driver.execute() == EXIT_OK
    out = output(driver)
    print(out)
    data = sweep_json(runs)
    statuses = [r["status"] for r in data["runs"]]
    assert len(statuses) == 8 and set(statuses) <= {"completed", "pruned"}
    assert statuses.count("pruned") >= 1 and data["status"] == "completed"
    assert [r["index"] for r in data["runs"]] == list(range(1, 9))
    # pruned everywhere: the run's report, compare's rows, the mark
    pruned = [Path(r["run_dir"]) for r in data["runs"] if r["status"] == "pruned"]
    report = json.loads((pruned[0] / "report.json").read_text())
    assert report["status"] == "pruned" and report.get("test") is None
    assert len(report["epochs"]) < 4
    assert {row.status for row in collect([sweep_folder(runs)])} == {"completed", "pruned"}
    assert mark_of("pruned") == "✂" and RunStatus.PRUNED in FINISHED
    # the study agrees with the runs
    states = [t.state.name for t in optuna_trials(runs)]
    assert states.count("PRUNED") == statuses.count("pruned")
    assert states.count("COMPLETE") == statuses.count("completed")
    # the best trial: the completed trial with the highest objective, named in every summary
    best = max(
        (r for r in data["runs"] if r["status"] == "completed"),
        key=lambda r: good_rate_of(r),
    )
    assert data["search"]["best"]["trial"] == best["index"]
    line = f"best trial: {best['index']} (val_accuracy "
    summary = (sweep_folder(runs) / "summary.md").read_text()
    assert line in out and f"- {line}" in summary
    assert f"pruned: {statuses.count('pruned')} of 8 trials" in summary
    pruned_rows = [r for r in data["runs"] if r["status"] == "pruned"]
    left = sum(4 - len(read_history(Path(r["run_dir"]))) for r in pruned_rows)
    assert f"(about {duration(left * FakeRun.seconds)} of training saved, estimated)" in summary
    if statuses.count("completed") < 5:  # too few to mean anything
        assert "parameter importances: not yet (they need at least 5 completed" in summary
    rows = list(csv.DictReader(io.StringIO((sweep_folder(runs) / "summary.csv").read_text())))
    assert rows[0]["trial"] == str(best["index"])  # trials by objective, best first
    # Optuna's own number (optuna-dashboard's) beside ours, which count from 1
    assert rows[0]["optuna_number"] == str(best["index"] - 1)
    assert f"; Optuna #{best['index'] - 1}): " in summary
    assert data["search"]["best"]["optuna_number"] == best["index"] - 1
    values = [float(r["objective"]) for r in rows]
    assert values == sorted(values, reverse=True)


def good_rate_of(run: dict[str, Any]) -> float:
    """The stand-in's best epoch for a sweep.json run (its last: the curve rises)."""
    profile = argparse.Namespace(
        train=argparse.Namespace(learning_rate=run["overrides"]["train.learning_rate"])
    )
    return good_rate(profile, 4)


def test_compare_on_the_study_dir_names_the_best_trial_and_the_pruned(tmp_path: Path) -> None:
    from tui.cli.compare import compare

    runs = tmp_path / "runs"
    FakeRun.val_accuracy = good_rate
    assert driver_for(study_file(tmp_path, trials=6), runs).execute() == EXIT_OK
    out = io.StringIO()
    args = argparse.Namespace(compare=[str(sweep_folder(runs))], plain=True)
    assert compare(args, out) == EXIT_OK
    text = out.getvalue()
    print(text)
    report = report_at(sweep_folder(runs))
    assert report is not None and report.best is not None
    assert f"best trial: {report.best.index} (val_accuracy" in text
    assert "pruned:" in text and "trials by objective" in text


def test_ctrl_c_mid_study_then_the_same_command_finishes_it_no_trial_twice(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    path = study_file(tmp_path, trials=6, extra='pruner = "none"\n')
    driver = driver_for(path, runs)

    def stop_in_trial_three(run: FakeRun, epoch: int) -> None:
        if run.profile.name.endswith("trial-3") and epoch == 2:
            driver._on_sigint()  # as Ctrl+C's handler takes it

    FakeRun.hook = stop_in_trial_three
    assert driver.execute() == EXIT_STOPPED
    first = output(driver)
    # each trial named with Optuna's number too (it counts from 0), in every line
    assert "sweep study: starting trial 1/6 (Optuna #0): train.learning_rate=" in first
    assert "[1/6] study trial 1 (Optuna #0): completed in 0:08" in first
    assert "[3/6] study trial 3 (Optuna #2): stopped after 2 of 4 epochs" in first
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed", "completed", "stopped"]
    assert data["status"] == "stopped"
    assert [t.state.name for t in optuna_trials(runs)] == ["COMPLETE", "COMPLETE", "RUNNING"]
    trial_three = Path(data["runs"][2]["run_dir"])

    FakeRun.hook = None
    again = driver_for(path, runs)
    assert again.execute() == EXIT_OK
    out = output(again)
    assert "(2 to resume" not in out and "3 to ask, 1 to resume, 2 finished earlier" in out
    assert "resuming trial 3/6 (Optuna #2) (stopped after 2 of 4 epochs)" in out
    assert "[1/6] study trial 1 (Optuna #0): completed earlier, skipped" in out
    data = sweep_json(runs)
    assert [r["index"] for r in data["runs"]] == [1, 2, 3, 4, 5, 6]
    assert [r["status"] for r in data["runs"]] == ["completed"] * 6
    assert Path(data["runs"][2]["run_dir"]) == trial_three  # the same trial, resumed
    assert len(run_dirs(runs)) == 6  # one directory per trial: none ran twice
    made = [m for m in FakeRun.made if m.startswith("start")]
    assert sorted(made) == [f"start smoke-trial-{n}" for n in range(1, 7)]
    assert FakeRun.made.count(f"resume {trial_three.name}") == 1
    assert [t.state.name for t in optuna_trials(runs)] == ["COMPLETE"] * 6
    assert [r["epoch"] for r in read_history(trial_three)] == [1, 2, 3, 4]
    summary = (sweep_folder(runs) / "summary.md").read_text()
    assert "- parameter importances (Optuna's PED-ANOVA): train.learning_rate 1.00" in summary


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    from core.storage import rundir

    return rundir.read_history(run_dir / "history.csv")


def test_a_trial_that_never_made_its_directory_starts_again_as_the_same_trial(
    tmp_path: Path,
) -> None:
    """Asked, then its run could not start: the same command runs that trial (its number and
    settings), not a new one."""
    runs = tmp_path / "runs"
    path = study_file(tmp_path, trials=3, extra='pruner = "none"\n')
    FakeRun.cannot_start = {"smoke-trial-2": DataError("no data today")}
    first = driver_for(path, runs)
    with pytest.raises(DataError):
        first.execute()
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed", "pending"]
    asked = data["runs"][1]["overrides"]
    FakeRun.cannot_start = {}
    assert driver_for(path, runs).execute() == EXIT_OK
    data = sweep_json(runs)
    assert [r["index"] for r in data["runs"]] == [1, 2, 3]
    assert data["runs"][1]["overrides"] == asked
    assert [t.number for t in optuna_trials(runs)] == [0, 1, 2]
    assert len(run_dirs(runs)) == 3


def test_val_loss_objective_prefers_the_lowest(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    path = study_file(tmp_path, trials=4, extra='objective = "val_loss"\npruner = "none"\n')
    assert driver_for(path, runs).execute() == EXIT_OK
    assert objective_value([{"val_loss": 2.0}, {"val_loss": 1.5}], "val_loss") == 1.5
    assert objective_value([{"val_accuracy": 0.2}, {"val_accuracy": 0.5}], "val_accuracy") == 0.5
    assert objective_value([{"val_loss": None}], "val_loss") is None
    assert sweep_json(runs)["search"]["direction"] == "minimize"


def test_a_val_loss_study_shows_its_losses_as_losses_not_percentages(tmp_path: Path) -> None:
    """Only an accuracy reads as a percentage: a loss of 1.0 is "1.0000", never "100.0%", in
    summary.md, on the terminal (plain and Rich) and in the best trial's sentence."""
    from rich.console import Console

    from tui.tables import rich_table

    runs = tmp_path / "runs"
    path = study_file(tmp_path, trials=3, extra='objective = "val_loss"\npruner = "none"\n')
    driver = driver_for(path, runs)
    assert driver.execute() == EXIT_OK
    summary = (sweep_folder(runs) / "summary.md").read_text()
    (table,) = [t for t in markdown_tables(summary) if t and "val_loss" in t[0]]
    assert [row["val_loss"] for row in table] == ["1.0000"] * 3, summary
    assert [row["test acc"] for row in table] == ["40.0%"] * 3  # accuracy stays a percentage
    out = output(driver)
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("trial "))
    column = lines[at].split().index("val_loss") - 1  # "optuna #" is two words
    rows = [line.split() for line in lines[at + 2 : at + 5]]  # the footer's three trials
    assert [row[column] for row in rows] == ["1.0000"] * 3, out
    assert "best trial: 1 (val_loss 1.0000," in out and "100.0%" not in out
    report = report_at(sweep_folder(runs))
    assert report is not None
    terminal = io.StringIO()
    Console(file=terminal, width=100).print(rich_table(report.table()))
    assert "1.0000" in terminal.getvalue() and "100.0%" not in terminal.getvalue()


def test_parallel_2_asks_distinct_trials_that_train_at_once(tmp_path: Path) -> None:
    """Two lanes (threads here; --parallel makes them processes): trial 2 is asked while trial
    1 trains, with its own number and settings; pruning goes on across the lanes."""
    import threading

    runs = tmp_path / "runs"
    meet = threading.Barrier(2, timeout=30)

    def hook(run: FakeRun, epoch: int) -> None:
        if epoch == 1 and run.profile.name in ("smoke-trial-1", "smoke-trial-2"):
            meet.wait()  # passes only when trials 1 and 2 train at the same time

    FakeRun.hook = hook
    FakeRun.val_accuracy = good_rate
    sweep = load_sweep(study_file(tmp_path, trials=6), ["train.epochs=4"])
    front = SweepDriver(
        sweep, runs, plain=True, out=io.StringIO(), command="cifar-tui --sweep study.toml",
        make_run=lambda profile: FakeRun(profile, runs), resume_run=FakeRun.resume, parallel=2,
    )  # fmt: skip
    assert front.execute() == EXIT_OK, output(front)
    data = sweep_json(runs)
    assert [r["index"] for r in data["runs"]] == [1, 2, 3, 4, 5, 6]
    rates = [r["overrides"]["train.learning_rate"] for r in data["runs"]]
    assert len(set(rates)) == 6  # distinct trials
    assert {r["status"] for r in data["runs"]} <= {"completed", "pruned"}
    assert len({r["run_dir"] for r in data["runs"]}) == len(run_dirs(runs)) == 6
    trials = optuna_trials(runs)
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    # runs at once: each epoch line names its trial by both numbers
    assert "[2/6] study trial 2 (Optuna #1): epoch 1/4 " in output(front)


def test_the_pruners_stop_reaches_a_trial_in_a_process_of_its_own() -> None:
    """--parallel: the sweep's process signals the child, whose run then ends "pruned"."""
    import signal as signals

    from core.following.protocol import STOPPERS, signal_for
    from core.sweeps.parallel import check_parallel

    assert signal_for(PRUNER) == signals.SIGUSR2 and STOPPERS[signals.SIGUSR2] == PRUNER
    check_parallel(load_sweep(SWEEPS / "smoke-search.toml"))  # a pruned study may go parallel


# --- the parts ----------------------------------------------------------------------------------


class StubTrial:
    def __init__(self, prune: bool) -> None:
        self.prune = prune
        self.reported: list[tuple[float, int]] = []
        self.attrs: dict[str, Any] = {}

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return self.prune

    def set_user_attr(self, key: str, value: Any) -> None:
        self.attrs[key] = value


def epoch(number: int, val_accuracy: float = 0.3) -> EpochEnded:
    return EpochEnded(number, 1.0, 1.0, 0.5, 1.0, val_accuracy, 0.001)


def test_pruning_listener_reports_each_epoch_and_stops_with_the_pruner(tmp_path: Path) -> None:
    search = load_sweep(study_file(tmp_path)).search
    trial, run = StubTrial(prune=True), FakeRun(search.profile, tmp_path)
    listener = PruningListener(trial, run, search, epochs=3)
    listener(RunOpened(str(tmp_path), "x", False))
    assert trial.attrs["run_dir"] == str(tmp_path.resolve())
    listener(epoch(1, 0.31))
    assert trial.reported == [(0.31, 1)]
    assert run.stop_requested and run.stopped_by == PRUNER
    assert "pruner stopped it after epoch 1 of 3: val_accuracy 31.0%" in run.stop_reason


def test_pruning_listener_never_prunes_the_last_epoch_or_a_nan(tmp_path: Path) -> None:
    search = load_sweep(study_file(tmp_path)).search
    trial, run = StubTrial(prune=True), FakeRun(search.profile, tmp_path)
    listener = PruningListener(trial, run, search, epochs=2)
    listener(epoch(1, math.nan))
    listener(epoch(2, 0.5))
    assert trial.reported == [(0.5, 2)] and not run.stop_requested


def test_each_trial_number_draws_its_own_settings(tmp_path: Path) -> None:
    """Two processes asking side by side get different trial numbers, hence samplers."""
    optuna = optuna_module()
    search = load_sweep(study_file(tmp_path)).search
    dist = optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)
    study = optuna.create_study()
    trial = study.ask()

    def draw(number: int) -> float:
        sampler = make_sampler(search, number)
        return sampler.sample_independent(study, trial, "lr", dist)

    assert draw(3) == draw(3)
    assert len({draw(n) for n in range(6)}) == 6


def test_a_float_range_is_drawn_to_four_digits_inside_its_bounds(tmp_path: Path) -> None:
    search = load_sweep(study_file(tmp_path)).search
    (dim,) = search.space
    assert dim.normalize(0.000123456) == 0.0001235
    assert dim.normalize(0.1000004) == 0.1 and dim.normalize(9.99999e-6) == 1e-5


# --- real studies (slow) --------------------------------------------------------------------------


@pytest.mark.slow
def test_engine_stopped_by_the_pruner_ends_pruned_with_its_reason(tmp_path: Path) -> None:
    """The real engine: a stop asked ``by`` PRUNER after epoch 1 of 3 keeps that epoch, skips
    the test pass and ends "pruned" (report.json, RunFinished), exit code 0 for --watch."""
    from core.events import RunFinished
    from core.profiles import load_profile
    from core.storage.control import exit_code_for
    from core.storage.rundir import load_run
    from core.training.engine import Run

    profile = load_profile(
        SMOKE,
        overrides=[
            "train.epochs=3", "data.synthetic_train=300", "data.synthetic_test=60",
            "train.batch_size=50", "profiler.trace=false",
        ],
    )  # fmt: skip
    seen: list[Any] = []
    holder: dict[str, Run] = {}

    def prune_after_one(event: Any) -> None:
        seen.append(event)
        if isinstance(event, EpochEnded) and event.epoch == 1:
            holder["run"].request_stop(PRUNER, reason="the median pruner stopped it")

    run = Run(profile, tmp_path, prune_after_one)
    holder["run"] = run
    assert run.execute() == RunStatus.PRUNED
    finished = [e for e in seen if isinstance(e, RunFinished)][-1]
    assert finished.status == "pruned" and finished.message == "the median pruner stopped it"
    assert finished.test_accuracy is None and finished.stopped_by == ""
    record = load_run(run.run_dir)
    assert record.status == "pruned" and [e["epoch"] for e in record.epochs] == [1]
    assert record.report.get("test") is None and "error" not in record.report
    assert exit_code_for(record.status) == EXIT_OK


@pytest.mark.slow
def test_smoke_search_completes_with_pruning_and_names_the_best(tmp_path: Path, cli) -> None:
    """The shipped smoke study, for real: about 2 minutes on 2 CPU cores."""
    runs = tmp_path / "runs"
    started = time.monotonic()
    proc = cli(
        "--sweep", "profiles/sweeps/smoke-search.toml", "--runs-dir", str(runs), "--plain",
        timeout=900,
    )  # fmt: skip
    print(proc.stdout[-4000:], proc.stderr[-2000:], f"{time.monotonic() - started:.0f} s")
    assert proc.returncode == EXIT_OK, proc.stderr
    data = sweep_json(runs)
    statuses = [r["status"] for r in data["runs"]]
    assert len(statuses) == 8 and set(statuses) <= {"completed", "pruned"}, statuses
    best = data["search"]["best"]
    assert best is not None
    assert f"best trial: {best['trial']} (val_accuracy" in proc.stdout
    summary = (sweep_folder(runs) / "summary.md").read_text()
    assert f"- best trial: {best['trial']}" in summary
    assert "parameter importances (Optuna's" in summary  # five trials complete before pruning
    assert (sweep_folder(runs) / JOURNAL).is_file()


@pytest.mark.slow
def test_a_trial_in_a_process_of_its_own_ends_pruned_on_the_pruners_signal(
    tmp_path: Path,
) -> None:
    """What --parallel's child gets from the pruner (PRUNE_SIGNAL): a pruned run, exit 0."""
    runs = tmp_path / "runs"
    proc = start_cli(
        "--run", "profiles/smoke.toml", "--runs-dir", str(runs), "--plain",
        "--set", "train.epochs=3", "--set", "data.synthetic_train=300",
        "--set", "data.synthetic_test=60", "--set", "profiler.trace=false",
    )  # fmt: skip
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("epoch 1/3"):
            proc.send_signal(signal.SIGUSR2)
            break
    rest, err = proc.communicate(timeout=300)
    print("".join(seen) + rest, err)
    assert proc.returncode == EXIT_OK, err
    (run_dir,) = run_dirs(runs)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "pruned" and len(report["epochs"]) < 3
    assert "the study's pruner gave this trial up" in err


@pytest.mark.slow
def test_real_study_with_parallel_2_gives_distinct_trials(tmp_path: Path) -> None:
    """--parallel 2 for real: each trial a child process, trial numbers and settings distinct."""
    runs = tmp_path / "runs"
    proc = subprocess.run(
        cli_command(
            "--sweep", "tests/broken_sweeps/valid_search.toml", "--runs-dir", str(runs),
            "--plain", "--parallel", "2", "--set", "train.epochs=2",
            "--set", "data.synthetic_train=300", "--set", "data.synthetic_test=60",
            "--set", "profiler.trace=false",
        ),
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    print(proc.stdout[-4000:], proc.stderr[-2000:])
    assert proc.returncode == EXIT_OK, proc.stderr
    data = sweep_json(runs)
    assert [r["index"] for r in data["runs"]] == [1, 2, 3, 4]
    settings = [json.dumps(r["overrides"], sort_keys=True) for r in data["runs"]]
    assert len(set(settings)) == 4
    assert {r["status"] for r in data["runs"]} <= {"completed", "pruned"}
    assert [t.number for t in optuna_trials(runs)] == [0, 1, 2, 3]
    assert "up to 2 at once" in proc.stdout


@pytest.mark.slow
def test_real_study_ctrl_c_then_the_same_command(tmp_path: Path) -> None:
    """SIGINT in trial 2 of a real 3-trial study; the same command finishes all 3, resuming
    trial 2's directory."""
    runs = tmp_path / "runs"
    args = (
        "--sweep", "tests/broken_sweeps/valid_search.toml", "--runs-dir", str(runs), "--plain",
        "--set", "train.epochs=2", "--set", "data.synthetic_train=300",
        "--set", "data.synthetic_test=60", "--set", "profiler.trace=false",
    )  # fmt: skip
    proc = start_cli(*args)
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("epoch 1/2") and any("starting trial 2/4" in s for s in seen):
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, "".join(seen)
    rest, err = proc.communicate(timeout=300)
    print("".join(seen) + rest, err)
    assert proc.returncode == EXIT_STOPPED, err
    assert [r["status"] for r in sweep_json(runs)["runs"]][:2] == ["completed", "stopped"]
    second = subprocess.run(
        cli_command(*args), cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=900
    )
    print(second.stdout[-3000:], second.stderr[-2000:])
    assert second.returncode == EXIT_OK, second.stderr
    assert "resuming trial 2/4 (Optuna #1) (stopped after" in second.stdout
    data = sweep_json(runs)
    assert [r["index"] for r in data["runs"]] == [1, 2, 3, 4]
    assert all(r["status"] in ("completed", "pruned") for r in data["runs"])
    assert len(run_dirs(runs)) == 4
    assert os.path.isfile(sweep_folder(runs) / "summary.md")


# --- the console (pilot, with the stand-in engine) --------------------------------------------

STUDY_SWEEP = """\
name = "tiny-study"
description = "A study of the learning rate"
base = "../tiny.toml"

[search]
trials = 5
method = "random"
startup_trials = 2

[search.space]
"train.learning_rate" = { log_uniform = [1e-5, 1e-1] }
"""


def test_the_consoles_study_lines_name_each_trial_by_both_numbers() -> None:
    """The console's study text and sweep line are plain functions of a snapshot: no app."""
    from core.eta import Eta
    from tui.console.screens.watch import sweep_text
    from tui.console.state import SweepState
    from tui.console.study_view import study_text
    from tui.console.views import StudyInfo, SweepRunView, SweepSnapshot

    info = StudyInfo("val_loss", False, "3 trials, random, val_loss (lower is better), no pruner")
    done = SweepRunView(1, "trial 1", "completed", 4, 4, test_accuracy=0.4, objective=1.2345,
                        settings=(("train.learning_rate", 0.001),))  # fmt: skip
    now = SweepRunView(2, "trial 2", "running", 4, 1, settings=(("train.learning_rate", 0.01),))
    snap = SweepSnapshot("s", Path("sweeps/s"), "running", (done, now), Eta(17.0, 3, 2.0),
                         current=2, planned=3, study=info)  # fmt: skip
    assert study_text(snap, info, active=True).plain.splitlines() == [
        f"trial 2/3 (Optuna #1) {mark_of('running')} learning_rate=0.01",
        "best so far: trial 1 (Optuna #0) · val_loss 1.2345 · learning_rate=0.001 · 0 pruned of 2",
    ]
    sweep = SweepState("s", "s.toml", 3, "cifar-tui --sweep s.toml", active=True, snapshot=snap)
    first, outcomes = sweep_text(sweep, False).plain.splitlines()
    assert first.startswith("sweep s: trial 2/3 (Optuna #1) · ETA")
    assert outcomes.startswith(f"trial 1 (Optuna #0) {mark_of('completed')} 40.0%   ")
    assert "trial 2 (Optuna #1)" in outcomes


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch, fake_run: type[FakeRun]) -> Any:
    """The console's sweep builds its runs with core.training.engine.Run: the stand-in here
    (``fake_run`` resets it and skips freeing models between its runs)."""
    monkeypatch.setattr("core.training.engine.Run", FakeRun)
    yield FakeRun


def test_console_shows_a_running_studys_trial_best_so_far_and_plots(
    tmp_path: Path, fake_engine: type[FakeRun]
) -> None:
    import asyncio
    import threading

    from test_tui import sweeps_listed, wait_for
    from test_tui_sweeps import cells, sweep_line, tiny_profiles
    from textual.widgets import DataTable, Static

    from tui.console.app import create_app
    from tui.console.screens.watch import WatchScreen
    from tui.console.widgets.plots import MetricPlot

    profiles = tiny_profiles(tmp_path / "profiles", epochs=3)
    (profiles / "sweeps" / "tiny-study.toml").write_text(STUDY_SWEEP, encoding="utf-8")
    release = threading.Event()

    def hold_trial_four(run: FakeRun, epoch: int) -> None:
        if run.profile.name.endswith("trial-4") and epoch == 1:
            release.wait(10)

    fake_engine.val_accuracy = good_rate
    fake_engine.hook = hold_trial_four
    app = create_app(profiles, tmp_path / "runs")

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("S")
            sweeps = await sweeps_listed(pilot)
            rows = cells(sweeps.query_one("#sweeps", DataTable))
            assert [r[:3] for r in rows if r[0] == "tiny-study"] == [["tiny-study", "5", "-"]]
            details = str(sweeps.query_one("#sweep-details", Static).render())
            assert "Study: 5 trials, random, val_accuracy (higher is better)" in details
            assert "5 trials x at most 3 epochs" in details
            names = [r[0] for r in rows]
            sweeps.query_one("#sweeps", DataTable).move_cursor(row=names.index("tiny-study"))
            await pilot.press("enter", "y")  # 5 trials: it asks first
            await pilot.pause()
            watch = app.screen
            assert isinstance(watch, WatchScreen)
            study = watch.query_one("#study", Static)
            await wait_for(pilot, lambda: "trial 4/5" in str(study.render()), 10, "trial 4")
            await pilot.pause(0.3)
            text = str(study.render())
            print(sweep_line(watch), text, sep="\n")
            assert "sweep tiny-study: trial 4/5 (Optuna #3)" in sweep_line(watch)
            snap = app.sweep_state.snapshot
            rate = snap.run(4).settings[0][1]
            assert f"trial 4/5 (Optuna #3) ▶ learning_rate={rate}" in text
            best = max((v for v in snap.runs if v.status == "completed"), key=lambda v: v.objective)
            best_text = f"{best.objective * 100:.1f}%"  # accuracy for people, as everywhere
            optuna = f"(Optuna #{best.index - 1})"
            assert f"best so far: trial {best.index} {optuna} · val_accuracy {best_text}" in text
            trials = watch.query_one("#plot-trials", MetricPlot)
            assert trials.display and not watch.query_one("#plot-lr").display
            assert trials.series["completed"][best.index - 1] == best.objective
            pruned = [v.index for v in snap.runs if v.status == "pruned"]
            assert [i + 1 for i, v in enumerate(trials.series["pruned"]) if v] == pruned
            curves = watch.query_one("#plot-curves", MetricPlot)
            assert list(curves.series) == ["#1", "#2", "#3", "#4"]
            assert curves.series["#4"] == [good_rate(snap_profile(snap, 4), 1)]  # live
            release.set()
            await wait_for(pilot, lambda: not app.run_active, 10, "the study's end")
            assert app.sweep_state.snapshot.status == "completed"
            await pilot.press("p", "S")
            sweeps = await sweeps_listed(pilot)
            (row,) = [
                r for r in cells(sweeps.query_one("#sweeps", DataTable)) if r[0] == "tiny-study"
            ]
            assert row[2].startswith("completed 5/5 best ") and row[2].endswith("%")

    asyncio.run(scenario())


def snap_profile(snap: Any, index: int) -> Any:
    rate = dict(snap.run(index).settings)["train.learning_rate"]
    return argparse.Namespace(train=argparse.Namespace(learning_rate=rate))
