"""Faults in data folders and archives: each gives one line naming what to fix (DataError,
exit 2), never a traceback or a model with a class it never sees."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import data as data_mod
from core.data import DataError, load_folder


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """train/ and test/ with two classes of two images each; a private decode cache."""
    monkeypatch.setenv("CIFAR_TUI_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "images"
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                (root / split / cls / f"{i}.jpg").write_bytes(_jpeg())
    return root


def test_the_fixture_tree_loads(tree: Path) -> None:
    x, _, xt, _, classes = load_folder(tree)
    assert classes == ("cat", "dog") and len(x) == 4 and len(xt) == 4


def test_a_dangling_link_among_the_images_names_the_file(tree: Path) -> None:
    link = tree / "train" / "cat" / "gone.jpg"
    os.symlink(tree / "nowhere.jpg", link)
    with pytest.raises(DataError, match=r"gone\.jpg: a dangling link"):
        load_folder(tree)


def test_a_link_loop_among_the_images_names_the_file(tree: Path) -> None:
    loop = tree / "train" / "dog" / "loop.jpg"
    os.symlink(loop, loop)
    with pytest.raises(DataError, match=r"loop\.jpg: a link loop"):
        load_folder(tree)


def test_an_empty_class_folder_is_an_error_naming_the_class(tree: Path) -> None:
    (tree / "train" / "bird").mkdir()
    (tree / "test" / "bird").mkdir()
    with pytest.raises(DataError, match=r"train/bird/ holds no images"):
        load_folder(tree)


def test_an_empty_class_is_caught_even_with_a_cache_from_before(tree: Path) -> None:
    load_folder(tree)  # cached now
    (tree / "train" / "bird").mkdir()
    (tree / "test" / "bird").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_folder(tree)


def test_a_class_only_in_train_is_an_error_naming_the_class(tree: Path) -> None:
    shutil.rmtree(tree / "test" / "dog")
    with pytest.raises(DataError, match=r"test/ does not have class dog/, which train/ has"):
        load_folder(tree)


def test_an_archive_with_a_class_only_in_train_names_it(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in ("train/cat/0.jpg", "train/dog/0.jpg", "test/cat/0.jpg"):
            data = _jpeg()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match=r"test/ does not have class dog/"):
        load_folder(path)


def test_a_file_named_tar_gz_that_is_not_an_archive_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "cifar.tar.gz"
    fake.write_text("this is not gzip\n")
    with pytest.raises(DataError) as info:
        load_folder(fake)
    message = str(info.value)
    assert "\n" not in message
    assert message == f"cannot read archive {fake}: not a tar, tar.gz, tar.bz2 or tar.xz archive"


def test_a_failed_download_gives_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Keras raises a bare Exception whose cause is the network error: quote the cause."""
    keras = pytest.importorskip("keras")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline():
        try:
            raise OSError(-3, "Temporary failure in name resolution")
        except OSError as exc:
            raise Exception("URL fetch failure on https://example: None -- x") from exc

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DataError) as info:
        data_mod._keras_cifar10()
    reason = "([Errno -3] Temporary failure in name resolution; no network?)"
    assert f"downloaded {reason}" in str(info.value)
    assert "(Exception)" not in str(info.value)
