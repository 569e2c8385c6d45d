"""The runs index: each run's listing fields in SQLite, so listing thousands of runs stays instant.

The run directories stay the truth; this is a cache of what ``rundir.load_run`` read from them
(the one read side: a damaged run is indexed as damaged, with its problems). Each entry is keyed
by the run directory's name and a signature of the files it was read from (size, mtime and
inode of report.json, history.csv, profile.toml, events.jsonl, checkpoint/state.json): a run
whose signature changed is read again, whatever changed it.

Where it lives: ``$CIFAR_TUI_CACHE/index/<hash of the runs directory>.sqlite`` (the local cache
directory), not beside the runs. A runs directory on NFS is common on clusters, and SQLite's
locking is unreliable there (and WAL needs shared memory, which NFS cannot give). On a local disk
WAL lets several processes (two consoles, a sweep, ``--watch``) read while one writes, and a
busy timeout queues the writers. Each machine keeps its own index of a shared runs directory:
it is a cache, rebuilt from the directories when deleted, damaged or of an older schema.

Refreshing: ``refresh()`` re-reads only runs that are not settled (new, live or killed runs,
whose report says "running", and runs changed in the last few seconds) and looks at the runs
directory's own listing only when the directory's mtime changed (a run added or removed); it
also checks the signatures of ROTATION settled runs in turn (a run resumed by another process
shows within runs/ROTATION refreshes), so its cost does not grow with the finished runs.
``refresh(verify=True)`` checks every run's signature (a stat per file, no parsing): a run
changed behind the index's back is re-read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.status import RunStatus

#: Bumped when the table changes: an index of another version is rebuilt.
SCHEMA_VERSION = 4
#: The files a run's entry is read from (``load_run`` reads these and nothing else).
SIGNED = (
    "report.json",
    "history.csv",
    "profile.toml",
    "events.jsonl",
    "checkpoint/state.json",
    ".lock",  # a run killed before any other file still lists (as load_run reads it)
)
#: A run whose files changed less than this long ago is checked again on every refresh (it may
#: still be writing its last files).
SETTLE_SECONDS = 5.0
#: Rows written per transaction: short ones, so another process never waits long.
BATCH = 200
#: The runs directory's mtime is trusted only when older than this (a run made in the same
#: clock tick as the listing would otherwise be missed).
RACY_SECONDS = 2.0
BUSY_TIMEOUT_SECONDS = 10.0
#: Settled runs a quick refresh checks, in turn (a stat per signed file each).
ROTATION = 256


def index_dir() -> Path:
    """``$CIFAR_TUI_CACHE/index`` (core.data.cache_dir's folder, without importing numpy)."""
    env = os.environ.get("CIFAR_TUI_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "cifar-tui") / "index"


def index_path(runs_dir: Path) -> Path:
    key = hashlib.sha256(str(Path(runs_dir).resolve()).encode()).hexdigest()[:16]
    return index_dir() / f"{key}.sqlite"


_RUNNING = str(RunStatus.RUNNING)


@dataclass(slots=True)
class RunSummary:
    """A run's listing fields as the index holds them; reads like a ``RunRecord`` where the
    runs screen, the pick screen and ``--compare`` use one."""

    path: Path
    disk_status: str  # what report.json says ("running" for a killed run too)
    name: str
    architecture: str = "?"
    input_size: int | None = None
    epochs_done: int = 0
    epochs_planned: int | None = None
    best_val_accuracy: float | None = None
    test_accuracy: float | None = None
    seconds_per_epoch: float | None = None
    input_bound_percent: float | None = None
    params: int | None = None
    started: str | None = None
    total_seconds: float | None = None
    damage: str = ""
    #: Who stopped a stopped run ("user", "SIGTERM"...: report.json's ``stop.by``), or "".
    stopped_by: str = ""
    #: The resolved profile, the test block and the error (``--compare``'s needs), when asked.
    detail: dict[str, Any] | None = None
    status: str = field(init=False, default="")

    def __post_init__(self) -> None:
        running = self.disk_status == _RUNNING  # (a plain str compare: 10,000 rows)
        self.status = live_status(self.path, self.disk_status) if running else self.disk_status

    @property
    def problems(self) -> list[str]:
        return [self.damage] if self.damage else []

    @property
    def report(self) -> dict[str, Any]:
        """The parts of report.json a comparison reads (empty without ``detail``)."""
        return dict(self.detail or {})


def live_status(path: Path, disk_status: str) -> str:
    """As ``RunRecord.status``: a "running" report whose lock nobody holds is interrupted."""
    from core.storage.rundir import is_live

    if disk_status == RunStatus.RUNNING and not is_live(path):
        return RunStatus.INTERRUPTED
    return disk_status


def summarize(record: Any) -> dict[str, Any]:
    """A ``RunRecord``'s index row (every column but the name and the signature)."""
    report = record.report
    profile = report.get("profile") or {}
    status = RunStatus.parse(report.get("status")) or str(report.get("status", "unknown"))
    model = profile.get("model") or {}
    train = profile.get("train") or {}
    timing = report.get("timing") or {}
    detail = {"profile": profile, "test": report.get("test"), "error": report.get("error")}
    return {
        "is_run": 1,
        "disk_status": str(status),
        "profile_name": str(record.name),
        "architecture": str(model.get("architecture", "?")),
        "input_size": _int(model.get("input_size")),
        "epochs_done": len(record.epochs),
        "epochs_planned": _int(train.get("epochs")),
        "best_val": record.best_val_accuracy,
        "test": _num(record.test_accuracy),
        "s_epoch": record.seconds_per_epoch,
        "input_bound": _num(record.input_bound_percent),
        "params": _int(record.params),
        "started": str(report.get("started")) if report.get("started") else None,
        "total_seconds": _num(timing.get("total_seconds") if isinstance(timing, dict) else None),
        "damage": record.damage,
        "stopped_by": record.stopped_by,
        "detail": json.dumps(detail, default=str),
    }


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


COLUMNS = (
    "name TEXT PRIMARY KEY, sig TEXT NOT NULL, settled INTEGER NOT NULL, is_run INTEGER NOT NULL,"
    " disk_status TEXT, profile_name TEXT, architecture TEXT, input_size INTEGER,"
    " epochs_done INTEGER, epochs_planned INTEGER, best_val REAL, test REAL, s_epoch REAL,"
    " input_bound REAL, params INTEGER, started TEXT, total_seconds REAL, damage TEXT,"
    " stopped_by TEXT, detail TEXT, gen INTEGER NOT NULL DEFAULT 0"
)
ROW_FIELDS = (
    "is_run",
    "disk_status",
    "profile_name",
    "architecture",
    "input_size",
    "epochs_done",
    "epochs_planned",
    "best_val",
    "test",
    "s_epoch",
    "input_bound",
    "params",
    "started",
    "total_seconds",
    "damage",
    "stopped_by",
    "detail",
)
#: A RunSummary's columns, in its fields' order (the select and a row read back share them).
SUMMARY_FIELDS = ("name", *(f for f in ROW_FIELDS if f not in ("is_run", "detail")))
SUMMARY_SELECT = "SELECT " + ", ".join(SUMMARY_FIELDS) + "{detail} FROM runs WHERE is_run = 1"


def signature(run_dir: Path | str) -> tuple[str, float]:
    """The signed files' (size, mtime, inode), and the newest mtime (0 when none exist)."""
    parts, newest = [], 0.0
    base = os.fspath(run_dir)
    for name in SIGNED:
        try:
            st = os.stat(f"{base}/{name}")
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
        newest = max(newest, st.st_mtime)
    return "|".join(parts), newest


@dataclass
class Refresh:
    """What a refresh found: runs (re)read or whose liveness may have changed, names of runs
    gone, and whether it is complete (False: ``max_reads`` was exceeded, nothing was read)."""

    changed: list[RunSummary] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    complete: bool = True
    read: int = 0


class RunIndex:
    """The index of one runs directory. Cheap to make; each call opens its own connection, so
    one instance serves any thread and several processes share the file."""

    def __init__(self, runs_dir: Path, path: Path | None = None) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = path or index_path(self.runs_dir)
        # One connection, kept open (closing the last one checkpoints the WAL: slow), used by
        # one thread at a time.
        self._conn: sqlite3.Connection | None = None
        self._inode: int | None = None  # the file it opened: replaced elsewhere, reopen
        self._conn_lock = threading.RLock()
        #: The index's write generation this instance has handed out rows up to: a refresh
        #: also returns rows others (threads, processes) wrote since.
        self._seen: int | None = None

    # -- the database ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _db(self, wait: bool = True):
        """The connection to a usable index: a damaged file, or one of another schema, is
        deleted and made again (it is only a cache). ``wait`` False: raise IndexBusy rather
        than wait for another thread of this process (the UI thread never waits)."""
        if not self._conn_lock.acquire(blocking=wait):
            raise IndexBusy("the runs index is in use by another thread")
        try:
            if (
                self._conn is not None
                and self._inode is not None
                and self._inode != _inode(self.path)
            ):
                self.close()  # deleted (found damaged) by another process: open the new one
            if self._conn is None:
                self._conn = self._connect()
            yield self._conn
        finally:
            self._conn_lock.release()

    def _connect(self) -> sqlite3.Connection:
        for attempt in range(2):
            try:
                conn = self._open()
                self._inode = _inode(self.path)
                return conn
            except sqlite3.DatabaseError as exc:
                if _locked(exc):
                    raise  # in use by another process for longer than the busy timeout
                if attempt:
                    break
                self._discard()
        # Nowhere to keep a file (read-only home, full disk): an index in memory still works.
        self._inode = None
        return self._create(sqlite3.connect(":memory:", check_same_thread=False))

    def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def _open(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        if fresh:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise sqlite3.DatabaseError(str(exc)) from None
            _prune_stale(self.path.parent)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a cache: a lost last write is re-read
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                self._create(conn)
            else:
                conn.execute("SELECT count(*) FROM meta").fetchone()  # damaged: raises here
            if fresh:
                with contextlib.suppress(OSError):
                    self.path.with_suffix(".path").write_text(str(self.runs_dir.resolve()))
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _create(conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.isolation_level = None
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                conn.execute("DROP TABLE IF EXISTS runs")
                conn.execute("DROP TABLE IF EXISTS meta")
                conn.execute(f"CREATE TABLE runs ({COLUMNS})")
                conn.execute("CREATE INDEX runs_unsettled ON runs (settled) WHERE settled = 0")
                conn.execute("CREATE INDEX runs_profile ON runs (profile_name, name)")
                conn.execute(
                    "CREATE INDEX runs_running ON runs (name) WHERE disk_status = 'running'"
                )
                conn.execute("CREATE INDEX runs_gen ON runs (gen)")
                conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return conn

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    def _with_retry(self, body: Callable[[sqlite3.Connection], Any], wait: bool = True) -> Any:
        """Run ``body``; an index found damaged midway is made again and ``body`` rerun."""
        try:
            with self._db(wait) as conn:
                return body(conn)
        except sqlite3.DatabaseError as exc:
            if _locked(exc):
                raise
            self.close()
            self._discard()
            with self._db(wait) as conn:
                return body(conn)

    # -- reading --------------------------------------------------------------------------------

    def count(self, wait: bool = True) -> int:
        return self._with_retry(
            lambda c: c.execute("SELECT count(*) FROM runs WHERE is_run = 1").fetchone()[0], wait
        )

    def summaries(self, detail: bool = False) -> list[RunSummary]:
        """Every indexed run, newest name first, as last read (no run file is opened)."""
        query = SUMMARY_SELECT.format(detail=", detail" if detail else "") + " ORDER BY name DESC"

        def body(conn: sqlite3.Connection) -> list[Any]:
            conn.execute("BEGIN")  # one snapshot: the rows and the generation they are at
            try:
                gen = _generation(conn)
                rows = conn.execute(query).fetchall()
            finally:
                conn.execute("COMMIT")
            self._seen = gen
            return rows

        return [self._summary(row) for row in self._with_retry(body)]

    def latest_by_name(self) -> dict[str, RunSummary]:
        """The newest run of each profile name, newest first (the pick screen's "last run")."""
        query = SUMMARY_SELECT.format(detail="") + (
            " AND name IN (SELECT max(name) FROM runs WHERE profile_name IS NOT NULL"
            " GROUP BY profile_name) ORDER BY name DESC"
        )  # one pass over the (profile_name, name) index
        rows = self._with_retry(lambda c: c.execute(query).fetchall())
        latest: dict[str, RunSummary] = {}
        for row in rows:
            summary = self._summary(row)
            latest.setdefault(summary.name, summary)
        return latest

    def _child(self, name: str) -> Path:
        """``runs_dir / name`` without parsing it again (pathlib's join is most of the cost of
        listing 10,000 runs); the plain join where the private helper is gone."""
        make = getattr(self.runs_dir, "_make_child_relpath", None)
        return make(name) if make is not None else self.runs_dir / name

    def _summary(self, row: tuple[Any, ...]) -> RunSummary:
        detail = json.loads(row[16]) if len(row) > 16 and row[16] else None
        return RunSummary(
            path=self._child(row[0]),
            disk_status=row[1],
            name=row[2],
            architecture=row[3],
            input_size=row[4],
            epochs_done=row[5],
            epochs_planned=row[6],
            best_val_accuracy=row[7],
            test_accuracy=row[8],
            seconds_per_epoch=row[9],
            input_bound_percent=row[10],
            params=row[11],
            started=row[12],
            total_seconds=row[13],
            damage=row[14] or "",
            stopped_by=row[15] or "",
            detail=detail,
        )

    # -- refreshing -----------------------------------------------------------------------------

    def refresh(
        self,
        verify: bool = False,
        max_reads: int | None = None,
        progress: Callable[[list[RunSummary]], None] | None = None,
        wait: bool = True,
    ) -> Refresh:
        """Bring the index up to date with the runs directory (see the module's docstring).

        ``max_reads``: read nothing and return ``complete=False`` when more runs than this need
        reading (a caller on the UI thread leaves that to a worker). ``progress``: called with
        each batch of runs read (newest first), to show them as they come. ``wait`` False (and
        any ``max_reads``): while another thread of this process refreshes, return at once,
        incomplete."""
        lock = _refresh_lock(self.path)
        # One refresh at a time in a process (two screens' workers would read the same runs);
        # a caller that must not wait (the UI thread, a timer) gets an incomplete answer.
        wait = wait and max_reads is None
        if not lock.acquire(blocking=wait):
            return Refresh(complete=False)
        try:
            return self._with_retry(
                lambda conn: self._refresh(conn, verify, max_reads, progress), wait
            )
        finally:
            lock.release()

    def _refresh(
        self,
        conn: sqlite3.Connection,
        verify: bool,
        max_reads: int | None,
        progress: Callable[[list[RunSummary]], None] | None,
    ) -> Refresh:
        result = Refresh()
        try:
            st = os.stat(self.runs_dir)
        except OSError:
            st = None
        stamp = f"{st.st_mtime_ns}:{st.st_ino}" if st is not None else "absent"
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        check: list[str]
        known: dict[str, str]
        if verify or meta.get("dir") != stamp:
            names = set(_list_dirs(self.runs_dir)) if st is not None else set()
            known = dict(conn.execute("SELECT name, sig FROM runs").fetchall())
            unsettled = {
                n for (n,) in conn.execute("SELECT name FROM runs WHERE settled = 0").fetchall()
            }
            gone = sorted(set(known) - names)
            if gone:
                _write(conn, "DELETE FROM runs WHERE name = ?", [(n,) for n in gone])
                result.removed = [self.runs_dir / n for n in gone]
            check = sorted(names if verify else (names - set(known)) | (unsettled & names))
        else:
            rows = conn.execute("SELECT name, sig FROM runs WHERE settled = 0").fetchall()
            known = dict(rows)
            check = sorted(known)
        if not verify and max_reads is None:  # (not on the UI thread: a worker's job)
            # A slice of the settled runs, in turn, is checked too: a finished run resumed or
            # changed elsewhere is found within (runs / ROTATION) refreshes, at a fixed cost.
            rotor = meta.get("rotor", "")
            turn = conn.execute(
                "SELECT name, sig FROM runs WHERE settled = 1 AND name > ? ORDER BY name LIMIT ?",
                (rotor, ROTATION),
            ).fetchall()
            if len(turn) < ROTATION:
                turn += conn.execute(
                    "SELECT name, sig FROM runs WHERE settled = 1 AND name <= ? ORDER BY name"
                    " LIMIT ?",
                    (rotor, ROTATION - len(turn)),
                ).fetchall()
            if turn:
                _write(conn, "INSERT OR REPLACE INTO meta VALUES ('rotor', ?)", [(turn[-1][0],)])
            for name, sig in turn:
                if name not in known:
                    known[name] = sig
                    check.append(name)
            check.sort()
        check.reverse()  # newest first: they show first while a cold index fills
        base = os.fspath(self.runs_dir)
        now = time.time()
        stale: list[tuple[str, str | None, float]] = []
        settle: list[tuple[str]] = []
        for name in check:
            if name not in known:  # new: read whatever its files say (signed when read)
                stale.append((name, None, 0.0))
            else:
                sig, newest = signature(f"{base}/{name}")
                if sig != known[name]:
                    stale.append((name, sig, newest))
                elif now - newest > SETTLE_SECONDS:
                    settle.append((name,))
            if max_reads is not None and len(stale) > max_reads:
                result.complete = False  # a cold index: cheap to tell, read by a worker
                return result
        if settle:  # settled only where nothing says it may change (see _row)
            _write(
                conn,
                "UPDATE runs SET settled = 1 WHERE name = ? AND is_run = 1"
                " AND disk_status != 'running'",
                settle,
            )
        for start in range(0, len(stale), BATCH):
            batch = stale[start : start + BATCH]
            rows = [self._read(name, sig, newest, now) for name, sig, newest in batch]
            _upsert(conn, rows)
            summaries = [
                self._summary_of(row)
                for row in rows
                if row["is_run"]  # a folder that is not (yet) a run is not listed
            ]
            result.changed += summaries
            result.read += len(rows)
            if progress is not None and summaries:
                progress(summaries)
        # Runs a report calls running: their liveness is looked at again on every refresh;
        # and runs another thread or process indexed since this instance last looked.
        read = {s.path for s in result.changed}
        queries = [(SUMMARY_SELECT.format(detail="") + " AND disk_status = 'running'", ())]
        gen = _generation(conn)
        if self._seen is not None and gen > self._seen:
            queries.append((SUMMARY_SELECT.format(detail="") + " AND gen > ?", (self._seen,)))
        for query, args in queries:
            for row in conn.execute(query, args).fetchall():
                summary = self._summary(row)
                if summary.path not in read:
                    read.add(summary.path)
                    result.changed.append(summary)
        if self._seen is not None:
            self._seen = gen
        if st is not None and now - st.st_mtime > RACY_SECONDS:
            if meta.get("dir") != stamp:
                _write(conn, "INSERT OR REPLACE INTO meta VALUES ('dir', ?)", [(stamp,)])
        elif meta.get("dir") is not None:
            _write(conn, "DELETE FROM meta WHERE key = 'dir'", [()])
        return result

    def _read(self, name: str, sig: str | None, newest: float, now: float) -> dict[str, Any]:
        """One run read with ``load_run`` (the signature taken before: a change while reading
        shows as a new signature next time)."""
        from core.storage.rundir import looks_like_run, read_listed

        run_dir = self.runs_dir / name
        if sig is None:
            sig, newest = signature(run_dir)
        if not looks_like_run(run_dir):  # made but not written to yet, or not a run at all
            return {"name": name, "sig": sig, "settled": 0, "is_run": 0}
        row = summarize(read_listed(run_dir))
        settled = row["disk_status"] != RunStatus.RUNNING and now - newest > SETTLE_SECONDS
        return {"name": name, "sig": sig, "settled": int(settled), **row}

    def _summary_of(self, row: dict[str, Any]) -> RunSummary:
        return self._summary(tuple(row.get(c) for c in SUMMARY_FIELDS))

    # -- named runs (``--compare``, ``--watch`` of a sweep) ---------------------------------------

    def lookup(self, run_dirs: Iterable[Path], detail: bool = True) -> dict[Path, RunSummary]:
        """These runs (directories of this runs directory) as the index has them, each checked
        against its signature first and read again where it changed."""
        wanted = {Path(p).name: Path(p) for p in run_dirs if Path(p).parent == self.runs_dir}

        names = sorted(wanted)
        chunks = [names[i : i + 500] for i in range(0, len(names), 500)]

        def select(conn: sqlite3.Connection, query: str, chunk: list[str]) -> list[Any]:
            marks = ", ".join("?" * len(chunk))
            return conn.execute(f"{query} AND name IN ({marks})", chunk).fetchall()

        def body(conn: sqlite3.Connection) -> dict[Path, RunSummary]:
            known: dict[str, str] = {}
            for chunk in chunks:
                known.update(select(conn, "SELECT name, sig FROM runs WHERE 1", chunk))
            now, stale = time.time(), []
            for name in wanted:
                sig, newest = signature(self.runs_dir / name)
                if sig != known.get(name):
                    stale.append(self._read(name, sig, newest, now))
            if stale:
                _upsert(conn, stale)
            query = SUMMARY_SELECT.format(detail=", detail" if detail else "")
            found = {}
            for chunk in chunks:
                for row in select(conn, query, chunk):
                    found[wanted[row[0]]] = self._summary(row)
            return found

        return self._with_retry(body)


class IndexBusy(sqlite3.OperationalError):
    """The index is in use by another thread of this process (the caller must not wait)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message} (locked)")


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _refresh_lock(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


def _locked(exc: sqlite3.DatabaseError) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _list_dirs(runs_dir: Path) -> list[str]:
    """The runs directory's folders, one listing (no stat per entry: d_type says)."""
    try:
        with os.scandir(runs_dir) as entries:
            return [
                e.name
                for e in entries
                if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []


def _generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()
    return int(row[0]) if row else 0


def _upsert(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Rows written in one transaction under the next write generation (taken inside it:
    writers are serialized, so a reader that saw generation G sees every later write as > G)."""
    columns = ("name", "sig", "settled", *ROW_FIELDS, "gen")
    sql = (
        f"INSERT OR REPLACE INTO runs ({', '.join(columns)}) VALUES "
        f"({', '.join('?' * len(columns))})"
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        gen = _generation(conn) + 1
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('gen', ?)", (str(gen),))
        conn.executemany(sql, [tuple({**row, "gen": gen}.get(c) for c in columns) for row in rows])
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _write(conn: sqlite3.Connection, sql: str, params: list[tuple[Any, ...]]) -> None:
    """One short write transaction (BEGIN IMMEDIATE: a busy index waits, then writes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _prune_stale(folder: Path) -> None:
    """Indexes of runs directories that no longer exist (tests' temporary folders): removed
    when a new index is made, so the cache does not grow with them."""
    with contextlib.suppress(OSError):
        for named in folder.glob("*.path"):
            with contextlib.suppress(OSError):
                if not Path(named.read_text().strip()).is_dir():
                    for suffix in (".sqlite", ".sqlite-wal", ".sqlite-shm", ".path"):
                        with contextlib.suppress(OSError):
                            named.with_suffix(suffix).unlink()


def list_summaries(runs_dir: Path, verify: bool = True) -> list[RunSummary]:
    """Every run under ``runs_dir``, newest first, through the index (``list_runs``'s rows)."""
    index = RunIndex(runs_dir)
    index.refresh(verify=verify)
    return index.summaries()


def live_runs(run_dirs: list[Path]) -> list[Path]:
    """Those of ``run_dirs`` some process trains now, in their order: the runs index says which
    reports say "running" (each checked against its files), and only those locks are tried
    (``--watch`` of a sweep of a thousand runs)."""
    by_parent: dict[Path, list[Path]] = {}
    for run_dir in run_dirs:
        by_parent.setdefault(Path(run_dir).parent, []).append(Path(run_dir))
    running: set[Path] = set()
    for parent, dirs in by_parent.items():
        index = RunIndex(parent)
        try:
            found = index.lookup(dirs, detail=False)
        finally:
            index.close()
        running.update(p for p, s in found.items() if s.status == RunStatus.RUNNING)
        running.update(p for p in dirs if p not in found)  # not indexed: ask its lock
    from core.storage.rundir import is_live

    return [p for p in map(Path, run_dirs) if p in running and is_live(p)]
