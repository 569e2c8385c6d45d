"""The training engine: one pipeline for the console and the headless command.

``Run(profile, runs_dir, on_event).execute()`` loads the data, builds and compiles the model, fits
it with the notebook's callbacks, evaluates on the test set and keeps the run directory up to
date as it goes. It prints nothing: every step is an event passed to ``on_event`` (called from
the thread that runs ``execute``). ``request_stop()`` may be called from any thread; the run stops
after the current batch with status "stopped" and everything saved.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Profile
from core.data import Dataset, load_dataset
from core.errors import CifarTuiError, DataError, RunDirError
from core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    ProfilerSummary,
    RunFinished,
    RunOpened,
    RunStarted,
    RunWarning,
    Status,
)
from core.profiles import dump_profile, profile_from_dict, read_toml
from core.storage import rundir
from core.training.profiler import InputProfiler

EventSink = Callable[[Event], None]
NOT_LEARNING_TOLERANCE = 0.01  # training loss within 1% of ln(classes) = still at chance


class _StopNow(Exception):
    """Raised inside fit to leave it after the current batch."""


class _Diverged(Exception):
    """A non-finite loss: ``batch`` is None when it was the validation loss at the epoch's end."""

    def __init__(self, epoch: int, batch: int | None, loss: float):
        where = f"at epoch {epoch}, batch {batch}" if batch else f"after epoch {epoch}"
        what = "loss" if batch else "validation loss"
        super().__init__(f"the {what} became {loss} {where}")
        self.epoch, self.batch, self.loss = epoch, batch, loss


class Run:
    """One training run, new or resumed, bound to its run directory."""

    def __init__(
        self,
        profile: Profile,
        runs_dir: Path | str = "runs",
        on_event: EventSink | None = None,
        *,
        command: str | None = None,
        resume_dir: Path | None = None,
        transform_train: Callable[[Any], Any] | None = None,
    ):
        """``transform_train`` (TensorFlow backend) is applied to the batched training tf.data
        pipeline, before prefetch and the hand-over stamp: benchmarks and tests use it to put a
        deliberately slow stage in front of the model."""
        self.profile = profile
        self.runs_dir = Path(runs_dir)
        self._listeners: list[EventSink] = [on_event] if on_event is not None else []
        self.command = command
        self.resume_dir = resume_dir
        self.transform_train = transform_train
        self.run_dir: Path | None = resume_dir
        self._stop = threading.Event()
        self.status = "pending"
        self._log: rundir.EventLog | None = None
        self._lock: rundir.RunLock | None = None
        self.report: dict[str, Any] = {}
        self.epochs: list[dict[str, Any]] = []
        self._profile_summary: ProfilerSummary | None = None
        self._earlier_seconds = 0.0  # training time before a resume

    @classmethod
    def resume(cls, run_dir: Path | str, on_event: EventSink | None = None) -> Run:
        """A Run that continues ``run_dir`` from its last finished epoch."""
        run_dir = Path(run_dir)
        if not (run_dir / "profile.toml").exists():
            raise RunDirError(f"{run_dir} is not a run directory (no profile.toml)")
        record = rundir.load_run(run_dir)
        if record.status in ("completed",):
            raise RunDirError(f"{run_dir} is already completed; nothing to resume")
        if record.status == "running":
            raise RunDirError(f"{run_dir} is still running in another process")
        layer = read_toml(run_dir / "profile.toml")
        profile = profile_from_dict(layer.raw, str(run_dir / "profile.toml"))
        command = record.report.get("command")
        return cls(profile, run_dir.parent, on_event, command=command, resume_dir=run_dir)

    def subscribe(self, listener: EventSink) -> None:
        """Also send every event to ``listener`` (called from the engine's thread)."""
        self._listeners.append(listener)

    # -- thread-safe controls -------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop after the current batch (callable from any thread)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # -- the run ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self._log is not None and not isinstance(event, BatchProgress):
            self._log.append(event.to_dict())
        for listener in self._listeners:
            listener(event)

    def execute(self) -> str:
        """Run to the end; returns the final status. User mistakes raise CifarTuiError before
        anything is written; failures after that are recorded in the run directory."""
        started = time.time()
        self.emit(Status("checking the runs directory"))
        params_bytes = _estimated_checkpoint_bytes(self.profile)
        rundir.check_writable(self.runs_dir, params_bytes)
        self.emit(Status(f"loading data ({self.profile.data.source})"))
        data = load_dataset(self.profile.data)
        self._check_same_data(data.description)
        self.emit(Status("importing Keras"))
        from core import environment
        from core.quiet import quiet_native_stderr

        with quiet_native_stderr():
            import keras

            env = environment.describe()
        self._prepare_dir(env, data.description)
        try:
            status = self._train(keras, data, env, started)
        finally:
            if self._log:
                self._log.close()
            if self._lock:
                self._lock.release()
        return status

    def _check_same_data(self, description: str) -> None:
        """A resumed run must train on the data it started with: the saved profile may say
        ``cifar10`` while the images came from $CIFAR_TUI_CIFAR10's copy, or the other way."""
        if self.resume_dir is None:
            return
        before = rundir.load_run(self.resume_dir).report.get("data")
        if before is not None and before != description:
            raise DataError(
                f"{self.resume_dir} trained on {before}, but its profile now loads {description}; "
                "resume it with the same data (for a local CIFAR-10 copy: the same "
                "$CIFAR_TUI_CIFAR10)"
            )

    def _prepare_dir(self, env: dict[str, Any], data_description: str) -> None:
        if self.resume_dir is None:
            self.run_dir = rundir.new_run_dir(self.runs_dir, self.profile.name)
        assert self.run_dir is not None
        self._lock = rundir.RunLock(self.run_dir)
        self._lock.acquire()
        if self.resume_dir is None:
            rundir.atomic_write(self.run_dir / "profile.toml", dump_profile(self.profile))
            self.report = {
                "schema": rundir.SCHEMA,
                "status": "running",
                "profile": self.profile.to_dict(),
                "command": self.command or f"cifar-tui --run {self.run_dir / 'profile.toml'}",
                "environment": env,
                "model": {},
                "epochs": [],
                "test": None,
                "input_pipeline": None,
                "timing": rundir.timing([], None),
                "warnings": [],
                "resumed": [],
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "data": data_description,
            }
        else:
            record = rundir.load_run(self.run_dir)
            self.report = record.report
            # Time already spent: the last total written, or (killed runs) the finished epochs.
            self._earlier_seconds = (self.report.get("timing") or {}).get("total_seconds") or sum(
                e.get("seconds") or 0.0 for e in record.epochs
            )
            self.report["status"] = "running"
            self.report.pop("error", None)
            self.report["environment"] = env
        self._log = rundir.EventLog(self.run_dir / "events.jsonl")
        self.emit(RunOpened(str(self.run_dir), self.profile.name, self.resume_dir is not None))

    def write_report(self) -> None:
        assert self.run_dir is not None
        from core.storage.report import render_markdown

        self.report["epochs"] = self.epochs
        self.report["timing"] = rundir.timing(
            self.epochs, self.report["timing"].get("total_seconds")
        )
        rundir.atomic_write(
            self.run_dir / "report.json",
            json.dumps(self.report, indent=2, default=rundir._json_default),
        )
        rundir.atomic_write(self.run_dir / "report.md", render_markdown(self.report))

    def _warn(self, code: str, message: str) -> None:
        entry = {"code": code, "message": message}
        if entry not in self.report["warnings"]:
            self.report["warnings"].append(entry)
        self.emit(RunWarning(code, message))

    def _train(self, keras: Any, data: Dataset, env: dict[str, Any], started: float) -> str:
        from core.models import build_model, summarize
        from core.training.callbacks import Checkpoint, EngineCallback
        from core.training.pipeline import HandoverClock, py_datasets, tf_datasets
        from core.training.scan_steps import uses_scan

        assert self.run_dir is not None
        profile = self.profile
        initial_epoch = 0
        engine_cb = None
        try:
            self.emit(Status("building the model"))
            keras.utils.set_random_seed(profile.train.seed)
            # JAX: fuse steps_per_execution steps into one compiled call with a scan, as
            # Keras's TensorFlow trainer does by itself (core/training/scan_steps.py).
            per_call = profile.train.steps_per_execution if uses_scan(profile) else 1
            model = build_model(profile, data.num_classes, steps_per_call=per_call)
            summary = summarize(model)
            rundir.atomic_write(self.run_dir / "model_summary.txt", summary.to_text() + "\n")
            self.report["model"] = {
                "name": summary.name,
                "params_total": summary.total,
                "params_trainable": summary.trainable,
                "params_non_trainable": summary.non_trainable,
            }
            model.compile(
                optimizer=_optimizer(keras, profile),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                jit_compile={"auto": "auto", "on": True, "off": False}[profile.train.jit_compile],
                steps_per_execution=1 if per_call > 1 else profile.train.steps_per_execution,
            )
            checkpoint = Checkpoint(self.run_dir / "checkpoint")
            if self.resume_dir is not None:
                initial_epoch = self._restore(model, checkpoint)
            clock = HandoverClock()
            if keras.backend.backend() == "tensorflow":
                train_ds, val_ds, test_ds = tf_datasets(profile, data, clock, self.transform_train)
            else:
                train_ds, val_ds, test_ds = py_datasets(profile, data, clock, per_call)
            steps = len(data.x_train) // profile.train.batch_size
            if not env["gpu"]:
                self._warn(
                    "no_gpu",
                    "No GPU found; training on the CPU ("
                    + ", ".join(env["devices"])
                    + "). It works, slowly.",
                )
            self.emit(
                RunStarted(
                    run_dir=str(self.run_dir),
                    name=profile.name,
                    epochs=profile.train.epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=steps,
                    batch_size=profile.train.batch_size,
                    params_total=summary.total,
                    params_trainable=summary.trainable,
                    backend=keras.backend.backend(),
                    devices=env["devices"],
                    train_images=len(data.x_train),
                    val_images=len(data.x_val),
                    test_images=len(data.x_test),
                )
            )
            self.write_report()
            if initial_epoch >= profile.train.epochs:
                return self._finish(model, test_ds, "completed", "", started)
            profiler = InputProfiler(*profile.profiler.batches)
            engine_cb = EngineCallback(
                self,
                steps,
                clock,
                profiler,
                data.num_classes,
                batches_per_call=per_call,
                steps_per_execution=1 if per_call > 1 else profile.train.steps_per_execution,
            )
            callbacks: list[Any] = [engine_cb]
            if profile.train.reduce_lr.enabled:
                rl = profile.train.reduce_lr
                reduce = keras.callbacks.ReduceLROnPlateau(
                    monitor=rl.monitor, factor=rl.factor, patience=rl.patience, min_lr=rl.min_lr
                )
                checkpoint.restore_callback_state(reduce)
                callbacks.append(reduce)
                checkpoint.reduce_lr = reduce
            tensorboard = _tensorboard(keras, profile, self.run_dir, initial_epoch, steps)
            if tensorboard is not None:
                callbacks.append(tensorboard)
            checkpoint.engine = engine_cb
            callbacks.append(checkpoint)  # last: it commits the epoch once everything is saved
            self.emit(Status("training (the first steps compile the model)"))
            try:
                model.fit(
                    train_ds,
                    validation_data=val_ds,
                    epochs=profile.train.epochs,
                    initial_epoch=initial_epoch,
                    callbacks=callbacks,
                    verbose=0,
                    shuffle=False,
                )  # the pipeline shuffles
            except _StopNow:
                engine_cb.close()  # Keras's callback pool may still deliver a step or two
                if tensorboard is not None:
                    tensorboard.on_train_end()
                engine_cb.finish_profile()
                return self._finish(None, None, "stopped", "stopped by the user", started)
            except _Diverged as exc:
                engine_cb.close()
                if tensorboard is not None:
                    tensorboard.on_train_end()
                engine_cb.finish_profile()
                return self._finish(
                    None,
                    None,
                    "diverged",
                    f"Diverged: {exc}. Try a lower train.learning_rate "
                    f"(now {profile.train.learning_rate:g}).",
                    started,
                )
            engine_cb.finish_profile()
            if self.stop_requested:
                return self._finish(None, None, "stopped", "stopped by the user", started)
            return self._finish(model, test_ds, "completed", "", started)
        except CifarTuiError:
            raise
        except Exception as exc:  # a crash inside Keras/TF: keep it in the report, exit 1
            if engine_cb is not None:
                engine_cb.close()
            self.report["error"] = {
                "type": exc.__class__.__name__,
                "message": str(exc).strip().splitlines()[0][:500] if str(exc).strip() else "",
                "traceback": traceback.format_exc(limit=20),
            }
            return self._finish(
                None,
                None,
                "failed",
                f"{exc.__class__.__name__}: {self.report['error']['message']}",
                started,
            )

    def _restore(self, model: Any, checkpoint: Any) -> int:
        """Load the last checkpoint and make every file agree with it (no epoch lost or twice)."""
        assert self.run_dir is not None
        state = checkpoint.load(model)
        done = state["epoch"] if state else 0
        history = rundir.read_history(self.run_dir / "history.csv")
        kept = [row for row in history if row["epoch"] <= done]
        if state and (not kept or kept[-1]["epoch"] < done):
            kept.append(state["row"])  # killed between checkpoint and history: the row is saved
        if len(kept) != len(history) or not (self.run_dir / "history.csv").exists():
            rundir.write_history(self.run_dir / "history.csv", kept)
        self.epochs = kept
        self.report["resumed"] = [
            *self.report.get("resumed", []),
            {"from_epoch": done, "time": time.time()},
        ]
        self.emit(Status(f"resuming after epoch {done}"))
        return done

    def _finish(self, model, test_ds, status: str, message: str, started: float) -> str:
        self._add_xprof()
        test_loss = test_acc = None
        if model is not None and test_ds is not None:
            self.emit(Status("evaluating on the test set"))
            result = model.evaluate(test_ds, verbose=0, return_dict=True)
            test_loss = rundir.clean_float(result.get("loss"))
            test_acc = rundir.clean_float(result.get("accuracy"))
            self.report["test"] = {"loss": test_loss, "accuracy": test_acc}
        self.status = status
        self.report["status"] = status
        total = time.time() - started + self._earlier_seconds
        self.report["timing"]["total_seconds"] = round(total, 3)
        if status in ("failed", "diverged"):
            self.report.setdefault("error", {"type": status, "message": message})
            self.report["error"]["message"] = message
        self.write_report()
        self.emit(RunFinished(status, message, test_loss, test_acc, round(total, 3)))
        return status

    # -- called by the callbacks ------------------------------------------------------------

    def record_epoch(self, row: dict[str, Any]) -> None:
        assert self.run_dir is not None
        self.epochs.append(row)
        rundir.append_history(self.run_dir / "history.csv", row)
        self.emit(EpochEnded(**row))
        self.write_report()

    def _add_xprof(self) -> None:
        """Lay xprof's reading of the TensorFlow trace beside the measured number."""
        summary = self._profile_summary
        p = self.profile.profiler
        if summary is None or not (
            p.trace and self.report["environment"]["backend"] == "tensorflow"
        ):
            return
        from core.training.xprof_report import analyze

        assert self.run_dir is not None
        analysis = analyze(self.run_dir)
        summary.details["xprof"] = analysis.pop("summary")
        summary.details["xprof_analysis"] = analysis
        self.record_profile(summary)

    def record_profile(self, summary: ProfilerSummary) -> None:
        first = self._profile_summary is None  # the xprof pass sends the summary a second time
        self._profile_summary = summary
        self.report["input_pipeline"] = {
            "input_bound_percent": summary.input_bound_percent,
            "verdict": summary.verdict,
            "method": summary.method,
            "window": summary.window,
            "batches_measured": summary.batches_measured,
            "complete": summary.complete,
            "advice": summary.advice,
            "details": summary.details,
        }
        self.emit(summary)
        if first and not summary.complete and "note" in summary.details:
            self._warn("window_incomplete", "Profiler: " + summary.details["note"] + ".")
        self.write_report()


def _optimizer(keras: Any, profile: Profile):
    t = profile.train
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=t.learning_rate, momentum=t.momentum)
    return keras.optimizers.Adam(learning_rate=t.learning_rate)


def _tensorboard(keras: Any, profile: Profile, run_dir: Path, initial_epoch: int, steps: int):
    """Keras's TensorBoard callback; on TensorFlow it also captures the profiler trace."""
    if keras.backend.backend() != "tensorflow":
        return None  # its writer needs TensorFlow
    first, last = profile.profiler.batches
    trace = profile.profiler.enabled and profile.profiler.trace
    # Keras counts profile batches from the start of this fit call: shift for resumed runs.
    offset = initial_epoch * steps
    window = (first - offset, last - offset) if trace and first - offset >= 1 else 0
    return keras.callbacks.TensorBoard(
        log_dir=str(run_dir / "tensorboard"), profile_batch=window, write_graph=False
    )


def _estimated_checkpoint_bytes(profile: Profile) -> int:
    from core.models import NOTEBOOK_PARAMS

    params = NOTEBOOK_PARAMS.get(profile.model.architecture, (50_000_000, 0))[0]
    return params * 4 * 3 * 2  # weights + two Adam slots, old and new checkpoint side by side


def release_models() -> None:
    """Free the finished run's model and compiled functions before the next run builds its own:
    eleven AlexNets in one process must not pile up in (GPU) memory."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
    gc.collect()
