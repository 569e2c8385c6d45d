"""TensorBoard logs without TensorFlow (core/training/tensorboard.py), read back with
TensorBoard's own loader as test_engine reads the TensorFlow run's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import REPO, SMOKE

from core.profiles import load_profile

#: Put first on PYTHONPATH, this folder makes ``import tensorflow`` fail, as on the GPU machine.
NO_TENSORFLOW = REPO / "benchmarks" / "gpu_machine"

# A tiny fit on JAX with TensorFlow unimportable: two epochs, then a resumed third with a fresh
# callback (as a resumed run makes one); ReduceLROnPlateau halves the rate when validation
# stalls, and a last callback notes the optimizer's rate at each epoch's end.
FIT = r"""
import json, sys
from pathlib import Path
import keras, numpy as np
from core.profiles import load_profile
from core.training.tensorboard import EpochScalars, tensorboard_callback

profile = load_profile(sys.argv[1])
run_dir = Path(sys.argv[2])
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).random((64, 8, 8, 3)).astype("float32")
y = np.arange(64) % 10
inputs = keras.Input((8, 8, 3))
pooled = keras.layers.GlobalAveragePooling2D()(inputs)
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(pooled))
model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
reduce = keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=0, min_delta=10)
rates = []
note = keras.callbacks.LambdaCallback(
    on_epoch_end=lambda e, logs: rates.append(float(model.optimizer.learning_rate)))
history = {}
for first, last in ((0, 2), (2, 3)):
    tb = tensorboard_callback(keras, profile, run_dir, first, 3)
    assert isinstance(tb, EpochScalars), tb
    h = model.fit(x[:48], y[:48], batch_size=16, validation_data=(x[48:], y[48:]),
                  initial_epoch=first, epochs=last, callbacks=[reduce, tb, note], verbose=0)
    for k, v in h.history.items():
        history.setdefault(k, []).extend(v)
print(json.dumps({"history": history, "rates": rates,
                  "tensorflow": any(m.startswith("tensorflow") for m in sys.modules)}))
"""


def scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in ``log_dir``'s event files, as TensorBoard's loader reads them."""
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    from tensorboard.util import tensor_util

    return {
        tag: [(t.step, float(tensor_util.make_ndarray(t.tensor_proto))) for t in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
    }


def close(a: list[float], b: list[float]) -> bool:
    pairs = zip(a, b, strict=True) if len(a) == len(b) else []
    return bool(pairs) and all(abs(x - y) <= 1e-6 * max(1.0, abs(y)) for x, y in pairs)


@pytest.mark.slow
def test_jax_run_writes_kerass_epoch_scalars_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": os.pathsep.join([str(NO_TENSORFLOW), str(REPO)]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", FIT, str(SMOKE), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["tensorflow"]
    history = result["history"]
    train = scalars(tmp_path / "tensorboard" / "train")
    val = scalars(tmp_path / "tensorboard" / "validation")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(train), train.keys()
    assert {"epoch_loss", "epoch_accuracy", "evaluation_loss_vs_iterations"} <= set(val)
    for tags, split, prefix in ((train, "train", ""), (val, "validation", "val_")):
        for metric in ("loss", "accuracy"):
            steps, values = zip(*tags[f"epoch_{metric}"], strict=True)
            assert steps == (0, 1, 2), (split, steps)  # epochs; the resumed fit continues them
            assert close(values, history[prefix + metric]), (split, metric, values)
    steps, rates = zip(*train["epoch_learning_rate"], strict=True)
    assert steps == (0, 1, 2) and close(rates, result["rates"])
    assert len(set(rates)) > 1  # the reduced rate is logged, not the first one three times
    # Validation at the end of each epoch, against the optimizer's steps (3 per epoch).
    assert [s for s, _ in val["evaluation_loss_vs_iterations"]] == [3, 6, 9]
    assert len(list((tmp_path / "tensorboard" / "train").iterdir())) == 2  # one file per fit


def test_tensorflow_gets_kerass_callback_with_the_trace_window_shifted_on_resume(tmp_path):
    """On TensorFlow: Keras's own callback, whose profile batches count from the fit call."""
    pytest.importorskip("tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the default backend here is not TensorFlow")
    from core.training.tensorboard import tensorboard_callback

    profile = load_profile(SMOKE, overrides=["profiler.batches=[13, 18]", "profiler.trace=true"])
    fresh = tensorboard_callback(keras, profile, tmp_path, 0, 10)
    resumed = tensorboard_callback(keras, profile, tmp_path, 1, 10)
    late = tensorboard_callback(keras, profile, tmp_path, 2, 10)
    assert isinstance(fresh, keras.callbacks.TensorBoard)
    assert (fresh._start_batch, fresh._stop_batch) == (13, 18)
    assert (resumed._start_batch, resumed._stop_batch) == (3, 8)
    assert (late._start_batch, late._stop_batch) == (0, 0)  # the window is behind it: no trace
    assert fresh.log_dir == str(tmp_path / "tensorboard")
