"""Every setting of a run, in one place: the profile schema, its defaults, ranges and docs.

Each table of a profile is a dataclass below; a field's metadata says what values are allowed.
``core.profiles`` checks TOML against these definitions, so the schema, the defaults and the
documentation cannot drift apart (airbench keeps all hyperparameters in one place for the same
reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

ARCHITECTURES = ("alexnet", "vgg16", "vgg_small")
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")
SOURCES = ("cifar10", "folder", "synthetic")
PREPROCESS = ("device", "host")
OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
MONITORS = ("val_accuracy", "val_loss", "accuracy", "loss")
JIT = ("auto", "on", "off")
AUGMENT_ORDERS = ("resize_first", "augment_first")
#: What a completed run may export by itself (core/export.py; cifar-tui --export).
EXPORT_FORMATS = ("onnx", "saved_model", "keras")

#: Native input size of each architecture: what a profile gets when it leaves input_size out.
DEFAULT_INPUT_SIZE = {"alexnet": 224, "vgg16": 224, "vgg_small": 32}


def min_input_size(architecture: str) -> int:
    """The smallest input for which every pooling layer still has a pixel left."""
    if architecture == "alexnet":
        # conv 11/4 valid, then three 3/2 valid max-pools: the last one needs 3 pixels.
        need = 3
        for _ in range(2):
            need = 2 * (need - 1) + 3
        return 4 * (need - 1) + 11
    if architecture == "vgg16":
        return 32  # five 2x2 pools
    return 8  # vgg_small: three 2x2 pools


#: Upper bounds where a key has no natural one: every key has one, so a value that would crash
#: TensorFlow after training started (a shuffle buffer of 10**12 images) is refused by --check.
MAX_IMAGES = 10_000_000  # 200 times CIFAR-10: more than any source this tool reads
MAX_PROFILE_BATCH = 10_000_000
MAX_TEXT = 4096  # data.path, description: longer is not a path or a line


def spec(default: Any, doc: str, kind: str, **limits: Any) -> Any:
    """A profile key: its default, a one-line doc, its kind and its allowed values."""
    return field(default=default, metadata={"doc": doc, "kind": kind, **limits})


@dataclass(frozen=True)
class ModelConfig:
    architecture: str = spec("vgg_small", "network to train", "str", choices=ARCHITECTURES)
    input_size: int = spec(
        0, "side of the square input the network sees; 0 = its native size", "int", min=0, max=512
    )


@dataclass(frozen=True)
class AugmentConfig:
    flip: str = spec("none", "random flips during training", "str", choices=FLIPS)
    rotation: float = spec(
        0.0,
        "random rotation, as a fraction of a full turn (0.2 = up to 72 degrees)",
        "float",
        min=0.0,
        max=0.5,
    )
    order: str = spec(
        "resize_first",
        "resize_first: flip and rotate the resized image (the notebook's order); "
        "augment_first: flip and rotate the 32x32 image, then resize (device only; the same "
        "flips, rotations interpolated at 32x32, and 49x fewer pixels to rotate at 224)",
        "str",
        choices=AUGMENT_ORDERS,
    )


@dataclass(frozen=True)
class DataConfig:
    source: str = spec("synthetic", "where the images come from", "str", choices=SOURCES)
    path: str = spec(
        "", "folder source: train/<class>/* and test/<class>/* tree, or a .tar.gz of one", "str"
    )
    validation_size: int = spec(
        5000,
        "first N training images held out for validation (the notebook's split)",
        "int",
        min=1,
        max=MAX_IMAGES,
    )
    limit: int = spec(
        0,
        "use only the first N training images (test: N/5); 0 = all",
        "int",
        min=0,
        max=MAX_IMAGES,
    )
    synthetic_train: int = spec(
        10000, "synthetic source: number of training images", "int", min=2, max=1_000_000
    )
    synthetic_test: int = spec(
        2000, "synthetic source: number of test images", "int", min=1, max=1_000_000
    )


@dataclass(frozen=True)
class PipelineConfig:
    preprocess: str = spec(
        "device",
        "device: standardize/resize/augment as model layers on raw uint8 batches; "
        "host: the notebook's map on the CPU (tf.data on TensorFlow, worker threads elsewhere)",
        "str",
        choices=PREPROCESS,
    )
    num_parallel_calls: int | str = spec(
        "autotune", 'host map parallelism: a count or "autotune"', "int_or_auto", min=1, max=256
    )
    shuffle_buffer: int = spec(
        10000, "tf.data shuffle buffer (images); 0 = no shuffle", "int", min=0, max=MAX_IMAGES
    )
    prefetch: int | str = spec(
        "autotune", 'batches prefetched: a count or "autotune"', "int_or_auto", min=0, max=1024
    )
    cache: bool = spec(False, "host: cache the mapped images after the first epoch", "bool")


@dataclass(frozen=True)
class ReduceLRConfig:
    enabled: bool = spec(True, "lower the learning rate when the monitored metric stalls", "bool")
    monitor: str = spec("val_accuracy", "metric watched", "str", choices=MONITORS)
    factor: float = spec(
        0.01,
        "multiply the learning rate by this",
        "float",
        min=0.0,
        max=1.0,
        min_exclusive=True,
        max_exclusive=True,
    )
    patience: int = spec(3, "epochs without improvement before lowering", "int", min=0, max=100_000)
    min_lr: float = spec(1e-5, "never go below this learning rate", "float", min=0.0, max=10.0)


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = spec("adam", "optimizer", "str", choices=OPTIMIZERS)
    learning_rate: float = spec(
        0.001, "initial learning rate", "float", min=0.0, max=10.0, min_exclusive=True
    )
    momentum: float = spec(0.0, "SGD momentum", "float", min=0.0, max=1.0, max_exclusive=True)
    batch_size: int = spec(128, "images per step", "int", min=1, max=8192)
    epochs: int = spec(20, "passes over the training set", "int", min=1, max=100_000)
    seed: int = spec(0, "seed for weights, shuffling and augmentation", "int", min=0, max=2**31 - 1)
    precision: str = spec(
        "float32", "compute precision (Keras dtype policy)", "str", choices=PRECISIONS
    )
    jit_compile: str = spec("auto", "XLA compilation of the train step", "str", choices=JIT)
    devices: int | str = spec(
        1,
        'accelerators one run trains on, data-parallel: a count or "all" (batch_size stays '
        "the global batch, split evenly over them)",
        "int_or_all",
        min=1,
        max=1024,
    )
    steps_per_execution: int = spec(
        1,
        "train steps per compiled call (higher cuts per-step overhead; JAX: an unrolled scan, "
        "so compiling takes longer, at most 64)",
        "int",
        min=1,
        max=1000,
    )
    reduce_lr: ReduceLRConfig = field(default_factory=ReduceLRConfig)


@dataclass(frozen=True)
class ProfilerConfig:
    enabled: bool = spec(True, "measure how input-bound the run is", "bool")
    batches: tuple[int, int] = spec(
        (500, 520),
        "[first, last] global batch of the profile window (the notebook's 500,520)",
        "window",
        max=MAX_PROFILE_BATCH,
    )
    trace: bool = spec(
        True, "TensorFlow backend: also save a profiler trace for TensorBoard", "bool"
    )


@dataclass(frozen=True)
class ExportConfig:
    formats: tuple[str, ...] = spec(
        (),
        "models a completed run writes to RUN_DIR/export/ for use without cifar-tui "
        '(onnx: ONNX Runtime; saved_model: TensorFlow; keras); needs pip install ".[export]"',
        "formats",
        choices=EXPORT_FORMATS,
    )


#: Tables of a run profile, by their TOML name.
TABLES: dict[str, type] = {
    "model": ModelConfig,
    "augment": AugmentConfig,
    "data": DataConfig,
    "pipeline": PipelineConfig,
    "train": TrainConfig,
    "train.reduce_lr": ReduceLRConfig,
    "profiler": ProfilerConfig,
    "export": ExportConfig,
}
#: Tables a hyperparameter profile may set: the training side only.
HPARAM_TABLES = ("augment", "train", "train.reduce_lr")
TOP_LEVEL_KEYS = ("name", "description")


@dataclass(frozen=True)
class Profile:
    """A fully resolved, validated run profile."""

    name: str
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    profiler: ProfilerConfig = field(default_factory=ProfilerConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict in TOML's shape (tables as dicts, the window as a list)."""
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        for table in ("model", "augment", "data", "pipeline", "train", "profiler", "export"):
            out[table] = table_dict(getattr(self, table))
        return out

    def get(self, dotted: str) -> Any:
        """A value by its dotted key, e.g. ``train.reduce_lr.factor``."""
        value: Any = self
        for part in dotted.split("."):
            value = getattr(value, part)
        return list(value) if isinstance(value, tuple) else value


def table_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if hasattr(value, "__dataclass_fields__"):
            value = table_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def describe_allowed(meta: dict[str, Any]) -> str:
    """Human text for what a key accepts, used in error messages and docs."""
    kind = meta["kind"]
    if kind == "formats":
        return "a list of distinct names from " + ", ".join(f'"{c}"' for c in meta["choices"])
    if "choices" in meta:
        return "one of " + ", ".join(f'"{c}"' for c in meta["choices"])
    if kind == "bool":
        return "true or false"
    if kind == "window":
        return (
            "a list of two integers [first, last] with 1 <= first <= last <= "
            f"{meta.get('max', MAX_PROFILE_BATCH)}"
        )
    if kind == "str":
        return f"a string of at most {MAX_TEXT} characters"
    noun = {
        "int": "an integer",
        "float": "a number",
        "int_or_auto": 'an integer or "autotune"',
        "int_or_all": 'an integer or "all"',
    }[kind]
    lo, hi = meta.get("min"), meta.get("max")
    lo_op = ">" if meta.get("min_exclusive") else ">="
    hi_op = "<" if meta.get("max_exclusive") else "<="
    parts = []
    if lo is not None:
        parts.append(f"{lo_op} {lo:g}" if isinstance(lo, float) else f"{lo_op} {lo}")
    if hi is not None:
        parts.append(f"{hi_op} {hi:g}" if isinstance(hi, float) else f"{hi_op} {hi}")
    return noun + (" " + " and ".join(parts) if parts else "")


#: The one word an integer key of these kinds also takes.
WORDS = {"int_or_auto": "autotune", "int_or_all": "all"}


def check_value(meta: dict[str, Any], value: Any) -> tuple[bool, Any]:
    """Check one value against its key's metadata; returns (ok, normalized value)."""
    kind = meta["kind"]
    if kind == "bool":
        return isinstance(value, bool), value
    if kind == "str":
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            return False, value
        return ("choices" not in meta or value in meta["choices"]), value
    if kind == "formats":
        ok = (
            isinstance(value, list)
            and all(isinstance(v, str) and v in meta["choices"] for v in value)
            and len(set(value)) == len(value)
        )
        return ok, (tuple(value) if ok else value)
    if kind == "window":
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and 1 <= value[0] <= value[1] <= meta.get("max", MAX_PROFILE_BATCH)
        )
        return ok, (tuple(value) if ok else value)
    if value == WORDS.get(kind):
        return True, value
    if isinstance(value, bool):
        return False, value
    if kind in ("int", *WORDS):
        if not isinstance(value, int):
            return False, value
    elif kind == "float":
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return False, value
        value = float(value)
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
        return False, value
    if hi is not None and (value > hi or (meta.get("max_exclusive") and value == hi)):
        return False, value
    return True, value
