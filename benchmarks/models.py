"""Per model: first-epoch seconds, median steady s/epoch, images/s and test accuracy.

Runs the shipped profiles headless (``cifar-tui --run``) for a given number of epochs on a given
dataset and prints one row per model, writing the same as JSON. ``--baseline`` also runs the bare
Keras equivalent (benchmarks/bare.py) in the same conditions and prints the s/epoch ratio.

    python benchmarks/models.py --epochs 3 --limit 2000                  # CPU-sized
    KERAS_BACKEND=jax python benchmarks/models.py --data .gpu/cifar10-jpeg.tar.gz \\
        --epochs 20 --baseline --json $OUT/models.json                   # the GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare import ROOT, run_bare, run_headless, steady

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def row(name: str, result: dict) -> dict:
    seconds = result["seconds"]
    per_epoch = steady(seconds)
    return {
        "model": name,
        "epochs": len(seconds),
        "first_epoch_s": round(seconds[0], 3),
        "steady_s_per_epoch": round(per_epoch, 3),
        "images_per_s": round(result["train_images"] / per_epoch, 1),
        "test_accuracy": result["test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["vgg_small", "alexnet", "vgg16"])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder tree or .tar.gz")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="training images (0 = all)")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--baseline", action="store_true", help="also run the bare Keras script")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    overrides = [
        "data.source=folder",
        f"data.path={Path(args.data).resolve()}",
        f"train.epochs={args.epochs}",
    ]
    if args.limit:
        overrides += [
            f"data.limit={args.limit}",
            f"data.validation_size={max(1, args.limit // 10)}",
        ]
    overrides += args.overrides
    rows = []
    for name in args.profiles:
        profile = str(ROOT / "profiles" / f"{name}.toml")
        result = run_headless(profile, overrides)
        entry = row(name, result) | {
            "device": result["device"],
            "input_bound_percent": result["input_bound_percent"],
            "system": result.get("system"),  # benchmarks/system_series.py reads it
        }
        if args.baseline:
            bare = run_bare(profile, overrides)
            entry["bare"] = row(name, bare)
            entry["ratio"] = round(
                entry["steady_s_per_epoch"] / entry["bare"]["steady_s_per_epoch"], 3
            )
        rows.append(entry)
        print(json.dumps({k: v for k, v in entry.items() if k != "system"}), flush=True)
        if args.json:  # after every model, so a run cut short by a time limit keeps its rows
            Path(args.json).write_text(json.dumps(rows, indent=2))
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(
        f"\n{backend}, data {args.data}, limit {args.limit or 'all'}, {args.epochs} epochs, "
        f"device {rows[0]['device'] if rows else '?'}"
    )
    header = "| model | first epoch s | steady s/epoch | images/s | test acc | input-bound % |"
    if args.baseline:
        header += " bare s/epoch | ratio |"
    print(header)
    for r in rows:
        line = (
            f"| {r['model']} | {r['first_epoch_s']:.2f} | {r['steady_s_per_epoch']:.2f} | "
            f"{r['images_per_s']:,.0f} | {r['test_accuracy']:.4f} | "
            f"{r['input_bound_percent']} |"
        )
        if args.baseline:
            line += f" {r['bare']['steady_s_per_epoch']:.2f} | {r['ratio']:.3f} |"
        print(line)


if __name__ == "__main__":
    main()
