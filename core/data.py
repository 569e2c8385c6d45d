"""CIFAR-10 data sources: Keras's download, an image-folder tree (or its .tar.gz), synthetic.

Every source yields the same :class:`Dataset`: uint8 ``(N, 32, 32, 3)`` images, int32 labels,
the class names and the notebook's split (the first ``validation_size`` training images are the
validation set). Decoding 60,000 JPEGs costs tens of seconds, so decoded folders are cached as
``.npz`` keyed by the names, sizes and modification times of every file, and reused.
This module imports neither TensorFlow nor Keras at import time.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import DataConfig
from core.errors import DataError
from core.images import MAX_IMAGE_BYTES, ImageProblem, decode
from core.safe_files import NotRegular, kind_of, read_regular

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CIFAR10_CLASSES = (
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
CACHE_VERSION = 1
SHUFFLE_SEED = 0  # folder trees come class by class; a fixed shuffle makes the split fair


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    description: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def cache_dir() -> Path:
    """Where decoded arrays live: ``$CIFAR_TUI_CACHE`` or ``~/.cache/cifar-tui``."""
    env = os.environ.get("CIFAR_TUI_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "cifar-tui"


# --- checks used by profile validation (cheap: no decoding) -------------------------------


#: A local copy of CIFAR-10 (image tree or .tar.gz) that ``source = "cifar10"`` reads instead of
#: downloading: the shipped profiles then run offline with no --set.
LOCAL_CIFAR10 = "CIFAR_TUI_CIFAR10"


def check_folder(path: Path) -> str | None:
    """Why ``path`` is not a usable image-folder source, or None if it is."""
    if not path.exists():
        return f"no such folder or file: {path}"
    if not path.is_dir() and not path.is_file():  # a FIFO would block the first read
        return f"{path} is {kind_of(path.stat().st_mode)}; expected a folder or a .tar.gz"
    if path.is_file():
        if path.name.endswith((".tar.gz", ".tgz", ".tar")):
            return None
        return f"{path} is a file; expected a folder with train/ and test/, or a .tar.gz of one"
    for split in ("train", "test"):
        sub = path / split
        if not sub.is_dir():
            return f"{path} has no {split}/ folder (expected {split}/<class>/<image>)"
        if not any(d.is_dir() for d in sub.iterdir()):
            return f"{sub} has no class folders (expected {split}/<class>/<image>)"
    classes = [d.name for d in (path / "train").iterdir() if d.is_dir()]
    return one_class_problem(str(path), classes)


def one_class_problem(where: str, classes: list[str]) -> str | None:
    """A data set of one class trains to a perfect, meaningless score: refused by every source."""
    if len(classes) == 1:
        return f"{where}: train/ holds one class ({classes[0]}/); a classifier needs at least two"
    return None


def batch_problem(where: str, batch_size: int, train: int) -> str | None:
    """Every batch is a full one: fewer training images than one batch would train 0 steps an
    epoch and call that completed. The same words for every source (the profile check says it
    for a folder; the run, once an archive is read)."""
    if batch_size > train:
        return (
            f"{where}: batch_size {batch_size} is larger than the {train} training images left "
            "after the validation split (every batch is a full one)"
        )
    return None


def train_count(cfg: DataConfig) -> int | None:
    """Number of training images (validation included) without decoding; None if unknown."""
    if cfg.source == "synthetic":
        return cfg.synthetic_train
    if cfg.source == "cifar10" and not os.environ.get(LOCAL_CIFAR10):
        return 50000
    path = (
        Path(os.path.expanduser(os.environ.get(LOCAL_CIFAR10, "")))
        if cfg.source == "cifar10"
        else Path(cfg.path)
    )
    if path.is_dir():
        return sum(1 for _ in _folder_files(path / "train"))
    return None  # an archive: counted when it is decoded


# --- loading ------------------------------------------------------------------------------


class DecodeStopped(Exception):
    """``stop()`` said yes while images were decoded (SIGTERM during a long first decode): the
    caller ends the run before anything is written. Nothing is cached."""


Stop = Callable[[], bool] | None


def _check_stop(stop: Stop, done: int) -> None:
    if stop is not None and done % 256 == 0 and stop():
        raise DecodeStopped


def load_dataset(cfg: DataConfig, *, num_classes_hint: int = 10, stop: Stop = None) -> Dataset:
    """Load the source named by ``cfg`` and apply ``limit`` and the validation split;
    ``stop()`` is asked now and then while images decode (DecodeStopped when it says yes)."""
    if cfg.source == "synthetic":
        x, y, xt, yt = synthetic_arrays(cfg.synthetic_train, cfg.synthetic_test, num_classes_hint)
        classes = tuple(f"pattern{i}" for i in range(num_classes_hint))
        description = f"synthetic ({cfg.synthetic_train} train, {cfg.synthetic_test} test)"
    elif cfg.source == "cifar10" and os.environ.get(LOCAL_CIFAR10):
        local = _local_cifar10()
        x, y, xt, yt, classes = load_folder(local, stop=stop)
        description = f"CIFAR-10 (${LOCAL_CIFAR10} = {local})"
    elif cfg.source == "cifar10":
        x, y, xt, yt = _keras_cifar10()
        classes = CIFAR10_CLASSES
        description = "CIFAR-10 (keras.datasets)"
    else:
        x, y, xt, yt, classes = load_folder(Path(cfg.path), stop=stop)
        description = f"folder {cfg.path}"
    return split(x, y, xt, yt, classes, cfg, description)


def split(x, y, xt, yt, classes, cfg: DataConfig, description: str) -> Dataset:
    if cfg.limit:
        x, y = x[: cfg.limit], y[: cfg.limit]
        test_n = max(1, math.ceil(cfg.limit / 5))
        xt, yt = xt[:test_n], yt[:test_n]
        description += f", limit {cfg.limit}"
    if cfg.validation_size >= len(x):
        raise DataError(  # the key and the fix, as the profile check says them
            f"data.validation_size {cfg.validation_size} leaves no training images: the "
            f"source has {len(x)} training images; set it below that, e.g. --set "
            f"data.validation_size={max(1, len(x) // 5)}"
        )
    v = cfg.validation_size
    return Dataset(
        x_train=x[v:],
        y_train=y[v:],
        x_val=x[:v],
        y_val=y[:v],
        x_test=xt,
        y_test=yt,
        class_names=tuple(classes),
        description=description,
    )


def synthetic_arrays(n_train: int, n_test: int, num_classes: int = 10, seed: int = 1234):
    """Deterministic, learnable images: each class is a colour and a stripe direction + noise."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, num_classes, size=n).astype(np.int32)
        yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
        images = np.empty((n, 32, 32, 3), dtype=np.float32)
        for k in range(num_classes):
            idx = np.nonzero(labels == k)[0]
            hue = k / num_classes
            colour = 127 + 100 * np.array(
                [
                    math.cos(2 * math.pi * hue),
                    math.cos(2 * math.pi * (hue + 1 / 3)),
                    math.cos(2 * math.pi * (hue + 2 / 3)),
                ],
                dtype=np.float32,
            )
            angle = math.pi * k / num_classes
            stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 0.8)
            images[idx] = colour + 40 * stripes[..., None]
        images += rng.normal(0, 25, size=images.shape).astype(np.float32)
        return np.clip(images, 0, 255).astype(np.uint8), labels

    x, y = make(n_train)
    xt, yt = make(n_test)
    return x, y, xt, yt


def _local_cifar10() -> Path:
    local = Path(os.path.expanduser(os.environ[LOCAL_CIFAR10])).resolve()
    problem = check_folder(local)
    if problem:
        raise DataError(f"${LOCAL_CIFAR10} names a copy of CIFAR-10 that cannot be used: {problem}")
    return local


def _keras_cifar10():
    """keras.datasets.cifar10, but with a clear error instead of a failed download."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    cached = keras_home / "datasets" / "cifar-10-batches-py"
    try:
        import keras

        (x, y), (xt, yt) = keras.datasets.cifar10.load_data()
    except Exception as exc:  # no network and no cache: Keras raises a bare Exception
        raise DataError(
            f"CIFAR-10 is not cached at {cached} and could not be downloaded "
            f"({_download_problem(exc)}). "
            'Put the extracted "cifar-10-batches-py" folder there, or set '
            f"{LOCAL_CIFAR10} to a local copy (a train/ and test/ image tree or its .tar.gz, "
            'e.g. ../shared/data/cifar10-jpeg.tar.gz), or use [data] source = "folder" with '
            'that path, or source = "synthetic".'
        ) from None
    return x, y.reshape(-1).astype(np.int32), xt, yt.reshape(-1).astype(np.int32)


def _download_problem(exc: BaseException) -> str:
    """The reason behind Keras's bare ``Exception("URL fetch failure ...")``: the innermost
    cause's first line, e.g. "[Errno -3] Temporary failure in name resolution"."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    reason = getattr(exc, "reason", None)
    lines = str(reason if reason is not None else exc).strip().splitlines()
    text = lines[0] if lines else exc.__class__.__name__
    offline = ("name resolution", "name or service", "unreachable", "connection")
    if any(word in text.lower() for word in offline):
        text += "; no network?"
    return text


def _folder_files(split_dir: Path) -> Iterator[Path]:
    for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
        for f in sorted(class_dir.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                yield f


def folder_key(path: Path) -> str:
    """Cache key: every image's relative name, size and mtime, so any change invalidates it."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    if path.is_file():
        st = path.stat()
        h.update(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
        return h.hexdigest()[:24]
    h.update(str(path.resolve()).encode())
    for split_name in ("train", "test"):
        for f in _folder_files(path / split_name):
            st = _stat(f)
            h.update(f"{f.relative_to(path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _stat(f: Path) -> os.stat_result:
    """A dangling link, a link loop or a FIFO among the images is the user's to fix: name it."""
    try:
        st = f.stat()
        if not stat.S_ISREG(st.st_mode):  # opening a FIFO would wait for a writer forever
            raise DataError(f"cannot read image {f}: it is {kind_of(st.st_mode)}, not a file")
        return st
    except OSError as exc:
        what = "a link loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        if f.is_symlink() and exc.errno == errno.ENOENT:
            what = f"a dangling link (to {os.readlink(f)})"
        raise DataError(f"cannot read image {f}: {what}") from None


def check_classes(train: dict[str, int], test: dict[str, int], where: str) -> None:
    """Every class needs training and test images: an empty or one-sided class would silently
    give the model an output that never sees an example."""
    for name in sorted(set(train) | set(test)):
        for split_name, counts, other in (("train", train, test), ("test", test, train)):
            if name not in counts and name in other:
                theirs = "test" if split_name == "train" else "train"
                raise DataError(
                    f"{where}: {split_name}/ does not have class {name}/, which {theirs}/ has; "
                    "give both splits the same classes"
                )
            if counts.get(name, 1) == 0:
                raise DataError(
                    f"{where}: {split_name}/{name}/ holds no images "
                    f"({', '.join(IMAGE_SUFFIXES)}); add some or remove the class"
                )
    problem = one_class_problem(where, sorted(train))
    if problem:
        raise DataError(problem)


def load_folder(path: Path, *, stop: Stop = None):
    """Decode a folder tree (or archive of one), through the decoded-array cache."""
    problem = check_folder(path)
    if problem:
        raise DataError(problem)
    if path.is_dir():  # before the cache: a class emptied since must not go unnoticed
        check_classes(_class_counts(path / "train"), _class_counts(path / "test"), str(path))
    key = folder_key(path)
    cached = cache_dir() / f"folder-{key}.npz"
    if cached.exists():
        try:
            with np.load(cached) as z:
                return (z["x"], z["y"], z["xt"], z["yt"], tuple(str(c) for c in z["classes"]))
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    arrays = _decode_archive(path, stop) if path.is_file() else _decode_tree(path, stop)
    x, y, xt, yt, classes = arrays
    _save_npz(cached, x=x, y=y, xt=xt, yt=yt, classes=np.array(classes))
    return x, y, xt, yt, classes


def cache_path_for(path: Path) -> Path:
    return cache_dir() / f"folder-{folder_key(path)}.npz"


def _decode(data: bytes) -> np.ndarray:
    """Every image of every source goes through here (core/images.py: modes, EXIF, size)."""
    return decode(data)


def _decode_file(f: Path) -> np.ndarray:
    """One image of a folder tree: a regular file (checked on the open descriptor), capped."""
    try:
        return _decode(read_regular(f, MAX_IMAGE_BYTES, "an image file"))
    except (NotRegular, ImageProblem) as exc:
        raise DataError(f"cannot decode image {f}: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read image {f}: {exc.strerror or exc}") from None


def _class_counts(split_dir: Path) -> dict[str, int]:
    return {
        d.name: sum(1 for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for d in split_dir.iterdir()
        if d.is_dir()
    }


def _decode_tree(path: Path, stop: Stop = None):
    classes = tuple(sorted(d.name for d in (path / "train").iterdir() if d.is_dir()))
    out = []
    for split_name in ("train", "test"):
        images, labels = [], []
        for f in _folder_files(path / split_name):
            _stat(f)
            _check_stop(stop, len(images))
            images.append(_decode_file(f))
            labels.append(classes.index(f.parent.name))
        out.append(_shuffled(images, labels, split_name))
    (x, y), (xt, yt) = out
    return x, y, xt, yt, classes


def _decode_archive(path: Path, stop: Stop = None):
    """Read train/<class>/<img> and test/<class>/<img> members of a tar(.gz) without extracting,
    decoding each as it streams past (only 32x32 arrays are kept), every member capped at
    MAX_IMAGE_BYTES; an archive that ends before its end-of-archive marker is damaged, an error
    naming it (never a smaller data set)."""
    found: dict[str, list[tuple[str, str, np.ndarray]]] = {"train": [], "test": []}
    where = str(path)
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                split_name, class_name = _member_place(member)
                if split_name is None:
                    continue
                name = f"{path}:{member.name}"
                if member.size > MAX_IMAGE_BYTES:
                    raise DataError(
                        f"archive member {name} is {member.size:,} bytes: larger than any image "
                        f"this reads (at most {MAX_IMAGE_BYTES:,})"
                    )
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if len(data) != member.size:
                    raise DataError(f"cannot read archive {path}: {member.name} is cut short")
                try:
                    image = _decode(data)
                except ImageProblem as exc:
                    raise DataError(f"cannot decode image {name}: {exc}") from None
                found[split_name].append((class_name, Path(member.name).name, image))
                _check_stop(stop, len(found["train"]) + len(found["test"]))
            _check_archive_end(tar, path)
    except (DataError, DecodeStopped):
        raise
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read archive {path}: {_archive_problem(exc)}") from None
    except Exception as exc:  # zlib.error, lzma.LZMAError: damage inside the compressed stream
        raise DataError(f"cannot read archive {path}: damaged ({_archive_problem(exc)})") from None
    if not found["train"] or not found["test"]:
        raise DataError(f"{path} holds no train/<class>/<image> and test/<class>/<image> members")
    counts = {s: {c: 1 for c, _, _ in found[s]} for s in found}
    check_classes(counts["train"], counts["test"], where)
    classes = tuple(sorted(counts["train"]))
    out = []
    for split_name in ("train", "test"):
        ordered = sorted(found[split_name], key=lambda item: item[:2])
        images = [image for _, _, image in ordered]
        labels = [classes.index(class_name) for class_name, _, _ in ordered]
        out.append(_shuffled(images, labels, split_name))
    (x, y), (xt, yt) = out
    return x, y, xt, yt, classes


def _member_place(member: tarfile.TarInfo) -> tuple[str | None, str]:
    """(split, class) of an image member at .../<split>/<class>/<file>; (None, "") otherwise."""
    if not member.isfile() or not member.name.lower().endswith(IMAGE_SUFFIXES):
        return None, ""
    parts = Path(member.name).parts
    for i, part in enumerate(parts[:-2]):
        if part in ("train", "test") and i + 3 == len(parts):
            return part, parts[i + 1]
    return None, ""


def _check_archive_end(tar: tarfile.TarFile, path: Path) -> None:
    """tarfile stops quietly at a damaged header after the first: what follows the last member
    read must be the end-of-archive marker (a zero block), and the compressed stream must end
    whole (its check sum read), or members were lost."""
    fileobj = tar.fileobj
    assert fileobj is not None
    fileobj.seek(tar.offset)
    marker = fileobj.read(tarfile.BLOCKSIZE)
    if len(marker) < tarfile.BLOCKSIZE or marker.count(0) != tarfile.BLOCKSIZE:
        raise DataError(
            f"cannot read archive {path}: damaged or cut short after {len(tar.members)} "
            "members (no end-of-archive marker); nothing was read from it"
        )
    while fileobj.read(1 << 20):  # to the end: a cut-short .gz fails here (EOFError)
        pass


def _archive_problem(exc: BaseException) -> str:
    """tarfile explains a non-archive with one line per method it tried: say it in one."""
    if isinstance(exc, tarfile.ReadError) and "could not be opened" in str(exc):
        return "not a tar, tar.gz, tar.bz2 or tar.xz archive"
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _shuffled(images: list[np.ndarray], labels: list[int], split_name: str):
    """A fixed permutation, so the first validation_size images mix all classes like CIFAR's."""
    x = np.stack(images) if images else np.zeros((0, 32, 32, 3), np.uint8)
    y = np.asarray(labels, dtype=np.int32)
    order = np.random.default_rng(SHUFFLE_SEED + (split_name == "test")).permutation(len(y))
    return x[order], y[order]


def _save_npz(target: Path, **arrays) -> None:
    """Write atomically: a concurrent reader never sees half a cache file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, target)
    except OSError:
        pass  # an unwritable cache only costs the decode next time
