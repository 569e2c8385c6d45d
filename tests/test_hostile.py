"""The second fault catalogue: hostile and odd files, and signals at odd moments.

A runs directory may be shared (a cluster's file system, a lab server), a data folder or an
image may come from anywhere. Each case here is one thing someone else could put in our way and
the one outcome it must have: one line naming the file (ProfileError, DataError or RunDirError:
exit 2, or the documented signal code), or correct data, and nothing written outside the run
directory. Only the one test marked slow trains a model (a stop during the test pass); the
Keras safe-mode case builds one, untrained. Fuzzed cases use fixed seeds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import REPO, SMOKE, cli_command, cli_env
from PIL import Image

import core.events as ev
from core import data as data_mod
from core.errors import DataError, ProfileError, RunDirError
from core.status import RunStatus
from core.storage.recorder import RunRecorder
from core.storage.rundir import RunLock, is_live, load_run

# -- making hostile things -------------------------------------------------------------------------


def png(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG", **save)
    return buf.getvalue()


def png16_rgb(rgb: np.ndarray) -> bytes:
    """A 48-bit RGB PNG written by hand (Pillow writes none)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg(array: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=95, **save)
    return buf.getvalue()


def half_red() -> np.ndarray:
    """Red on top, blue below: which way up it reached the model is plain to see."""
    a = np.zeros((32, 32, 3), np.uint8)
    a[:16, :, 0] = 255
    a[16:, :, 2] = 255
    return a


def exif_upside_down(array: np.ndarray) -> bytes:
    """``array`` stored turned by 180 degrees, with EXIF orientation 3 saying so (a phone)."""
    exif = Image.Exif()
    exif[0x0112] = 3
    return jpeg(np.ascontiguousarray(array[::-1, ::-1]), exif=exif.tobytes())


def make_tree(root: Path, classes=("cat", "dog"), per_class: int = 2) -> Path:
    grey = np.full((32, 32, 3), 90, np.uint8)
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                (root / split / name / f"{i}.png").write_bytes(png(grey))
    return root


def make_archive(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def members(classes=("cat", "dog"), per_class: int = 3) -> dict[str, bytes]:
    image = png(np.full((32, 32, 3), 90, np.uint8))
    return {
        f"cifar/{split}/{name}/{i}.png": image
        for split in ("train", "test")
        for name in classes
        for i in range(per_class)
    }


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("CIFAR_TUI_CACHE", str(folder))
    return folder


def one_line(text: str) -> str:
    """The single line an error must be: no traceback, nothing else."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


# -- profiles and --set: what cannot be a profile is one line --------------------------------------

DEEP = 5000
BIG = 10**30


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "profile.toml"
    os.mkfifo(path)
    return path


def _big(tmp_path: Path) -> Path:
    path = tmp_path / "big.toml"
    path.write_text('name = "x"\n' + "# padding\n" * 150_000)
    return path


def _text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


PROFILE_CASES = [
    pytest.param(_fifo, "is a FIFO", id="profile-is-a-fifo"),
    pytest.param(lambda t: Path("/dev/zero"), "is a device", id="profile-is-dev-zero"),
    pytest.param(_big, "too large", id="profile-larger-than-1mb"),
    pytest.param(
        lambda t: _text(t, 'name = "x"\nv = ' + "[" * DEEP + "]" * DEEP + "\n"),
        "nest too deeply",
        id="profile-arrays-thousands-deep",
    ),
    pytest.param(
        lambda t: _text(t, 'name = "x"\nv = ' + "{a=" * DEEP + "1" + "}" * DEEP + "\n"),
        "nest too deeply",
        id="profile-inline-tables-thousands-deep",
    ),
    pytest.param(
        lambda t: _text(t, 'name = "run\\n"\n'), "must be 1-64 letters", id="name-ends-in-newline"
    ),
    pytest.param(
        lambda t: _text(t, 'name = "../../etc"\n'), "must be 1-64 letters", id="name-climbs-out"
    ),
    pytest.param(
        lambda t: _text(t, f'name = "x"\ndescription = "{"d" * 100_000}"\n'),
        "at most 4096 characters",
        id="description-100k-characters",
    ),
    pytest.param(
        lambda t: _text(t, f'name = "x"\n[data]\nsource = "folder"\npath = "{"p" * 10_000}"\n'),
        "at most 4096 characters",
        id="data-path-10k-characters",
    ),
    pytest.param(
        lambda t: _text(t, 'name = "x"\n[pipeline]\nshuffle_buffer = 1000000000000\n'),
        "<= 10000000",
        id="shuffle-buffer-1e12",
    ),
    pytest.param(
        lambda t: _text(t, 'name = "x"\n[profiler]\nbatches = [1, 9000000000000000000]\n'),
        "last <= 10000000",
        id="profiler-window-beyond-int64",
    ),
    pytest.param(
        lambda t: _text(t, f'name = "x"\n[data]\nvalidation_size = {2**62}\n'),
        "<= 10000000",
        id="validation-size-2e62",
    ),
    pytest.param(
        lambda t: _text(t, f'name = "x"\n[data]\nlimit = {2**62}\n'),
        "<= 10000000",
        id="data-limit-2e62",
    ),
    pytest.param(
        lambda t: _text(t, f'name = "x"\n[train.reduce_lr]\npatience = {2**62}\n'),
        "<= 100000",
        id="reduce-lr-patience-2e62",
    ),
    pytest.param(
        lambda t: _text(t, 'name = "x"\n[train.reduce_lr]\nmin_lr = 1e300\n'),
        "<= 10",
        id="min-lr-1e300",
    ),
]


@pytest.mark.parametrize(("make", "words"), PROFILE_CASES)
def test_a_hostile_profile_is_one_short_line(tmp_path: Path, make, words: str) -> None:
    from core.profiles import load_profile

    path = make(tmp_path)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    text = str(caught.value)
    assert words in text and "\n" not in text and len(text) < 400, text


def test_every_numeric_key_of_the_schema_has_an_upper_bound() -> None:
    """A value past any bound TensorFlow can take is refused by --check, not after training
    started (pipeline.shuffle_buffer = 10**12 once crashed a run mid-way)."""
    from dataclasses import fields

    from core.config import TABLES

    unbounded = [
        f"{table}.{f.name}"
        for table, cls in TABLES.items()
        for f in fields(cls)
        if f.metadata.get("kind") in ("int", "float", "int_or_auto", "int_or_all", "window")
        and "max" not in f.metadata
    ]
    assert not unbounded


SET_CASES = [
    pytest.param("train.epochs=" + "[" * DEEP + "]" * DEEP, "nest too deeply", id="set-deep-array"),
    pytest.param(f"train.epochs={BIG}", "<= 100000", id="set-huge-integer"),
    pytest.param('name="run\\n"', "must be 1-64 letters", id="set-name-with-newline"),
    pytest.param("train.optimizer=" + "x" * 50_000, "one of", id="set-50k-character-value"),
]


@pytest.mark.parametrize(("item", "words"), SET_CASES)
def test_a_hostile_set_is_one_short_line(item: str, words: str) -> None:
    from core.profiles import load_profile

    with pytest.raises(ProfileError) as caught:
        load_profile(SMOKE, overrides=[item])
    text = str(caught.value)
    assert words in text and "\n" not in text and len(text) < 400, text


def _sweep(tmp_path: Path, head: str, grid: str = '"train.learning_rate" = [0.001, 0.002]') -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'{head}\nbase = "{SMOKE}"\n[grid]\n{grid}\n')
    return path


def _sweep_fifo(tmp_path: Path) -> Path:
    path = tmp_path / "s.toml"
    os.mkfifo(path)
    return path


SWEEP_CASES = [
    pytest.param(_sweep_fifo, "is a FIFO", id="sweep-file-is-a-fifo"),
    pytest.param(
        lambda t: _sweep(t, 'name = "s\\n"'),
        "must be 1-64 letters",
        id="sweep-name-ends-in-newline",
    ),
    pytest.param(
        lambda t: _sweep(t, 'name = "s"', '"train.optimizer" = ["' + "x" * 50_000 + '"]'),
        "train.optimizer",
        id="sweep-grid-value-of-50k-characters",
    ),
    pytest.param(
        lambda t: _sweep(t, 'name = "s"', '"train.epochs" = ' + "[" * DEEP + "]" * DEEP),
        "nest too deeply",
        id="sweep-grid-thousands-deep",
    ),
]


@pytest.mark.parametrize(("make", "words"), SWEEP_CASES)
def test_a_hostile_sweep_file_is_one_short_line(tmp_path: Path, make, words: str) -> None:
    from core.sweeps.spec import load_sweep

    with pytest.raises(ProfileError) as caught:
        load_sweep(make(tmp_path))
    text = str(caught.value)
    assert words in text and "\n" not in text and len(text) < 400, text


def test_a_fifo_profile_given_to_the_command_is_one_line_not_a_hang(
    tmp_path: Path, repo_root: Path
) -> None:
    fifo = _fifo(tmp_path)
    proc = subprocess.run(
        cli_command("--check", str(fifo)),
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=repo_root,
        timeout=60,  # a hang fails here
    )
    assert proc.returncode == 2
    assert "is a FIFO" in one_line(proc.stderr)


# -- the Keras backend, named before Keras loads ---------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "installed", "words"),
    [
        pytest.param("torchx", None, "is not a backend cifar-tui runs on", id="backend-unknown"),
        pytest.param("jax", {"jax": False}, "jax is not installed", id="backend-not-installed"),
        pytest.param("", None, "is not a backend", id="backend-empty-in-keras-json"),
    ],
)
def test_an_unusable_keras_backend_names_the_usable_ones(
    monkeypatch: pytest.MonkeyPatch, backend: str, installed, words: str
) -> None:
    from core import backend_check

    if installed:
        real = backend_check._installed
        monkeypatch.setattr(backend_check, "_installed", lambda m: installed.get(m, real(m)))
    with pytest.raises(backend_check.BackendError) as caught:
        backend_check.check_backend(backend)
    assert words in str(caught.value) and "usable here: tensorflow" in str(caught.value)


def test_an_unknown_backend_is_refused_by_the_command_before_keras(repo_root: Path) -> None:
    proc = subprocess.run(
        cli_command("--check", str(SMOKE)),
        capture_output=True,
        text=True,
        env=cli_env({"KERAS_BACKEND": "torchx"}),
        cwd=repo_root,
        timeout=120,
    )
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert "KERAS_BACKEND='torchx'" in line and "tensorflow" in line


def test_the_console_without_a_terminal_says_so_and_names_run(repo_root: Path, tmp_path) -> None:
    proc = subprocess.run(
        cli_command("--runs-dir", str(tmp_path / "runs")),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=repo_root,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    line = one_line(proc.stderr)
    assert "needs a terminal" in line and "--run" in line
    assert not (tmp_path / "runs").exists()


# -- images: every mode as it looks, or refused by name --------------------------------------------


def _decoded(data: bytes) -> np.ndarray:
    from core.images import decode

    return decode(data)


def _palette_with_transparency() -> bytes:
    im = Image.new("P", (32, 32), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # 0: red, 1: blue
    im.paste(1, (0, 16, 32, 32))
    buf = io.BytesIO()
    im.save(buf, format="PNG", transparency=0)  # the red half is transparent
    return buf.getvalue()


def _saved(im: Image.Image, kind: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=kind)
    return buf.getvalue()


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


GREY = np.full((32, 32), 0x8080, np.uint16)
RED_TRANSPARENT = np.zeros((32, 32, 4), np.uint8)
RED_TRANSPARENT[..., 0] = 255  # red, but fully transparent: what shows is the background
HALF_ALPHA = np.zeros((32, 32, 4), np.uint8)
HALF_ALPHA[..., 2], HALF_ALPHA[..., 3] = 255, 128

IMAGE_CASES = [
    pytest.param(lambda: png(GREY), (128, 128, 128), id="grey-16-bit-png-not-white"),
    pytest.param(
        lambda: png16_rgb(np.stack([np.full((8, 8), v, np.uint16) for v in (65535, 32896, 0)], -1)),
        (255, 128, 0),
        id="rgb-48-bit-png",
    ),
    pytest.param(lambda: png(RED_TRANSPARENT), (255, 255, 255), id="rgba-transparent-on-white"),
    pytest.param(lambda: png(HALF_ALPHA), (127, 127, 255), id="rgba-half-alpha-blended"),
    pytest.param(
        lambda: png(
            np.dstack([np.full((32, 32), 40, np.uint8), np.zeros((32, 32), np.uint8)]), "LA"
        ),
        (255, 255, 255),
        id="grey-alpha-transparent",
    ),
    pytest.param(lambda: png(np.full((32, 32), 200, np.uint8)), (200, 200, 200), id="grey-8-bit"),
    pytest.param(lambda: _saved(Image.new("1", (32, 32), 1)), (255, 255, 255), id="one-bit-png"),
    pytest.param(lambda: _cmyk_jpeg(), (255, 0, 0), id="cmyk-jpeg"),
]


@pytest.mark.parametrize(("make", "colour"), IMAGE_CASES)
def test_every_image_mode_converts_as_it_looks(make, colour) -> None:
    image = _decoded(make())
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert np.abs(image[16, 16].astype(int) - colour).max() <= 3, image[16, 16]


def test_a_palette_image_with_a_transparent_colour_shows_the_background() -> None:
    image = _decoded(_palette_with_transparency())
    assert tuple(image[4, 16]) == (255, 255, 255)  # the transparent red half
    assert tuple(image[28, 16]) == (0, 0, 255)


def test_exif_orientation_is_applied_before_the_model_sees_the_photo() -> None:
    image = _decoded(exif_upside_down(half_red()))
    assert image[4, 16, 0] > 200 and image[4, 16, 2] < 60  # red on top again
    assert image[28, 16, 2] > 200 and image[28, 16, 0] < 60


@pytest.mark.parametrize(
    ("data", "words"),
    [
        pytest.param(png_header_only(100_000, 100_000), "larger than any photo", id="bomb-header"),
        pytest.param(b"GIF89a" + b"\0" * 64, "not an image", id="a-broken-gif"),
        pytest.param(b"", "not an image", id="empty-file"),
    ],
)
def test_an_image_that_cannot_be_one_is_refused_by_name(data: bytes, words: str) -> None:
    from core.images import ImageProblem

    with pytest.raises(ImageProblem, match=words):
        _decoded(data)


@pytest.mark.parametrize("kind", [pytest.param("JPEG", id="fuzzed-jpeg-with-exif"),
                                  pytest.param("PNG", id="fuzzed-png")])  # fmt: skip
def test_damaged_image_bytes_end_as_an_image_or_one_problem_and_no_warnings(
    kind: str, recwarn: pytest.WarningsRecorder
) -> None:
    """Bytes flipped and files cut short, from a fixed seed: Pillow's own errors (struct.error,
    SyntaxError, warnings about a corrupt EXIF block) never get past decode."""
    import random

    from core.images import ImageProblem, decode

    exif = Image.Exif()
    exif[0x0112] = 6
    pixels = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, kind, **({"exif": exif.tobytes()} if kind == "JPEG" else {}))
    rng = random.Random(7)
    for _ in range(150):
        data = bytearray(buf.getvalue())
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        with contextlib.suppress(ImageProblem):
            assert decode(bytes(data)).shape == (32, 32, 3)
    assert not [w for w in recwarn if "PIL" in str(w.filename)]


def test_predict_reads_an_exif_photo_upright_and_refuses_a_fifo(tmp_path: Path) -> None:
    from core.predict import ImageError, read_image

    photo = tmp_path / "phone.jpg"
    photo.write_bytes(exif_upside_down(half_red()))
    assert read_image(photo)[4, 16, 0] > 200
    fifo = tmp_path / "cat.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="is a FIFO"):
        read_image(fifo)  # returns at once: no writer is waited for
    with pytest.raises(ImageError, match="is a device"):
        read_image(Path("/dev/zero"))


def test_predict_given_only_a_fifo_says_so_without_loading_a_model(
    tmp_path: Path, repo_root: Path
) -> None:
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    proc = subprocess.run(
        cli_command("--predict", str(tmp_path), str(fifo)),
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=repo_root,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "is a FIFO" in one_line(proc.stderr)


# -- data folders and archives ---------------------------------------------------------------------


def test_a_16_bit_png_in_a_data_folder_loads_as_its_grey_not_white(tmp_path, cache) -> None:
    tree = make_tree(tmp_path / "images")
    (tree / "train" / "cat" / "0.png").write_bytes(png(GREY))
    x, *_ = data_mod.load_folder(tree)
    assert any((image == 128).all() for image in x)
    assert not any((image == 255).all() for image in x)


def _fifo_image(tree: Path) -> None:
    os.mkfifo(tree / "train" / "cat" / "fifo.png")


def _dev_zero_image(tree: Path) -> None:
    os.symlink("/dev/zero", tree / "train" / "dog" / "zero.jpg")


def _huge_image(tree: Path) -> None:
    (tree / "test" / "cat" / "bomb.png").write_bytes(png_header_only(60_000, 60_000))


def _one_class(tree: Path) -> None:
    for split in ("train", "test"):
        for f in (tree / split / "dog").iterdir():
            f.unlink()
        (tree / split / "dog").rmdir()


FOLDER_CASES = [
    pytest.param(_fifo_image, r"fifo\.png: it is a FIFO", id="folder-image-is-a-fifo"),
    pytest.param(_dev_zero_image, r"zero\.jpg: it is a device", id="folder-image-is-dev-zero"),
    pytest.param(_huge_image, r"bomb\.png: .*larger than any photo", id="folder-image-bomb"),
    pytest.param(_one_class, r"one class \(cat/\)", id="folder-of-one-class"),
]


@pytest.mark.parametrize(("damage", "words"), FOLDER_CASES)
def test_a_hostile_data_folder_is_one_line_and_nothing_cached(
    tmp_path: Path, cache: Path, damage, words: str
) -> None:
    tree = make_tree(tmp_path / "images")
    damage(tree)
    with pytest.raises(DataError, match=words):
        data_mod.load_folder(tree)
    assert not list(cache.glob("*.npz"))


def test_a_data_path_that_is_a_fifo_or_a_device_is_refused_by_check(tmp_path: Path) -> None:
    fifo = tmp_path / "data.tar.gz"
    os.mkfifo(fifo)
    assert "is a FIFO" in (data_mod.check_folder(fifo) or "")
    assert "is a device" in (data_mod.check_folder(Path("/dev/zero")) or "")


def _cut_short(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _garbage_near_the_end(path: Path) -> None:
    """An uncompressed tar whose last member's header is overwritten: tarfile stops quietly
    there, a smaller data set, unless the end is checked."""
    data = bytearray(path.read_bytes())
    with tarfile.open(path) as tar:
        last = tar.getmembers()[-1]
    data[last.offset : last.offset + 512] = b"\xff" * 512
    path.write_bytes(bytes(data))


def _flipped_byte_near_the_end(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-12] ^= 0xFF  # in the last deflate block or the CRC: the stream no longer checks
    path.write_bytes(bytes(data))


ARCHIVE_CASES = [
    pytest.param("a.tar.gz", "w:gz", _cut_short, "cannot read archive", id="archive-cut-short"),
    pytest.param(
        "a.tar", "w", _garbage_near_the_end, "damaged or cut short", id="archive-bad-last-header"
    ),
    pytest.param(
        "a.tar.gz", "w:gz", _flipped_byte_near_the_end, "cannot read archive", id="archive-bad-crc"
    ),
]


@pytest.mark.parametrize(("name", "mode", "damage", "words"), ARCHIVE_CASES)
def test_a_damaged_archive_is_an_error_never_a_smaller_cached_data_set(
    tmp_path: Path, cache: Path, name: str, mode: str, damage, words: str
) -> None:
    archive = make_archive(tmp_path / name, members(per_class=40), mode)
    damage(archive)
    with pytest.raises(DataError, match=words) as caught:
        data_mod.load_folder(archive)
    assert str(archive) in str(caught.value)
    assert not list(cache.glob("*.npz"))  # never cached as the data


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        pytest.param("f.tar", "w", id="fuzzed-tar"),
        pytest.param("f.tar.gz", "w:gz", id="fuzzed-tar-gz"),
        pytest.param("f.tar.xz", "w:xz", id="fuzzed-tar-xz"),
    ],
)
def test_a_damaged_archive_is_never_a_smaller_data_set(
    tmp_path: Path, name: str, mode: str
) -> None:
    """Bytes flipped and archives cut short, from a fixed seed: each load is the whole data
    set or one DataError, never fewer images and never another exception."""
    import random

    archive = make_archive(tmp_path / name, members(per_class=5), mode)
    whole = archive.read_bytes()
    rng = random.Random(3)
    for _ in range(60):
        data = bytearray(whole)
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        archive.write_bytes(bytes(data))
        try:
            x, _, xt, _, _ = data_mod._decode_archive(archive)
        except DataError:
            continue
        assert (len(x), len(xt)) == (10, 10)


def test_an_archive_member_larger_than_any_image_is_refused_unread(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap itself (32 MB) stands in for a 1.5 GB member of zeros: here it is lowered so a
    1 MB member is the one too large, and it must be refused before it is read."""
    monkeypatch.setattr(data_mod, "MAX_IMAGE_BYTES", 512 * 1024)
    big = {**members(), "cifar/train/cat/zeros.png": b"\0" * (1024 * 1024)}
    archive = make_archive(tmp_path / "bomb.tar.gz", big)
    with pytest.raises(DataError, match=r"zeros\.png is 1,048,576 bytes: larger than any image"):
        data_mod.load_folder(archive)


def test_an_archive_of_one_class_is_refused_as_a_folder_of_one_is(tmp_path, cache) -> None:
    archive = make_archive(tmp_path / "one.tar.gz", members(classes=("cat",)))
    with pytest.raises(DataError) as from_archive:
        data_mod.load_folder(archive)
    tree = make_tree(tmp_path / "images", classes=("cat",))
    with pytest.raises(DataError) as from_folder:
        data_mod.load_folder(tree)
    for caught, where in ((from_archive, archive), (from_folder, tree)):
        assert (
            str(caught.value)
            == f"{where}: train/ holds one class (cat/); a classifier needs at least two"
        )


def test_an_archive_smaller_than_one_batch_is_refused_before_anything_is_written(
    tmp_path: Path, repo_root: Path
) -> None:
    archive = make_archive(tmp_path / "tiny.tar.gz", members(per_class=3))
    profile = tmp_path / "tiny.toml"
    profile.write_text(
        f'name = "tiny"\n[data]\nsource = "folder"\npath = "{archive}"\nvalidation_size = 2\n'
        "[train]\nbatch_size = 64\nepochs = 1\n"
    )
    runs = tmp_path / "runs"
    proc = subprocess.run(
        cli_command("--run", str(profile), "--runs-dir", str(runs), "--plain"),
        capture_output=True,
        text=True,
        env=cli_env({"CIFAR_TUI_CACHE": str(tmp_path / "cache")}),
        cwd=repo_root,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "batch_size 64 is larger than the 4 training images left after the validation split" in (
        proc.stderr
    )
    assert not [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.exists() else True


# -- run directories: nothing written through a link -----------------------------------------------


def made_run(runs: Path) -> Path:
    """A stopped run made by feeding the recorder events (no model)."""
    from core.profiles import load_profile

    profile = load_profile(SMOKE, overrides=["train.epochs=3"])
    recorder = RunRecorder.create(runs, profile)
    recorder(ev.RunOpened(str(recorder.run_dir), "smoke", False, {}, "synthetic"))
    recorder(ev.RunFinished(RunStatus.STOPPED, "stopped by the user", None, None, 1.0))
    recorder.close()
    return recorder.run_dir


LINKED = [
    pytest.param(".lock", id="lock-is-a-link"),
    pytest.param("events.jsonl", id="events-jsonl-is-a-link"),
    pytest.param("history.csv", id="history-csv-is-a-link"),
    pytest.param("report.md", id="report-md-is-a-link"),
    pytest.param("progress.json", id="progress-json-is-a-link"),
    pytest.param("checkpoint", id="checkpoint-folder-is-a-link"),
    pytest.param("checkpoint/epoch-0001.weights.h5", id="checkpoint-weights-is-a-link"),
    pytest.param("model.keras", id="model-keras-is-a-link"),
]


@pytest.mark.parametrize("name", LINKED)
def test_a_link_where_a_runs_own_file_goes_is_refused_and_its_target_untouched(
    tmp_path: Path, name: str
) -> None:
    run_dir = made_run(tmp_path / "runs")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me\n")
    link = run_dir / name
    link.parent.mkdir(exist_ok=True)
    if link.is_dir() and not link.is_symlink():
        os.rename(link, tmp_path / "moved")
    link.unlink(missing_ok=True)
    target = victim if name == "checkpoint" else victim / "precious.txt"
    os.symlink(target, link)
    with pytest.raises(RunDirError) as caught:
        RunRecorder.reopen(run_dir)
    assert str(link) in str(caught.value) and "is a link" in str(caught.value)
    assert (victim / "precious.txt").read_text() == "keep me\n"
    assert sorted(p.name for p in victim.iterdir()) == ["precious.txt"]


def test_a_link_planted_in_the_run_directory_is_refused_by_resume(
    tmp_path: Path, repo_root: Path
) -> None:
    run_dir = made_run(tmp_path / "runs")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    (run_dir / "history.csv").unlink(missing_ok=True)
    os.symlink(outside, run_dir / "history.csv")
    proc = subprocess.run(
        cli_command("--resume", str(run_dir), "--plain"),
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=repo_root,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "history.csv is a link" in proc.stderr and "Traceback" not in proc.stderr
    assert outside.read_text() == "keep me\n"


def test_a_fifo_as_the_lock_reads_as_not_live_and_is_refused_as_a_lock(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.mkfifo(run_dir / ".lock")
    assert is_live(run_dir) is False  # no hang: opened without blocking
    with pytest.raises(RunDirError, match=r"\.lock is a FIFO"):
        RunLock(run_dir).acquire()


def within(seconds: float, work) -> object:
    """``work()``'s result, failing (not hanging) when it blocks longer than ``seconds``."""
    import threading

    box: dict[str, object] = {}
    thread = threading.Thread(target=lambda: box.update(result=work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{work} blocked (a FIFO opened for a blocking read?)"
    return box.get("result")


PLANTED_FIFOS = [
    pytest.param("report.json", "report.json cannot be read", id="reader-report-json-is-a-fifo"),
    pytest.param("history.csv", "history.csv has", id="reader-history-csv-is-a-fifo"),
    pytest.param("events.jsonl", None, id="reader-events-jsonl-is-a-fifo"),
    pytest.param("progress.json", None, id="reader-progress-json-is-a-fifo"),
    pytest.param("checkpoint/state.json", "state.json cannot be read", id="reader-state-is-a-fifo"),
]


@pytest.mark.parametrize(("name", "damage"), PLANTED_FIFOS)
def test_a_fifo_planted_in_a_run_directory_never_hangs_a_reader(
    tmp_path: Path, name: str, damage: str | None
) -> None:
    from core.storage.follow import RunFollower
    from core.storage.rundir import list_runs

    run_dir = made_run(tmp_path / "runs")
    path = run_dir / name
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    record = within(30, lambda: load_run(run_dir))
    if damage:
        assert any(damage in p for p in record.problems), record.problems
    assert within(30, lambda: list_runs(run_dir.parent))
    within(30, lambda: RunFollower(run_dir).poll())
    with pytest.raises(RunDirError, match=r"FIFO|is a link|not a file a run writes"):
        RunRecorder.reopen(run_dir)  # and a resume refuses it as one of the run's own files


def test_a_child_processs_log_is_never_appended_through_a_link(tmp_path: Path) -> None:
    from core.storage.rundir import open_log

    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    os.symlink(outside, tmp_path / "output.log")
    with pytest.raises(RunDirError, match="is a link"):
        open_log(tmp_path / "output.log")
    assert outside.read_text() == "keep me\n"


# -- --stop signals only a cifar-tui process -------------------------------------------------------

#: Another program that holds a flock on a directory's .lock (its command line names no
#: cifar-tui code) and would die of SIGUSR1.
FOREIGN = (
    "import fcntl, sys, time\n"
    "fh = open(sys.argv[1], 'a+')\n"
    "fcntl.flock(fh, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.fixture
def foreign_lock(tmp_path: Path):
    """(directory, lock file, process) of another program holding ``directory/.lock``."""
    directory = tmp_path / "somewhere"
    directory.mkdir()
    lock = directory / ".lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", FOREIGN, str(lock)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield directory, lock, proc
    proc.kill()
    proc.wait(30)


def test_stop_refuses_a_directory_that_is_not_a_run(foreign_lock) -> None:
    from core.storage.control import request_stop

    directory, _, proc = foreign_lock
    with pytest.raises(RunDirError, match="not a run or sweep directory"):
        request_stop(directory)
    assert proc.poll() is None  # not signalled


def test_stop_refuses_a_lock_held_by_a_program_that_is_not_cifar_tui(
    foreign_lock, repo_root: Path
) -> None:
    directory, _, proc = foreign_lock
    (directory / "report.json").write_text(json.dumps({"status": "running"}))
    result = subprocess.run(
        cli_command("--stop", str(directory)),
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=repo_root,
        timeout=60,
    )
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert f"held by process {proc.pid}" in line and "not cifar-tui" in line
    assert proc.poll() is None  # still alive: nothing was signalled


def test_stop_refuses_a_lock_that_is_a_link_to_another_programs_lock(
    foreign_lock, tmp_path: Path
) -> None:
    from core.storage.control import request_stop

    _, lock, proc = foreign_lock
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.json").write_text(json.dumps({"status": "running"}))
    os.symlink(lock, run_dir / ".lock")
    with pytest.raises(RunDirError, match="is a link"):
        request_stop(run_dir)
    assert proc.poll() is None


def test_stop_on_a_fifo_lock_says_not_live_at_once(tmp_path: Path) -> None:
    from core.storage.control import request_stop

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.json").write_text(json.dumps({"status": "running"}))
    os.mkfifo(run_dir / ".lock")
    with pytest.raises(RunDirError, match="not live"):
        request_stop(run_dir)


# -- files read back: checked by type, damage reads as damage --------------------------------------


def report_with(tmp_path: Path, **fields) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    report = {"status": "completed", "profile": {"name": "x"}, "epochs": [], **fields}
    (run_dir / "report.json").write_text(json.dumps(report))
    return run_dir


HUGE_REPORTS = [
    pytest.param(
        {"test": {"accuracy": 0.5, "classes": ["a", "b"], "confusion": [[10**400, 0], [0, 1]]}},
        "report.json's test",
        id="report-confusion-10e400",
    ),
    pytest.param({"test": {"accuracy": float("inf")}}, "report.json's test", id="report-infinity"),
    pytest.param(
        {
            "epochs": [
                {
                    "epoch": 10**400,
                    "seconds": 1,
                    "loss": 1,
                    "accuracy": 1,
                    "val_loss": 1,
                    "val_accuracy": 1,
                    "lr": 1,
                }
            ]
        },
        "unreadable epoch row",
        id="report-epoch-10e400",
    ),
    pytest.param(
        {"timing": {"total_seconds": 10**400}}, "report.json's timing", id="report-seconds-10e400"
    ),
]


@pytest.mark.parametrize(("fields", "words"), HUGE_REPORTS)
def test_a_report_with_huge_numbers_reads_as_damaged(tmp_path: Path, fields, words) -> None:
    from core.compare import Comparison  # noqa: F401 - the reader --compare uses
    from core.evaluation import class_results

    run_dir = report_with(tmp_path, **fields)
    record = load_run(run_dir)
    assert any(words in p for p in record.problems), record.problems
    assert class_results(record.report) is None


def test_compare_shows_a_report_with_a_huge_confusion_count_as_damaged(
    tmp_path: Path, repo_root: Path
) -> None:
    run_dir = report_with(
        tmp_path, test={"accuracy": 0.5, "classes": ["a", "b"], "confusion": [[10**400, 0], [0, 1]]}
    )
    proc = subprocess.run(
        cli_command("--compare", str(run_dir), "--plain"),
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=repo_root,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr and "OverflowError" not in proc.stderr
    assert "damaged" in proc.stdout + proc.stderr


EPOCH = {"epoch": 1, "seconds": 1.0, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0,
         "val_accuracy": 0.5, "lr": 0.001}  # fmt: skip
BAD_EVENTS = [
    pytest.param({**EPOCH, "type": "epoch_ended", "epoch": "one"}, id="event-epoch-a-string"),
    pytest.param({**EPOCH, "type": "epoch_ended", "epoch": [1]}, id="event-epoch-a-list"),
    pytest.param({**EPOCH, "type": "epoch_ended", "loss": 10**400}, id="event-loss-10e400"),
    pytest.param({"type": ["run_finished"]}, id="event-type-a-list"),
    pytest.param(
        {
            "type": "run_finished",
            "status": 5,
            "message": "",
            "test_loss": None,
            "test_accuracy": None,
            "total_seconds": 1.0,
        },
        id="event-status-a-number",
    ),
    pytest.param(
        {"type": "run_opened", "run_dir": "x", "name": "x", "resumed": False, "environment": []},
        id="event-environment-a-list",
    ),
]


@pytest.mark.parametrize("record", BAD_EVENTS)
def test_an_event_of_the_wrong_type_is_dropped_by_every_follower(tmp_path: Path, record) -> None:
    from core.storage.follow import RunFollower

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    good = {**EPOCH, "type": "epoch_ended", "epoch": 2, "time": time.time()}
    lines = [json.dumps(record), json.dumps(good)]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
    events = RunFollower(run_dir).poll()
    assert [e.epoch for e in events if isinstance(e, ev.EpochEnded)] == [2]
    assert not any(isinstance(e, (ev.RunFinished, ev.RunOpened)) for e in events)
    assert RunFollower(run_dir).exit_code() == 1  # no usable ending: as a killed run


@pytest.mark.parametrize(
    "sweep",
    [
        pytest.param([1, 2, 3], id="sweep-json-a-list"),
        pytest.param({"runs": "abc"}, id="sweep-json-runs-a-string"),
        pytest.param(
            {"runs": [{"run_dir": 5}, {"run_dir": ["x"]}]}, id="sweep-json-run-dir-a-number"
        ),
    ],
)
def test_a_sweep_json_of_the_wrong_shape_is_one_line(tmp_path: Path, sweep) -> None:
    from core.sweeps.sweepdir import sweep_run_dirs
    from tui.cli.watch import current_run

    folder = tmp_path / "runs" / "sweeps" / "s"
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps(sweep))
    try:
        assert sweep_run_dirs(folder) == []
    except RunDirError as exc:  # one line naming the file (core/sweeps/sweepfile.py's words)
        assert "sweep.json" in str(exc) and "\n" not in str(exc)
        assert "cannot be read" in str(exc) or "holds no list of runs" in str(exc)
    try:
        assert current_run(folder) == folder
    except RunDirError as exc:
        assert "no run of this sweep has started" in str(exc)


DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("report.json", id="deep-json-report"),
        pytest.param("events.jsonl", id="deep-json-event-line"),
        pytest.param("progress.json", id="deep-json-progress"),
        pytest.param("checkpoint/state.json", id="deep-json-checkpoint-state"),
    ],
)
def test_json_nested_thousands_deep_reads_as_damage_not_a_recursion_error(
    tmp_path: Path, name: str
) -> None:
    from core.storage.follow import RunFollower

    run_dir = made_run(tmp_path / "runs")
    (run_dir / name).parent.mkdir(exist_ok=True)
    (run_dir / name).write_text(DEEP_JSON + "\n")
    record = load_run(run_dir)
    if name in ("report.json", "checkpoint/state.json"):
        assert record.problems, name
    RunFollower(run_dir).poll()


@pytest.mark.parametrize(
    "sweep",
    [
        pytest.param(DEEP_JSON, id="study-sweep-json-deep"),
        pytest.param(
            json.dumps({"search": {"objective": "val_accuracy", "space": 5}}),
            id="study-space-a-number",
        ),
        pytest.param(
            json.dumps({"search": {"objective": "val_accuracy", "trials": "many"}, "runs": []}),
            id="study-trials-a-word",
        ),
        pytest.param(
            json.dumps({"search": {"objective": "val_accuracy"}, "runs": [{"run_dir": 7}]}),
            id="study-run-dir-a-number",
        ),
    ],
)
def test_a_study_sweep_json_of_the_wrong_shape_is_one_line(tmp_path: Path, sweep: str) -> None:
    from core.sweeps.study import report_at

    (tmp_path / "sweep.json").write_text(sweep)
    try:
        report_at(tmp_path)  # None: read as no study
    except RunDirError as exc:
        assert "sweep.json is damaged" in str(exc) and "\n" not in str(exc)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("not json", id="journal-line-not-json"),
        pytest.param('{"op_code": 5, "worker_id": "w"}', id="journal-line-missing-fields"),
        pytest.param("[1, 2]", id="journal-line-a-list"),
    ],
)
def test_a_damaged_study_journal_is_one_line_naming_it(tmp_path: Path, line: str) -> None:
    from core.sweeps import study

    search = SimpleNamespace(
        direction="maximize", method="random", seed=0, pruner="none", startup_trials=2,
        warmup_epochs=1, space=(), epochs=1,
    )  # fmt: skip
    first = study.open_study(search, tmp_path, "s")  # a journal as a study writes it
    first.enqueue_trial({})
    journal = tmp_path / study.JOURNAL
    journal.write_text(journal.read_text() + line + "\n")
    with pytest.raises(RunDirError) as caught:
        study.open_study(search, tmp_path, "s")
    assert str(journal) in str(caught.value) and "\n" not in str(caught.value)


# -- what is printed for pasting -------------------------------------------------------------------


def test_commands_to_paste_are_shell_quoted(tmp_path: Path) -> None:
    import shlex

    from core.format import report_hint
    from core.storage.recorder import run_command
    from core.storage.report import render_markdown

    odd = tmp_path / "my runs" / "it's $HOME" / "20260101-x"
    command = run_command(odd)
    assert shlex.split(command) == ["cifar-tui", "--run", str(odd / "profile.toml")]
    run_dir = made_run(tmp_path / "a b")
    markdown = render_markdown(load_run(run_dir).report)
    repeat = markdown.split("## Repeat")[1].split("```")[1].strip()
    assert shlex.split(repeat) == ["cifar-tui", "--run", str(run_dir / "profile.toml")]
    assert report_hint(None) == ""  # never "Report: None/report.md"


# -- signals at odd moments ------------------------------------------------------------------------


def _caught_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    ("mode", "signum", "code"),
    [
        pytest.param("--run", signal.SIGINT, 130, id="run-ctrl-c-in-the-first-half-second"),
        pytest.param("--run", signal.SIGTERM, 143, id="run-sigterm-in-the-first-half-second"),
        pytest.param("--sweep", signal.SIGINT, 130, id="sweep-ctrl-c-in-the-first-half-second"),
    ],
)
def test_a_stop_signal_at_start_up_is_its_exit_code_without_a_traceback(
    tmp_path: Path, repo_root: Path, mode: str, signum: int, code: int
) -> None:
    """Sent as soon as cifar-tui handles SIGTERM (its first act), long before the run's own
    handlers: the moment is read from the kernel, not guessed with a sleep."""
    target = SMOKE if mode == "--run" else _sweep(tmp_path, 'name = "s"')
    proc = subprocess.Popen(
        cli_command(mode, str(target), "--runs-dir", str(tmp_path / "runs"), "--plain"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=repo_root,
    )
    deadline = time.monotonic() + 60
    while not _caught_signals(proc.pid) & (1 << (signal.SIGTERM - 1)):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode == code, out + err


@pytest.mark.slow
def test_sigterm_during_the_test_pass_stops_saves_and_exits_143(tmp_path: Path) -> None:
    """A stop asked once the test pass began (the engine's "evaluating" status) is honoured after
    its current batch: stopped, exit 143, every epoch saved, and --resume tests it then."""
    from core.profiles import load_profile
    from core.storage.control import exit_code_for
    from core.training.engine import Run

    profile = load_profile(
        SMOKE, overrides=["train.epochs=1", "data.synthetic_test=2000", "train.batch_size=32"]
    )
    run = Run(profile, tmp_path / "runs")

    def on_event(event) -> None:
        if isinstance(event, ev.Status) and event.message.startswith("evaluating"):
            run.request_stop("SIGTERM")

    run.subscribe(on_event)
    status = run.execute()
    assert status == RunStatus.STOPPED and run.stopped_by == "SIGTERM"
    assert exit_code_for(status, run.stopped_by) == 143
    record = load_run(run.run_dir)
    assert record.status == RunStatus.STOPPED and len(record.epochs) == 1
    assert record.report["test"] is None and not (run.run_dir / "model.keras").exists()
    again = Run.resume(run.run_dir)  # nothing left to train: the test pass, then the model
    assert again.execute() == RunStatus.COMPLETED
    record = load_run(run.run_dir)
    assert len(record.epochs) == 1 and record.test_accuracy is not None
    assert (run.run_dir / "model.keras").is_file()


def test_a_stop_while_images_decode_ends_the_decode_and_caches_nothing(tmp_path, cache) -> None:
    tree = make_tree(tmp_path / "images", per_class=300)
    asked = []
    with pytest.raises(data_mod.DecodeStopped):
        data_mod.load_folder(tree, stop=lambda: bool(asked.append(1)) or len(asked) > 1)
    assert len(asked) == 2  # asked every 256 images: stopped long before the 1,200th
    assert not list(cache.glob("*.npz"))


def test_sigterm_before_the_run_directory_exists_exits_143_with_nothing_written(
    tmp_path: Path,
) -> None:
    from core.profiles import load_profile
    from core.training.engine import Run

    run = Run(load_profile(SMOKE), tmp_path / "runs")
    run.request_stop("SIGTERM")  # as the handler does when SIGTERM comes while data loads
    with pytest.raises(RunDirError) as caught:
        run.execute()
    assert caught.value.exit_code == 143
    # The stop's words say what sends SIGTERM (issue 25: "stopped by SIGTERM (timeout, ...)").
    assert str(caught.value).startswith("stopped by SIGTERM (")
    assert "while loading data" in str(caught.value)
    assert not [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]


# -- Keras's safe mode -----------------------------------------------------------------------------


def test_a_model_file_that_names_code_is_refused_and_the_code_never_runs(tmp_path: Path) -> None:
    import keras

    from core.predict import load_run_model

    marker = tmp_path / "ran"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.json").write_text(json.dumps({"status": "completed"}))
    inputs = keras.Input((32, 32, 3))
    name = str(marker)  # a string in the closure: Keras writes it into the file
    evil = keras.layers.Lambda(lambda x: x + len(open(name, "w").name) * 0)  # noqa: SIM115
    keras.Model(inputs, evil(inputs)).save(run_dir / "model.keras")
    assert marker.exists()  # building it ran the code once: remove that proof
    marker.unlink()
    with pytest.raises(RunDirError, match=r"cannot be loaded.*Lambda"):  # safe mode's refusal
        load_run_model(run_dir)
    assert not marker.exists()


# -- audit: no way from a file to code -------------------------------------------------------------

FORBIDDEN = {
    r"\bimport pickle\b|\bpickle\.loads?\(|\bcloudpickle\b": "pickle of a file",
    r"allow_pickle\s*=\s*True": "numpy's pickle",
    r"(?<![\w.])eval\(": "eval(",
    r"(?<![\w.])exec\(": "exec(",
    r"shell\s*=\s*True": "shell=True",
    r"\bos\.system\(|\bos\.popen\(": "a shell",
    r"\byaml\.load\(": "yaml.load",
    r"\bmarshal\.loads?\(": "marshal",
    r"enable_unsafe_deserialization|safe_mode\s*=\s*False": "Keras's unsafe mode",
}


def test_no_code_reads_a_file_into_code() -> None:
    found = []
    for folder in ("core", "tui"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                code = line.split("#", 1)[0]
                for pattern, what in FORBIDDEN.items():
                    if re.search(pattern, code):
                        found.append(f"{path.relative_to(REPO)}:{number}: {what}: {line.strip()}")
    assert not found, "\n".join(found)
