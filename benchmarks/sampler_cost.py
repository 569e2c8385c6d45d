"""What the system sampler (core/system_metrics.py) costs, measured as CPU time, not wall time:
one reading (psutil's four figures, and NVML's four per GPU where there is one), and the
engine's per-batch look for readings to send (an empty drain). CPU time of the calls alone is
what they take from training, whatever else loads the machine; the last line gives the share
of one core the sampler takes at its 1-second interval.

    python benchmarks/sampler_cost.py               # 2,000 readings, 1,000,000 empty drains
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.system_metrics import DEFAULT_INTERVAL, SystemSampler


def cpu_seconds_per_call(call, count: int) -> float:
    """CPU time per call (this thread's: other load does not count), best of three."""
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        for _ in range(count):
            call()
        best = min(best, (time.thread_time() - start) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=2000)
    parser.add_argument("--drains", type=int, default=1_000_000)
    args = parser.parse_args()
    sampler = SystemSampler()
    gpus = len(sampler.gpu.read())
    reading = cpu_seconds_per_call(sampler.sample, args.readings)
    sampler.drain()
    drain = cpu_seconds_per_call(sampler.drain, args.drains)
    sampler.stop()
    print(f"GPUs read: {gpus} ({'; '.join(sampler.unavailable) or 'every metric read'})")
    print(f"one reading: {reading * 1e6:.1f} µs of CPU")
    print(f"an empty drain (per batch): {drain * 1e9:.0f} ns of CPU")
    print(f"share of one core at {DEFAULT_INTERVAL:g} s: {reading / DEFAULT_INTERVAL:.4%}")


if __name__ == "__main__":
    main()
