"""Words that say what the run did (issue 25): report.md about the run, not its profile; why a
run stopped, wherever its status shows; the device names; the live view's compile note. All on
hand-made events and reports: no Keras, no training."""

from __future__ import annotations

import json
from pathlib import Path

from core import events as ev
from core.format import device_name, device_text, finish_text
from core.profiles import load_profile
from core.status import RunStatus, status_with_cause, stopped_message
from core.storage.recorder import RunRecorder
from core.storage.rundir import load_run

ROOT = Path(__file__).resolve().parents[1]
ENV = {"backend": "tensorflow", "devices": ["CPU:0"], "gpu": False, "python": "3.11"}


def row(epoch: int) -> dict:
    return {"epoch": epoch, "seconds": 1.5, "loss": 2.0, "accuracy": 0.1, "val_loss": 2.5,
            "val_accuracy": 0.09, "lr": 0.001}  # fmt: skip


def started(run_dir: Path, epochs: int) -> ev.RunStarted:
    return ev.RunStarted(str(run_dir), "smoke", epochs, 0, 10, 50, 9, 8, "tensorflow",
                         ["CPU:0"], 500, 100, 100)  # fmt: skip


def stopped_run(tmp_path: Path, by: str, status: RunStatus = RunStatus.STOPPED) -> Path:
    """A 5-epoch smoke run (its profile's description says 3 epochs) that ends after epoch 1."""
    profile = load_profile(ROOT / "profiles" / "smoke.toml", overrides=["train.epochs=5"])
    recorder = RunRecorder.create(tmp_path / "runs", profile, command="cifar-tui --run x")
    run_dir = recorder.run_dir
    recorder(ev.RunOpened(str(run_dir), "smoke", False, ENV, "synthetic (600)"))
    recorder(started(run_dir, 5))
    recorder.save_checkpoint(lambda path: Path(path).write_text("w"), row(1), {"reduce_lr": None})
    recorder(ev.EpochEnded(**row(1)))
    message = stopped_message(by) if status == RunStatus.STOPPED else "pruned at epoch 1"
    recorder(ev.RunFinished(status, message, None, None, 4.0, stopped_by=by))
    recorder.close()
    return run_dir


def test_report_md_describes_the_run_and_says_why_and_how_to_resume(tmp_path: Path) -> None:
    run_dir = stopped_run(tmp_path, "SIGTERM")
    report = json.loads((run_dir / "report.json").read_text())
    assert report["stop"] == {"by": "SIGTERM", "message": stopped_message("SIGTERM")}
    md = (run_dir / "report.md").read_text()
    title, _, under = md.splitlines()[:3]
    assert title == "# Run smoke: stopped"
    assert under == (
        "1 of 5 epochs trained; stopped by SIGTERM (timeout, docker stop, a Slurm time limit)."
    )
    assert "3 epochs" not in md  # the profile's description is not this run
    resume = md.index("## Resume")
    assert md.index(f"cifar-tui --resume {run_dir}", resume) < md.index("## Repeat")


def test_a_completed_report_has_no_resume_section(tmp_path: Path) -> None:
    profile = load_profile(ROOT / "profiles" / "smoke.toml", overrides=["train.epochs=1"])
    recorder = RunRecorder.create(tmp_path / "runs", profile)
    recorder(started(recorder.run_dir, 1))
    recorder(ev.EpochEnded(**row(1)))
    recorder(ev.RunFinished(RunStatus.COMPLETED, "", 2.0, 0.2, 3.0))
    recorder.close()
    md = (recorder.run_dir / "report.md").read_text()
    assert "1 of 1 epochs trained." in md and "## Resume" not in md
    assert "stop" not in json.loads((recorder.run_dir / "report.json").read_text())


def test_who_stopped_a_run_shows_with_its_status(tmp_path: Path) -> None:
    from tui.console.screens.runs import _status

    record = load_run(stopped_run(tmp_path, "SIGHUP"))
    assert record.stopped_by == "SIGHUP"
    assert _status(record) == "■ stopped (SIGHUP)"
    pruned = load_run(stopped_run(tmp_path / "p", "", RunStatus.PRUNED))
    assert json.loads((pruned.path / "report.json").read_text())["stop"]["by"] == "pruner"
    assert pruned.stopped_by == "" and _status(pruned) == "✂ pruned"
    assert status_with_cause("stopped", "SIGUSR1") == "stopped (--stop)"
    assert status_with_cause("completed", "user") == "completed"


def test_stop_messages_name_who_asked() -> None:
    assert stopped_message("user") == "stopped by the user"
    assert stopped_message("") == "stopped by the user"
    # SIGUSR1 comes from --stop or from a console's s on a run it follows: both are named.
    assert "cifar-tui --stop" in stopped_message("SIGUSR1")
    assert "console" in stopped_message("SIGUSR1")
    finished = ev.RunFinished("stopped", stopped_message("SIGTERM"), None, None, 1.0)
    assert finish_text(finished, 2).startswith("Stopped by SIGTERM (timeout")
    pruned = ev.RunFinished("pruned", "pruned at epoch 2: below the median", None, None, 1.0)
    assert finish_text(pruned, 2).endswith("below the median.")  # a full stop before "Report:"


def test_device_names_read_once() -> None:
    assert device_name("CPU:CPU:0") == "CPU:0"  # reports written before the fix
    assert device_name("cpu:cpu") == "CPU"
    assert device_name("GPU:0") == "GPU:0"
    event = ev.RunStarted("r", "n", 1, 0, 1, 1, 1, 1, "tensorflow", ["CPU:CPU:0"], 1, 1, 1)
    assert device_text(event) == "tensorflow on CPU:0"


def test_the_live_view_drops_the_compile_note_after_the_first_epoch() -> None:
    from tui.cli.render import LiveRenderer

    live = LiveRenderer()
    try:
        live(started(Path("runs/x"), 3))
        live(ev.Status("training (the first steps compile the model)"))
        assert "compile" in live.status
        live(ev.EpochEnded(**row(1)))
        assert "compile" not in live.status and live.status.startswith("smoke: tensorflow on")
    finally:
        live.close()
