"""The host pipeline on backends without tf.data (core/training/host_pipeline.py): its math
against TensorFlow's host map and the device path's front layers, its batches, and what the
profiler makes of a slow one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from helpers import REPO, SMOKE

from core.data import Dataset
from core.profiles import load_profile
from core.training.pipeline import HandoverClock

#: Largest difference allowed between the host's float32 output and the device path's or
#: TensorFlow's (standardized values are of order 1; float32 sums differ in the last bits).
TOLERANCE = 1e-4


def host_profile(*overrides: str):
    """smoke.toml with ``preprocess = "host"``, set after loading: the profile check still
    refuses "host" outside TensorFlow until the engine uses this pipeline there."""
    profile = load_profile(SMOKE, overrides=list(overrides))
    return replace(profile, pipeline=replace(profile.pipeline, preprocess="host"))


def images(n: int, seed: int = 0) -> np.ndarray:
    batch = np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    batch[0] = 7  # a flat image: standardization's floor on the standard deviation
    return batch


def dataset(n_train: int = 40, n_val: int = 13) -> Dataset:
    x = images(n_train + n_val + 7, seed=3)
    y = np.arange(len(x)) % 10
    return Dataset(
        x[:n_train],
        y[:n_train],
        x[n_train : n_train + n_val],
        y[n_train : n_train + n_val],
        x[-7:],
        y[-7:],
        tuple("abcdefghij"),
        "test images",
    )


def epoch(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    """One epoch of ``ds`` as Keras reads it, then its end (shuffle, next epoch)."""
    out = [ds[i] for i in range(len(ds))]
    ds.on_epoch_end()
    return out


def run_jax(script: str, *args: str, timeout: float = 600) -> dict:
    """``script`` under KERAS_BACKEND=jax; its last stdout line is a JSON result."""
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the math ---------------------------------------------------------------------------------


def test_same_as_tensorflows_host_map():
    """per_image_standardization then resize to 224, as tf_datasets maps them."""
    tf = pytest.importorskip("tensorflow")
    from core.training import host_pipeline as hp

    profile = host_profile("model.input_size=224")
    batch = images(6)
    host = hp.preprocess(batch, profile)
    expected = tf.image.resize(tf.image.per_image_standardization(batch), (224, 224)).numpy()
    assert host.dtype == np.float32 and host.shape == (6, 224, 224, 3)
    assert np.abs(host - expected).max() < TOLERANCE


# The device path's front (Standardize and Resizing layers of build_model) and Keras's
# affine_transform (what RandomRotation calls) on JAX, beside the host's numpy.
JAX_FRONT = r"""
import json, sys
import keras, numpy as np
from core.models import build_model
from core.profiles import load_profile
from core.training import host_pipeline as hp

profile = load_profile(sys.argv[1], overrides=["augment.flip=none", "augment.rotation=0"])
model = build_model(profile)
front = keras.Model(model.input, model.get_layer("resize").output)
batch = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
batch[0] = 7
device = keras.ops.convert_to_numpy(front(batch))
host = hp.preprocess(batch, profile)
pictures = np.random.default_rng(1).random((5, 40, 30, 3)).astype(np.float32)
transforms = hp.rotation_transforms(np.array([0.0, 0.4, -1.3, 2.9, -0.05]), 40, 30)
rotated = keras.ops.image.affine_transform(
    pictures, transforms, interpolation="bilinear", fill_mode="reflect")
print(json.dumps({
    "shapes": [list(device.shape), list(host.shape)], "dtype": str(host.dtype),
    "front": float(np.abs(device - host).max()),
    "rotation": float(np.abs(keras.ops.convert_to_numpy(rotated)
                             - hp.affine_transform(pictures, transforms)).max()),
}))
"""


@pytest.mark.slow
def test_same_as_the_device_front_on_jax():
    """alexnet's front (224x224), augmentation off, and the rotation's geometry on JAX."""
    result = run_jax(JAX_FRONT, str(REPO / "profiles" / "alexnet.toml"))
    assert result["shapes"] == [[8, 224, 224, 3], [8, 224, 224, 3]]
    assert result["dtype"] == "float32"
    assert result["front"] < TOLERANCE, result
    assert result["rotation"] < TOLERANCE, result


def test_flips_mirror_whole_images_about_half_the_time():
    from core.training.host_pipeline import flip

    batch = images(64, seed=5).astype(np.float32)
    out = flip(batch, "horizontal_and_vertical", np.random.default_rng(0))
    variants = {
        "none": batch,
        "lr": batch[:, :, ::-1],
        "ud": batch[:, ::-1],
        "both": batch[:, ::-1, ::-1],
    }
    seen = {
        next(k for k, v in variants.items() if np.array_equal(out[i], v[i]))
        for i in range(1, 64)  # image 0 is flat: every variant is equal
    }
    assert seen == set(variants)


def test_rotation_by_a_quarter_turn_is_rot90():
    """A square image turned 90 degrees about its centre: every pixel lands on a pixel."""
    from core.training.host_pipeline import affine_transform, rotation_transforms

    batch = images(2, seed=6)[1:].astype(np.float32)
    turned = affine_transform(batch, rotation_transforms(np.array([np.pi / 2]), 32, 32))
    assert np.abs(turned[0] - np.rot90(batch[0])).max() < TOLERANCE


# --- the batches ------------------------------------------------------------------------------


def test_batches_depend_on_seed_and_epoch_not_on_threads():
    from core.training.host_pipeline import host_datasets

    def make(workers: int, first_epoch: int = 0):
        profile = host_profile(
            "train.batch_size=8",
            "augment.flip=horizontal_and_vertical",
            "augment.rotation=0.2",
            f"pipeline.num_parallel_calls={workers}",
        )
        return host_datasets(
            profile, dataset(), HandoverClock(), augment_here=True, first_epoch=first_epoch
        )[0]

    one, three = make(1), make(3)
    first, second = epoch(one), epoch(one)
    assert len(first) == 5 and first[0][0].shape == (8, 32, 32, 3)
    for a, b in zip(first + second, epoch(three) + epoch(three), strict=True):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(first[0][1], second[0][1])  # reshuffled
    resumed = epoch(make(2, first_epoch=1))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(second, resumed, strict=True))


def test_blocks_of_batches_for_a_scanned_step():
    """per_call > 1: one item per block of batches (the last one shorter), the same images."""
    from core.training.host_pipeline import host_datasets

    profile = host_profile("train.batch_size=8", "model.input_size=48")
    single = epoch(host_datasets(profile, dataset(), HandoverClock())[0])
    blocks = epoch(host_datasets(profile, dataset(), HandoverClock(), per_call=2)[0])
    assert [len(x) for x, _ in blocks] == [16, 16, 8]
    for part in (0, 1):
        joined = [np.concatenate([item[part] for item in items]) for items in (single, blocks)]
        assert np.array_equal(*joined)


def test_cache_hands_over_what_it_would_have_made():
    from core.training.host_pipeline import host_datasets

    plain = host_profile("train.batch_size=8", "model.input_size=40")
    cached = replace(plain, pipeline=replace(plain.pipeline, cache=True))
    for ds in zip(
        host_datasets(plain, dataset(), HandoverClock(), augment_here=True),
        host_datasets(cached, dataset(), HandoverClock(), augment_here=True),
        strict=True,
    ):
        for _ in range(2):
            for (a, _), (b, _) in zip(epoch(ds[0]), epoch(ds[1]), strict=True):
                assert np.abs(a - b).max() < TOLERANCE


def test_py_datasets_routes_host_here_and_times_training_hand_overs_only():
    from core.training.host_pipeline import HostBatches
    from core.training.pipeline import py_datasets

    clock = HandoverClock()
    train, val, test = py_datasets(host_profile("train.batch_size=8"), dataset(), clock)
    assert all(isinstance(ds, HostBatches) for ds in (train, val, test))
    assert [len(train), len(val), len(test)] == [5, 2, 1]  # validation keeps its last 5
    x, y = val[1]
    assert x.shape == (5, 32, 32, 3) and x.dtype == np.float32 and len(y) == 5
    assert clock.pop_all() == []
    train[0]
    ((handed_at, wait),) = clock.pop_all()
    assert wait >= 0 and handed_at > 0
    resumed = py_datasets(host_profile("train.batch_size=8"), dataset(), clock, first_epoch=2)
    assert resumed[0].epoch == 2


# A tiny model fitted on the host pipeline, a stage in its workers sleeping on every batch;
# the profiler fed, batch by batch, by the pipeline's clock as the engine's callback feeds it.
SLOW_WORKER = r"""
import json, sys, time
from dataclasses import replace
import keras, numpy as np
from core.data import Dataset
from core.profiles import load_profile
from core.training.host_pipeline import host_datasets
from core.training.pipeline import HandoverClock
from core.training.profiler import InputProfiler

profile = load_profile(sys.argv[1], overrides=[
    "train.batch_size=8", "pipeline.num_parallel_calls=1", "pipeline.prefetch=0"])
profile = replace(profile, pipeline=replace(profile.pipeline, preprocess="host"))
x = np.random.default_rng(0).integers(0, 256, (96, 32, 32, 3), dtype=np.uint8)
y = np.arange(96) % 10
data = Dataset(x[:80], y[:80], x[80:88], y[80:88], x[88:], y[88:], tuple("abcdefghij"), "")

def slow(images, labels):
    time.sleep(float(sys.argv[2]))
    return images, labels

clock = HandoverClock()
train, val, _ = host_datasets(profile, data, clock, stage=slow)
profiler = InputProfiler(3, 8)

class Feed(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        wait = sum(w for _, w in clock.pop_all())
        if batch:
            profiler.record(batch + 1, wait, now - self.last)
        self.last = now

inputs = keras.Input((32, 32, 3))
pooled = keras.layers.GlobalAveragePooling2D()(inputs)
outputs = keras.layers.Dense(10, activation="softmax")(pooled)
model = keras.Model(inputs, outputs)
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train, validation_data=val, epochs=1, callbacks=[Feed()], verbose=0, shuffle=False)
summary = profiler.summary(profile)
print(json.dumps({"percent": summary.input_bound_percent, "verdict": summary.verdict,
                  "batches": summary.batches_measured, "complete": summary.complete}))
"""


@pytest.mark.slow
def test_a_slow_worker_makes_the_run_highly_input_bound():
    """One worker sleeping 0.3 s per batch against a step of milliseconds: the loop waits for
    nearly every batch (the verdict needs only 20%)."""
    result = run_jax(SLOW_WORKER, str(SMOKE), "0.3")
    assert result["batches"] == 6 and result["complete"], result
    assert result["verdict"] == "highly", result
    assert result["percent"] > 50, result
