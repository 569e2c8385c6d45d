"""What watching costs: a run in the Textual console against the same run headless.

The console side starts the real app (``tui.console.app.create_app``) under Textual's headless
driver,
which renders every frame to a virtual 120x40 screen exactly as it would to a terminal, launches
the run through the app's own thread worker and waits for it to end. The headless side is
``cifar-tui --run --plain``. Each side runs in a fresh process, alternating; the median steady
epoch (the first compiles and is left out) is compared. The last line is ``ratio N.NN``.

    python benchmarks/console.py --epochs 4 --train 2500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare import ROOT, run_headless, steady


async def _console_run(profile_path: str, overrides: list[str], runs_dir: Path) -> list[float]:
    from core.profiles import load_profile
    from core.storage.rundir import load_run
    from tui.console.app import create_app
    from tui.console.runner import LaunchRequest

    profile = load_profile(profile_path, overrides=overrides)
    app = create_app(ROOT / "profiles", runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_run(LaunchRequest(label=profile.name, runs_dir=runs_dir, profile=profile))
        while app.engine_status is None:
            await pilot.pause(0.5)
    (run_dir,) = runs_dir.iterdir()
    return [e["seconds"] for e in load_run(run_dir).epochs]


def run_console(profile: str, overrides: list[str]) -> list[float]:
    with tempfile.TemporaryDirectory() as runs:
        out = subprocess.run(
            [sys.executable, __file__, "--child", profile, json.dumps(overrides), runs],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={
                **os.environ,
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
                ),
            },
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        seconds = asyncio.run(_console_run(sys.argv[2], json.loads(sys.argv[3]), Path(sys.argv[4])))
        print(json.dumps(seconds))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=str(ROOT / "profiles" / "vgg_small.toml"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train", type=int, default=2500, help="synthetic training images")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    overrides = [
        f"train.epochs={args.epochs}",
        "data.source=synthetic",
        f"data.synthetic_train={args.train}",
        "data.synthetic_test=200",
        "data.validation_size=500",
    ]
    heads, consoles = [], []
    started = time.time()
    for r in range(args.rounds):
        head = run_headless(args.profile, overrides)["seconds"]
        console = run_console(args.profile, overrides)
        heads.append(steady(head))
        consoles.append(steady(console))
        print(
            f"round {r + 1}: headless {steady(head):.3f} s/epoch {[round(s, 2) for s in head]}; "
            f"console {steady(console):.3f} s/epoch {[round(s, 2) for s in console]}",
            flush=True,
        )
    h, c = statistics.median(heads), statistics.median(consoles)
    print(
        f"profile {Path(args.profile).name}, {args.epochs} epochs, {args.train} synthetic "
        f"images, {os.cpu_count()} CPUs, {time.time() - started:.0f} s in all"
    )
    print(f"cifar-tui --run: {h:.3f} s/epoch; console (Textual, 120x40): {c:.3f} s/epoch")
    print(f"ratio {c / h:.2f}")


if __name__ == "__main__":
    main()
