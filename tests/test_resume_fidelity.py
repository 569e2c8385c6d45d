"""A resumed run trains epochs k+1.. as the uninterrupted run would, on each backend.

Each backend runs in its own subprocess (TensorFlow with op determinism on, so the comparison
is exact up to float rounding): the smoke profile (flip augmentation, dropout, a shuffled
pipeline) trains N epochs uninterrupted, then again stopped after epoch k and resumed. The
resumed epochs' losses must equal the uninterrupted run's: a resume that replayed the shuffle,
the flips or the dropout masks of epochs 1..k (the seed set afresh) gives other numbers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from helpers import REPO

EPOCHS, STOP_AFTER = 3, 1

SCRIPT = r"""
import json, sys
from pathlib import Path
import keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
from core import events as ev
from core.profiles import load_profile
from core.training.engine import Run

runs, preprocess = Path(sys.argv[1]), sys.argv[4]
epochs, stop_after = int(sys.argv[2]), int(sys.argv[3])
profile = load_profile("profiles/smoke.toml", overrides=[
    f"train.epochs={epochs}", "data.synthetic_train=300", "data.synthetic_test=60",
    "train.batch_size=50", f"pipeline.preprocess={preprocess}",
])
whole = Run(profile, runs / "whole")
assert whole.execute() == "completed"
holder = {}
def stop(event):
    if isinstance(event, ev.EpochEnded) and event.epoch == stop_after:
        holder["run"].request_stop()
first = Run(profile, runs / "resumed", stop)
holder["run"] = first
assert first.execute() == "stopped"
again = Run.resume(first.run_dir)
assert again.execute() == "completed"
print(json.dumps({"whole": whole.epochs, "resumed": again.epochs,
                  "backend": keras.backend.backend()}))
"""


def run_script(tmp_path, backend: str, preprocess: str = "device") -> dict:
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(EPOCHS), str(STOP_AFTER), preprocess],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_same_epochs(result: dict) -> None:
    whole, resumed = result["whole"], result["resumed"]
    assert [e["epoch"] for e in whole] == [e["epoch"] for e in resumed] == [1, 2, 3]
    for a, b in zip(whole, resumed, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            assert math.isclose(a[key], b[key], rel_tol=1e-4, abs_tol=1e-6), (a["epoch"], key, a, b)


@pytest.mark.slow
def test_a_resumed_run_trains_as_the_uninterrupted_one_on_tensorflow(tmp_path):
    result = run_script(tmp_path, "tensorflow")
    assert result["backend"] == "tensorflow"
    assert_same_epochs(result)


@pytest.mark.slow
def test_a_resumed_run_trains_as_the_uninterrupted_one_on_jax(tmp_path):
    result = run_script(tmp_path, "jax")
    assert result["backend"] == "jax"
    assert_same_epochs(result)
