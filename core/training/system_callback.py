"""The system sampler's side of ``fit`` (core/system_metrics.py): readings become events.

The sampler's thread only reads; this callback takes its readings in fit's own thread, at each
batch's start (training and validation) and at each epoch's end, and sends them as
``SystemSampled`` events, so every listener (the recorder above all) is called from the thread
that sends every other event. At each epoch's end it puts the epoch's mean and peak into the
history row the Checkpoint callback then commits, and runs the verdicts
(core/system_verdicts.py), each warned once.
"""

from __future__ import annotations

from typing import Any

import keras

from core.system_metrics import SystemSampler
from core.system_verdicts import (
    LEAK,
    MEMORY_FULL,
    UNDERUSED,
    gpu_memory_near_full,
    rss_growing,
    underused_gpu,
)

MB = 1024 * 1024


def framework_memory() -> dict[int, dict[str, float]]:
    """What the backend's own allocator holds on each GPU, by CUDA's numbering (fit's thread
    only): ``used_by_run_mb``, and on JAX its pool's ``limit_mb``. NVML's "used" counts memory
    reserved ahead (TensorFlow takes nearly all of it, JAX 75%), so only this figure says how
    near an out-of-memory error a run is. Empty where it cannot be read (no GPU)."""
    out: dict[int, dict[str, float]] = {}
    try:
        if keras.backend.backend() == "jax":
            import jax

            gpus = [d for d in jax.local_devices() if d.platform == "gpu"]
            for index, device in enumerate(gpus):
                stats = device.memory_stats() or {}
                if "bytes_in_use" in stats:
                    out[index] = {"used_by_run_mb": round(stats["bytes_in_use"] / MB, 1)}
                    if stats.get("bytes_limit"):
                        out[index]["limit_mb"] = round(stats["bytes_limit"] / MB, 1)
        elif keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            for index, device in enumerate(tf.config.list_logical_devices("GPU")):
                info = tf.config.experimental.get_memory_info(device.name)
                out[index] = {"used_by_run_mb": round(info["current"] / MB, 1)}
    except Exception:  # a figure, never a failure
        return {}
    return out


def send_readings(run: Any, sampler: SystemSampler, warned: set[str]) -> None:
    """Send the readings taken since the last call, their GPUs' memory completed by what the
    backend's allocator holds; warn once of a GPU nearly out of memory."""
    readings = sampler.drain()
    memory = framework_memory() if readings and readings[-1].gpus else {}
    for reading in readings:
        for gpu in reading.gpus:
            gpu.update(memory.get(gpu.get("index"), {}))
        run.emit(reading)
        if MEMORY_FULL not in warned:
            message = gpu_memory_near_full(reading)
            if message is not None:
                warned.add(MEMORY_FULL)
                run.warn(MEMORY_FULL, message)


class SystemMetrics(keras.callbacks.Callback):
    """Sits between the engine's callback and the Checkpoint (core/training/engine.py)."""

    async_safe = True  # begin hooks only: they run in fit's thread whatever Keras does

    def __init__(self, run: Any, sampler: SystemSampler, engine: Any):
        super().__init__()
        self.run = run
        self.sampler = sampler
        self.engine = engine  # its pending_row is the epoch's history row
        self.warned: set[str] = set()

    def flush(self) -> None:
        send_readings(self.run, self.sampler, self.warned)

    def on_epoch_begin(self, epoch, logs=None):
        self.flush()  # readings of the epoch before are that epoch's
        self.sampler.begin_epoch(epoch + 1)

    def on_train_batch_begin(self, batch, logs=None):
        self.flush()

    def on_test_batch_begin(self, batch, logs=None):
        self.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.flush()
        summary = self.sampler.end_epoch()
        row = getattr(self.engine, "pending_row", None)
        if summary is None or row is None:
            return
        row["system"] = summary
        self._verdicts([*getattr(self.run, "epochs", []), row])

    def _verdicts(self, epochs: list[dict[str, Any]]) -> None:
        if LEAK not in self.warned:
            self._warn(LEAK, rss_growing(epochs))
        if UNDERUSED not in self.warned:
            pipeline = getattr(self.run, "report", {}).get("input_pipeline") or {}
            train = self.run.profile.to_dict().get("train", {})
            self._warn(UNDERUSED, underused_gpu(epochs, pipeline.get("input_bound_percent"), train))

    def _warn(self, code: str, message: str | None) -> None:
        if message is not None:
            self.warned.add(code)
            self.run.warn(code, message)
