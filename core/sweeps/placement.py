"""Where a sweep's runs train: here (one after another), in N processes at once
(core/sweeps/parallel.py), or as Slurm jobs (core/sweeps/slurm.py). Both fronts ask
:func:`place_sweep` and hand what it gives to their :class:`~core.sweeps.loop.SweepLoop`, so the
command line and the console place a sweep one way.

The process and Slurm modules are imported only when asked for (and looked up on their module
at call time: tests stand in for their parts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.sweeps.reader import Sweep
from core.sweeps.sweepfile import SWEEPS_FOLDER

#: --slurm's flags, by the [slurm] keys they override.
SLURM_KEYS = ("partition", "gpus_per_run", "time_limit", "array_parallelism")


@dataclass
class Placement:
    """How the loop runs the sweep's runs. ``make_run``/``resume_run`` None: the engine's Run,
    in the loop's own thread (``parallel`` 1) or on its lane threads."""

    parallel: int = 1
    make_run: Callable[[Any], Any] | None = None
    resume_run: Callable[[Path], Any] | None = None
    #: The flags that run it this way again, kept in the sweep's command (``--parallel 2``).
    extra: list[str] = field(default_factory=list)
    note: str = ""  # one line saying where the runs go ("" when here)
    warning: str = ""  # the slots are fewer, or share a device (core/sweeps/parallel.py)
    #: Runs the loop still has to run, once it exists (a Slurm array's size).
    _bind: Callable[[Any], None] | None = None

    def bind(self, loop: Any) -> None:
        """Tell the placement its loop (a Slurm array counts the runs left with it)."""
        if self._bind is not None:
            self._bind(loop)


def place_sweep(
    sweep: Sweep,
    runs_dir: Path,
    parallel: int = 1,
    slurm: Mapping[str, Any] | None = None,
) -> Placement:
    """The placement for ``--parallel N`` (``parallel``) or ``--slurm`` (``slurm``: its flags,
    by SLURM_KEYS; None for no Slurm). Raises CifarTuiError for a sweep that cannot be placed
    so (submitit missing, a study with processes it cannot share, a bad [slurm] table)."""
    if slurm is not None:
        return _on_slurm(sweep, runs_dir, slurm)
    if parallel <= 1:
        return Placement()
    return _in_processes(sweep, runs_dir, parallel)


def _in_processes(sweep: Sweep, runs_dir: Path, parallel: int) -> Placement:
    from core.sweeps import parallel as processes

    processes.check_parallel(sweep)
    slots, warning = processes.plan_slots(parallel)
    runs = processes.ProcessRuns(runs_dir, slots)
    return Placement(
        parallel,
        runs.make_run,
        runs.resume_run,
        extra=["--parallel", str(parallel)],
        note=f"parallel: up to {parallel} runs at once, each a process of its own on "
        + " | ".join(slot.label for slot in slots)
        + "; each run's output is in its run directory's output.log",
        warning=warning or "",
    )


def _on_slurm(sweep: Sweep, runs_dir: Path, flags: Mapping[str, Any]) -> Placement:
    """The runs left as one job array, a study's trials as a job each."""
    from core.sweeps.slurm import SlurmRuns, read_settings, require_submitit

    require_submitit()  # without it: how to install it, exit 2
    flags = {k: flags.get(k) for k in SLURM_KEYS}
    settings = read_settings(sweep.path, flags)
    study = sweep.search is not None  # its trials: a job each, as many at once as allowed
    folder = runs_dir / SWEEPS_FOLDER / sweep.dir_name
    runs = SlurmRuns(runs_dir, folder, settings, sweep.name, study=study)
    width = (settings.array_parallelism or sweep.search.trials) if study else len(sweep.runs)

    def bind(loop: Any) -> None:
        runs.count = loop.runs_left

    what = "a job per trial" if study else "one job array"
    return Placement(
        # every run left is submitted at once; a study's trials, as many as allowed
        width if study else max(2, width),
        runs.make_run,
        runs.resume_run,
        extra=["--slurm"] + [f"--{k.replace('_', '-')}={v}" for k, v in flags.items() if v],
        note=f"slurm: {what} ({settings.describe()}); its files in {runs.folder}",
        _bind=bind,
    )
