"""What the sampled figures say (core/system_metrics.py), as the notebook would have wanted it.

Plain functions of recorded figures, so each is tested on fixed series:

- :func:`underused_gpu`: the GPU mostly idle while the input pipeline is not what it waits for:
  the model or the batch is too small for the device (the advice names the profile keys);
- :func:`gpu_memory_near_full`: a reading whose GPU memory is nearly all used, said before an
  out-of-memory error;
- :func:`rss_growing`: the process's resident memory growing epoch after epoch: a leak.

Each returns the warning's message, or None. The engine sends them as RunWarnings (each once).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from core.events import SystemSampled

#: Mean GPU utilization under this (%) over the steady epochs: the device mostly waits.
GPU_BUSY_MIN = 50.0
#: ... while the measured input-bound share is under this (%): the profiler's "not input-bound".
INPUT_BOUND_LOW = 5.0
#: GPU memory used over total at or above this: an out-of-memory error is near.
MEMORY_NEAR_FULL = 0.92
#: Epochs of resident memory, each above the one before, that make a leak...
LEAK_EPOCHS = 4
#: ... when it grew over them by at least this fraction and this many MB.
LEAK_MIN_GROWTH = 0.05
LEAK_MIN_MB = 100.0

UNDERUSED = "gpu_underused"
MEMORY_FULL = "gpu_memory"
LEAK = "memory_leak"


def _steady(epochs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Epochs with figures but the first, which compiles (and so waits on the host): a run of
    one epoch says nothing steady."""
    return [e for e in epochs if e.get("system")][1:]


def underused_gpu(
    epochs: Sequence[Mapping[str, Any]],
    input_bound_percent: float | None,
    train: Mapping[str, Any],
) -> str | None:
    """GPU utilization under GPU_BUSY_MIN over the steady epochs while the measured
    input-bound share is under INPUT_BOUND_LOW; ``train``: the profile's [train] table, for
    the advice. None while either is not measured."""
    if input_bound_percent is None or input_bound_percent >= INPUT_BOUND_LOW:
        return None
    utils = [e["system"].get("gpu_util_mean") for e in _steady(epochs)]
    utils = [u for u in utils if u is not None]
    if not utils:
        return None
    util = sum(utils) / len(utils)
    if util >= GPU_BUSY_MIN:
        return None
    batch = train.get("batch_size")
    per_call = train.get("steps_per_execution")
    advice = f"raise train.batch_size (now {batch})" if batch else "raise train.batch_size"
    advice += (
        f" or train.steps_per_execution (now {per_call})" if per_call else ""
    ) + ', try train.precision = "mixed_bfloat16", or train a larger model.architecture'
    return (
        f"The GPU is busy only {util:.0f}% of the time while the input pipeline keeps up "
        f"({input_bound_percent:.1f}% input-bound): the model or the batch is too small for the "
        f"device. To use it, {advice}."
    )


def gpu_memory_near_full(reading: SystemSampled) -> str | None:
    """A reading with a GPU whose memory is MEMORY_NEAR_FULL used or more: what the backend's
    allocator holds (``used_by_run_mb``) of its pool (``limit_mb``, JAX) or of the GPU's total,
    where the engine added it; else NVML's used of total, which counts memory reserved ahead."""
    worst: tuple[float, float, float] | None = None
    for gpu in reading.gpus:
        used = gpu.get("used_by_run_mb", gpu.get("mem_mb"))
        total = gpu.get("limit_mb") or gpu.get("mem_total_mb")
        if not (isinstance(used, (int, float)) and isinstance(total, (int, float)) and total):
            continue
        if worst is None or used / total > worst[0]:
            worst = (used / total, used, total)
    if worst is None or worst[0] < MEMORY_NEAR_FULL:
        return None
    share, used, total = worst
    return (
        f"GPU memory is {share:.0%} full ({used / 1024:.1f} of {total / 1024:.1f} GB): "
        "an out-of-memory error is near. Lower train.batch_size or use train.precision = "
        '"mixed_bfloat16".'
    )


def rss_growing(epochs: Sequence[Mapping[str, Any]]) -> str | None:
    """Resident memory (each epoch's mean) rising over the last LEAK_EPOCHS epochs, each above
    the one before, by LEAK_MIN_GROWTH and LEAK_MIN_MB in all (the first epoch, which fills
    caches, left out)."""
    series = [e["system"].get("rss_mb_mean") for e in epochs if e.get("system")][1:]
    last = series[-LEAK_EPOCHS:]
    if len(last) < LEAK_EPOCHS or any(v is None for v in last):
        return None
    rising = all(b > a for a, b in itertools.pairwise(last))
    growth = last[-1] - last[0]
    if not rising or growth < LEAK_MIN_MB or growth < LEAK_MIN_GROWTH * last[0]:
        return None
    per_epoch = growth / (len(last) - 1)
    return (
        f"Resident memory grew every epoch for {len(last)} epochs, {last[0]:,.0f} MB to "
        f"{last[-1]:,.0f} MB (+{per_epoch:,.0f} MB an epoch): a memory leak? A long run may run "
        "out of host memory."
    )
