"""Keras callbacks that connect ``fit`` to the engine: events, guards, profiling, checkpoints.

They reach the run only through ``EngineRun`` (its profile, the stop request, ``emit`` and
``warn``) and leave ``fit`` by raising ``StopNow`` or ``Diverged``, which the engine catches.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Protocol

import keras

from core.config import Profile
from core.events import PROGRESS_INTERVAL, BatchProgress, EpochEnded, Event, ProfilerSummary
from core.storage import rundir

#: Training loss within this fraction of ln(classes) after an epoch: still at chance.
NOT_LEARNING_TOLERANCE = 0.01
#: An epoch's training loss above this many times ln(classes) has exploded, finite or not: a
#: model that guesses uniformly scores ln(classes), one that learns anything far less.
EXPLODED_TIMES_CHANCE = 10.0
#: ... as has one above chance and this many times the lowest loss of an earlier epoch.
EXPLODED_TIMES_BEST = 100.0
#: An epoch's ETA is sent (not NaN) once this many steps, or one step and this many seconds,
#: have been timed after the epoch's first step (which, in the first epoch, compiles).
ETA_MIN_STEPS = 3
ETA_MIN_SECONDS = 1.0


class StopNow(Exception):
    """Raised inside fit to leave it after the current batch: the user asked to stop."""


class Diverged(Exception):
    """A non-finite loss (``batch`` is None when it was the validation loss at the epoch's
    end), or, with ``why``, an epoch's training loss that exploded while staying finite."""

    def __init__(self, epoch: int, batch: int | None, loss: float, why: str = ""):
        if why:
            text = f"the training loss of epoch {epoch} was {loss:.4g}, {why}"
        else:
            where = f"at epoch {epoch}, batch {batch}" if batch else f"after epoch {epoch}"
            what = "loss" if batch else "validation loss"
            text = f"the {what} became {loss} {where}"
        super().__init__(text)
        self.epoch, self.batch, self.loss = epoch, batch, loss


class EngineRun(Protocol):
    """What the callbacks use of the engine's ``Run``."""

    profile: Profile

    @property
    def stop_requested(self) -> bool: ...

    def emit(self, event: Event) -> None: ...

    def warn(self, code: str, message: str) -> None: ...


class Recorder(Protocol):
    """What the Checkpoint callback uses of core.storage.recorder.RunRecorder."""

    def save_checkpoint(
        self,
        save: Any,
        row: dict[str, Any],
        extra: dict[str, Any] | None = None,
        need_bytes: int = 0,
    ) -> None: ...


def _lr(model: Any) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class EngineCallback(keras.callbacks.Callback):
    """Turns fit's progress into engine events and enforces the stop request and the guards.

    ``async_safe``: Keras then runs ``on_train_batch_end`` on a thread pool (when every other
    callback allows it too, as on JAX), so fit need not wait for each step's loss: reading it is
    a host-device sync, which on a GPU leaves the device idle between steps. That hook therefore
    records numbers under a lock and sends progress (the sinks are thread-safe: a queue, or
    Textual's post_message), as steps finish rather than as they are dispatched; stop and guards
    are acted on in fit's own thread (``on_train_batch_begin``, ``on_test_begin``,
    ``on_epoch_end``), and so is everything that writes the run directory. Up to the end of the
    profile window each step waits for the previous one, so the window is timed step by step and
    its cycles are the device's, not the host's dispatch rate. Resources tied to a fit call are
    set up in on_train_begin, as Keras's own callbacks do.
    """

    async_safe = True

    def __init__(
        self,
        run: EngineRun,
        steps: int,
        clock: Any,
        profiler: Any,
        num_classes: int,
        batches_per_call: int = 1,
        steps_per_execution: int = 1,
    ):
        """``batches_per_call`` > 1: Keras counts calls that each train a block of that many
        batches (core/training/scan_steps.py). Otherwise Keras counts batches, and with
        ``steps_per_execution`` > 1 (TensorFlow) passes each execution's first and last step.
        Events and the profiler always count batches."""
        super().__init__()
        self.run = run
        self.steps = steps
        self.per_call = batches_per_call
        self.per_execution = steps_per_execution
        self.clock = clock
        self.profiler = profiler
        self.chance_loss = math.log(num_classes)
        self.summary: ProfilerSummary | None = None  # sent once, at the window's end
        self._cond = threading.Condition()
        self.closed = False

    def on_train_begin(self, logs=None):
        # The lowest training loss of the epochs before (a resumed run's included).
        losses = [row["loss"] for row in getattr(self.run, "epochs", []) if row.get("loss")]
        self.best_loss: float | None = min(losses) if losses else None
        self.last_end: float | None = None
        self.last_progress = 0.0
        self.diverged: tuple[int, int, float] | None = None
        self.error: BaseException | None = None  # raised in the pool, re-raised in fit's thread

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.epoch_start = time.perf_counter()
        with self._cond:
            self.last_end = None
            self.done = -1  # last batch (0-based, this epoch) whose logs have arrived
            self.latest = (math.nan, math.nan)  # loss and accuracy of batch ``done``
            self.shown = 0  # batches the last progress event reported
            self.in_epoch = True
            self.eta_from: tuple[int, float] | None = None  # (batches, time) of the 1st step

    def close(self) -> None:
        """fit was left by an exception: Keras's pool may still deliver steps; ignore them."""
        with self._cond:
            self.closed = True

    def _global(self, batch: int) -> int:
        """Batch number over the whole run, from 1 (resumed runs continue it)."""
        return (self.epoch - 1) * self.steps + batch + 1

    def _timed(self, first_batch: int) -> bool:
        """Whether the call starting at ``first_batch`` (this epoch) is timed: every call up to
        the window's end is (and, dispatched async, waits for the one before)."""
        return (
            self.profiler is not None
            and self.run.profile.profiler.enabled
            and self._global(first_batch) <= self.profiler.last
        )

    def _span(self, index: int) -> tuple[int, int]:
        """First and last batch (0-based, this epoch) of the call Keras's end hook names."""
        if self.per_call > 1:
            first = index * self.per_call
            return first, min(first + self.per_call, self.steps) - 1
        # Keras passes the execution's last step, past the epoch for a short last execution.
        last = min(index, self.steps - 1)
        return max(0, index - self.per_execution + 1), last

    def _wait_for(self, predicate: Any, *, stoppable: bool, limit: float = math.inf) -> None:
        """Wait (lock held) until ``predicate`` or a failure in the pool; also until a stop
        request when ``stoppable`` (a step may take minutes), or ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while not self._cond.wait_for(lambda: predicate() or self.error is not None, timeout=1.0):
            if (stoppable and self.run.stop_requested) or time.monotonic() > deadline:
                return

    def on_train_batch_begin(self, batch, logs=None):
        first = batch * self.per_call  # Keras counts calls (scan) or batches (otherwise)
        if self._timed(first):
            with self._cond:  # one call at a time: wait for the previous call's logs
                self._wait_for(lambda: self.done >= first - 1, stoppable=True)
        self._check_guards(stop=True)
        self.batch_begin = time.perf_counter()
        if self.summary is None and self.profiler is not None and self.profiler.window_complete:
            self.finish_profile()

    def on_train_batch_end(self, batch, logs=None):
        """Fit's thread or Keras's callback pool: record and send progress. A failure here is
        kept and raised in fit's thread, and the step still counts as arrived, so no wait for
        it can hang."""
        now = time.perf_counter()
        first, last = self._span(batch)
        with self._cond:
            try:
                if not self.closed:
                    self._record(first, last, logs or {}, now)
            except Exception as exc:
                self.error = self.error or exc
            finally:
                self.done = max(self.done, last)
                self._cond.notify_all()

    def _record(self, first: int, last: int, logs: dict[str, Any], now: float) -> None:
        loss = float(logs.get("loss", math.nan))
        accuracy = float(logs.get("accuracy", math.nan))
        if self._timed(first):
            stamps = self.clock.pop_all()
            if stamps and self.last_end is not None:
                handed_at, wait = stamps[0]
                if wait < 0:
                    # tf.data: from the call's start until its first batch was handed over. Later
                    # batches of a multi-step call are pulled after a step's compute, which their
                    # stamps cannot tell apart from waiting: the first one stands for the call.
                    wait = max(0.0, handed_at - self.batch_begin)
                else:  # timed around each hand-over (one per call, or per batch)
                    wait = sum(w for _, w in stamps)
                # One entry per batch of the call, so the window counts batches.
                n = last - first + 1
                for b in range(first, last + 1):
                    self.profiler.record(self._global(b), wait / n, (now - self.last_end) / n)
            self.last_end = now
        if last >= self.done:
            self.latest = (loss, accuracy)
        if self.eta_from is None:
            self.eta_from = (last + 1, now)
        if not math.isfinite(loss):
            if self.diverged is None or last + 1 < self.diverged[1]:
                self.diverged = (self.epoch, last + 1, loss)
        elif last + 1 > self.shown and now - self.last_progress >= PROGRESS_INTERVAL:
            self._progress(last + 1, loss, accuracy, now)

    def _check_guards(self, stop: bool) -> None:
        """Raise, in fit's thread, what the batch-end hook found; and the stop request when
        ``stop`` (at a batch's start: an epoch that finished training is always kept)."""
        with self._cond:
            diverged, error = self.diverged, self.error
        if error is not None:
            raise error
        if diverged is not None:
            raise Diverged(*diverged)
        if stop and self.run.stop_requested:
            raise StopNow()

    def _progress(self, done: int, loss: float, accuracy: float, now: float) -> None:
        """Called with the lock held, so events leave in order whatever thread sends them."""
        self.shown, self.last_progress = done, now
        elapsed = now - self.epoch_start
        eta = measured_eta(self.eta_from, done, self.steps, now)
        self.run.emit(BatchProgress(self.epoch, done, self.steps, loss, accuracy, elapsed, eta))

    def on_test_begin(self, logs=None):
        """Validation starts: every training step has finished."""
        self._epoch_trained()

    def _epoch_trained(self) -> None:
        """Show the epoch's training complete (once), then raise what the steps found."""
        if not getattr(self, "in_epoch", False):
            return
        with self._cond:  # every step has run; the pool may still be delivering their logs
            self._wait_for(lambda: self.done >= self.steps - 1, stoppable=False, limit=300)
            self.in_epoch = False
            complete = self.done >= self.steps - 1
            if complete and self.diverged is None and self.shown < self.steps:
                self._progress(self.steps, *self.latest, time.perf_counter())
        self._check_guards(stop=False)

    def on_epoch_end(self, epoch, logs=None):
        """Compute the epoch's row; the Checkpoint callback commits it once it is saved."""
        self._epoch_trained()  # when there was no validation to announce it
        logs = logs or {}
        val_loss = logs.get("val_loss")
        if val_loss is not None and not math.isfinite(float(val_loss)):
            raise Diverged(epoch + 1, None, float(val_loss))
        self._check_explosion(epoch + 1, logs.get("loss"))
        self.pending_row = {
            "epoch": epoch + 1,
            "seconds": round(time.perf_counter() - self.epoch_start, 4),
            "loss": rundir.clean_float(logs.get("loss")),
            "accuracy": rundir.clean_float(logs.get("accuracy")),
            "val_loss": rundir.clean_float(logs.get("val_loss")),
            "val_accuracy": rundir.clean_float(logs.get("val_accuracy")),
            "lr": _lr(self.model),  # the rate this epoch trained with, before ReduceLROnPlateau
        }

    def _check_explosion(self, epoch: int, loss: Any) -> None:
        """Diverged for a finite training loss far above chance, or above chance and orders of
        magnitude above the best epoch's (raised before the epoch is saved)."""
        if loss is None or not math.isfinite(float(loss)):
            return  # a non-finite loss is caught per batch
        loss, chance = float(loss), self.chance_loss
        classes = round(math.exp(chance))
        best = self.best_loss
        if loss > EXPLODED_TIMES_CHANCE * chance:
            why = (
                f"more than {EXPLODED_TIMES_CHANCE:g} times chance "
                f"(ln({classes}) = {chance:.3f}): the weights blew up"
            )
            raise Diverged(epoch, None, loss, why)
        if best is not None and loss > chance and loss > EXPLODED_TIMES_BEST * best:
            why = f"{loss / best:.0f} times the best epoch's {best:.4g}: the weights blew up"
            raise Diverged(epoch, None, loss, why)
        self.best_loss = loss if best is None else min(best, loss)

    def commit_epoch(self, row: dict[str, Any]) -> None:
        """The epoch is saved: announce it (the recorder writes history and report from the
        event), then check that the model learns at all."""
        self.run.emit(EpochEnded(**row))
        loss = row["loss"]
        if loss is not None and abs(loss - self.chance_loss) <= (
            NOT_LEARNING_TOLERANCE * self.chance_loss
        ):
            self.run.warn(
                "not_learning",
                f"Not learning: after epoch {row['epoch']} the training loss is {loss:.4f}, within "
                f"{NOT_LEARNING_TOLERANCE:.0%} of ln({round(math.exp(self.chance_loss))}) = "
                f"{self.chance_loss:.3f} (chance). "
                "Try a lower train.learning_rate, another seed, or a model with batch norm.",
            )

    def finish_profile(self) -> None:
        """Send the profiler summary once: at the window's end, or when the run ends early."""
        if self.summary is not None or not self.run.profile.profiler.enabled:
            return
        with self._cond:  # the callback pool may still be recording a step
            summary = self.profiler.summary(self.run.profile)
        if summary is None:
            return
        report = getattr(self.run, "report", None) or {}
        if not summary.complete and report.get("input_pipeline"):
            # A resumed run measured before its stop: that figure stands (the fronts said it
            # at the start), not a second one over other batches with its own warning.
            return
        self.summary = summary
        self.run.emit(summary)
        if not summary.complete and "note" in summary.details:
            self.run.warn("window_incomplete", "Profiler: " + summary.details["note"] + ".")


def measured_eta(start: tuple[int, float] | None, done: int, steps: int, now: float) -> float:
    """Seconds left in the epoch at the rate measured since ``start`` (the batches done and the
    time at its first step's end); NaN until enough is measured to say (ETA_MIN_*)."""
    if done >= steps:
        return 0.0
    if start is None or done <= start[0]:
        return math.nan
    timed, seconds = done - start[0], now - start[1]
    if timed < ETA_MIN_STEPS and seconds < ETA_MIN_SECONDS:
        return math.nan
    return seconds / timed * (steps - done)


class EpochStart(keras.callbacks.Callback):
    """Tells the TensorFlow pipeline's EpochCounter (core/training/pipeline.py) which epoch
    starts, before Keras asks for the epoch's first batch."""

    async_safe = True  # no batch hooks: it must not turn Keras's async batch-end off

    def __init__(self, counter: Any):
        super().__init__()
        self.counter = counter

    def on_epoch_begin(self, epoch, logs=None):
        self.counter.set(epoch)


class Checkpoint(keras.callbacks.Callback):
    """Runs last at each epoch's end: has the recorder save what resuming needs (weights with
    optimizer state, the epoch's history row, ReduceLROnPlateau's counters, the random
    generators' states), and only then commits the epoch, so an epoch counts as finished once
    it can be resumed from."""

    def __init__(self, recorder: Recorder, engine: EngineCallback, reduce_lr: Any = None):
        super().__init__()
        self.recorder = recorder
        self.engine = engine
        self.reduce_lr = reduce_lr

    def on_epoch_end(self, epoch, logs=None):
        row = self.engine.pending_row
        extra = {"reduce_lr": _reduce_state(self.reduce_lr), "random": random_states(self.model)}
        self.recorder.save_checkpoint(
            self.model.save_weights, row, extra, need_bytes=weights_bytes(self.model)
        )
        self.engine.commit_epoch(row)


def _seed_variables(model: Any) -> list[Any]:
    """The state of each random generator in the model (dropout masks, flips, rotations)."""
    return [v for v in model.non_trainable_variables if v.name == "seed_generator_state"]


def random_states(model: Any) -> list[list[int]]:
    """Where each random generator of the model stands. ``save_weights`` leaves them out: a
    resumed run without them would draw the dropout masks and augmentation of its first
    epochs again."""
    return [keras.ops.convert_to_numpy(v).tolist() for v in _seed_variables(model)]


def restore_random_states(model: Any, saved: Any) -> bool:
    """Put the generators back where a checkpoint saved them; False when it has none that fit
    this model (a checkpoint from before they were saved)."""
    import numpy as np

    variables = _seed_variables(model)
    if not isinstance(saved, list) or len(saved) != len(variables):
        return False
    for variable, value in zip(variables, saved, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return True


def weights_bytes(model: Any) -> int:
    """The size of a checkpoint's weights and optimizer state, for the free-space check."""
    total = 0
    for v in [*model.weights, *model.optimizer.variables]:
        dtype = keras.backend.standardize_dtype(v.dtype)
        size = 2 if "16" in dtype else 8 if "64" in dtype else 1 if "8" in dtype else 4
        total += int(math.prod(v.shape)) * size
    return total


def restore_reduce_lr(reduce: Any, saved: dict[str, Any] | None) -> None:
    """Give ReduceLROnPlateau back the counters a checkpoint saved (``_reduce_state``)."""
    if not saved:
        return
    # ReduceLROnPlateau resets itself in on_train_begin; re-apply the saved counters after.
    original = reduce.on_train_begin

    def on_train_begin(logs=None):
        original(logs)
        reduce.wait = saved["wait"]
        reduce.cooldown_counter = saved["cooldown_counter"]
        reduce.best = saved["best"] if saved["best"] is not None else reduce.best

    reduce.on_train_begin = on_train_begin


def _reduce_state(reduce: Any) -> dict[str, Any] | None:
    if reduce is None:
        return None
    best = float(reduce.best)
    return {
        "wait": int(reduce.wait),
        "cooldown_counter": int(reduce.cooldown_counter),
        "best": best if math.isfinite(best) else None,
    }
