"""What cifar-tui's engine costs per epoch against a bare Keras ``fit`` of the same thing.

Both sides train the same profile's model, compiled the same way, on the same data through the
same tf.data chain (shuffle, batch with drop_remainder, prefetch), with ReduceLROnPlateau.
The headless side is the real command, ``cifar-tui --run`` (events, progress, profiler, run
directory, checkpoints, TensorBoard); the bare side is a script calling ``model.fit``.
Each side runs in its own fresh process, alternating, and the median steady epoch (the first
epoch compiles and is left out) is compared. The last line is ``ratio N.NN``: headless / bare.

    python benchmarks/overhead.py                      # vgg_small, synthetic data, 4 epochs
    python benchmarks/overhead.py --data ../shared/data/cifar10-mini --epochs 5
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


if __name__ == "__main__":
    main()
