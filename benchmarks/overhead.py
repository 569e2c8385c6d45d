"""What cifar-tui's engine costs per epoch against a bare Keras ``fit`` of the same thing.

Both sides train the same profile's model, compiled the same way, on the same data through the
same tf.data chain (shuffle, batch with drop_remainder, prefetch), with ReduceLROnPlateau.
The headless side is the real command, ``cifar-tui --run`` (events, progress, profiler, run
directory, checkpoints, TensorBoard); the bare side is a script calling ``model.fit``.
Each side runs in its own fresh process, alternating, and the median steady epoch (the first
epoch compiles and is left out) is compared. The last line is ``ratio N.NN``: headless / bare.

    python benchmarks/overhead.py                      # vgg_small, synthetic data, 4 epochs
    python benchmarks/overhead.py --data ../shared/data/cifar10-mini --epochs 5
    python benchmarks/overhead.py --sampler compare   # also headless without the system sampler

``--sampler compare`` runs each round's three sides in turn (bare, headless, headless with
$CIFAR_TUI_SAMPLE_SECONDS=0) and prints both ratios by the median and by the fastest run
(min-of-N, the least disturbed by other load), each side's fastest steady epoch, then
``sampler N.NNN``: with / without. benchmarks/sampler_cost.py measures the sampler's CPU time
itself, which other load does not blur.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare import ROOT, run_bare, run_headless, steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=str(ROOT / "profiles" / "vgg_small.toml"))
    parser.add_argument("--data", help="image-folder tree or .tar.gz (default: synthetic)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train", type=int, default=2500, help="training images (synthetic)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating pairs of runs")
    parser.add_argument(
        "--sampler",
        choices=("on", "compare"),
        default="on",
        help="compare: also run headless without the system sampler (core/system_metrics.py)",
    )
    args = parser.parse_args()
    overrides = [f"train.epochs={args.epochs}"]
    if args.data:
        overrides += [
            "data.source=folder",
            f"data.path={Path(args.data).resolve()}",
            "data.validation_size=100",
        ]
    else:
        overrides += [
            "data.source=synthetic",
            f"data.synthetic_train={args.train}",
            "data.synthetic_test=200",
            "data.validation_size=500",
        ]
    if args.sampler == "compare":
        compare_sampler(args.profile, overrides, args.rounds)
        return
    bare_all: list[float] = []
    head_all: list[float] = []
    started = time.time()
    for r in range(args.rounds):
        bare = run_bare(args.profile, overrides)["seconds"]
        head = run_headless(args.profile, overrides)["seconds"]
        bare_all.append(steady(bare))
        head_all.append(steady(head))
        print(
            f"round {r + 1}: bare {steady(bare):.3f} s/epoch {[round(s, 2) for s in bare]}; "
            f"headless {steady(head):.3f} s/epoch {[round(s, 2) for s in head]}"
        )
    bare_s, head_s = statistics.median(bare_all), statistics.median(head_all)
    print(
        f"profile {Path(args.profile).name}, {args.epochs} epochs, "
        f"{'data ' + args.data if args.data else f'{args.train} synthetic images'}, "
        f"{os.cpu_count()} CPUs, {time.time() - started:.0f} s in all"
    )
    print(f"bare keras fit: {bare_s:.3f} s/epoch (median steady epoch)")
    print(f"cifar-tui --run: {head_s:.3f} s/epoch (median steady epoch)")
    print(f"ratio {head_s / bare_s:.2f}")


def headless_without_sampler(profile: str, overrides: list[str]) -> dict:
    """``cifar-tui --run`` with the system sampler off ($CIFAR_TUI_SAMPLE_SECONDS=0)."""
    before = os.environ.get("CIFAR_TUI_SAMPLE_SECONDS")
    os.environ["CIFAR_TUI_SAMPLE_SECONDS"] = "0"
    try:
        return run_headless(profile, overrides)
    finally:
        if before is None:
            del os.environ["CIFAR_TUI_SAMPLE_SECONDS"]
        else:
            os.environ["CIFAR_TUI_SAMPLE_SECONDS"] = before


def compare_sampler(profile: str, overrides: list[str], rounds: int) -> None:
    """Bare, headless and headless without the sampler, each round in a rotated order."""
    sides = {"bare": run_bare, "sampler": run_headless, "no sampler": headless_without_sampler}
    steady_of: dict[str, list[float]] = {name: [] for name in sides}
    epochs_of: dict[str, list[float]] = {name: [] for name in sides}  # every steady epoch
    started = time.time()
    for r in range(rounds):
        names = list(sides)[r % 3 :] + list(sides)[: r % 3]  # no side always first
        for name in names:
            seconds = sides[name](profile, overrides)["seconds"]
            steady_of[name].append(steady(seconds))
            epochs_of[name] += seconds[1:]
            epochs = [round(s, 2) for s in seconds]
            print(f"round {r + 1} {name}: {steady(seconds):.3f} s/epoch {epochs}")
    print(f"{rounds} rounds, {os.cpu_count()} CPUs, {time.time() - started:.0f} s in all")
    ratios = {}
    for how, pick in (("median", statistics.median), ("min", min)):
        bare = pick(steady_of["bare"])
        with_s, without = pick(steady_of["sampler"]), pick(steady_of["no sampler"])
        ratios[how] = (with_s / bare, without / bare)
        print(
            f"{how}: bare {bare:.3f}, headless {with_s:.3f} (ratio {with_s / bare:.3f}), "
            f"without sampler {without:.3f} (ratio {without / bare:.3f})"
        )
    fastest = {name: min(values) for name, values in epochs_of.items()}
    print(
        f"fastest steady epoch: bare {fastest['bare']:.3f}, headless {fastest['sampler']:.3f}, "
        f"without sampler {fastest['no sampler']:.3f}"
    )
    print(f"sampler {ratios['min'][0] / ratios['min'][1]:.3f} (min-of-N ratio, with / without)")


if __name__ == "__main__":
    main()
