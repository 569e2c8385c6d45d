"""The one resume rule (core/storage/resume.py), asked by the engine, the console and the CLI.

Runs are made by hand: the recorder fed the engine's events, no training.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SMOKE

from core import events as ev
from core.errors import RunDirError
from core.profiles import load_profile
from core.status import RunStatus
from core.storage.recorder import RunRecorder
from core.storage.resume import plan_resume, resumes_as_is, why_not_resume
from core.storage.rundir import load_run

ENV = {"backend": "tensorflow", "devices": ["CPU:0"], "gpu": False, "python": "3.11"}


def ended_run(runs: Path, status: str) -> Path:
    """A 3-epoch smoke run that ended ``status`` after one epoch (or ran to the end)."""
    recorder = RunRecorder.create(
        runs, load_profile(SMOKE, overrides=["train.epochs=3"]), command="cifar-tui --run x"
    )
    recorder(ev.RunOpened(str(recorder.run_dir), "smoke", False, ENV, "synthetic (600)"))
    recorder(ev.RunStarted(str(recorder.run_dir), "smoke", 3, 0, 10, 50, 9, 8, "tensorflow",
                           ["CPU:0"], 500, 100, 100))  # fmt: skip
    recorder(ev.EpochEnded(epoch=1, seconds=1.0, loss=2.0, accuracy=0.1, val_loss=2.5,
                           val_accuracy=0.09, lr=0.001))  # fmt: skip
    message = {RunStatus.DIVERGED: "the loss became nan. Try a lower rate"}.get(status, "")
    if status != RunStatus.INTERRUPTED:  # else killed: no RunFinished, its lock let go
        recorder(ev.RunFinished(status, message, None, None, 5.0))
    recorder.close()
    return recorder.run_dir


@pytest.mark.parametrize("status", [RunStatus.STOPPED, RunStatus.FAILED, RunStatus.PRUNED], ids=str)
def test_runs_that_did_not_complete_may_be_resumed_with_their_saved_profile(
    tmp_path: Path, status: str
) -> None:
    run_dir = ended_run(tmp_path, status)
    assert why_not_resume(run_dir) is None
    plan = plan_resume(run_dir)
    assert plan.run_dir == run_dir and plan.overrides == ()
    assert plan.profile.train.epochs == 3 and plan.command == "cifar-tui --run x"


def test_a_completed_run_is_refused_in_one_line(tmp_path: Path) -> None:
    run_dir = ended_run(tmp_path, RunStatus.COMPLETED)
    assert why_not_resume(run_dir) == f"{run_dir} is already completed; nothing to resume"


def test_a_diverged_run_needs_a_new_learning_rate_and_only_that_may_change(
    tmp_path: Path,
) -> None:
    run_dir = ended_run(tmp_path, RunStatus.DIVERGED)
    reason = why_not_resume(run_dir)
    assert reason is not None and "(the loss became nan)" in reason
    assert "--set train.learning_rate=0.0001 (now 0.001)" in reason
    assert "--resume takes --set only for" in str(why_not_resume(run_dir, ["train.epochs=9"]))
    plan = plan_resume(run_dir, ["train.learning_rate=0.0002"])
    assert plan.profile.train.learning_rate == 0.0002


def test_what_is_no_run_is_refused(tmp_path: Path) -> None:
    assert why_not_resume(tmp_path / "nothing") == f"{tmp_path / 'nothing'}: no such run directory"
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match=r"has no profile\.toml"):
        plan_resume(tmp_path / "empty")


#: Every status a run can be read back with once no process trains it.
ENDED = [s for s in RunStatus if s not in (RunStatus.RUNNING, RunStatus.PENDING)]


@pytest.mark.parametrize("status", ENDED, ids=str)
def test_the_rule_by_status_alone_agrees_with_the_full_rule(tmp_path: Path, status: str) -> None:
    """The screens offer r by ``resumes_as_is`` (they have the status and read no files):
    exactly the runs ``why_not_resume`` accepts, failed and pruned ones too."""
    run_dir = ended_run(tmp_path, status)
    assert load_run(run_dir).status == status
    assert resumes_as_is(status) == (why_not_resume(run_dir) is None)
    assert resumes_as_is(status) == (status not in ("completed", "diverged"))
