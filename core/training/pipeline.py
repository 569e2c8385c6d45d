"""Input pipelines: what ``fit`` reads, and where each batch's hand-over time is stamped.

TensorFlow backend: tf.data, as the notebook built it. ``preprocess = "host"`` maps per-image
standardization and the resize on the CPU (the notebook's chain); ``"device"`` sends uint8 32x32
batches and lets the model's front layers do that work. A last, sequential map stamps the moment
each batch is handed to the training step, which is how the profiler measures waiting.
Other backends (JAX on the GPU machine): a ``keras.utils.PyDataset`` over the in-memory arrays,
timed around each ``__getitem__`` that the training loop calls; ``preprocess = "host"`` there is
the same map in numpy worker threads (core/training/host_pipeline.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

from core.config import Profile


class HandoverClock:
    """Times at which batches were handed to the training loop, filled from the pipeline side."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamps: deque[tuple[float, float]] = deque(maxlen=4096)  # (handed_at, wait)

    def stamp(self, handed_at: float, wait: float = -1.0) -> None:
        with self._lock:
            self._stamps.append((handed_at, wait))

    def pop_all(self) -> list[tuple[float, float]]:
        """The stamps since the last call, oldest first (one per batch handed over)."""
        with self._lock:
            stamps = list(self._stamps)
            self._stamps.clear()
            return stamps


class EpochCounter:
    """The epoch (from 0) the TensorFlow training pipeline shuffles for. Set at each epoch's
    start (core.training.callbacks.EpochStart) and read by tf.data when that epoch's iterator
    starts, so each epoch's order is a function of the seed and the epoch alone: a resumed run
    shuffles epoch k+1 as the uninterrupted run did, not as its own first epoch."""

    def __init__(self, first_epoch: int = 0):
        self.first_epoch = first_epoch
        self._variable: Any = None

    def variable(self, tf: Any) -> Any:
        if self._variable is None:
            self._variable = tf.Variable(self.first_epoch, dtype=tf.int64, trainable=False)
        return self._variable

    def set(self, epoch: int) -> None:
        if self._variable is not None:
            self._variable.assign(epoch)


#: Seeds of successive epochs' shuffles: seed * EPOCH_SEED_STRIDE + epoch.
EPOCH_SEED_STRIDE = 1_000_003


def _shuffled_per_epoch(ds: Any, buffer: int, seed: int, epoch: EpochCounter, tf: Any) -> Any:
    """``ds.shuffle(buffer)`` with the seed of the epoch ``epoch`` holds when an iteration
    starts (tf.data calls ``one_epoch`` then), instead of a sequence that restarts with the
    process. The cardinality is unchanged, so Keras still knows the epoch's length."""
    count = ds.cardinality()
    variable = epoch.variable(tf)

    def one_epoch(_):
        # tf.data compares (global seed, op seed) with (0, 0) in Python, which a tensor op seed
        # cannot answer under a global seed of 0: this function's graph has none of its own.
        tf.compat.v1.get_default_graph().seed = None
        return ds.shuffle(
            buffer, seed=variable + seed * EPOCH_SEED_STRIDE, reshuffle_each_iteration=False
        )

    shuffled = tf.data.Dataset.from_tensors(0).flat_map(one_epoch)
    return shuffled.apply(tf.data.experimental.assert_cardinality(count))


def _autotune(value: Any, tf: Any) -> Any:
    return tf.data.AUTOTUNE if value == "autotune" else value


def tf_datasets(
    profile: Profile,
    data: Any,
    clock: HandoverClock,
    transform_train: Any = None,
    epoch: EpochCounter | None = None,
):
    """(train, validation, test) tf.data pipelines for the TensorFlow backend. ``epoch``: what
    the training shuffle draws each epoch's order from (set by the EpochStart callback)."""
    epoch = epoch or EpochCounter()
    import tensorflow as tf

    p = profile.pipeline
    size = profile.model.input_size
    batch = profile.train.batch_size
    seed = profile.train.seed

    def host_map(image, label):
        image = tf.image.per_image_standardization(image)
        if size != 32:
            image = tf.image.resize(image, (size, size))
        return image, label

    def stamp():
        clock.stamp(time.perf_counter())
        return np.float64(0.0)

    def handover(images, labels):
        t = tf.py_function(stamp, [], Tout=tf.float64)
        with tf.control_dependencies([t]):
            return tf.identity(images), tf.identity(labels)

    def build(x, y, training: bool):
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if p.preprocess == "host":
            ds = ds.map(host_map, num_parallel_calls=_autotune(p.num_parallel_calls, tf))
            if p.cache:
                ds = ds.cache()
        if training and p.shuffle_buffer:
            ds = _shuffled_per_epoch(ds, p.shuffle_buffer, seed, epoch, tf)
        ds = ds.batch(batch, drop_remainder=training)
        if training and transform_train is not None:
            ds = transform_train(ds)
        ds = ds.prefetch(_autotune(p.prefetch, tf))
        options = tf.data.Options()
        # Keep the hand-over stamp on the consumer's side of every buffer.
        options.experimental_optimization.inject_prefetch = False
        options.experimental_optimization.map_parallelization = False
        ds = ds.with_options(options)
        if training:
            ds = ds.map(handover)
        return ds

    return (
        build(data.x_train, data.y_train, True),
        build(data.x_val, data.y_val, False),
        build(data.x_test, data.y_test, False),
    )


def py_datasets(
    profile: Profile, data: Any, clock: HandoverClock, per_call: int = 1, *, first_epoch: int = 0
):
    """(train, validation, test) for backends without tf.data: arrays in memory, uint8, or with
    ``preprocess = "host"`` float32 at the input size from core/training/host_pipeline.py.

    ``per_call`` > 1: each training item is a block of that many batches (the last block
    shorter when it does not divide the epoch), for a train step that scans over them.
    ``first_epoch``: a resumed run's first epoch (each epoch's shuffle is drawn from the seed
    and the epoch)."""
    if profile.pipeline.preprocess == "host":
        from core.training.host_pipeline import host_datasets

        return host_datasets(profile, data, clock, per_call, first_epoch=first_epoch)
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self, x, y, training: bool):
            super().__init__(workers=1, use_multiprocessing=False)
            self.x, self.y, self.training = x, y, training
            self.batch = profile.train.batch_size
            self.per_call = per_call if training else 1
            self.steps = len(x) // self.batch if training else -(-len(x) // self.batch)
            self.epoch = first_epoch  # from 0; a resumed run's first
            self.order = np.arange(len(x))
            self._shuffle()

        def __len__(self) -> int:
            return -(-self.steps // self.per_call)

        def __getitem__(self, index):
            start = time.perf_counter()
            first = index * self.per_call
            last = min(first + self.per_call, self.steps)
            idx = self.order[first * self.batch : last * self.batch]
            out = self.x[idx], self.y[idx]
            if self.training:
                end = time.perf_counter()
                clock.stamp(end, end - start)
            return out

        def _shuffle(self) -> None:
            """The epoch's order from (seed, epoch) alone, as the host pipeline draws it: a
            resumed run goes on with the order the uninterrupted run would have had."""
            if self.training and profile.pipeline.shuffle_buffer:
                rng = np.random.default_rng([profile.train.seed, self.epoch])
                self.order = rng.permutation(len(self.x))

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._shuffle()

    return (
        Batches(data.x_train, data.y_train, True),
        Batches(data.x_val, data.y_val, False),
        Batches(data.x_test, data.y_test, False),
    )
