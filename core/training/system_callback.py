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


def send_readings(run: Any, sampler: SystemSampler, warned: set[str]) -> None:
    """Send the readings taken since the last call; warn once of a GPU nearly out of memory."""
    for reading in sampler.drain():
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
