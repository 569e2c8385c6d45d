"""What cifar-tui's engine costs per epoch against a bare Keras ``fit`` of the same thing.

Both sides train the same profile's model, compiled the same way, on the same data through the
same tf.data chain (shuffle, batch with drop_remainder, prefetch), with ReduceLROnPlateau.
The headless side is the real command, ``cifar-tui --run`` (events, progress, profiler, run
directory, checkpoints, TensorBoard); the bare side is a script calling ``model.fit``.
Each side runs in its own fresh process, alternating, and the median steady epoch (the first
epoch compiles and is left out) is compared. The last line is ``ratio N.NN``: headless / bare.

    python benchmarks/overhead.py                      # vgg_small, synthetic data, 4 epochs
    python benchmarks/overhead.py --data ../shared/data/cifar10-mini --epochs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = r"""
import json, sys, time
import keras
from core.data import load_dataset
from core.models import build_model
from core.profiles import load_profile
import tensorflow as tf

profile = load_profile(sys.argv[1], overrides=json.loads(sys.argv[2]))
data = load_dataset(profile.data)
keras.utils.set_random_seed(profile.train.seed)
model = build_model(profile, data.num_classes)
model.compile(optimizer=keras.optimizers.Adam(profile.train.learning_rate),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
b = profile.train.batch_size
train = (tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
         .shuffle(profile.pipeline.shuffle_buffer, seed=profile.train.seed)
         .batch(b, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
val = (tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val))
       .batch(b).prefetch(tf.data.AUTOTUNE))

class Times(keras.callbacks.Callback):
    seconds = []
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t)

rl = profile.train.reduce_lr
model.fit(train, validation_data=val, epochs=profile.train.epochs, verbose=0, callbacks=[
    Times(), keras.callbacks.ReduceLROnPlateau(monitor=rl.monitor, factor=rl.factor,
                                               patience=rl.patience, min_lr=rl.min_lr)])
print(json.dumps(Times.seconds))
"""


def steady(seconds: list[float]) -> float:
    return statistics.median(seconds[1:] or seconds)


def run_bare(profile: str, overrides: list[str]) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", BARE, profile, json.dumps(overrides)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_headless(profile: str, overrides: list[str]) -> list[float]:
    with tempfile.TemporaryDirectory() as runs:
        args = [sys.executable, "-m", "tui.cli", "--run", profile, "--runs-dir", runs, "--plain"]
        for item in overrides:
            args += ["--set", item]
        subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT)
        (run_dir,) = Path(runs).iterdir()
        report = json.loads((run_dir / "report.json").read_text())
        return [e["seconds"] for e in report["epochs"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=str(ROOT / "profiles" / "vgg_small.toml"))
    parser.add_argument("--data", help="image-folder tree or .tar.gz (default: synthetic)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train", type=int, default=2500, help="training images (synthetic)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating pairs of runs")
    args = parser.parse_args()
    overrides = [f"train.epochs={args.epochs}", "profiler.trace=false"]
    if args.data:
        overrides += [
            "data.source=folder",
            f"data.path={Path(args.data).resolve()}",
            "data.validation_size=100",
        ]
    else:
        overrides += [
            "data.source=synthetic",
            f"data.synthetic_train={args.train}",
            "data.synthetic_test=200",
            "data.validation_size=500",
        ]
    bare_all: list[float] = []
    head_all: list[float] = []
    started = time.time()
    for r in range(args.rounds):
        bare = run_bare(args.profile, overrides)
        head = run_headless(args.profile, overrides)
        bare_all.append(steady(bare))
        head_all.append(steady(head))
        print(
            f"round {r + 1}: bare {steady(bare):.3f} s/epoch {[round(s, 2) for s in bare]}; "
            f"headless {steady(head):.3f} s/epoch {[round(s, 2) for s in head]}"
        )
    bare_s, head_s = statistics.median(bare_all), statistics.median(head_all)
    print(
        f"profile {Path(args.profile).name}, {args.epochs} epochs, "
        f"{'data ' + args.data if args.data else f'{args.train} synthetic images'}, "
        f"{os.cpu_count()} CPUs, {time.time() - started:.0f} s in all"
    )
    print(f"bare keras fit: {bare_s:.3f} s/epoch (median steady epoch)")
    print(f"cifar-tui --run: {head_s:.3f} s/epoch (median steady epoch)")
    print(f"ratio {head_s / bare_s:.2f}")


if __name__ == "__main__":
    main()
