"""Sweeps: strict validation of sweep files, the shipped sweeps, and running one.

Every broken sweep in tests/broken_sweeps/ must fail before anything is written, with one line
naming the file, the line, the run and the key. Running is tested two ways: a stand-in engine
(instant, to pin the bookkeeping: skip/resume/start, failed runs, the ETA, stop requests), and
the real command on tiny synthetic data, stopped with Ctrl+C part-way and resumed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, ProfileError, RunDirError
from core.events import EpochEnded, RunFinished, RunStarted
from core.storage import rundir
from core.sweeps.spec import load_sweep, run_name
from core.sweeps.sweepdir import SweepDir
from tui.cli.sweep import SweepDriver

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ROOT / "tests" / "broken_sweeps"
SWEEPS = ROOT / "profiles" / "sweeps"
SMOKE = ROOT / "profiles" / "smoke.toml"
TINY = ("data.synthetic_train=300", "data.synthetic_test=60", "profiler.trace=false")


# --- broken sweep files --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One broken sweep and what its error must say."""

    id: str
    file: str  # under tests/broken_sweeps/
    expect: tuple[str, ...]  # fragments the message must contain
    key: str | None = None
    line: int | None = None
    where: str = ""  # the table or run the error names, e.g. '[[runs]] 3 "batch-0"'
    blamed: str | None = None  # the file named first, when it is not the sweep file
    overrides: tuple[str, ...] = ()
    cli: bool = False  # also run through the command line

    @property
    def path(self) -> Path:
        return BROKEN / self.file


CASES = [
    # --- unknown names ------------------------------------------------------------------------
    Case(
        "unknown-top-level-key",
        "unknown_top_key.toml",
        key="bsae",
        line=3,
        expect=(
            "unknown key or table",
            '(did you mean "base"?)',
            "allowed: name, description, base, hparams, [grid], [[runs]]",
        ),
    ),
    Case(
        "unknown-run-key",
        "unknown_run_key.toml",
        key="lable",
        line=8,
        where="[[runs]] 2",
        cli=True,
        expect=(
            "unknown key in [[runs]]",
            '(did you mean "label"?)',
            "allowed: label, set, base, hparams",
        ),
    ),
    # --- the shape of the file ----------------------------------------------------------------
    Case(
        "grid-and-runs",
        "grid_and_runs.toml",
        key="runs",
        line=7,
        expect=("a sweep has either a [grid] or [[runs]], not both",),
    ),
    Case(
        "no-runs",
        "no_runs.toml",
        expect=('no runs: add a [grid] table ("train.learning_rate" = [0.001, 0.002])', "[[runs]]"),
    ),
    Case("empty-grid", "empty_grid.toml", key="grid", line=4, expect=("[grid] is empty",)),
    Case(
        "grid-value-not-a-list",
        "grid_value_not_list.toml",
        key="train.learning_rate",
        line=6,
        where="[grid]",
        expect=("must be a list of the values to try", "got 0.001"),
    ),
    Case(
        "grid-subtable-value-not-a-list",
        "grid_subtable_not_list.toml",
        key="train.batch_size",
        line=5,
        where="[grid]",
        expect=("must be a list of the values to try, e.g. [50]", "got 50"),
    ),
    Case(
        "grid-empty-list",
        "grid_empty_list.toml",
        key="train.batch_size",
        line=5,
        where="[grid]",
        expect=("is an empty list: give at least one value to try",),
    ),
    Case(
        "grid-repeated-value",
        "grid_repeated_value.toml",
        key="train.optimizer",
        line=5,
        where="[grid]",
        expect=("lists adam more than once: each value makes one run",),
    ),
    Case(
        "grid-without-base",
        "grid_without_base.toml",
        key="grid",
        line=4,
        expect=('a [grid] sweep needs base = "<run profile>"',),
    ),
    Case(
        "runs-not-tables",
        "runs_not_tables.toml",
        key="runs",
        line=3,
        expect=("must be one or more [[runs]] tables", 'got ["adam", "sgd"]'),
    ),
    Case(
        "bad-name",
        "bad_name.toml",
        key="name",
        line=2,
        expect=("must be 1-64 letters, digits", "it names the sweep directory", 'got "my sweep"'),
    ),
    # --- files ---------------------------------------------------------------------------------
    Case(
        "missing-base",
        "missing_base.toml",
        key="base",
        line=3,
        cli=True,
        expect=(
            'no such file: "../../profiles/smok.toml"',
            f"looked for {ROOT / 'profiles' / 'smok.toml'}",
            "paths are relative to the sweep file",
        ),
    ),
    Case(
        "run-missing-base",
        "run_missing_base.toml",
        key="base",
        line=8,
        where='[[runs]] 2 "vgg"',
        expect=('no such file: "../../profiles/vgg.toml"',),
    ),
    Case("invalid-toml", "invalid_toml.toml", expect=("invalid TOML",)),
    Case("missing-file", "does_not_exist.toml", expect=("no such file",)),
    # --- runs ----------------------------------------------------------------------------------
    Case(
        "run-without-label",
        "run_without_label.toml",
        line=7,
        where="[[runs]] 2",
        expect=('missing key "label"',),
    ),
    Case(
        "duplicate-label",
        "duplicate_label.toml",
        key="label",
        line=9,
        where="[[runs]] 2",
        expect=('"fast" is already the label of [[runs]] 1',),
    ),
    Case(
        "label-not-a-string",
        "label_not_string.toml",
        key="label",
        line=5,
        where="[[runs]] 1",
        expect=("must be a non-empty one-line string", "got 3"),
    ),
    Case(
        "set-not-a-table",
        "set_not_table.toml",
        key="set",
        line=6,
        where='[[runs]] 1 "three-epochs"',
        expect=('must be a table of "table.key" = value', 'got "train.epochs=3"'),
    ),
    # --- every expanded run is validated as a profile -----------------------------------------
    Case(
        "run-value-out-of-range",
        "run_bad_value.toml",
        key="train.batch_size",
        line=14,
        where='[[runs]] 3 "batch-0"',
        cli=True,
        expect=("must be an integer >= 1 and <= 8192", "got 0"),
    ),
    Case(
        "run-unknown-profile-key",
        "run_unknown_key.toml",
        key="train.optimiser",
        line=8,
        where='[[runs]] 1 "sgd"',
        expect=("unknown key in [train]", '(did you mean "optimizer"?)'),
    ),
    Case(
        "run-wrong-type",
        "run_wrong_type.toml",
        key="train.learning_rate",
        line=9,
        where='[[runs]] 2 "slow"',
        expect=("must be a number > 0 and <= 10", 'got "0.0001"'),
    ),
    Case(
        "run-cross-key",
        "run_cross_key.toml",
        key="model.input_size",
        line=9,
        where='[[runs]] 2 "alexnet"',
        expect=("input_size 64 is too small for alexnet", "it needs at least 67"),
    ),
    Case(
        "run-too-much-validation",
        "run_too_much_validation.toml",
        key="data.validation_size",
        line=6,
        where='[[runs]] 1 "more-validation"',
        expect=("validation_size 600 leaves no training images",),
    ),
    Case(
        "grid-unknown-profile-key",
        "grid_unknown_key.toml",
        key="train.learning_rat",
        line=6,
        where='[grid] run 1 "batch=25 learning_rat=0.001"',
        expect=('(did you mean "learning_rate"?)',),
    ),
    Case(
        "grid-value-out-of-range",
        "grid_bad_value.toml",
        key="train.momentum",
        line=5,
        where='[grid] run 3 "momentum=1.0"',
        expect=("must be a number >= 0 and < 1", "got 1.0"),
    ),
    # --- mistakes in the profiles a sweep uses: blamed on them, with the run named -------------
    Case(
        "hparams-sets-model",
        "hparams_sets_model.toml",
        blamed="sets_model.toml",
        key="model",
        line=7,
        expect=(
            "[model] is not allowed here",
            'hparams_sets_model.toml [grid] run 1 "lr=0.001")',
        ),
    ),
    Case(
        "broken-base",
        "broken_base.toml",
        blamed="unknown_key.toml",
        key="train.learning_rat",
        line=6,
        expect=('(did you mean "learning_rate"?)', 'broken_base.toml [grid] run 1 "lr=0.001")'),
    ),
    # --- --set, laid over every run ------------------------------------------------------------
    Case(
        "set-bad-value",
        "valid_base_grid.toml",
        blamed="--set",
        key="train.epochs",
        overrides=("train.epochs=ten",),
        expect=("must be an integer >= 1", 'got "ten"'),
    ),
    Case(
        "set-too-much-validation",
        "valid_base_grid.toml",
        blamed="--set",
        key="data.validation_size",
        overrides=("data.validation_size=600",),
        expect=("validation_size 600 leaves no training images",),
    ),
]
CLI_CASES = [c for c in CASES if c.cli]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_sweep_error(case: Case) -> None:
    with pytest.raises(ProfileError) as info:
        load_sweep(case.path, case.overrides)
    exc = info.value
    message = str(exc)
    print(message)
    if case.blamed:
        assert Path(exc.file).name == case.blamed, message
    else:
        assert exc.file == str(case.path), message
    prefix = exc.file + (f":{case.line}" if case.line else "")
    prefix += f": {case.where}" if case.where else ""
    prefix += f": {case.key}" if case.key else ""
    assert message.startswith(prefix + ": "), message
    assert exc.key == case.key and exc.line == case.line, message
    for fragment in case.expect:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message and "Traceback" not in message


def test_every_broken_sweep_has_a_case() -> None:
    used = {c.file for c in CASES}
    on_disk = {p.name for p in BROKEN.glob("*.toml")}
    assert on_disk - {"valid_base_grid.toml"} <= used, sorted(on_disk - used)
    assert len(on_disk) >= 9
    assert not (BROKEN / "does_not_exist.toml").exists()
    assert len(load_sweep(BROKEN / "valid_base_grid.toml").runs) == 2


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli.main", *args]


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "KERAS_BACKEND")}
    return e


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_broken_sweep_cli_exits_2_and_writes_nothing(case: Case, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.run(
        cli("--sweep", str(case.path.relative_to(ROOT)), "--runs-dir", str(runs)),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_USAGE, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("cifar-tui: error: "), proc.stderr
    assert proc.stderr.count("\n") == 1
    assert f"{case.file}:{case.line}: " in proc.stderr
    for fragment in (case.where, case.key, *case.expect):
        assert not fragment or fragment in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert not runs.exists()


def test_hparams_option_is_refused_with_a_sweep(tmp_path: Path) -> None:
    proc = subprocess.run(
        cli(
            "--sweep",
            "profiles/sweeps/smoke-lr.toml",
            "--hparams",
            "profiles/hparams/sgd.toml",
            "--runs-dir",
            str(tmp_path / "runs"),
        ),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_USAGE
    assert 'a sweep names its hyperparameter profile in the sweep file (hparams = "...")' in (
        proc.stderr
    )
    assert not (tmp_path / "runs").exists()


# --- the shipped sweeps and how files expand -----------------------------------------------------

# The notebook's list: run, optimizer, batch size, learning rate, epochs, augmentation on.
NOTEBOOK = [
    (1, "adam", 128, 0.001, 20, True),
    (2, "sgd", 128, 0.001, 20, True),
    (3, "adam", 256, 0.001, 20, True),
    (4, "adam", 64, 0.001, 20, True),
    (5, "adam", 128, 0.002, 20, True),
    (6, "adam", 128, 0.0008, 20, True),
    (7, "adam", 64, 0.001, 50, True),
    (8, "adam", 64, 0.001, 50, False),
    (9, "adam", 64, 0.001, 100, True),
    (10, "adam", 64, 0.001, 100, False),
    (11, "adam", 128, 0.001, 50, True),
]


def test_alexnet_notebook_sweep_is_the_notebooks_list() -> None:
    sweep = load_sweep(SWEEPS / "alexnet-notebook.toml")
    assert len(sweep.runs) == len(NOTEBOOK)
    for run, (number, optimizer, batch, lr, epochs, augmented) in zip(
        sweep.runs, NOTEBOOK, strict=True
    ):
        p = run.profile
        assert run.index == number and run.label.startswith(f"{number}-")
        assert p.model.architecture == "alexnet" and p.model.input_size == 224
        assert (p.train.optimizer, p.train.batch_size, p.train.epochs) == (
            optimizer,
            batch,
            epochs,
        )
        assert p.train.learning_rate == pytest.approx(lr)
        expected_aug = ("horizontal_and_vertical", 0.2) if augmented else ("none", 0.0)
        assert (p.augment.flip, p.augment.rotation) == expected_aug
        # the five settings are written out in every run, as the notebook lists them
        assert set(run.overrides) == {
            "train.optimizer",
            "train.batch_size",
            "train.learning_rate",
            "train.epochs",
            "augment.flip",
            "augment.rotation",
        }
        assert p.name == f"alexnet-{run.label}"


def test_models_sweep_uses_each_models_profile() -> None:
    sweep = load_sweep(SWEEPS / "models.toml")
    got = [(r.profile.model.architecture, r.profile.model.input_size) for r in sweep.runs]
    assert got == [("alexnet", 224), ("vgg16", 224), ("vgg_small", 32)]
    for run in sweep.runs:
        base = load_sweep_base(run.base)
        assert run.profile.augment == base.augment and run.profile.train == base.train
    assert [r.profile.name for r in sweep.runs] == ["alexnet", "vgg16", "vgg_small"]


def load_sweep_base(path: Path) -> Any:
    from core.profiles import load_profile

    return load_profile(path)


def test_smoke_and_mini_sweeps() -> None:
    smoke = load_sweep(SWEEPS / "smoke-lr.toml")
    assert [r.label for r in smoke.runs] == ["lr=0.001", "lr=0.002", "lr=0.004"]
    assert [r.profile.train.learning_rate for r in smoke.runs] == [0.001, 0.002, 0.004]
    assert {r.profile.model.architecture for r in smoke.runs} == {"vgg_small"}
    mini = load_sweep(
        SWEEPS / "mini.toml",
        [
            "data.source=folder",
            f"data.path={ROOT.parent / 'shared' / 'data' / 'cifar10-mini'}",
            "data.validation_size=200",
        ],
        check_data=False,
    )
    assert [r.profile.train.optimizer for r in mini.runs] == ["adam", "adam", "sgd"]
    assert mini.runs[2].profile.train.momentum == 0.9


def test_grid_is_the_cartesian_product_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(
        f'base = "{SMOKE}"\n\n[grid]\n"train.optimizer" = ["adam", "sgd"]\n'
        "train.batch_size = [25, 50]\n"  # a bare dotted key works too
    )
    sweep = load_sweep(path)
    assert sweep.name == "grid"  # the file name, when the file gives none
    assert [r.label for r in sweep.runs] == [
        "optimizer=adam batch=25",
        "optimizer=adam batch=50",
        "optimizer=sgd batch=25",
        "optimizer=sgd batch=50",
    ]
    assert [(r.profile.train.optimizer, r.profile.train.batch_size) for r in sweep.runs] == [
        ("adam", 25),
        ("adam", 50),
        ("sgd", 25),
        ("sgd", 50),
    ]
    assert sweep.runs[3].overrides == {"train.optimizer": "sgd", "train.batch_size": 50}
    assert sweep.runs[3].profile.name == "smoke-optimizer-sgd-batch-50"


def test_set_wins_over_the_sweep_and_changes_the_hash() -> None:
    plain = load_sweep(SWEEPS / "alexnet-notebook.toml")
    again = load_sweep(SWEEPS / "alexnet-notebook.toml")
    short = load_sweep(SWEEPS / "alexnet-notebook.toml", ["train.epochs=1"])
    assert plain.digest == again.digest and len(plain.digest) == 8
    assert short.digest != plain.digest
    assert {r.profile.train.epochs for r in short.runs} == {1}
    assert short.dir_name == f"alexnet-notebook-{short.digest}"


def test_relative_data_path_in_a_run_is_relative_to_the_sweep_file(tmp_path: Path) -> None:
    path = tmp_path / "folder.toml"
    path.write_text(
        f'base = "{SMOKE}"\n\n[[runs]]\nlabel = "mine"\n'
        'set = { "data.source" = "folder", "data.path" = "images" }\n'
    )
    sweep = load_sweep(path, check_data=False)
    assert sweep.runs[0].profile.data.path == str(tmp_path / "images")


def test_run_names() -> None:
    assert run_name("smoke", "lr=0.002") == "smoke-lr-0.002"
    assert run_name("alexnet", "alexnet") == "alexnet"
    assert run_name("vgg16", "vgg16 at 64px") == "vgg16-at-64px"
    assert run_name("smoke", "!!!") == "smoke"
    assert len(run_name("x" * 60, "y" * 60)) == 64


# --- running, with a stand-in engine -------------------------------------------------------------


class FakeRun:
    """Stands in for core.training.engine.Run: a minimal run directory and the engine's events, at
    once.

    A learning rate above 1 diverges; ``hook(run, epoch)`` is called after each epoch."""

    hook: Any = None
    seconds = 2.0

    def __init__(self, profile: Any, runs_dir: Path, resume_dir: Path | None = None):
        self.profile = profile
        self.runs_dir = runs_dir
        self.run_dir = resume_dir
        self._sink: Any = lambda event: None
        self._stop = threading.Event()

    @classmethod
    def resume(cls, run_dir: Path) -> FakeRun:
        from core.profiles import profile_from_dict

        report = json.loads((run_dir / "report.json").read_text())
        return cls(profile_from_dict(report["profile"]), run_dir.parent, run_dir)

    def subscribe(self, listener: Any) -> None:
        self._sink = listener

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def _write(self, report: dict[str, Any]) -> None:
        assert self.run_dir is not None
        rundir.atomic_write(self.run_dir / "report.json", json.dumps(report))

    def execute(self) -> str:
        if self.run_dir is None:
            self.run_dir = rundir.new_run_dir(self.runs_dir, self.profile.name)
            report = {"status": "running", "profile": self.profile.to_dict(), "epochs": []}
        else:
            report = json.loads((self.run_dir / "report.json").read_text())
        report.update(model={"params_total": 1234}, input_pipeline={"input_bound_percent": 3.0})
        self._write(report)
        epochs = report["epochs"]
        self._sink(
            RunStarted(
                str(self.run_dir), self.profile.name, 2, len(epochs), 1, 1, 1, 1, "fake", ["cpu"],
                1, 1, 1,
            )
        )  # fmt: skip
        status = "completed"
        while len(epochs) < self.profile.train.epochs:
            if self.stop_requested:
                status = "stopped"
                break
            if self.profile.train.learning_rate > 1:
                status = "diverged"
                break
            row = {
                "epoch": len(epochs) + 1,
                "seconds": self.seconds,
                "loss": 1.0,
                "accuracy": 0.5,
                "val_loss": 1.0,
                "val_accuracy": 0.25 + 0.1 * len(epochs),
                "lr": self.profile.train.learning_rate,
            }
            epochs.append(row)
            rundir.append_history(self.run_dir / "history.csv", row)
            self._write(report)
            self._sink(EpochEnded(**row))
            if FakeRun.hook:
                FakeRun.hook(self, row["epoch"])
        if status == "completed" and self.stop_requested:
            status = "stopped"
        report["status"] = status
        if status == "completed":
            report["test"] = {"loss": 1.0, "accuracy": 0.4}
        if status == "diverged":
            report["error"] = {"type": "diverged", "message": "Diverged: the loss became nan"}
        self._write(report)
        self._sink(RunFinished(status, report.get("error", {}).get("message", ""), None, 0.4, 3.0))
        return status


def fake_sweep(tmp_path: Path, rates: str = "0.001, 0.002, 0.003", epochs: int = 2) -> Path:
    path = tmp_path / "fake.toml"
    path.write_text(
        f'name = "fake"\nbase = "{SMOKE}"\n\n[grid]\n"train.learning_rate" = [{rates}]\n'
    )
    return path


def drive_fake(path: Path, runs: Path, *overrides: str) -> tuple[int, str, SweepDriver]:
    sweep = load_sweep(path, ["train.epochs=2", *overrides])
    out = io.StringIO()
    driver = SweepDriver(
        sweep,
        runs,
        plain=True,
        out=out,
        command="cifar-tui --sweep fake.toml",
        make_run=lambda profile: FakeRun(profile, runs),
        resume_run=FakeRun.resume,
    )
    code = driver.execute()
    return code, out.getvalue(), driver


def sweep_json(runs: Path) -> dict[str, Any]:
    (folder,) = (runs / "sweeps").iterdir()
    return json.loads((folder / "sweep.json").read_text())


def summary_rows(runs: Path) -> list[dict[str, str]]:
    (folder,) = (runs / "sweeps").iterdir()
    return list(csv.DictReader(io.StringIO((folder / "summary.csv").read_text())))


def run_dirs(runs: Path) -> list[Path]:
    return sorted(p for p in runs.iterdir() if p.is_dir() and p.name != "sweeps")


@pytest.fixture(autouse=True)
def _no_hook():
    FakeRun.hook = None
    yield
    FakeRun.hook = None


def test_fake_sweep_completes_with_status_lines_eta_and_summary(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    code, out, _ = drive_fake(fake_sweep(tmp_path), runs)
    print(out)
    assert code == EXIT_OK
    lines = out.splitlines()
    assert "ETA unknown" in next(line for line in lines if "ETA" in line)
    assert "[1/3] fake lr=0.001: completed in 3 s, test accuracy 0.40, val 0.35" in lines
    # after run 1: two 2-second epochs measured, four epochs left
    assert "sweep fake: 1 of 3 runs finished; ETA 8 s (4 epochs left at a median 2.0 s/epoch)" in (
        lines
    )
    assert [r["status"] for r in summary_rows(runs)] == ["completed"] * 3
    assert [r["train.learning_rate"] for r in summary_rows(runs)] == ["0.001", "0.002", "0.003"]
    assert summary_rows(runs)[0]["best_val_accuracy"] == "0.35"
    data = sweep_json(runs)
    assert data["status"] == "completed" and data["schema"] == "cifar-tui/sweep/1"
    assert [r["overrides"] for r in data["runs"]] == [
        {"train.learning_rate": v} for v in (0.001, 0.002, 0.003)
    ]
    assert [Path(r["run_dir"]) for r in data["runs"]] == run_dirs(runs)
    assert data["sweep_file"] == str(tmp_path / "fake.toml")


def test_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    code, out, _ = drive_fake(fake_sweep(tmp_path, "0.001, 5.0, 0.003"), runs)
    assert code == EXIT_FAILED
    assert "[2/3] fake lr=5.0: diverged in 3 s: Diverged: the loss became nan" in out
    assert [r["status"] for r in summary_rows(runs)] == ["completed", "diverged", "completed"]
    assert sweep_json(runs)["status"] == "failed"
    # run again: a diverged run would diverge again, so it is skipped like a completed one
    code, out, _ = drive_fake(fake_sweep(tmp_path, "0.001, 5.0, 0.003"), runs)
    assert code == EXIT_FAILED
    assert "[2/3] fake lr=5.0: diverged earlier, skipped" in out
    assert len(run_dirs(runs)) == 3


def test_stop_request_mid_run_then_resume_skips_finished_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    path = fake_sweep(tmp_path)
    drivers: list[SweepDriver] = []

    def stop_in_run_two(run: FakeRun, epoch: int) -> None:
        if run.profile.train.learning_rate == 0.002 and epoch == 1:
            drivers[0].request_stop()

    FakeRun.hook = stop_in_run_two
    sweep = load_sweep(path, ["train.epochs=2"])
    out = io.StringIO()
    driver = SweepDriver(
        sweep,
        runs,
        out=out,
        make_run=lambda profile: FakeRun(profile, runs),
        resume_run=FakeRun.resume,
    )
    drivers.append(driver)
    assert driver.execute() == EXIT_STOPPED
    assert "[2/3] fake lr=0.002: stopped after 1 of 2 epochs" in out.getvalue()
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed", "stopped", "pending"]
    assert data["runs"][2]["run_dir"] is None and data["status"] == "stopped"
    first = run_dirs(runs)
    before = {p: (p / "report.json").read_bytes() for p in first}

    FakeRun.hook = None
    code, out2, _ = drive_fake(path, runs)
    assert code == EXIT_OK, out2
    assert "[1/3] fake lr=0.001: completed earlier, skipped" in out2
    assert 'resuming run 2/3 "lr=0.002" (stopped after 1 of 2 epochs)' in out2
    assert 'starting run 3/3 "lr=0.003"' in out2
    after = run_dirs(runs)
    assert len(after) == 3 and set(first) <= set(after)
    assert (first[0] / "report.json").read_bytes() == before[first[0]]  # run 1 untouched
    history = rundir.read_history(first[1] / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2]
    assert [r["status"] for r in summary_rows(runs)] == ["completed"] * 3


def test_stop_between_runs_leaves_the_rest_pending(tmp_path: Path) -> None:
    runs = tmp_path / "runs"

    def stop_after_run_one(run: FakeRun, epoch: int) -> None:
        if run.profile.train.learning_rate == 0.001 and epoch == 2:
            drivers[0].stop.set()  # the sweep, not the run: run 1 finishes

    drivers: list[SweepDriver] = []
    FakeRun.hook = stop_after_run_one
    sweep = load_sweep(fake_sweep(tmp_path), ["train.epochs=2"])
    driver = SweepDriver(
        sweep, runs, out=io.StringIO(), make_run=lambda profile: FakeRun(profile, runs)
    )
    drivers.append(driver)
    assert driver.execute() == EXIT_STOPPED
    assert [r["status"] for r in sweep_json(runs)["runs"]] == ["completed", "pending", "pending"]


def test_stop_while_the_next_run_is_set_up_does_not_start_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    drivers: list[SweepDriver] = []

    def make_run(profile: Any) -> FakeRun:
        if profile.train.learning_rate == 0.002:
            drivers[0]._on_sigint(signal.SIGINT, None)  # Ctrl+C lands between runs
        return FakeRun(profile, runs)

    sweep = load_sweep(fake_sweep(tmp_path), ["train.epochs=2"])
    driver = SweepDriver(sweep, runs, out=io.StringIO(), make_run=make_run)
    drivers.append(driver)
    assert driver.execute() == EXIT_STOPPED
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed", "pending", "pending"]
    assert data["runs"][1]["started"] is None and len(run_dirs(runs)) == 1


def test_killed_sweep_resumes_the_interrupted_run_and_finds_an_unrecorded_one(
    tmp_path: Path,
) -> None:
    """A kill can land after the engine made a run directory but before sweep.json named it."""
    runs = tmp_path / "runs"
    sweep = load_sweep(fake_sweep(tmp_path), ["train.epochs=2"])
    sweep_dir = SweepDir.open(runs, sweep)
    one, two = sweep_dir.entries[:2]
    # run 1: killed mid-run (report says running, nobody holds its lock) and recorded
    sweep_dir.mark_started(one)
    killed = FakeRun(one.run.profile, runs)
    killed.run_dir = rundir.new_run_dir(runs, one.run.profile.name)
    report = {"status": "running", "profile": one.run.profile.to_dict(), "epochs": []}
    rundir.atomic_write(killed.run_dir / "report.json", json.dumps(report))
    sweep_dir.attach(one, killed.run_dir)
    # run 2: started, its directory made, then the kill: sweep.json never named it
    sweep_dir.mark_started(two)
    orphan = rundir.new_run_dir(runs, two.run.profile.name + "-x")
    report = {"status": "running", "profile": two.run.profile.to_dict(), "epochs": []}
    rundir.atomic_write(orphan / "report.json", json.dumps(report))
    sweep_dir.close()

    reopened = SweepDir.open(runs, sweep)
    assert [reopened.action(e) for e in reopened.entries] == ["resume", "resume", "start"]
    assert reopened.entries[0].status == "interrupted"
    assert reopened.entries[1].run_dir == orphan.resolve()
    reopened.close()


def test_one_sweep_directory_per_process(tmp_path: Path) -> None:
    sweep = load_sweep(fake_sweep(tmp_path))
    first = SweepDir.open(tmp_path / "runs", sweep)
    with pytest.raises(RunDirError, match="already running in another process"):
        SweepDir.open(tmp_path / "runs", sweep)
    first.close()


# --- the real command: Ctrl+C part-way, then the same command again ------------------------------


def _read_until(proc: subprocess.Popen, prefix: str, seen: list[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return
    proc.kill()
    pytest.fail(f"never printed {prefix!r}:\n{''.join(seen)}")


@pytest.mark.slow
def test_real_sweep_ctrl_c_then_resume_with_the_same_command(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["--sweep", "profiles/sweeps/smoke-lr.toml", "--runs-dir", str(runs), "--plain"]
    for item in (*TINY, "train.epochs=2"):
        args += ["--set", item]
    proc = subprocess.Popen(
        cli(*args), cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: list[str] = []
    _read_until(proc, "[1/3] smoke-lr lr=0.001: completed", seen)
    _read_until(proc, "epoch 1/2", seen)  # run 2 is training: stop it there
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    out = "".join(seen) + out
    print(out, err)
    assert proc.returncode == EXIT_STOPPED, out + err
    assert "Traceback" not in err
    assert "[2/3] smoke-lr lr=0.002: stopped after" in out
    assert "resume with the same command: cifar-tui --sweep profiles/sweeps/smoke-lr.toml" in out
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed", "stopped", "pending"]
    first = run_dirs(runs)
    assert len(first) == 2
    done = first[0]
    snapshot = {p.name: p.read_bytes() for p in done.iterdir() if p.is_file()}

    proc2 = subprocess.run(
        cli(*args), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300
    )
    print(proc2.stdout, proc2.stderr)
    assert proc2.returncode == EXIT_OK, proc2.stdout + proc2.stderr
    assert "[1/3] smoke-lr lr=0.001: completed earlier, skipped" in proc2.stdout
    assert 'sweep smoke-lr: resuming run 2/3 "lr=0.002" (stopped after' in proc2.stdout
    assert "resuming after epoch" in proc2.stdout
    assert 'sweep smoke-lr: starting run 3/3 "lr=0.004"' in proc2.stdout
    # the finished run was not run again: its files are as they were, and 3 run dirs in all
    assert {p.name: p.read_bytes() for p in done.iterdir() if p.is_file()} == snapshot
    final = run_dirs(runs)
    assert len(final) == 3 and final[:2] == first
    history = rundir.read_history(first[1] / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2]
    # the summary table: three completed rows with the reports' numbers
    rows = summary_rows(runs)
    assert [r["status"] for r in rows] == ["completed"] * 3
    assert [r["label"] for r in rows] == ["lr=0.001", "lr=0.002", "lr=0.004"]
    for row, run_dir in zip(rows, final, strict=True):
        record = rundir.load_run(run_dir)
        assert float(row["test_accuracy"]) == record.test_accuracy
        assert Path(row["run_dir"]) == run_dir.resolve()
    (folder,) = (runs / "sweeps").iterdir()
    summary_md = (folder / "summary.md").read_text()
    assert summary_md.startswith("# Sweep smoke-lr: completed")
    assert summary_md.count("| completed |") == 3
    assert proc2.stdout.count("completed") >= 3 and "sweep smoke-lr: completed" in proc2.stdout
