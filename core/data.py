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
import io
import math
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import DataConfig
from core.errors import DataError

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


def load_dataset(cfg: DataConfig, *, num_classes_hint: int = 10) -> Dataset:
    """Load the source named by ``cfg`` and apply ``limit`` and the validation split."""
    if cfg.source == "synthetic":
        x, y, xt, yt = synthetic_arrays(cfg.synthetic_train, cfg.synthetic_test, num_classes_hint)
        classes = tuple(f"pattern{i}" for i in range(num_classes_hint))
        description = f"synthetic ({cfg.synthetic_train} train, {cfg.synthetic_test} test)"
    elif cfg.source == "cifar10" and os.environ.get(LOCAL_CIFAR10):
        local = _local_cifar10()
        x, y, xt, yt, classes = load_folder(local)
        description = f"CIFAR-10 (${LOCAL_CIFAR10} = {local})"
    elif cfg.source == "cifar10":
        x, y, xt, yt = _keras_cifar10()
        classes = CIFAR10_CLASSES
        description = "CIFAR-10 (keras.datasets)"
    else:
        x, y, xt, yt, classes = load_folder(Path(cfg.path))
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
    """A dangling link or a link loop among the images is the user's to fix: name it."""
    try:
        return f.stat()
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


def load_folder(path: Path):
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
    arrays = _decode_archive(path) if path.is_file() else _decode_tree(path)
    x, y, xt, yt, classes = arrays
    _save_npz(cached, x=x, y=y, xt=xt, yt=yt, classes=np.array(classes))
    return x, y, xt, yt, classes


def cache_path_for(path: Path) -> Path:
    return cache_dir() / f"folder-{folder_key(path)}.npz"


def _decode(data: bytes | Path) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
        im = im.convert("RGB")
        if im.size != (32, 32):
            im = im.resize((32, 32), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def _class_counts(split_dir: Path) -> dict[str, int]:
    return {
        d.name: sum(1 for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for d in split_dir.iterdir()
        if d.is_dir()
    }


def _decode_tree(path: Path):
    classes = tuple(sorted(d.name for d in (path / "train").iterdir() if d.is_dir()))
    out = []
    for split_name in ("train", "test"):
        images, labels = [], []
        for f in _folder_files(path / split_name):
            _stat(f)
            try:
                images.append(_decode(f))
            except Exception as exc:
                raise DataError(f"cannot decode image {f}: {exc}") from None
            labels.append(classes.index(f.parent.name))
        out.append(_shuffled(images, labels, split_name))
    (x, y), (xt, yt) = out
    return x, y, xt, yt, classes


def _decode_archive(path: Path):
    """Read train/<class>/<img> and test/<class>/<img> members of a tar(.gz) without extracting."""
    found: dict[str, list[tuple[str, str, bytes]]] = {"train": [], "test": []}
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if not member.isfile() or not member.name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                parts = Path(member.name).parts
                for i, part in enumerate(parts[:-2]):
                    if part in found and i + 3 == len(parts):
                        data = tar.extractfile(member).read()  # type: ignore[union-attr]
                        found[part].append((parts[i + 1], parts[-1], data))
                        break
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read archive {path}: {_archive_problem(exc)}") from None
    if not found["train"] or not found["test"]:
        raise DataError(f"{path} holds no train/<class>/<image> and test/<class>/<image> members")
    counts = {s: {c: 1 for c, _, _ in found[s]} for s in found}
    check_classes(counts["train"], counts["test"], str(path))
    classes = tuple(sorted(counts["train"]))
    out = []
    for split_name in ("train", "test"):
        images, labels = [], []
        for class_name, file_name, data in sorted(found[split_name]):
            try:
                images.append(_decode(data))
            except Exception as exc:
                raise DataError(
                    f"cannot decode image {path}:{split_name}/{class_name}/{file_name}: {exc}"
                ) from None
            labels.append(classes.index(class_name))
        out.append(_shuffled(images, labels, split_name))
    (x, y), (xt, yt) = out
    return x, y, xt, yt, classes


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
