"""TensorBoard logs on every backend: Keras's callback on TensorFlow, an event writer elsewhere.

Keras's TensorBoard callback writes through ``tf.summary``, so on JAX a run would have no
``tensorboard/`` at all. ``EpochScalars`` writes the same scalars with TensorBoard's own event
writer (``tensorboard.summary.Writer``: numpy and protobuf, no TensorFlow): per epoch,
``epoch_loss``, ``epoch_accuracy`` and ``epoch_learning_rate`` under ``train/``, the validation
metrics under ``validation/`` without their ``val_`` prefix, and at each validation's end
``evaluation_<metric>_vs_iterations`` against the optimizer's step count, with the same tags,
steps (the 0-based epoch, so a resumed run continues them) and layout as Keras's callback.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import keras

from core.config import Profile
from core.dispatch import EventConsumer
from core.events import EpochEnded, RunFinished, SystemSampled
from core.system_metrics import gpu_figures


def tensorboard_callback(
    keras_module: Any, profile: Profile, run_dir: Path, initial_epoch: int, steps: int
) -> Any:
    """The run's TensorBoard callback: Keras's own on TensorFlow (which also captures the
    profiler trace), EpochScalars elsewhere; None where TensorBoard is not installed."""
    if keras_module.backend.backend() == "tensorflow":
        return _keras_tensorboard(keras_module, profile, run_dir, initial_epoch, steps)
    if importlib.util.find_spec("tensorboard") is None:
        return None  # nothing to write with: the run goes on without logs
    return EpochScalars(run_dir / "tensorboard")


def _keras_tensorboard(
    keras_module: Any, profile: Profile, run_dir: Path, initial_epoch: int, steps: int
) -> Any:
    first, last = profile.profiler.batches
    trace = profile.profiler.enabled and profile.profiler.trace
    # Keras counts profile batches from the start of this fit call: shift for resumed runs.
    offset = initial_epoch * steps
    window = (first - offset, last - offset) if trace and first - offset >= 1 else 0
    return keras_module.callbacks.TensorBoard(
        log_dir=str(run_dir / "tensorboard"), profile_batch=window, write_graph=False
    )


def learning_rates(model: Any) -> dict[str, float]:
    """The optimizer's learning rate(s), named as Keras's callback names them."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # loss scaling
    if hasattr(optimizer, "optimizers"):
        return {
            f"learning_rate_{opt.name}": float(keras.ops.convert_to_numpy(opt.learning_rate))
            for opt in optimizer.optimizers
        }
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return {"learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate))}
    return {}


class EpochScalars(keras.callbacks.Callback):
    """Keras's TensorBoard epoch scalars without TensorFlow (see the module's docstring).

    The writers are opened in on_train_begin and closed in on_train_end (which may be called
    again by whoever left fit by an exception), as Keras's callbacks hold their resources."""

    async_safe = True  # no batch hooks: JAX may still run the others' batch ends async

    def __init__(self, log_dir: Path | str):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def on_train_begin(self, logs=None):
        from tensorboard.summary import Writer

        self.on_train_end()  # a second fit with the same callback starts fresh files
        for split in ("train", "validation"):
            self._writers[split] = Writer(str(self.log_dir / split))

    def on_train_end(self, logs=None):
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()

    def on_test_end(self, logs=None):
        writer = self._writers.get("validation")
        if writer is None or not logs or getattr(self.model, "optimizer", None) is None:
            return  # an evaluate outside fit
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        for name, value in logs.items():
            writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), step=step)

    def on_epoch_end(self, epoch, logs=None):
        if not self._writers:
            return
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        train.update(learning_rates(self.model))
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        for split, scalars in (("train", train), ("validation", validation)):
            writer = self._writers[split]
            for name, value in scalars.items():
                writer.add_scalar(f"epoch_{name}", float(value), step=epoch)
            writer.flush()  # readable while the run goes on (tensorboard --logdir runs/)


def has_tensorboard() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class SystemScalars(EventConsumer):
    """The sampler's figures (core/system_metrics.py) as TensorBoard scalars under the run's
    ``tensorboard/system``, on every backend (TensorBoard's own writer, no TensorFlow): each
    reading's ``gpu_util``, ``gpu_mem_mb``, ``cpu_percent`` and ``rss_mb`` against the
    seconds of training (``offset``: a resumed run's earlier sessions'), and each epoch's mean
    and peak (``epoch_<field>``) against the 0-based epoch, as Keras's epoch scalars. A
    listener of the run's events."""

    READING = ("cpu_percent", "rss_mb", "host_cpu_percent", "available_mb")

    def __init__(self, log_dir: Path | str, offset: float = 0.0):
        self.log_dir = Path(log_dir)
        self.offset = offset
        self._writer: Any = None

    def _open(self) -> Any:
        if self._writer is None:
            from tensorboard.summary import Writer

            self._writer = Writer(str(self.log_dir))
        return self._writer

    def on_system_sampled(self, event: SystemSampled) -> None:
        writer, step = self._open(), int(self.offset + event.elapsed)
        for name in self.READING:
            value = getattr(event, name)
            if value is not None:
                writer.add_scalar(name, float(value), step=step, wall_time=event.time)
        for name, value in gpu_figures(event).items():
            if value is not None and name != "mem_total_mb":
                writer.add_scalar(f"gpu_{name}", float(value), step=step, wall_time=event.time)

    def on_epoch_ended(self, event: EpochEnded) -> None:
        if not event.system:
            return
        writer = self._open()
        for name, value in event.system.items():
            if value is not None:
                writer.add_scalar(f"epoch_{name}", float(value), step=event.epoch - 1)
        writer.flush()  # readable while the run goes on

    def on_run_finished(self, event: RunFinished) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
