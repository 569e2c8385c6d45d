"""The read side of a sweep directory: what its ``sweep.json`` says, read once, typed.

``core/sweeps/sweepdir.py`` writes the file while a sweep runs; every reader (``--compare``, the
console's sweep list, the study's report, a sweep reopened) asks here instead of parsing the JSON
itself, so a torn or hand-edited file reads one way everywhere: fields of the wrong type are
left out, never trusted. Nothing here imports the writer, the study or the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import RunDirError
from core.storage.rundir import read_json

SWEEP_FILE = "sweep.json"
SWEEPS_FOLDER = "sweeps"


@dataclass(frozen=True)
class SweepFileRun:
    """One run as sweep.json names it; ``run_dir`` is None until the run was started."""

    index: int
    label: str
    status: str
    run_dir: Path | None
    started: float | None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepFile:
    """A sweep directory's ``sweep.json``, read."""

    path: Path  # the sweep directory
    name: str
    status: str
    command: str
    runs: tuple[SweepFileRun, ...]
    search: dict[str, Any] | None  # a study's settings and best trial; None for a grid or list
    raw: dict[str, Any]

    @property
    def run_dirs(self) -> list[Path]:
        """The run directories it names that exist, in sweep order (moved ones found again)."""
        runs_dir = self.path.resolve().parent.parent
        found = []
        for run in self.runs:
            if run.run_dir is not None:
                located = locate(run.run_dir, runs_dir)
                if located.is_dir():
                    found.append(located)
        return found


def is_sweep_dir(path: Path) -> bool:
    return (path / SWEEP_FILE).is_file()


def read_sweep_file(path: Path) -> SweepFile:
    """The sweep directory's sweep.json; RunDirError when it cannot be read or is not a table."""
    try:
        data = read_json(path / SWEEP_FILE)  # a regular file, capped, nesting-safe
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path / SWEEP_FILE} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path / SWEEP_FILE} cannot be read: not a JSON object")
    runs = tuple(_run(r) for r in data.get("runs") or [] if isinstance(r, dict))
    search = data.get("search") if isinstance(data.get("search"), dict) else None
    return SweepFile(
        path,
        str(data.get("name", path.name)),
        str(data.get("status", "?")),
        str(data.get("command") or ""),
        runs,
        search,
        data,
    )


def try_read_sweep_file(path: Path) -> SweepFile | None:
    """As :func:`read_sweep_file`, None where it cannot be read (a list that shows "-")."""
    try:
        return read_sweep_file(path)
    except RunDirError:
        return None


def _run(run: dict[str, Any]) -> SweepFileRun:
    index = run.get("index")
    started = run.get("started")
    overrides = run.get("overrides")
    return SweepFileRun(
        index if isinstance(index, int) and not isinstance(index, bool) else 0,
        str(run.get("label", "")),
        str(run.get("status", "pending")),
        Path(run["run_dir"]) if isinstance(run.get("run_dir"), str) and run["run_dir"] else None,
        _seconds(started),
        overrides if isinstance(overrides, dict) else {},
    )


def _seconds(value: Any) -> float | None:
    """A time stamp, or None: a bool, a string or a number too large for a float is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def locate(run_dir: Path, runs_dir: Path) -> Path:
    """A recorded run directory; if the runs directory was moved, look for it by name."""
    if run_dir.is_dir():
        return run_dir
    moved = runs_dir / run_dir.name
    return moved if moved.is_dir() else run_dir


def sweep_run_dirs(path: Path) -> list[Path]:
    """The run directories a sweep directory names that exist, in sweep order."""
    return read_sweep_file(path).run_dirs
