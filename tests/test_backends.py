"""The same profile on Keras's JAX backend (what the lent GPU machine runs), as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_progress_shows_each_epoch_complete

from core.events import BatchProgress

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_profile_runs_on_jax(jax_cli_run):
    """The session's smoke run by the command on JAX (conftest.py's jax_cli_run: one epoch)."""
    proc, run_dir = jax_cli_run.proc, jax_cli_run.run_dir
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "completed"
    assert report["environment"]["backend"] == "jax"
    assert [e["epoch"] for e in report["epochs"]] == [1]
    # The profiler measures on JAX too (no TensorFlow trace there).
    assert report["input_pipeline"]["verdict"] in ("not", "moderately", "highly")
    # TensorBoard's scalars without TensorFlow (core/training/tensorboard.py), read back by
    # TensorBoard's own loader as on TensorFlow.
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(run_dir / "tensorboard" / "train"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"]) | set(acc.Tags()["tensors"])
    assert {"epoch_loss", "epoch_accuracy"} <= tags, tags


def run_jax_script(script: str, *args: str) -> dict:
    """Run ``script`` under KERAS_BACKEND=jax; its last stdout line is a JSON result."""
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Run in a JAX subprocess: a spy notes which thread Keras calls the batch-end hook on, and a
# training array whose batch gather sleeps makes the input pipeline the bottleneck on purpose.
ASYNC_SCRIPT = r"""
import json, sys, threading, time
import numpy as np
import core.training.engine
from core.training.callbacks import EngineCallback
from core.profiles import load_profile

threads = set()
original = EngineCallback.on_train_batch_end

def spy(self, batch, logs=None):
    threads.add(threading.current_thread().name)
    return original(self, batch, logs)

EngineCallback.on_train_batch_end = spy

gathers = [0]

class Slow(np.ndarray):
    def __getitem__(self, index):
        if isinstance(index, np.ndarray):  # a batch gather, inside the timed hand-over
            gathers[0] += 1
            if gathers[0] <= 8:  # the window (batches 3-6) is slow; epoch 2 is at full speed
                time.sleep(float(sys.argv[3]))
        return np.asarray(super().__getitem__(index))

load = core.training.engine.load_dataset
def slow_load(spec, **kwargs):
    data = load(spec, **kwargs)
    data.x_train = data.x_train.view(Slow)
    return data

core.training.engine.load_dataset = slow_load
profile = load_profile(sys.argv[1], overrides=[
    "train.epochs=2", "train.batch_size=10", "profiler.batches=[3, 6]"])
events = []
run = core.training.engine.Run(profile, sys.argv[2], events.append)
status = run.execute()
progress = [[e.epoch, e.step, e.steps, e.loss, e.accuracy] for e in events
            if e.type == "batch_progress"]
print(json.dumps({"status": status, "threads": sorted(threads),
                  "main": threading.current_thread().name, "progress": progress,
                  "pipeline": run.report["input_pipeline"], "epochs": len(run.epochs)}))
"""


@pytest.mark.slow
def test_jax_batch_ends_run_async_and_the_window_is_still_timed(tmp_path):
    """On JAX, fit need not sync on every step's loss (Keras dispatches the engine's batch-end
    hook to its callback pool), yet a slow input pipeline is still measured as input-bound."""
    smoke = str(ROOT / "profiles" / "smoke.toml")
    result = run_jax_script(ASYNC_SCRIPT, smoke, str(tmp_path), "0.3")
    assert result["status"] == "completed" and result["epochs"] == 2
    assert result["threads"] and result["main"] not in result["threads"], result["threads"]
    # Progress is sent as steps finish, in order, and shows every epoch complete.
    progress = [BatchProgress(*row, 0.0, 0.0) for row in result["progress"]]
    assert_progress_shows_each_epoch_complete(progress, epochs=2)
    pipe = result["pipeline"]
    assert pipe["complete"] is True and pipe["batches_measured"] == 4, pipe
    assert pipe["verdict"] == "highly", pipe
    assert pipe["details"]["median_wait_ms"] >= 250, pipe


SCAN_SCRIPT = r"""
import json, sys
import core.training.engine
from core.profiles import load_profile

out = {}
for per_call in (1, 4):
    events = []
    profile = load_profile(sys.argv[1], overrides=[
        "train.epochs=2", "train.batch_size=50", f"train.steps_per_execution={per_call}",
        "profiler.batches=[3, 6]"])
    run = core.training.engine.Run(profile, sys.argv[2], events.append)
    status = run.execute()
    progress = [[e.epoch, e.step, e.steps, e.loss, e.accuracy] for e in events
                if e.type == "batch_progress"]
    out[per_call] = {"status": status, "epochs": run.epochs, "test": run.report["test"],
                     "progress": progress, "pipeline": run.report["input_pipeline"],
                     "warnings": run.report["warnings"]}
    core.training.engine.release_models()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_jax_steps_per_execution_scans_to_the_same_weights(tmp_path):
    """On JAX, 4 steps per compiled call (blocks of 4, 4 and 2 of the 10 batches per epoch,
    scanned) train exactly as one step per call: same losses, flips and dropout included."""
    result = run_jax_script(SCAN_SCRIPT, str(ROOT / "profiles" / "smoke.toml"), str(tmp_path))
    one, four = result["1"], result["4"]
    assert one["status"] == four["status"] == "completed"
    for a, b in zip(one["epochs"], four["epochs"], strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (key, a, b)
    assert four["test"]["loss"] == pytest.approx(one["test"]["loss"], rel=1e-5)
    # Events still count batches, not calls.
    progress = [BatchProgress(*row, 0.0, 0.0) for row in four["progress"]]
    assert {p.steps for p in progress} == {10}
    assert_progress_shows_each_epoch_complete(progress, epochs=2)
    # Blocks 1-4 (an epoch's first call: no cycle to time) and 5-8 straddle the window 3-6.
    pipe = four["pipeline"]
    assert pipe["complete"] is True and pipe["details"]["measured_batches"] == [5, 6], pipe
    assert not [w for w in four["warnings"] if w["code"] == "window_incomplete"]
