"""The run directory's low-level layer: atomic and append-only files, the lock, and the read side.

Every file is either append-only (``events.jsonl``, ``history.csv``) or replaced atomically
(write a temporary file, then rename): a run killed at any moment leaves every finished epoch
readable. A run holds an exclusive lock on ``.lock`` while it trains, so a reader can tell a live
run from one that was killed (``report.json`` still says "running"). One class writes a run's
files with these, ``core.storage.recorder.RunRecorder``; every reader (the runs screen,
``--compare``, sweeps, resume) reads them back with ``load_run`` and ``list_runs``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import RunDirError
from core.status import RunStatus

SCHEMA = "cifar-tui/run-report/1"
HISTORY_FIELDS = ("epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
MIN_FREE_BYTES = 64 * 1024 * 1024
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, text: str | bytes) -> None:
    """Replace ``path`` in one step: readers see the old file or the new one, never half."""
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_writable(runs_dir: Path, need_bytes: int = 0) -> None:
    """Fail before training, with a clear message, if runs cannot be saved under ``runs_dir``."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=runs_dir, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunDirError(f"cannot write runs to {runs_dir}: {exc.strerror or exc}") from None
    free = shutil.disk_usage(runs_dir).free
    need = MIN_FREE_BYTES + need_bytes
    if free < need:
        raise RunDirError(
            f"not enough free disk space in {runs_dir}: {free / 1e6:.0f} MB free, "
            f"a run of this model needs about {need / 1e6:.0f} MB"
        )


def new_run_dir(runs_dir: Path, name: str) -> Path:
    """``runs/<YYYYmmdd-HHMMSS>-<name>``, with a suffix if that second is already taken."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        candidate = runs_dir / (f"{stamp}-{name}" if n == 0 else f"{stamp}-{name}-{n + 1}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise RunDirError(f"cannot create a unique run directory in {runs_dir}")


class RunLock:
    """An flock on ``<run>/.lock`` held for as long as the run trains in this process."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self._fh: Any = None

    def acquire(self) -> None:
        import fcntl

        self._fh = open(self.path, "a+")  # noqa: SIM115 - held open for the run's lifetime
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            self._fh = None
            raise RunDirError(f"{self.path.parent} is being trained by another process") from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(str(os.getpid()))
        self._fh.flush()

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def is_live(run_dir: Path) -> bool:
    """True while some process (this one included) holds the run's lock."""
    import fcntl

    lock = run_dir / ".lock"
    if not lock.exists():
        return False
    with open(lock) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


class EventLog:
    """``events.jsonl``: one JSON object per line, flushed as each event happens."""

    def __init__(self, path: Path):
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, default=_json_default) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def clean_float(value: Any) -> float | None:
    """JSON has no NaN: non-finite numbers are written as null."""
    if value is None:
        return None
    value = float(value)
    return float(f"{value:.8g}") if math.isfinite(value) else None


def append_history(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)
        fh.flush()
        os.fsync(fh.fileno())


def read_history(path: Path) -> list[dict[str, Any]]:
    """Finished epochs from ``history.csv``; a torn last line (killed mid-write) is skipped."""
    if not path.exists():
        return []
    rows = []
    text = path.read_text(encoding="utf-8", errors="replace")
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    for raw in csv.DictReader(io.StringIO(complete)):
        try:
            row = {k: (int(raw[k]) if k == "epoch" else _num(raw[k])) for k in HISTORY_FIELDS}
        except (KeyError, TypeError, ValueError):
            continue
        rows.append(row)
    return rows


def _num(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    return float(text)


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write(path, buf.getvalue())


def timing(epochs: list[dict[str, Any]], total_seconds: float | None) -> dict[str, Any]:
    seconds = [e["seconds"] for e in epochs if e.get("seconds") is not None]
    steady = seconds[1:] or seconds
    return {
        "total_seconds": round(total_seconds, 3) if total_seconds is not None else None,
        "first_epoch_seconds": round(seconds[0], 3) if seconds else None,
        "median_epoch_seconds": round(statistics.median(steady), 3) if steady else None,
    }


@dataclass
class RunRecord:
    """A run as read back from its directory, for the console's runs screen and --compare."""

    path: Path
    report: dict[str, Any]
    epochs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The report's status ("unknown" when it has none); a report that says running while
        no process holds the lock is a killed run: interrupted (core/status.py)."""
        status = RunStatus.parse(self.report.get("status")) or self.report.get("status", "unknown")
        if status == RunStatus.RUNNING and not is_live(self.path):
            return RunStatus.INTERRUPTED
        return status

    @property
    def name(self) -> str:
        return self.report.get("profile", {}).get("name", self.path.name)

    @property
    def architecture(self) -> str:
        return self.report.get("profile", {}).get("model", {}).get("architecture", "?")

    @property
    def best_val_accuracy(self) -> float | None:
        values = [e["val_accuracy"] for e in self.epochs if e.get("val_accuracy") is not None]
        return max(values) if values else None

    @property
    def test_accuracy(self) -> float | None:
        return (self.report.get("test") or {}).get("accuracy")

    @property
    def seconds_per_epoch(self) -> float | None:
        return timing(self.epochs, None)["median_epoch_seconds"]

    @property
    def input_bound_percent(self) -> float | None:
        return (self.report.get("input_pipeline") or {}).get("input_bound_percent")

    @property
    def params(self) -> int | None:
        return (self.report.get("model") or {}).get("params_total")


def load_run(run_dir: Path) -> RunRecord:
    """Read a run from its files alone; a missing or torn report falls back to history.csv."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is not a run directory")
    report: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    if not report and not (run_dir / "history.csv").exists():
        raise RunDirError(f"{run_dir} has no report.json or history.csv: not a cifar-tui run")
    history = read_history(run_dir / "history.csv")
    epochs = report.get("epochs") or []
    if len(history) > len(epochs):
        epochs = history
    if not report.get("profile"):
        with contextlib.suppress(Exception):
            from core.profiles import read_toml

            report["profile"] = read_toml(run_dir / "profile.toml").raw
        report.setdefault("status", RunStatus.RUNNING)
    return RunRecord(run_dir, report, epochs)


def list_runs(runs_dir: Path) -> list[RunRecord]:
    """Every readable run under ``runs_dir``, newest first."""
    if not runs_dir.is_dir():
        return []
    runs = []
    for child in sorted(runs_dir.iterdir(), reverse=True):
        if child.is_dir() and (
            (child / "report.json").exists() or (child / "history.csv").exists()
        ):
            with contextlib.suppress(RunDirError):
                runs.append(load_run(child))
    return runs
