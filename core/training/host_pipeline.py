"""The notebook's CPU-side map on backends without tf.data: numpy in worker threads.

With ``pipeline.preprocess = "host"`` on JAX (or PyTorch), per-image standardization and the
resize run on the CPU as the TensorFlow host map runs them, and ``fit`` gets float32 batches
already at the model's input size. The math is tf.image's: ``per_image_standardization`` (mean,
then the standard deviation floored at 1/sqrt(pixels)) and ``resize`` bilinear with half-pixel
centers and no antialiasing, which is also what the device path's ``Resizing`` layer computes.
The flip and rotation of the profile's ``[augment]`` can run here too (``augment=True``), as
Keras's RandomFlip and RandomRotation compute them (reflect fill, bilinear), in the profile's
order; by default they stay in the model, as on TensorFlow, where ``build_model`` puts them.

Parallelism: ``pipeline.num_parallel_calls`` worker threads each make whole batches (numpy
releases the GIL in the matrix products and gathers that do the work), ``pipeline.prefetch``
batches ahead of the training loop. Keras's own ``PyDataset(workers=N)`` would call
``__getitem__`` on its pool, ahead of the loop, so the time spent making a batch would pass for
time the loop waited; here Keras calls ``__getitem__`` in the loop's thread (one worker), and
it times only the wait for that batch's result, which is the hand-over time the profiler needs
(``HandoverClock`` stamps, as for the in-memory pipeline). Each batch's shuffle and augmentation
come from (seed, epoch, batch), so a run is the same whichever thread makes which batch.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import keras
import numpy as np

from core.config import AugmentConfig, Profile

#: A stage applied to each training batch in the worker, after preprocessing: (images, labels)
#: in, (images, labels) out. Tests and benchmarks put a deliberately slow stage here.
BatchStage = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# --- the math ------------------------------------------------------------------------------------


def standardize(images: np.ndarray) -> np.ndarray:
    """``tf.image.per_image_standardization`` on a batch (n, h, w, c): float32 out."""
    x = images.astype(np.float32)
    axes = (1, 2, 3)
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    pixels = x.shape[1] * x.shape[2] * x.shape[3]
    x -= mean
    x /= np.maximum(std, np.float32(1.0 / math.sqrt(pixels)))
    return x


@lru_cache(maxsize=16)
def resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) weights of a 1-D bilinear resize with half-pixel centers: source
    coordinate (i + 0.5) * scale - 0.5, neighbours clamped to the edge, as tf.image.resize."""
    source = (np.arange(size_out, dtype=np.float64) + 0.5) * (size_in / size_out) - 0.5
    floor = np.floor(source)
    lerp = source - floor
    lower = np.clip(floor.astype(np.int64), 0, size_in - 1)
    upper = np.clip(np.ceil(source).astype(np.int64), 0, size_in - 1)
    weights = np.zeros((size_out, size_in), np.float64)
    rows = np.arange(size_out)
    np.add.at(weights, (rows, lower), 1.0 - lerp)
    np.add.at(weights, (rows, upper), lerp)
    out = weights.astype(np.float32)
    out.setflags(write=False)  # shared by every worker through the cache
    return out


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of float32 (n, h, w, c) to (n, size, size, c): two matrix products,
    rows then columns (bilinear interpolation is separable)."""
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images
    rows = np.matmul(resize_matrix(h, size), images.reshape(n, h, w * c))
    rows = rows.reshape(n * size, w, c)
    return np.matmul(resize_matrix(w, size), rows).reshape(n, size, size, c)


def rotation_transforms(angles: np.ndarray, height: int, width: int) -> np.ndarray:
    """Keras RandomRotation's (n, 8) affine transforms for ``angles`` (radians): output pixel
    (x, y) samples the input at (a0 x + a1 y + a2, b0 x + b1 y + b2), turning about the centre."""
    cos, sin = np.cos(angles), np.sin(angles)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    zeros = np.zeros_like(angles)
    a2 = cx - cx * cos + cy * sin
    b2 = cy - cx * sin - cy * cos
    return np.stack([cos, -sin, a2, sin, cos, b2, zeros, zeros], axis=1).astype(np.float32)


def _reflect(index: np.ndarray, size: int) -> np.ndarray:
    """Indices folded back inside [0, size) as (d c b a | a b c d | d c b a): the "reflect"
    fill mode of Keras's affine_transform (jax.scipy.ndimage.map_coordinates' index fixer)."""
    period = 2 * size
    folded = np.mod(index, period)
    return np.where(folded >= size, period - 1 - folded, folded)


def affine_transform(images: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """``keras.ops.image.affine_transform`` with bilinear interpolation and reflect fill, on
    float32 (n, h, w, c) and (n, 8) transforms. One image at a time: its working arrays stay in
    the CPU's cache, several times faster than the whole batch at once at 224x224."""
    n, h, w, c = images.shape
    ys, xs = np.meshgrid(
        np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij"
    )
    out = np.empty((n, h, w, c), np.float32)
    for i in range(n):
        a0, a1, a2, b0, b1, b2 = transforms[i, :6]
        out[i] = _sample(
            images[i].reshape(h * w, c), a0 * xs + a1 * ys + a2, b0 * xs + b1 * ys + b2
        )
    return out


def _sample(flat: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of one image (its (h * w, c) pixel rows) at coordinates ``x``, ``y``
    (each (h, w)), the neighbours outside the image reflected back inside."""
    h, w = x.shape
    x0, y0 = np.floor(x), np.floor(y)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    xa, xb = _reflect(x0, w), _reflect(x0 + 1, w)
    ra, rb = _reflect(y0, h) * w, _reflect(y0 + 1, h) * w
    top = np.take(flat, ra + xa, axis=0)
    top += (np.take(flat, ra + xb, axis=0) - top) * wx
    bottom = np.take(flat, rb + xa, axis=0)
    bottom += (np.take(flat, rb + xb, axis=0) - bottom) * wx
    top += (bottom - top) * wy
    return top


def flip(images: np.ndarray, mode: str, rng: np.random.Generator) -> np.ndarray:
    """Keras RandomFlip: each image flipped left-right (and/or up-down) with probability 1/2."""
    out = images
    n = len(images)
    if mode in ("horizontal", "horizontal_and_vertical"):
        chosen = rng.random(n) < 0.5
        out = np.where(chosen[:, None, None, None], out[:, :, ::-1], out)
    if mode in ("vertical", "horizontal_and_vertical"):
        chosen = rng.random(n) < 0.5
        out = np.where(chosen[:, None, None, None], out[:, ::-1], out)
    return out


def augment(images: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """The profile's flip, then its rotation (angles uniform within +-rotation of a full turn),
    in the order build_model's layers apply them."""
    if config.flip != "none":
        images = flip(images, config.flip, rng)
    if config.rotation > 0:
        turn = 2.0 * math.pi * config.rotation
        angles = rng.uniform(-turn, turn, len(images))
        h, w = images.shape[1:3]
        images = affine_transform(images, rotation_transforms(angles, h, w))
    return images


def preprocess(
    images: np.ndarray, profile: Profile, rng: np.random.Generator | None = None
) -> np.ndarray:
    """uint8 (n, 32, 32, 3) to what the host model takes: standardized, resized to the input
    size, and augmented in the profile's order when ``rng`` is given (training)."""
    size = profile.model.input_size
    x = standardize(images)
    first = profile.augment.order == "augment_first"
    if rng is not None and first:
        x = augment(x, profile.augment, rng)
    x = resize(x, size)
    if rng is not None and not first:
        x = augment(x, profile.augment, rng)
    return np.ascontiguousarray(x, dtype=np.float32)


# --- the loader --------------------------------------------------------------------------------


def worker_count(num_parallel_calls: int | str) -> int:
    """Threads for ``pipeline.num_parallel_calls``: "autotune" is one per CPU core."""
    if num_parallel_calls == "autotune":
        return max(1, os.cpu_count() or 1)
    return max(1, int(num_parallel_calls))


def batches_ahead(profile: Profile, workers: int, per_call: int) -> int:
    """Batches made ahead of the one the loop asks for: every worker busy, plus
    ``pipeline.prefetch`` finished ones ("autotune": as many as there are workers)."""
    prefetch = profile.pipeline.prefetch
    extra = workers if prefetch == "autotune" else int(prefetch)
    return max(workers + extra, 2 * per_call - 1)


class HostBatches(keras.utils.PyDataset):
    """One split's batches, made by ``executor``'s threads; see the module's docstring."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        profile: Profile,
        executor: ThreadPoolExecutor,
        *,
        training: bool,
        clock: Any = None,
        per_call: int = 1,
        ahead: int = 2,
        augment_here: bool = False,
        stage: BatchStage | None = None,
        first_epoch: int = 0,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.profile, self.training = x, y, profile, training
        self.executor, self.clock, self.ahead = executor, clock, ahead
        self.batch = profile.train.batch_size
        self.per_call = per_call if training else 1
        self.steps = len(x) // self.batch if training else -(-len(x) // self.batch)
        self.augment_here = augment_here and training
        self.stage = stage if training else None
        self.epoch = first_epoch
        self.pending: dict[int, Future] = {}  # batch number (this epoch) -> its batch
        self.cache = _Cache(len(x), profile.model.input_size) if profile.pipeline.cache else None
        self._reorder()

    def __len__(self) -> int:
        return -(-self.steps // self.per_call)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        start = time.perf_counter()
        first = index * self.per_call
        last = min(first + self.per_call, self.steps)
        self._submit(first, min(last + self.ahead, self.steps))
        parts = [self.pending.pop(b).result() for b in range(first, last)]
        if len(parts) == 1:
            out = parts[0]
        else:
            out = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        if self.clock is not None:
            end = time.perf_counter()
            self.clock.stamp(end, end - start)
        return out

    def _submit(self, first: int, stop: int) -> None:
        """Queue batches [first, stop) that are not queued yet, in order."""
        for b in range(first, stop):
            if b not in self.pending:
                idx = self.order[b * self.batch : (b + 1) * self.batch]
                self.pending[b] = self.executor.submit(self._make, self.epoch, b, idx)

    def _make(self, epoch: int, number: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One batch, in a worker thread."""
        rng = None
        if self.augment_here:
            rng = np.random.default_rng([self.profile.train.seed, epoch, number])
        if self.cache is not None:
            images = self.cache.get(idx, lambda i: preprocess(self.x[i], self.profile))
            if rng is not None:
                images = augment(images, self.profile.augment, rng)
        else:
            images = preprocess(self.x[idx], self.profile, rng)
        labels = self.y[idx]
        if self.stage is not None:
            images, labels = self.stage(images, labels)
        return images, labels

    def _reorder(self) -> None:
        n = len(self.x)
        if self.training and self.profile.pipeline.shuffle_buffer:
            self.order = np.random.default_rng([self.profile.train.seed, self.epoch]).permutation(n)
        else:
            self.order = np.arange(n)

    def on_epoch_end(self) -> None:
        """Drop what was made ahead (nothing, unless the epoch was cut short); next epoch."""
        for future in self.pending.values():
            future.cancel()
        self.pending.clear()
        if self.training:
            self.epoch += 1
            self._reorder()


class _Cache:
    """``pipeline.cache``: images kept standardized and resized after they are first made
    (float32 at the input size; memory is only taken as rows are written)."""

    def __init__(self, count: int, size: int):
        self.images: np.ndarray | None = None
        self.count, self.size = count, size
        self.done = np.zeros(count, dtype=bool)
        self._lock = threading.Lock()  # the first batches of all workers arrive together

    def get(self, idx: np.ndarray, make: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        missing = idx[~self.done[idx]]
        if len(missing):
            made = make(missing)
            with self._lock:
                if self.images is None:
                    self.images = np.empty((self.count, *made.shape[1:]), np.float32)
            self.images[missing] = made
            self.done[missing] = True  # batches of one epoch never share an image
        assert self.images is not None
        return self.images[idx]


def host_datasets(
    profile: Profile,
    data: Any,
    clock: Any,
    per_call: int = 1,
    *,
    augment_here: bool = False,
    stage: BatchStage | None = None,
    first_epoch: int = 0,
) -> tuple[HostBatches, HostBatches, HostBatches]:
    """(train, validation, test) for ``preprocess = "host"`` on backends without tf.data.

    ``augment_here``: flip and rotate in the workers too (only for a model built without its
    augmentation layers). ``stage``: see BatchStage. ``first_epoch``: the epoch a resumed run
    starts at, so that its shuffles and augmentation continue the run's sequence."""
    workers = worker_count(profile.pipeline.num_parallel_calls)
    ahead = batches_ahead(profile, workers, per_call)

    def split(x: np.ndarray, y: np.ndarray, training: bool) -> HostBatches:
        executor = ThreadPoolExecutor(workers, thread_name_prefix="host-pipeline")
        ds = HostBatches(
            x,
            y,
            profile,
            executor,
            training=training,
            clock=clock if training else None,
            per_call=per_call,
            ahead=ahead,
            augment_here=augment_here,
            stage=stage,
            first_epoch=first_epoch,
        )
        # The threads go when the dataset does; queued batches are dropped.
        weakref.finalize(ds, executor.shutdown, wait=False, cancel_futures=True)
        return ds

    return (
        split(data.x_train, data.y_train, True),
        split(data.x_val, data.y_val, False),
        split(data.x_test, data.y_test, False),
    )
