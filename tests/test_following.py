"""core/following: the one follow loop, the child-process protocol, and how a Slurm job tells
a requeue from scancel and the time limit, on recorded events and stand-ins (no training, no
cluster: the cluster lane, tests/test_slurm_cluster.py, does it for real)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from core.errors import ProfileError
from core.events import EpochEnded, Event, RunFinished, RunOpened, RunStarted, RunWarning
from core.following import protocol
from core.following.session import REQUEUED, follow
from core.status import PRUNER
from core.sweeps import slurm


def started(epoch: int, t: float) -> RunStarted:
    return RunStarted("r", "smoke", 3, epoch, 10, 50, 1, 1, "jax", ["cpu"], 1, 1, 1, time=t)


def session(t: float, epochs: list[int], end: RunFinished | None) -> list[Event]:
    events: list[Event] = [RunOpened("r", "smoke", t > 100, time=t), started(epochs[0] - 1, t)]
    events += [EpochEnded(e, 1.0, 2.0, 0.1, 2.1, 0.1, 0.001, time=t + e) for e in epochs]
    return events + ([end] if end is not None else [])


def stopped(by: str, t: float) -> RunFinished:
    return RunFinished("stopped", f"stopped by {by}", None, None, 1.0, stopped_by=by, time=t)


def record(run_dir: Path, events: list[Event]) -> Path:
    run_dir.mkdir(exist_ok=True)
    lines = [json.dumps(event.to_dict()) for event in events]
    (run_dir / "events.jsonl").write_text("".join(line + "\n" for line in lines))
    return run_dir


def follow_all(run_dir: Path, **options) -> tuple[list[Event], object]:
    seen: list[Event] = []
    ending = follow(lambda: run_dir, seen.append, lambda: True, interval=0.01, **options)
    return seen, ending


def test_a_requeued_session_is_held_and_the_next_one_followed(tmp_path: Path) -> None:
    """A job preempted after epoch 1 and requeued: its "stopped" is said as one RunWarning line,
    not passed on as the run's end; the next session's events follow; it ends completed."""
    done = RunFinished("completed", "", 0.1, 0.5, 9.0, time=300.0)
    run_dir = record(
        tmp_path / "r",
        [*session(10.0, [1], stopped(slurm.PREEMPTED, 20.0)), *session(200.0, [2, 3], done)],
    )
    seen, ending = follow_all(run_dir, goes_on=slurm._requeued_line)
    warnings = [e for e in seen if isinstance(e, RunWarning)]
    assert [(w.code, w.message) for w in warnings] == [(REQUEUED, "preempted, requeued")]
    assert [e.status for e in seen if isinstance(e, RunFinished)] == ["completed"]
    assert [e.epoch for e in seen if isinstance(e, EpochEnded)] == [1, 2, 3]
    assert ending.finished is done or ending.finished.status == "completed"


def test_a_held_end_with_no_session_after_it_is_the_runs_end(tmp_path: Path) -> None:
    """The job was cancelled while pending after its requeue: the held "stopped" is the end."""
    run_dir = record(tmp_path / "r", session(10.0, [1], stopped(slurm.TIME_LIMIT, 20.0)))
    seen, ending = follow_all(run_dir, goes_on=slurm._requeued_line)
    assert isinstance(seen[-1], RunFinished) and seen[-1].stopped_by == slurm.TIME_LIMIT
    assert [e.message for e in seen if isinstance(e, RunWarning)] == [
        "time limit reached, requeued"
    ]
    assert ending.status == "stopped"


def test_since_and_latest_keep_only_the_sessions_asked_for(tmp_path: Path) -> None:
    """A resumed run's file holds every session: ``since`` keeps the sessions this command
    started, ``latest`` the one a watcher attaches to; a session with no end is interrupted."""
    run_dir = record(
        tmp_path / "r",
        [*session(10.0, [1], stopped("user", 20.0)), *session(200.0, [2], None)],
    )
    for options in ({"since": 100.0}, {"latest": True}):
        seen, ending = follow_all(run_dir, **options)
        assert [e.epoch for e in seen if isinstance(e, EpochEnded)] == [2], options
        assert not any(isinstance(e, RunFinished) for e in seen)
        assert ending.finished is None and ending.status == "interrupted" and ending.started
    seen, _ = follow_all(run_dir)
    assert [e.epoch for e in seen if isinstance(e, EpochEnded)] == [1, 2]


def test_a_run_that_never_opened_has_no_status(tmp_path: Path) -> None:
    seen, ending = follow_all(tmp_path / "absent")
    assert seen == [] and ending.status == "" and not ending.opened


# --- the protocol --------------------------------------------------------------------------------


def test_one_signal_table_both_ways() -> None:
    for signum, by in protocol.STOPPERS.items():
        assert protocol.signal_for(by) == signum
    assert protocol.signal_for("SIGINT") == signal.SIGINT
    assert protocol.signal_for(PRUNER) == signal.SIGUSR2
    assert protocol.signal_for("something else") == signal.SIGINT


def test_the_note_and_the_command_lines(tmp_path: Path) -> None:
    note = tmp_path / "note.run"
    assert protocol.read_note(note) is None and protocol.read_note(None) is None
    protocol.write_note(note, tmp_path / "run dir")
    assert protocol.read_note(note) == tmp_path / "run dir"
    argv = protocol.run_argv(resume=Path("r"), runs_dir=Path("runs"))
    assert argv == [sys.executable, "-m", "tui.cli.main", "--resume", "r", "--runs-dir", "runs",
                    "--plain"]  # fmt: skip
    assert protocol.error_line("x\ncifar-tui: error: no data\n") == "no data"
    assert protocol.error_line("Traceback") is None


# --- a Slurm job's view of its signals ----------------------------------------------------------


def shown(state: str, restarts: str, reason: str) -> dict[str, str]:
    """What ``scontrol show job`` says of a job (the fields the job reads)."""
    return {"JobState": state, "Restarts": restarts, "Reason": reason}


@pytest.mark.parametrize(
    ("fields", "restarts", "epochs", "by"),
    [
        (shown("COMPLETING", "0", "None"), "", 1, slurm.CANCELLED),
        (shown("COMPLETING", "1", "None"), "", 1, slurm.PREEMPTED),
        (shown("COMPLETING", "3", "None"), "3", 0, slurm.CANCELLED),
        (shown("PENDING", "0", "BeginTime"), "", 0, slurm.PREEMPTED),
        (shown("COMPLETING", "0", "TimeLimit"), "", 2, slurm.TIME_LIMIT),
        (shown("COMPLETING", "0", "TimeLimit"), "", 0, slurm.NO_PROGRESS),
        ({}, "", 1, slurm.PREEMPTED),  # Slurm did not answer: keep the run and requeue
    ],
    ids=["scancel", "requeue", "scancel-after-requeues", "pending", "limit", "no-epoch", "silent"],
)  # fmt: skip
def test_a_jobs_sigterm_is_told_apart_by_asking_slurm(
    monkeypatch: pytest.MonkeyPatch, fields: dict, restarts: str, epochs: int, by: str
) -> None:
    """As Slurm 22.05 answers ``scontrol show job`` in the job when SIGTERM comes (seen on the
    cluster: scancel leaves Restarts as it was, scontrol requeue raises it first)."""
    monkeypatch.setenv("SLURM_JOB_ID", "12")
    monkeypatch.setenv("SLURM_RESTART_COUNT", restarts)
    monkeypatch.setattr(slurm, "_scontrol_job", lambda job: fields)
    assert slurm._why_terminated(epochs) == by


def test_off_slurm_a_sigterm_is_a_preemption(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm._why_terminated(0) == slurm.PREEMPTED


def test_a_signal_delay_longer_than_the_limit_is_scaled_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\n[grid]\n"train.epochs" = [1]\n\n[slurm]\ntime_limit = 1\n')
    settings = slurm.read_settings(path)
    assert (settings.signal_delay, settings.scaled) == (15, True)
    assert "the signal 15 s before the limit (scaled to the limit)" in settings.describe()
    assert slurm.read_settings(path, {"time_limit": 10}).signal_delay == 90  # fits: kept
    path.write_text(path.read_text() + "signal_delay = 60\n")
    with pytest.raises(ProfileError) as caught:
        slurm.read_settings(path)
    assert caught.value.key == "slurm.signal_delay" and caught.value.line == 7
    assert "must be less than the time limit (1 min = 60 s), got 60" in str(caught.value)


class FakeJob:
    def __init__(self, folder: Path) -> None:
        self.job_id = "7_0"
        self.paths = type("Paths", (), {"result_pickle": folder / "7_0_result.pkl"})()


def test_a_job_is_over_when_slurm_says_so_never_asking_sacct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    states = iter(["RUNNING", "COMPLETING", "PENDING", "RUNNING", "CANCELLED"])
    monkeypatch.setattr(slurm, "job_state", lambda job_id: next(states))
    monkeypatch.setattr(slurm, "SLURM_POLL_SECONDS", 0.0)
    run = slurm.SlurmRun(None, slurm.SweepJob(str(tmp_path), "n", {}), "slurm")  # type: ignore[arg-type]
    job = FakeJob(tmp_path)
    assert [run._over(job) for _ in range(5)] == [False, False, False, False, True]
    job.paths.result_pickle.write_bytes(b"")
    assert run._over(job)  # its result: over, whatever Slurm says
