"""The training engine on tiny synthetic data: the run directory, stop, resume and the guards."""

from __future__ import annotations

import csv
import json
import math
import threading
from pathlib import Path

import pytest
from helpers import SHARED_SMOKE, assert_progress_shows_each_epoch_complete

from core import events as ev
from core.errors import RunDirError
from core.profiles import load_profile, profile_from_dict, read_toml
from core.storage.rundir import SCHEMA, load_run, read_history
from core.training.engine import Run

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "profiles" / "smoke.toml"
# Batch 50 pinned: the tests count steps (4 per epoch here), whatever the shipped profile says.
# The same overrides as the session's shared completed run (conftest.py's completed_run).
FAST = list(SHARED_SMOKE)


def smoke(*overrides: str):
    return load_profile(SMOKE, overrides=[*FAST, *overrides])


def collect(run_list: list) -> callable:
    def sink(event):
        run_list.append(event)

    return sink


@pytest.fixture
def finished(completed_run):
    """The session's completed two-epoch smoke run (conftest.py), read by the file-content
    tests: its status, directory and the events its listener got."""
    return completed_run.status, completed_run.run_dir, list(completed_run.events)


@pytest.mark.slow
def test_run_completes_and_events_arrive_in_order(finished):
    status, _run_dir, seen = finished
    assert status == "completed"
    kinds = [e.type for e in seen]
    assert kinds.index("run_started") < kinds.index("epoch_ended") < kinds.index("run_finished")
    assert kinds.count("epoch_ended") == 2
    assert kinds[-1] == "run_finished"
    assert "profiler_summary" in kinds
    progress = [e for e in seen if isinstance(e, ev.BatchProgress)]
    assert progress, "batch progress reaches the front"
    assert_progress_shows_each_epoch_complete(progress, epochs=2)


@pytest.mark.slow
def test_run_directory_files_agree(finished):
    _, run_dir, _seen = finished
    for name in (
        "profile.toml",
        "events.jsonl",
        "history.csv",
        "report.json",
        "report.md",
        "model_summary.txt",
    ):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "report.json").read_text())
    assert report["schema"] == SCHEMA
    assert report["status"] == "completed"
    assert report["model"] == {
        "name": "vgg_small",
        "params_total": 552_874,
        "params_trainable": 551_722,
        "params_non_trainable": 1_152,
    }
    env = report["environment"]
    for key in ("python", "tensorflow", "keras", "backend", "devices", "cpu_count"):
        assert env[key], key
    # history.csv, report.json and the events all hold the same two epochs.
    history = read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2]
    assert report["epochs"] == history
    logged = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    epoch_events = [e for e in logged if e["type"] == "epoch_ended"]
    assert [{k: e[k] for k in history[0]} for e in epoch_events] == history
    for row in history:
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["val_accuracy"] <= 1.0
        assert row["seconds"] > 0 and row["lr"] == pytest.approx(0.001)
    assert 0.0 <= report["test"]["accuracy"] <= 1.0
    finished_event = next(e for e in logged if e["type"] == "run_finished")
    assert finished_event["test_accuracy"] == report["test"]["accuracy"]
    timing = report["timing"]
    assert timing["first_epoch_seconds"] == pytest.approx(history[0]["seconds"], abs=1e-3)
    assert timing["median_epoch_seconds"] == pytest.approx(history[1]["seconds"], abs=1e-3)
    assert timing["total_seconds"] >= sum(r["seconds"] for r in history)
    built = next(e for e in logged if e["type"] == "model_built")
    assert (run_dir / "model_summary.txt").read_text() == built["summary"] + "\n"
    assert [ev.from_dict(e).type for e in logged] == [e["type"] for e in logged]
    # The profiler's figures are the same in the events and the report.
    summary = next(e for e in logged if e["type"] == "profiler_summary")
    assert report["input_pipeline"]["input_bound_percent"] == summary["input_bound_percent"]
    assert report["input_pipeline"]["verdict"] == summary["verdict"]


@pytest.mark.slow
def test_saved_profile_repeats_the_run(finished):
    _, run_dir, _ = finished
    again = profile_from_dict(read_toml(run_dir / "profile.toml").raw)
    assert again == smoke()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["command"] == f"cifar-tui --run {run_dir / 'profile.toml'}"


@pytest.mark.slow
def test_report_md_and_summary(finished):
    _, run_dir, _ = finished
    md = (run_dir / "report.md").read_text()
    assert "# Run smoke: completed" in md
    assert "| 2 |" in md  # the epoch table
    assert "Model accuracy" in md and "Model loss" in md
    assert "\x1b" not in md  # plots as plain text
    assert "input-bound" in md
    assert f"cifar-tui --run {run_dir / 'profile.toml'}" in md
    assert "552,874" in (run_dir / "model_summary.txt").read_text()


@pytest.mark.slow
def test_tensorboard_logs_load_with_tensorboard(finished):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    _, run_dir, _ = finished
    for split, tags in (
        ("train", {"epoch_accuracy", "epoch_loss"}),
        ("validation", {"epoch_accuracy", "epoch_loss"}),
    ):
        acc = event_accumulator.EventAccumulator(
            str(run_dir / "tensorboard" / split), size_guidance={event_accumulator.TENSORS: 0}
        )
        acc.Reload()
        assert tags <= set(acc.Tags()["tensors"]), acc.Tags()
        steps = [t.step for t in acc.Tensors("epoch_loss")]
        assert steps == [0, 1]


@pytest.mark.slow
def test_stop_from_another_thread_mid_epoch_then_resume(tmp_path, monkeypatch):
    """Another thread asks to stop while epoch 2 trains (at its 4th batch of 25, from a batch
    hook, so no timing decides where): epoch 2 is thrown away, and the resumed run trains
    epochs 2 and 3, every epoch once, from RunStarted's history on."""
    from core.training.callbacks import EngineCallback

    profile = smoke("train.epochs=3", "data.synthetic_train=600", "train.batch_size=20")
    holder: dict = {}
    begin = EngineCallback.on_train_batch_begin

    def stop_at_epoch_2_batch_3(self, batch, logs=None):
        if self.epoch == 2 and batch == 3:
            asker = threading.Thread(target=holder["run"].request_stop)
            asker.start()
            asker.join()
        return begin(self, batch, logs)

    monkeypatch.setattr(EngineCallback, "on_train_batch_begin", stop_at_epoch_2_batch_3)
    seen: list = []
    run = Run(profile, tmp_path, collect(seen))
    holder["run"] = run
    worker_result: dict = {}
    worker = threading.Thread(target=lambda: worker_result.update(status=run.execute()))
    worker.start()
    worker.join(timeout=300)
    assert worker_result["status"] == "stopped"
    trained = [(e.epoch, e.step) for e in seen if isinstance(e, ev.BatchProgress)]
    assert max((step for epoch, step in trained if epoch == 2), default=0) <= 3
    record = load_run(run.run_dir)
    assert record.status == "stopped"
    assert [e["epoch"] for e in record.epochs] == [1], "the partial epoch is not recorded"
    assert seen[-1].status == "stopped"
    monkeypatch.undo()

    resumed_events: list = []
    again = Run.resume(run.run_dir, collect(resumed_events))
    assert again.execute() == "completed"
    started = next(e for e in resumed_events if isinstance(e, ev.RunStarted))
    assert started.initial_epoch == 1
    assert started.history == record.epochs  # the front needs not read history.csv
    ended = [e.epoch for e in resumed_events if isinstance(e, ev.EpochEnded)]
    assert ended == [2, 3]
    record = load_run(run.run_dir)
    assert record.status == "completed"
    assert [e["epoch"] for e in record.epochs] == [1, 2, 3]
    with open(run.run_dir / "history.csv") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2, 3]
    assert record.report["resumed"][0]["from_epoch"] == 1


@pytest.mark.slow
def test_stop_after_an_epochs_last_step_keeps_that_epoch(tmp_path):
    """A stop that arrives once an epoch has trained (here: at its steps/steps progress, while
    it validates) stops before the next epoch, with the finished one saved, not thrown away."""
    seen: list = []
    holder: dict = {}

    def sink(event):
        seen.append(event)
        if isinstance(event, ev.BatchProgress) and event.step == event.steps:
            holder["run"].request_stop()

    run = Run(smoke("train.epochs=3"), tmp_path, sink)
    holder["run"] = run
    assert run.execute() == "stopped"
    record = load_run(run.run_dir)
    assert [e["epoch"] for e in record.epochs] == [1]
    state = json.loads((run.run_dir / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1


@pytest.mark.slow
def test_steps_per_execution_counts_batches_on_tensorflow(tmp_path):
    """Keras runs 3 steps per call (4 calls for 10 batches, the last one short): events and the
    profiler still count batches, and never past the epoch."""
    seen: list = []
    profile = smoke(
        "train.epochs=1",
        "data.synthetic_train=600",
        "train.steps_per_execution=3",
        "profiler.batches=[2, 7]",
    )
    run = Run(profile, tmp_path, collect(seen))
    assert run.execute() == "completed"
    progress = [e for e in seen if isinstance(e, ev.BatchProgress)]
    assert_progress_shows_each_epoch_complete(progress, epochs=1)
    pipe = run.report["input_pipeline"]
    # Calls train batches 1-3, 4-6, 7-9 and 10; an epoch's first call has no cycle to time,
    # so the window 2-7 is measured over batches 4-7.
    assert pipe["complete"] is True and pipe["batches_measured"] == 4, pipe
    assert pipe["details"]["measured_batches"] == [4, 7]
    assert not any(w["code"] == "window_incomplete" for w in run.report["warnings"])


@pytest.mark.slow
def test_completed_run_cannot_be_resumed(finished):
    _, run_dir, _ = finished
    with pytest.raises(RunDirError, match="already completed"):
        Run.resume(run_dir)


# A NaN loss ending the run as diverged: tests/test_cli_run.py's diverged run (the same
# profile and settings) checks the report's status and message beside the exit code.


@pytest.mark.slow
def test_a_crash_inside_fit_is_recorded_as_failed(tmp_path):
    """A listener that breaks at epoch 1's end crashes fit: the run ends "failed" with the
    exception's class and traceback in the report, and epoch 1, saved before it, is kept."""
    seen: list = []

    def breaks_at_the_first_epoch(event):
        seen.append(event)
        if isinstance(event, ev.EpochEnded):
            raise RuntimeError("the sink broke")

    run = Run(smoke(), tmp_path, breaks_at_the_first_epoch)
    assert run.execute() == "failed"
    assert seen[-1].status == "failed" and seen[-1].error_type == "RuntimeError"
    record = load_run(run.run_dir)
    assert record.status == "failed"
    error = record.report["error"]
    assert error["type"] == "RuntimeError"
    assert error["message"] == "RuntimeError: the sink broke"
    assert "breaks_at_the_first_epoch" in error["traceback"]
    assert [e["epoch"] for e in record.epochs] == [1]
    assert read_history(run.run_dir / "history.csv") == record.epochs


def bare_callback(emit=lambda event: None, window=(3, 8)):
    """The engine's callback on a stand-in run, its fit begun: hooks can be called by hand."""
    from core.training.callbacks import EngineCallback
    from core.training.profiler import InputProfiler

    class FakeRun:
        stop_requested = False
        profile = smoke()

    class Clock:
        def pop_all(self):
            return []

    run = FakeRun()
    run.emit = emit
    cb = EngineCallback(
        run, steps=10, clock=Clock(), profiler=InputProfiler(*window), num_classes=10
    )
    cb.on_train_begin()
    return cb


def test_nan_training_loss_names_epoch_and_batch():
    from core.training.callbacks import Diverged

    cb = bare_callback()
    cb.on_epoch_begin(1)
    cb.on_train_batch_begin(0)
    cb.on_train_batch_end(0, {"loss": 2.0, "accuracy": 0.1})
    cb.on_train_batch_begin(1)
    # The end hook may run on Keras's callback pool: it records, and fit's thread raises.
    cb.on_train_batch_end(1, {"loss": float("nan"), "accuracy": 0.1})
    cb.on_train_batch_end(2, {"loss": float("nan"), "accuracy": 0.1})
    with pytest.raises(Diverged, match="loss became nan at epoch 2, batch 2"):
        cb.on_train_batch_begin(3)


def test_steps_delivered_after_fit_was_left_send_nothing():
    """Keras's callback pool can deliver steps after a stop or a divergence has left fit;
    once the engine closes the callback they send no progress, yet still count as arrived."""
    sent: list = []
    cb = bare_callback(sent.append, window=(30, 40))
    cb.on_epoch_begin(0)
    cb.on_train_batch_end(0, {"loss": 2.0, "accuracy": 0.1})
    assert [e.step for e in sent] == [1]
    cb.close()
    cb.last_progress = float("-inf")  # as if long enough had passed to send again
    cb.on_train_batch_end(1, {"loss": 1.9, "accuracy": 0.2})
    assert [e.step for e in sent] == [1]
    assert cb.done == 1 and cb.error is None


def test_a_failure_in_the_batch_end_hook_is_raised_in_fits_thread():
    """The hook may run on Keras's pool: a failure there (a sink that breaks) must neither hang
    the next step's wait nor vanish; fit's thread raises it at the next step."""

    def broken_sink(event):
        raise RuntimeError("the sink broke")

    cb = bare_callback(broken_sink)
    cb.on_epoch_begin(0)
    cb.on_train_batch_begin(0)
    cb.on_train_batch_end(0, {"loss": 2.0, "accuracy": 0.1})  # does not raise here
    assert cb.done == 0
    with pytest.raises(RuntimeError, match="the sink broke"):
        cb.on_train_batch_begin(1)  # inside the window: it waited for batch 0, then raised


def test_not_learning_warning():
    """The guard itself, fed an epoch whose loss sits at ln(10), the chance level: each epoch
    is announced, and the one within NOT_LEARNING_TOLERANCE of chance is warned about."""
    from core.training.callbacks import NOT_LEARNING_TOLERANCE, EngineCallback

    sent: list = []
    warned: list = []

    class FakeRun:
        emit = sent.append

        def warn(self, code, message):
            warned.append((code, message))

    cb = EngineCallback(FakeRun(), steps=10, clock=None, profiler=None, num_classes=10)
    row = dict.fromkeys(("seconds", "accuracy", "val_loss", "val_accuracy", "lr"), 0.1)
    inside = math.log(10) * (1 + NOT_LEARNING_TOLERANCE * 0.9)
    outside = math.log(10) * (1 + NOT_LEARNING_TOLERANCE * 1.1)
    for epoch, loss in enumerate((inside, outside, 1.5), start=1):
        cb.commit_epoch({**row, "epoch": epoch, "loss": loss})
    assert [e.epoch for e in sent] == [1, 2, 3]
    assert [code for code, _ in warned] == ["not_learning"]
    assert "epoch 1" in warned[0][1] and "2.303" in warned[0][1] and "1%" in warned[0][1]


def test_unwritable_runs_dir_fails_before_anything_is_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(RunDirError, match="cannot write runs"):
        Run(smoke(), blocker / "runs").execute()


def test_full_disk_fails_before_anything_is_written(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
    runs = tmp_path / "runs"
    with pytest.raises(RunDirError, match="not enough free disk space"):
        Run(smoke(), runs).execute()
    assert list(runs.iterdir()) == []


MINI = ROOT.parent / "shared" / "data" / "cifar10-mini"


@pytest.mark.slow
@pytest.mark.skipif(not MINI.is_dir(), reason=f"no CIFAR-10 sample at {MINI}")
def test_resume_refuses_other_data_than_the_run_started_with(tmp_path, monkeypatch):
    """The saved profile says cifar10 either way: the report's data line tells which copy."""
    import shutil

    from core.errors import DataError

    monkeypatch.setenv("CIFAR_TUI_CIFAR10", str(MINI))
    profile = load_profile(
        ROOT / "profiles" / "vgg_small.toml",
        overrides=["data.limit=400", "data.validation_size=100", "train.epochs=2"],
    )
    holder: dict = {}

    def stop_after_epoch_1(event):
        if isinstance(event, ev.EpochEnded):
            holder["run"].request_stop()

    run = Run(profile, tmp_path / "runs", stop_after_epoch_1)
    holder["run"] = run
    assert run.execute() == "stopped"
    assert str(MINI.resolve()) in run.report["data"]
    other = tmp_path / "other-copy"
    shutil.copytree(MINI, other)
    monkeypatch.setenv("CIFAR_TUI_CIFAR10", str(other))
    with pytest.raises(DataError, match=r"trained on .*same \$CIFAR_TUI_CIFAR10"):
        Run.resume(run.run_dir).execute()
    assert load_run(run.run_dir).status == "stopped"  # untouched
