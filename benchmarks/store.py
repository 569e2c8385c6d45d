"""What a big runs directory costs: listing, the console, a live refresh, --compare.

Makes N run directories by copying a real smoke run's files (``--template RUN_DIR``, else one
smoke run is trained first; the weights and model are hard links, TensorBoard files left out)
and measures, at each N:

- ``list``: every run listed through the runs index (core/storage/index.py), cold (no index)
  and warm; ``list_runs`` (every run's files read) beside it for reference;
- ``first paint``: a fresh process, from its start to the console's first frame (Textual's
  pilot, headless), cold and warm; the runs screen (``b``) until its full table shows;
- ``live refresh``: the runs screen's timer read (a quick ``refresh()``) with one run changing;
- ``--compare`` of a sweep directory naming 1,000 runs (a subprocess, cold and warm).

    python benchmarks/store.py --sizes 0 1000 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SMALL = ("report.json", "history.csv", "profile.toml", "events.jsonl", "report.md")
LINKED = ("model.keras",)


def train_template(work: Path) -> Path:
    runs = work / "template"
    subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "--run", "profiles/smoke.toml", "--plain",
         "--runs-dir", str(runs)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    (run,) = runs.iterdir()
    return run


def make_runs(template: Path, runs_dir: Path, count: int) -> list[Path]:
    """``count`` copies of ``template``, named as runs are (a timestamp each, newest last)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    made = []
    base = time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, -1))
    for i in range(count):
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(base + 600 * i))
        run = runs_dir / f"{stamp}-smoke"
        run.mkdir()
        for name in SMALL:
            if (template / name).exists():
                shutil.copyfile(template / name, run / name)
        for name in LINKED:
            if (template / name).exists():
                os.link(template / name, run / name)
        if (template / "checkpoint").is_dir():
            (run / "checkpoint").mkdir()
            for f in (template / "checkpoint").iterdir():
                if f.name == "state.json":
                    shutil.copyfile(f, run / "checkpoint" / f.name)
                else:
                    os.link(f, run / "checkpoint" / f.name)
        made.append(run)
    return made


def clock(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def drop_index(runs_dir: Path) -> None:
    from core.storage.index import index_path

    path = index_path(runs_dir)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- the console, in a fresh process -----------------------------------------------------------


async def _console(runs_dir: Path, started: float) -> dict[str, float]:
    from tui.console.app import create_app
    from tui.console.screens.launch import LaunchScreen

    painted: dict[str, float] = {}
    mount = LaunchScreen.on_mount

    def on_mount(screen: LaunchScreen) -> None:
        """The first paint: the refresh after the pick screen's mount (a worker the screen
        starts after it then shares the CPU with whatever is measured next)."""
        screen.call_after_refresh(
            lambda: (
                painted.setdefault("wall", time.perf_counter() - started)
                and painted.setdefault("cpu", time.process_time())
            )
        )
        mount(screen)

    LaunchScreen.on_mount = on_mount  # type: ignore[method-assign]
    app = create_app(ROOT / "profiles", runs_dir)
    count = sum(1 for p in runs_dir.iterdir() if p.name != "sweeps") if runs_dir.is_dir() else 0
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        while "cpu" not in painted:
            await pilot.pause(0.01)
        out["first_paint"] = painted["wall"]
        # CPU seconds of the process since it started (every thread): what the work costs,
        # whatever else the machine runs (wall times on a loaded machine drift by seconds).
        out["first_paint_cpu"] = painted["cpu"]
        began, cpu = time.perf_counter(), time.process_time()
        await pilot.press("b")
        screen = app.screen
        out["runs_screen_first"] = time.perf_counter() - began
        while len(screen.rows) < count:  # every run in the table (from the index when warm)
            await pilot.pause(0.01)
        out["runs_screen_full"] = time.perf_counter() - began
        out["runs_screen_full_cpu"] = time.process_time() - cpu
        while not screen.listed:  # and every run checked against its files
            await pilot.pause(0.01)
        out["runs_screen_checked"] = time.perf_counter() - began
        out["runs_screen_checked_cpu"] = time.process_time() - cpu
        out["rows"] = len(screen.rows)
        await app.workers.wait_for_complete()
        await pilot.press("p")
        began, cpu = time.perf_counter(), time.process_time()
        await pilot.press("b")
        out["runs_screen_return"] = time.perf_counter() - began
        out["runs_screen_return_cpu"] = time.process_time() - cpu
        out["ctrl_end"] = clock(lambda: screen.query_one("#runs").action_scroll_bottom())
    return out


def console_child(runs_dir: str, started: float) -> None:
    print(json.dumps(asyncio.run(_console(Path(runs_dir), started))))


def console(runs_dir: Path) -> dict[str, float]:
    code = (
        "import time; t=time.perf_counter(); import sys; sys.path.insert(0, 'benchmarks');"
        f"import store; store.console_child({str(runs_dir)!r}, t)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def consoles(runs_dir: Path, empty: Path, repeat: int, cold: bool) -> tuple[dict, dict]:
    """The console on ``runs_dir`` and on an empty runs directory, alternately (a loaded machine
    drifts: the ratio is what counts); the median of each figure."""
    mine, base = [], []
    for _ in range(repeat):
        if cold:
            drop_index(runs_dir)
        mine.append(console(runs_dir))
        base.append(console(empty))
    median = lambda runs: {k: statistics.median(r[k] for r in runs) for k in runs[0]}  # noqa: E731
    return median(mine), median(base)


# -- the measurements ------------------------------------------------------------------------


def live_refresh(runs_dir: Path, runs: list[Path]) -> float:
    """The runs screen's timer read, one run's files changing between two reads."""
    from core.storage.index import RunIndex
    from core.storage.rundir import RunLock, append_history

    target = runs[len(runs) // 2]
    report = json.loads((target / "report.json").read_text())
    (target / "report.json").write_text(json.dumps({**report, "status": "running"}))
    lock = RunLock(target)
    lock.acquire()  # live, as a run training in another process
    index = RunIndex(runs_dir)
    index.refresh(verify=True)  # as the runs screen does when it opens
    times = []
    for epoch in range(4, 9):
        row = {"epoch": epoch, "seconds": 1.0, "loss": 1.0, "accuracy": 0.5,
               "val_loss": 1.0, "val_accuracy": 0.5, "lr": 0.001}  # fmt: skip
        append_history(target / "history.csv", row)
        start = time.perf_counter()
        result = index.refresh()
        times.append(time.perf_counter() - start)
        # A finished run changed by hand is found by the verify pass, not the timer's read.
        assert result.read == 1, result.read
    lock.release()
    return statistics.median(times)


def compare_sweep(runs_dir: Path, runs: list[Path]) -> Path:
    folder = runs_dir / "sweeps" / "bench-0000"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"label": r.name, "run_dir": str(r.resolve()), "status": "completed"} for r in runs]
    (folder / "sweep.json").write_text(json.dumps({"name": "bench", "runs": rows}))
    return folder


def compare(folder: Path) -> float:
    """Wall seconds of ``--compare``; its CPU seconds are added to COMPARE_CPU."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "--compare", str(folder), "--plain"],
        cwd=ROOT, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    COMPARE_CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


COMPARE_CPU: list[float] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 1000, 10000])
    parser.add_argument("--template", type=Path, help="a finished smoke run's directory")
    parser.add_argument("--compare-runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="console starts per figure")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="store-bench-"))
    os.environ["CIFAR_TUI_CACHE"] = str(work / "cache")
    try:
        template = args.template or train_template(work)
        from core.storage.index import list_summaries
        from core.storage.rundir import list_runs

        empty = work / "runs-empty"
        empty.mkdir()
        for n in args.sizes:
            runs_dir = work / f"runs-{n}"
            runs = make_runs(template, runs_dir, n)
            time.sleep(6)  # past SETTLE_SECONDS: the copies are finished runs
            drop_index(runs_dir)
            list_cold = clock(lambda d=runs_dir: list_summaries(d))
            list_warm = clock(lambda d=runs_dir: list_summaries(d), repeat=3)
            quick = clock(lambda d=runs_dir: list_summaries(d, verify=False), repeat=3)
            plain = clock(lambda d=runs_dir: list_runs(d)) if n <= 2000 else float("nan")
            print(f"N={n}")
            print(f"  list through the index: cold {list_cold:.3f} s, warm {list_warm:.3f} s "
                  f"(every run's signature checked), {quick:.3f} s (quick refresh); "
                  f"list_runs (no index) {plain:.3f} s")  # fmt: skip
            for name, cold in (("warm", False), ("cold", True)):
                mine, base = consoles(runs_dir, empty, 1 if cold else args.repeat, cold)
                ratio = mine["first_paint"] / base["first_paint"]
                cpu_ratio = mine["first_paint_cpu"] / base["first_paint_cpu"]
                print(
                    f"  console {name}: first paint {mine['first_paint']:.3f} s wall, "
                    f"{mine['first_paint_cpu']:.3f} s CPU (empty runs directory "
                    f"{base['first_paint']:.3f} s, {base['first_paint_cpu']:.3f} s CPU; ratio "
                    f"{ratio:.2f} wall, {cpu_ratio:.2f} CPU)"
                )
                print(
                    f"    runs screen: full table {mine['runs_screen_full']:.3f} s wall, "
                    f"{mine['runs_screen_full_cpu']:.3f} s CPU ({mine['rows']:.0f} rows; empty "
                    f"{base['runs_screen_full']:.3f} s, {base['runs_screen_full_cpu']:.3f} s "
                    f"CPU); every run checked {mine['runs_screen_checked']:.3f} s wall, "
                    f"{mine['runs_screen_checked_cpu']:.3f} s CPU; return "
                    f"{mine['runs_screen_return']:.3f} s wall, "
                    f"{mine['runs_screen_return_cpu']:.3f} s CPU (empty "
                    f"{base['runs_screen_return']:.3f} s, {base['runs_screen_return_cpu']:.3f} "
                    f"s CPU); ctrl+end {mine['ctrl_end'] * 1000:.0f} ms"
                )
                sys.stdout.flush()
            if runs:
                live = live_refresh(runs_dir, runs)
                print(f"  live refresh (one run changing): {live * 1000:.1f} ms")
            if n >= args.compare_runs:
                folder = compare_sweep(runs_dir, runs[: args.compare_runs])
                drop_index(runs_dir)
                COMPARE_CPU.clear()
                first = compare(folder)
                again = statistics.median(compare(folder) for _ in range(3))
                cpu = COMPARE_CPU[0], statistics.median(COMPARE_CPU[1:])
                print(
                    f"  --compare of {args.compare_runs} runs: cold {first:.2f} s wall "
                    f"({cpu[0]:.2f} s CPU), warm {again:.2f} s wall ({cpu[1]:.2f} s CPU)"
                )
            sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
