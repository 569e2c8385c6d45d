"""Images per second of the notebook's host pipeline: num_parallel_calls=2 against AUTOTUNE.

Drains the training tf.data pipeline that ``pipeline.preprocess = "host"`` builds (per-image
standardization and the resize to 224x224 on the CPU, shuffle, batch, prefetch), with no model
behind it, so the figure is the most the host side can feed. The device path is measured the
same way for contrast: it sends uint8 32x32 batches and leaves the resize to the model.

    python benchmarks/pipeline.py --data ../shared/data/cifar10-jpeg.tar.gz --batches 40
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(profile_path: Path, overrides: list[str], batches: int, repeats: int) -> float:
    from core.data import load_dataset
    from core.profiles import load_profile
    from core.quiet import quiet_native_stderr
    from core.training.pipeline import HandoverClock, tf_datasets

    with quiet_native_stderr():
        import tensorflow  # noqa: F401 - loaded here with its start-up chatter silenced
    profile = load_profile(profile_path, overrides=overrides)
    data = load_dataset(profile.data)
    train, _, _ = tf_datasets(profile, data, HandoverClock())
    rates = []
    for _ in range(repeats):
        it = iter(train.repeat())
        next(it)  # start-up (thread pools, shuffle buffer fill) is not throughput
        start = time.perf_counter()
        for _ in range(batches):
            next(it)
        rates.append(batches * profile.train.batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar10-mini"))
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    base = [
        "data.source=folder",
        f"data.path={Path(args.data).resolve()}",
        "data.validation_size=100",
        "pipeline.shuffle_buffer=1000",
    ]
    host = ROOT / "profiles" / "alexnet-host.toml"
    results = {
        "host, num_parallel_calls=2 (the notebook)": measure(
            host, [*base, "pipeline.num_parallel_calls=2"], args.batches, args.repeats
        ),
        "host, num_parallel_calls=autotune": measure(
            host, [*base, "pipeline.num_parallel_calls=autotune"], args.batches, args.repeats
        ),
        "device (uint8 32x32 batches, resize in the model)": measure(
            ROOT / "profiles" / "alexnet.toml", base, args.batches, args.repeats
        ),
    }
    print(
        f"data {args.data}, batch 128, {args.batches} batches x {args.repeats}, "
        f"{os.cpu_count()} CPUs"
    )
    for name, rate in results.items():
        print(f"{name}: {rate:,.0f} images/s")
    first, second = list(results.values())[:2]
    print(f"autotune / 2 parallel calls: {second / first:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
