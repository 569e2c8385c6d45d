"""The runs index (core/storage/index.py): a cache of every run's listing fields in SQLite.

Fake run directories written from a template (tests/test_tui_helpers.py), no training: the
index is rebuilt after deletion or damage, a run changed behind its back is re-read, two
processes update it at once, a damaged run directory is listed as damaged, and the console's
runs screen lists a runs directory too big to list on the UI thread from the index.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_tui_helpers import REPO, copy_profiles, fake_report, standard_runs, write_run
from textual.widgets import DataTable

from core.storage.index import RunIndex, index_path, list_summaries
from core.storage.rundir import list_runs


@pytest.fixture(autouse=True)
def _cache(private_cache: Path) -> Path:
    return private_cache  # every index of these tests lives under tmp_path


def listing(runs_dir: Path) -> list[tuple[str, str, int, float | None, bool]]:
    return [
        (s.path.name, str(s.status), s.epochs_done, s.test_accuracy, bool(s.damage))
        for s in list_summaries(runs_dir)
    ]


def truth(runs_dir: Path) -> list[tuple[str, str, int, float | None, bool]]:
    """What reading every run's files says (list_runs, no index)."""
    return [
        (r.path.name, str(r.status), len(r.epochs), r.test_accuracy, bool(r.problems))
        for r in list_runs(runs_dir)
    ]


def test_the_index_lists_what_the_files_say(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    standard_runs(runs)
    assert listing(runs) == truth(runs)
    assert [name for name, *_ in listing(runs)] == sorted(p.name for p in runs.iterdir())[::-1]
    statuses = {name: status for name, status, *_ in listing(runs)}
    assert statuses["20260103-180000-smoke"] == "interrupted"  # running on disk, lock free


@pytest.mark.parametrize("harm", ["deleted", "damaged", "older schema"])
def test_the_index_is_rebuilt_when_deleted_or_damaged(tmp_path: Path, harm: str) -> None:
    runs = tmp_path / "runs"
    standard_runs(runs)
    before = listing(runs)
    path = index_path(runs)
    assert path.is_file()
    if harm == "deleted":
        path.unlink()
    elif harm == "damaged":
        path.write_bytes(b"not a database at all" * 100)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        import sqlite3

        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA user_version = 999")
    assert listing(runs) == before
    assert path.is_file()


def test_a_run_changed_behind_its_back_is_read_again(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    paths = standard_runs(runs)
    assert listing(runs) == truth(runs)
    index = RunIndex(runs)
    index.refresh()  # the quick read: a finished run is settled
    report_file = paths["completed"] / "report.json"
    report = json.loads(report_file.read_text())
    report["test"]["accuracy"] = 0.77
    report_file.write_text(json.dumps(report), encoding="utf-8")  # in place, as an editor
    assert listing(runs) == truth(runs)  # verify: every signature checked
    done = {s.path.name: s.test_accuracy for s in index.summaries()}
    assert done[paths["completed"].name] == 0.77


def test_new_and_removed_runs_show_in_a_quick_refresh(tmp_path: Path) -> None:
    import shutil

    runs = tmp_path / "runs"
    paths = standard_runs(runs)
    index = RunIndex(runs)
    index.refresh(verify=True)
    new = write_run(runs, "20260109-000000-smoke", fake_report())
    shutil.rmtree(paths["stopped"])
    result = index.refresh()
    assert [s.path for s in result.changed if s.path == new] == [new]
    assert result.removed == [paths["stopped"]]
    assert {s.path.name for s in index.summaries()} == {p.name for p in runs.iterdir()}


def test_a_damaged_run_directory_is_listed_as_damaged(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    standard_runs(runs)
    broken = write_run(runs, "20260108-000000-smoke", fake_report())
    (broken / "report.json").write_text('{"status": "compl', encoding="utf-8")  # cut short
    (broken / "history.csv").write_text("epoch,seconds\n1,oops\n", encoding="utf-8")
    summary = {s.path: s for s in list_summaries(runs)}[broken]
    assert "report.json is not valid JSON" in summary.damage
    assert listing(runs) == truth(runs)


def test_two_processes_update_the_index_at_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    template = write_run(runs, "20260101-000000-smoke", fake_report())
    for i in range(1, 80):
        write_run(runs, f"20260101-{i:06d}-smoke", fake_report(epochs=1 + i % 3))
    code = (
        "import sys; from pathlib import Path; from core.storage.index import list_summaries;"
        "print(len(list_summaries(Path(sys.argv[1]))))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(runs)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["80", "80"]
    assert listing(runs) == truth(runs)
    assert template in {s.path for s in RunIndex(runs).summaries()}


def test_the_runs_screen_lists_a_big_runs_directory_from_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More runs than the UI thread lists itself: workers read them into the index (the pick
    screen's and the runs screen's, the one handing on what the other read), the table holds a
    window of them and ctrl+end still reaches the last (oldest) run. (The thresholds are made
    small: 10,000 runs behave as 14 do here.)"""
    from tui.console.app import create_app
    from tui.console.screens import launch as launch_screen
    from tui.console.screens import runs as runs_screen
    from tui.console.screens.runs import RunsScreen

    monkeypatch.setattr(runs_screen, "SYNC_ROWS", 4)
    monkeypatch.setattr(runs_screen, "SYNC_READS", 2)
    monkeypatch.setattr(runs_screen, "WINDOW", 8)
    monkeypatch.setattr(launch_screen, "SYNC_READS", 2)  # the pick screen's worker reads too
    window = 8
    runs = tmp_path / "runs"
    count = 14
    for i in range(count):
        write_run(runs, f"20250101-{i:06d}-smoke", fake_report(epochs=1 + i % 3))

    async def main() -> None:
        app = create_app(copy_profiles(tmp_path / "profiles"), runs)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("b")
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            await app.workers.wait_for_complete()
            for _ in range(400):  # polled: the workers post as they read
                if screen.listed and len(screen.rows) == count:
                    break
                await pilot.pause(0.05)
            assert len(screen.rows) == count
            table = screen.query_one("#runs", DataTable)
            assert table.row_count == window
            assert screen.selected_path() == runs / f"20250101-{count - 1:06d}-smoke"
            await pilot.press("ctrl+end")
            assert screen.selected_path() == runs / "20250101-000000-smoke"
            await pilot.press("up", "space")  # marking works past the first window
            assert screen.marked == [runs / "20250101-000001-smoke"]
            await pilot.press("ctrl+home", "down")
            assert screen.selected_path() == runs / f"20250101-{count - 2:06d}-smoke"

    asyncio.run(main())


def test_the_pick_screen_gets_its_last_runs_from_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too many runs to read on the UI thread: the pick screen paints first, then a worker's
    "last run" column arrives, and a first visit not moved yet goes on to the profile used last."""
    from tui.console.app import create_app
    from tui.console.screens import launch as launch_screen
    from tui.console.screens.launch import LaunchScreen

    monkeypatch.setattr(launch_screen, "SYNC_READS", 2)

    profiles = copy_profiles(tmp_path / "profiles")
    smoke = (profiles / "smoke.toml").read_text(encoding="utf-8")
    (profiles / "other.toml").write_text(smoke.replace('name = "smoke"', 'name = "other"'))
    runs = tmp_path / "runs"
    for i in range(5):
        write_run(runs, f"20250101-{i:06d}-other", fake_report(name="other"))

    async def main() -> None:
        app = create_app(profiles, runs)
        async with app.run_test(size=(120, 40)) as pilot:
            launch = app.screen
            assert isinstance(launch, LaunchScreen)
            assert [e.name for e in launch.profiles] == ["other", "smoke"]
            for _ in range(400):
                if launch.results_read:
                    break
                await pilot.pause(0.05)
            assert launch.results_read
            await pilot.pause()
            table = launch.query_one("#profiles", DataTable)
            assert [str(table.get_cell(row, "last")) for row in table.rows] == ["✔ 29.0%", "-"]
            assert launch.profile_entry.name == "other"

    asyncio.run(main())


def test_compare_of_a_sweep_reads_its_runs_from_the_index(tmp_path: Path) -> None:
    """``--compare`` of a sweep directory: the rows the index gives are the rows reading every
    run gives, a damaged run included, and a run changed since is read again."""
    from core.compare import RunRow, collect
    from core.storage.rundir import load_run

    runs = tmp_path / "runs"
    paths = list(standard_runs(runs).values())
    broken = write_run(runs, "20260108-000000-smoke", fake_report())
    (broken / "history.csv").write_text("epoch,seconds\n1,oops\n", encoding="utf-8")
    paths.append(broken)
    folder = runs / "sweeps" / "lr-0123"
    folder.mkdir(parents=True)
    rows = [{"label": p.name, "run_dir": str(p.resolve())} for p in paths]
    (folder / "sweep.json").write_text(json.dumps({"name": "lr", "runs": rows}))

    def seen(rows: list[RunRow]) -> list[tuple]:
        return [(r.path.name, str(r.status), r.settings, r.metrics, r.damage) for r in rows]

    direct = [RunRow.from_record(load_run(p.resolve())) for p in paths]
    assert seen(collect([folder])) == seen(direct)
    assert "damaged" in str(collect([folder])[-1].status)
    report = json.loads((paths[0] / "report.json").read_text())
    report["test"]["accuracy"] = 0.5
    (paths[0] / "report.json").write_text(json.dumps(report), encoding="utf-8")
    assert collect([folder])[0].metrics["test_accuracy"] == 0.5


def test_watch_of_a_sweep_tries_only_the_running_runs_locks(tmp_path: Path) -> None:
    from core.storage.index import live_runs
    from core.storage.rundir import RunLock

    runs = tmp_path / "runs"
    paths = standard_runs(runs)  # the killed run says "running" with a free lock
    live = write_run(runs, "20260109-000000-smoke", fake_report("running", epochs=1))
    lock = RunLock(live)
    lock.acquire()
    try:
        order = [paths["completed"], paths["killed"], live, paths["stopped"]]
        assert live_runs(order) == [live]
    finally:
        lock.release()
    assert live_runs(order) == []


def test_a_refresh_hands_on_runs_another_process_indexed(tmp_path: Path) -> None:
    """Two consoles (two instances here, one file): a run the other one read first still comes
    to this one's table with its next refresh."""
    runs = tmp_path / "runs"
    standard_runs(runs)
    mine, theirs = RunIndex(runs), RunIndex(runs)
    mine.refresh(verify=True)
    assert len(mine.summaries()) == 3
    new = write_run(runs, "20260109-000000-smoke", fake_report())
    theirs.refresh()  # the other console's timer reads it first
    assert new in {s.path for s in mine.refresh().changed}
    assert new not in {s.path for s in mine.refresh().changed}  # handed on once


def test_the_index_keeps_who_stopped_a_run(tmp_path: Path) -> None:
    """report.json's stop.by (issue 25) is a listing field: the runs screen and --compare show
    "stopped (SIGTERM)" from the index, as from the run's files, with no report read."""
    from core.status import status_with_cause
    from tui.console.screens.runs import _status

    runs = tmp_path / "runs"
    paths = standard_runs(runs)
    report = fake_report("stopped", epochs=2, test_accuracy=None)
    report["stop"] = {"by": "SIGTERM", "message": "stopped by SIGTERM"}
    signal = write_run(runs, "20260104-090000-smoke", report)
    summaries = {s.path: s for s in list_summaries(runs)}
    records = {r.path: r for r in list_runs(runs)}
    assert {p: s.stopped_by for p, s in summaries.items()} == {
        p: r.stopped_by for p, r in records.items()
    }
    assert (
        summaries[signal].stopped_by == "SIGTERM" and summaries[paths["stopped"]].stopped_by == ""
    )
    assert status_with_cause(summaries[signal].status, summaries[signal].stopped_by) == (
        "stopped (SIGTERM)"
    )
    assert _status(summaries[signal]) == _status(records[signal]) == "■ stopped (SIGTERM)"
