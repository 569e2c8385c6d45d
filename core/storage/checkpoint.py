"""A run's checkpoint: the weights of its last two finished epochs, and the state naming them.

::

    checkpoint/
      epoch-0003.weights.h5   the latest epoch's weights and optimizer state (save_weights)
      epoch-0002.weights.h5   the epoch before: a torn latest file then costs one epoch
      state.json              {"epoch": 3, "weights": "epoch-0003.weights.h5", "row": {...},
                               extras (ReduceLROnPlateau's counters, the random generators),
                               "previous": {the same for epoch 2}}

Saving writes the weights under a temporary name and renames them, then replaces state.json,
then removes weights older than the previous epoch's: a kill at any moment leaves a state that
names files that exist. Free space is checked first against the largest weights file (or the
caller's estimate), so a full disk is one clear DiskFull line, not an error deep inside h5py.
Loading tries the latest epoch, then the previous one, then (state.json unreadable) each
weights file whose history row is known, newest first.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import RunDirError
from core.storage.rundir import DiskFull, atomic_write, disk_guard, read_state, valid_state

#: ``save(path)`` / ``load(path)``: write or read the model's weights (and optimizer state).
WeightsIO = Callable[[Path], None]
STATE = "state.json"
WEIGHTS = re.compile(r"epoch-(\d+)\.weights\.h5")
#: Room asked for beyond the weights' size: state.json, the history row, the report.
SPACE_MARGIN_BYTES = 1_000_000


def weights_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}.weights.h5"


def save(
    directory: Path,
    save_weights: WeightsIO,
    row: dict[str, Any],
    extra: dict[str, Any] | None = None,
    need_bytes: int = 0,
) -> None:
    """Save the epoch ``row`` finished (see the module's docstring for the order)."""
    epoch = row["epoch"]
    what = f"epoch {epoch}'s checkpoint"
    with disk_guard(what, directory.parent):
        directory.mkdir(exist_ok=True)
        _check_space(directory, need_bytes, what)
        weights = directory / weights_name(epoch)
        _write_weights(save_weights, directory / f".tmp-{epoch:04d}.weights.h5", weights)
        state = {"epoch": epoch, "weights": weights.name, "row": row, **(extra or {})}
        previous = _current(directory)
        if previous is not None and previous["epoch"] < epoch:
            state["previous"] = {k: v for k, v in previous.items() if k != "previous"}
        atomic_write(directory / STATE, json.dumps(state))
    keep = {weights.name, state.get("previous", {}).get("weights")}
    for old in directory.glob("epoch-*.weights.h5"):
        if old.name not in keep:
            old.unlink(missing_ok=True)


def _check_space(directory: Path, need_bytes: int, what: str) -> None:
    """DiskFull before writing when the weights would not fit (the last ones' size, or the
    caller's estimate for the first)."""
    sizes = [p.stat().st_size for p in directory.glob("epoch-*.weights.h5")]
    need = max([need_bytes, *sizes]) + SPACE_MARGIN_BYTES
    free = shutil.disk_usage(directory).free
    if free < need:
        raise DiskFull(
            f"disk full while saving {what}: {free / 1e6:.0f} MB free on {directory.parent}, "
            f"about {need / 1e6:.0f} MB needed"
        )


def _write_weights(save_weights: WeightsIO, tmp: Path, weights: Path) -> None:
    """Weights under ``tmp``, renamed to ``weights`` once whole; never a temporary file left."""
    try:
        save_weights(tmp)
        tmp.replace(weights)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _current(directory: Path) -> dict[str, Any] | None:
    try:
        return read_state(directory / STATE)
    except ValueError:
        return None


def load(
    directory: Path, load_weights: WeightsIO, rows: dict[int, dict[str, Any]]
) -> tuple[dict[str, Any] | None, list[str]]:
    """Load the newest checkpoint that loads, with ``load_weights``. ``rows``: the history rows
    the run's files hold, by epoch. Returns the state loaded (None when no epoch had finished)
    and warnings to show; raises RunDirError naming each file that failed when none loads."""
    candidates, notes = _candidates(directory, rows)
    failures: list[str] = []
    for state in candidates:
        path = directory / state["weights"]
        try:
            load_weights(path)
        except Exception as exc:  # h5py and Keras raise many kinds for a torn file
            failures.append(f"{path} cannot be loaded ({_reason(exc)})")
            continue
        if failures:
            notes += [
                f"{failure}: resumed from epoch {state['epoch']}'s checkpoint instead, and the "
                "epochs after it are trained again"
                for failure in failures
            ]
        if failures or notes:  # state.json names what was loaded from now on
            atomic_write(directory / STATE, json.dumps(state))
        return state, notes
    if failures:
        raise RunDirError("cannot resume: " + "; ".join(failures) + ", and no earlier one loads")
    if rows:
        raise RunDirError(
            f"cannot resume: {directory} holds no checkpoint to go on from epoch {max(rows)}"
        )
    return None, notes


def _candidates(
    directory: Path, rows: dict[int, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The states to try, newest first, and a warning when state.json could not be used."""
    try:
        state = read_state(directory / STATE)
    except ValueError as exc:
        note = (
            f"{exc}: resumed from the newest weights file that loads, without its "
            "ReduceLROnPlateau counters and random generators"
        )
        return _scanned(directory, rows), [note]
    if state is None:
        return _scanned(directory, rows), []
    previous = state.get("previous")
    return [state, *([previous] if valid_state(previous) else [])], []


def _scanned(directory: Path, rows: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """A state for each weights file whose epoch has a known history row, newest first."""
    found = []
    for path in directory.glob("epoch-*.weights.h5"):
        match = WEIGHTS.fullmatch(path.name)
        if match and int(match.group(1)) in rows:
            epoch = int(match.group(1))
            found.append({"epoch": epoch, "weights": path.name, "row": rows[epoch]})
    return sorted(found, key=lambda state: state["epoch"], reverse=True)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
