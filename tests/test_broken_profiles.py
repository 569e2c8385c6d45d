"""Every broken profile in tests/broken_profiles/ and the one error line it must produce.

A profile mistake must never fall back to a default or end in a traceback: it is one
``ProfileError`` whose text names the file, the key and what the key allows. Each case is checked
in-process through ``core.profiles.load_profile``; a representative subset (``cli=True``) also
runs ``python -m tui.cli.main --check`` to pin exit code 2, the message on stderr and no traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from core.errors import EXIT_USAGE, ProfileError
from core.profiles import load_profile

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ROOT / "tests" / "broken_profiles"
HPARAMS = BROKEN / "hparams"
BASE = BROKEN / "valid_base.toml"

TYPES_OF_INT = "must be an integer >= 1 and <= 8192"
WINDOW = "must be a list of two integers [first, last] with 1 <= first <= last"
HPARAM_TABLES = "this file may set only [augment], [train], [train.reduce_lr]"


@dataclass(frozen=True)
class Case:
    """One broken input and what its error must say."""

    id: str
    profile: str  # file under tests/broken_profiles/ (the run profile)
    expect: tuple[str, ...]  # fragments the message must contain: what is allowed, what was given
    key: str | None = None  # the key the error names
    line: int | None = None  # the line it names (None: the error has no line)
    hparams: str | None = None  # file under tests/broken_profiles/hparams/
    overrides: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cli: bool = False  # also run through the command line

    @property
    def profile_path(self) -> Path:
        return BROKEN / self.profile

    @property
    def hparams_path(self) -> Path | None:
        return HPARAMS / self.hparams if self.hparams else None

    @property
    def blamed(self) -> str:
        """What the error must name as the source of the mistake."""
        if self.overrides:
            return "--set"
        if self.hparams:
            return self.hparams
        return self.profile


CASES = [
    # --- unknown names, with a suggestion and the list of what is allowed ---------------------
    Case(
        "unknown-table",
        "unknown_table.toml",
        key="modle",
        line=4,
        expect=(
            "unknown key or table",
            '(did you mean "model"?)',
            "allowed: name, description, [augment], [data], [export], [model], [pipeline], "
            "[profiler], [train]",
        ),
    ),
    Case(
        "unknown-key",
        "unknown_key.toml",
        key="train.learning_rat",
        line=6,
        cli=True,
        expect=(
            "unknown key in [train]",
            '(did you mean "learning_rate"?)',
            "allowed: optimizer, learning_rate, momentum, batch_size",
        ),
    ),
    Case(
        "unknown-top-level-key",
        "unknown_top_level_key.toml",
        key="nmae",
        line=3,
        expect=("unknown key or table", '(did you mean "name"?)', "allowed: name, description"),
    ),
    # --- wrong types --------------------------------------------------------------------------
    Case(
        "bool-for-int",
        "bool_for_int.toml",
        key="train.batch_size",
        line=5,
        cli=True,
        expect=(TYPES_OF_INT, "got true"),
    ),
    Case(
        "string-for-float",
        "string_for_float.toml",
        key="train.learning_rate",
        line=5,
        expect=("must be a number > 0 and <= 10", 'got "0.001"'),
    ),
    Case(
        "int-for-string",
        "int_for_string.toml",
        key="train.optimizer",
        line=5,
        expect=('must be one of "adam", "sgd"', "got 1"),
    ),
    Case(
        "float-for-int",
        "float_for_int.toml",
        key="model.input_size",
        line=6,
        expect=("must be an integer >= 0 and <= 512", "got 224.0"),
    ),
    Case(
        "inline-table-for-value",
        "table_for_value.toml",
        key="train.epochs",
        line=5,
        expect=("must be an integer >= 1 and <= 100000", "got a table"),
    ),
    Case(
        "table-header-for-value",
        "table_header_for_value.toml",
        key="train.epochs",
        line=7,
        expect=("must be an integer >= 1 and <= 100000", "got a table"),
    ),
    Case(
        "value-for-table",
        "value_for_table.toml",
        key="model",
        line=3,
        expect=("must be a table ([model])", 'got "alexnet"'),
    ),
    Case(
        "name-not-string",
        "name_not_string.toml",
        key="name",
        line=2,
        expect=("must be a string", "got 42"),
    ),
    # --- out of range ---------------------------------------------------------------------------
    Case(
        "negative-learning-rate",
        "negative_learning_rate.toml",
        key="train.learning_rate",
        line=5,
        expect=("must be a number > 0 and <= 10", "got -0.001"),
    ),
    Case(
        "learning-rate-nan",
        "learning_rate_nan.toml",
        key="train.learning_rate",
        line=5,
        expect=("must be a number > 0 and <= 10", "got nan"),
    ),
    Case(
        "zero-batch-size",
        "zero_batch_size.toml",
        key="train.batch_size",
        line=5,
        expect=(TYPES_OF_INT, "got 0"),
    ),
    Case(
        "momentum-one",
        "momentum_one.toml",
        key="train.momentum",
        line=6,
        expect=("must be a number >= 0 and < 1", "got 1.0"),
    ),
    Case(
        "reduce-lr-factor-zero",
        "reduce_lr_factor_zero.toml",
        key="train.reduce_lr.factor",
        line=6,
        expect=("must be a number > 0 and < 1", "got 0"),
    ),
    Case(
        "reduce-lr-factor-one",
        "reduce_lr_factor_one.toml",
        key="train.reduce_lr.factor",
        line=5,
        expect=("must be a number > 0 and < 1", "got 1.0"),
    ),
    Case(
        "flip-not-a-choice",
        "flip_not_a_choice.toml",
        key="augment.flip",
        line=5,
        expect=(
            'must be one of "none", "horizontal", "vertical", "horizontal_and_vertical"',
            'got "horizontally"',
        ),
    ),
    Case(
        "precision-typo",
        "precision_typo.toml",
        key="train.precision",
        line=5,
        expect=(
            'must be one of "float32", "mixed_float16", "mixed_bfloat16"',
            'got "mixed-float16"',
        ),
    ),
    Case(
        "parallel-calls-auto",
        "parallel_calls_auto.toml",
        key="pipeline.num_parallel_calls",
        line=6,
        expect=('must be an integer or "autotune" >= 1 and <= 256', 'got "auto"'),
    ),
    # --- the profiler window ----------------------------------------------------------------
    Case(
        "window-ends-before-start",
        "window_ends_before_start.toml",
        key="profiler.batches",
        line=6,
        expect=(WINDOW, "got [520, 500]"),
    ),
    Case(
        "window-three-numbers",
        "window_three_numbers.toml",
        key="profiler.batches",
        line=5,
        expect=(WINDOW, "got [500, 510, 520]"),
    ),
    Case(
        "window-starts-at-zero",
        "window_starts_at_zero.toml",
        key="profiler.batches",
        line=5,
        expect=(WINDOW, "got [0, 10]"),
    ),
    # --- checks across keys ---------------------------------------------------------------------
    Case(
        "validation-larger-than-data",
        "validation_larger_than_data.toml",
        key="data.validation_size",
        line=7,
        expect=(
            "validation_size 800 leaves no training images",
            "the source has 500 training images",
            "it must be smaller than that",
        ),
    ),
    Case(
        "batch-larger-than-training-set",
        "batch_larger_than_training_set.toml",
        key="train.batch_size",
        line=10,
        expect=("batch_size 256 is larger than the 200 training images",),
    ),
    Case(
        "alexnet-input-too-small",
        "alexnet_input_too_small.toml",
        key="model.input_size",
        line=6,
        cli=True,
        expect=(
            "input_size 64 is too small for alexnet",
            "it needs at least 67",
            "or 0 for its native 224",
        ),
    ),
    Case(
        "vgg16-input-too-small",
        "vgg16_input_too_small.toml",
        key="model.input_size",
        line=6,
        expect=(
            "input_size 16 is too small for vgg16",
            "it needs at least 32",
            "or 0 for its native 224",
        ),
    ),
    Case(
        "too-many-scanned-steps-on-jax",
        "too_many_scanned_steps_on_jax.toml",
        key="train.steps_per_execution",
        line=11,
        env=(("KERAS_BACKEND", "jax"),),
        cli=True,
        expect=(
            "steps_per_execution 65 is more than 64 on JAX",
            "one unrolled program",
            "use at most 64",
        ),
    ),
    # --- train.devices: the batches must split evenly over them --------------------------------
    Case(
        "devices-split-the-batch-unevenly",
        "devices_split_the_batch_unevenly.toml",
        key="train.batch_size",
        line=10,
        cli=True,
        expect=(
            "batch_size 50 does not split evenly over 4 devices",
            "use a multiple of 4 (48 or 52); or train.devices = 2, 5 or 10",
        ),
    ),
    Case(
        "devices-split-the-validation-unevenly",
        "devices_split_the_validation_unevenly.toml",
        key="data.validation_size",
        line=6,
        expect=(
            "the validation set's 101 images do not split evenly over 2 devices",
            "its last batch of 1 images cannot be shared",
            "use validation_size 100 or 102",
        ),
    ),
    Case(
        "devices-set-uneven",
        "valid_base.toml",
        overrides=("train.devices=3",),
        key="train.devices",
        expect=("batch_size 50 does not split evenly over 3 devices", "train.devices = 2, 5 or 10"),
    ),
    Case(
        "devices-zero",
        "devices_zero.toml",
        key="train.devices",
        line=4,
        expect=('must be an integer or "all" >= 1 and <= 1024', "got 0"),
    ),
    Case(
        "devices-with-scanned-steps-on-jax",
        "devices_with_scanned_steps_on_jax.toml",
        key="train.steps_per_execution",
        line=10,
        env=(("KERAS_BACKEND", "jax"),),
        expect=("JAX would split over the devices as one array", "use steps_per_execution = 1"),
    ),
    # --- names --------------------------------------------------------------------------------
    Case(
        "missing-name",
        "missing_name.toml",
        key="name",
        expect=('missing key "name"', 'a short run name, e.g. "alexnet"'),
    ),
    Case(
        "bad-name",
        "bad_name.toml",
        key="name",
        line=2,
        expect=("must be 1-64 letters, digits, '.', '_' or '-'", 'got "my run/1"'),
    ),
    # --- files that are not TOML profiles -------------------------------------------------------
    Case(
        "invalid-toml",
        "invalid_toml.toml",
        line=7,
        cli=True,
        expect=("invalid TOML",),
    ),
    Case(
        "binary-file",
        "binary.toml",
        cli=True,
        expect=("is not a text file (a UTF-8 TOML profile was expected)",),
    ),
    Case(
        "nul-byte",
        "nul_byte.toml",
        expect=("is not a text file (a UTF-8 TOML profile was expected)",),
    ),
    Case("missing-file", "does_not_exist.toml", cli=True, expect=("no such file",)),
    Case("directory", "directory.toml", expect=("is a directory, not a TOML file",)),
    # --- the folder data source -----------------------------------------------------------------
    Case(
        "folder-without-path",
        "folder_without_path.toml",
        key="data.source",
        line=5,
        expect=(
            'source = "folder" needs data.path',
            "a folder with train/<class>/ and test/<class>/, or a .tar.gz of one",
        ),
    ),
    Case(
        "folder-missing-path",
        "folder_missing_path.toml",
        key="data.path",
        line=6,
        cli=True,
        # a relative path is resolved against the profile's folder, and shown resolved
        expect=(f"no such folder or file: {BROKEN / 'no_such_dataset'}",),
    ),
    Case(
        "folder-without-train",
        "folder_without_train.toml",
        key="data.path",
        line=6,
        expect=(
            f"{BROKEN / 'dataset_without_train'} has no train/ folder",
            "expected train/<class>/<image>",
        ),
    ),
    Case(
        "path-without-folder-source",
        "path_without_folder_source.toml",
        key="data.path",
        line=6,
        expect=('data.path is used only with source = "folder"', 'source is "synthetic"'),
    ),
    # --- hyperparameter profiles laid over valid_base.toml ------------------------------------
    Case(
        "hparams-sets-model",
        "valid_base.toml",
        hparams="sets_model.toml",
        key="model",
        line=7,
        cli=True,
        expect=("[model] is not allowed here", HPARAM_TABLES),
    ),
    Case(
        "hparams-sets-data",
        "valid_base.toml",
        hparams="sets_data.toml",
        key="data",
        line=4,
        expect=("[data] is not allowed here", HPARAM_TABLES),
    ),
    Case(
        "hparams-unknown-key",
        "valid_base.toml",
        hparams="unknown_key.toml",
        key="train.batch_sise",
        line=5,
        expect=("unknown key in [train]", '(did you mean "batch_size"?)', "allowed: optimizer"),
    ),
    Case(
        "hparams-bad-value",
        "valid_base.toml",
        hparams="bad_value.toml",
        key="train.reduce_lr.patience",
        line=5,
        expect=("must be an integer >= 0", "got -1"),
    ),
    # --- --set overrides on valid_base.toml ---------------------------------------------------
    Case(
        "set-without-equals",
        "valid_base.toml",
        overrides=("train.epochs",),
        cli=True,
        expect=("'train.epochs' is not of the form table.key=value",),
    ),
    Case(
        "set-bad-value",
        "valid_base.toml",
        overrides=("train.epochs=ten",),
        key="train.epochs",
        cli=True,
        expect=("must be an integer >= 1 and <= 100000", 'got "ten"'),
    ),
    Case(
        "set-without-table",
        "valid_base.toml",
        overrides=("epochs=5",),
        expect=("'epochs=5': the key must be table.key, e.g. train.epochs",),
    ),
    Case(
        "set-unknown-key",
        "valid_base.toml",
        overrides=("train.learning_rat=0.1",),
        key="train.learning_rat",
        expect=('(did you mean "learning_rate"?)',),
    ),
    Case(
        "set-too-much-validation",
        "valid_base.toml",
        overrides=("data.validation_size=600",),
        key="data.validation_size",
        expect=("validation_size 600 leaves no training images", "600 training images"),
    ),
]
CLI_CASES = [c for c in CASES if c.cli]


def _load(case: Case) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        load_profile(case.profile_path, case.hparams_path, list(case.overrides))
    return info.value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_profile_error(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    for name, value in case.env:
        monkeypatch.setenv(name, value)
    exc = _load(case)
    message = str(exc)
    print(message)

    # the file that holds the mistake comes first, then its line, then the key
    assert Path(exc.file).name == case.blamed, message
    prefix = exc.file + (f":{case.line}" if case.line else "")
    prefix += f": {case.key}" if case.key else ""
    assert message.startswith(prefix + ": "), message
    assert exc.key == case.key, message
    assert exc.line == case.line, message
    for fragment in case.expect:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message and "Traceback" not in message


def test_every_broken_file_has_a_case_and_every_case_its_file() -> None:
    """The folder and the table above stay in step, both ways.

    Every broken file on disk is the one a case blames, with the message that case expects;
    every file a case names is on disk, except those whose absence is the mistake.
    """
    on_disk = {p.relative_to(BROKEN).as_posix() for p in BROKEN.rglob("*.toml") if p.is_file()}
    on_disk.add("directory.toml")  # a folder, the mistake of its case
    absent = {"does_not_exist.toml"}
    named = {c.profile for c in CASES} | {f"hparams/{c.hparams}" for c in CASES if c.hparams}
    assert named - absent <= on_disk, f"files the cases name: {sorted(named - absent - on_disk)}"
    blamed = {
        f"hparams/{c.blamed}" if c.hparams else c.blamed
        for c in CASES
        if c.expect and not c.overrides
    }
    broken = on_disk - {"valid_base.toml"}
    assert broken <= blamed, f"broken files no case blames: {sorted(broken - blamed)}"
    assert "valid_base.toml" not in blamed  # the base is valid: its cases fail for their own reason
    assert len({c.id for c in CASES}) == len(CASES), "two cases share an id"
    # the cases that depend on something being absent
    assert not (BROKEN / "does_not_exist.toml").exists()
    assert not (BROKEN / "no_such_dataset").exists()
    assert not (BROKEN / "dataset_without_train" / "train").exists()
    assert (BROKEN / "directory.toml").is_dir()


def test_base_and_jax_case_are_valid_on_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases laid over valid_base.toml fail for their own reason, not the base's."""
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert load_profile(BASE).name == "base"
    profile = load_profile(BROKEN / "too_many_scanned_steps_on_jax.toml")
    assert profile.train.steps_per_execution == 65


def _cli_args(case: Case) -> list[str]:
    args = ["--check", str(case.profile_path.relative_to(ROOT))]
    if case.hparams_path:
        args += ["--hparams", str(case.hparams_path.relative_to(ROOT))]
    for item in case.overrides:
        args += ["--set", item]
    return args


#: What the errors of the checks across keys say (core.profiles.resolve, after each layer's own).
ACROSS = ("is too small for", "is larger than the", "leaves no training images", "is more than")


def test_cli_subset_covers_each_way_a_mistake_arrives() -> None:
    """The command line is checked for each source of a mistake, not for a count of cases."""
    kinds = {
        "a key in the run profile": lambda c: c.key and not c.hparams and not c.overrides,
        "a check across keys": lambda c: any(text in " ".join(c.expect) for text in ACROSS),
        "a hyperparameter profile": lambda c: c.hparams is not None,
        "a --set override": lambda c: bool(c.overrides),
        "a file that is not a TOML profile": lambda c: c.key is None and not c.overrides,
        "a missing file": lambda c: not c.profile_path.exists(),
        "the environment": lambda c: bool(c.env),
    }
    missing = [kind for kind, match in kinds.items() if not any(match(c) for c in CLI_CASES)]
    assert not missing, f"no command-line case for: {missing}"


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_broken_profile_cli(case: Case, cli: Callable[..., CompletedProcess[str]]) -> None:
    proc = cli(*_cli_args(case), env={"KERAS_BACKEND": None, **dict(case.env)}, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == EXIT_USAGE, output
    assert "Traceback" not in output
    assert proc.stderr.startswith("cifar-tui: error: "), proc.stderr
    assert case.blamed in proc.stderr
    if case.key:
        assert case.key in proc.stderr
    if case.line:
        assert f"{case.blamed}:{case.line}" in proc.stderr
    for fragment in case.expect:
        assert fragment in proc.stderr, proc.stderr
    assert proc.stdout == ""
