"""The training engine: one pipeline for the console and the headless command.

``Run(profile, runs_dir, on_event).execute()`` goes through named stages: prepare (check the runs
directory, load the data, import Keras, open the run directory), build the model, restore a
resumed run's checkpoint, build the datasets, announce the run, set up the callbacks, fit, and
finish (evaluate on the test set, RunFinished). It prints nothing and writes no file itself: every
step is an event sent to its listeners (called from the thread that runs ``execute``), and the
first listener, a ``RunRecorder`` (core/storage/recorder.py), keeps the run directory from them.
``request_stop()`` may be called from any thread; the run stops after the current batch with
status "stopped" and everything saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import shlex
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Profile
from core.data import Dataset, DecodeStopped, batch_problem, load_dataset
from core.errors import EXIT_STOPPED, CifarTuiError, DataError, RunDirError
from core.events import (
    Event,
    ModelBuilt,
    RunFinished,
    RunOpened,
    RunStarted,
    RunWarning,
    Status,
)
from core.status import PRUNER, RunStatus, stopped_message
from core.storage import rundir
from core.storage.control import take_stopper
from core.storage.recorder import RunRecorder
from core.storage.resume import plan_resume

EventSink = Callable[[Event], None]


@dataclasses.dataclass
class _FitCallbacks:
    """The callbacks of one ``fit`` call, and the two the engine still talks to after it."""

    engine: Any  # core.training.callbacks.EngineCallback
    tensorboard: Any | None
    all: list[Any]

    def left_early(self) -> None:
        """fit was left by an exception: Keras calls no on_train_end then."""
        self.engine.close()  # Keras's callback pool may still deliver a step or two
        if self.tensorboard is not None:
            self.tensorboard.on_train_end()  # close its writers and the profiler trace


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
        resume_set: tuple[str, ...] = (),
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
        #: A resume's ``--set`` (RESUME_KEYS only), already applied to ``profile``.
        self.resume_set = tuple(resume_set)
        self.run_dir: Path | None = resume_dir
        self.recorder: RunRecorder | None = None
        self.status = RunStatus.PENDING
        self._stop = threading.Event()
        #: Who asked to stop: "user", a signal's name (RunFinished.stopped_by), or PRUNER.
        self.stopped_by = ""
        self.stop_reason = ""  # a pruner's words: the pruned run's message
        self._env: dict[str, Any] = {}
        self._fit_callbacks: _FitCallbacks | None = None
        self._epoch_counter: Any = None  # core.training.pipeline.EpochCounter (TensorFlow)
        self._placement: Any = None  # core.training.distribute.Placement: its devices
        self._sampler: Any = None  # core.system_metrics.SystemSampler, from the announce on

    @classmethod
    def resume(
        cls,
        run_dir: Path | str,
        on_event: EventSink | None = None,
        overrides: list[str] | tuple[str, ...] = (),
    ) -> Run:
        """A Run that continues ``run_dir`` from its last finished epoch, whatever a kill left
        (a run killed before its first epoch starts again). ``overrides``: ``--set`` items for
        RESUME_KEYS; a diverged run resumes only with a new learning rate."""
        plan = plan_resume(run_dir, overrides)  # the one rule: core/storage/resume.py
        return cls(
            plan.profile,
            plan.run_dir.parent,
            on_event,
            command=plan.command,
            resume_dir=plan.run_dir,
            resume_set=plan.overrides,
        )

    def subscribe(self, listener: EventSink) -> None:
        """Also send every event to ``listener`` (called from the engine's thread)."""
        self._listeners.append(listener)

    @property
    def report(self) -> dict[str, Any]:
        """The report as the recorder keeps it (empty before the run directory is open)."""
        return self.recorder.report if self.recorder is not None else {}

    @property
    def epochs(self) -> list[dict[str, Any]]:
        """The finished epochs' history rows, those of earlier sessions included."""
        return self.recorder.epochs if self.recorder is not None else []

    # -- thread-safe controls -------------------------------------------------------------

    def request_stop(self, by: str = "user", reason: str = "") -> None:
        """Stop after the current batch (callable from any thread); ``by``: "user" or the
        signal's name, kept in RunFinished (the first request's), or PRUNER: a study gives the
        run up, which ends "pruned" with ``reason`` as its message."""
        if not self._stop.is_set():
            self.stopped_by, self.stop_reason = by, reason
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # -- what the callbacks call --------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Send ``event`` to every listener; the recorder is the first once the run is open."""
        for listener in self._listeners:
            listener(event)

    def warn(self, code: str, message: str) -> None:
        """Warn the fronts; the recorder keeps each distinct warning in the report once."""
        self.emit(RunWarning(code, message))

    # -- the stages -----------------------------------------------------------------------------

    def execute(self) -> RunStatus:
        """Run to the end; returns the final status. User mistakes raise CifarTuiError before
        anything is written; failures after that are recorded in the run directory."""
        started = time.time()
        keras, data = self._prepare()
        try:
            with self._placement.scope():  # one device, or the data-parallel strategy's
                return self._train(keras, data, started)
        finally:
            self._stop_sampler(send=False)
            assert self.recorder is not None
            take_stopper(self.run_dir, "")  # a stop note no stop used (it came after the end)
            self.recorder.close()

    def _prepare(self) -> tuple[Any, Dataset]:
        """Everything that can refuse the run, then the run directory (opened last)."""
        self.emit(Status("checking the runs directory"))
        rundir.check_writable(self.runs_dir, _estimated_checkpoint_bytes(self.profile))
        self.emit(Status(f"loading data ({self.profile.data.source})"))
        try:  # a first decode of 60,000 images takes a while: a stop ends it early
            data = load_dataset(self.profile.data, stop=lambda: self.stop_requested)
        except DecodeStopped:
            data = None  # the stop is honoured just below
        self._stopped_before_start("loading data")
        assert data is not None
        # An archive's size is known only now: the same refusal --check gives a folder.
        few = batch_problem(data.description, self.profile.train.batch_size, len(data.x_train))
        if few:
            raise DataError(few)
        self._check_same_data(data.description)
        self.emit(Status("importing Keras"))
        keras, self._env = _import_keras()
        self._stopped_before_start("importing Keras")
        from core.training.distribute import place_run

        # Refuses (before anything is written) what the devices cannot split; notes them in env.
        self._placement = place_run(keras, self.profile, data, self._env, self.resume_dir)
        self._open(data.description)
        return keras, data

    def _stopped_before_start(self, stage: str) -> None:
        """A stop asked while data loaded or Keras imported (SIGTERM in the first seconds) is
        honoured before anything is written: exit 143 for SIGTERM, 130 for Ctrl+C."""
        if not self.stop_requested:
            return
        from core.storage.control import EXIT_FOR_STOPPER

        error = RunDirError(
            f"{self._stopped_message()} while {stage}, before the run directory was opened; "
            "nothing was written"
        )
        error.exit_code = EXIT_FOR_STOPPER.get(self.stopped_by, EXIT_STOPPED)
        raise error

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

    def _open(self, data_description: str) -> None:
        """Create (or reopen) the run directory and announce it."""
        if self.resume_dir is None:
            recorder = RunRecorder.create(self.runs_dir, self.profile, self.command)
        else:
            recorder = RunRecorder.reopen(self.resume_dir)
            if self.resume_set:
                try:
                    recorder.set_overrides(self.profile, list(self.resume_set))
                except BaseException:
                    recorder.close()
                    raise
        self.recorder, self.run_dir = recorder, recorder.run_dir
        # First: a front that has seen an event can read what it changed in the files.
        self._listeners.insert(0, recorder)
        resumed = self.resume_dir is not None
        opened = RunOpened(
            str(self.run_dir), self.profile.name, resumed, self._env, data_description
        )
        try:
            self.emit(opened)
        except BaseException:
            recorder.close()  # execute's cleanup is not reached: release the lock here
            raise

    def _train(self, keras: Any, data: Dataset, started: float) -> RunStatus:
        """The stages after the directory is open; a crash in any of them ends the run
        "failed", recorded, while a user's mistake (CifarTuiError) still raises."""
        try:
            model, per_call, params = self._build(keras, data)
            initial_epoch, saved = self._restore(model)
            clock, (train_ds, val_ds, test_ds) = self._datasets(
                keras, data, per_call, initial_epoch
            )
            self._announce(keras, data, params, initial_epoch)
            status, message = RunStatus.COMPLETED, ""
            if initial_epoch < self.profile.train.epochs:
                callbacks = self._callbacks(keras, data, clock, per_call, initial_epoch, saved)
                status, message = self._fit(model, train_ds, val_ds, initial_epoch, callbacks)
            return self._finish(status, message, started, model, test_ds, data)
        except rundir.DiskFull as exc:  # one clear line, the run "failed" if that still fits
            return self._crashed(exc, started, with_traceback=False)
        except CifarTuiError:
            raise
        except Exception as exc:  # a crash inside Keras/TF: keep it in the report, exit 1
            return self._crashed(exc, started)

    def _build(self, keras: Any, data: Dataset) -> tuple[Any, int, tuple[int, int]]:
        """Build and compile the model; returns it, the batches per compiled call, and its
        (total, trainable) parameter counts."""
        from core.models import build_model, summarize
        from core.training.scan_steps import uses_scan

        profile = self.profile
        self.emit(Status("building the model"))
        keras.utils.set_random_seed(profile.train.seed)
        # JAX: fuse steps_per_execution steps into one compiled call with a scan, as
        # Keras's TensorFlow trainer does by itself (core/training/scan_steps.py).
        per_call = profile.train.steps_per_execution if uses_scan(profile) else 1
        model = build_model(profile, data.num_classes, steps_per_call=per_call)
        s = summarize(model)
        self.emit(ModelBuilt(s.name, s.total, s.trainable, s.non_trainable, s.to_text()))
        model.compile(
            optimizer=_optimizer(keras, profile),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile={"auto": "auto", "on": True, "off": False}[profile.train.jit_compile],
            steps_per_execution=_keras_steps_per_execution(profile, per_call),
        )
        return model, per_call, (s.total, s.trainable)

    def _restore(self, model: Any) -> tuple[int, dict[str, Any] | None]:
        """A resumed run: load its last checkpoint (the recorder makes every file agree with
        it). Returns the epochs already done and the checkpoint's saved state."""
        if self.resume_dir is None:
            return 0, None
        assert self.recorder is not None
        state = self.recorder.restore(lambda path: _load_weights(model, path))
        for note in self.recorder.notes:
            self.warn("checkpoint", note)
        if state is not None:
            from core.training.callbacks import restore_random_states

            if not restore_random_states(model, state.get("random")):
                self.warn(
                    "random_state",
                    f"The checkpoint of epoch {state['epoch']} holds no random generator states: "
                    "the resumed epochs draw other dropout masks and augmentation than an "
                    "uninterrupted run would.",
                )
        if self.resume_set:  # the checkpoint holds the optimizer's old rate
            model.optimizer.learning_rate = self.profile.train.learning_rate
        done = state["epoch"] if state else 0
        self.emit(Status(f"resuming after epoch {done}"))
        return done, state

    def _datasets(
        self, keras: Any, data: Dataset, per_call: int, initial_epoch: int
    ) -> tuple[Any, tuple]:
        """The hand-over clock the profiler reads, and the (train, val, test) inputs."""
        from core.training.pipeline import EpochCounter, HandoverClock, py_datasets, tf_datasets

        clock = HandoverClock()
        if keras.backend.backend() == "tensorflow":
            # Each epoch's shuffle from (seed, epoch), whichever session trains it.
            self._epoch_counter = EpochCounter(initial_epoch)
            datasets = tf_datasets(
                self.profile, data, clock, self.transform_train, epoch=self._epoch_counter
            )
            return clock, datasets
        return clock, py_datasets(self.profile, data, clock, per_call, first_epoch=initial_epoch)

    def _announce(
        self, keras: Any, data: Dataset, params: tuple[int, int], initial_epoch: int
    ) -> None:
        """Warn about a CPU-only machine, then RunStarted: training is about to begin."""
        env = self._env
        if not env["gpu"]:
            devices = ", ".join(env["devices"])
            self.warn("no_gpu", f"No GPU found; training on the CPU ({devices}). It works, slowly.")
        self._start_sampler()
        train = self.profile.train
        self.emit(
            RunStarted(
                run_dir=str(self.run_dir),
                name=self.profile.name,
                epochs=train.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=len(data.x_train) // train.batch_size,
                batch_size=train.batch_size,
                params_total=params[0],
                params_trainable=params[1],
                backend=keras.backend.backend(),
                devices=env["devices"],
                train_images=len(data.x_train),
                val_images=len(data.x_val),
                test_images=len(data.x_test),
                history=[dict(row) for row in self.epochs],  # copies: fronts run elsewhere
                input_pipeline=self.report.get("input_pipeline"),
                system_unavailable=list(self._sampler.unavailable) if self._sampler else [],
            )
        )

    def _start_sampler(self) -> None:
        """The host and GPU sampler (core/system_metrics.py), unless $CIFAR_TUI_SAMPLE_SECONDS
        is 0; its readings leave as events from fit's thread (core/training/system_callback)."""
        from core.system_metrics import SystemSampler, interval_from_env

        interval = interval_from_env()
        if interval > 0 and self._sampler is None:
            self._sampler = SystemSampler(interval).start()

    def _stop_sampler(self, send: bool = True) -> None:
        """Stop sampling; ``send``: the readings not sent yet (the test pass's) go out first."""
        sampler, self._sampler = self._sampler, None
        if sampler is None:
            return
        sampler.stop()
        if send:
            from core.training.system_callback import send_readings

            send_readings(self, sampler, {"gpu_memory"})

    def _callbacks(
        self,
        keras: Any,
        data: Dataset,
        clock: Any,
        per_call: int,
        initial_epoch: int,
        saved: dict[str, Any] | None,
    ) -> _FitCallbacks:
        """The engine's callback first, the Checkpoint last: it commits each epoch once
        everything else has seen it and its weights are saved."""
        from core.training.callbacks import (
            Checkpoint,
            EngineCallback,
            EpochStart,
            restore_reduce_lr,
        )
        from core.training.profiler import InputProfiler

        profile, steps = self.profile, len(data.x_train) // self.profile.train.batch_size
        engine_cb = EngineCallback(
            self,
            steps,
            clock,
            InputProfiler(*profile.profiler.batches),
            data.num_classes,
            batches_per_call=per_call,
            steps_per_execution=_keras_steps_per_execution(profile, per_call),
        )
        callbacks: list[Any] = [engine_cb]
        if self._epoch_counter is not None:
            callbacks.insert(0, EpochStart(self._epoch_counter))
        reduce = None
        if profile.train.reduce_lr.enabled:
            rl = profile.train.reduce_lr
            reduce = keras.callbacks.ReduceLROnPlateau(
                monitor=rl.monitor, factor=rl.factor, patience=rl.patience, min_lr=rl.min_lr
            )
            restore_reduce_lr(reduce, (saved or {}).get("reduce_lr"))
            callbacks.append(reduce)
        assert self.run_dir is not None and self.recorder is not None
        from core.training.tensorboard import tensorboard_callback

        tensorboard = tensorboard_callback(keras, profile, self.run_dir, initial_epoch, steps)
        if tensorboard is not None:
            callbacks.append(tensorboard)
        if self._sampler is not None:
            from core.training.system_callback import SystemMetrics
            from core.training.tensorboard import SystemScalars, has_tensorboard

            # After the engine's (its row) and before the Checkpoint (which commits the row).
            system = SystemMetrics(self, self._sampler, engine_cb)
            callbacks.insert(callbacks.index(engine_cb) + 1, system)
            if tensorboard is not None and has_tensorboard():
                log_dir = self.run_dir / "tensorboard" / "system"
                # A resumed run's readings go on from its earlier sessions' training seconds.
                self.subscribe(SystemScalars(log_dir, offset=self.recorder.system.offset))
        callbacks.append(Checkpoint(self.recorder, engine_cb, reduce))
        self._fit_callbacks = _FitCallbacks(engine_cb, tensorboard, callbacks)
        return self._fit_callbacks

    def _fit(
        self, model: Any, train_ds: Any, val_ds: Any, initial_epoch: int, callbacks: _FitCallbacks
    ) -> tuple[RunStatus, str]:
        """Train; returns how it ended: completed, stopped or diverged, with the message."""
        from core.training.callbacks import Diverged, StopNow

        self.emit(Status("training (the first steps compile the model)"))
        try:
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=self.profile.train.epochs,
                initial_epoch=initial_epoch,
                callbacks=callbacks.all,
                verbose=0,
                shuffle=False,  # the pipeline shuffles
            )
        except StopNow:
            callbacks.left_early()
            outcome = self._stopped_outcome()
        except Diverged as exc:
            callbacks.left_early()
            rate = self.profile.train.learning_rate
            message = (
                f"{exc}. Try a lower train.learning_rate (now {rate:g}): cifar-tui --resume "
                f"{shlex.quote(str(self.run_dir))} --set train.learning_rate={rate / 10:g}"
            )
            outcome = RunStatus.DIVERGED, message
        else:  # a stop that came after the last batch: the epochs all finished, no test
            done = not self.stop_requested
            outcome = (RunStatus.COMPLETED, "") if done else self._stopped_outcome()
        callbacks.engine.finish_profile()
        return outcome

    def _finish(
        self,
        status: RunStatus,
        message: str,
        started: float,
        model: Any = None,
        test_ds: Any = None,
        data: Dataset | None = None,
        **error: str,
    ) -> RunStatus:
        """Evaluate a completed run on the test set (one predict pass: core/training/evaluate.py)
        and save its model, then RunFinished (``error``: its ``error_type`` and ``traceback``
        fields, for a crash)."""
        self._add_xprof()
        test_loss = test_acc = None
        if status == RunStatus.COMPLETED and model is not None:
            from core.training.evaluate import (
                TestPassStopped,
                evaluate_test_set,
                save_exports,
                save_final_model,
            )

            try:
                test_loss, test_acc = evaluate_test_set(self, model, test_ds, data)
                save_final_model(self, model)
                save_exports(self)
            except TestPassStopped:  # every epoch is saved; --resume runs the test pass again
                status, message = self._stopped_outcome()
        self._stop_sampler()
        assert self.recorder is not None
        total = round(time.time() - started + self.recorder.earlier_seconds, 3)
        self.status = status
        by = self.stopped_by if status == RunStatus.STOPPED else ""
        self.emit(RunFinished(status, message, test_loss, test_acc, total, **error, stopped_by=by))
        return status

    def _stopped_outcome(self) -> tuple[RunStatus, str]:
        """How a stopped fit ends: "pruned" when the study's pruner asked, else "stopped"."""
        if self.stopped_by == PRUNER:
            return RunStatus.PRUNED, self.stop_reason or "pruned by the study"
        # SIGUSR1 says only "stop": who sent it (the console's s, or --stop) is in the note
        self.stopped_by = take_stopper(self.run_dir, self.stopped_by)
        return RunStatus.STOPPED, self._stopped_message()

    def _stopped_message(self) -> str:
        """ "stopped by the user", or by the signal that asked (core.status.STOPPED_BY)."""
        return stopped_message(self.stopped_by)

    def _crashed(self, exc: Exception, started: float, with_traceback: bool = True) -> RunStatus:
        """Called while ``exc`` is handled: the run ends "failed", with its traceback kept (a
        full disk: its one line alone, which says it all)."""
        if self._fit_callbacks is not None:
            # Stop TensorFlow's profiler too: left running, it fails the process's next run.
            with contextlib.suppress(Exception):
                self._fit_callbacks.left_early()
        text = str(exc).strip()
        first = text.splitlines()[0][:500] if text else ""
        kind = exc.__class__.__name__
        if not with_traceback:
            return self._finish(RunStatus.FAILED, first, started, error_type=kind)
        return self._finish(
            RunStatus.FAILED,
            f"{kind}: {first}",
            started,
            error_type=kind,
            traceback=traceback.format_exc(limit=20),
        )

    def _add_xprof(self) -> None:
        """Lay xprof's reading of the TensorFlow trace beside the measured number: the
        profiler summary is sent again with it."""
        summary = self._fit_callbacks.engine.summary if self._fit_callbacks else None
        if summary is None or not (
            self.profile.profiler.trace and self._env.get("backend") == "tensorflow"
        ):
            return
        from core.training.xprof_report import analyze

        assert self.run_dir is not None
        analysis = analyze(self.run_dir)
        details = {**summary.details, "xprof": analysis.pop("summary"), "xprof_analysis": analysis}
        self.emit(dataclasses.replace(summary, details=details))


def _optimizer(keras: Any, profile: Profile):
    t = profile.train
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=t.learning_rate, momentum=t.momentum)
    return keras.optimizers.Adam(learning_rate=t.learning_rate)


def _keras_steps_per_execution(profile: Profile, per_call: int) -> int:
    """Keras's own steps_per_execution: 1 when the steps are already fused by a scan."""
    return 1 if per_call > 1 else profile.train.steps_per_execution


def _import_keras() -> tuple[Any, dict[str, Any]]:
    """Keras, and the environment it resolved (backend, devices, versions)."""
    from core import environment
    from core.quiet import quiet_native_stderr

    with quiet_native_stderr():
        import keras

        return keras, environment.describe()


def _load_weights(model: Any, path: Path) -> None:
    """Weights and optimizer state saved by ``model.save_weights``."""
    if not model.optimizer.built:  # a second try (the previous checkpoint) finds it built
        model.optimizer.build(model.trainable_variables)
    model.load_weights(path)


def _estimated_checkpoint_bytes(profile: Profile) -> int:
    from core.models import NOTEBOOK_PARAMS

    params = NOTEBOOK_PARAMS.get(profile.model.architecture, (50_000_000, 0))[0]
    # Weights + two Adam slots; the previous, the latest and the new checkpoint side by side.
    return params * 4 * 3 * 3


def release_models() -> None:
    """Free the finished run's model and compiled functions before the next run builds its own:
    eleven AlexNets in one process must not pile up in (GPU) memory."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
    gc.collect()
