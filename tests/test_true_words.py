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


def test_a_failed_report_says_how_to_resume_and_a_diverged_one_does_not(tmp_path: Path) -> None:
    """report.md offers --resume exactly where the engine takes the run as it is: a failed run
    resumes (README, "Over SSH"); a diverged one needs a new rate first."""
    from core.storage.resume import why_not_resume

    profile = load_profile(ROOT / "profiles" / "smoke.toml")
    for status, resumes in ((RunStatus.FAILED, True), (RunStatus.DIVERGED, False)):
        recorder = RunRecorder.create(tmp_path / status, profile)
        recorder(started(recorder.run_dir, 3))
        recorder.save_checkpoint(
            lambda path: Path(path).write_text("w"), row(1), {"reduce_lr": None}
        )
        recorder(ev.EpochEnded(**row(1)))
        recorder(ev.RunFinished(status, "it ended", None, None, 4.0))
        recorder.close()
        md = (recorder.run_dir / "report.md").read_text()
        assert ("## Resume" in md) is resumes, status
        assert (why_not_resume(recorder.run_dir) is None) is resumes, status


def test_who_stopped_a_run_shows_with_its_status(tmp_path: Path) -> None:
    from tui.console.screens.runs import _status

    record = load_run(stopped_run(tmp_path, "SIGHUP"))
    assert record.stopped_by == "SIGHUP"
    assert _status(record) == "■ stopped (SIGHUP)"
    pruned = load_run(stopped_run(tmp_path / "p", "", RunStatus.PRUNED))
    assert json.loads((pruned.path / "report.json").read_text())["stop"]["by"] == "pruner"
    assert pruned.stopped_by == "" and _status(pruned) == "✂ pruned"
    assert status_with_cause("stopped", "SIGUSR1") == "stopped (--stop)"
    assert status_with_cause("stopped", "console") == "stopped (console)"
    assert status_with_cause("completed", "user") == "completed"


def test_stop_messages_name_who_asked() -> None:
    assert stopped_message("user") == "stopped by the user"
    assert stopped_message("") == "stopped by the user"
    # SIGUSR1 alone is --stop's; a console's s on a run it follows is named by its stop note.
    assert stopped_message("SIGUSR1") == "stopped by cifar-tui --stop (SIGUSR1)"
    assert stopped_message("console") == "stopped by the console (s)"
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


def test_the_data_split_error_names_the_key_and_the_fix() -> None:
    import pytest

    from core.config import DataConfig
    from core.data import load_dataset
    from core.errors import DataError

    cfg = DataConfig(source="synthetic", synthetic_train=300, synthetic_test=50,
                     validation_size=200, limit=200)  # fmt: skip
    with pytest.raises(DataError) as info:
        load_dataset(cfg)
    assert str(info.value) == (
        "data.validation_size 200 leaves no training images: the source has 200 training "
        "images; set it below that, e.g. --set data.validation_size=40"
    )


def test_the_report_says_what_the_test_pass_share_is_of() -> None:
    import numpy as np

    from core.evaluation import class_results
    from core.storage.results_md import _cost_line

    confusion = np.eye(10, dtype=int).tolist()
    report = {
        "test": {"classes": [f"c{i}" for i in range(10)], "confusion": confusion,
                 "per_class": {f"c{i}": 1.0 for i in range(10)}, "mistakes": [],
                 "seconds": {"predict": 0.65, "per_class": 0.0008}},
        "timing": {"total_seconds": 21.0},
    }  # fmt: skip
    line = _cost_line(report, class_results(report))
    assert line == (
        "From the test pass over 10 images: predicting took 0.65 s and working out these "
        "figures 0.8 ms; together 3.1% of the whole run's 0:21."
    )


def test_a_sweep_eta_counts_each_run_still_to_compile(tmp_path: Path) -> None:
    """Run 1 done (a 9 s first epoch, then 2 s ones), run 2 one epoch in (live), run 3 not
    begun: 2 + 3 steady epochs left, and run 3's compile (7 s over a steady epoch) on top."""
    from core.format import eta_text
    from core.storage.rundir import RunRecord
    from core.sweeps.spec import load_sweep
    from core.sweeps.sweepdir import SweepDir

    path = tmp_path / "s.toml"
    path.write_text(f'name = "s"\nbase = "{ROOT / "profiles" / "smoke.toml"}"\n'
                    '[grid]\n"train.learning_rate" = [0.001, 0.002, 0.003]\n')  # fmt: skip
    sweep = load_sweep(path, ["train.epochs=3"])
    sweep_dir = SweepDir(tmp_path / "dir", sweep, tmp_path)
    done = sweep_dir.entries[0]
    done.status = RunStatus.COMPLETED
    rows = [{**row(1), "seconds": 9.0}, {**row(2), "seconds": 2.0}, {**row(3), "seconds": 2.0}]
    done.record = RunRecord(tmp_path / "r1", {"status": "completed"}, rows)
    sweep_dir.entries[1].status = RunStatus.RUNNING
    eta = sweep_dir.eta([9.0])
    assert (eta.epochs_left, eta.median_epoch_seconds) == (5, 2.0)
    assert (eta.compile_seconds, eta.starts, eta.seconds) == (7.0, 1, 5 * 2.0 + 7.0)
    assert eta_text(eta) == (
        "ETA 0:17 (5 epoch(s) left at 2.0 s/epoch, + 7.0 s compiling for each of 1 run(s))"
    )
    # While run 2 still compiles (no epoch measured yet), it pays its compile too.
    assert sweep_dir.eta([]).starts == 2


def test_the_console_sweep_eta_is_never_under_the_run_eta() -> None:
    """The sweep's ETA comes from finished epochs; between two it may fall under the run's
    own, ticking ETA: the line then shows the run's, never a sweep ending first."""
    from core.sweeps.sweepdir import Eta
    from tui.console.screens.watch import sweep_text
    from tui.console.state import SweepState
    from tui.console.sweep_runner import SweepRunView, SweepSnapshot

    view = SweepRunView(index=1, label="lr=0.001", status="running", epochs_done=1, epochs=3)
    snap = SweepSnapshot("s", Path("sweeps/s"), "running", (view,), Eta(17.0, 3, 2.0), current=1)
    sweep = SweepState("s", "s.toml", 1, "cifar-tui --sweep s.toml", snapshot=snap)
    assert "ETA 0:24" in sweep_text(sweep, False, 24.0).plain
    assert "ETA 0:17" in sweep_text(sweep, False, 5.0).plain
    assert "ETA 0:17" in sweep_text(sweep, False).plain


def test_a_resumed_run_keeps_its_earlier_input_pipeline_figure() -> None:
    """Resumed past its profiler window, a run does not measure other batches, send a second
    figure and warn about it: the first session's figure stands, said once."""
    from core.training.callbacks import EngineCallback
    from core.training.profiler import InputProfiler

    def ended_early(report: dict) -> list:
        sent: list = []

        class FakeRun:
            stop_requested = False
            profile = load_profile(ROOT / "profiles" / "smoke.toml")
            emit = sent.append

            def __init__(self) -> None:
                self.report = report

            def warn(self, code: str, message: str) -> None:
                sent.append(code)

        profiler = InputProfiler(500, 520)
        for batch in range(30, 40):  # this session's batches, far from the window
            profiler.record(batch, 0.01, 0.1)
        EngineCallback(FakeRun(), 10, None, profiler, num_classes=10).finish_profile()
        return sent

    assert ended_early({"input_pipeline": {"input_bound_percent": 1.1}}) == []
    fresh = ended_early({"input_pipeline": None})  # a run that never reaches its window
    assert isinstance(fresh[0], ev.ProfilerSummary) and fresh[1:] == ["window_incomplete"]


def test_the_command_line_says_which_input_pipeline_figure_stands() -> None:
    import io

    from tui.cli.render import PlainRenderer

    def summary(percent: float, complete: bool) -> ev.ProfilerSummary:
        return ev.ProfilerSummary(percent, "not", "m", [3, 8], 6, complete, [], {},
                                  planned_window=[3, 8])  # fmt: skip

    earlier = {k: v for k, v in summary(1.1, False).to_dict().items() if k not in ("type", "time")}
    resumed = started(Path("runs/x"), 5)
    resumed.initial_epoch, resumed.input_pipeline = 2, earlier
    out = io.StringIO()
    plain = PlainRenderer(out)
    plain(resumed)
    plain(summary(2.0, True))
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("input pipeline: 1.1% input-bound")
    assert lines[1].endswith("(measured before the resume)")
    assert lines[2].startswith("input pipeline: 2.0% input-bound")
    assert lines[2].endswith("(its window measured now: this replaces the figure above)")


def test_the_watch_screen_does_not_promise_a_window_the_run_never_reaches() -> None:
    from tui.console.screens.watch import window_text
    from tui.console.state import RunState

    state = RunState(active=True, profiler_window=(500, 520))
    state.apply(started(Path("runs/x"), 5))  # 5 epochs of 10 batches: 50 in all
    assert "not reached yet" not in window_text(state)
    assert "this run's 50 batches stop short of the window 500-520" in window_text(state)
    state.profiler_window = (20, 30)
    assert window_text(state) == "measured over global batches 20-30 (not reached yet)"


def test_compare_lists_only_keys_that_apply() -> None:
    from core.compare import differing_keys
    from core.relevance import applies

    folder = {"data.source": "folder", "data.path": "a", "data.synthetic_train": 600,
              "train.optimizer": "adam", "train.momentum": 0.0}  # fmt: skip
    other = {**folder, "data.synthetic_train": 50000, "train.momentum": 0.9}
    assert differing_keys([folder, other]) == []  # neither key changes a folder Adam run
    sgd = {**other, "train.optimizer": "sgd"}
    assert differing_keys([folder, sgd]) == ["train.optimizer"]  # momentum: used by one only
    assert differing_keys([sgd, {**sgd, "train.momentum": 0.5}]) == ["train.momentum"]
    assert not applies("data.path", {"data.source": "synthetic"})
    assert applies("train.reduce_lr.enabled", {"train.reduce_lr.enabled": False})
    assert not applies("train.reduce_lr.factor", {"train.reduce_lr.enabled": False})


def test_a_one_epoch_run_has_no_steady_seconds_per_epoch(tmp_path: Path) -> None:
    from core.storage.rundir import RunRecord

    pruned = RunRecord(tmp_path, {"status": "pruned"}, [{**row(1), "seconds": 9.0}])
    assert pruned.seconds_per_epoch is None  # its one epoch compiled the model
    two = RunRecord(tmp_path, {}, [{**row(1), "seconds": 9.0}, {**row(2), "seconds": 2.0}])
    assert two.seconds_per_epoch == 2.0


def test_compare_headers_do_not_read_alike() -> None:
    from tui.console.screens.compare import short

    assert short("train.batch_size") != short("profiler.batches")
    assert short("train.learning_rate") == "lr"


def terminal_output(args: list[str], columns: int = 100) -> str:
    """``cifar-tui ARGS`` on a terminal (a pty, so Rich draws its tables) ``columns`` wide:
    what it printed, colours and all."""
    import os
    import pty
    import select
    import subprocess

    from helpers import REPO, cli_command, cli_env

    master, slave = pty.openpty()
    env = cli_env({"TERM": "xterm-256color", "COLUMNS": str(columns), "CI": None})
    proc = subprocess.Popen(cli_command(*args), stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=REPO)  # fmt: skip
    os.close(slave)
    out = bytearray()
    try:
        while True:  # to EOF: the pty reads EIO once the command and its output are gone
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(60) == 0, out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return out.decode(errors="replace")


def test_compare_on_a_terminal_names_batch_size_and_profiled_batches_unalike(
    tmp_path: Path,
) -> None:
    """Issue 25: "batch" next to "batches [500, 520]" is ambiguous; the command line's Rich
    table (shortened headers) says them unalike, as the console does."""
    import re

    from test_tui_helpers import fake_report, write_run

    dirs = []
    for name, batch, window in (("a", 16, [500, 520]), ("b", 32, [3, 8])):
        report = fake_report()
        report["profile"]["train"]["batch_size"] = batch
        report["profile"]["profiler"]["batches"] = window
        dirs.append(str(write_run(tmp_path / "runs", f"20260101-12000{len(dirs)}-{name}", report)))
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", terminal_output(["--compare", *dirs]))
    print(text)
    lines = text.splitlines()
    first_row = next(i for i, line in enumerate(lines) if line.startswith("2026"))
    header = "\n".join(lines[1:first_row])  # a header may wrap, between words, at 100 columns
    assert "batch size" in header and "profiled" in header and "batches" in header, text
    assert not re.search(r"\bbatch\b(?! size)", header), header  # no bare "batch"
    assert "batch size = train.batch_size" in text  # the key line says which keys they are
    assert "profiled batches = profiler.batches" in text


def test_a_study_table_with_both_batch_keys_keeps_each_header_whole() -> None:
    import io

    from rich.console import Console

    from core.table import Column, Table
    from tui.tables import rich_table

    keys = ["train.learning_rate", "train.batch_size", "profiler.batches"]
    columns = [Column("trial", "trial", "number"), Column("optuna #", "o", "number"),
               Column("status", "status"), *(Column(k, k, "setting") for k in keys),
               Column("val_accuracy", "v", "accuracy"), Column("epochs", "epochs"),
               Column("s/epoch", "s", "seconds"), Column("test acc", "t", "accuracy")]  # fmt: skip
    rows = [[3, 2, "completed", 0.00123, 16, [500, 520], 0.41, "3/3", 1.8, 0.4]]
    out = io.StringIO()
    Console(file=out, width=100).print(rich_table(Table(columns, rows)))
    header = out.getvalue().splitlines()[0]
    assert header.split() == ["trial", "optuna", "#", "status", "lr", "batch", "size",
                              "profiled", "batches", "val_accuracy", "epochs", "s/epoch",
                              "test", "acc"], out.getvalue()  # fmt: skip


def test_a_study_draws_momentum_only_for_sgd_trials() -> None:
    import optuna

    from core.sweeps.spec import load_sweep
    from core.sweeps.study import IMPORTANCE_TRIALS

    search = load_sweep(ROOT / "profiles" / "sweeps" / "smoke-search.toml").search
    assert search is not None and search.startup_trials >= IMPORTANCE_TRIALS
    adam = {"train.learning_rate": 1e-3, "train.optimizer": "adam", "train.batch_size": 16}
    # A FixedTrial fails on a key it was not given: Adam's trial never asks for momentum.
    assert search.sample(optuna.trial.FixedTrial(adam)) == adam
    sgd = {**adam, "train.optimizer": "sgd", "train.momentum": 0.5}
    assert search.sample(optuna.trial.FixedTrial(sgd)) == sgd
    assert search.active_keys(adam) == ["train.learning_rate", "train.optimizer",
                                        "train.batch_size"]  # fmt: skip


def test_data_path_keeps_the_link_the_user_named(tmp_path: Path, monkeypatch) -> None:
    """A relative data.path through a symlink stays that path (made absolute against where it
    was given), not the link's target: the profile names what the user typed."""
    (tmp_path / "disk" / "data").mkdir(parents=True)
    (tmp_path / "shared").symlink_to(tmp_path / "disk")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    overrides = ["data.source=folder", "data.path=../shared/data"]
    profile = load_profile(ROOT / "profiles" / "smoke.toml", overrides=overrides, check_data=False)
    assert profile.data.path == str(tmp_path / "shared" / "data")


def test_data_path_keeps_the_link_the_shell_stands_in(tmp_path: Path, monkeypatch) -> None:
    """A project reached through a symlink (cd ~/proj, a link): the kernel's cwd is the target,
    but the shell's $PWD names the link, and so does the stored path."""
    (tmp_path / "disk" / "proj" / "data").mkdir(parents=True)
    (tmp_path / "proj").symlink_to(tmp_path / "disk" / "proj")
    monkeypatch.chdir(tmp_path / "proj")
    monkeypatch.setenv("PWD", str(tmp_path / "proj"))
    overrides = ["data.source=folder", "data.path=data"]
    profile = load_profile(ROOT / "profiles" / "smoke.toml", overrides=overrides, check_data=False)
    assert profile.data.path == str(tmp_path / "proj" / "data")
    # A $PWD left over from elsewhere is not believed: the kernel's directory is used.
    monkeypatch.setenv("PWD", str(tmp_path))
    profile = load_profile(ROOT / "profiles" / "smoke.toml", overrides=overrides, check_data=False)
    assert Path(profile.data.path).samefile(tmp_path / "disk" / "proj" / "data")


def test_the_mini_sweep_carries_the_samples_settings() -> None:
    """mini.toml runs on the CIFAR-10 sample as it is: no --set lines needed."""
    import pytest

    from core.sweeps.spec import load_sweep

    sample = ROOT.parent / "shared" / "data" / "cifar10-mini"
    if not sample.is_dir():
        pytest.skip(f"the CIFAR-10 sample is not at {sample}")
    sweep = load_sweep(ROOT / "profiles" / "sweeps" / "mini.toml")  # the data checked too
    for run in sweep.runs:
        data = run.profile.data
        assert (data.source, data.validation_size, run.profile.train.epochs) == ("folder", 200, 3)
        assert Path(data.path).samefile(sample)


def test_a_study_table_never_breaks_a_key_mid_word() -> None:
    import io

    from rich.console import Console

    from core.table import Column, Table
    from tui.tables import rich_table

    keys = ["train.learning_rate", "train.optimizer", "train.momentum", "train.batch_size"]
    columns = [Column("trial", "trial", "number"), Column("optuna #", "o", "number"),
               Column("status", "status"), *(Column(k, k, "setting") for k in keys),
               Column("val_accuracy", "v", "accuracy"), Column("epochs", "epochs"),
               Column("s/epoch", "s", "seconds"), Column("test acc", "t", "accuracy")]  # fmt: skip
    rows = [[3, 2, "completed", 0.00123, "sgd", 0.5, 32, 0.41, "3/3", 1.8, 0.4]]
    for width in (100, 120):
        out = io.StringIO()
        Console(file=out, width=width).print(rich_table(Table(columns, rows)))
        text = out.getvalue()
        for key in keys:
            assert key in text, (width, text)  # whole, in the key line under the table
        header = text.splitlines()[0]
        assert header.split() == ["trial", "optuna", "#", "status", "lr", "optimizer",
                                  "momentum", "batch", "val_accuracy", "epochs", "s/epoch",
                                  "test", "acc"]  # fmt: skip
        assert "completed" in text


def test_compare_on_a_terminal_breaks_a_long_run_name_between_its_parts() -> None:
    """A run's name too long for the terminal breaks after a "-", never inside "0.001" or
    mid-word as Rich's fold would ("...-rate-0." / "001-adam")."""
    import io

    from rich.console import Console

    from core.table import Column, Table
    from tui.tables import rich_table

    names = [f"20261205-13005{i}-smoke-learning-rate-0.00{i}-adam" for i in (1, 4)]
    columns = [Column("run", "run"), Column("s/epoch", "s", "seconds"),
               Column("best val acc", "b", "accuracy"), Column("test acc", "t", "accuracy"),
               Column("input-bound %", "i", "percent"), Column("params", "p", "count"),
               Column("status", "status")]  # fmt: skip
    rows = [[name, 4.39, 0.31, 0.29, 0.8, 552874, "completed"] for name in names]
    for width in (80, 100):
        out = io.StringIO()
        Console(file=out, width=width).print(rich_table(Table(columns, rows), width=width))
        lines = out.getvalue().splitlines()
        assert all(len(line) <= width for line in lines)
        pieces = [line.split(" ", 1)[0] for line in lines[1:]]
        assert all(p.endswith("-") or p.endswith("adam") for p in pieces), (width, lines)
        assert "".join(pieces) == "".join(names), (width, lines)
        assert sum("completed" in line for line in lines) == 2
