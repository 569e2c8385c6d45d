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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeRun
from helpers import read_line

from core.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_USAGE,
    CifarTuiError,
    DataError,
    ProfileError,
    RunDirError,
)
from core.events import EpochEnded, Event, RunFinished, RunOpened
from core.storage import rundir
from core.sweeps.loop import ERROR, SweepHooks, SweepLoop, sweep_command
from core.sweeps.spec import load_sweep, run_name
from core.sweeps.sweepdir import SweepDir, SweepEntry
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
    # --- [search]: a study, checked as strictly as a profile (core/sweeps/search.py) ---------
    Case(
        "search-unknown-key",
        "search_unknown_key.toml",
        key="trails",
        line=5,
        where="[search]",
        cli=True,
        expect=("unknown key in [search]", '(did you mean "trials"?)', "[search.space]"),
    ),
    Case(
        "search-with-grid",
        "search_with_grid.toml",
        key="grid",
        line=10,
        expect=("a sweep has either a [search] or a [grid], not both",),
    ),
    Case(
        "search-not-a-table",
        "search_not_a_table.toml",
        key="search",
        line=3,
        expect=("must be a table: [search] with trials = N",),
    ),
    Case(
        "search-bad-method",
        "search_bad_method.toml",
        key="method",
        line=6,
        where="[search]",
        expect=('must be one of "tpe", "random"', 'got "grid"'),
    ),
    Case(
        "search-bad-objective",
        "search_bad_objective.toml",
        key="objective",
        line=6,
        where="[search]",
        expect=('must be one of "val_accuracy", "val_loss"', "the direction follows"),
    ),
    Case(
        "search-bad-pruner",
        "search_bad_pruner.toml",
        key="pruner",
        line=6,
        where="[search]",
        expect=('must be one of "none", "median", "hyperband"', 'got "asha"'),
    ),
    Case(
        "search-zero-trials",
        "search_zero_trials.toml",
        key="trials",
        line=5,
        where="[search]",
        expect=("must be an integer from 1 to 1000", "got 0"),
    ),
    Case(
        "search-missing-trials",
        "search_missing_trials.toml",
        line=4,
        where="[search]",
        expect=('missing key "trials"',),
    ),
    Case(
        "search-no-space",
        "search_no_space.toml",
        line=4,
        where="[search.space]",
        expect=("missing [search.space]: the keys to search",),
    ),
    Case(
        "search-space-unknown-key",
        "search_space_unknown_key.toml",
        key="train.learning_rat",
        line=8,
        where="[search.space]",
        cli=True,
        expect=("not a profile key", '(did you mean "train.learning_rate"?)'),
    ),
    Case(
        "search-unknown-kind",
        "search_unknown_kind.toml",
        key="train.learning_rate",
        line=8,
        where="[search.space]",
        expect=('unknown kind "loguniform"', '(did you mean "log_uniform"?)'),
    ),
    Case(
        "search-log-uniform-from-zero",
        "search_log_uniform_zero.toml",
        key="augment.rotation",
        line=9,
        where="[search.space]",
        cli=True,
        expect=("log_uniform = [0.0, 0.3]: a log scale needs bounds above 0",),
    ),
    Case(
        "search-bounds-outside-the-key",
        "search_bounds_out_of_range.toml",
        key="train.momentum",
        line=8,
        where="[search.space]",
        expect=("uniform = [0.0, 1.5] goes outside what train.momentum takes", ">= 0 and < 1"),
    ),
    Case(
        "search-reversed-bounds",
        "search_reversed_bounds.toml",
        key="train.learning_rate",
        line=8,
        where="[search.space]",
        expect=("low must be below high",),
    ),
    Case(
        "search-int-bounds-not-integers",
        "search_int_bounds_not_int.toml",
        key="train.batch_size",
        line=8,
        where="[search.space]",
        expect=("uniform must be [low, high], two integers", "got [16.5, 64]"),
    ),
    Case(
        "search-range-over-words",
        "search_range_on_string_key.toml",
        key="train.optimizer",
        line=8,
        where="[search.space]",
        expect=("uniform needs a numeric key", "search it with { choice = [...] }"),
    ),
    Case(
        "search-empty-choice",
        "search_empty_choice.toml",
        key="train.optimizer",
        line=9,
        where="[search.space]",
        cli=True,
        expect=("choice must list at least one value to try, got an empty list",),
    ),
    Case(
        "search-choice-bad-value",
        "search_choice_bad_value.toml",
        key="train.optimizer",
        line=8,
        where="[search.space]",
        expect=('choice "rmsprop" is not a value train.optimizer takes', 'one of "adam", "sgd"'),
    ),
    Case(
        "search-corner-cannot-make-a-run",
        "search_corner_cross_key.toml",
        blamed="smoke.toml",
        key="model.input_size",
        line=7,
        expect=(
            "input_size 32 is too small for alexnet",
            "search_corner_cross_key.toml [search.space] with model.architecture=alexnet)",
        ),
    ),
    Case(
        "search-key-also-fixed-by-set",
        "valid_search.toml",
        key="train.learning_rate",
        line=10,
        where="[search.space]",
        overrides=("train.learning_rate=0.01",),
        expect=("is searched here and fixed by --set train.learning_rate=0.01", "drop one"),
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


def fake_sweep(tmp_path: Path, rates: str = "0.001, 0.002, 0.003", epochs: int = 2) -> Path:
    path = tmp_path / "fake.toml"
    path.write_text(
        f'name = "fake"\nbase = "{SMOKE}"\n\n[grid]\n"train.learning_rate" = [{rates}]\n'
    )
    return path


def make_driver(path: Path, runs: Path, *overrides: str, **kwargs: Any) -> SweepDriver:
    sweep = load_sweep(path, ["train.epochs=2", *overrides])
    kwargs.setdefault("make_run", lambda profile: FakeRun(profile, runs))
    kwargs.setdefault("resume_run", FakeRun.resume)
    return SweepDriver(
        sweep, runs, plain=True, out=io.StringIO(), command="cifar-tui --sweep fake.toml", **kwargs
    )


def drive_fake(path: Path, runs: Path, *overrides: str) -> tuple[int, str, SweepDriver]:
    driver = make_driver(path, runs, *overrides)
    code = driver.execute()
    assert isinstance(driver.out, io.StringIO)
    return code, driver.out.getvalue(), driver


def fake_loop(path: Path, runs: Path, hooks: SweepHooks, *overrides: str) -> SweepLoop:
    sweep = load_sweep(path, ["train.epochs=2", *overrides])
    return SweepLoop(
        sweep,
        runs,
        hooks,
        make_run=lambda profile: FakeRun(profile, runs),
        resume_run=FakeRun.resume,
    )


def sweep_json(runs: Path) -> dict[str, Any]:
    (folder,) = (runs / "sweeps").iterdir()
    return json.loads((folder / "sweep.json").read_text())


def summary_rows(runs: Path) -> list[dict[str, str]]:
    (folder,) = (runs / "sweeps").iterdir()
    return list(csv.DictReader(io.StringIO((folder / "summary.csv").read_text())))


def run_dirs(runs: Path) -> list[Path]:
    return sorted(p for p in runs.iterdir() if p.is_dir() and p.name != "sweeps")


def assert_ended_by_missing_data(runs: Path) -> None:
    """What a sweep whose second run cannot start leaves, whichever front ran it: run 1
    completed, run 2 never started (no directory), run 3 not tried, the error recorded."""
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed", "pending", "pending"]
    assert [r["started"] is None for r in data["runs"]] == [False, True, True]
    assert data["runs"][1]["run_dir"] is None and len(run_dirs(runs)) == 1
    assert data["status"] == "incomplete" and data["error"] == MISSING_DATA
    (folder,) = (runs / "sweeps").iterdir()
    assert f"Stopped by an error: {MISSING_DATA}" in (folder / "summary.md").read_text()
    assert [r["status"] for r in summary_rows(runs)] == ["completed", "pending", "pending"]


MISSING_DATA = "no CIFAR-10 at /nowhere/cifar10 (set $CIFAR_TUI_CIFAR10)"


class Notes(SweepHooks):
    """Writes down what the loop tells a front, in order."""

    def __init__(self) -> None:
        self.said: list[tuple[Any, ...]] = []

    def sweep_started(self, loop: SweepLoop) -> None:
        self.said.append(("sweep_started",))

    def run_starting(self, entry: SweepEntry, action: str) -> None:
        self.said.append(("run_starting", entry.label, action))

    def event(self, entry: SweepEntry, event: Event) -> None:
        self.said.append(("event", entry.label, event.type))

    def run_ended(
        self, entry: SweepEntry, finished: RunFinished | None, error: CifarTuiError | None
    ) -> None:
        status = finished.status if finished else None
        self.said.append(("run_ended", entry.label, entry.status, status, error))

    def sweep_ended(self, loop: SweepLoop) -> None:
        self.said.append(("sweep_ended", loop.error))


#: FakeRun reset around each test, and no models to free between its runs (conftest.py).
pytestmark = pytest.mark.usefixtures("fake_run")


def test_fake_sweep_completes_with_status_lines_eta_and_summary(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    code, out, _ = drive_fake(fake_sweep(tmp_path), runs)
    print(out)
    assert code == EXIT_OK
    lines = out.splitlines()
    assert "ETA unknown" in next(line for line in lines if "ETA" in line)
    # durations read as everywhere else (core.format.duration): two 2-second epochs
    assert "[1/3] fake lr=0.001: completed in 0:04, test accuracy 40.0%, val 35.0%" in lines
    # after run 1: two 2-second epochs measured, four epochs left
    assert (
        "sweep fake: 1 of 3 runs finished; ETA 0:08 (4 epochs left at a median 2.0 s/epoch)"
        in lines
    )
    assert [r["status"] for r in summary_rows(runs)] == ["completed"] * 3
    assert [r["train.learning_rate"] for r in summary_rows(runs)] == ["0.001", "0.002", "0.003"]
    assert summary_rows(runs)[0]["best_val_accuracy"] == "0.35"
    data = sweep_json(runs)
    assert data["status"] == "completed" and data["schema"] == "cifar-tui/sweep/1"
    assert data["error"] is None
    assert [r["overrides"] for r in data["runs"]] == [
        {"train.learning_rate": v} for v in (0.001, 0.002, 0.003)
    ]
    assert [Path(r["run_dir"]) for r in data["runs"]] == run_dirs(runs)
    assert data["sweep_file"] == str(tmp_path / "fake.toml")


def test_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    code, out, _ = drive_fake(fake_sweep(tmp_path, "0.001, 5.0, 0.003"), runs)
    assert code == EXIT_FAILED
    assert "[2/3] fake lr=5.0: diverged in 0:00: Diverged: the loss became nan" in out
    assert [r["status"] for r in summary_rows(runs)] == ["completed", "diverged", "completed"]
    assert sweep_json(runs)["status"] == "failed"
    # run again: a diverged run would diverge again, so it is skipped like a completed one
    code, out, _ = drive_fake(fake_sweep(tmp_path, "0.001, 5.0, 0.003"), runs)
    assert code == EXIT_FAILED
    assert "[2/3] fake lr=5.0: diverged earlier, skipped (Diverged: the loss became nan)" in out
    assert len(run_dirs(runs)) == 3


def test_stop_request_mid_run_then_resume_skips_finished_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    path = fake_sweep(tmp_path)
    driver = make_driver(path, runs)

    def stop_in_run_two(run: FakeRun, epoch: int) -> None:
        if run.profile.train.learning_rate == 0.002 and epoch == 1:
            driver.request_stop()

    FakeRun.hook = stop_in_run_two
    assert driver.execute() == EXIT_STOPPED
    assert isinstance(driver.out, io.StringIO)
    assert "[2/3] fake lr=0.002: stopped after 1 of 2 epochs" in driver.out.getvalue()
    assert "resume with the same command: cifar-tui --sweep fake.toml" in driver.out.getvalue()
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
    """A stop when no run trains (here: as run 1 ends) ends the sweep; run 1 is not touched."""

    class StopAfterRunOne(Notes):
        def run_ended(self, entry: SweepEntry, *args: Any) -> None:
            super().run_ended(entry, *args)
            loop.request_stop()

    runs = tmp_path / "runs"
    notes = StopAfterRunOne()
    loop = fake_loop(fake_sweep(tmp_path), runs, notes)
    assert loop.run() == "stopped"
    assert [r["status"] for r in sweep_json(runs)["runs"]] == ["completed", "pending", "pending"]
    assert [n for n in notes.said if n[0] == "run_starting"] == [
        ("run_starting", "lr=0.001", "start")
    ]
    assert FakeRun.made == ["start smoke-lr-0.001"]


def test_stop_while_the_next_run_is_set_up_does_not_start_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"

    def make_run(profile: Any) -> FakeRun:
        if profile.train.learning_rate == 0.002:
            driver._on_sigint(signal.SIGINT, None)  # Ctrl+C lands while run 2 is set up
        return FakeRun(profile, runs)

    driver = make_driver(fake_sweep(tmp_path), runs, make_run=make_run)
    assert driver.execute() == EXIT_STOPPED
    data = sweep_json(runs)
    assert [r["status"] for r in data["runs"]] == ["completed", "pending", "pending"]
    assert data["runs"][1]["started"] is None and len(run_dirs(runs)) == 1
    assert FakeRun.made == ["start smoke-lr-0.001", "start smoke-lr-0.002"]  # built, not run


def test_stop_while_a_resumed_run_is_set_up_leaves_it_untouched(tmp_path: Path) -> None:
    """The stop lands between Run.resume and its start: the stopped run keeps its files and
    its place in sweep.json, and no front hears of it starting."""
    runs = tmp_path / "runs"
    path = fake_sweep(tmp_path)
    FakeRun.hook = lambda run, epoch: run.request_stop() if epoch == 1 else None
    assert fake_loop(path, runs, SweepHooks()).run() == "stopped"
    (stopped,) = run_dirs(runs)
    files = {p.name: p.read_bytes() for p in stopped.iterdir() if p.is_file()}
    before = sweep_json(runs)["runs"][0]

    def resume_run(run_dir: Path) -> FakeRun:
        loop.request_stop()
        return FakeRun.resume(run_dir)

    FakeRun.reset()
    notes = Notes()
    loop = fake_loop(path, runs, notes)
    loop.resume_run = resume_run
    assert loop.run() == "stopped"
    assert FakeRun.made == [f"resume {stopped.name}"]  # built, never executed
    assert {p.name: p.read_bytes() for p in stopped.iterdir() if p.is_file()} == files
    after = sweep_json(runs)["runs"][0]
    assert (after["status"], after["started"], after["run_dir"]) == (
        "stopped",
        before["started"],
        before["run_dir"],
    )
    assert notes.said == [("sweep_started",), ("sweep_ended", None)]


def test_the_loop_tells_the_hooks_in_order(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    notes = Notes()
    loop = fake_loop(fake_sweep(tmp_path, "0.001, 5.0"), runs, notes)
    assert loop.run() == "failed"
    events = ["status", "run_opened", "run_started"] + ["batch_progress", "epoch_ended"] * 2
    assert notes.said == [
        ("sweep_started",),
        ("run_starting", "lr=0.001", "start"),
        *(("event", "lr=0.001", name) for name in [*events, "run_finished"]),
        ("run_ended", "lr=0.001", "completed", "completed", None),
        ("run_starting", "lr=5.0", "start"),
        *(("event", "lr=5.0", name) for name in [*events[:3], "run_finished"]),
        ("run_ended", "lr=5.0", "diverged", "diverged", None),
        ("sweep_ended", None),
    ]


def test_run_dir_is_in_sweep_json_from_run_opened_and_the_eta_counts_live_epochs(
    tmp_path: Path,
) -> None:
    """The engine says where the run lives as soon as it exists: sweep.json names it then,
    long before the run ends (a sweep killed now still finds the run)."""
    runs = tmp_path / "runs"
    seen: dict[str, Any] = {}

    class Watch(SweepHooks):
        def event(self, entry: SweepEntry, event: Event) -> None:
            if isinstance(event, RunOpened) and entry.run.index == 2:
                recorded = sweep_json(runs)["runs"][1]
                seen["opened"] = (recorded["run_dir"], recorded["status"], event.run_dir)
            if isinstance(event, EpochEnded) and entry.run.index == 2:
                seen["eta"] = loop.eta()

    loop = fake_loop(fake_sweep(tmp_path), runs, Watch())
    assert loop.run() == "completed"
    run_dir, status, announced = seen["opened"]
    assert run_dir == str(Path(announced).resolve()) and status == "running"
    assert Path(run_dir) == run_dirs(runs)[1]
    # run 2's second epoch: 2 + 2 measured, 6 - 4 = 2 epochs left
    eta = seen["eta"]
    assert (eta.epochs_left, eta.median_epoch_seconds, eta.seconds) == (2, 2.0, 4.0)


def test_a_run_that_cannot_start_ends_the_sweep_and_the_cli_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the console does (tests/test_tui_sweeps.py): the sweep ends with the error, recorded,
    its summary written; the command line prints the error's one line and exits 2."""
    from tui.cli.main import main

    runs = tmp_path / "runs"
    monkeypatch.setattr("core.training.engine.Run", FakeRun)  # the default make_run's
    FakeRun.cannot_start = {"smoke-lr-0.002": DataError(MISSING_DATA)}
    path = fake_sweep(tmp_path)
    code = main(["--sweep", str(path), "--set", "train.epochs=2", "--runs-dir", str(runs),
                 "--plain"])  # fmt: skip
    out, err = capsys.readouterr()
    print(out, err)
    assert code == EXIT_USAGE
    assert err == f"cifar-tui: error: {MISSING_DATA}\n"
    assert "[1/3] fake lr=0.001: completed" in out
    assert "sweep fake: incomplete" in out and "resume with the same command" in out
    assert "[2/3]" not in out  # no outcome line for a run that never started
    assert FakeRun.made == ["start smoke-lr-0.001", "start smoke-lr-0.002"]
    assert_ended_by_missing_data(runs)


def test_a_run_that_cannot_start_reaches_every_hook_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    error = DataError(MISSING_DATA)
    FakeRun.cannot_start = {"smoke-lr-0.002": error}
    notes = Notes()
    loop = fake_loop(fake_sweep(tmp_path), runs, notes)
    assert loop.run() == ERROR and loop.error is error
    assert notes.said[-4:] == [
        ("run_starting", "lr=0.002", "start"),
        ("event", "lr=0.002", "status"),
        ("run_ended", "lr=0.002", "pending", None, error),
        ("sweep_ended", error),
    ]
    assert_ended_by_missing_data(runs)


def test_a_sweep_running_elsewhere_ends_with_an_error_and_writes_nothing(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    path = fake_sweep(tmp_path)
    other = SweepDir.open(runs, load_sweep(path, ["train.epochs=2"]))
    notes = Notes()
    loop = fake_loop(path, runs, notes)
    assert loop.run() == ERROR and loop.sweep_dir is None
    assert isinstance(loop.error, RunDirError) and "already running" in str(loop.error)
    assert notes.said == [("sweep_ended", loop.error)]
    assert FakeRun.made == []
    driver = make_driver(path, runs)
    with pytest.raises(RunDirError, match="already running in another process"):
        driver.execute()  # main() prints it in one line, exit 2
    other.close()


def test_importing_the_loop_loads_no_engine() -> None:
    """The engine (and with it TensorFlow) is imported only when a run is made."""
    code = (
        "import sys, core.sweeps.loop; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', "
        "'jax') or m == 'core.training.engine'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_sweep_command_repeats_the_sweep() -> None:
    assert sweep_command("my sweeps/a.toml", ["train.epochs=1"], Path("runs"), plain=True) == (
        "cifar-tui --sweep 'my sweeps/a.toml' --set train.epochs=1 --runs-dir runs --plain"
    )
    assert sweep_command(Path("s.toml"), (), "r") == "cifar-tui --sweep s.toml --runs-dir r"


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
    killed = rundir.new_run_dir(runs, one.run.profile.name)
    report = {"status": "running", "profile": one.run.profile.to_dict(), "epochs": []}
    rundir.atomic_write(killed / "report.json", json.dumps(report))
    sweep_dir.attach(one, killed)
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
    read_line(proc, "[1/3] smoke-lr lr=0.001: completed", seen)
    read_line(proc, "epoch 1/2", seen)  # run 2 is training: stop it there
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
