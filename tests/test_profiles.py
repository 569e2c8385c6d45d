"""Valid profiles: the shipped ones, how layers merge, --set values, lines, dump and reload."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.config import Profile
from core.errors import ProfileError
from core.profiles import dump_profile, load_profile, parse_override, profile_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "profiles").glob("*.toml"))
HPARAMS = sorted((ROOT / "profiles" / "hparams").glob("*.toml"))
SMOKE = ROOT / "profiles" / "smoke.toml"


@pytest.fixture(autouse=True)
def _tensorflow_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profile checks read KERAS_BACKEND; pin it so a JAX session does not change the answers."""
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- shipped profiles ---------------------------------------------------------------------------


def test_there_are_shipped_profiles() -> None:
    names = {p.stem for p in PROFILES}
    assert {"alexnet", "vgg16", "vgg_small", "smoke"} <= names


@pytest.mark.parametrize("path", PROFILES, ids=[p.name for p in PROFILES])
def test_shipped_profile_validates(path: Path) -> None:
    profile = load_profile(path)
    assert isinstance(profile, Profile)
    assert profile.name
    assert profile.model.input_size > 0  # 0 ("native") is resolved


@pytest.mark.parametrize(
    "path", HPARAMS or [None], ids=[p.name for p in HPARAMS] or ["none-shipped"]
)
def test_shipped_hparams_validate(path: Path | None) -> None:
    if path is None:
        pytest.skip("profiles/hparams/ holds no *.toml yet")
    for run_profile in PROFILES:
        if path.name == "augment-first.toml" and run_profile.name == "alexnet-host.toml":
            # The host pipeline hands over resized images: augmenting first cannot apply.
            with pytest.raises(ProfileError, match=r"augment\.order"):
                load_profile(run_profile, hparams=path)
            continue
        load_profile(run_profile, hparams=path)


def test_notebook_profiles_keep_the_notebook_settings() -> None:
    alexnet = load_profile(ROOT / "profiles" / "alexnet.toml")
    assert (alexnet.model.architecture, alexnet.model.input_size) == ("alexnet", 224)
    assert alexnet.augment.flip == "horizontal_and_vertical"
    assert alexnet.augment.rotation == 0.2
    assert alexnet.augment.order == "resize_first"
    assert alexnet.profiler.batches == (500, 520)
    assert alexnet.data.validation_size == 5000
    assert load_profile(ROOT / "profiles" / "vgg_small.toml").model.input_size == 32
    assert load_profile(ROOT / "profiles" / "vgg16.toml").model.input_size == 224


# --- merging ------------------------------------------------------------------------------------

RUN = """\
name = "run"
description = "the run profile"

[data]
source = "synthetic"
validation_size = 100
synthetic_train = 600

[train]
learning_rate = 0.1
epochs = 7
batch_size = 50
"""
HP = """\
name = "hp-label"
description = "the hparams profile"

[augment]
flip = "horizontal"

[train]
learning_rate = 0.01
batch_size = 25

[train.reduce_lr]
factor = 0.5
"""


def test_merge_order(tmp_path: Path) -> None:
    run = write(tmp_path / "run.toml", RUN)
    hp = write(tmp_path / "hp.toml", HP)

    alone = load_profile(run)
    assert (alone.train.learning_rate, alone.train.batch_size, alone.train.epochs) == (0.1, 50, 7)

    # hparams override the run profile; what they leave out keeps the run profile's value
    with_hp = load_profile(run, hp)
    assert with_hp.train.learning_rate == 0.01
    assert with_hp.train.batch_size == 25
    assert with_hp.train.epochs == 7
    assert with_hp.augment.flip == "horizontal"
    assert with_hp.train.reduce_lr.factor == 0.5
    assert with_hp.train.reduce_lr.patience == 3  # default, untouched
    # an hparams profile's name and description label it; they do not rename the run
    assert (with_hp.name, with_hp.description) == ("run", "the run profile")

    # --set overrides both
    with_set = load_profile(
        run, hp, ["train.learning_rate=0.5", "train.epochs=2", "train.reduce_lr.factor=0.1"]
    )
    assert with_set.train.learning_rate == 0.5
    assert with_set.train.epochs == 2
    assert with_set.train.batch_size == 25
    assert with_set.train.reduce_lr.factor == 0.1
    # --set may rename the run, and may set tables an hparams profile may not
    renamed = load_profile(run, hp, ["name=renamed", "model.architecture=vgg16"])
    assert renamed.name == "renamed"
    assert renamed.model.architecture == "vgg16"
    assert renamed.model.input_size == 224  # native size of the new architecture


def test_later_set_wins(tmp_path: Path) -> None:
    run = write(tmp_path / "run.toml", RUN)
    assert load_profile(run, None, ["train.epochs=3", "train.epochs=4"]).train.epochs == 4


def test_cross_key_error_names_the_layer_that_set_the_key(tmp_path: Path) -> None:
    run = write(tmp_path / "run.toml", RUN)
    hp = write(tmp_path / "hp.toml", "[train]\nbatch_size = 600\n")
    with pytest.raises(ProfileError) as info:
        load_profile(run, hp)
    assert info.value.file == str(hp)
    assert info.value.key == "train.batch_size"
    assert info.value.line == 2
    assert "batch_size 600 is larger than the 500 training images" in str(info.value)


# --- --set values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "key", "value"),
    [
        ("train.epochs=5", "train.epochs", 5),
        ("train.epochs = 5", "train.epochs", 5),
        ("train.learning_rate=1e-3", "train.learning_rate", 0.001),
        ("train.reduce_lr.enabled=false", "train.reduce_lr.enabled", False),
        ("profiler.batches=[2, 4]", "profiler.batches", [2, 4]),
        ('train.optimizer="sgd"', "train.optimizer", "sgd"),
        ("train.optimizer=sgd", "train.optimizer", "sgd"),  # a bare string
        ("description=two words", "description", "two words"),
        ("data.path=../shared/data/cifar10-mini", "data.path", "../shared/data/cifar10-mini"),
        ("train.epochs=ten", "train.epochs", "ten"),  # taken as a string; rejected later
    ],
)
def test_parse_override(item: str, key: str, value: object) -> None:
    parsed_key, parsed = parse_override(item)
    assert parsed_key == key
    assert parsed == value
    assert type(parsed) is type(value)


def test_set_values_reach_the_profile(tmp_path: Path) -> None:
    run = write(tmp_path / "run.toml", RUN)
    profile = load_profile(
        run,
        None,
        [
            "train.optimizer=sgd",
            "train.momentum=0.9",
            "train.learning_rate=1",  # an integer is a fine float
            "profiler.batches=[2, 4]",
            "pipeline.prefetch=autotune",
            "pipeline.shuffle_buffer=0",
            "train.reduce_lr.enabled=false",
        ],
    )
    assert profile.train.optimizer == "sgd"
    assert profile.train.momentum == 0.9
    assert profile.train.learning_rate == 1.0
    assert isinstance(profile.train.learning_rate, float)
    assert profile.profiler.batches == (2, 4)
    assert profile.pipeline.prefetch == "autotune"
    assert profile.pipeline.shuffle_buffer == 0
    assert profile.train.reduce_lr.enabled is False


# --- line numbers -------------------------------------------------------------------------------


def test_line_of_a_bad_key(tmp_path: Path) -> None:
    # "enabled" is in two tables; the line must be that of the bad one, in [profiler]
    path = write(
        tmp_path / "lines.toml",
        "# comment\n"
        'name = "lines"\n'
        "\n"
        "[train.reduce_lr]\n"
        "enabled = true\n"
        "\n"
        "[profiler]   # the profiler\n"
        "batches = [1, 2]\n"
        'enabled = "yes"   # line 9\n',
    )
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.line == 9
    assert info.value.key == "profiler.enabled"
    assert str(info.value).startswith(f"{path}:9: profiler.enabled: must be true or false")


def test_line_of_a_bad_table(tmp_path: Path) -> None:
    path = write(tmp_path / "t.toml", 'name = "t"\n\n\n[ trian ]\nepochs = 3\n')
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.line == 4
    assert 'did you mean "train"?' in str(info.value)


# --- dump and reload ----------------------------------------------------------------------------


def roundtrip(profile: Profile) -> Profile:
    return profile_from_dict(tomllib.loads(dump_profile(profile)))


@pytest.mark.parametrize("path", PROFILES, ids=[p.name for p in PROFILES])
def test_dump_reloads_equal(path: Path) -> None:
    profile = load_profile(path)
    again = roundtrip(profile)
    assert again == profile
    assert dump_profile(again) == dump_profile(profile)


def test_dump_reloads_equal_with_overrides_and_folder(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for split, n in (("train", 4), ("test", 1)):
        for name in ("cat", "dog"):  # two classes: a data set of one is refused
            (tree / split / name).mkdir(parents=True)
            for i in range(n):
                (tree / split / name / f"{i}.jpg").write_bytes(b"not decoded by a profile check")
    run = write(
        tmp_path / "p" / "run.toml",
        'name = "folder"\n[data]\nsource = "folder"\npath = "../tree"\nvalidation_size = 1\n'
        "[train]\nbatch_size = 2\n",
    )
    profile = load_profile(
        run,
        None,
        [
            "train.optimizer=sgd",
            "train.momentum=0.5",
            "profiler.batches=[1, 3]",
            "pipeline.num_parallel_calls=4",
            "train.precision=mixed_bfloat16",
        ],
    )
    again = roundtrip(profile)
    assert again == profile
    assert again.data.path == str(tree.resolve())


# --- data.path ----------------------------------------------------------------------------------


def make_tree(root: Path) -> Path:
    for split, n in (("train", 4), ("test", 1)):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (root / split / cls / f"{i}.png").write_bytes(b"x")
    return root


def test_relative_data_path_is_resolved_against_the_profile_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = make_tree(tmp_path / "datasets" / "tree")
    run = write(
        tmp_path / "profiles" / "run.toml",
        'name = "rel"\n[data]\nsource = "folder"\npath = "../datasets/tree"\n'
        "validation_size = 2\n[train]\nbatch_size = 2\n",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not relative to the working directory
    profile = load_profile(run)
    assert profile.data.path == str(tree.resolve())
    assert Path(profile.data.path).is_absolute()


def test_relative_data_path_from_set_is_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = make_tree(tmp_path / "tree")
    run = write(
        tmp_path / "profiles" / "run.toml",
        'name = "rel"\n[data]\nsource = "synthetic"\nvalidation_size = 2\n'
        "[train]\nbatch_size = 2\n",
    )
    monkeypatch.chdir(tmp_path)
    profile = load_profile(run, None, ["data.source=folder", "data.path=tree"])
    assert profile.data.path == str(tree.resolve())


def test_default_validation_size_too_large_names_validation_size(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.toml", 'name = "p"\n[data]\nsource = "synthetic"\nsynthetic_train = 1000\n'
    )
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert "validation_size 5000 (the default) leaves no training images" in str(info.value)
    assert info.value.key == "data.validation_size"
