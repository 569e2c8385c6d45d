"""One run on several local accelerators: data-parallel, through each backend's own engine.

``train.devices`` (1, a count, or "all") picks how many of the devices the backend sees a run
trains on. With more than one, every device holds a copy of the model and takes an equal share
of each batch: ``keras.distribution.DataParallel`` on JAX, ``tf.distribute.MirroredStrategy`` on
TensorFlow. ``train.batch_size`` stays the global batch, so a profile means the same math on one
device or eight; the preprocessing layers are part of the model, so they stay on the devices.

Keras cannot split a batch unevenly over the devices: a training batch, and the last, partial
batch of the validation or test set, must split evenly. This module neither pads nor drops
images (either would change the figures against one device): the batch size and the validation
and test sets must divide by the device count, and an error says which settings would. A
profile that names a count is checked when it is read (core/profiles.py); "all", and the test
set's size, are checked when the run starts, before anything is written.

The engine (core/training/engine.py) runs its stages inside :meth:`Placement.scope` and records
:meth:`Placement.describe` in report.json's environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.errors import ProfileError

ALL = "all"
NO_STRATEGY = "none"
#: Device counts an error proposes, at most: machines have up to this many accelerators.
MAX_PROPOSED = 16
#: On JAX, a scanned block of batches would be split over the devices as one array.
SCAN_WITH_DEVICES = (
    "steps_per_execution > 1 scans a block of batches on one device, which JAX would split "
    "over the devices as one array: with train.devices other than 1, use steps_per_execution = 1"
)


@dataclass(frozen=True)
class Placement:
    """Where one run trains: its strategy, its devices, and the scope its stages run in."""

    strategy: str
    devices: tuple[str, ...]
    _scope: Callable[[], Any] = field(default=contextlib.nullcontext, repr=False)

    @property
    def count(self) -> int:
        return len(self.devices)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build, compile, fit and evaluate inside this (the strategy's own scope)."""
        with self._scope():
            yield

    def describe(self) -> dict[str, Any]:
        """What report.json's environment keeps of it."""
        return {"strategy": self.strategy, "devices": list(self.devices), "count": self.count}


def requested_count(devices: int | str, available: int) -> int:
    """The device count ``train.devices`` asks for on a machine with ``available`` devices."""
    return available if devices == ALL else int(devices)


def _fitting_counts(batch_size: int, sizes: dict[str, int], limit: int) -> list[int]:
    """Device counts up to ``limit`` that split the batch and every set evenly."""
    return [
        d
        for d in range(1, limit + 1)
        if batch_size % d == 0 and all(n % d == 0 for n in sizes.values())
    ]


def _or_list(values: list[int]) -> str:
    text = [str(v) for v in values]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " or " + text[-1]


def _neighbours(value: int, step: int) -> list[int]:
    """The multiples of ``step`` either side of ``value`` (those above 0)."""
    low = value - value % step
    return [v for v in (low, low + step) if v > 0]


def split_problem(
    devices: int,
    batch_size: int,
    sizes: dict[str, int],
    limit: int = MAX_PROPOSED,
    test_key: str = "train.devices",
) -> tuple[str, str] | None:
    """(key, message) when ``devices`` cannot split the batch or a set's last batch evenly;
    ``sizes`` maps "validation" / "test" to image counts (those known); ``test_key``: the key
    that sets the test set's size, when the profile has one. None when all fit."""
    if devices <= 1:
        return None
    fits = [d for d in _fitting_counts(batch_size, sizes, max(limit, devices)) if d > 1]
    other = f"; or train.devices = {_or_list(fits)}" if fits else ""
    if batch_size % devices:
        sizes_text = _or_list(_neighbours(batch_size, devices))
        return "train.batch_size", (
            f"batch_size {batch_size} does not split evenly over {devices} devices (it is the "
            f"global batch, shared by the devices): use a multiple of {devices} "
            f"({sizes_text}){other}"
        )
    for name, n in sizes.items():
        if n % devices == 0:
            continue
        last = n % batch_size
        key = "data.validation_size" if name == "validation" else test_key
        fix = f"use a {name} set of a multiple of {devices} images"
        if key == "data.limit":  # the test set is a fifth of the limit, rounded up
            fix = f"use limit {_or_list(_neighbours(n * 5, devices * 5))}"
        elif key != "train.devices":
            fix = f"use {key.split('.')[-1]} {_or_list(_neighbours(n, devices))}"
        return key, (
            f"the {name} set's {n} images do not split evenly over {devices} devices: its last "
            f"batch of {last} images cannot be shared by them (Keras cannot split a batch "
            f"unevenly, and padding or dropping images would change the figures): {fix}{other}"
        )
    return None


def check_split(profile: Any, devices: int, sizes: dict[str, int], source: str) -> None:
    """Raise the ProfileError ``split_problem`` finds, naming ``source``."""
    problem = split_problem(devices, profile.train.batch_size, sizes)
    if problem is not None:
        raise ProfileError(source, problem[1], key=problem[0])


# --- the backends --------------------------------------------------------------------------------


def available_devices(keras: Any) -> list[str]:
    """The devices a run can train on, by name: the backend's accelerators, else its CPUs
    (several only where the process made virtual ones, as the tests do)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return ["cpu:0"]


def place(keras: Any, profile: Any, sizes: dict[str, int], source: str = "profile") -> Placement:
    """The run's placement, or a ProfileError (before anything is written) when the machine
    has fewer devices than asked, or the batches do not split over them."""
    available = available_devices(keras)
    count = requested_count(profile.train.devices, len(available))
    if count > len(available):
        raise ProfileError(
            source,
            f"devices = {count}, but this machine shows {len(available)} "
            f'({", ".join(available)}): use at most {len(available)}, or "all"',
            key="train.devices",
        )
    if count == 1:
        return Placement(NO_STRATEGY, (available[0],))
    check_split(profile, count, sizes, source)
    chosen = available[:count]
    if keras.backend.backend() == "jax":
        if profile.train.steps_per_execution > 1:
            raise ProfileError(source, SCAN_WITH_DEVICES, key="train.steps_per_execution")
        distribution = keras.distribution.DataParallel(devices=chosen)
        return Placement("DataParallel", tuple(chosen), distribution.scope)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices=chosen)
        return Placement("MirroredStrategy", tuple(chosen), strategy.scope)
    raise ProfileError(
        source,
        f"devices = {count} needs the JAX or TensorFlow backend "
        f"(this is {keras.backend.backend()})",
        key="train.devices",
    )


def place_run(
    keras: Any, profile: Any, data: Any, env: dict[str, Any], resume_dir: Any = None
) -> Placement:
    """The engine's placement for a run on ``data``, kept in its environment ``env`` (and so in
    report.json); an error names the saved profile of a resumed run."""
    source = f"profile {profile.name}"
    if resume_dir is not None:
        source = str(resume_dir / "profile.toml")
    sizes = {"validation": len(data.x_val), "test": len(data.x_test)}
    placement = place(keras, profile, sizes, source)
    env["distribution"] = placement.describe()
    return placement


class _SynchronizedLayers:
    """``keras.layers`` whose BatchNormalization computes its statistics over the global
    batch (all replicas), as one device does, instead of each replica's share."""

    def __init__(self, layers: Any):
        self._layers = layers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layers, name)

    def BatchNormalization(self, *args: Any, **kwargs: Any) -> Any:  # Keras's name
        return self._layers.BatchNormalization(*args, synchronized=True, **kwargs)


def replica_layers(layers: Any) -> Any:
    """The layers a model is built from: under a TensorFlow strategy of several replicas, with
    synchronized BatchNormalization (MirroredStrategy would otherwise normalize each device's
    share of the batch alone). JAX's DataParallel computes over the global batch by itself."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return layers
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.get_strategy().num_replicas_in_sync < 2:
        return layers
    return _SynchronizedLayers(layers)
