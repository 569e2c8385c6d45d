"""The run directory's recorder on tiny hand-made events: no Keras, no training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import events as ev
from core.errors import RunDirError
from core.profiles import load_profile, profile_from_dict, read_toml
from core.status import RunStatus
from core.storage.recorder import RunRecorder
from core.storage.rundir import SCHEMA, load_run, read_history

ROOT = Path(__file__).resolve().parents[1]
ENV = {"backend": "tensorflow", "devices": ["CPU:0"], "gpu": False, "python": "3.11"}


def profile():
    return load_profile(ROOT / "profiles" / "smoke.toml", overrides=["train.epochs=3"])


def row(epoch: int) -> dict:
    return {
        "epoch": epoch,
        "seconds": 1.5 + epoch,
        "loss": 2.0 / epoch,
        "accuracy": 0.1 * epoch,
        "val_loss": 2.5 / epoch,
        "val_accuracy": 0.09 * epoch,
        "lr": 0.001,
    }


def started(run_dir: Path, initial_epoch: int = 0) -> ev.RunStarted:
    return ev.RunStarted(str(run_dir), "smoke", 3, initial_epoch, 10, 50, 9, 8, "tensorflow",
                         ["CPU:0"], 500, 100, 100)  # fmt: skip


def save_weights(text: str):
    """A stand-in for ``model.save_weights``: writes ``text`` where it is told."""
    return lambda path: Path(path).write_text(text)


def train(recorder: RunRecorder, epochs: range) -> None:
    """What the engine does for each epoch: save the checkpoint, then announce the epoch."""
    for epoch in epochs:
        recorder.save_checkpoint(save_weights(f"weights {epoch}"), row(epoch), {"reduce_lr": None})
        recorder(ev.EpochEnded(**row(epoch)))


def open_new(tmp_path: Path) -> RunRecorder:
    recorder = RunRecorder.create(tmp_path / "runs", profile(), command="cifar-tui --run x")
    recorder(ev.RunOpened(str(recorder.run_dir), "smoke", False, ENV, "synthetic (600)"))
    recorder(ev.Status("building the model"))
    recorder(ev.ModelBuilt("vgg_small", 9, 8, 1, "Model: vgg_small\n(the layer table)"))
    return recorder


def logged(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_the_files_a_run_leaves_agree_with_each_other(tmp_path):
    recorder = open_new(tmp_path)
    run_dir = recorder.run_dir
    # Written as the directory is made: a run killed from then on reads as a run.
    first = json.loads((run_dir / "report.json").read_text())
    assert first["status"] == "running" and first["epochs"] == []
    assert load_run(run_dir).status == "running" and load_run(run_dir).problems == []
    recorder(ev.RunWarning("no_gpu", "No GPU found"))
    recorder(started(run_dir))
    recorder(ev.BatchProgress(1, 5, 10, 2.0, 0.1, 1.0, 1.0))  # for the fronts only
    train(recorder, range(1, 3))
    summary = ev.ProfilerSummary(12.5, "moderately", "m", [3, 8], 6, True, ["tip"], {"a": 1})
    recorder(summary)
    recorder(ev.RunWarning("no_gpu", "No GPU found"))  # the same warning twice: kept once
    recorder(ev.RunFinished(RunStatus.COMPLETED, "", 0.9, 0.7, 12.0))
    recorder.close()

    history = read_history(run_dir / "history.csv")
    assert history == [row(1), row(2)]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["schema"] == SCHEMA and report["status"] == "completed"
    assert report["epochs"] == history
    assert report["environment"] == ENV and report["data"] == "synthetic (600)"
    assert report["model"] == {
        "name": "vgg_small",
        "params_total": 9,
        "params_trainable": 8,
        "params_non_trainable": 1,
    }
    assert report["test"] == {"loss": 0.9, "accuracy": 0.7}
    assert report["timing"] == {
        "total_seconds": 12.0,
        "first_epoch_seconds": 2.5,
        "median_epoch_seconds": 3.5,
    }
    assert report["input_pipeline"]["input_bound_percent"] == 12.5
    assert report["input_pipeline"]["details"] == {"a": 1}
    assert report["warnings"] == [{"code": "no_gpu", "message": "No GPU found"}]
    assert report["resumed"] == [] and report["command"] == "cifar-tui --run x"
    assert "error" not in report
    assert "# Run smoke: completed" in (run_dir / "report.md").read_text()
    assert (run_dir / "model_summary.txt").read_text() == "Model: vgg_small\n(the layer table)\n"
    assert profile_from_dict(read_toml(run_dir / "profile.toml").raw) == profile()
    # Every event but progress is logged, in order, and reads back as the event it was.
    types = [e["type"] for e in logged(run_dir)]
    assert types == [
        "run_opened",
        "status",
        "model_built",
        "warning",
        "run_started",
        "epoch_ended",
        "epoch_ended",
        "profiler_summary",
        "warning",
        "run_finished",
    ]
    epochs = [ev.from_dict(e) for e in logged(run_dir) if e["type"] == "epoch_ended"]
    assert epochs == [ev.EpochEnded(**row(e), time=epochs[e - 1].time) for e in (1, 2)]
    # The checkpoint: the last two epochs' weights, and a state that names them.
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert state == {
        "epoch": 2,
        "weights": "epoch-0002.weights.h5",
        "row": row(2),
        "reduce_lr": None,
        "previous": {
            "epoch": 1,
            "weights": "epoch-0001.weights.h5",
            "row": row(1),
            "reduce_lr": None,
        },
    }
    assert sorted(p.name for p in (run_dir / "checkpoint").iterdir()) == [
        "epoch-0001.weights.h5",
        "epoch-0002.weights.h5",
        "state.json",
    ]
    assert load_run(run_dir).status == "completed"


def test_a_reopened_recorder_continues_the_run(tmp_path):
    first = open_new(tmp_path)
    run_dir = first.run_dir
    first(started(run_dir))
    train(first, range(1, 2))
    first(ev.RunFinished(RunStatus.STOPPED, "stopped by the user", None, None, 4.0))
    first.close()
    assert load_run(run_dir).status == "stopped"

    again = RunRecorder.reopen(run_dir)
    assert again.resumed and again.earlier_seconds == 4.0
    again(ev.RunOpened(str(run_dir), "smoke", True, ENV, "synthetic (600)"))
    loaded: list[str] = []
    state = again.restore(lambda path: loaded.append(Path(path).read_text()))
    assert loaded == ["weights 1"] and state is not None and state["epoch"] == 1
    again(started(run_dir, initial_epoch=1))
    assert load_run(run_dir).report["status"] == "running"
    train(again, range(2, 4))
    again(ev.RunFinished(RunStatus.COMPLETED, "", 0.8, 0.75, 9.0))
    again.close()

    record = load_run(run_dir)
    assert record.status == "completed"
    assert [e["epoch"] for e in record.epochs] == [1, 2, 3]
    assert read_history(run_dir / "history.csv") == [row(1), row(2), row(3)]
    assert record.report["epochs"] == [row(1), row(2), row(3)]
    assert [r["from_epoch"] for r in record.report["resumed"]] == [1]
    assert record.report["test"] == {"loss": 0.8, "accuracy": 0.75}
    types = [e["type"] for e in logged(run_dir)]
    assert types.count("run_opened") == 2 and types.count("epoch_ended") == 3
    assert types.count("run_finished") == 2


def test_a_kill_between_checkpoint_and_history_is_repaired_on_reopen(tmp_path):
    """Epoch 2's checkpoint was saved, then the process died before its history row: the
    reopened recorder takes the row from state.json, so the epoch is neither lost nor run
    twice. A history row past the checkpoint (impossible today) is dropped the same way."""
    first = open_new(tmp_path)
    run_dir = first.run_dir
    first(started(run_dir))
    train(first, range(1, 2))
    first.save_checkpoint(save_weights("weights 2"), row(2), {"reduce_lr": None})
    first.close()  # killed: no EpochEnded for epoch 2, no RunFinished
    assert [r["epoch"] for r in read_history(run_dir / "history.csv")] == [1]
    assert load_run(run_dir).status == "interrupted"

    again = RunRecorder.reopen(run_dir)
    state = again.restore(lambda path: None)
    assert state is not None and state["epoch"] == 2
    assert read_history(run_dir / "history.csv") == [row(1), row(2)]
    assert again.epochs == [row(1), row(2)]
    # No total was written: the time before is the epochs read back, fixed at reopening.
    assert again.earlier_seconds == row(1)["seconds"]
    again(started(run_dir, initial_epoch=2))
    train(again, range(3, 4))
    assert again.earlier_seconds == row(1)["seconds"]
    again.close()


def test_a_failure_keeps_its_error_and_a_resume_clears_it(tmp_path):
    first = open_new(tmp_path)
    run_dir = first.run_dir
    first(started(run_dir))
    first(
        ev.RunFinished(
            RunStatus.FAILED, "OSError: disk", None, None, 1.0, error_type="OSError", traceback="tb"
        )
    )
    first.close()
    report = load_run(run_dir).report
    assert report["status"] == "failed" and report["test"] is None
    assert report["error"] == {"type": "OSError", "message": "OSError: disk", "traceback": "tb"}

    again = RunRecorder.reopen(run_dir)
    assert "error" not in again.report and again.report["status"] == "running"
    again(ev.RunFinished(RunStatus.DIVERGED, "Diverged: nan", None, None, 2.0))
    again.close()
    assert load_run(run_dir).report["error"] == {"type": "diverged", "message": "Diverged: nan"}


def test_a_run_directory_is_recorded_by_one_process_at_a_time(tmp_path):
    recorder = open_new(tmp_path)
    recorder(started(recorder.run_dir))
    with pytest.raises(RunDirError, match="being trained by another process"):
        RunRecorder.reopen(recorder.run_dir)
    recorder.close()
    RunRecorder.reopen(recorder.run_dir).close()  # free again once closed


def test_events_without_the_newer_fields_still_read():
    """events.jsonl written before a field existed: the field takes its default."""
    opened = ev.from_dict({"type": "run_opened", "time": 1.0, "run_dir": "r", "name": "n",
                           "resumed": False})  # fmt: skip
    assert opened.environment == {} and opened.data == ""
    record = started(Path("r")).to_dict()
    del record["history"]
    assert ev.from_dict(record).history == []
    done = ev.from_dict({"type": "run_finished", "time": 1.0, "status": "completed",
                         "message": "", "test_loss": None, "test_accuracy": None,
                         "total_seconds": 1.0})  # fmt: skip
    assert done.error_type == "" and done.traceback == ""
