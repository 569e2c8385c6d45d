"""``--slurm``: a sweep's runs as one Slurm job array, through submitit.

submitit (an optional extra: ``pip install -e ".[slurm]"``, imported only here and only when
``--slurm`` asks for it) pickles a :class:`SweepJob` per run and submits them as one array;
each job runs the ordinary engine into the shared runs directory. The command that submitted
them stays on the login node: the sweep loop (core/sweeps/loop.py) holds the sweep directory,
and each :class:`SlurmRun` follows its job's run directory from its files, as ``--parallel``
follows its processes, so the sweep line, the summary and the console see the runs as they
train. ``executor = "local"`` runs the same array on this machine (submitit's local executor):
the tests do, and so can a user without a cluster.

A ``[search]`` study has no fixed list of runs: the sweep loop asks the study (its journal file
in the sweep directory, shared through the file system) for as many trials at once as
``array_parallelism`` allows (all of them when 0), and each trial is a job of its own
(:class:`TrialJobs`), submitted as it is asked. The job carries its trial
(core.sweeps.study.TrialRef): it reports each epoch to the study's pruner beside its engine and
ends the run "pruned" when told; a requeued job resumes the same trial's run directory.

Preemption, time limits and scancel. A job asks Slurm, on SIGTERM, why it came (the job's
``scontrol show job``): a requeue (preemption, ``scontrol requeue``: its Restarts went up) stops
the run after its batch, saves, and leaves the requeue to Slurm; ``scancel`` stops it for good
("stopped by scancel"; nothing requeues it). Before the time limit submitit asks for SIGUSR2
(``--signal``, ``signal_delay`` seconds early): the run stops after its batch once this slice
has finished an epoch, saves, and the job requeues itself, with no limit on how often (unlike
submitit's ``max_num_timeout``) as long as each slice finishes an epoch; a slice that finishes
none (its SIGTERM at the limit comes first) ends the run stopped, saying to raise the limit.
The requeued job resumes the run from its note file: no epoch is lost or repeated. SIGUSR1
(what :meth:`SlurmRun.request_stop` sends, e.g. on Ctrl+C of the submitting command) stops the
run the same way without a requeue: the same command submits what is left again.

The submitting command follows each job's run with the one follow loop
(core/following/session.py); the job's own state (``squeue``; sacct, which submitit would call
and which many small clusters lack, is never asked) says when it is over, so a session that
ended "stopped" by a requeue is reported as ``preempted, requeued`` and followed on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import CifarTuiError, ProfileError
from core.events import EpochEnded, Event, RunFinished, RunOpened
from core.following.protocol import read_note, write_note
from core.following.session import Ending, follow
from core.status import FINISHED, RunStatus
from core.storage import rundir

INSTALL = '--slurm needs submitit: pip install -e ".[slurm]" (or pip install "submitit>=1.5")'
#: What a job does on each signal: SIGUSR1 stops (the user), SIGUSR2 is the time limit's
#: warning, SIGTERM asks Slurm why (see the module's docstring).
USER_STOP = signal.SIGUSR1
TIME_WARNING = signal.SIGUSR2
EXECUTORS = ("slurm", "local")
SLURM_FOLDER = "slurm"
POLL_SECONDS = 0.5
#: Seconds between two questions to Slurm about a job's state (squeue), per job.
SLURM_POLL_SECONDS = 5.0
#: RunFinished.stopped_by of a job's run, by what stopped it (its message: "stopped by ...").
CANCELLED = "scancel: the job was cancelled, nothing requeues it"
PREEMPTED = "preemption"  # Slurm requeues the job (preemption, scontrol requeue)
TIME_LIMIT = "the time limit"  # the job requeues itself
NO_PROGRESS = (
    "the time limit: its slice finished no epoch (raise --time-limit or [slurm] time_limit)"
)
#: The lines the submitting command says when a job's session ends and the job goes on.
REQUEUED_LINES = {PREEMPTED: "preempted, requeued", TIME_LIMIT: "time limit reached, requeued"}
#: Slurm job states after which nothing of the job runs again.
OVER = frozenset(
    [
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "SPECIAL_EXIT",
        "REVOKED",
    ]
)
#: Slurm job states of a job requeued (or being requeued).
REQUEUE_STATES = frozenset(["PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "PREEMPTED"])


class SlurmMissing(CifarTuiError):
    """submitit is not installed."""


def require_submitit() -> Any:
    """submitit, or a SlurmMissing error that says how to install it."""
    try:
        import submitit
    except ImportError:
        raise SlurmMissing(INSTALL) from None
    return submitit


# --- settings: the [slurm] table, then the flags ------------------------------------------------


@dataclass(frozen=True)
class SlurmSettings:
    """Where and how the array runs."""

    partition: str = ""  # the cluster's default when empty
    gpus_per_run: int = 1
    time_limit: int = 60  # minutes per job (a requeued job gets as many again)
    array_parallelism: int = 0  # array tasks at once; 0: as many as Slurm allows
    executor: str = "slurm"  # "local": submitit's local executor, on this machine
    signal_delay: int = 90  # seconds before the time limit that SIGUSR2 comes
    scaled: bool = False  # the default delay was cut to fit a short time limit

    def describe(self) -> str:
        where = self.partition or "the default partition"
        at_once = self.array_parallelism or "all"
        scaled = (
            f"; the signal {self.signal_delay} s before the limit (scaled to the limit)"
            if self.scaled
            else ""
        )
        return (
            f"{self.executor} executor, {where}, {self.gpus_per_run} GPU(s) per run, "
            f"{self.time_limit} min per job, {at_once} at once{scaled}"
        )


#: Each key of the table: its type and the least value it takes.
KEYS: dict[str, tuple[type, int]] = {
    "partition": (str, 0),
    "gpus_per_run": (int, 0),
    "time_limit": (int, 1),
    "array_parallelism": (int, 0),
    "executor": (str, 0),
    "signal_delay": (int, 0),
}


def read_settings(sweep_path: Path, flags: dict[str, Any] | None = None) -> SlurmSettings:
    """The sweep file's ``[slurm]`` table, checked key by key (a located error), with the
    command line's flags (those given) laid over it."""
    from core.profiles import find_line, read_toml

    layer = read_toml(sweep_path)
    table = layer.raw.get("slurm", {})
    source = str(sweep_path)
    if not isinstance(table, dict):
        raise ProfileError(source, "must be a table ([slurm])", key="slurm")
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"slurm.{key}"
        problem = _check(key, value)
        if problem:
            raise ProfileError(source, problem, key=dotted, line=find_line(layer.text, dotted))
        values[key] = value
    settings = SlurmSettings(**values)
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    for key, value in given.items():
        problem = _check(key, value)
        if problem:
            raise ProfileError("--" + key.replace("_", "-"), problem)
    settings = replace(settings, **given)
    return _fit_delay(settings, "signal_delay" in table, source, layer.text)


def _fit_delay(settings: SlurmSettings, chosen: bool, source: str, text: str) -> SlurmSettings:
    """The time limit's warning must come inside the limit: a delay of the limit or more would
    stop each job as it starts. A delay the file chose is refused (a located error); the
    default is scaled to a quarter of the limit (said in the slurm line)."""
    from core.profiles import find_line

    limit = settings.time_limit * 60
    if settings.signal_delay < limit:
        return settings
    if chosen:
        key = "slurm.signal_delay"
        raise ProfileError(
            source,
            f"must be less than the time limit ({settings.time_limit} min = {limit} s), "
            f"got {settings.signal_delay}",
            key=key,
            line=find_line(text, key),
        )
    return replace(settings, signal_delay=max(1, limit // 4), scaled=True)


def _check(key: str, value: Any) -> str:
    """What is wrong with one setting ("" when nothing)."""
    from core.values import suggest

    if key not in KEYS:
        return f"unknown key in [slurm]{suggest(key, KEYS)}; allowed: {', '.join(KEYS)}"
    kind, least = KEYS[key]
    if kind is str:
        if not isinstance(value, str):
            return f"must be a string, got {value!r}"
        if key == "executor" and value not in EXECUTORS:
            return f'must be "slurm" or "local", got "{value}"'
        return ""
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        return f"must be an integer >= {least}, got {value!r}"
    return ""


# --- the job: what runs on a compute node ----------------------------------------------------


class SweepJob:
    """One run as a submitit job. Pickled by submitit; holds only plain values. It handles the
    signals itself (submitit's handlers are set aside while it runs): see the module's
    docstring."""

    def __init__(
        self,
        runs_dir: str,
        note: str,
        profile: dict[str, Any],
        run_dir: str | None = None,
        trial: Any = None,
    ):
        """A new run of ``profile`` (the resolved profile, as a dict), or ``run_dir`` resumed;
        ``note`` is the file the run directory is written to once it exists. ``trial``: a
        study's trial (core.sweeps.study.TrialRef) whose pruner the job reports to."""
        self.runs_dir, self.note = runs_dir, note
        self.profile, self.run_dir = profile, run_dir
        self.trial = trial
        self._run: Any = None
        self._worker: threading.Thread | None = None
        self._outcome: dict[str, Any] = {}
        self._epochs = 0  # epochs finished in this slice (this process)
        self._time_up = False  # the time limit's warning came
        self._asked = ""  # a stop asked before the run existed

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        # a requeued job starts afresh
        state.update(_run=None, _worker=None, _outcome={}, _epochs=0, _time_up=False, _asked="")
        return state

    def __call__(self) -> str:
        """Train (or resume, or find finished) the run; returns its status. A run stopped to
        be requeued does not return: the job requeues (or Slurm has) and exits."""
        # The handlers first: a signal may come while the engine is imported (an early
        # SIGUSR2 on a short limit); the stop it asks is kept until the run exists.
        previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, self._terminated),
            TIME_WARNING: signal.signal(TIME_WARNING, self._time_warning),
            USER_STOP: signal.signal(USER_STOP, self._user_stop),
        }
        try:
            run = self._make_run()
            if isinstance(run, str):
                return run  # finished by an earlier attempt
            self._run = run
            run.subscribe(self._listen)
            if self.trial is not None:  # each epoch reported to the study's pruner, from here
                run.subscribe(self.trial.listener(run))
            if self._asked:
                run.request_stop(self._asked)
            self._worker = threading.Thread(target=self._work, name="cifar-tui-job")
            self._worker.start()
            while self._worker.is_alive():
                self._worker.join(0.2)  # the main thread stays free for the signals
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if "error" in self._outcome:
            raise self._outcome["error"]
        status = str(self._outcome["status"])
        # A slice at the limit that did finish an epoch after all (its last batch ended it
        # while the stop was asked) goes on too.
        goes_on = run.stopped_by in REQUEUED_LINES or (
            run.stopped_by == NO_PROGRESS and self._epochs
        )
        if status == RunStatus.STOPPED and goes_on:
            self._requeue(run.stopped_by)
        return status

    def _make_run(self) -> Any:
        from core.training.engine import Run

        run_dir = self.run_dir or read_note(self.note)
        if run_dir is not None and (Path(run_dir) / "profile.toml").exists():
            status = rundir.load_run(Path(run_dir)).status
            if status in FINISHED:
                return str(status)
            return Run.resume(Path(run_dir))  # requeued, or resubmitted by the same command
        from core.profiles import profile_from_dict

        return Run(profile_from_dict(self.profile, self.note), Path(self.runs_dir))

    def _work(self) -> None:
        try:
            self._outcome["status"] = self._run.execute()
        except BaseException as exc:  # raised on the main thread, in __call__
            self._outcome["error"] = exc

    def _listen(self, event: Event) -> None:
        """The engine's thread: note the run directory; count this slice's epochs, and stop
        after the first one when the time limit's warning came before it."""
        if isinstance(event, RunOpened):
            self.run_dir = event.run_dir
            write_note(Path(self.note), event.run_dir)
        elif isinstance(event, EpochEnded):
            self._epochs += 1
            if self._time_up:
                self._run.request_stop(TIME_LIMIT)

    # -- signals (the main thread) ----------------------------------------------------------------

    def _stop(self, by: str) -> None:
        if self._run is not None:
            self._run.request_stop(by)
        else:
            self._asked = self._asked or by

    def _user_stop(self, signum: int, frame: Any) -> None:
        """SIGUSR1: the submitting command (Ctrl+C) or ``cifar-tui --stop``: no requeue."""
        self._stop("SIGUSR1")

    def _time_warning(self, signum: int, frame: Any) -> None:
        """SIGUSR2, ``signal_delay`` seconds before the time limit: stop after this batch once
        the slice has finished an epoch (else after its first), then requeue."""
        self._time_up = True
        if self._epochs:
            self._stop(TIME_LIMIT)

    def _terminated(self, signum: int, frame: Any) -> None:
        """SIGTERM: ask Slurm why (a requeue, the time limit, or scancel), and stop so."""
        self._stop(_why_terminated(self._epochs))

    def _requeue(self, by: str) -> None:
        """The run stopped and saved to go on in a later job: leave the job that resumes it
        (its run directory known) for submitit to load, requeue unless Slurm already has, and
        exit with no result (the submitting command keeps following the job)."""
        import submitit
        from submitit.helpers import DelayedSubmission

        env = submitit.JobEnvironment()
        later = DelayedSubmission(self.again())
        later.set_timeout(0, 1)  # submitit's own timeout count is not used: see _time_warning
        from submitit.core.utils import temporary_save_path

        with temporary_save_path(env.paths.submitted_pickle) as path:
            later.dump(path)
        if by != PREEMPTED or not _on_slurm():  # Slurm requeues a preempted job by itself
            try:
                env._requeue(1)  # scontrol requeue (the local executor: its exit code)
            except subprocess.SubprocessError as exc:  # requeued meanwhile: a preemption too
                print(f"cifar-tui: scontrol requeue: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(-1)  # not an Exception: submitit writes no result for it

    def again(self) -> SweepJob:
        """The job that resumes this one's run."""
        run_dir = self.run_dir or read_note(self.note)
        return SweepJob(
            self.runs_dir, self.note, self.profile, str(run_dir) if run_dir else None, self.trial
        )

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's hook, for a signal that reaches its handler while this job is not
        running the run: the job that resumes it."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self.again())


def _on_slurm() -> bool:
    return bool(os.environ.get("SLURM_JOB_ID"))


def _why_terminated(epochs: int) -> str:
    """Who sent a job SIGTERM, as Slurm tells (the job's own ``scontrol show job``): a requeue
    raised its Restarts count (preemption, ``scontrol requeue``), the time limit says so in its
    Reason, anything else is ``scancel``. Off Slurm (submitit's local executor) a SIGTERM is
    taken for a preemption."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return PREEMPTED
    fields = _scontrol_job(job)
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    state = fields.get("JobState", "")
    if int(fields.get("Restarts") or 0) > restarts or state in REQUEUE_STATES:
        return PREEMPTED
    if fields.get("Reason") == "TimeLimit" or state == "TIMEOUT":
        return TIME_LIMIT if epochs else NO_PROGRESS
    return CANCELLED if fields else PREEMPTED  # Slurm did not answer: keep the run, requeue


def _scontrol_job(job: str) -> dict[str, str]:
    """``scontrol show job -o JOB`` as its key=value fields; {} when it does not answer."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "job", "-o", job],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(part.split("=", 1) for part in out.split() if "=" in part)


def job_state(job_id: str) -> str | None:
    """The job's state as ``squeue`` shows it (RUNNING, PENDING, COMPLETING, CANCELLED...);
    "GONE" when Slurm no longer knows it, None when squeue does not answer."""
    try:
        done = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return "GONE" if "Invalid job id" in done.stderr else None
    states = done.stdout.split()
    return states[0] if states else None


# --- the submitting side: the sweep loop's runs are jobs of one array -----------------------


def make_executor(folder: Path, settings: SlurmSettings, name: str) -> Any:
    """submitit's executor for the array (its files in ``folder``)."""
    submitit = require_submitit()
    _quiet_submitit(folder)
    if settings.executor == "slurm" and shutil.which("sbatch") is None:
        raise CifarTuiError(
            '--slurm: no sbatch here (is this a Slurm login node?); executor = "local" in '
            "the [slurm] table runs the array on this machine"
        )
    executor = submitit.AutoExecutor(folder=folder, cluster=settings.executor)
    params: dict[str, Any] = {
        "name": f"cifar-tui-{name}",
        "timeout_min": settings.time_limit,
        "gpus_per_node": settings.gpus_per_run,
        "tasks_per_node": 1,
    }
    if settings.executor == "slurm":
        params["slurm_signal_delay_s"] = settings.signal_delay
        if settings.partition:
            params["slurm_partition"] = settings.partition
        if settings.array_parallelism:
            params["slurm_array_parallelism"] = settings.array_parallelism
    executor.update_parameters(**params)
    return executor


def _quiet_submitit(folder: Path) -> None:
    """submitit's log lines (its "Bypassing sacct error" warnings on a cluster without
    accounting, 6 a poll) go to ``submitit.log`` in the sweep's slurm folder, not the terminal."""
    import logging

    logger = logging.getLogger("submitit")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / "submitit.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False


class ArrayBatch:
    """Collects the loop's runs as they start and submits them as one array once every run
    left has come (any thread). A stop before that submits nothing."""

    def __init__(self, executor: Any, expected: Callable[[], int]):
        self.executor = executor
        self.expected = expected  # how many runs the array holds, read at the first run
        self._cond = threading.Condition()
        self._waiting: list[SlurmRun] = []
        self._jobs: dict[int, Any] = {}
        self._count: int | None = None
        self.cancelled = False
        self.error: BaseException | None = None

    def submit(self, run: SlurmRun) -> Any:
        """The run's job, once the array is submitted; None when it was cancelled."""
        with self._cond:
            if self._count is None:
                self._count = self.expected()
            self._waiting.append(run)
            if len(self._waiting) >= self._count and not self.cancelled:
                self._submit_all()
            while id(run) not in self._jobs and not self.cancelled and self.error is None:
                self._cond.wait(0.5)
            if self.error is not None:
                raise self.error
            return self._jobs.get(id(run))

    def _submit_all(self) -> None:
        try:
            with self.executor.batch():
                jobs = [self.executor.submit(run.job) for run in self._waiting]
        except Exception as exc:  # sbatch refused it: one line, the sweep ends
            self.error = CifarTuiError(f"--slurm: the job array was not submitted: {exc}")
        else:
            self._jobs = {id(run): job for run, job in zip(self._waiting, jobs, strict=True)}
        self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self.cancelled = not self._jobs
            self._cond.notify_all()


class TrialJobs:
    """A study's trials: each submitted as a job of its own as soon as the study asks for it
    (its trials are not a fixed list to make one array of)."""

    def __init__(self, executor: Any):
        self.executor = executor

    def submit(self, run: SlurmRun) -> Any:
        """The run's job; None when it was stopped before it was submitted."""
        if run.stop_requested:
            return None
        try:
            return self.executor.submit(run.job)
        except Exception as exc:  # sbatch refused it: one line, the sweep ends
            raise CifarTuiError(f"--slurm: a trial's job was not submitted: {exc}") from None

    def cancel(self) -> None:
        """Nothing waits to be submitted together."""


class SlurmRun:
    """A run trained by a job of the array, with the face the sweep loop expects of the
    engine's Run; ``execute`` waits for the job and follows its run directory's files."""

    def __init__(self, batch: ArrayBatch | TrialJobs, job: SweepJob, executor: str):
        self.batch, self.job, self.executor = batch, job, executor
        self.run_dir: Path | None = Path(job.run_dir) if job.run_dir else None
        self.stopped_by = ""
        self.submitted: Any = None  # the submitit Job
        self._listeners: list[Callable[[Event], None]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._asked = float("-inf")  # when Slurm was last asked for the job's state

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def attach_trial(self, trial: Any) -> None:
        """A study's trial: the job reports to its pruner (and ends pruned) by itself."""
        self.job.trial = trial

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self, by: str = "user") -> None:
        """Stop the job's run after its current batch (no requeue), or submit nothing yet."""
        with self._lock:
            first = not self._stop.is_set()
            self.stopped_by = self.stopped_by or by
            self._stop.set()
            job = self.submitted
        if job is None:
            self.batch.cancel()
        elif first:
            _stop_job(job, self.run_dir, self.executor)

    def execute(self) -> str:
        started = time.time() - 1.0
        job = self.batch.submit(self)
        if job is None:
            return RunStatus.STOPPED
        with self._lock:
            self.submitted = job
            stop = self._stop.is_set()
        if stop:
            _stop_job(job, self.run_dir, self.executor)
        ending = follow(
            self._find_run_dir,
            self._emit,
            lambda: self._over(job),
            since=started,
            goes_on=_requeued_line,
            interval=POLL_SECONDS,
        )
        finished = (ending or Ending()).finished
        if finished is not None:
            return finished.status
        return self._failed(job)

    def _over(self, job: Any) -> bool:
        """Whether the job is over: it left its result, or Slurm says it ended (asked every
        few seconds; submitit's own check would call sacct). A requeued job is not."""
        if self.executor != "slurm":
            return bool(job.done())
        if job.paths.result_pickle.exists():
            return True
        now = time.monotonic()
        if now - self._asked < SLURM_POLL_SECONDS:
            return False
        self._asked = now
        state = job_state(job.job_id)
        return state is not None and (state in OVER or state == "GONE")

    def _find_run_dir(self) -> Path | None:
        if self.run_dir is None:
            self.run_dir = read_note(self.job.note)
        return self.run_dir

    def _emit(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)

    def _failed(self, job: Any) -> str:
        """The job ended with no run finished: it could not start (the sweep's error), was
        stopped before it opened its run, or was killed (its directory says how far it got)."""
        if self.stop_requested and self.run_dir is None:
            return RunStatus.STOPPED
        with contextlib.suppress(Exception):
            error = job.exception()
            if error is not None and self.run_dir is None:
                lines = [line for line in str(error).strip().splitlines() if line.strip()]
                last = lines[-1].split(": ", 1)[-1] if lines else str(error)
                raise CifarTuiError(f"a job of the array could not start its run: {last}")
        return RunStatus.INTERRUPTED


def _requeued_line(finished: RunFinished) -> str | None:
    """A session's end that is not the run's: the job goes on, requeued."""
    if finished.status != RunStatus.STOPPED:
        return None
    return REQUEUED_LINES.get(finished.stopped_by)


def _stop_job(job: Any, run_dir: Path | None, executor: str) -> None:
    """SIGUSR1 to the job's training process: on this machine through its run's lock, on a
    cluster through scancel; a job that has not started is cancelled."""
    from core.storage.control import lock_holder

    pid = lock_holder(run_dir) if run_dir is not None else None
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, USER_STOP)
        return
    if executor == "slurm" and job_state(job.job_id) not in ("PENDING", None):
        subprocess.run(  # to the job's steps (the training process), not its batch shell
            ["scancel", f"--signal={USER_STOP.name.removeprefix('SIG')}", job.job_id],
            check=False,
            timeout=60,
        )
        return
    job.cancel(check=False)


class SlurmRuns:
    """The loop's ``make_run`` and ``resume_run`` for ``--slurm``: jobs of one array."""

    def __init__(
        self,
        runs_dir: Path,
        sweep_dir: Path,
        settings: SlurmSettings,
        name: str,
        study: bool = False,
    ):
        """``study``: the runs are a study's trials, each a job submitted as it is asked."""
        self.runs_dir = Path(runs_dir)
        self.folder = sweep_dir / SLURM_FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.count: Callable[[], int] = lambda: 1
        executor = make_executor(self.folder, settings, name)
        self.batch: ArrayBatch | TrialJobs = (
            TrialJobs(executor) if study else ArrayBatch(executor, lambda: self.count())
        )

    def _note(self, profile: Any) -> str:
        return str(self.folder / f"run-{profile.name}.txt")

    def make_run(self, profile: Any) -> SlurmRun:
        note = self._note(profile)
        Path(note).unlink(missing_ok=True)  # a new run: an earlier attempt's note is stale
        job = SweepJob(str(self.runs_dir), note, profile.to_dict())
        return SlurmRun(self.batch, job, self.settings.executor)

    def resume_run(self, run_dir: Path) -> SlurmRun:
        from core.storage.resume import plan_resume

        profile = plan_resume(run_dir).profile  # checks it can be resumed, here and now
        job = SweepJob(str(self.runs_dir), self._note(profile), profile.to_dict(), str(run_dir))
        return SlurmRun(self.batch, job, self.settings.executor)
