"""Data sources: synthetic, the image-folder tree (and its .tar.gz), the decoded-array cache, and
the cifar10 source's error when it is offline."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import PROFILES

import core.data
from core.config import DataConfig
from core.data import (
    cache_path_for,
    folder_key,
    load_dataset,
    load_folder,
    synthetic_arrays,
    train_count,
)
from core.errors import DataError

#: Every test decodes into its own cache (conftest's private_cache), never the user's ~/.cache.
pytestmark = pytest.mark.usefixtures("private_cache")

CIFAR10_ORDER = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def decode_file(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((32, 32)), dtype=np.uint8)


# --- synthetic ----------------------------------------------------------------------------------


def synthetic(**kw) -> DataConfig:
    base = {
        "source": "synthetic",
        "synthetic_train": 300,
        "synthetic_test": 50,
        "validation_size": 60,
    }
    return DataConfig(**{**base, **kw})


def test_synthetic_is_deterministic() -> None:
    a, b = load_dataset(synthetic()), load_dataset(synthetic())
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.class_names == b.class_names


def test_synthetic_shapes_and_split() -> None:
    ds = load_dataset(synthetic())
    assert ds.x_train.shape == (240, 32, 32, 3)
    assert ds.x_val.shape == (60, 32, 32, 3)
    assert ds.x_test.shape == (50, 32, 32, 3)
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.dtype == np.uint8
    for y, n in ((ds.y_train, 240), (ds.y_val, 60), (ds.y_test, 50)):
        assert y.dtype == np.int32
        assert y.shape == (n,)
        assert y.min() >= 0 and y.max() < 10
    assert ds.num_classes == 10
    # the notebook's split: the first validation_size training images are the validation set
    x, y, _, _ = synthetic_arrays(300, 50)
    np.testing.assert_array_equal(ds.x_val, x[:60])
    np.testing.assert_array_equal(ds.x_train, x[60:])
    np.testing.assert_array_equal(ds.y_val, y[:60])
    # the images are not blank: every class has its own look
    means = {tuple(ds.x_train[ds.y_train == k].mean(axis=(0, 1, 2)).round()) for k in range(10)}
    assert len(means) == 10


def test_synthetic_limit() -> None:
    ds = load_dataset(synthetic(limit=200, validation_size=50))
    assert len(ds.x_train) + len(ds.x_val) == 200
    assert len(ds.x_val) == 50
    assert len(ds.x_test) == 40  # limit / 5
    assert "limit 200" in ds.description
    with pytest.raises(DataError, match="validation_size 200 leaves no training images"):
        load_dataset(synthetic(limit=200, validation_size=200))


# --- the folder source on the real sample ------------------------------------------------------


@pytest.fixture(scope="module")
def mini_dataset(cifar10_mini: Path, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIFAR_TUI_CACHE", str(tmp_path_factory.mktemp("mini-cache")))
        yield load_dataset(DataConfig(source="folder", path=str(cifar10_mini), validation_size=200))


def test_folder_source_on_cifar10_mini(mini_dataset) -> None:
    ds = mini_dataset
    assert ds.class_names == CIFAR10_ORDER
    assert ds.x_train.shape == (800, 32, 32, 3)
    assert ds.x_val.shape == (200, 32, 32, 3)
    assert ds.x_test.shape == (200, 32, 32, 3)
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.dtype == np.uint8
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert y.dtype == np.int32
    train_counts = Counter(np.concatenate([ds.y_train, ds.y_val]).tolist())
    assert train_counts == dict.fromkeys(range(10), 100)
    assert Counter(ds.y_test.tolist()) == dict.fromkeys(range(10), 20)
    # the folder comes class by class; the split shuffles, so validation holds every class
    assert set(ds.y_val.tolist()) == set(range(10))


def test_folder_images_and_labels_match_the_files(mini_dataset, cifar10_mini: Path) -> None:
    """Each test image is decoded right and carries its folder's label (order-free check)."""
    ds = mini_dataset
    for k, name in enumerate(CIFAR10_ORDER):
        files = sorted((cifar10_mini / "test" / name).glob("*.jpg"))
        expected = sorted(decode_file(f).tobytes() for f in files)
        got = sorted(x.tobytes() for x in ds.x_test[ds.y_test == k])
        assert got == expected, name


def test_folder_train_count_without_decoding(
    cifar10_mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_decoding(monkeypatch)
    assert train_count(DataConfig(source="folder", path=str(cifar10_mini))) == 1000


# --- the decoded-array cache -------------------------------------------------------------------

SMALL_CLASSES = ("bird", "cat", "dog")


@pytest.fixture
def small_tree(tmp_path: Path, cifar10_mini: Path) -> Path:
    """3 classes x 5 train and 2 test images copied from cifar10-mini."""
    root = tmp_path / "small"
    for split, n in (("train", 5), ("test", 2)):
        for cls in SMALL_CLASSES:
            (root / split / cls).mkdir(parents=True)
            for f in sorted((cifar10_mini / split / cls).glob("*.jpg"))[:n]:
                shutil.copy2(f, root / split / cls / f.name)
    return root


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = core.data._decode

    def counting(data):
        calls[0] += 1
        return real(data)

    monkeypatch.setattr(core.data, "_decode", counting)
    return calls


def refuse_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data):
        raise AssertionError("decoded again: the cache was not used")

    monkeypatch.setattr(core.data, "_decode", refuse)


def assert_same(a, b) -> None:
    for u, v in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(u, v)
    assert tuple(a[4]) == tuple(b[4])


def test_cache_is_written_and_reused(
    small_tree: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as mp:
        calls = count_decodes(mp)
        first = load_folder(small_tree)
        assert calls[0] == 15 + 6
    x, _, xt, _, classes = first
    assert classes == SMALL_CLASSES
    assert x.shape == (15, 32, 32, 3) and xt.shape == (6, 32, 32, 3)
    cached = cache_path_for(small_tree)
    assert cached.parent == private_cache
    assert cached.is_file()
    assert sorted(p.name for p in private_cache.iterdir()) == [cached.name]

    with monkeypatch.context() as mp:
        refuse_decoding(mp)
        assert_same(load_folder(small_tree), first)
        # through the public entry point as well
        ds = load_dataset(DataConfig(source="folder", path=str(small_tree), validation_size=3))
        assert len(ds.x_train) == 12 and len(ds.x_val) == 3


def test_changed_image_invalidates_the_cache(
    small_tree: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    first = load_folder(small_tree)
    key_before = folder_key(small_tree)

    # rewrite one image with other content (a different size on disk too)
    victim = sorted((small_tree / "train" / "cat").glob("*.jpg"))[0]
    old_size = victim.stat().st_size
    Image.new("RGB", (32, 32), (255, 0, 0)).save(victim, format="JPEG", quality=95)
    assert victim.stat().st_size != old_size
    key_after = folder_key(small_tree)
    assert key_after != key_before

    with monkeypatch.context() as mp:
        calls = count_decodes(mp)
        second = load_folder(small_tree)
        assert calls[0] == 21  # decoded again, not read from the stale cache
    assert len(list(private_cache.glob("folder-*.npz"))) == 2
    red = np.all(np.abs(second[0].astype(int) - [255, 0, 0]) < 8, axis=(1, 2, 3))
    assert red.sum() == 1 and second[1][red][0] == SMALL_CLASSES.index("cat")
    assert not np.all(np.abs(first[0].astype(int) - [255, 0, 0]) < 8, axis=(1, 2, 3)).any()

    # an added image changes the key too
    shutil.copy2(victim, small_tree / "train" / "dog" / "added.jpg")
    assert folder_key(small_tree) not in (key_before, key_after)
    with monkeypatch.context() as mp:
        calls = count_decodes(mp)
        third = load_folder(small_tree)
        assert calls[0] == 22
    assert len(third[0]) == 16


def test_damaged_cache_is_rebuilt(small_tree: Path) -> None:
    first = load_folder(small_tree)
    cache_path_for(small_tree).write_bytes(b"not an npz file")
    assert_same(load_folder(small_tree), first)


def test_tar_gz_loads_like_the_folder(
    small_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "small.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(small_tree, arcname="cifar10-small")  # members under a top folder
    flat = tmp_path / "flat.tar.gz"
    with tarfile.open(flat, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(small_tree / split, arcname=split)  # members at the top

    from_folder = load_folder(small_tree)
    assert_same(load_folder(archive), from_folder)
    assert_same(load_folder(flat), from_folder)
    assert cache_path_for(archive).is_file()
    with monkeypatch.context() as mp:
        refuse_decoding(mp)
        assert_same(load_folder(archive), from_folder)  # from the cache

    ds = load_dataset(DataConfig(source="folder", path=str(archive), validation_size=3))
    assert ds.class_names == SMALL_CLASSES
    assert len(ds.x_train) == 12


def test_folder_errors_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder or file"):
        load_folder(tmp_path / "absent")
    (tmp_path / "only_test" / "test" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="has no train/ folder"):
        load_folder(tmp_path / "only_test")
    bad = tmp_path / "bad"
    for split in ("train", "test"):
        for name in ("cat", "dog"):  # two classes: one class alone is refused first
            (bad / split / name).mkdir(parents=True)
            (bad / split / name / "0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cannot decode image"):
        load_folder(bad)


def jpeg_bytes(colour: tuple[int, int, int] = (0, 128, 255)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _archive(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_archive_with_a_bad_image_is_a_data_error(tmp_path: Path) -> None:
    good = jpeg_bytes()
    path = _archive(tmp_path, {"train/cat/0.jpg": good, "test/cat/0.jpg": b"not a jpeg"})
    with pytest.raises(DataError, match="cannot decode image"):
        load_folder(path)


def test_archive_with_an_unknown_test_class_is_a_data_error(tmp_path: Path) -> None:
    good = jpeg_bytes()
    path = _archive(tmp_path, {"train/cat/0.jpg": good, "test/dog/0.jpg": good})
    with pytest.raises(DataError, match="does not have"):
        load_folder(path)


# --- cifar10 offline ----------------------------------------------------------------------------


def test_cifar10_offline_is_a_clear_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras = pytest.importorskip("keras")

    def offline():
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source="cifar10"))
    message = str(info.value)
    assert "folder" in message
    assert "synthetic" in message
    assert str(tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py") in message
    assert "\n" not in message
    assert "CIFAR_TUI_CIFAR10" in message  # the offline way to keep source = "cifar10"


# --- cifar10 from a local copy -----------------------------------------------------------------


def test_cifar10_reads_the_local_copy_named_by_the_environment(
    cifar10_mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIFAR_TUI_CIFAR10", str(cifar10_mini))
    local = load_dataset(DataConfig(source="cifar10", validation_size=200))
    folder = load_dataset(DataConfig(source="folder", path=str(cifar10_mini), validation_size=200))
    for a, b in ((local.x_train, folder.x_train), (local.y_test, folder.y_test)):
        np.testing.assert_array_equal(a, b)
    assert "CIFAR_TUI_CIFAR10" in local.description and str(cifar10_mini) in local.description
    assert train_count(DataConfig(source="cifar10")) == len(local.x_train) + 200


def test_cifar10_local_copy_that_is_missing_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIFAR_TUI_CIFAR10", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"\$CIFAR_TUI_CIFAR10 .*no such folder or file"):
        load_dataset(DataConfig(source="cifar10"))


def test_cifar10_local_copy_is_checked_with_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.errors import ProfileError
    from core.profiles import load_profile

    monkeypatch.setenv("CIFAR_TUI_CIFAR10", str(tmp_path / "nowhere"))
    vgg16 = PROFILES / "vgg16.toml"
    with pytest.raises(ProfileError, match=r"data\.source: .*\$CIFAR_TUI_CIFAR10.*no such"):
        load_profile(vgg16)
