"""May this run be resumed, and with what: the one answer the engine, the console and the
command line share.

A run resumes from its last finished epoch whatever ended it, except: one that completed (nothing
is left), one still running in another process, one killed before it saved its profile (start it
again), and one that diverged, unless ``--set train.learning_rate`` gives it a new rate (the
same rate would diverge again). A resume's ``--set`` may change only RESUME_KEYS: the
checkpoint fixes everything else.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from core.config import Profile
from core.errors import CifarTuiError, RunDirError
from core.profiles import Layer, overrides_layer, parse_override, read_toml, resolve
from core.status import RESUMES_AS_IS, RunStatus
from core.storage import rundir

#: The settings ``--resume RUN --set`` may change: the checkpoint fixes everything else.
RESUME_KEYS = ("train.learning_rate",)
# RESUMES_AS_IS (core/status.py): the statuses (as read back: "interrupted" for a killed run)
# that ``plan_resume`` accepts with no ``--set``: not "completed" (nothing is left), "diverged"
# (it needs a new rate), "running" (another process trains it) or "pending".
# tests/test_resume_policy.py holds the two to the same answer.


def resumes_as_is(status: str) -> bool:
    """Whether a run read back as ``status`` resumes with no ``--set``: ``plan_resume``'s rule
    by the status alone, for a screen that has the status and must not read files to offer r
    (the rest, a run killed before it saved its profile, is said when r is pressed)."""
    return RunStatus.parse(status) in RESUMES_AS_IS


@dataclass(frozen=True)
class ResumePlan:
    """What a resumed run continues with: its directory, its profile (``--set`` laid over the
    saved one), those ``--set`` items, and the command that started it."""

    run_dir: Path
    record: rundir.RunRecord
    profile: Profile
    overrides: tuple[str, ...]
    command: str | None


def plan_resume(run_dir: Path | str, overrides: list[str] | tuple[str, ...] = ()) -> ResumePlan:
    """The plan to resume ``run_dir``; raises RunDirError (or ProfileError for a bad ``--set``)
    saying why it cannot be resumed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    rundir.refuse_links(run_dir)  # before anything is read or loaded: one line, at once
    if rundir.is_live(run_dir):
        raise RunDirError(f"{run_dir} is still running in another process")
    if not (run_dir / "profile.toml").exists():
        raise RunDirError(
            f"{run_dir} has no profile.toml: it is not a run directory, or its run was killed "
            "before it saved anything (start it again with --run)"
        )
    record = rundir.load_run(run_dir)
    if record.status == RunStatus.COMPLETED:
        raise RunDirError(f"{run_dir} is already completed; nothing to resume")
    profile = _resumed_profile(run_dir, overrides)
    if record.status == RunStatus.DIVERGED:
        _check_new_learning_rate(run_dir, record, profile)
    command = record.report.get("command") or None
    return ResumePlan(run_dir, record, profile, tuple(overrides), command)


def why_not_resume(run_dir: Path | str, overrides: list[str] | tuple[str, ...] = ()) -> str | None:
    """Why ``run_dir`` cannot be resumed (one line), or None when it can."""
    try:
        plan_resume(run_dir, overrides)
    except CifarTuiError as exc:
        return str(exc)
    return None


def _resumed_profile(run_dir: Path, overrides: list[str] | tuple[str, ...]) -> Profile:
    """The run's saved profile with a resume's ``--set`` laid over it (RESUME_KEYS only)."""
    for item in overrides:
        key, _ = parse_override(item)
        if key not in RESUME_KEYS:
            raise RunDirError(
                f"--resume takes --set only for {', '.join(RESUME_KEYS)}, not {key}: the run's "
                "other settings are fixed by its checkpoint (start a new run with --run instead)"
            )
    path = run_dir / "profile.toml"
    layers = [Layer(str(path), read_toml(path).raw)]
    if overrides:
        layers.append(overrides_layer(list(overrides)))
    return resolve(layers, check_data=False)


def _check_new_learning_rate(run_dir: Path, record: rundir.RunRecord, profile: Profile) -> None:
    """A diverged run resumed at the rate it diverged with would diverge again."""
    before = ((record.report.get("profile") or {}).get("train") or {}).get("learning_rate")
    if before is not None and profile.train.learning_rate != before:
        return
    error = record.error_message
    why = f" ({error.split('. Try')[0]})" if error else ""
    rate = profile.train.learning_rate
    raise RunDirError(
        f"{run_dir} diverged{why}; resumed at the same learning rate it would diverge again. "
        f"Give it a lower one: cifar-tui --resume {shlex.quote(str(run_dir))} "
        "--set train.learning_rate="
        f"{rate / 10:g} (now {rate:g})"
    )
