"""The fault catalogue: what breaks, and what the user must see then (data folders: see
tests/test_faults_data.py). Each table is a ``parametrize`` whose ids read as the fault.

- Damaged run directories (DAMAGE): every reader (load_run for the runs screen and the report
  view, list_runs, --compare) shows the run, damaged, with the reason; the intact run beside it
  is still listed. RESUMES: --resume rebuilds the files from what still reads.
- A full disk (FULL_DISK, and two engine runs): one line "disk full while saving ...: N MB free
  on PATH", the run "failed" when its report still fits, no temporary file, every earlier epoch
  intact and resumable.
- Kills at chosen moments (KILLS): a subprocess dies (os._exit) at a named point, the first
  milliseconds included; the run reads as interrupted and --resume finishes it with every epoch
  once in every file.
- Divergence that stays finite, and errors that name what failed.

Most rows need no training: the recorder is fed the engine's events by hand, with text files
standing in for the weights. Rows that train are marked slow.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import REPO

from core import events as ev
from core.compare import Comparison, collect
from core.errors import EXIT_FAILED, CifarTuiError, RunDirError
from core.profiles import load_profile
from core.status import RunStatus
from core.storage import checkpoint, rundir
from core.storage.recorder import RunRecorder
from core.storage.report import render_markdown
from core.storage.rundir import DiskFull, list_runs, load_run, read_events, read_history

SMOKE = REPO / "profiles" / "smoke.toml"
ENV = {"backend": "tensorflow", "devices": ["CPU:0"], "gpu": False, "python": "3.11"}
EPOCHS = 3


# -- a run made by hand: the recorder fed the engine's events -------------------------------------


def profile():
    return load_profile(SMOKE, overrides=[f"train.epochs={EPOCHS}"])


def row(epoch: int) -> dict:
    return {"epoch": epoch, "seconds": 1.0 + epoch, "loss": 2.0 / epoch, "accuracy": 0.1 * epoch,
            "val_loss": 2.5 / epoch, "val_accuracy": 0.09 * epoch, "lr": 0.001}  # fmt: skip


def started(run_dir: Path, initial_epoch: int = 0) -> ev.RunStarted:
    return ev.RunStarted(str(run_dir), "smoke", EPOCHS, initial_epoch, 10, 50, 9, 8, "tensorflow",
                         ["CPU:0"], 500, 100, 100)  # fmt: skip


def save(text: str) -> Callable[[Path], None]:
    return lambda path: Path(path).write_text(text)


def load(path: Path) -> None:
    """model.load_weights' stand-in: a weights file that is not whole does not load."""
    if not Path(path).read_text().startswith("weights "):
        raise OSError(f"Unable to open file (truncated file: {path})")


def train(recorder: RunRecorder, epochs: range) -> None:
    for epoch in epochs:
        recorder.save_checkpoint(save(f"weights {epoch}"), row(epoch), {"reduce_lr": None})
        recorder(ev.EpochEnded(**row(epoch)))


def stopped_run(runs: Path, epochs: int = 2, status: str = RunStatus.STOPPED) -> Path:
    """A run that finished ``epochs`` epochs of EPOCHS and ended with ``status``."""
    recorder = RunRecorder.create(runs, profile(), command="cifar-tui --run x")
    recorder(ev.RunOpened(str(recorder.run_dir), "smoke", False, ENV, "synthetic (600)"))
    recorder(ev.ModelBuilt("vgg_small", 9, 8, 1, "the layer table"))
    recorder(started(recorder.run_dir))
    train(recorder, range(1, epochs + 1))
    message = "stopped by the user" if status == RunStatus.STOPPED else "the loss became nan"
    recorder(ev.RunFinished(status, message, None, None, 5.0))
    recorder.close()
    return recorder.run_dir


def resume_by_hand(run_dir: Path) -> RunRecorder:
    """What ``Run.resume(run_dir).execute()`` does to the files, to the end of the run."""
    recorder = RunRecorder.reopen(run_dir)
    recorder(ev.RunOpened(str(run_dir), "smoke", True, ENV, "synthetic (600)"))
    state = recorder.restore(load)
    done = state["epoch"] if state else 0
    for note in recorder.notes:
        recorder(ev.RunWarning("checkpoint", note))
    recorder(started(run_dir, done))
    train(recorder, range(done + 1, EPOCHS + 1))
    recorder(ev.RunFinished(RunStatus.COMPLETED, "", 0.9, 0.7, 9.0))
    recorder.close()
    return recorder


def epoch_ended(run_dir: Path) -> list[int]:
    return [e["epoch"] for e in read_events(run_dir / "events.jsonl") if e["type"] == "epoch_ended"]


def assert_every_epoch_once(run_dir: Path, epochs: int = EPOCHS) -> None:
    """history.csv, report.json and events.jsonl each hold every finished epoch, once."""
    want = list(range(1, epochs + 1))
    assert [r["epoch"] for r in read_history(run_dir / "history.csv")] == want
    report = json.loads((run_dir / "report.json").read_text())
    assert [r["epoch"] for r in report["epochs"]] == want
    assert sorted(epoch_ended(run_dir)) == want


# -- damaged run directories -------------------------------------------------------------------


def write(name: str, text: str) -> Callable[[Path], None]:
    return lambda run_dir: (run_dir / name).write_text(text)


def set_fields(**fields) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        report = json.loads((run_dir / "report.json").read_text())
        (run_dir / "report.json").write_text(json.dumps({**report, **fields}))

    return damage


def remove(name: str) -> Callable[[Path], None]:
    return lambda run_dir: (run_dir / name).unlink()


def tear(name: str, keep: float = 0.5) -> Callable[[Path], None]:
    """Cut ``name`` short mid-line, as a kill or a full disk does."""

    def damage(run_dir: Path) -> None:
        data = (run_dir / name).read_bytes()
        (run_dir / name).write_bytes(data[: int(len(data) * keep)].rstrip(b"\n") + b', "x')

    return damage


def append(name: str, text: str) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        with open(run_dir / name, "a") as fh:
            fh.write(text)

    return damage


def nothing_but_the_lock(run_dir: Path) -> None:
    """Killed between the directory's lock and its profile: only ``.lock`` is left."""
    for child in run_dir.rglob("*"):
        if child.is_file() and child.name != ".lock":
            child.unlink()


GARBAGE_ROWS = "3,x,y,z,,,\nnot,a,row\n"

DAMAGE = [  # (damage, status the readers show, words of the reason)
    pytest.param(write("report.json", '{"status": "stop'), "interrupted", "not valid JSON",
                 id="report.json cut short"),
    pytest.param(remove("report.json"), "interrupted", "no report.json", id="report.json missing"),
    pytest.param(write("report.json", "[1, 2]"), "interrupted", "holds a list",
                 id="report.json a list"),
    pytest.param(write("report.json", "null"), "interrupted", "holds null",
                 id="report.json null"),
    pytest.param(set_fields(model=[], test="high", warnings={"a": 1}, epochs="two", timing=5),
                 "stopped", "report.json's model is a list", id="report.json fields of wrong type"),
    pytest.param(set_fields(status="banana"), "interrupted", "status is 'banana'",
                 id="report.json unknown status"),
    pytest.param(tear("events.jsonl"), "stopped", "events.jsonl's last line is cut short",
                 id="events.jsonl torn last line"),
    pytest.param(append("history.csv", GARBAGE_ROWS), "stopped", "2 unreadable line(s)",
                 id="history.csv garbage rows"),
    pytest.param(tear("checkpoint/state.json"), "stopped", "state.json is not valid JSON",
                 id="checkpoint state.json torn"),
    pytest.param(remove("checkpoint/epoch-0002.weights.h5"), "stopped", "is missing",
                 id="checkpoint weights missing"),
    pytest.param(nothing_but_the_lock, "interrupted", "profile.toml: no such file",
                 id="killed before its profile: only .lock"),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "status", "reason"), DAMAGE)
def test_a_damaged_run_directory_reads_as_a_run_with_its_reason(tmp_path, damage, status, reason):
    runs = tmp_path / "runs"
    intact, damaged = stopped_run(runs), stopped_run(runs)
    damage(damaged)

    record = load_run(damaged)
    assert record.status == status and reason in record.damage, record.problems
    assert [w for w in record.report["warnings"] if w["code"] == rundir.DAMAGED]
    # The runs screen: both runs listed, the damaged one with its reason.
    listed = {r.path: r for r in list_runs(runs)}
    assert set(listed) == {intact, damaged} and not listed[intact].problems
    assert reason in listed[damaged].damage
    # The report view: its Markdown, with the status a reader derives and the reason.
    text = render_markdown({**record.report, "status": record.status, "epochs": record.epochs})
    assert f": {status}" in text and "Damaged run directory" in text
    # --compare: a row for each, the damaged one marked, its reason in a note.
    comparison = Comparison.of(collect([intact, damaged]))
    shown = f"{status} (user)" if status == RunStatus.STOPPED else status  # who stopped it
    assert comparison.rows[1].status == f"{shown}, damaged"
    assert reason in comparison.notes()[0]
    assert "## Damaged runs" in comparison.to_markdown()


def test_a_run_directory_unreadable_in_an_unforeseen_way_never_hides_the_others(
    tmp_path, monkeypatch
):
    runs = tmp_path / "runs"
    first, second = stopped_run(runs), stopped_run(runs)
    real = rundir.scan_history

    def broken(path):
        if path.parent == first:
            raise RuntimeError("a reader bug")
        return real(path)

    monkeypatch.setattr(rundir, "scan_history", broken)
    listed = {r.path: r for r in list_runs(runs)}
    assert set(listed) == {first, second}
    assert "a reader bug" in listed[first].damage


# -- resuming a damaged run ----------------------------------------------------------------------


def report_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


RESUMES = [  # (damage, what the resume must leave besides every epoch once in every file)
    pytest.param(write("report.json", "{"), None, id="report.json cut short: rebuilt"),
    pytest.param(write("report.json", "[]"), None, id="report.json a list: rebuilt"),
    pytest.param(remove("report.json"), None, id="report.json missing: rebuilt"),
    pytest.param(set_fields(warnings="x", model=3), None, id="report.json wrong types: rebuilt"),
    pytest.param(remove("history.csv"), None, id="history.csv lost: rebuilt from report.json"),
    pytest.param(append("history.csv", GARBAGE_ROWS), None,
                 id="history.csv garbage: rewritten without it"),
    pytest.param(tear("events.jsonl"), None, id="events.jsonl torn: new events on a fresh line"),
    pytest.param(tear("checkpoint/state.json"), "resumed from the newest weights file",
                 id="state.json torn: newest weights that load"),
    pytest.param(write("checkpoint/epoch-0002.weights.h5", "\x89HDF\r\n"),
                 "resumed from epoch 1's checkpoint instead",
                 id="latest weights truncated: the previous epoch's, one epoch lost"),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "warning"), RESUMES)
def test_resume_rebuilds_a_damaged_run_directory(tmp_path, damage, warning):
    from core.training.engine import Run

    run_dir = stopped_run(tmp_path / "runs")
    damage(run_dir)
    Run.resume(run_dir)  # the checks before training accept it
    recorder = resume_by_hand(run_dir)

    report = report_of(run_dir)
    assert [r["epoch"] for r in report["epochs"]] == [1, 2, 3]
    assert [r["epoch"] for r in read_history(run_dir / "history.csv")] == [1, 2, 3]
    assert sorted(set(epoch_ended(run_dir))) == [1, 2, 3]
    if warning is None:  # no epoch trained again: each in the event log once
        assert_every_epoch_once(run_dir)
    assert report["status"] == "completed" and report["schema"] == rundir.SCHEMA
    assert load_run(run_dir).problems == []  # every file whole again
    text = (run_dir / "history.csv").read_text()
    assert text.count("\n") == 1 + EPOCHS, "history.csv: the header and one row per epoch"
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    assert sum(1 for line in lines if not _parses(line)) <= 1  # only a torn line, if any
    codes = [w["code"] for w in report["warnings"]]
    if warning is not None:
        assert any(warning in note for note in recorder.notes), recorder.notes
        assert "checkpoint" in codes


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_a_resume_on_a_damaged_report_says_it_repaired_it(tmp_path):
    run_dir = stopped_run(tmp_path / "runs")
    write("report.json", "{")(run_dir)
    resume_by_hand(run_dir)
    repaired = [w for w in report_of(run_dir)["warnings"] if w["code"] == "repaired"]
    assert len(repaired) == 1 and "not valid JSON" in repaired[0]["message"]


def test_a_corrupt_checkpoint_names_its_file_and_the_report_keeps_its_epochs(tmp_path):
    run_dir = stopped_run(tmp_path / "runs")
    for epoch in (1, 2):
        (run_dir / f"checkpoint/epoch-000{epoch}.weights.h5").write_text("\x89HDF")
    before = report_of(run_dir)
    recorder = RunRecorder.reopen(run_dir)
    with pytest.raises(RunDirError, match=r"epoch-0002\.weights\.h5 cannot be loaded") as info:
        recorder.restore(load)
    recorder.close()
    assert "epoch-0001.weights.h5" in str(info.value)
    assert report_of(run_dir) == before and len(before["epochs"]) == 2
    assert [r["epoch"] for r in read_history(run_dir / "history.csv")] == [1, 2]


# -- a full disk -------------------------------------------------------------------------------


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def half_written_then_full(path: Path) -> None:
    Path(path).write_text("weigh")
    enospc()


FULL_DISK = [  # (where the disk fills, the words of the one line)
    pytest.param("weights", "epoch 3's checkpoint", id="while saving an epoch's weights"),
    pytest.param("space check", "epoch 3's checkpoint", id="too little room for the weights"),
    pytest.param("history", "epoch 3's history row", id="while appending the history row"),
    pytest.param("event log", "the event log", id="while logging the epoch's event"),
    pytest.param("report", "the report", id="while replacing report.json"),
]


@pytest.mark.parametrize(("where", "what"), FULL_DISK)
def test_a_full_disk_mid_run_is_one_line_and_every_earlier_epoch_stays(
    tmp_path, monkeypatch, where, what
):
    runs = tmp_path / "runs"
    recorder = RunRecorder.create(runs, profile())
    run_dir = recorder.run_dir
    recorder(started(run_dir))
    train(recorder, range(1, 3))
    weights = save("weights 3")
    if where == "weights":
        weights = half_written_then_full
    elif where == "space check":
        usage = type("usage", (), {"free": 10_000})
        monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda path: usage)
    elif where == "history":
        monkeypatch.setattr(rundir, "append_history", enospc)
    elif where == "event log":
        monkeypatch.setattr(rundir.EventLog, "append", enospc)
    else:
        monkeypatch.setattr(rundir, "atomic_write", enospc)
    with pytest.raises(DiskFull) as info:
        recorder.save_checkpoint(weights, row(3), {"reduce_lr": None}, need_bytes=1000)
        recorder(ev.EpochEnded(**row(3)))
    monkeypatch.undo()
    message = str(info.value)
    assert message.startswith(f"disk full while saving {what}: ") and "\n" not in message
    assert " MB free on " in message and info.value.exit_code == EXIT_FAILED
    # The run's end is recorded when it fits; no temporary file is left behind.
    recorder(ev.RunFinished(RunStatus.FAILED, message, None, None, 3.0, error_type="DiskFull"))
    recorder.close()
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]
    record = load_run(run_dir)
    assert record.status == "failed" and record.report["error"]["message"] == message
    assert [r["epoch"] for r in record.epochs][:2] == [1, 2]
    # Once there is room again, the resume goes on from the last saved epoch.
    resume_by_hand(run_dir)
    assert_every_epoch_once(run_dir)


def test_the_end_of_a_run_on_a_full_disk_keeps_the_last_report(tmp_path, monkeypatch):
    recorder = RunRecorder.create(tmp_path / "runs", profile())
    recorder(started(recorder.run_dir))
    train(recorder, range(1, 2))
    before = report_of(recorder.run_dir)
    monkeypatch.setattr(rundir, "atomic_write", enospc)
    monkeypatch.setattr(rundir.EventLog, "append", enospc)
    recorder(ev.RunFinished(RunStatus.FAILED, "disk full", None, None, 3.0))  # does not raise
    recorder.close()
    assert recorder.unsaved.startswith("disk full while saving the event log")
    assert report_of(recorder.run_dir) == before
    assert load_run(recorder.run_dir).status == "interrupted"  # resumable as it was


def test_a_full_disk_when_the_run_directory_is_made_leaves_nothing(tmp_path, monkeypatch):
    """The engine opens the run directory with RunRecorder.create: a DiskFull from it is a
    CifarTuiError, which the command line prints as one line (exit 1), no traceback."""
    runs = tmp_path / "runs"
    runs.mkdir()
    real = rundir.atomic_write

    def full_for_the_profile(path, text):
        if path.name == "profile.toml":
            enospc()
        real(path, text)

    monkeypatch.setattr(rundir, "atomic_write", full_for_the_profile)
    with pytest.raises(
        DiskFull, match=r"^disk full while saving a new run directory: \d+ MB"
    ) as info:
        RunRecorder.create(runs, profile())
    assert isinstance(info.value, CifarTuiError) and info.value.exit_code == EXIT_FAILED
    assert list(runs.iterdir()) == []


@pytest.mark.parametrize(
    ("layout", "words"),
    [
        pytest.param("runs", "cannot write runs to {X}: it is a file, not a directory",
                     id="the runs directory is a file"),
        pytest.param("runs/sub", "cannot write runs to {X}: {F} is a file, not a directory",
                     id="a parent of the runs directory is a file"),
    ],
)  # fmt: skip
def test_a_file_in_place_of_the_runs_directory_is_named(tmp_path, layout, words):
    blocker = tmp_path / "runs"
    blocker.write_text("not a directory")
    target = tmp_path / layout
    with pytest.raises(RunDirError) as info:
        rundir.check_writable(target)
    assert str(info.value) == words.format(X=target, F=blocker)


# -- divergence that stays finite ----------------------------------------------------------------


def epoch_end_callback():
    from core.training.callbacks import EngineCallback

    class FakeRun:
        epochs = ()

        def emit(self, event):
            pass

    cb = EngineCallback(FakeRun(), steps=10, clock=None, profiler=None, num_classes=10)
    cb.set_model(SimpleNamespace(optimizer=SimpleNamespace(learning_rate=0.001)))
    cb.on_train_begin()
    return cb


def logs(loss: float) -> dict:
    return {"loss": loss, "accuracy": 0.1, "val_loss": 2.0, "val_accuracy": 0.1}


@pytest.mark.parametrize(
    ("losses", "words"),
    [
        pytest.param([4637.0], "epoch 1 was 4637, more than 10 times chance (ln(10) = 2.303)",
                     id="far above chance in the first epoch"),
        pytest.param([0.02, 3.5], "epoch 2 was 3.5, 175 times the best epoch's 0.02",
                     id="orders of magnitude above the best epoch"),
    ],
)  # fmt: skip
def test_a_loss_that_explodes_while_finite_is_diverged(losses, words):
    from core.training.callbacks import Diverged

    cb = epoch_end_callback()
    for epoch, loss in enumerate(losses[:-1]):
        cb.on_epoch_begin(epoch)
        cb.in_epoch = False
        cb.on_epoch_end(epoch, logs(loss))
    cb.on_epoch_begin(len(losses) - 1)
    cb.in_epoch = False
    with pytest.raises(Diverged, match=re.escape(f"the training loss of {words}")):
        cb.on_epoch_end(len(losses) - 1, logs(losses[-1]))


def test_a_loss_that_is_merely_high_is_not_diverged():
    cb = epoch_end_callback()
    for epoch, loss in enumerate((2.3, 1.2, 2.9, 22.0)):  # bad, but neither rule's
        cb.on_epoch_begin(epoch)
        cb.in_epoch = False
        cb.on_epoch_end(epoch, logs(loss))


def test_resume_of_a_diverged_run_needs_a_new_learning_rate(tmp_path):
    from core.training.engine import Run

    run_dir = stopped_run(tmp_path / "runs", status=RunStatus.DIVERGED)
    with pytest.raises(RunDirError, match=r"--set train\.learning_rate=0\.0001 \(now 0\.001\)"):
        Run.resume(run_dir)
    with pytest.raises(RunDirError, match=r"--resume takes --set only for train\.learning_rate"):
        Run.resume(run_dir, overrides=["train.epochs=9"])
    run = Run.resume(run_dir, overrides=["train.learning_rate=0.0002"])
    assert run.profile.train.learning_rate == 0.0002 and run.resume_set == (
        "train.learning_rate=0.0002",
    )


# -- kills at chosen moments (subprocesses) ------------------------------------------------------

KILL_SCRIPT = r"""
import os, sys, time
from pathlib import Path
from core import events as ev
from core.profiles import load_profile
from core.storage import checkpoint, rundir
from core.training.callbacks import EngineCallback
from core.training.engine import Run

point, runs, pause = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "pause"

def at_the_point():
    if pause:  # a live run, held here for the test to look at
        print("READY", flush=True)
        time.sleep(300)
    os._exit(137)  # as a kill -9: no cleanup of any kind

def wrap(owner, name, before=None, after=None):
    real = getattr(owner, name)
    def wrapped(*args, **kwargs):
        if before and before(*args, **kwargs):
            at_the_point()
        out = real(*args, **kwargs)
        if after and after(*args, **kwargs):
            at_the_point()
        return out
    setattr(owner, name, wrapped)

if point == "lock taken":
    wrap(rundir.RunLock, "acquire", after=lambda self: True)
elif point == "before the first report":
    wrap(rundir, "atomic_write", before=lambda path, text: path.name == "report.json")
elif point == "report.json half replaced":
    real_replace = os.replace
    def replace(src, dst):
        if str(dst).endswith("report.json") and Path(dst).exists():
            at_the_point()  # the temporary file is whole, the rename never came
        real_replace(src, dst)
    rundir.os.replace = replace
elif point == "epoch 2 checkpoint saved, no event":
    wrap(checkpoint, "save", after=lambda d, s, row, *a, **k: row["epoch"] == 2)
elif point == "epoch 2 weights half written":
    def half(self, path):
        Path(path).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
        at_the_point()
    real_write = checkpoint._write_weights
    checkpoint._write_weights = lambda save, tmp, w: real_write(
        (lambda p: half(None, p)) if "0002" in w.name else save, tmp, w)
elif point == "mid epoch 2":
    wrap(EngineCallback, "on_train_batch_begin",
         before=lambda self, batch, logs=None: self.epoch == 2 and batch == 2)

profile = load_profile("profiles/smoke.toml", overrides=[
    "train.epochs=3", "data.synthetic_train=300", "data.synthetic_test=60", "train.batch_size=50"])
print(Run(profile, runs).execute())
"""

KILLS = [  # (the moment, files the dead run leaves beside the lock)
    pytest.param("lock taken", id="right after its directory and lock appear"),
    pytest.param("before the first report", id="after profile.toml, before report.json"),
    pytest.param("report.json half replaced", id="while replacing report.json"),
    pytest.param("mid epoch 2", id="in the middle of epoch 2"),
    pytest.param("epoch 2 weights half written", id="while writing epoch 2's weights"),
    pytest.param("epoch 2 checkpoint saved, no event", id="between epoch 2's checkpoint and event"),
]


def start_killed(point: str, runs: Path, pause: bool = False) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, point, str(runs), "pause" if pause else "die"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


@pytest.mark.slow
@pytest.mark.parametrize("point", KILLS)
def test_a_run_killed_at_any_moment_reads_as_interrupted_and_resumes_whole(tmp_path, point):
    from core.training.engine import Run

    runs = tmp_path / "runs"
    proc = start_killed(point, runs)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 137, out + err[-3000:]
    (run_dir,) = runs.iterdir()
    record = load_run(run_dir)
    assert record.status == "interrupted" and run_dir in [r.path for r in list_runs(runs)]
    if point == "lock taken":  # nothing saved: nothing to resume, and --resume says so
        with pytest.raises(RunDirError, match="killed before it saved anything"):
            Run.resume(run_dir)
        return
    assert Run.resume(run_dir).execute() == "completed"
    assert_every_epoch_once(run_dir)
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]
    assert load_run(run_dir).problems == []


@pytest.mark.slow
def test_resume_of_a_run_in_its_first_moments_says_it_is_still_running(tmp_path):
    from core.training.engine import Run

    runs = tmp_path / "runs"
    proc = start_killed("lock taken", runs, pause=True)
    try:
        assert proc.stdout.readline().strip() == "READY"  # its lock is held, nothing else
        (run_dir,) = runs.iterdir()
        with pytest.raises(RunDirError, match="still running in another process"):
            Run.resume(run_dir)
        assert load_run(run_dir).status == "running"
    finally:
        proc.kill()
        proc.wait()


# -- faults the engine meets while training -------------------------------------------------------


def fast(*overrides: str):
    return load_profile(SMOKE, overrides=["train.epochs=3", "data.synthetic_train=300",
                                          "data.synthetic_test=60", "train.batch_size=50",
                                          *overrides])  # fmt: skip


@pytest.mark.slow
def test_a_full_disk_at_epoch_2s_weights_fails_the_run_in_one_line_and_resumes(
    tmp_path, monkeypatch
):
    import keras

    from core.training.engine import Run

    real = keras.Model.save_weights

    def full_at_epoch_2(self, path, *args, **kwargs):
        if "0002" in Path(path).name:
            Path(path).write_bytes(b"\x89HDF partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", full_at_epoch_2)
    seen: list = []
    run = Run(fast(), tmp_path / "runs", seen.append)
    assert run.execute() == "failed"
    finished = seen[-1]
    assert finished.message.startswith("disk full while saving epoch 2's checkpoint: ")
    assert " MB free on " in finished.message and not finished.traceback
    record = load_run(run.run_dir)
    assert record.status == "failed" and [r["epoch"] for r in record.epochs] == [1]
    assert "traceback" not in record.report["error"]
    assert not [p for p in run.run_dir.rglob("*") if ".tmp" in p.name]
    monkeypatch.undo()
    assert Run.resume(run.run_dir).execute() == "completed"
    assert_every_epoch_once(run.run_dir)


@pytest.mark.slow
def test_a_truncated_weights_file_costs_one_epoch_not_the_run(tmp_path):
    """Keras's own loader on a real .weights.h5 cut in half: an error naming the file, and the
    previous epoch's checkpoint instead."""
    from core.training.engine import Run

    holder: dict = {}

    def stop_after_2(event):
        if isinstance(event, ev.EpochEnded) and event.epoch == 2:
            holder["run"].request_stop()

    run = Run(fast(), tmp_path / "runs", stop_after_2)
    holder["run"] = run
    assert run.execute() == "stopped"
    latest = run.run_dir / "checkpoint" / "epoch-0002.weights.h5"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    seen: list = []
    again = Run.resume(run.run_dir, seen.append)
    assert again.execute() == "completed"
    started_at = next(e for e in seen if isinstance(e, ev.RunStarted)).initial_epoch
    assert started_at == 1
    warned = [e.message for e in seen if isinstance(e, ev.RunWarning) and e.code == "checkpoint"]
    assert warned and "epoch-0002.weights.h5 cannot be loaded" in warned[0]
    assert [r["epoch"] for r in read_history(run.run_dir / "history.csv")] == [1, 2, 3]


@pytest.mark.slow
def test_adam_at_learning_rate_10_is_diverged_and_resumes_with_a_lower_rate(tmp_path):
    from core.training.engine import Run

    run = Run(fast("train.learning_rate=10.0"), tmp_path / "runs")
    assert run.execute() == "diverged"
    message = load_run(run.run_dir).report["error"]["message"]
    assert not message.lower().startswith("diverged"), message
    assert "epoch" in message and f"cifar-tui --resume {run.run_dir} --set" in message
    again = Run.resume(run.run_dir, overrides=["train.learning_rate=0.001"])
    assert again.execute() == "completed"
    report = load_run(run.run_dir).report
    assert report["profile"]["train"]["learning_rate"] == 0.001
    assert report["resumed"][-1]["set"] == ["train.learning_rate=0.001"]
    assert "learning_rate = 0.001" in (run.run_dir / "profile.toml").read_text()


def test_the_cli_prints_one_line_for_a_diverged_resume_and_the_wrong_set(tmp_path, cli):
    run_dir = stopped_run(tmp_path / "runs", status=RunStatus.DIVERGED)
    proc = cli("--resume", str(run_dir))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("cifar-tui: error: ") and proc.stderr.count("\n") == 1
    assert "--set train.learning_rate=" in proc.stderr
    proc = cli("--resume", str(run_dir), "--set", "train.batch_size=8")
    assert proc.returncode == 2 and "only for train.learning_rate" in proc.stderr
