"""The bare Keras script that cifar-tui is measured against, and helpers to run either side.

The bare side builds the same network (core.models, so the comparison is of the machinery, not
the model), compiles it the same way, and calls ``model.fit`` on the same tf.data chain (or
arrays, on other backends) with ReduceLROnPlateau and nothing else. Each side runs in a fresh
process so neither inherits the other's compiled functions or memory.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys, time
import keras
from core.data import load_dataset
from core.models import build_model
from core.profiles import load_profile

profile = load_profile(sys.argv[1], overrides=json.loads(sys.argv[2]))
data = load_dataset(profile.data)
keras.utils.set_random_seed(profile.train.seed)
model = build_model(profile, data.num_classes)
t = profile.train
opt = (keras.optimizers.SGD(t.learning_rate, momentum=t.momentum) if t.optimizer == "sgd"
       else keras.optimizers.Adam(t.learning_rate))
model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              jit_compile={"auto": "auto", "on": True, "off": False}[t.jit_compile],
              steps_per_execution=t.steps_per_execution)
b = t.batch_size
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    train = (tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
             .shuffle(profile.pipeline.shuffle_buffer, seed=t.seed)
             .batch(b, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    val = (tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val))
           .batch(b).prefetch(tf.data.AUTOTUNE))
    test = (tf.data.Dataset.from_tensor_slices((data.x_test, data.y_test))
            .batch(b).prefetch(tf.data.AUTOTUNE))
    fit_kw = {}
else:
    n = len(data.x_train) // b * b
    train = (data.x_train[:n], data.y_train[:n])
    val = (data.x_val, data.y_val)
    test = (data.x_test, data.y_test)
    fit_kw = {"batch_size": b}


class Times(keras.callbacks.Callback):
    seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t)


rl = t.reduce_lr
x, y = (train, None) if not isinstance(train, tuple) else train
model.fit(x, y, validation_data=val, epochs=t.epochs, verbose=0, callbacks=[
    Times(), keras.callbacks.ReduceLROnPlateau(monitor=rl.monitor, factor=rl.factor,
                                               patience=rl.patience, min_lr=rl.min_lr)],
    **fit_kw)
tx, ty = (test, None) if not isinstance(test, tuple) else test
result = model.evaluate(tx, ty, verbose=0, return_dict=True, **fit_kw)
print(json.dumps({"seconds": Times.seconds, "test_accuracy": float(result["accuracy"]),
                  "train_images": int(len(data.x_train))}))
"""


def steady(seconds: list[float]) -> float:
    """Median epoch after the first (which includes tracing and compilation)."""
    return statistics.median(seconds[1:] or seconds)


def run_bare(profile: str, overrides: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, profile, json.dumps(overrides)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )
    if out.returncode != 0:
        raise RuntimeError(f"bare run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_headless(profile: str, overrides: list[str]) -> dict:
    """``cifar-tui --run`` as a user runs it; the figures come from its report.json."""
    with tempfile.TemporaryDirectory() as runs:
        args = [
            sys.executable,
            "-m",
            "tui.cli.main",
            "--run",
            profile,
            "--runs-dir",
            runs,
            "--plain",
        ]
        for item in overrides:
            args += ["--set", item]
        out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            raise RuntimeError(f"cifar-tui --run failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        (run_dir,) = Path(runs).iterdir()
        report = json.loads((run_dir / "report.json").read_text())
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    started = next(e for e in events if e["type"] == "run_started")
    return {
        "seconds": [e["seconds"] for e in report["epochs"]],
        "test_accuracy": (report.get("test") or {}).get("accuracy"),
        "input_bound_percent": (report.get("input_pipeline") or {}).get("input_bound_percent"),
        "train_images": started["train_images"],
        "device": ", ".join(started["devices"]),
        # The system sampler's figures (core/system_metrics.py): per epoch, and over time.
        "system": {
            "unavailable": (report.get("system") or {}).get("unavailable", []),
            "epochs": [e.get("system") for e in report["epochs"]],
            "series": (report.get("system") or {}).get("series", []),
        },
    }
