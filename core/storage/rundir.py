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
import errno
import io
import json
import math
import os
import shutil
import stat
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import EXIT_FAILED, RunDirError
from core.safe_files import NotRegular, links_among, open_nofollow, read_regular
from core.status import RunStatus
from core.storage.repair import check_report, check_rows
from core.system_metrics import SYSTEM_FIELDS

SCHEMA = "cifar-tui/run-report/1"
HISTORY_FIELDS = ("epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
#: history.csv's columns: a row's fields, then its epoch's system figures (core/system_metrics;
#: a row's "system"), empty where none were read. Older files without them still read, and a
#: resumed run's file is rewritten with them before its next row.
CSV_FIELDS = HISTORY_FIELDS + SYSTEM_FIELDS
MIN_FREE_BYTES = 64 * 1024 * 1024
_UMASK = os.umask(0)
os.umask(_UMASK)


class DiskFull(RunDirError):
    """A write failed for want of space: the run ends "failed" with this one line (exit 1)."""

    exit_code = EXIT_FAILED


#: The errors of a full disk (ENOSPC) or an exhausted quota (EDQUOT).
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def free_mb(path: Path) -> str:
    """Free space on ``path``'s filesystem in whole MB ("?" when even that cannot be read)."""
    try:
        return f"{shutil.disk_usage(path).free / 1e6:.0f}"
    except OSError:
        return "?"


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC or EDQUOT, also as h5py reports it (an OSError whose text says so)."""
    if not isinstance(exc, OSError):
        return False
    return exc.errno in FULL_ERRNOS or "No space left on device" in str(exc)


@contextlib.contextmanager
def disk_guard(what: str, where: Path) -> Iterator[None]:
    """Turn a full disk while saving ``what`` into one line naming it and the space left."""
    try:
        yield
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        message = f"disk full while saving {what}: {free_mb(where)} MB free on {where}"
        raise DiskFull(message) from None


def atomic_write(path: Path, text: str | bytes, sync: bool = True) -> None:
    """Replace ``path`` in one step: readers see the old file or the new one, never half."""
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
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
        blocker = _file_in_the_way(runs_dir)
        if blocker is not None:
            what = "it is" if blocker == runs_dir else f"{blocker} is"
            reason = f"{what} a file, not a directory"
        elif is_disk_full(exc):
            reason = f"the disk is full ({free_mb(_existing(runs_dir))} MB free)"
        else:
            reason = exc.strerror or str(exc)
        raise RunDirError(f"cannot write runs to {runs_dir}: {reason}") from None
    free = shutil.disk_usage(runs_dir).free
    need = MIN_FREE_BYTES + need_bytes
    if free < need:
        raise RunDirError(
            f"not enough free disk space in {runs_dir}: {free / 1e6:.0f} MB free, "
            f"a run of this model needs about {need / 1e6:.0f} MB"
        )


def _file_in_the_way(path: Path) -> Path | None:
    """``path`` or the first of its parents that exists as something other than a directory."""
    for candidate in [path, *path.parents]:
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent: where free space can be measured."""
    return next((p for p in [path, *path.parents] if p.exists()), Path("/"))


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

        try:  # never through a link, never blocked on a FIFO put where the lock should be
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        except NotRegular as exc:
            raise RunDirError(str(exc)) from None
        self._fh = os.fdopen(fd, "a+")  # held open for the run's lifetime
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
    try:  # a link or a FIFO is no run's lock: no process trains through it (and no hang)
        fd = open_nofollow(lock, os.O_RDONLY)
    except OSError:
        return False
    with os.fdopen(fd) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def ends_torn(path: Path) -> bool:
    """Whether ``path`` holds text whose last line was cut short (a kill, a full disk)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO: nothing to read, never wait
            return False
        if fh.seek(0, os.SEEK_END) == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class EventLog:
    """``events.jsonl``: one JSON object per line, written as each event happens. A line cut
    short (by a kill, or a full disk) is closed off, so the next event starts on a line of its
    own and every line but that one still reads."""

    def __init__(self, path: Path):
        self._fd = open_appending(path)
        self._torn = ends_torn(path)

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=_json_default) + "\n").encode()
        data = b"\n" + line if self._torn else line
        self._torn = True  # until the whole line is written
        _write_all(self._fd, data)
        self._torn = False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_events(path: Path) -> list[dict[str, Any]]:
    """``events.jsonl``'s records, skipping a line cut short or otherwise unreadable."""
    records = []
    with contextlib.suppress(OSError):
        for line in read_text(path).splitlines():
            with contextlib.suppress(ValueError):
                record = parse_json(line)
                if isinstance(record, dict) and isinstance(record.get("type"), str):
                    records.append(record)
    return records


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


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """A history row as history.csv's columns: its "system" figures flattened beside it."""
    return {**row, **(row.get("system") or {})}


def _old_header(path: Path) -> bool:
    """Whether ``path`` starts with another header than CSV_FIELDS (an older file)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.readline().rstrip("\r\n") != ",".join(CSV_FIELDS)


def append_history(path: Path, row: dict[str, Any]) -> None:
    """One row more, flushed to the disk; after a line cut short, on a line of its own. An
    older file (without the system columns) is first rewritten, atomically, with them."""
    new = not path.exists() or path.stat().st_size == 0
    if not new and _old_header(path):
        write_history(path, [*scan_history(path).rows, row])
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    if new:
        writer.writeheader()
    writer.writerow(_csv_row(row))
    text = ("\n" if not new and ends_torn(path) else "") + buf.getvalue()
    fd = open_appending(path)
    try:
        _write_all(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def open_log(path: Path) -> Any:
    """A log a child process writes (``output.log``), appended to in binary, never through a
    link: RunDirError naming it otherwise."""
    return os.fdopen(open_appending(path), "ab")


#: Most a file of a run read back may hold: a damaged or planted file beyond it reads as
#: damaged instead of filling memory (a run of 100,000 epochs writes some 50 MB of events).
MAX_READ_BYTES = 512 * 1024 * 1024


def read_text(path: Path, limit: int = MAX_READ_BYTES) -> str:
    """A run's file as text, the way every reader takes it: a regular file only (a FIFO planted
    in a shared runs directory is refused at once, never waited on), at most ``limit`` bytes.
    OSError (FileNotFoundError for a missing one) as ``Path.read_text`` raises it."""
    return read_regular(path, limit, "a file a run writes").decode("utf-8", errors="replace")


def parse_json(text: str | bytes) -> Any:
    """``json.loads`` whose every failure is a ValueError: JSON nested thousands deep raises
    RecursionError, which the readers' ``except ValueError`` would let through as a traceback."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def read_json(path: Path, limit: int = MAX_READ_BYTES) -> Any:
    """A run's (or sweep's) JSON file: a regular file, capped, its failures OSError/ValueError."""
    return parse_json(read_text(path, limit))


def open_appending(path: Path) -> int:
    """An append-only file of the run, never through a link (its target would be appended to)."""
    try:
        return open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except NotRegular as exc:
        raise RunDirError(str(exc)) from None


@dataclass
class History:
    """``history.csv`` as read: its valid rows, and how many lines were not (garbage)."""

    rows: list[dict[str, Any]]
    garbage: int = 0


def scan_history(path: Path) -> History:
    """Finished epochs from ``history.csv``. A line cut short (killed mid-write), a row that is
    not numbers, or an epoch out of order is garbage: left out and counted."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        return History([])
    except OSError:  # a FIFO, a device, unreadable: no rows (load_run says why elsewhere)
        return History([], 1)
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    parsed, bad = [], int(len(complete) < len(text))
    for raw in csv.DictReader(io.StringIO(complete)):
        try:
            row = {k: (int(raw[k]) if k == "epoch" else _num(raw[k])) for k in HISTORY_FIELDS}
        except (KeyError, TypeError, ValueError):
            bad += 1
            continue
        system = _system_cells(raw)
        if system is not None:
            row["system"] = system
        parsed.append(row)
    rows, dropped = check_rows(parsed)
    return History(rows, bad + dropped)


def read_history(path: Path) -> list[dict[str, Any]]:
    """Finished epochs from ``history.csv``, garbage left out (``scan_history``)."""
    return scan_history(path).rows


def _system_cells(raw: dict[str, Any]) -> dict[str, float | None] | None:
    """A row's system figures (None when it has none: an older file, or nothing was read);
    a cell that is not a number reads as empty."""
    cells: dict[str, float | None] = {}
    for key in SYSTEM_FIELDS:
        try:
            cells[key] = _num(raw.get(key))
        except (TypeError, ValueError):
            cells[key] = None
    return cells if any(v is not None for v in cells.values()) else None


def _num(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    return float(text)


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(_csv_row(row))
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
    #: What is wrong with the run's files, each in words (empty for an intact run).
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The report's status; a report that says running while no process holds the lock is
        a killed run: interrupted (core/status.py), and resumable. ``load_run`` reads a status
        it cannot use as running (and says so in ``problems``)."""
        status = RunStatus.parse(self.report.get("status")) or self.report.get("status", "unknown")
        if status == RunStatus.RUNNING and not is_live(self.path):
            return RunStatus.INTERRUPTED
        return status

    @property
    def stopped_by(self) -> str:
        """Who stopped a stopped run ("user", "SIGTERM"...; report.json's ``stop``), or ""."""
        stop = self.report.get("stop")
        by = stop.get("by") if isinstance(stop, dict) else ""
        return by if isinstance(by, str) and self.status == RunStatus.STOPPED else ""

    @property
    def damage(self) -> str:
        """The problems in one line ("" when there are none)."""
        return "; ".join(self.problems)

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
        """The median epoch after the first; None for a run of one epoch (a trial pruned
        after it), whose only epoch compiled the model and says nothing of the steady rate."""
        if len([e for e in self.epochs if e.get("seconds") is not None]) < 2:
            return None
        return timing(self.epochs, None)["median_epoch_seconds"]

    @property
    def input_bound_percent(self) -> float | None:
        return (self.report.get("input_pipeline") or {}).get("input_bound_percent")

    @property
    def params(self) -> int | None:
        return (self.report.get("model") or {}).get("params_total")

    # What the fronts used to dig out of the report by hand; a field of the wrong type reads
    # as missing.

    def _profile_table(self, table: str) -> dict[str, Any]:
        profile = self.report.get("profile")
        value = profile.get(table) if isinstance(profile, dict) else None
        return value if isinstance(value, dict) else {}

    @property
    def planned_epochs(self) -> int | None:
        """The epochs its profile asks for (None when the report does not say)."""
        epochs = self._profile_table("train").get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    @property
    def input_size(self) -> int | None:
        """The model's input size in pixels (None when the report does not say)."""
        size = self._profile_table("model").get("input_size")
        return size if isinstance(size, int) and not isinstance(size, bool) else None

    @property
    def error_message(self) -> str:
        """Why the run failed or diverged, as its report says ("" when it says nothing)."""
        error = self.report.get("error")
        return str(error.get("message") or "") if isinstance(error, dict) else ""


#: The files a run writes first: a directory holding any of them is a run, however early it was
#: killed (``.lock`` and ``profile.toml`` come before everything else).
RUN_FILES = ("report.json", "history.csv", "profile.toml", "events.jsonl", ".lock")
#: The code of the warning ``load_run`` adds to a damaged run's report (never written).
DAMAGED = "damaged"


#: Every name a run writes under its directory: none of them may be a link (a write through it
#: would land outside the run directory), checked before a run directory is opened.
OWN_NAMES = (
    *RUN_FILES,
    "report.md",
    "progress.json",
    "model_summary.txt",
    "model.keras",
    "output.log",
    "checkpoint",
    "tensorboard",
    "checkpoint/state.json",
)


def refuse_links(run_dir: Path) -> None:
    """RunDirError naming the first of the run's own files that is a link (or a FIFO, a
    device): a shared runs directory may hold anything, and a write must not follow it."""
    found = links_among(Path(run_dir), OWN_NAMES)
    checkpoint = Path(run_dir) / "checkpoint"
    if not found and checkpoint.is_dir() and not checkpoint.is_symlink():
        names = tuple(p.name for p in checkpoint.iterdir() if p.name.endswith(".h5"))
        found = links_among(checkpoint, names)
    if found:
        raise RunDirError(found[0])


def looks_like_run(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RUN_FILES)


def load_run(run_dir: Path) -> RunRecord:
    """Read a run from its files alone, whatever a kill, a full disk or a hand edit left: a
    missing, torn or misshapen report falls back to history.csv and profile.toml, and what was
    wrong is kept in ``problems`` and shown among the report's warnings."""
    run_dir = Path(run_dir)
    if not looks_like_run(run_dir):
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir} is not a run directory")
        raise RunDirError(
            f"{run_dir} has no report.json, history.csv or profile.toml: not a cifar-tui run"
        )
    report, problems = _read_report(run_dir / "report.json")
    history = scan_history(run_dir / "history.csv")
    if history.garbage:
        problems.append(f"history.csv has {history.garbage} unreadable line(s), left out")
    epochs = report["epochs"]
    if len(history.rows) > len(epochs):
        epochs = history.rows
    if not report["profile"]:
        report["profile"] = _saved_profile(run_dir / "profile.toml", problems)
    problems += _checkpoint_problems(run_dir / "checkpoint")
    if ends_torn(run_dir / "events.jsonl"):
        problems.append("events.jsonl's last line is cut short")
    if problems:
        message = "Damaged run directory: " + "; ".join(problems) + "."
        report["warnings"] = [*report["warnings"], {"code": DAMAGED, "message": message}]
    return RunRecord(run_dir, report, epochs, problems)


def _read_report(path: Path) -> tuple[dict[str, Any], list[str]]:
    """report.json checked field by field (core/storage/repair.py), and what was wrong."""
    try:
        raw = read_json(path)
    except FileNotFoundError:
        return check_report({})[0], ["no report.json (killed before it was written?)"]
    except OSError as exc:
        return check_report({})[0], [f"report.json cannot be read: {exc.strerror or exc}"]
    except RecursionError:  # [[[[...]]]] thousands deep
        return check_report({})[0], ["report.json nests too deeply to be a report"]
    except ValueError as exc:  # not JSON, or not UTF-8
        return check_report({})[0], [f"report.json is not valid JSON ({exc})"]
    report, problems = check_report(raw)
    if isinstance(raw, dict):
        problems += [f"report.json has no {key}" for key in ("status", "profile") if key not in raw]
    return report, problems


def _saved_profile(path: Path, problems: list[str]) -> dict[str, Any]:
    """The run's profile.toml as a dict, for a report that lacks a usable profile."""
    from core.errors import CifarTuiError
    from core.profiles import read_toml
    from core.storage.repair import valid_profile

    try:
        raw = read_toml(path).raw
    except CifarTuiError as exc:
        problems.append(f"profile.toml: {getattr(exc, 'message', exc)}")
        return {}
    if not valid_profile(raw):
        problems.append("profile.toml does not hold a run profile")
        return {}
    return raw


def read_state(path: Path) -> dict[str, Any] | None:
    """A checkpoint's ``state.json`` (None when there is none); ValueError when it cannot be
    used: cut short, not JSON, or not naming an epoch, its weights file and its history row."""
    try:
        state = read_json(path)
    except FileNotFoundError:
        return None
    except RecursionError:
        raise ValueError(f"{path} nests too deeply to be a checkpoint's state") from None
    except OSError as exc:
        raise ValueError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except ValueError:
        raise ValueError(f"{path} is not valid JSON (cut short?)") from None
    if not valid_state(state):
        raise ValueError(f"{path} does not hold a checkpoint's state")
    return state


def valid_state(state: Any) -> bool:
    """A checkpoint state: an epoch, the name of its weights file beside it, its history row."""
    from core.storage.repair import is_int, valid_row

    return (
        isinstance(state, dict)
        and is_int(state.get("epoch"))
        and isinstance(state.get("weights"), str)
        and Path(state["weights"]).name == state["weights"]
        and valid_row(state.get("row"))
        and state["row"]["epoch"] == state["epoch"]
    )


def _checkpoint_problems(checkpoint: Path) -> list[str]:
    try:
        state = read_state(checkpoint / "state.json")
    except ValueError as exc:
        return [f"{exc}; --resume falls back to the newest weights that load"]
    if state is not None and not (checkpoint / state["weights"]).is_file():
        return [f"checkpoint/{state['weights']}, named by state.json, is missing"]
    return []


def remove_stale_temps(run_dir: Path) -> None:
    """Temporary files a killed or disk-full run left behind (call with the run's lock held)."""
    for pattern in (".*.tmp", "checkpoint/.*.tmp", "checkpoint/.tmp-*"):
        for stale in run_dir.glob(pattern):
            with contextlib.suppress(OSError):
                stale.unlink()


def list_runs(runs_dir: Path) -> list[RunRecord]:
    """Every run under ``runs_dir``, newest first; a damaged one is listed with its damage, and
    one that cannot be read at all never hides the others."""
    if not runs_dir.is_dir():
        return []
    runs = []
    for child in sorted(runs_dir.iterdir(), reverse=True):
        if child.name.startswith(".") or not looks_like_run(child):
            continue
        runs.append(read_listed(child))
    return runs


def read_listed(run_dir: Path) -> RunRecord:
    """``load_run`` for a listing (and the runs index): a run that cannot be read at all is
    listed as damaged with the reason, never raised, so it never hides the others."""
    try:
        return load_run(run_dir)
    except Exception as exc:  # one unreadable run must not end the listing
        report = check_report({})[0]
        return RunRecord(run_dir, report, [], [f"cannot be read: {exc}"])
