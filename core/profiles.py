"""Load, merge and strictly validate run profiles.

A run is described by layers, each checked on its own so an error names the file that holds it:
the run profile (``profiles/*.toml``), an optional hyperparameter profile
(``profiles/hparams/*.toml``, training-side tables only) and ``--set table.key=value`` overrides.
A typo'd key is an error with a "did you mean", never a silent default: a wrong hyperparameter
that quietly falls back wastes hours of GPU time.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.config import (
    DEFAULT_INPUT_SIZE,
    HPARAM_TABLES,
    MAX_TEXT,
    TABLES,
    TOP_LEVEL_KEYS,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    PipelineConfig,
    Profile,
    TrainConfig,
    check_value,
    describe_allowed,
    min_input_size,
)
from core.errors import ProfileError
from core.safe_files import NotRegular, read_regular
from core.values import show, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: A profile is a few hundred bytes: more than this is not one (/dev/zero, a log file).
MAX_PROFILE_BYTES = 1024 * 1024
TOO_DEEP = "values nest too deeply (arrays or tables thousands deep)"
SHOWN = 60  # characters of a bad value quoted in an error line
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SET_SOURCE = "--set"


def working_dir() -> Path:
    """The current directory as the user's shell names it: ``$PWD`` where it is this directory
    (a project reached through a symlink keeps the link), else the kernel's physical path."""
    here = os.getcwd()
    logical = os.environ.get("PWD", "")
    if logical and os.path.isabs(logical) and logical != here:
        try:
            if os.path.samefile(logical, here):
                return Path(logical)
        except OSError:
            pass
    return Path(here)


def absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute against :func:`working_dir`, with ".." folded but links kept."""
    return Path(os.path.normpath(working_dir() / os.path.expanduser(path)))


@dataclass
class Layer:
    """One source of settings: its label for errors, its raw dict and its text (for lines)."""

    source: str
    raw: dict[str, Any]
    text: str = ""
    base_dir: Path = field(default_factory=working_dir)
    #: A hyperparameter profile: it may set only the training-side tables, and its name
    #: labels the file without renaming the run.
    hparams: bool = False

    def line_of(self, dotted: str) -> int | None:
        return find_line(self.text, dotted) if self.text else None


def find_line(text: str, dotted: str) -> int | None:
    """Line of ``key`` inside ``[table]`` (TOML parsers do not report key lines)."""
    parts = dotted.split(".")
    key, table = parts[-1], ".".join(parts[:-1])
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([A-Za-z0-9_.\- ]+?)\s*\]", stripped)
        if header:
            current = header.group(1).replace(" ", "")
            if current == dotted:
                return number
            continue
        if current == table and re.match(rf'^"?{re.escape(key)}"?\s*=', stripped):
            return number
    return None


def read_toml(path: str | os.PathLike[str]) -> Layer:
    """Read one TOML file, turning every way it can be unreadable into a ProfileError."""
    p = Path(path)
    label = str(path)
    if not p.exists():
        raise ProfileError(label, "no such file")
    if p.is_dir():
        raise ProfileError(label, "is a directory, not a TOML file")
    try:
        data = read_regular(p, MAX_PROFILE_BYTES, "a TOML profile")
    except NotRegular as exc:
        raise ProfileError(label, str(exc)) from None
    except OSError as exc:
        raise ProfileError(label, f"cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")  # a BOM, as Windows editors write, is fine
    except UnicodeDecodeError:
        raise ProfileError(
            label, "is not a text file (a UTF-8 TOML profile was expected)"
        ) from None
    if "\x00" in text:
        raise ProfileError(label, "is not a text file (a UTF-8 TOML profile was expected)")
    try:
        raw = tomllib.loads(text)
    except RecursionError:  # [[[[...]]]] thousands deep: no profile nests like that
        raise ProfileError(label, f"invalid TOML: {TOO_DEEP}") from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            m = re.search(r"line (\d+)", str(exc))
            line = int(m.group(1)) if m else None
        message = getattr(exc, "msg", None) or re.sub(r"\s*\(at .*\)$", "", str(exc))
        raise ProfileError(label, f"invalid TOML: {message}", line=line) from None
    return Layer(label, raw, text, absolute(p).parent)  # links kept, as written


def parse_override(item: str) -> tuple[str, Any]:
    """``table.key=value``; the value is read as TOML, or taken as a bare string."""
    if "=" not in item:
        raise ProfileError(SET_SOURCE, f"{item!r} is not of the form table.key=value")
    key, _, text = item.partition("=")
    key = key.strip()
    if not key or ("." not in key and key not in TOP_LEVEL_KEYS):
        raise ProfileError(SET_SOURCE, f"{item!r}: the key must be table.key, e.g. train.epochs")
    text = text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except RecursionError:
        raise ProfileError(SET_SOURCE, f"{key}: {TOO_DEEP}", key=key) from None
    except tomllib.TOMLDecodeError:
        value = text
    return key, value


def overrides_layer(items: list[str] | tuple[str, ...]) -> Layer:
    raw: dict[str, Any] = {}
    for item in items:
        key, value = parse_override(item)
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ProfileError(SET_SOURCE, f"{key!r} conflicts with another --set", key=key)
            node = child
        node[parts[-1]] = value
    return Layer(SET_SOURCE, raw)


def _error(layer: Layer, key: str, message: str) -> ProfileError:
    """An error located at ``key`` in the layer that holds it: file, line and key."""
    return ProfileError(layer.source, message, key=key, line=layer.line_of(key))


def check_layer(layer: Layer, allowed_tables: tuple[str, ...]) -> dict[str, Any]:
    """Check keys and value types of one layer; returns flat ``{dotted: value}``."""
    flat: dict[str, Any] = {}
    top_tables = sorted({t.split(".")[0] for t in allowed_tables})
    for key, value in layer.raw.items():
        if key in TOP_LEVEL_KEYS:
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise _error(
                    layer,
                    key,
                    f"must be a string of at most {MAX_TEXT} characters, got {show(value)}",
                )
            flat[key] = value
        elif key in top_tables:
            _check_table(layer, key, value, allowed_tables, flat)
        else:
            raise _error(layer, key, _not_a_table_here(key, top_tables, allowed_tables))
    return flat


def _not_a_table_here(key: str, top_tables: list[str], allowed_tables: tuple[str, ...]) -> str:
    """Why a top-level key is refused: a table this layer may not set, or a typo."""
    if key in {t.split(".")[0] for t in TABLES}:
        return f"[{key}] is not allowed here; this file may set only " + ", ".join(
            f"[{t}]" for t in allowed_tables
        )
    return (
        "unknown key or table"
        + suggest(key, top_tables + list(TOP_LEVEL_KEYS))
        + "; allowed: "
        + ", ".join(list(TOP_LEVEL_KEYS) + [f"[{t}]" for t in top_tables])
    )


def _check_table(
    layer: Layer,
    table: str,
    value: Any,
    allowed_tables: tuple[str, ...],
    flat: dict[str, Any],
) -> None:
    """Check one ``[table]`` (and its allowed sub-tables) into ``flat``."""
    if not isinstance(value, dict):
        raise _error(layer, table, f"must be a table ([{table}]), got {show(value)}")
    specs = {f.name: f for f in fields(TABLES[table])}
    for key, item in value.items():
        dotted = f"{table}.{key}"
        if key not in specs:
            raise _error(
                layer,
                dotted,
                f"unknown key in [{table}]"
                + suggest(key, list(specs))
                + "; allowed: "
                + ", ".join(specs),
            )
        meta = specs[key].metadata
        if not meta:  # a nested table, e.g. train.reduce_lr
            if dotted not in allowed_tables:
                raise _error(layer, dotted, f"[{dotted}] is not allowed here")
            _check_table(layer, dotted, item, allowed_tables, flat)
            continue
        ok, normalized = check_value(meta, item)
        if not ok:
            raise _error(layer, dotted, f"must be {describe_allowed(meta)}, got {show(item)}")
        flat[dotted] = normalized


def load_profile(
    path: str | os.PathLike[str],
    hparams: str | os.PathLike[str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    check_data: bool = True,
) -> Profile:
    """Resolve a run profile with its optional hyperparameter profile and ``--set`` overrides."""
    layers = [read_toml(path)]
    if hparams is not None:
        layers.append(replace(read_toml(hparams), hparams=True))
    if overrides:
        layers.append(overrides_layer(overrides))
    return resolve(layers, check_data=check_data)


#: On JAX a call's steps are unrolled (core/training/scan_steps.py): compile time grows with their
# count.
MAX_SCANNED_STEPS = 64


@dataclass
class _Merged:
    """Checked layers merged into flat dotted keys (later wins), each key with the layer that
    set it, so an error found across keys names the file and line the user must change."""

    layers: list[Layer]
    values: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, Layer] = field(default_factory=dict)

    @classmethod
    def of(cls, layers: list[Layer]) -> _Merged:
        merged = cls(layers)
        for layer in layers:
            flat = check_layer(layer, HPARAM_TABLES if layer.hparams else tuple(TABLES))
            if layer.hparams:
                flat.pop("name", None)  # it labels the hparams file; it does not rename runs
                flat.pop("description", None)
            for key, value in flat.items():
                merged.values[key] = value
                merged.origin[key] = layer
        return merged

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def layer_of(self, key: str) -> Layer:
        """The layer that set ``key``; the run profile for a key left at its default."""
        return self.origin.get(key, self.layers[0])

    def error(self, key: str, message: str) -> ProfileError:
        return _error(self.layer_of(key), key, message)


def resolve(layers: list[Layer], *, check_data: bool = True) -> Profile:
    """Merge checked layers (later wins) into a Profile and run the cross-key checks."""
    merged = _Merged.of(layers)
    name = _check_name(merged)
    tables = _build_tables(merged.values)
    tables["model"] = model = _check_model(tables["model"], merged)
    tables["data"] = _check_data(tables["data"], tables["train"].batch_size, merged, check_data)
    _check_backend(tables["pipeline"], tables["train"], merged)
    _check_devices(tables["train"], tables["data"], merged)
    _check_augment_order(tables["augment"], tables["pipeline"], model, merged)
    return Profile(name=name, description=merged.values.get("description", ""), **tables)


def _check_name(merged: _Merged) -> str:
    name = merged.values.get("name")
    if name is None:
        raise ProfileError(
            merged.layers[0].source,
            'missing key "name" (a short run name, e.g. "alexnet")',
            key="name",
        )
    if not NAME_RE.fullmatch(name):  # match() would let "name\n" through ($ before a newline)
        raise merged.error(
            "name",
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            f"or digit (it names run directories), got {show(name)}",
        )
    return name


def _build_tables(values: dict[str, Any]) -> dict[str, Any]:
    """One config object per table from checked flat keys; train.reduce_lr nests in train."""
    tables: dict[str, Any] = {}
    for table, cls in TABLES.items():
        if table == "train.reduce_lr":
            continue
        kwargs = {
            k.split(".", 1)[1]: v
            for k, v in values.items()
            if k.startswith(table + ".") and k.count(".") == 1
        }
        if table == "train":
            sub = {
                k.rsplit(".", 1)[1]: v
                for k, v in values.items()
                if k.startswith("train.reduce_lr.")
            }
            kwargs["reduce_lr"] = TABLES["train.reduce_lr"](**sub)
        tables[table] = cls(**kwargs)
    return tables


def _check_model(model: ModelConfig, merged: _Merged) -> ModelConfig:
    """Input size 0 becomes the native size; a size the network cannot pool down is refused."""
    if model.input_size == 0:
        model = replace(model, input_size=DEFAULT_INPUT_SIZE[model.architecture])
    smallest = min_input_size(model.architecture)
    if model.input_size < smallest:
        key = "model.input_size" if "model.input_size" in merged else "model.architecture"
        raise merged.error(
            key,
            f"input_size {model.input_size} is too small for {model.architecture}: "
            f"it needs at least {smallest} (or 0 for its native "
            f"{DEFAULT_INPUT_SIZE[model.architecture]})",
        )
    return model


def _check_backend(pipeline: PipelineConfig, train: TrainConfig, merged: _Merged) -> None:
    """Settings that only one Keras backend can run."""
    backend = keras_backend()
    spe = train.steps_per_execution
    if backend == "jax" and spe > MAX_SCANNED_STEPS:
        raise merged.error(
            "train.steps_per_execution",
            f"steps_per_execution {spe} is more than {MAX_SCANNED_STEPS} on JAX: the steps of "
            "a call are compiled as one unrolled program (one copy per step), so compiling "
            f"grows with it; use at most {MAX_SCANNED_STEPS}",
        )


def _check_devices(train: TrainConfig, data: DataConfig, merged: _Merged) -> None:
    """A device count the batches cannot be split over (core/training/distribute.py); "all"
    is checked when the run starts and knows its devices."""
    from core.training.distribute import SCAN_WITH_DEVICES, split_problem

    if not isinstance(train.devices, int) or train.devices == 1:
        return
    if keras_backend() == "jax" and train.steps_per_execution > 1:
        raise merged.error(_later(merged, "train.steps_per_execution"), SCAN_WITH_DEVICES)
    sizes = {"validation": data.validation_size}
    test = _known_test_count(data)
    if test is not None:
        sizes["test"] = test
    test_key = "data.limit" if data.limit else "data.synthetic_test"
    if data.source != "synthetic" and not data.limit:
        test_key = "train.devices"  # CIFAR-10's 10,000: only the device count can change
    problem = split_problem(train.devices, train.batch_size, sizes, test_key=test_key)
    if problem is not None:
        key, message = problem
        raise merged.error(_later(merged, key), message)


def _later(merged: _Merged, key: str) -> str:
    """Of ``key`` and train.devices, the one the later layer set (train.devices when ``key``
    was left at its default): the error points at what the user wrote last."""
    if key not in merged:
        return "train.devices"
    layers = merged.layers
    devices = layers.index(merged.layer_of("train.devices")) if "train.devices" in merged else -1
    return "train.devices" if devices > layers.index(merged.layer_of(key)) else key


def _known_test_count(data: DataConfig) -> int | None:
    """The test set's size where the profile alone says it (core.data.split's limit rule)."""
    from core import data as data_mod

    if data.source == "synthetic":
        total = data.synthetic_test
    elif data.source == "cifar10" and not os.environ.get(data_mod.LOCAL_CIFAR10):
        total = 10000
    else:
        return None
    return min(total, max(1, math.ceil(data.limit / 5))) if data.limit else total


def _check_augment_order(
    augment: AugmentConfig, pipeline: PipelineConfig, model: ModelConfig, merged: _Merged
) -> None:
    if (
        augment.order == "augment_first"
        and pipeline.preprocess == "host"
        and model.input_size != 32
    ):
        raise merged.error(
            "augment.order",
            'order = "augment_first" needs pipeline.preprocess = "device": the host pipeline '
            'hands over images already resized; use "resize_first"',
        )


# --- the data source ----------------------------------------------------------------------------


def _check_data(data: DataConfig, batch_size: int, merged: _Merged, check_data: bool) -> DataConfig:
    """Resolve data.path; with ``check_data``, also check the data is there and big enough."""
    data = _resolve_data_path(data, merged, check_data)
    if not check_data:
        return data
    _check_local_cifar10(data, merged)
    _check_split(data, batch_size, merged)
    return data


def _resolve_data_path(data: DataConfig, merged: _Merged, check_data: bool) -> DataConfig:
    """A folder source's path, made absolute against the file that set it (cwd for --set)."""
    from core import data as data_mod  # small module, no TensorFlow

    if data.source != "folder":
        if data.path and "data.path" in merged:
            raise merged.error(
                "data.path",
                f'data.path is used only with source = "folder" (source is "{data.source}")',
            )
        return data
    if not data.path:
        raise merged.error(
            "data.source",
            'source = "folder" needs data.path: a folder with '
            "train/<class>/ and test/<class>/, or a .tar.gz of one",
        )
    resolved = Path(os.path.expanduser(data.path))
    if not resolved.is_absolute():
        # Absolute against where it was given, but as written: "..", not symlinks, resolved,
        # so the run's profile.toml, compare and sweep commands name the path the user knows
        # (a link such as ../shared stays a link; the kernel follows it when the data is read).
        resolved = Path(os.path.normpath(merged.layer_of("data.path").base_dir / resolved))
    if check_data:
        problem = data_mod.check_folder(resolved)
        if problem:
            raise merged.error("data.path", problem)
    return replace(data, path=str(resolved))


def _check_local_cifar10(data: DataConfig, merged: _Merged) -> None:
    """The cifar10 source reads a local copy when the environment names one: it must be usable."""
    from core import data as data_mod

    if data.source != "cifar10" or not os.environ.get(data_mod.LOCAL_CIFAR10):
        return
    local = Path(os.path.expanduser(os.environ[data_mod.LOCAL_CIFAR10])).resolve()
    problem = data_mod.check_folder(local)
    if problem:
        raise merged.error(
            "data.source",
            f'source = "cifar10" reads ${data_mod.LOCAL_CIFAR10}, which cannot be used: {problem}',
        )


def _check_split(data: DataConfig, batch_size: int, merged: _Merged) -> None:
    """The validation split leaves training images, and at least one full batch of them."""
    from core import data as data_mod

    total = data_mod.train_count(data)
    if total is None:
        return
    available = min(total, data.limit) if data.limit else total
    if data.validation_size >= available:
        key = (
            "data.limit"
            if "data.limit" in merged and "data.validation_size" not in merged
            else "data.validation_size"
        )
        default = "" if "data.validation_size" in merged else " (the default)"
        raise merged.error(
            key,
            f"validation_size {data.validation_size}{default} leaves no training images: "
            f"the source has {available} training images"
            + (f" after limit = {data.limit}" if data.limit else "")
            + "; it must be smaller than that",
        )
    train = available - data.validation_size
    if batch_size > train:
        raise merged.error(
            "train.batch_size",
            f"batch_size {batch_size} is larger than the {train} training "
            "images left after the validation split (every batch is a full one)",
        )


def keras_backend() -> str:
    """The Keras backend that will be used, read the way Keras reads it, without importing it."""
    env = os.environ.get("KERAS_BACKEND")
    if env:
        return env
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        import json

        return json.loads(config.read_text()).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def dump_profile(profile: Profile) -> str:
    """The resolved profile as TOML: what a run directory keeps to repeat the run."""
    import tomli_w

    return tomli_w.dumps(profile.to_dict())


def profile_from_dict(raw: dict[str, Any], source: str = "profile") -> Profile:
    """Re-validate a resolved profile read back from a run directory."""
    return resolve([Layer(source, raw)], check_data=False)
