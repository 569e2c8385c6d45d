"""``--parallel N``: a sweep's runs, up to N at once, each in a process of its own.

Each run is the ordinary command, ``python -m tui.cli.main --run PROFILE --plain`` (or
``--resume RUN_DIR``) into the same runs directory, so each writes an ordinary run directory,
and the sweep loop (core/sweeps/loop.py, ``parallel=N``) starts, records, stops and resumes it
as it does a run in its own process. :class:`ProcessRun` has the engine's face for the loop:
``execute`` starts the child and follows its run directory's files (core/following/session.py),
sending the child's events to the loop as they come; ``request_stop`` sends the child the signal
that stopped the sweep (Ctrl+C becomes SIGINT: it stops after its current batch and saves).

The children run in sessions of their own: a Ctrl+C in the terminal reaches the sweep alone,
which asks each child once (a second signal would make a child quit at once). If the sweep's
process dies, the kernel sends each child SIGTERM (Linux), which stops it gracefully too.

Each of the N slots gets its own devices through the environment: ``CUDA_VISIBLE_DEVICES``
splits the GPUs between the slots (a run with ``train.devices = "all"`` takes its slot's
GPUs); with more slots than GPUs the runs share them, and with no GPU each slot gets a share of
the CPU cores (its affinity and thread counts), with a warning: the runs share the machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import CifarTuiError
from core.events import Event
from core.following.protocol import (
    ENV_LOG,
    ENV_NOTE,
    OUTPUT_LOG,
    error_line,
    read_note,
    run_argv,
    signal_for,
)
from core.following.session import Ending, follow
from core.status import RunStatus
from core.storage import rundir

Listener = Callable[[Event], None]
POLL_SECONDS = 0.2
#: Environment variables that size a process's CPU thread pools.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS")


class ChildError(CifarTuiError):
    """A child that could not start its run (exit 2: missing data, a run another process
    holds): its one error line, which ends the sweep as the same error in-process would."""


# --- slots: which devices each run gets ------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One lane's share of the machine: environment changes and, on the CPU, its cores."""

    number: int
    env: dict[str, str] = field(default_factory=dict)
    cores: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        gpus = self.env.get("CUDA_VISIBLE_DEVICES")
        if gpus is not None:
            return f"GPU {gpus}"
        return f"CPU cores {','.join(map(str, self.cores))}" if self.cores else "the CPU"


def visible_gpus() -> list[str]:
    """The GPUs this process may use, without importing a framework: $CUDA_VISIBLE_DEVICES
    when it is set, else what nvidia-smi lists, else none."""
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is not None:
        return [g.strip() for g in named.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def _cores() -> list[int]:
    with contextlib.suppress(AttributeError, OSError):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def plan_slots(width: int, gpus: list[str] | None = None) -> tuple[list[Slot], str]:
    """``width`` slots and a warning ("" when each run has devices of its own)."""
    gpus = visible_gpus() if gpus is None else gpus
    if gpus:
        return _gpu_slots(width, gpus)
    cores = _cores()
    share = max(1, len(cores) // width)
    slots = []
    for number in range(width):
        mine = tuple(cores[(number * share + i) % len(cores)] for i in range(share))
        env = {name: str(share) for name in THREAD_VARIABLES}
        env["TF_NUM_INTEROP_THREADS"] = str(min(2, share))
        slots.append(Slot(number, env, mine))
    warning = (
        f"no GPU found: the {width} parallel runs share this machine's {len(cores)} CPU cores "
        f"({share} each{', some shared' if len(cores) < width else ''}); each trains slower "
        "than it would alone"
    )
    return slots, warning


def _gpu_slots(width: int, gpus: list[str]) -> tuple[list[Slot], str]:
    if len(gpus) >= width:
        per = len(gpus) // width
        groups = [gpus[i * per : (i + 1) * per] for i in range(width)]
        return [Slot(i, {"CUDA_VISIBLE_DEVICES": ",".join(g)}) for i, g in enumerate(groups)], ""
    # More runs than GPUs: they share them, so none may take a GPU's memory up front.
    shared = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    slots = [Slot(i, {"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)], **shared}) for i in range(width)]
    warning = (
        f"{width} parallel runs on {len(gpus)} GPU{'s' if len(gpus) > 1 else ''}: runs share "
        "a GPU (its memory and its time)"
    )
    return slots, warning


class SlotPool:
    """The free slots; a run takes one for as long as its process lives (any thread)."""

    def __init__(self, slots: list[Slot]):
        self._free = list(slots)
        self._lock = threading.Lock()

    def take(self) -> Slot:
        with self._lock:
            return self._free.pop(0)  # the loop never runs more runs than slots

    def give(self, slot: Slot) -> None:
        with self._lock:
            self._free.append(slot)
            self._free.sort(key=lambda s: s.number)


# --- one run in a child process ----------------------------------------------------------------


def _prctl() -> Any:
    """libc's prctl, looked up before any fork (a child only calls it)."""
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None, use_errno=True).prctl
    return None


PRCTL = _prctl() if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def _child_setup(cores: tuple[int, ...]) -> Callable[[], None]:
    """Run in the child between fork and exec: die gracefully with the sweep (SIGTERM when the
    thread that started it ends), and keep to the slot's cores. Two system calls, no more."""

    def setup() -> None:
        if PRCTL is not None:
            PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if cores:
            os.sched_setaffinity(0, cores)

    return setup


@dataclass
class _Files:
    """What one child is given and leaves: its profile file, its note and its early log."""

    log: Path
    profile: Path | None = None
    note: Path | None = None

    def temporary(self) -> list[Path]:
        return [p for p in (self.profile, self.note) if p is not None]


class ProcessRun:
    """A run trained by a child process, with the face the sweep loop expects of the engine's
    Run (``subscribe``, ``request_stop``, ``stop_requested``, ``stopped_by``, ``run_dir``,
    ``execute``)."""

    def __init__(
        self,
        runs_dir: Path,
        pool: SlotPool,
        *,
        profile: Any = None,
        run_dir: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        """A new run of ``profile``, or (``run_dir``) a resumed one."""
        self.runs_dir = Path(runs_dir)
        self.profile = profile
        self.run_dir = run_dir
        self.resumed = run_dir is not None
        self.python = python
        self.stopped_by = ""
        self.slot: Slot | None = None
        self.returncode: int | None = None
        self._pool = pool
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._signalled = False

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def request_stop(self, by: str = "user", reason: str = "") -> None:
        """Ask the child once, with the signal of ``by`` (any thread); a run not started yet
        never starts. ``reason``: a pruner's words, which the child's run cannot be told (its
        own message says the study pruned it)."""
        with self._lock:
            if not self._stop.is_set():
                self.stopped_by = by
            self._stop.set()
            child, signalled = self._child, self._signalled
            self._signalled = True
        if child is not None and not signalled and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal_for(by))

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # -- the child --------------------------------------------------------------------------------

    def execute(self) -> str:
        """Start the child on a free slot, send its events on as they come, and return how
        its run ended; a child that could not start its run raises its error (ChildError)."""
        slot = self.slot = self._pool.take()
        files = self._files()
        try:
            with self._lock:
                if self._stop.is_set():
                    return RunStatus.STOPPED
                self._child = self._spawn(slot, files)
            return self._follow(self._child, files)
        finally:
            self._pool.give(slot)
            for path in files.temporary():
                path.unlink(missing_ok=True)

    def argv(self, files: _Files) -> list[str]:
        """The ordinary command, as a user would type it."""
        if self.resumed:
            return run_argv(resume=self.run_dir, runs_dir=self.runs_dir, python=self.python)
        return run_argv(profile=files.profile, runs_dir=self.runs_dir, python=self.python)

    def _files(self) -> _Files:
        if self.resumed:
            assert self.run_dir is not None
            return _Files(self.run_dir / OUTPUT_LOG)
        from core.profiles import dump_profile

        base = self.runs_dir / f".parallel-{uuid.uuid4().hex[:12]}"
        files = _Files(
            base.with_suffix(".log"), base.with_suffix(".toml"), base.with_suffix(".run")
        )
        assert files.profile is not None
        rundir.atomic_write(files.profile, dump_profile(self.profile))
        return files

    def _spawn(self, slot: Slot, files: _Files) -> subprocess.Popen[bytes]:
        env = {**os.environ, **slot.env, "PYTHONUNBUFFERED": "1"}
        if files.note is not None:
            env[ENV_NOTE], env[ENV_LOG] = str(files.note), str(files.log)
        with rundir.open_log(files.log) as log:  # never through a link planted there
            return subprocess.Popen(
                self.argv(files),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # the terminal's Ctrl+C reaches the sweep alone
                preexec_fn=_child_setup(slot.cores),  # two system calls: fork-safe
            )

    def _follow(self, child: subprocess.Popen[bytes], files: _Files) -> str:
        """Follow the child's run (this session's, for a resumed one) until it exits; then how
        it ended."""
        ending = follow(
            lambda: self._find_run_dir(files),
            self._emit,
            lambda: child.poll() is not None,
            since=time.time() - 1.0,
            interval=POLL_SECONDS,
        )
        self.returncode = child.returncode
        return self._outcome(ending or Ending(), files)

    def _find_run_dir(self, files: _Files) -> Path | None:
        if self.run_dir is None:
            self.run_dir = read_note(files.note)
        return self.run_dir

    def _emit(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)

    def _outcome(self, ending: Ending, files: _Files) -> str:
        finished = ending.finished
        if finished is not None:
            if self.run_dir is not None and files.note is not None:
                files.log.unlink(missing_ok=True)  # moved into the run: a leftover is empty
            return finished.status
        if self.returncode == 2:
            raise ChildError(self._error_line(files))
        if self.stop_requested:  # stopped before its run opened: nothing of it was written
            if files.note is not None:
                files.log.unlink(missing_ok=True)
            return RunStatus.STOPPED
        return RunStatus.INTERRUPTED  # killed: its directory says what it had done

    def _error_line(self, files: _Files) -> str:
        """The child's one error line (the early log of a run that never opened goes)."""
        log = files.log
        if not log.exists() and self.run_dir is not None:
            log = self.run_dir / OUTPUT_LOG  # the child moved it there
        text = ""
        with contextlib.suppress(OSError):
            text = log.read_text(errors="replace")
        if files.note is not None and self.run_dir is None:
            files.log.unlink(missing_ok=True)
        said = error_line(text)
        if said is not None:
            return said
        return f"a run of the sweep exited with code 2 ({' '.join(self.argv(files)[1:])})"


class ProcessRuns:
    """The loop's ``make_run`` and ``resume_run`` for ``--parallel``: children on the slots."""

    def __init__(self, runs_dir: Path, slots: list[Slot], python: str = sys.executable):
        self.runs_dir = Path(runs_dir)
        self.pool = SlotPool(slots)
        self.python = python

    def make_run(self, profile: Any) -> ProcessRun:
        return ProcessRun(self.runs_dir, self.pool, profile=profile, python=self.python)

    def resume_run(self, run_dir: Path) -> ProcessRun:
        return ProcessRun(self.runs_dir, self.pool, run_dir=Path(run_dir), python=self.python)


def run_in_child(run: Any, listener: Listener) -> str:
    """The loop's ``execute`` for process runs: on the lane's own thread."""
    run.subscribe(listener)
    return run.execute()


def check_parallel(sweep: Any) -> None:
    """What cannot run in processes of their own: nothing now. A study's pruner, which runs in
    the sweep's process, stops a trial's child with PRUNE_SIGNAL (ProcessRun.request_stop),
    and the child's engine ends the run "pruned" (tui/cli/headless.py)."""
    del sweep
