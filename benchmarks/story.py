"""The notebook's profiler story on one machine: AlexNet with the CPU-side resize against AlexNet
with the on-device front, one epoch each, input-bound % and seconds per epoch for both.

Each profile runs as a user runs it (``cifar-tui --run ... --plain``) and its figures come from
the run's report.json: the profiler's input-bound % over its window, the epoch's seconds (the
first epoch: it includes compiling) and the steady pace inside the window (median step, the
epoch it would make). A profile the run refuses (a check, a crash) gets a row saying why, and
the next still runs; the JSON is rewritten after each, so a call cut short keeps what it had.

    python benchmarks/story.py --limit 480 --set train.batch_size=16     # CPU-sized
    KERAS_BACKEND=jax python3 benchmarks/story.py --data .gpu/cifar10-jpeg.tar.gz \\
        --set 'profiler.batches=[100, 300]' --json $OUT/story.json        # the GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
PROFILES = ("alexnet-host", "alexnet")


def run(name: str, overrides: list[str], timeout: float) -> dict[str, Any]:
    """One profile through the command line; its row of figures, or why there is none."""
    with tempfile.TemporaryDirectory() as runs:
        args = [
            sys.executable,
            "-m",
            "tui.cli.main",
            "--run",
            str(ROOT / "profiles" / f"{name}.toml"),
        ]
        args += ["--runs-dir", runs, "--plain"]
        for item in overrides:
            args += ["--set", item]
        try:
            out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"profile": name, "status": "timed out", "error": f"over {timeout:g} s"}
        dirs = list(Path(runs).iterdir())
        if not dirs:  # refused before the run directory was made: a profile check
            tail = (out.stdout + out.stderr).strip().splitlines()[-3:]
            return {"profile": name, "status": "refused", "error": " / ".join(tail)}
        report = json.loads((dirs[0] / "report.json").read_text())
        events = [json.loads(line) for line in (dirs[0] / "events.jsonl").read_text().splitlines()]
    started = next((e for e in events if e["type"] == "run_started"), {})
    return {"profile": name} | figures(report, started)


def figures(report: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
    pipeline = report.get("input_pipeline") or {}
    details = pipeline.get("details") or {}
    profile = report["profile"]
    steps = started.get("steps_per_epoch") or 0
    step_ms = details.get("median_step_ms")
    batch = profile["train"]["batch_size"]
    return {
        "status": report["status"],
        "error": (report.get("error") or {}).get("message"),
        "backend": report["environment"].get("backend"),
        "device": ", ".join(started.get("devices") or []),
        "preprocess": profile["pipeline"]["preprocess"],
        "num_parallel_calls": profile["pipeline"]["num_parallel_calls"],
        "input_bound_percent": pipeline.get("input_bound_percent"),
        "verdict": pipeline.get("verdict"),
        "window_batches": pipeline.get("batches_measured"),
        "median_step_ms": step_ms,
        "median_wait_ms": details.get("median_wait_ms"),
        "epoch_seconds": [e["seconds"] for e in report.get("epochs", [])],
        "steady_s_per_epoch": round(step_ms * steps / 1000, 3) if step_ms and steps else None,
        "window_images_per_s": round(batch / step_ms * 1000, 1) if step_ms else None,
        "test_accuracy": (report.get("test") or {}).get("accuracy"),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "profile        status     input-bound  verdict     epoch 1 s  steady s/epoch  img/s",
    ]
    for r in rows:
        epoch = (r.get("epoch_seconds") or [None])[0]
        cells = [
            f"{r['profile']:<14}",
            f"{r['status']:<10}",
            f"{_num(r.get('input_bound_percent'), '%'):>11}",
            f"{r.get('verdict') or '-':<11}",
            f"{_num(epoch, ' s'):>9}",
            f"{_num(r.get('steady_s_per_epoch'), ' s'):>15}",
            f"{_num(r.get('window_images_per_s'), ''):>6}",
        ]
        lines.append(" ".join(cells) + (f"  ({r['error']})" if r.get("error") else ""))
    return "\n".join(lines)


def _num(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder tree or .tar.gz")
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="training images (0 = all)")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per profile")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    overrides = ["data.source=folder", f"data.path={Path(args.data).resolve()}"]
    overrides.append(f"train.epochs={args.epochs}")
    if args.limit:
        overrides += [
            f"data.limit={args.limit}",
            f"data.validation_size={max(1, args.limit // 10)}",
        ]
    overrides += args.overrides
    rows = []
    for name in args.profiles:
        rows.append(run(name, overrides, args.timeout))
        print(json.dumps(rows[-1]), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"\n{backend}, data {args.data}, limit {args.limit or 'all'}, {args.epochs} epoch(s)")
    print(table(rows))


if __name__ == "__main__":
    main()
